package shop

import (
	"context"
	"errors"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// PayerRecords keeps the Fragment payer's batches and payments
// (fulfil/fragment.Records) in the service store, each write in its own
// transaction, so they are backed up and copied with the orders they pay
// for. fulfil/fragment declares what it needs; it never sees the store.
type PayerRecords struct{ Store store.Store }

// OpenBatches returns every batch not settled yet, oldest first.
func (r PayerRecords) OpenBatches(ctx context.Context) ([]domain.PayerBatch, error) {
	var out []domain.PayerBatch
	err := r.Store.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		var after int64
		for {
			bs, err := tx.ListPayerBatches(after, 500, true)
			if err != nil || len(bs) == 0 {
				return err
			}
			out = append(out, bs...)
			after = bs[len(bs)-1].ID
		}
	})
	return out, err
}

// Batch returns one batch.
func (r PayerRecords) Batch(ctx context.Context, id int64) (*domain.PayerBatch, error) {
	var b *domain.PayerBatch
	err := r.Store.View(ctx, func(tx store.Tx) error {
		var err error
		b, err = tx.GetPayerBatch(id)
		return err
	})
	return b, err
}

// BatchWithMessages returns one batch and its messages, read together.
func (r PayerRecords) BatchWithMessages(ctx context.Context, id int64) (*domain.PayerBatch, []domain.PayerMessage, error) {
	var b *domain.PayerBatch
	var ms []domain.PayerMessage
	err := r.Store.View(ctx, func(tx store.Tx) error {
		var err error
		if b, err = tx.GetPayerBatch(id); err != nil {
			return err
		}
		ms, err = tx.PayerMessages(id)
		return err
	})
	return b, ms, err
}

// OrderPayments returns an order's payments, oldest batch first.
func (r PayerRecords) OrderPayments(ctx context.Context, orderID int64) ([]domain.PayerMessage, error) {
	var ms []domain.PayerMessage
	err := r.Store.View(ctx, func(tx store.Tx) error {
		var err error
		ms, err = tx.OrderPayerMessages(orderID)
		return err
	})
	return ms, err
}

// RecordBatch stores a new batch and its messages in one transaction,
// assigning the batch id.
func (r PayerRecords) RecordBatch(ctx context.Context, b *domain.PayerBatch, msgs []domain.PayerMessage) error {
	return r.Store.Update(ctx, func(tx store.Tx) error {
		b.ID = 0 // Update may run fn again
		if err := tx.PutPayerBatch(b); err != nil {
			return err
		}
		for i := range msgs {
			msgs[i].BatchID = b.ID
			if err := tx.PutPayerMessage(&msgs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordOutcomes stores changed batches and messages in one transaction.
func (r PayerRecords) RecordOutcomes(ctx context.Context, batches []domain.PayerBatch, msgs []domain.PayerMessage) error {
	return r.Store.Update(ctx, func(tx store.Tx) error {
		for i := range batches {
			if err := tx.PutPayerBatch(&batches[i]); err != nil {
				return err
			}
		}
		for i := range msgs {
			if err := tx.PutPayerMessage(&msgs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// AccountedSeqno is one past the newest batch recorded for wallet (a
// reconciliation is recorded as a settled batch without payments), 0 when
// there is none.
func (r PayerRecords) AccountedSeqno(ctx context.Context, wallet string) (uint32, error) {
	var n uint32
	err := r.Store.View(ctx, func(tx store.Tx) error {
		b, err := tx.LastPayerBatch(wallet)
		if errors.Is(err, store.ErrNotFound) {
			n = 0
			return nil
		}
		if err != nil {
			return err
		}
		n = b.Seqno + 1
		return nil
	})
	return n, err
}
