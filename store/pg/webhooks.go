package pg

import (
	"fmt"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Webhooks (one per partner) and their delivery log.
//
//	webhooks (partner_id PRIMARY KEY, url, events text[], secret, created_at, updated_at, failing_since,
//	          disabled_at, disabled_reason)
//	webhook_deliveries (id PRIMARY KEY, partner_id, event_id, …, order_snapshot jsonb, ledger_snapshot jsonb),
//	webhook_deliveries_by_partner (partner_id, id)

const webhookCols = "partner_id, url, events, secret, created_at, updated_at, failing_since, disabled_at, disabled_reason"

var webhookScan = rowScanner{"pg.webhook"}

func scanWebhook(r pgxRows, w *domain.Webhook) error {
	return webhookScan.scan(r, &w.PartnerID, &w.URL, &w.Events, &w.Secret, &w.CreatedAt, &w.UpdatedAt, &w.FailingSince,
		&w.DisabledAt, &w.DisabledReason)
}

func (t *tx) PutWebhook(w *domain.Webhook) error {
	events := w.Events
	if events == nil {
		events = []string{}
	}
	return t.later(`INSERT INTO webhooks (`+webhookCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (partner_id) DO UPDATE SET url = EXCLUDED.url, events = EXCLUDED.events, secret = EXCLUDED.secret,
		created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, failing_since = EXCLUDED.failing_since,
		disabled_at = EXCLUDED.disabled_at, disabled_reason = EXCLUDED.disabled_reason`,
		[]any{w.PartnerID, w.URL, events, w.Secret, w.CreatedAt, w.UpdatedAt, w.FailingSince, w.DisabledAt, w.DisabledReason}, nil)
}

func (t *tx) GetWebhook(partnerID int64) (*domain.Webhook, error) {
	return get(t, "SELECT "+webhookCols+" FROM webhooks WHERE partner_id = $1", []any{partnerID}, scanWebhook)
}

// DeleteWebhook runs at once: the caller answers 404 on ErrNotFound.
func (t *tx) DeleteWebhook(partnerID int64) error {
	tag, err := t.now("DELETE FROM webhooks WHERE partner_id = $1", partnerID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (t *tx) ForEachWebhook(fn func(*domain.Webhook) error) error {
	return walkByID(t, "SELECT "+webhookCols+" FROM webhooks WHERE partner_id > $1 ORDER BY partner_id LIMIT $2",
		scanWebhook, func(w *domain.Webhook) int64 { return w.PartnerID }, fn)
}

// --- deliveries

const deliveryCols = `id, partner_id, event_id, event_type, attempt, at, status_code, error, duration_ms, final,
	event_at, order_snapshot, ledger_snapshot, redelivery_of`

var deliveryScan = rowScanner{"pg.delivery"}

func scanDelivery(r pgxRows, d *domain.WebhookDelivery) error {
	var ord, led []byte
	if err := deliveryScan.scan(r, &d.ID, &d.PartnerID, &d.EventID, &d.EventType, &d.Attempt, &d.At, &d.StatusCode, &d.Error,
		&d.DurationMs, &d.Final, &d.EventAt, &ord, &led, &d.RedeliveryOf); err != nil {
		return err
	}
	var err error
	d.Order, d.Ledger, err = decodeSnapshots(ord, led)
	return err
}

// AppendWebhookDelivery takes the id at once (the caller sees d.ID).
func (t *tx) AppendWebhookDelivery(d *domain.WebhookDelivery) error {
	if err := t.one("SELECT nextval('webhook_delivery_id_seq')", nil, &d.ID); err != nil {
		return err
	}
	return t.RestoreWebhookDelivery(d)
}

// RestoreWebhookDelivery stores d under its own id.
func (t *tx) RestoreWebhookDelivery(d *domain.WebhookDelivery) error {
	if d.ID <= 0 {
		return fmt.Errorf("pg: webhook delivery without id")
	}
	ord, led, err := encodeSnapshots(d.Order, d.Ledger)
	if err != nil {
		return err
	}
	return t.later(`INSERT INTO webhook_deliveries (`+deliveryCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		[]any{d.ID, d.PartnerID, d.EventID, d.EventType, d.Attempt, d.At, d.StatusCode, text(d.Error), d.DurationMs, d.Final,
			d.EventAt, ord, led, d.RedeliveryOf}, nil)
}

func (t *tx) GetWebhookDelivery(id int64) (*domain.WebhookDelivery, error) {
	return get(t, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE id = $1", []any{id}, scanDelivery)
}

// DeleteWebhookDeliveriesBefore deletes the leading run, by id, of rows
// older than before: ids grow with time, so no index on the time is needed.
func (t *tx) DeleteWebhookDeliveriesBefore(before time.Time, limit int) (int, error) {
	tag, err := t.now(`DELETE FROM webhook_deliveries WHERE id IN (
		SELECT id FROM (
			SELECT id, bool_and(at < $1) OVER (ORDER BY id) AS leading_old
			FROM (SELECT id, at FROM webhook_deliveries ORDER BY id LIMIT $2) first
		) w WHERE leading_old)`, before, maxLimit(limit))
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) ListWebhookDeliveries(partnerID, before int64, limit int) ([]domain.WebhookDelivery, error) {
	return list(t, "SELECT "+deliveryCols+` FROM webhook_deliveries WHERE partner_id = $1 AND id < $2
		ORDER BY id DESC LIMIT $3`, []any{partnerID, beforeID(before), maxLimit(limit)}, scanDelivery)
}

func (t *tx) ForEachWebhookDelivery(fn func(*domain.WebhookDelivery) error) error {
	return walkByID(t, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE id > $1 ORDER BY id LIMIT $2",
		scanDelivery, func(d *domain.WebhookDelivery) int64 { return d.ID }, fn)
}
