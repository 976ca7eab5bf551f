package shop

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/store"
)

// Manual delivery (fulfillment.provider: manual, fulfil/manual): paid orders
// wait in processing until an operator marks each one delivered or failed,
// exactly once, with an audit row.

// ManualMark is an operator's decision on an order delivered by hand.
type ManualMark struct {
	By Actor
	// Reference (delivered, optional): the operator's own proof, e.g. the
	// Fragment transaction; kept as the order's delivery reference.
	Reference string
	// Reason (failed, required): one sentence, shown to the partner as the
	// order's failure_reason.
	Reason string
}

const (
	maxManualReference = 200
	maxManualReason    = 300
)

// manualRef is the delivery reference of an order marked delivered without one.
const manualRef = "manual"

// byOperator reports whether the provider's deliveries are made by hand.
func (s *Shop) byOperator() bool {
	bo, ok := s.provider.(fulfil.ByOperator)
	return ok && bo.DeliveredByOperator()
}

// PendingDeliveries lists orders waiting for delivery (paid or processing)
// with id > afterID, oldest (lowest id) first, at most limit (1–500; 0
// means 100): a page of the list, the next one after the last id. With the
// manual provider these are the operator's to-do list. Errors:
// VALIDATION_ERROR.
func (s *Shop) PendingDeliveries(ctx context.Context, afterID int64, limit int) ([]domain.Order, error) {
	limit, err := adminLimit(limit)
	if err != nil {
		return nil, err
	}
	var out []domain.Order
	err = s.st.View(ctx, func(tx store.Tx) error {
		ids, err := tx.DeliveryQueue(afterID, limit)
		if err != nil {
			return err
		}
		out = make([]domain.Order, 0, len(ids))
		for _, id := range ids {
			o, err := tx.GetOrder(id)
			if err != nil {
				return err
			}
			out = append(out, *o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shop: pending deliveries: %w", err)
	}
	return out, nil
}

// MarkDelivered records that the operator delivered a paid order by hand:
// completed (order.completed queued), in one transaction with an audit row.
// Exactly once: of concurrent calls one wins, the others get
// NOT_AWAITING_DELIVERY.
//
// Errors: NOT_FOUND, NOT_AWAITING_DELIVERY (the order is not paid or
// processing, or the provider is not manual), VALIDATION_ERROR (reference,
// operator).
func (s *Shop) MarkDelivered(ctx context.Context, orderID int64, m ManualMark) (*domain.Order, error) {
	ref, err := operatorText("reference", m.Reference, false, maxManualReference)
	if err != nil {
		return nil, err
	}
	res := fulfil.Result{ProviderRef: manualRef}
	if ref != "" {
		res.ProviderRef = manualRef + ": " + ref
	}
	o, _, err := s.markManual(ctx, orderID, m.By, domain.AuditEntry{Action: AuditMarkDelivered, Detail: ref},
		func(tx *txn, o *domain.Order, p *domain.Partner) (*domain.LedgerEntry, error) {
			return nil, s.complete(tx, o, p, res)
		})
	return o, err
}

// MarkFailed records that a manual delivery failed: the price goes back to
// the partner balance (a refund row) and the order ends refunded with
// failure_reason "operator_failed: <reason>", as a failed delivery does, in one transaction
// with an audit row. Exactly once, as MarkDelivered.
//
// Errors: NOT_FOUND, NOT_AWAITING_DELIVERY, VALIDATION_ERROR (reason,
// operator).
func (s *Shop) MarkFailed(ctx context.Context, orderID int64, m ManualMark) (*domain.Order, *domain.LedgerEntry, error) {
	reason, err := operatorText("reason", m.Reason, true, maxManualReason)
	if err != nil {
		return nil, nil, err
	}
	return s.markManual(ctx, orderID, m.By, domain.AuditEntry{Action: AuditMarkFailed, Detail: reason},
		func(tx *txn, o *domain.Order, p *domain.Partner) (*domain.LedgerEntry, error) {
			return s.refund(tx, o, p, operatorFailure(reason))
		})
}

// operatorFailure is the failure_reason of a manual delivery marked failed:
// the stable code, then the operator's reason on one line.
func operatorFailure(reason string) string {
	return fulfil.ErrOperatorFailed.Code + ": " + strings.Join(strings.Fields(reason), " ")
}

func (s *Shop) markManual(ctx context.Context, orderID int64, who Actor, a domain.AuditEntry,
	finish func(*txn, *domain.Order, *domain.Partner) (*domain.LedgerEntry, error)) (*domain.Order, *domain.LedgerEntry, error) {
	if _, err := who.name(); err != nil {
		return nil, nil, err
	}
	if !s.byOperator() {
		return nil, nil, newErr(CodeNotAwaitingDelivery, "", "not_manual",
			"orders are delivered by the %s provider, not by hand (fulfillment.provider: manual)", s.cfg.Fulfillment.Provider)
	}
	var o *domain.Order
	var e *domain.LedgerEntry
	err := s.update(ctx, func(tx *txn) error {
		var err error
		o, err = tx.GetOrder(orderID)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("order")
		}
		if err != nil {
			return err
		}
		switch o.Status {
		case domain.StatusPaid:
			// not handed to the provider yet: it is now, by the operator
			o.DeliveryAttempts++
			if err := s.move(tx, nil, o, domain.StatusProcessing); err != nil {
				return err
			}
		case domain.StatusProcessing:
		default:
			return newErr(CodeNotAwaitingDelivery, "", "not_awaiting_delivery",
				"order %d is %s, not waiting for delivery", o.ID, o.Status)
		}
		p, err := tx.GetPartner(o.PartnerID)
		if err != nil {
			return err
		}
		if e, err = finish(tx, o, p); err != nil {
			return err
		}
		a.OrderID, a.PartnerID = o.ID, p.ID
		if e != nil {
			a.LedgerID = e.ID
		}
		return s.audit(tx, who, a)
	})
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return nil, nil, be
		}
		return nil, nil, fmt.Errorf("shop: %s order %d: %w", a.Action, orderID, err)
	}
	s.log.Info("manual delivery marked", "action", a.Action, "order_id", o.ID, "partner_id", o.PartnerID,
		"status", o.Status, "refund_ledger_id", o.RefundLedgerID)
	return o, e, nil
}
