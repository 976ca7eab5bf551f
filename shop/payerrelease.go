package shop

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/store"
)

// Releasing a displaced payment batch. When a message the service did not
// sign takes the seqno of one of its wallet messages (a second instance
// with the same seed, a wallet app, a leaked key), that batch never runs,
// and the payer holds its orders (fulfil.HoldWalletElsewhere): the other
// signer may have paid them, so they are never paid again automatically,
// and nothing else is paid while the batch is open. Once the operator has
// stopped the other signer and looked its message up, they release the
// batch, naming the orders that message paid for: those complete without a
// new payment, the others are paid again with fresh Fragment links. It is
// deliberately not a button: the batch must be one the payer holds for this
// reason right now, the delivered orders are named one by one (an empty
// list said explicitly), and a note says what was checked.

// DisplacedPayer is a provider that pays in recorded batches and can tell
// which are displaced (fulfil/fragment.Provider).
type DisplacedPayer interface {
	// DisplacedBatches are the open batches held because a message the
	// service did not sign took their seqno: batch id → what was found.
	DisplacedBatches() map[int64]string
	// Reread makes the provider read batch id from the store again (and
	// stop following it once settled there); delivered are the orders the
	// release completed, never to be paid by a delivery still in flight.
	Reread(ctx context.Context, id int64, delivered []int64) error
}

// Audit actions of a release: one row for the batch, one per order it
// completes.
const (
	AuditPayerRelease       = "payer.release_batch"
	AuditReleaseDelivered   = "order.release_delivered"
	maxReleaseNote          = 2000
	releasedDeliveredPrefix = "released by an operator: paid by a message this service did not sign"
	releasedNeverRanPrefix  = "released by an operator: the batch never ran"
)

// BatchRelease is an operator's release of a displaced batch.
type BatchRelease struct {
	BatchID int64
	// Delivered are the batch's orders the other signer's message paid
	// Fragment for: completed, never paid again. Required ([] for none).
	Delivered []int64
	Note      string // required: what was checked (explorer links, …)
	By        Actor
}

// BatchReleaseResult is what a release did.
type BatchReleaseResult struct {
	BatchID   int64   `json:"batch_id"`
	Seqno     uint32  `json:"seqno"`
	Delivered []int64 `json:"delivered"` // completed by this release
	WillPay   []int64 `json:"will_pay"`  // paid again now, with fresh Fragment links
}

// ReleaseBatch settles a displaced batch in one transaction: every payment
// is recorded unpaid (the batch never ran); the orders r.Delivered are
// completed (paid by the other message), each with an audit row; the others
// ask Fragment again; the batch is settled; an audit row keeps
// the note. Then the provider stops following it.
//
// Errors: VALIDATION_ERROR (note, delivered_orders, operator), NOT_FOUND
// (no such batch), NOT_RECONCILABLE (the provider does not hold this
// batch as displaced, or it is settled; an order named is not one of its
// unsettled payments).
func (s *Shop) ReleaseBatch(ctx context.Context, r BatchRelease) (*BatchReleaseResult, error) {
	note, delivered, err := operatorSettlement(r.By, r.Note, maxReleaseNote, r.Delivered,
		"the ids of the batch's orders the other message paid for")
	if err != nil {
		return nil, err
	}
	dp, ok := s.provider.(DisplacedPayer)
	if !ok {
		return nil, newErr(CodeNotReconcilable, "", "not_displaced",
			"the %s provider does not pay in wallet batches: there is no batch to release", s.cfg.Fulfillment.Provider)
	}
	found, held := dp.DisplacedBatches()[r.BatchID]
	if !held {
		return nil, newErr(CodeNotReconcilable, "", "not_displaced",
			"payment batch %d is not held as displaced (wallet_used_elsewhere) now: only such a batch can be released", r.BatchID)
	}
	res := &BatchReleaseResult{BatchID: r.BatchID}
	err = s.update(ctx, func(tx *txn) error {
		res.Delivered, res.WillPay = []int64{}, []int64{}
		b, err := tx.GetPayerBatch(r.BatchID)
		if errors.Is(err, store.ErrNotFound) {
			return newErr(CodeNotFound, "", "not_found", "payment batch %d does not exist", r.BatchID)
		}
		if err != nil {
			return err
		}
		if !b.Open() {
			return newErr(CodeNotReconcilable, "", "settled", "payment batch %d is settled already", r.BatchID)
		}
		res.Seqno = b.Seqno
		msgs, err := tx.PayerMessages(b.ID)
		if err != nil {
			return err
		}
		pending := map[int64]bool{}
		for _, m := range msgs {
			if m.Outcome == domain.PaymentPending {
				pending[m.OrderID] = true
			}
		}
		for id := range delivered {
			if !pending[id] {
				return newErr(CodeNotReconcilable, "delivered_orders", "not_in_batch",
					"order %d has no unsettled payment in batch %d", id, b.ID)
			}
		}
		now := s.now()
		for i := range msgs {
			m := &msgs[i]
			if m.Outcome != domain.PaymentPending {
				continue
			}
			m.ResolvedAt = &now
			if !delivered[m.OrderID] {
				m.Outcome = domain.PaymentUnpaid
				m.Detail = fmt.Sprintf("%s (its seqno %d was taken by a message this service did not sign)", releasedNeverRanPrefix, b.Seqno)
				res.WillPay = append(res.WillPay, m.OrderID)
				if err := tx.PutPayerMessage(m); err != nil {
					return err
				}
				continue
			}
			m.Outcome = domain.PaymentUnpaid // this message never ran: the other one paid
			m.Detail = fmt.Sprintf("%s (seqno %d)", releasedDeliveredPrefix, b.Seqno)
			if err := tx.PutPayerMessage(m); err != nil {
				return err
			}
			res.Delivered = append(res.Delivered, m.OrderID)
			o, err := tx.GetOrder(m.OrderID)
			if err != nil {
				return err
			}
			if o.Status != domain.StatusProcessing {
				continue // finished by other means meanwhile
			}
			p, err := tx.GetPartner(o.PartnerID)
			if err != nil {
				return err
			}
			ref := fmt.Sprintf("%s (seqno %d)", releasedDeliveredPrefix, b.Seqno)
			if err := s.complete(tx, o, p, fulfil.Result{ProviderRef: ref}); err != nil {
				return err
			}
			if err := s.audit(tx, r.By, domain.AuditEntry{Action: AuditReleaseDelivered, OrderID: o.ID, PartnerID: p.ID,
				Detail: fmt.Sprintf("%s (batch %d, seqno %d)", releasedDeliveredPrefix, b.ID, b.Seqno)}); err != nil {
				return err
			}
		}
		slices.Sort(res.Delivered)
		slices.Sort(res.WillPay)
		b.SettledAt = &now
		b.Detail = fmt.Sprintf("released by an operator: seqno %d taken by a message this service did not sign; %d order(s) marked delivered, %d paid again",
			b.Seqno, len(res.Delivered), len(res.WillPay))
		if err := tx.PutPayerBatch(b); err != nil {
			return err
		}
		return s.audit(tx, r.By, domain.AuditEntry{Action: AuditPayerRelease, Detail: fmt.Sprintf(
			"batch %d (seqno %d): %s; delivered %s; paid again %s; note: %s", b.ID, b.Seqno, found, idList(res.Delivered), idList(res.WillPay), note)})
	})
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return nil, be
		}
		return nil, fmt.Errorf("shop: release payment batch %d: %w", r.BatchID, err)
	}
	if err := dp.Reread(ctx, r.BatchID, res.Delivered); err != nil {
		s.log.Error("payment batch released, but the provider could not read it again; it follows it until a restart", "batch", r.BatchID, "err", err)
	}
	s.log.Warn("displaced payment batch released by an operator", "batch", r.BatchID, "seqno", res.Seqno,
		"delivered", res.Delivered, "will_pay", res.WillPay)
	return res, nil
}
