package pg

import (
	"fmt"

	"github.com/theopenmoney/openmoney/store"
)

// lockPayer is the advisory lock class of payer batch ids (paged by id, so
// ids are taken under a global lock held until commit).
const lockPayer int32 = 0x4f4d52

func (t *tx) PutPayerBatch(b *store.PayerBatch) error {
	if b.ID == 0 {
		id, err := t.lockedNextval(lockPayer, 0, "payer_batch_id_seq")
		if err != nil {
			return err
		}
		b.ID = id
	}
	data, err := enc(b)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO payer_batches (id, open, rec) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET open = EXCLUDED.open, rec = EXCLUDED.rec`, b.ID, b.Open(), data)
	return err
}

func (t *tx) GetPayerBatch(id int64) (*store.PayerBatch, error) {
	var b store.PayerBatch
	if err := t.getRec(&b, "SELECT rec FROM payer_batches WHERE id = $1", id); err != nil {
		return nil, err
	}
	return &b, nil
}

func (t *tx) ListPayerBatches(afterID int64, limit int, openOnly bool) ([]store.PayerBatch, error) {
	return listRecs[store.PayerBatch](t, "SELECT rec FROM payer_batches WHERE id > $1 AND (open OR NOT $2) ORDER BY id LIMIT $3",
		afterID, openOnly, max(limit, 0))
}

func (t *tx) PutPayerMessage(m *store.PayerMessage) error {
	if m.BatchID <= 0 || m.Index < 0 {
		return fmt.Errorf("pg: payer message without a batch (%d) or index (%d)", m.BatchID, m.Index)
	}
	data, err := enc(m)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO payer_messages (batch_id, idx, order_id, rec) VALUES ($1, $2, $3, $4)
		ON CONFLICT (batch_id, idx) DO UPDATE SET order_id = EXCLUDED.order_id, rec = EXCLUDED.rec`,
		m.BatchID, m.Index, m.OrderID, data)
	return err
}

func (t *tx) PayerMessages(batchID int64) ([]store.PayerMessage, error) {
	return listRecs[store.PayerMessage](t, "SELECT rec FROM payer_messages WHERE batch_id = $1 ORDER BY idx", batchID)
}

func (t *tx) OrderPayerMessages(orderID int64) ([]store.PayerMessage, error) {
	return listRecs[store.PayerMessage](t, "SELECT rec FROM payer_messages WHERE order_id = $1 ORDER BY batch_id, idx", orderID)
}
