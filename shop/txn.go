package shop

import (
	"context"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// txn is a store transaction as the shop runs it: the store's Tx, and what
// the transaction did that the Observer is told once it commits (the run of
// fn that commits: fn may run more than once, and a run that is rolled back
// reports nothing).
type txn struct {
	store.Tx
	moves    []transition // status changes, by move
	received []received   // transfers accounted for the first time
	parked   int          // transfers parked
}

type transition struct{ from, to domain.Status }

type received struct {
	currency domain.Currency
	amount   int64
}

// update runs fn in a serializable store transaction (store.Store.Update).
func (s *Shop) update(ctx context.Context, fn func(*txn) error) error {
	return s.run(ctx, s.st.Update, fn)
}

// write runs fn in a locking store transaction (store.Store.Write).
func (s *Shop) write(ctx context.Context, fn func(*txn) error) error {
	return s.run(ctx, s.st.Write, fn)
}

func (s *Shop) run(ctx context.Context, kind func(context.Context, func(store.Tx) error) error, fn func(*txn) error) error {
	var last *txn
	err := kind(ctx, func(tx store.Tx) error {
		last = &txn{Tx: tx}
		return fn(last)
	})
	if err == nil && last != nil && s.txObs != nil {
		last.report(s.txObs)
	}
	return err
}

// accounted notes a transfer accounted for the first time (to an order, a
// balance or an unmatched deposit).
func (t *txn) accounted(cur domain.Currency, amount int64) {
	if amount > 0 {
		t.received = append(t.received, received{cur, amount})
	}
}

func (t *txn) report(obs Observer) {
	for _, m := range t.moves {
		obs.OrderTransition(m.from, m.to)
		if m.from == domain.StatusProcessing {
			switch m.to {
			case domain.StatusCompleted:
				obs.Delivery(DeliveryCompleted)
			case domain.StatusRefunded:
				obs.Delivery(DeliveryRefunded)
			}
		}
	}
	for _, r := range t.received {
		obs.Received(r.currency, r.amount)
	}
	if po, ok := obs.(PaymentsObserver); ok && t.parked > 0 {
		po.TransfersParked(t.parked)
	}
}
