package store

import (
	"fmt"
	"time"

	json "github.com/segmentio/encoding/json"
	"github.com/theopenmoney/openmoney/domain"
)

// Webhooks: one record per partner; deliveries by id with a partner index.

func (t *boltTx) PutWebhook(w *domain.Webhook) error { return t.put(bWebhooks, i64(w.PartnerID), w) }

func (t *boltTx) GetWebhook(partnerID int64) (*domain.Webhook, error) {
	var w domain.Webhook
	if err := t.get(bWebhooks, i64(partnerID), &w); err != nil {
		return nil, err
	}
	return &w, nil
}

func (t *boltTx) DeleteWebhook(partnerID int64) error {
	b := t.tx.Bucket(bWebhooks)
	if b.Get(i64(partnerID)) == nil {
		return ErrNotFound
	}
	return b.Delete(i64(partnerID))
}

func (t *boltTx) AppendWebhookDelivery(d *domain.WebhookDelivery) error {
	id, err := t.seq(bWhDeliveries)
	if err != nil {
		return err
	}
	d.ID = id
	if err := t.tx.Bucket(bWhDelPartner).Put(cat(i64(d.PartnerID), i64(id)), nil); err != nil {
		return err
	}
	return t.put(bWhDeliveries, i64(id), d)
}

func (t *boltTx) ListWebhookDeliveries(partnerID, beforeID int64, limit int) ([]domain.WebhookDelivery, error) {
	var out []domain.WebhookDelivery
	err := t.walkNewest(bWhDelPartner, partnerID, beforeID, func(id []byte) (bool, error) {
		if len(out) >= limit {
			return false, nil
		}
		var d domain.WebhookDelivery
		if err := t.get(bWhDeliveries, id, &d); err != nil {
			return false, err
		}
		out = append(out, d)
		return len(out) < limit, nil
	})
	return out, err
}

// Delivery rows by id, and their pruning.

func (t *boltTx) GetWebhookDelivery(id int64) (*domain.WebhookDelivery, error) {
	var d domain.WebhookDelivery
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
		var d domain.WebhookDelivery
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
