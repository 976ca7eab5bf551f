package pg

import (
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// The Fragment payer's batches and their messages: records for the payer,
// opaque to the store (json), beside the columns their indexes need. Batch
// ids are paged ascending, so they are taken under a global advisory lock
// held to the commit (increasing in commit order); batches are rare.
//
//	payer_batches (id PRIMARY KEY, open, rec json), payer_batches_open (id) WHERE open
//	payer_messages (batch_id, idx, order_id, rec json, PRIMARY KEY (batch_id, idx)),
//	payer_messages_by_order (order_id, batch_id, idx)

const lockPayer int32 = 0x4f4d52

func (t *tx) PutPayerBatch(b *domain.PayerBatch) error {
	if b.ID == 0 {
		id, err := t.lockedNextval(lockPayer, "payer_batch_id_seq")
		if err != nil {
			return err
		}
		b.ID = id
	}
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("pg: encode payer batch: %w", err)
	}
	// A settled batch (open false) is final: the update is skipped and no
	// row is affected.
	return t.later(`INSERT INTO payer_batches (id, open, rec) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET open = EXCLUDED.open, rec = EXCLUDED.rec WHERE payer_batches.open`,
		[]any{b.ID, b.Open(), data}, settled)
}

// settled refuses an upsert that changed no row: the record was settled.
func settled(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return store.ErrSettled
	}
	return nil
}

func (t *tx) GetPayerBatch(id int64) (*domain.PayerBatch, error) {
	return get(t, "SELECT rec FROM payer_batches WHERE id = $1", []any{id}, scanJSON[domain.PayerBatch])
}

func (t *tx) ListPayerBatches(afterID int64, limit int, openOnly bool) ([]domain.PayerBatch, error) {
	return list(t, "SELECT rec FROM payer_batches WHERE id > $1 AND (open OR NOT $2) ORDER BY id LIMIT $3",
		[]any{afterID, openOnly, maxLimit(limit)}, scanJSON[domain.PayerBatch])
}

func (t *tx) LastPayerBatch(wallet string) (*domain.PayerBatch, error) {
	return get(t, "SELECT rec FROM payer_batches WHERE rec->>'wallet' = $1 ORDER BY id DESC LIMIT 1", []any{wallet},
		scanJSON[domain.PayerBatch])
}

func (t *tx) PutPayerMessage(m *domain.PayerMessage) error {
	if m.BatchID <= 0 || m.Index < 0 {
		return fmt.Errorf("pg: payer message without a batch (%d) or index (%d)", m.BatchID, m.Index)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("pg: encode payer message: %w", err)
	}
	// An outcome is written only over a pending message (rec has no
	// outcome: omitempty); a settled one is final and no row is affected.
	// Under concurrent writers the row lock makes the second one re-read
	// the condition (or fail to serialize and retry), so it is refused.
	return t.later(`INSERT INTO payer_messages (batch_id, idx, order_id, rec) VALUES ($1, $2, $3, $4)
		ON CONFLICT (batch_id, idx) DO UPDATE SET order_id = EXCLUDED.order_id, rec = EXCLUDED.rec
		WHERE COALESCE(payer_messages.rec->>'outcome', '') = ''`,
		[]any{m.BatchID, m.Index, m.OrderID, data}, settled)
}

func (t *tx) PayerMessages(batchID int64) ([]domain.PayerMessage, error) {
	return list(t, "SELECT rec FROM payer_messages WHERE batch_id = $1 ORDER BY idx", []any{batchID},
		scanJSON[domain.PayerMessage])
}

func (t *tx) OrderPayerMessages(orderID int64) ([]domain.PayerMessage, error) {
	return list(t, "SELECT rec FROM payer_messages WHERE order_id = $1 ORDER BY batch_id, idx", []any{orderID},
		scanJSON[domain.PayerMessage])
}
