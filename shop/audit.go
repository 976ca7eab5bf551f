package shop

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Audit actions.
const (
	AuditMarkDelivered   = "order.mark_delivered"
	AuditMarkFailed      = "order.mark_failed"
	AuditParkedRetry     = "parked.retry"
	AuditParkedAssign    = "parked.assign"
	AuditParkedRefused   = "parked.refused" // a retry or assignment the rules refused; nothing changed
	AuditUnmatchedAssign = "unmatched.assign"
)

// Actor says who performs an operator action, for the audit log. The admin
// token is one shared secret, so Name is what the operator calls themselves
// (optional; "admin" when empty) and Remote the address the request came
// from.
type Actor struct {
	Name   string
	Remote string
}

const maxActorName = 64

// name validates the operator's name. Errors: VALIDATION_ERROR (field operator).
func (a Actor) name() (string, error) {
	n := strings.TrimSpace(a.Name)
	if n == "" {
		return "admin", nil
	}
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxActorName || strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return "", validation("operator", "operator", "operator must be at most %d printable characters", maxActorName)
	}
	return n, nil
}

// text validates an operator's free text (a reason, a note, a reference).
func operatorText(field, s string, required bool, maxLen int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" && required {
		return "", validation(field, "required", "%s is required", field)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxLen || strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 {
		return "", validation(field, "text", "%s must be at most %d printable characters", field, maxLen)
	}
	return s, nil
}

// audit appends the row of an operator action in the caller's transaction.
func (s *Shop) audit(tx store.Tx, who Actor, a domain.AuditEntry) error {
	name, err := who.name()
	if err != nil {
		return err
	}
	a.At, a.Actor, a.Remote = s.now(), name, who.Remote
	return tx.AppendAudit(&a)
}

// AuditLog lists operator actions with id > afterID, oldest first. Errors:
// VALIDATION_ERROR (limit outside 1–500; 0 means 100).
func (s *Shop) AuditLog(ctx context.Context, afterID int64, limit int) ([]domain.AuditEntry, error) {
	limit, err := adminLimit(limit)
	if err != nil {
		return nil, err
	}
	var out []domain.AuditEntry
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListAudit(afterID, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shop: audit log: %w", err)
	}
	return out, nil
}
