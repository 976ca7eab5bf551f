package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	json "github.com/segmentio/encoding/json"
	"github.com/theopenmoney/openmoney/domain"
)

// The payer's batches (by id, with an index of the open ones) and their
// messages (by batch id and index, with an index by order).
var (
	bPayerBatches  = []byte("payer_batches")
	bPayerOpen     = []byte("payer_batches_open")
	bPayerMessages = []byte("payer_messages")
	bPayerByOrder  = []byte("payer_messages_by_order")
)

func payerMsgKey(batchID int64, index int) []byte { return cat(i64(batchID), u64(uint64(index))) }

func (t *boltTx) PutPayerBatch(b *domain.PayerBatch) error {
	if b.ID == 0 {
		id, err := t.seq(bPayerBatches)
		if err != nil {
			return err
		}
		b.ID = id
	} else if old, err := t.GetPayerBatch(b.ID); err == nil && !old.Open() {
		return ErrSettled
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	open := t.tx.Bucket(bPayerOpen)
	var err error
	if b.Open() {
		err = open.Put(i64(b.ID), nil)
	} else {
		err = open.Delete(i64(b.ID))
	}
	if err != nil {
		return err
	}
	return t.put(bPayerBatches, i64(b.ID), b)
}

func (t *boltTx) GetPayerBatch(id int64) (*domain.PayerBatch, error) {
	var b domain.PayerBatch
	if err := t.get(bPayerBatches, i64(id), &b); err != nil {
		return nil, err
	}
	return &b, nil
}

func (t *boltTx) ListPayerBatches(afterID int64, limit int, openOnly bool) ([]domain.PayerBatch, error) {
	var out []domain.PayerBatch
	b := t.b(bPayerBatches)
	if openOnly {
		b = t.b(bPayerOpen)
	}
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(i64(afterID + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		if openOnly {
			pb, err := t.GetPayerBatch(int64(binary.BigEndian.Uint64(k)))
			if err != nil {
				return nil, err
			}
			out = append(out, *pb)
			continue
		}
		var pb domain.PayerBatch
		if err := json.Unmarshal(v, &pb); err != nil {
			return nil, fmt.Errorf("store: decode payer batch: %w", err)
		}
		out = append(out, pb)
	}
	return out, nil
}

func (t *boltTx) LastPayerBatch(wallet string) (*domain.PayerBatch, error) {
	b := t.b(bPayerBatches)
	if b == nil {
		return nil, ErrNotFound
	}
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		var pb domain.PayerBatch
		if err := json.Unmarshal(v, &pb); err != nil {
			return nil, fmt.Errorf("store: decode payer batch: %w", err)
		}
		if pb.Wallet == wallet {
			return &pb, nil
		}
	}
	return nil, ErrNotFound
}

func (t *boltTx) PutPayerMessage(m *domain.PayerMessage) error {
	if m.BatchID <= 0 || m.Index < 0 {
		return fmt.Errorf("store: payer message without a batch (%d) or index (%d)", m.BatchID, m.Index)
	}
	key := payerMsgKey(m.BatchID, m.Index)
	var old domain.PayerMessage
	switch err := t.get(bPayerMessages, key, &old); {
	case err == nil && old.Outcome != domain.PaymentPending:
		return ErrSettled
	case err != nil && !errors.Is(err, ErrNotFound):
		return err
	}
	if err := t.tx.Bucket(bPayerByOrder).Put(cat(i64(m.OrderID), key), nil); err != nil {
		return err
	}
	return t.put(bPayerMessages, key, m)
}

func (t *boltTx) PayerMessages(batchID int64) ([]domain.PayerMessage, error) {
	var out []domain.PayerMessage
	b := t.b(bPayerMessages)
	if b == nil {
		return nil, nil
	}
	prefix := i64(batchID)
	c := b.Cursor()
	for k, v := c.Seek(prefix); len(k) == 16 && string(k[:8]) == string(prefix); k, v = c.Next() {
		var m domain.PayerMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, fmt.Errorf("store: decode payer message: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

func (t *boltTx) OrderPayerMessages(orderID int64) ([]domain.PayerMessage, error) {
	var out []domain.PayerMessage
	b := t.b(bPayerByOrder)
	if b == nil {
		return nil, nil
	}
	prefix := i64(orderID)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); len(k) == 24 && string(k[:8]) == string(prefix); k, _ = c.Next() {
		var m domain.PayerMessage
		if err := t.get(bPayerMessages, k[8:], &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
