package shop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// maxParkedError bounds the error text kept on a parked transfer.
const maxParkedError = 2000

// clipError cuts s to at most n bytes, on a rune boundary.
func clipParked(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// parkKey is the key a transfer is parked and seen under: its hash, or for
// a transfer that came without one (a chain source bug) a digest of the
// whole transfer, so a replay of it is still recognised.
func parkKey(t ton.Transfer) string {
	if t.Hash != "" {
		return t.Hash
	}
	data, _ := json.Marshal(t)
	sum := sha256.Sum256(data)
	return "nohash-" + hex.EncodeToString(sum[:])
}

// park records t as a parked transfer with the error that failed it, and
// its seen record (kind parked), in the caller's transaction.
func (s *Shop) park(tx *txn, t ton.Transfer, reason string) (Outcome, error) {
	key := parkKey(t)
	if seen, err := tx.GetSeen(key); err == nil {
		return Outcome{Hash: key, Kind: seen.Kind, ParkedID: seen.RefID, Replayed: true}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return Outcome{}, err
	}
	now := s.now()
	p := &domain.Parked{TxHash: key, LT: t.LT, ChainTime: t.ChainTime, From: t.From, To: t.To, AmountNano: t.AmountNano,
		Comment: t.Comment, PayloadHex: t.PayloadHex, Incoming: t.Incoming, Bounced: t.Bounced, JettonNotice: t.JettonNotice,
		Error: clipParked(reason, maxParkedError), ParkedAt: now}
	if t.Jetton != nil {
		j, err := json.Marshal(t.Jetton)
		if err != nil {
			return Outcome{}, err
		}
		p.Jetton = j
	}
	if err := tx.PutParked(p); err != nil {
		return Outcome{}, err
	}
	seen := s.seenOf(t, domain.SeenParked, p.ID)
	seen.Hash = key
	if err := tx.CreateSeen(seen); err != nil {
		return Outcome{}, err
	}
	tx.parked++
	return Outcome{Hash: key, Kind: domain.SeenParked, ParkedID: p.ID}, nil
}

// parkedTransfer is the transfer a parked record keeps.
func parkedTransfer(p *domain.Parked) ton.Transfer {
	t := ton.Transfer{Hash: p.TxHash, LT: p.LT, ChainTime: p.ChainTime, From: p.From, To: p.To, AmountNano: p.AmountNano,
		Comment: p.Comment, PayloadHex: p.PayloadHex, Incoming: p.Incoming, Bounced: p.Bounced, JettonNotice: p.JettonNotice}
	if len(p.Jetton) > 0 {
		var j ton.JettonTransfer
		if json.Unmarshal(p.Jetton, &j) == nil {
			t.Jetton = &j
		} else {
			// Unreadable: never TON by mistake. The rules find no USDT
			// master on it and ignore it.
			t.Jetton = &ton.JettonTransfer{}
		}
	}
	return t
}

// ParkedTransfers lists parked transfers with id > afterID, ascending; with
// openOnly only those still waiting for an operator. Errors:
// VALIDATION_ERROR (limit outside 1–500; 0 means 100).
func (s *Shop) ParkedTransfers(ctx context.Context, afterID int64, limit int, openOnly bool) ([]domain.Parked, error) {
	limit, err := adminLimit(limit)
	if err != nil {
		return nil, err
	}
	var out []domain.Parked
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListParked(afterID, limit, openOnly)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shop: list parked: %w", err)
	}
	return out, nil
}

// ParkedTransfer returns one parked transfer. Errors: NOT_FOUND.
func (s *Shop) ParkedTransfer(ctx context.Context, id int64) (*domain.Parked, error) {
	var p *domain.Parked
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.GetParked(id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("parked transfer")
		}
		return err
	})
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return nil, be
		}
		return nil, fmt.Errorf("shop: parked %d: %w", id, err)
	}
	return p, nil
}

// ParkedCount is the number of parked transfers waiting for an operator
// (health and metrics).
func (s *Shop) ParkedCount(ctx context.Context) (int, error) {
	n := 0
	err := s.st.View(ctx, func(tx store.Tx) error {
		n = 0
		for after := int64(0); ; {
			ps, err := tx.ListParked(after, maxAdminLimit, true)
			if err != nil || len(ps) == 0 {
				return err
			}
			n += len(ps)
			after = ps[len(ps)-1].ID
		}
	})
	if err != nil {
		return 0, fmt.Errorf("shop: count parked: %w", err)
	}
	return n, nil
}

// ParkedResolution is the result of RetryParked and AssignParked.
type ParkedResolution struct {
	Parked domain.Parked
	// Outcome is where the money went (Kind and ids as ApplyBatch reports).
	Outcome Outcome
	// Ledger is the first ledger row written (nil when none: the transfer
	// paid an order exactly, or was kept as unmatched or ignored).
	Ledger *domain.LedgerEntry
	// PartnerID is the partner credited or whose order was paid (0 when none).
	PartnerID int64
}

// errRefused rolls back an operator's retry or assignment that the rules
// refused; refusal carries the rules' error out of the transaction.
var errRefused = errors.New("shop: refused by the payment rules")

// openParked reads parked transfer id for an operator action. Errors:
// NOT_FOUND, ALREADY_RESOLVED.
func openParked(tx store.Tx, id int64) (*domain.Parked, error) {
	p, err := tx.GetParked(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("parked transfer")
	}
	if err != nil {
		return nil, err
	}
	if !p.Open() {
		return nil, newErr(CodeAlreadyResolved, "", "already_resolved", "parked transfer %d was already resolved (%s, %s %d)",
			p.ID, p.Resolution, p.ResolvedKind, p.ResolvedRefID)
	}
	seen, err := tx.GetSeen(p.TxHash)
	if err != nil || seen.Kind != domain.SeenParked || seen.RefID != p.ID {
		return nil, fmt.Errorf("parked %d: tx %s is not recorded as seen for it (run openmoney check): %v", p.ID, p.TxHash, err)
	}
	return p, nil
}

// resolve marks p resolved by its transfer's seen record, writes the audit
// row, and fills the resolution, in the caller's transaction.
func (s *Shop) resolve(tx store.Tx, p *domain.Parked, how domain.Resolution, out Outcome, who Actor, action string, res *ParkedResolution) error {
	seen, err := tx.GetSeen(p.TxHash)
	if err != nil {
		return err
	}
	now := s.now()
	p.ResolvedAt, p.Resolution, p.ResolvedKind, p.ResolvedRefID = &now, how, seen.Kind, seen.RefID
	if err := tx.PutParked(p); err != nil {
		return err
	}
	*res = ParkedResolution{Parked: *p, Outcome: out}
	if len(out.LedgerIDs) > 0 {
		e, err := tx.GetLedger(out.LedgerIDs[0])
		if err != nil {
			return err
		}
		res.Ledger, res.PartnerID = e, e.PartnerID
	}
	if res.PartnerID == 0 && out.OrderID != 0 {
		o, err := tx.GetOrder(out.OrderID)
		if err != nil {
			return err
		}
		res.PartnerID = o.PartnerID
	}
	a := domain.AuditEntry{Action: action, ParkedID: p.ID, OrderID: out.OrderID, PartnerID: res.PartnerID,
		Detail: fmt.Sprintf("tx %s: %s %d", p.TxHash, seen.Kind, seen.RefID)}
	if res.Ledger != nil {
		a.LedgerID = res.Ledger.ID
	}
	return s.audit(tx, who, a)
}

// refused records an operator attempt the rules refused (the parked
// transfer's failed attempts and an audit row, in a transaction of its own)
// and returns TRANSFER_REFUSED.
func (s *Shop) refused(ctx context.Context, id int64, who Actor, what string, rerr error) error {
	msg := clipParked(rerr.Error(), maxParkedError)
	err := s.update(ctx, func(tx *txn) error {
		p, err := openParked(tx, id)
		if err != nil {
			return err
		}
		p.FailedAttempts++
		p.LastAttemptError = msg
		if err := tx.PutParked(p); err != nil {
			return err
		}
		return s.audit(tx, who, domain.AuditEntry{Action: AuditParkedRefused, ParkedID: id, Detail: what + ": " + msg})
	})
	var be *Error
	if errors.As(err, &be) {
		return be // resolved by a concurrent call meanwhile: that is the answer now
	}
	if err != nil {
		s.log.Error("recording a refused operator attempt", "parked_id", id, "err", err)
	}
	s.log.Warn("parked transfer still refused by the payment rules", "parked_id", id, "attempt", what, "err", rerr)
	return newErr(CodeTransferRefused, "", "transfer_refused", "the payment rules refused parked transfer %d again (it stays parked): %s", id, msg)
}

// RetryParked runs the payment rules again on a parked transfer (after a
// fix, or once the state that made it fail has changed), exactly once: the
// transfer is applied as if seen now for the first time (its chain time
// still decides whether it was on time), its seen record rewritten to where
// the money went, the parked record marked retried, and an audit row
// written, in one transaction.
//
// Errors: NOT_FOUND, ALREADY_RESOLVED (retried or assigned before; also the
// losers of concurrent calls), TRANSFER_REFUSED (the rules fail again;
// nothing changes but the attempt is counted), VALIDATION_ERROR (operator).
func (s *Shop) RetryParked(ctx context.Context, id int64, who Actor) (ParkedResolution, error) {
	if _, err := who.name(); err != nil {
		return ParkedResolution{}, err
	}
	var res ParkedResolution
	var rerr error
	var cipher *memoCipher
	err := s.update(ctx, func(tx *txn) error {
		rerr = nil
		p, err := openParked(tx, id)
		if err != nil {
			return err
		}
		c, err := s.memoCipherFor(tx, false)
		if err != nil {
			return err
		}
		cipher = c
		out, err := s.applySafely(tx, c, parkedTransfer(p), p.ID)
		if err != nil {
			rerr = err
			return errRefused
		}
		return s.resolve(tx, p, domain.ParkedRetried, out, who, AuditParkedRetry, &res)
	})
	if rerr != nil && errors.Is(err, errRefused) {
		return ParkedResolution{}, s.refused(ctx, id, who, "retry", rerr)
	}
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return ParkedResolution{}, be
		}
		return ParkedResolution{}, fmt.Errorf("shop: retry parked %d: %w", id, err)
	}
	s.keepMemoCipher(cipher)
	if res.Outcome.Kind == domain.SeenOrder {
		s.kickDelivery()
	}
	s.log.Info("parked transfer retried", "parked_id", id, "outcome", res.Parked.ResolvedKind, "ref_id", res.Parked.ResolvedRefID)
	return res, nil
}

// AssignParked credits a parked transfer to a partner balance, exactly once,
// like AssignUnmatched: late_payment with the order id when assigned to an
// order (the order itself is not changed), topup when assigned to a partner
// (a balance.topup event is queued). The ledger row carries the transfer's
// hash, the seen record becomes kind ledger for that row, the parked record
// is marked assigned, and an audit row is written, in one transaction.
//
// Errors: VALIDATION_ERROR (not exactly one target, operator), NOT_FOUND
// (parked transfer, order or partner), ALREADY_RESOLVED, TRANSFER_REFUSED
// (the credit fails, e.g. the balance would overflow; it stays parked).
func (s *Shop) AssignParked(ctx context.Context, id int64, target AssignTarget) (ParkedResolution, error) {
	if err := target.valid(); err != nil {
		return ParkedResolution{}, err
	}
	var res ParkedResolution
	var rerr error
	err := s.update(ctx, func(tx *txn) error {
		rerr = nil
		p, err := openParked(tx, id)
		if err != nil {
			return err
		}
		partner, typ, orderID, err := target.resolve(tx)
		if err != nil {
			return err
		}
		t := parkedTransfer(p)
		cur, amount, known := s.transferValue(t)
		if amount <= 0 || !known || t.JettonNotice {
			return validation("id", "nothing_to_assign", "parked transfer %d carries no incoming amount to assign", p.ID)
		}
		e, err := s.credit(tx, partner, cur, typ, amount, orderID, p.TxHash)
		if err != nil {
			rerr = err
			return errRefused
		}
		if err := tx.PutSeen(s.seenOf(t, domain.SeenLedger, e.ID)); err != nil {
			return err
		}
		tx.accounted(cur, amount)
		out := Outcome{Hash: p.TxHash, Kind: domain.SeenLedger, OrderID: orderID, LedgerIDs: []int64{e.ID}}
		return s.resolve(tx, p, domain.ParkedAssigned, out, target.By, AuditParkedAssign, &res)
	})
	if rerr != nil && errors.Is(err, errRefused) {
		return ParkedResolution{}, s.refused(ctx, id, target.By, "assign", rerr)
	}
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return ParkedResolution{}, be
		}
		return ParkedResolution{}, fmt.Errorf("shop: assign parked %d: %w", id, err)
	}
	s.log.Info("parked transfer assigned", "parked_id", id, "partner_id", res.PartnerID, "ledger_id", res.Ledger.ID)
	return res, nil
}
