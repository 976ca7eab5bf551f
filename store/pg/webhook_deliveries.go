package pg

import (
	"time"

	"github.com/theopenmoney/openmoney/store"
)

// Webhook delivery rows by id, and their pruning (the rest of the webhook
// records are in tx.go).

func (t *tx) GetWebhookDelivery(id int64) (*store.WebhookDelivery, error) {
	var d store.WebhookDelivery
	if err := t.getRec(&d, "SELECT rec FROM webhook_deliveries WHERE id = $1", id); err != nil {
		return nil, err
	}
	return &d, nil
}

// DeleteWebhookDeliveriesBefore reads the oldest rows by id (the primary
// key) and deletes the leading run older than before: ids grow with time,
// so no index on the time is needed.
func (t *tx) DeleteWebhookDeliveriesBefore(before time.Time, limit int) (int, error) {
	rows, err := listRecs[store.WebhookDelivery](t, "SELECT rec FROM webhook_deliveries ORDER BY id LIMIT $1", max(limit, 0))
	if err != nil {
		return 0, err
	}
	var ids []int64
	for _, d := range rows {
		if !d.At.Before(before) {
			break
		}
		ids = append(ids, d.ID)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	_, err = t.exec("DELETE FROM webhook_deliveries WHERE id = ANY($1)", ids)
	return len(ids), err
}
