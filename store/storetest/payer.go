package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

func batchIDs(bs []domain.PayerBatch) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

// The payer's batches and messages: a batch and all its messages are
// written in one transaction (or not at all), ids assigned once, the open
// index follows SettledAt, messages come back by index per batch and by
// batch per order.
func testPayer(t *testing.T, st store.Store) {
	mk := func(seqno uint32, orders ...int64) (*domain.PayerBatch, []*domain.PayerMessage) {
		b := &domain.PayerBatch{Wallet: "0:" + fmt.Sprintf("%064x", 1), Seqno: seqno, ExtHash: fmt.Sprintf("%064x", 100+seqno),
			BOC: "te6cc…", ValidUntil: t0.Add(time.Minute).Unix(), AfterLT: 1<<63 + uint64(seqno), CreatedAt: t0,
			Messages: len(orders), TotalNano: 1<<62 + 1, FeeNano: 7}
		var ms []*domain.PayerMessage
		for i, o := range orders {
			ms = append(ms, &domain.PayerMessage{Index: i, OrderID: o, Kind: "stars", ReqID: fmt.Sprintf("req%d", o),
				To: "0:" + fmt.Sprintf("%064x", 2), AmountNano: 1<<62 + int64(i), Payload: "te6ccgEBAgEA…", PayloadHash: fmt.Sprintf("%064x", o),
				LinkValidUntil: t0.Add(10 * time.Minute).Unix(), ConfirmMethod: "confirmReq", ConfirmParams: map[string]string{"id": "ünïcödé"}})
		}
		return b, ms
	}
	put := func(tx store.Tx, b *domain.PayerBatch, ms []*domain.PayerMessage) error {
		if err := tx.PutPayerBatch(b); err != nil {
			return err
		}
		for _, m := range ms {
			m.BatchID = b.ID
			if err := tx.PutPayerMessage(m); err != nil {
				return err
			}
		}
		return nil
	}
	b1, m1 := mk(5, 10, 11, 12)
	b2, m2 := mk(6, 13, 11) // order 11 again: its first payment never ran
	update(t, st, func(tx store.Tx) error {
		if err := put(tx, b1, m1); err != nil {
			return err
		}
		return put(tx, b2, m2)
	})
	if b1.ID == 0 || b2.ID <= b1.ID {
		t.Fatalf("batch ids %d, %d: want assigned and increasing", b1.ID, b2.ID)
	}
	// a batch whose write rolls back leaves nothing, messages included
	b3, m3 := mk(7, 14)
	if err := st.Update(context.Background(), func(tx store.Tx) error {
		if err := put(tx, b3, m3); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatalf("rolled-back update: %v", err)
	}
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetPayerBatch(b1.ID)
		if err != nil {
			return err
		}
		same(t, "GetPayerBatch", got, b1)
		ms, err := tx.PayerMessages(b1.ID)
		if err != nil {
			return err
		}
		if len(ms) != 3 {
			t.Fatalf("PayerMessages = %d, want 3", len(ms))
		}
		for i := range ms {
			same(t, "PayerMessages row", &ms[i], m1[i])
		}
		ms, err = tx.OrderPayerMessages(11)
		if err != nil {
			return err
		}
		if len(ms) != 2 || ms[0].BatchID != b1.ID || ms[0].Index != 1 || ms[1].BatchID != b2.ID || ms[1].Index != 1 {
			t.Errorf("OrderPayerMessages(11) = %+v", ms)
		}
		ms, err = tx.OrderPayerMessages(14)
		if err != nil || len(ms) != 0 {
			t.Errorf("rolled-back batch's message found: %v %v", ms, err)
		}
		open, err := tx.ListPayerBatches(0, 10, true)
		if err != nil {
			return err
		}
		sameIDs(t, "open batches", batchIDs(open), []int64{b1.ID, b2.ID})
		_, err = tx.GetPayerBatch(b2.ID + 100)
		wantNotFound(t, "GetPayerBatch missing", err)
		last, err := tx.LastPayerBatch(b1.Wallet)
		if err != nil {
			return err
		}
		same(t, "LastPayerBatch", last, b2)
		_, err = tx.LastPayerBatch("0:" + fmt.Sprintf("%064x", 3))
		wantNotFound(t, "LastPayerBatch of another wallet", err)
		return nil
	})
	// settle the first: outcomes on its messages, out of the open index
	b1.SettledAt, b1.TxHash, b1.Detail = at(time.Minute), fmt.Sprintf("%064x", 9), "ran in block 1001"
	for _, m := range m1 {
		m.Outcome, m.ResolvedAt, m.DestTxHash = domain.PaymentPaid, at(time.Minute), fmt.Sprintf("%064x", 8)
	}
	m1[2].Outcome, m1[2].Detail = domain.PaymentBounced, "refused"
	update(t, st, func(tx store.Tx) error { return put(tx, b1, m1) })
	view(t, st, func(tx store.Tx) error {
		open, err := tx.ListPayerBatches(0, 10, true)
		if err != nil {
			return err
		}
		sameIDs(t, "open batches after settling", batchIDs(open), []int64{b2.ID})
		all, err := tx.ListPayerBatches(0, 10, false)
		if err != nil {
			return err
		}
		sameIDs(t, "all batches", batchIDs(all), []int64{b1.ID, b2.ID})
		same(t, "settled batch", &all[0], b1)
		page, err := tx.ListPayerBatches(b1.ID, 1, false)
		if err != nil {
			return err
		}
		sameIDs(t, "after the first", batchIDs(page), []int64{b2.ID})
		ms, err := tx.PayerMessages(b1.ID)
		if err != nil {
			return err
		}
		for i := range ms {
			same(t, "settled message", &ms[i], m1[i])
		}
		return nil
	})
	// another wallet's batch is newer: each wallet's own newest counts
	other := &domain.PayerBatch{Wallet: "0:" + fmt.Sprintf("%064x", 3), Seqno: 1, CreatedAt: t0}
	update(t, st, func(tx store.Tx) error { return tx.PutPayerBatch(other) })
	view(t, st, func(tx store.Tx) error {
		last, err := tx.LastPayerBatch(b1.Wallet)
		if err != nil {
			return err
		}
		same(t, "LastPayerBatch beside another wallet's", last, b2)
		last, err = tx.LastPayerBatch(other.Wallet)
		if err != nil {
			return err
		}
		same(t, "LastPayerBatch of the other wallet", last, other)
		return nil
	})
}

// A payment's outcome is written only over a pending message, and a settled
// batch is final: a second writer (another instance's resolver, a stale
// view) gets ErrSettled, its whole transaction writes nothing, and the
// first outcome stands. Two writers racing to settle the same pending
// payment differently: exactly one wins.
func testPayerSettledIsFinal(t *testing.T, st store.Store) {
	ctx := context.Background()
	b := &domain.PayerBatch{Wallet: "0:" + fmt.Sprintf("%064x", 1), Seqno: 9, ExtHash: fmt.Sprintf("%064x", 9), BOC: "te6cc…",
		ValidUntil: t0.Add(time.Minute).Unix(), CreatedAt: t0, Messages: 3, TotalNano: 3, FeeNano: 1}
	ms := make([]domain.PayerMessage, 3)
	update(t, st, func(tx store.Tx) error {
		b.ID = 0
		if err := tx.PutPayerBatch(b); err != nil {
			return err
		}
		for i := range ms {
			ms[i] = domain.PayerMessage{BatchID: b.ID, Index: i, OrderID: int64(20 + i), Kind: "stars", ReqID: fmt.Sprintf("r%d", i),
				To: "0:" + fmt.Sprintf("%064x", 2), AmountNano: 1, PayloadHash: fmt.Sprintf("%064x", i)}
			if err := tx.PutPayerMessage(&ms[i]); err != nil {
				return err
			}
		}
		return nil
	})
	settle := func(m domain.PayerMessage, outcome string) domain.PayerMessage {
		m.Outcome, m.ResolvedAt, m.Detail = outcome, at(time.Minute), "by "+outcome
		return m
	}
	// The first writer settles message 0 as paid; the batch stays open.
	paid := settle(ms[0], domain.PaymentPaid)
	b.TxHash = fmt.Sprintf("%064x", 77)
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutPayerBatch(b); err != nil {
			return err
		}
		return tx.PutPayerMessage(&paid)
	})
	// A second writer with an older view: message 0 unpaid, message 1 paid
	// in the same transaction. Refused whole.
	stale0, other1 := settle(ms[0], domain.PaymentUnpaid), settle(ms[1], domain.PaymentPaid)
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutPayerMessage(&other1); err != nil {
			return err
		}
		return tx.PutPayerMessage(&stale0)
	})
	if !errors.Is(err, store.ErrSettled) {
		t.Fatalf("outcome over a settled payment: err = %v, want ErrSettled", err)
	}
	view(t, st, func(tx store.Tx) error {
		got, err := tx.PayerMessages(b.ID)
		if err != nil {
			return err
		}
		same(t, "settled message after a refused overwrite", &got[0], &paid)
		same(t, "message 1 (its write rolled back with the refused one)", &got[1], &ms[1])
		return nil
	})
	// Two writers race to settle message 2: one paid, one unpaid.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	race := []domain.PayerMessage{settle(ms[2], domain.PaymentPaid), settle(ms[2], domain.PaymentUnpaid)}
	for i := range race {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Update(ctx, func(tx store.Tx) error {
				m := race[i]
				return tx.PutPayerMessage(&m)
			})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case err == nil:
			t.Fatalf("both writers settled message 2")
		case !errors.Is(err, store.ErrSettled):
			t.Fatalf("writer %d: %v, want nil or ErrSettled", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("neither writer settled message 2: %v", errs)
	}
	// Settle the batch; then it is final too.
	b.SettledAt = at(2 * time.Minute)
	last := settle(ms[1], domain.PaymentBounced)
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutPayerBatch(b); err != nil {
			return err
		}
		return tx.PutPayerMessage(&last)
	})
	reopened := *b
	reopened.SettledAt, reopened.Detail = nil, "a stale writer"
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutPayerBatch(&reopened) }); !errors.Is(err, store.ErrSettled) {
		t.Fatalf("rewriting a settled batch: err = %v, want ErrSettled", err)
	}
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetPayerBatch(b.ID)
		if err != nil {
			return err
		}
		same(t, "settled batch after a refused rewrite", got, b)
		open, err := tx.ListPayerBatches(0, 10, true)
		if err != nil {
			return err
		}
		sameIDs(t, "open batches", batchIDs(open), []int64{})
		msgs, err := tx.PayerMessages(b.ID)
		if err != nil {
			return err
		}
		same(t, "race winner", &msgs[2], &race[won])
		return nil
	})
}
