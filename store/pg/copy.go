package pg

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/theopenmoney/openmoney/store"
)

// Dumper and Restorer for PostgreSQL (see store.Copy).
var (
	_ store.Dumper   = (*tx)(nil)
	_ store.Restorer = (*tx)(nil)
)

func (t *tx) ForEachMeta(fn func(key string, val []byte) error) error {
	if t.err != nil {
		return fmt.Errorf("pg: transaction aborted by earlier error: %w", t.err)
	}
	rows, err := t.tx.Query(t.ctx, "SELECT key, val FROM meta ORDER BY key")
	if err != nil {
		return t.fail(err)
	}
	type kv struct {
		k string
		v []byte
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kv, error) {
		var x kv
		err := r.Scan(&x.k, &x.v)
		return x, err
	})
	if err != nil {
		return t.fail(err)
	}
	for _, x := range all {
		if err := fn(x.k, x.v); err != nil {
			return err
		}
	}
	return nil
}

// walkAll reads a whole table's records (ordered by keyset) a page at a time.
func walkAll[T any](t *tx, sql string, fn func(*T) error) error {
	for offset := 0; ; offset += pageSize {
		page, err := listRecs[T](t, sql+" LIMIT $1 OFFSET $2", pageSize, offset)
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
	}
}

func (t *tx) ForEachAPIKey(fn func(*store.APIKey) error) error {
	return walkAll(t, "SELECT rec FROM api_keys ORDER BY hash", fn)
}

func (t *tx) ForEachIdem(fn func(*store.IdemRecord) error) error {
	return walkAll(t, "SELECT rec FROM idempotency ORDER BY partner_id, key", fn)
}

func (t *tx) ForEachOutbox(fn func(*store.OutboxItem) error) error {
	return walkAll(t, "SELECT rec FROM outbox ORDER BY id, channel", fn)
}

func (t *tx) ForEachWebhook(fn func(*store.Webhook) error) error {
	return walkAll(t, "SELECT rec FROM webhooks ORDER BY partner_id", fn)
}

func (t *tx) ForEachWebhookDelivery(fn func(*store.WebhookDelivery) error) error {
	return forEach(t, "webhook_deliveries", func(d *store.WebhookDelivery) int64 { return d.ID }, fn)
}

func (t *tx) RestoreLedger(e *store.LedgerEntry) error { return t.putLedger(e) }

func (t *tx) RestoreWebhookDelivery(d *store.WebhookDelivery) error { return t.putWebhookDelivery(d) }

func (t *tx) RestoreSandboxTx(seq uint64, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	_, err := t.exec(`INSERT INTO sandbox_chain (seq, data) VALUES ($1, $2)
		ON CONFLICT (seq) DO UPDATE SET data = EXCLUDED.data`, int64(seq), data)
	return err
}

// BumpSequences moves each sequence past the largest id in its table.
func (t *tx) BumpSequences() error {
	for _, s := range []struct{ seq, table, col string }{
		{"partner_id_seq", "partners", "id"},
		{"order_id_seq", "orders", "id"},
		{"ledger_id_seq", "ledger", "id"},
		{"unmatched_id_seq", "unmatched", "id"},
		{"outbox_id_seq", "outbox", "id"},
		{"sandbox_seq", "sandbox_chain", "seq"},
		{"webhook_delivery_id_seq", "webhook_deliveries", "id"},
		{"parked_id_seq", "parked", "id"},
		{"audit_id_seq", "audit", "id"},
		{"payer_batch_id_seq", "payer_batches", "id"},
	} {
		_, err := t.exec(fmt.Sprintf(`SELECT setval('%s', m) FROM (SELECT max(%s) AS m FROM %s) x
			WHERE m IS NOT NULL AND m > (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s)`,
			s.seq, s.col, s.table, s.seq))
		if err != nil {
			return err
		}
	}
	return nil
}
