package shop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// Operator functions: the admin routes (api) and the CLI call these. None of
// them is reachable with a partner key.

// maxAdminLimit bounds one page of an operator list.
const maxAdminLimit = 500

func adminLimit(limit int) (int, error) {
	if limit == 0 {
		return 100, nil
	}
	if limit < 1 || limit > maxAdminLimit {
		return 0, validation("limit", "limit_range", "limit must be between 1 and %d", maxAdminLimit)
	}
	return limit, nil
}

// UnmatchedDeposits lists unmatched deposits (assigned ones included, with
// AssignedAt set) with id > afterID, ascending. Errors: VALIDATION_ERROR
// (limit outside 1–500; 0 means 100).
func (s *Shop) UnmatchedDeposits(ctx context.Context, afterID int64, limit int) ([]domain.Unmatched, error) {
	limit, err := adminLimit(limit)
	if err != nil {
		return nil, err
	}
	var out []domain.Unmatched
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListUnmatched(afterID, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shop: list unmatched: %w", err)
	}
	return out, nil
}

// AssignTarget says where an unmatched deposit or a parked transfer goes:
// exactly one of OrderID (the balance of that order's partner, the row
// carrying the order id) or PartnerID (that partner's balance). By is the
// operator, for the audit log.
type AssignTarget struct {
	OrderID   int64
	PartnerID int64
	By        Actor
}

// valid checks the target's shape. Errors: VALIDATION_ERROR.
func (a AssignTarget) valid() error {
	if (a.OrderID > 0) == (a.PartnerID > 0) || a.OrderID < 0 || a.PartnerID < 0 {
		return validation("order_id", "assign_target", "give exactly one of order_id or partner_id (a positive integer)")
	}
	_, err := a.By.name()
	return err
}

// resolve finds the partner credited, the ledger row type and the order id
// it carries. Errors: NOT_FOUND (order or partner).
func (a AssignTarget) resolve(tx store.Tx) (*domain.Partner, domain.LedgerType, int64, error) {
	pid, typ, orderID := a.PartnerID, domain.LedgerTopup, int64(0)
	if a.OrderID > 0 {
		o, err := tx.GetOrder(a.OrderID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", 0, notFound("order")
		}
		if err != nil {
			return nil, "", 0, err
		}
		pid, typ, orderID = o.PartnerID, domain.LedgerLatePayment, o.ID
	}
	p, err := tx.GetPartner(pid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", 0, notFound("partner")
	}
	if err != nil {
		return nil, "", 0, err
	}
	return p, typ, orderID, nil
}

// Assignment is the result of AssignUnmatched.
type Assignment struct {
	Unmatched domain.Unmatched
	Ledger    domain.LedgerEntry
}

// AssignUnmatched credits an unmatched deposit to a partner balance, exactly
// once. The ledger row carries the deposit's tx hash; its type is
// late_payment with the order id when assigned to an order (the money was
// meant for that order; the order itself is not changed) and topup when
// assigned to a partner (a balance.topup event is queued). The row, the
// balance and the deposit's AssignedAt/AssignedLedgerID are written in one
// transaction, with an audit row; the deposit's seen record stays kind
// unmatched.
//
// Errors: VALIDATION_ERROR (not exactly one target, operator), NOT_FOUND (deposit,
// order or partner), ALREADY_ASSIGNED (assigned before; nothing changes).
func (s *Shop) AssignUnmatched(ctx context.Context, unmatchedID int64, target AssignTarget) (Assignment, error) {
	if err := target.valid(); err != nil {
		return Assignment{}, err
	}
	var res Assignment
	err := s.update(ctx, func(tx *txn) error {
		u, err := tx.GetUnmatched(unmatchedID)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("unmatched deposit")
		}
		if err != nil {
			return err
		}
		if u.AssignedAt != nil || u.AssignedLedgerID != 0 {
			return newErr(CodeAlreadyAssigned, "", "already_assigned",
				"unmatched deposit %d was already assigned (ledger row %d)", u.ID, u.AssignedLedgerID)
		}
		if seen, err := tx.GetSeen(u.TxHash); err != nil || seen.Kind != domain.SeenUnmatched || seen.RefID != u.ID {
			return fmt.Errorf("unmatched %d: tx %s is not recorded as seen for it (run openmoney check): %v", u.ID, u.TxHash, err)
		}
		p, typ, orderID, err := target.resolve(tx)
		if err != nil {
			return err
		}
		cur, amount := u.Amount()
		e, err := s.credit(tx, p, cur, typ, amount, orderID, u.TxHash)
		if err != nil {
			return err
		}
		at := s.now()
		u.AssignedAt, u.AssignedLedgerID = &at, e.ID
		if err := tx.PutUnmatched(u); err != nil {
			return err
		}
		res = Assignment{Unmatched: *u, Ledger: *e}
		return s.audit(tx, target.By, domain.AuditEntry{Action: AuditUnmatchedAssign, UnmatchedID: u.ID, OrderID: orderID,
			PartnerID: p.ID, LedgerID: e.ID, Detail: "tx " + u.TxHash})
	})
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return Assignment{}, be
		}
		return Assignment{}, fmt.Errorf("shop: assign unmatched %d: %w", unmatchedID, err)
	}
	s.log.Info("unmatched deposit assigned", "unmatched_id", unmatchedID, "partner_id", res.Ledger.PartnerID,
		"order_id", res.Ledger.OrderID, "ledger_id", res.Ledger.ID, "currency", res.Ledger.Currency,
		"amount_nano", res.Ledger.AmountNano, "amount_usdt_units", res.Ledger.AmountUSDT)
	return res, nil
}

// Key states in AdminPartner.
const (
	KeyNone   = "none"
	KeyActive = "active"
)

// AdminPartner is a partner as the operator sees it: its balance and the
// state of its key (never the key or its hash).
type AdminPartner struct {
	ID               int64
	Name             string
	CreatedAt        time.Time
	TelegramUserID   int64
	TelegramUsername string
	TopupAddress     string
	BalanceNano      int64
	BalanceUSDT      int64 // USDT units
	LedgerCount      int64
	KeyStatus        string   // KeyNone | KeyActive
	Key              *KeyInfo // nil when KeyStatus is none
}

// AdminPartners lists partners with id > afterID, ascending, with balance
// and key status. Errors: VALIDATION_ERROR (limit outside 1–500; 0 = 100).
func (s *Shop) AdminPartners(ctx context.Context, afterID int64, limit int) ([]AdminPartner, error) {
	limit, err := adminLimit(limit)
	if err != nil {
		return nil, err
	}
	var out []AdminPartner
	hashes := map[int]string{}
	err = s.st.View(ctx, func(tx store.Tx) error {
		ps, err := tx.ListPartners(afterID, limit)
		if err != nil {
			return err
		}
		out = make([]AdminPartner, 0, len(ps))
		for i := range ps {
			ap, hash, err := adminPartner(tx, &ps[i])
			if err != nil {
				return err
			}
			if hash != "" {
				hashes[len(out)] = hash
			}
			out = append(out, ap)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shop: admin partners: %w", err)
	}
	for i, h := range hashes {
		s.lastUsed(&out[i], h)
	}
	return out, nil
}

// adminPartner is p as the operator sees it, and its live key's hash ("" if none).
func adminPartner(tx store.Tx, p *domain.Partner) (AdminPartner, string, error) {
	ap := AdminPartner{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, TelegramUserID: p.TelegramUserID,
		TelegramUsername: p.TelegramUsername, TopupAddress: p.TopupAddress, BalanceNano: p.BalanceNano,
		BalanceUSDT: p.BalanceUSDT, LedgerCount: p.LedgerCount, KeyStatus: KeyNone}
	if p.ActiveKeyHash == "" {
		return ap, "", nil
	}
	k, err := tx.GetAPIKey(p.ActiveKeyHash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return ap, "", err
	}
	if err != nil || k.RevokedAt != nil {
		return ap, "", nil
	}
	ap.KeyStatus = KeyActive
	ap.Key = &KeyInfo{Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
	return ap, k.Hash, nil
}

// lastUsed adds the last-used stamp not flushed yet, which lives in memory
// (see Authenticate), to ap's key with hash h.
func (s *Shop) lastUsed(ap *AdminPartner, h string) {
	if ap.Key == nil {
		return
	}
	s.keyUseMu.Lock()
	defer s.keyUseMu.Unlock()
	if t, ok := s.keyUse[h]; ok && (ap.Key.LastUsedAt == nil || t.After(*ap.Key.LastUsedAt)) {
		ap.Key.LastUsedAt = &t
	}
}

// RevokePartnerKey revokes a partner's active key at once (the operator's
// answer to a leak; the partner gets a new one from the bot), with an audit
// row. Errors: NOT_FOUND (no such partner, or no active key).
func (s *Shop) RevokePartnerKey(ctx context.Context, partnerID int64) error {
	_, err := s.OperatorRevokeKey(ctx, partnerID, "", Actor{})
	return err
}

// IntegrityReport runs Check on the live store (one read-only snapshot; the
// service keeps running).
func (s *Shop) IntegrityReport(ctx context.Context) (Report, error) {
	return Check(ctx, s.st)
}

// ListenerStatus is the chain source's status (zero when there is none).
func (s *Shop) ListenerStatus() ton.Status {
	if s.chain == nil {
		return ton.Status{}
	}
	return s.chain.Status()
}
