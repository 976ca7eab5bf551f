package pg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/theopenmoney/openmoney/store"
)

// Advisory lock classes (first key of pg_advisory_xact_lock(int, int)).
const (
	lockOrders    int32 = 0x4f4d01 // order ids: global
	lockLedger    int32 = 0x4f4d02 // ledger ids: per partner
	lockSandbox   int32 = 0x4f4d03 // sandbox chain seq: global
	lockWhDeliver int32 = 0x4f4d04 // webhook delivery ids: per partner
)

// pageSize is how many rows ForEach methods read per query; callbacks run
// between queries, so they may use the transaction themselves.
const pageSize = 500

// tx implements store.Tx over one pgx transaction. The first failed statement
// is remembered: PostgreSQL aborts the transaction on it, and Update needs
// to know whether it was a serialization failure even if fn hid it.
type tx struct {
	ctx context.Context
	tx  pgx.Tx
	err error
}

var _ store.Tx = (*tx)(nil)

func (t *tx) fail(err error) error {
	if err == nil || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	var pe *pgconn.PgError
	if t.err == nil && (errors.As(err, &pe) || t.ctx.Err() != nil) {
		t.err = err
	}
	return fmt.Errorf("pg: %w", err)
}

func (t *tx) exec(sql string, args ...any) (pgconn.CommandTag, error) {
	if t.err != nil {
		return pgconn.CommandTag{}, fmt.Errorf("pg: transaction aborted by earlier error: %w", t.err)
	}
	tag, err := t.tx.Exec(t.ctx, sql, args...)
	return tag, t.fail(err)
}

// scanOne runs a one-row query; ErrNotFound when it returns none.
func (t *tx) scanOne(sql string, args []any, dest ...any) error {
	if t.err != nil {
		return fmt.Errorf("pg: transaction aborted by earlier error: %w", t.err)
	}
	err := t.tx.QueryRow(t.ctx, sql, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return t.fail(err)
}

// getRec reads one JSON record into v.
func (t *tx) getRec(v any, sql string, args ...any) error {
	var data []byte
	if err := t.scanOne(sql, args, &data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("pg: decode %T: %w", v, err)
	}
	return nil
}

// listRecs reads JSON records, one per row, into a slice.
func listRecs[T any](t *tx, sql string, args ...any) ([]T, error) {
	if t.err != nil {
		return nil, fmt.Errorf("pg: transaction aborted by earlier error: %w", t.err)
	}
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return nil, t.fail(err)
	}
	raws, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, t.fail(err)
	}
	var out []T
	for _, data := range raws {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("pg: decode %T: %w", v, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func (t *tx) ids(sql string, args ...any) ([]int64, error) {
	if t.err != nil {
		return nil, fmt.Errorf("pg: transaction aborted by earlier error: %w", t.err)
	}
	rows, err := t.tx.Query(t.ctx, sql, args...)
	if err != nil {
		return nil, t.fail(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, t.fail(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}

func enc(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("pg: encode %T: %w", v, err)
	}
	return data, nil
}

func (t *tx) nextval(seq string) (int64, error) {
	var id int64
	err := t.scanOne("SELECT nextval('"+seq+"')", nil, &id)
	return id, err
}

// lockedNextval takes a transaction-scoped advisory lock (class, key) and
// then the next value of seq: ids taken under the same lock increase in
// commit order.
func (t *tx) lockedNextval(class int32, key int64, seq string) (int64, error) {
	var id int64
	err := t.scanOne("SELECT pg_advisory_xact_lock($1, $2), nextval('"+seq+"')",
		[]any{class, int32(key)}, nil, &id)
	return id, err
}

// --- meta

func (t *tx) GetMeta(key string) ([]byte, error) {
	var v []byte
	if err := t.scanOne("SELECT val FROM meta WHERE key = $1", []any{key}, &v); err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *tx) PutMeta(key string, val []byte) error {
	if val == nil {
		val = []byte{}
	}
	_, err := t.exec(`INSERT INTO meta (key, val) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET val = EXCLUDED.val`, key, val)
	return err
}

// --- partners

func (t *tx) NextPartnerID() (int64, error) { return t.nextval("partner_id_seq") }

func (t *tx) PutPartner(p *store.Partner) error {
	data, err := enc(p)
	if err != nil {
		return err
	}
	if p.TelegramUserID != 0 {
		if _, err := t.exec(`INSERT INTO partners_by_telegram (telegram_user_id, partner_id) VALUES ($1, $2)
			ON CONFLICT (telegram_user_id) DO UPDATE SET partner_id = EXCLUDED.partner_id`, p.TelegramUserID, p.ID); err != nil {
			return err
		}
	}
	if p.TopupAddressRaw != "" {
		if _, err := t.exec(`INSERT INTO partners_by_address (address_raw, partner_id) VALUES ($1, $2)
			ON CONFLICT (address_raw) DO UPDATE SET partner_id = EXCLUDED.partner_id`, p.TopupAddressRaw, p.ID); err != nil {
			return err
		}
	}
	_, err = t.exec(`INSERT INTO partners (id, rec) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET rec = EXCLUDED.rec`, p.ID, data)
	return err
}

func (t *tx) GetPartner(id int64) (*store.Partner, error) {
	var p store.Partner
	if err := t.getRec(&p, "SELECT rec FROM partners WHERE id = $1", id); err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *tx) PartnerByTelegram(userID int64) (*store.Partner, error) {
	var p store.Partner
	err := t.getRec(&p, `SELECT p.rec FROM partners_by_telegram i JOIN partners p ON p.id = i.partner_id
		WHERE i.telegram_user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *tx) PartnerByTopupAddress(raw string) (*store.Partner, error) {
	var p store.Partner
	err := t.getRec(&p, `SELECT p.rec FROM partners_by_address i JOIN partners p ON p.id = i.partner_id
		WHERE i.address_raw = $1`, raw)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *tx) ListPartners(afterID int64, limit int) ([]store.Partner, error) {
	return listRecs[store.Partner](t, "SELECT rec FROM partners WHERE id > $1 ORDER BY id LIMIT $2", afterID, max(limit, 0))
}

// --- keys

func (t *tx) PutAPIKey(k *store.APIKey, isNew bool) error {
	data, err := enc(k)
	if err != nil {
		return err
	}
	if isNew {
		tag, err := t.exec(`INSERT INTO api_keys (hash, partner_id, rec) VALUES ($1, $2, $3)
			ON CONFLICT (hash) DO NOTHING`, k.Hash, k.PartnerID, data)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrExists
		}
		return nil
	}
	_, err = t.exec(`INSERT INTO api_keys (hash, partner_id, rec) VALUES ($1, $2, $3)
		ON CONFLICT (hash) DO UPDATE SET partner_id = EXCLUDED.partner_id, rec = EXCLUDED.rec`, k.Hash, k.PartnerID, data)
	return err
}

func (t *tx) GetAPIKey(hash string) (*store.APIKey, error) {
	var k store.APIKey
	if err := t.getRec(&k, "SELECT rec FROM api_keys WHERE hash = $1", hash); err != nil {
		return nil, err
	}
	return &k, nil
}

// --- orders

// NextOrderID holds the order-id lock until commit: order ids (which
// partners page by, newest first) increase in commit order.
func (t *tx) NextOrderID() (int64, error) { return t.lockedNextval(lockOrders, 0, "order_id_seq") }

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// PutOrder writes the order and its index columns. As in bbolt, the memo,
// partner and reference indexes are fixed when the order is created; the
// expiry and delivery queues follow its status.
func (t *tx) PutOrder(o *store.Order) error {
	data, err := enc(o)
	if err != nil {
		return err
	}
	var expiry *int64
	if o.Status == store.StatusPendingPayment && o.ExpiresAt != nil {
		ns := o.ExpiresAt.UnixNano()
		expiry = &ns
	}
	inDelivery := o.Status == store.StatusPaid || o.Status == store.StatusProcessing
	tag, err := t.exec(`UPDATE orders SET status = $2, order_type = $3, expiry_ns = $4, in_delivery = $5, rec = $6
		WHERE id = $1`, o.ID, o.Status, o.Type, expiry, inDelivery, data)
	if err != nil || tag.RowsAffected() > 0 {
		return err
	}
	tag, err = t.exec(`INSERT INTO orders (id, partner_id, status, order_type, memo, client_reference, expiry_ns, in_delivery, rec)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		o.ID, o.PartnerID, o.Status, o.Type, nullStr(o.PaymentMemo), nullStr(o.ClientReference), expiry, inDelivery, data)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("memo %s: %w", o.PaymentMemo, store.ErrExists)
	}
	return nil
}

func (t *tx) GetOrder(id int64) (*store.Order, error) {
	var o store.Order
	if err := t.getRec(&o, "SELECT rec FROM orders WHERE id = $1", id); err != nil {
		return nil, err
	}
	return &o, nil
}

func (t *tx) OrderByMemo(memo string) (*store.Order, error) {
	var o store.Order
	if err := t.getRec(&o, "SELECT rec FROM orders WHERE memo = $1", memo); err != nil {
		return nil, err
	}
	return &o, nil
}

func (t *tx) ListOrders(partnerID int64, q store.OrderQuery) ([]store.Order, error) {
	before := q.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	return listRecs[store.Order](t, `SELECT rec FROM orders
		WHERE partner_id = $1 AND id < $2 AND ($3 = '' OR status = $3) AND ($4 = '' OR order_type = $4)
		ORDER BY id DESC LIMIT $5`, partnerID, before, q.Status, q.Type, max(q.Limit, 0))
}

func (t *tx) OrdersByReference(partnerID int64, ref string, limit int) ([]store.Order, error) {
	return listRecs[store.Order](t, `SELECT rec FROM orders
		WHERE partner_id = $1 AND client_reference = $2 ORDER BY id LIMIT $3`, partnerID, ref, max(limit, 0))
}

func (t *tx) ForEachPartnerOrder(partnerID int64, fn func(*store.Order) bool) error {
	before := int64(1<<63 - 1)
	for {
		page, err := listRecs[store.Order](t, `SELECT rec FROM orders WHERE partner_id = $1 AND id < $2
			ORDER BY id DESC LIMIT $3`, partnerID, before, pageSize)
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			if !fn(&page[i]) {
				return nil
			}
			before = page[i].ID
		}
	}
}

func (t *tx) ForEachOrder(fn func(*store.Order) error) error {
	return forEach(t, "orders", func(o *store.Order) int64 { return o.ID }, fn)
}

// forEach walks a table keyed by bigint id in id order, a page at a time.
func forEach[T any](t *tx, table string, id func(*T) int64, fn func(*T) error) error {
	var after int64 = -1 << 63
	for {
		page, err := listRecs[T](t, "SELECT rec FROM "+table+" WHERE id > $1 ORDER BY id LIMIT $2", after, pageSize)
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
			after = id(&page[i])
		}
	}
}

func (t *tx) DueExpiries(now time.Time, limit int) ([]int64, error) {
	return t.ids(`SELECT id FROM orders WHERE expiry_ns IS NOT NULL AND expiry_ns <= $1
		ORDER BY expiry_ns, id LIMIT $2`, now.UnixNano(), max(limit, 0))
}

func (t *tx) DeliveryQueue(limit int) ([]int64, error) {
	return t.ids("SELECT id FROM orders WHERE in_delivery ORDER BY id LIMIT $1", max(limit, 0))
}

// --- ledger

// AppendLedger takes the id under the partner's ledger lock, held until
// commit: a partner's rows increase in id in commit order.
func (t *tx) AppendLedger(e *store.LedgerEntry) error {
	id, err := t.lockedNextval(lockLedger, e.PartnerID, "ledger_id_seq")
	if err != nil {
		return err
	}
	e.ID = id
	return t.putLedger(e)
}

func (t *tx) putLedger(e *store.LedgerEntry) error {
	data, err := enc(e)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO ledger (id, partner_id, rec) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET partner_id = EXCLUDED.partner_id, rec = EXCLUDED.rec`, e.ID, e.PartnerID, data)
	return err
}

func (t *tx) GetLedger(id int64) (*store.LedgerEntry, error) {
	var e store.LedgerEntry
	if err := t.getRec(&e, "SELECT rec FROM ledger WHERE id = $1", id); err != nil {
		return nil, err
	}
	return &e, nil
}

func (t *tx) ListLedger(partnerID, beforeID int64, limit int) ([]store.LedgerEntry, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	return listRecs[store.LedgerEntry](t, `SELECT rec FROM ledger WHERE partner_id = $1 AND id < $2
		ORDER BY id DESC LIMIT $3`, partnerID, beforeID, max(limit, 0))
}

func (t *tx) ForEachLedger(fn func(*store.LedgerEntry) error) error {
	return forEach(t, "ledger", func(e *store.LedgerEntry) int64 { return e.ID }, fn)
}

// --- chain

func (t *tx) GetSeen(hash string) (*store.SeenTx, error) {
	var s store.SeenTx
	if err := t.getRec(&s, "SELECT rec FROM seen_tx WHERE hash = $1", hash); err != nil {
		return nil, err
	}
	return &s, nil
}

func (t *tx) PutSeen(s *store.SeenTx) error {
	data, err := enc(s)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO seen_tx (hash, rec) VALUES ($1, $2)
		ON CONFLICT (hash) DO UPDATE SET rec = EXCLUDED.rec`, s.Hash, data)
	return err
}

func (t *tx) ForEachSeen(fn func(*store.SeenTx) error) error {
	after := ""
	for {
		page, err := listRecs[store.SeenTx](t, "SELECT rec FROM seen_tx WHERE hash > $1 ORDER BY hash LIMIT $2", after, pageSize)
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
			after = page[i].Hash
		}
	}
}

func (t *tx) PutUnmatched(u *store.Unmatched) error {
	if u.ID == 0 {
		id, err := t.nextval("unmatched_id_seq")
		if err != nil {
			return err
		}
		u.ID = id
	}
	data, err := enc(u)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO unmatched (id, rec) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET rec = EXCLUDED.rec`, u.ID, data)
	return err
}

func (t *tx) GetUnmatched(id int64) (*store.Unmatched, error) {
	var u store.Unmatched
	if err := t.getRec(&u, "SELECT rec FROM unmatched WHERE id = $1", id); err != nil {
		return nil, err
	}
	return &u, nil
}

func (t *tx) ListUnmatched(afterID int64, limit int) ([]store.Unmatched, error) {
	return listRecs[store.Unmatched](t, "SELECT rec FROM unmatched WHERE id > $1 ORDER BY id LIMIT $2", afterID, max(limit, 0))
}

// --- idempotency

func (t *tx) GetIdem(partnerID int64, key string) (*store.IdemRecord, error) {
	var r store.IdemRecord
	if err := t.getRec(&r, "SELECT rec FROM idempotency WHERE partner_id = $1 AND key = $2", partnerID, key); err != nil {
		return nil, err
	}
	return &r, nil
}

func (t *tx) PutIdem(r *store.IdemRecord) error {
	data, err := enc(r)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO idempotency (partner_id, key, created_ns, rec) VALUES ($1, $2, $3, $4)
		ON CONFLICT (partner_id, key) DO UPDATE SET created_ns = EXCLUDED.created_ns, rec = EXCLUDED.rec`,
		r.PartnerID, r.Key, r.CreatedAt.UnixNano(), data)
	return err
}

func (t *tx) DeleteIdemBefore(before time.Time, limit int) (int, error) {
	tag, err := t.exec(`DELETE FROM idempotency WHERE (partner_id, key) IN (
		SELECT partner_id, key FROM idempotency WHERE created_ns < $1
		ORDER BY created_ns, partner_id, key LIMIT $2)`, before.UnixNano(), max(limit, 0))
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// --- outbox

func (t *tx) AppendOutbox(it *store.OutboxItem) error {
	id, err := t.nextval("outbox_id_seq")
	if err != nil {
		return err
	}
	it.ID = id
	return t.PutOutbox(it)
}

func (t *tx) PutOutbox(it *store.OutboxItem) error {
	data, err := enc(it)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO outbox (channel, id, rec) VALUES ($1, $2, $3)
		ON CONFLICT (channel, id) DO UPDATE SET rec = EXCLUDED.rec`, it.Channel, it.ID, data)
	return err
}

func (t *tx) DeleteOutbox(channel string, id int64) error {
	_, err := t.exec("DELETE FROM outbox WHERE channel = $1 AND id = $2", channel, id)
	return err
}

func (t *tx) PendingOutbox(channel string, afterID int64, limit int) ([]store.OutboxItem, error) {
	return listRecs[store.OutboxItem](t, "SELECT rec FROM outbox WHERE channel = $1 AND id > $2 ORDER BY id LIMIT $3", channel, afterID, max(limit, 0))
}

// --- webhooks

func (t *tx) PutWebhook(w *store.Webhook) error {
	data, err := enc(w)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO webhooks (partner_id, rec) VALUES ($1, $2)
		ON CONFLICT (partner_id) DO UPDATE SET rec = EXCLUDED.rec`, w.PartnerID, data)
	return err
}

func (t *tx) GetWebhook(partnerID int64) (*store.Webhook, error) {
	var w store.Webhook
	if err := t.getRec(&w, "SELECT rec FROM webhooks WHERE partner_id = $1", partnerID); err != nil {
		return nil, err
	}
	return &w, nil
}

func (t *tx) DeleteWebhook(partnerID int64) error {
	tag, err := t.exec("DELETE FROM webhooks WHERE partner_id = $1", partnerID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// AppendWebhookDelivery takes the id under the partner's lock: a partner's
// deliveries increase in id in commit order.
func (t *tx) AppendWebhookDelivery(d *store.WebhookDelivery) error {
	id, err := t.lockedNextval(lockWhDeliver, d.PartnerID, "webhook_delivery_id_seq")
	if err != nil {
		return err
	}
	d.ID = id
	return t.putWebhookDelivery(d)
}

func (t *tx) putWebhookDelivery(d *store.WebhookDelivery) error {
	data, err := enc(d)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO webhook_deliveries (id, partner_id, rec) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET partner_id = EXCLUDED.partner_id, rec = EXCLUDED.rec`, d.ID, d.PartnerID, data)
	return err
}

func (t *tx) ListWebhookDeliveries(partnerID, beforeID int64, limit int) ([]store.WebhookDelivery, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	return listRecs[store.WebhookDelivery](t, `SELECT rec FROM webhook_deliveries WHERE partner_id = $1 AND id < $2
		ORDER BY id DESC LIMIT $3`, partnerID, beforeID, max(limit, 0))
}

// --- sandbox chain

// AppendSandboxTx takes the seq under a global lock held until commit: the
// listener streams with SandboxTxAfter(cursor), which must never skip a
// transaction committed after a higher seq.
func (t *tx) AppendSandboxTx(data []byte) (uint64, error) {
	seq, err := t.lockedNextval(lockSandbox, 0, "sandbox_seq")
	if err != nil {
		return 0, err
	}
	if data == nil {
		data = []byte{}
	}
	if _, err := t.exec("INSERT INTO sandbox_chain (seq, data) VALUES ($1, $2)", seq, data); err != nil {
		return 0, err
	}
	return uint64(seq), nil
}

func (t *tx) SandboxTxAfter(seq uint64, limit int) ([]store.SandboxTx, error) {
	if t.err != nil {
		return nil, fmt.Errorf("pg: transaction aborted by earlier error: %w", t.err)
	}
	rows, err := t.tx.Query(t.ctx, "SELECT seq, data FROM sandbox_chain WHERE seq > $1 ORDER BY seq LIMIT $2", int64(seq), max(limit, 0))
	if err != nil {
		return nil, t.fail(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SandboxTx, error) {
		var s store.SandboxTx
		var n int64
		err := r.Scan(&n, &s.Data)
		s.Seq = uint64(n)
		s.Data = bytes.Clone(s.Data)
		return s, err
	})
	if err != nil {
		return nil, t.fail(err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
