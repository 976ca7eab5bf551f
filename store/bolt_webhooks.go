package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Webhook delivery rows by id, and their pruning (the rest of the webhook
// records are in bolt.go).

func (t *boltTx) GetWebhookDelivery(id int64) (*WebhookDelivery, error) {
	var d WebhookDelivery
	if err := t.get(bWhDeliveries, i64(id), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (t *boltTx) DeleteWebhookDeliveriesBefore(before time.Time, limit int) (int, error) {
	b := t.tx.Bucket(bWhDeliveries)
	idx := t.tx.Bucket(bWhDelPartner)
	type row struct {
		id, partner int64
	}
	var dead []row
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(dead) < limit; k, v = c.Next() {
		var d WebhookDelivery
		if err := json.Unmarshal(v, &d); err != nil {
			return 0, fmt.Errorf("store: decode %s: %w", bWhDeliveries, err)
		}
		if !d.At.Before(before) {
			break
		}
		dead = append(dead, row{d.ID, d.PartnerID})
	}
	for _, r := range dead {
		if err := b.Delete(i64(r.id)); err != nil {
			return 0, err
		}
		if err := idx.Delete(cat(i64(r.partner), i64(r.id))); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}
