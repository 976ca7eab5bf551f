package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/theopenmoney/openmoney/domain"
)

// Dumper and Restorer for bbolt (see Copy).
var (
	_ Dumper   = (*boltTx)(nil)
	_ Restorer = (*boltTx)(nil)
)

func boltForEach[T any](t *boltTx, bucket []byte, fn func(*T) error) error {
	b := t.b(bucket)
	if b == nil {
		return nil
	}
	return b.ForEach(func(_, v []byte) error {
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("store: decode %s: %w", bucket, err)
		}
		return fn(&rec)
	})
}

func (t *boltTx) ForEachMeta(fn func(key string, val []byte) error) error {
	b := t.b(bMeta)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), bytes.Clone(v)) })
}

func (t *boltTx) ForEachAPIKey(fn func(*domain.APIKey) error) error { return boltForEach(t, bKeys, fn) }

func (t *boltTx) ForEachIdem(fn func(*domain.IdemRecord) error) error {
	return boltForEach(t, bIdem, fn)
}

func (t *boltTx) ForEachOutbox(fn func(*domain.OutboxItem) error) error {
	return boltForEach(t, bOutbox, fn)
}

func (t *boltTx) ForEachWebhook(fn func(*domain.Webhook) error) error {
	return boltForEach(t, bWebhooks, fn)
}

func (t *boltTx) ForEachWebhookDelivery(fn func(*domain.WebhookDelivery) error) error {
	return boltForEach(t, bWhDeliveries, fn)
}

func (t *boltTx) RestorePartner(p *domain.Partner) error { return t.putPartner(p) }

func (t *boltTx) RestoreLedger(e *domain.LedgerEntry) error {
	if err := t.tx.Bucket(bLedgerPartner).Put(cat(i64(e.PartnerID), i64(e.ID)), nil); err != nil {
		return err
	}
	return t.put(bLedger, i64(e.ID), e)
}

func (t *boltTx) RestoreWebhookDelivery(d *domain.WebhookDelivery) error {
	if err := t.tx.Bucket(bWhDelPartner).Put(cat(i64(d.PartnerID), i64(d.ID)), nil); err != nil {
		return err
	}
	return t.put(bWhDeliveries, i64(d.ID), d)
}

func (t *boltTx) RestoreSandboxTx(seq uint64, data []byte) error {
	return t.tx.Bucket(bSandbox).Put(u64(seq), data)
}

// BumpSequences sets each id bucket's sequence to at least its largest id.
func (t *boltTx) BumpSequences() error {
	for _, name := range [][]byte{bPartners, bOrders, bLedger, bUnmatched, bSandbox, bWhDeliveries, bParked, bAudit, bPayerBatches} {
		b := t.tx.Bucket(name)
		if k, _ := b.Cursor().Last(); len(k) == 8 {
			if last := binary.BigEndian.Uint64(k); last > b.Sequence() {
				if err := b.SetSequence(last); err != nil {
					return err
				}
			}
		}
	}
	// Outbox keys are channel 0x00 id: scan for the largest id.
	b := t.tx.Bucket(bOutbox)
	var maxID uint64
	if err := b.ForEach(func(k, _ []byte) error {
		if len(k) >= 8 {
			maxID = max(maxID, binary.BigEndian.Uint64(k[len(k)-8:]))
		}
		return nil
	}); err != nil {
		return err
	}
	if maxID > b.Sequence() {
		return b.SetSequence(maxID)
	}
	return nil
}
