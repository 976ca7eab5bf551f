package store

import (
	"bytes"
	"fmt"

	json "github.com/segmentio/encoding/json"
	"github.com/theopenmoney/openmoney/domain"
)

// Outbox: one bucket, keys channel 0x00 id.

func outboxKey(channel domain.Channel, id int64) []byte {
	return cat([]byte(string(channel)), []byte{0}, i64(id))
}

func (t *boltTx) AppendOutbox(it *domain.OutboxItem) error {
	id, err := t.seq(bOutbox)
	if err != nil {
		return err
	}
	it.ID = id
	return t.PutOutbox(it)
}

func (t *boltTx) PutOutbox(it *domain.OutboxItem) error {
	return t.put(bOutbox, outboxKey(it.Channel, it.ID), it)
}

func (t *boltTx) DeleteOutbox(channel domain.Channel, id int64) error {
	return t.tx.Bucket(bOutbox).Delete(outboxKey(channel, id))
}

func (t *boltTx) PendingOutbox(channel domain.Channel, afterID int64, limit int) ([]domain.OutboxItem, error) {
	var out []domain.OutboxItem
	b := t.b(bOutbox)
	if b == nil {
		return nil, nil
	}
	prefix := cat([]byte(string(channel)), []byte{0})
	c := b.Cursor()
	for k, v := c.Seek(outboxKey(channel, max(afterID, 0)+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
		var it domain.OutboxItem
		if err := json.Unmarshal(v, &it); err != nil {
			return nil, fmt.Errorf("store: decode outbox: %w", err)
		}
		out = append(out, it)
	}
	return out, nil
}
