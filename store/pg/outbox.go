package pg

import (
	"encoding/json"
	"fmt"

	"github.com/theopenmoney/openmoney/domain"
)

// Outbox: events waiting to be sent, per channel. The order or ledger
// snapshot an event carries stays opaque to the store: jsonb.
//
//	outbox (channel, id DEFAULT nextval('outbox_id_seq'), partner_id, type, order_snapshot jsonb,
//	        ledger_snapshot jsonb, created_at, attempts, next_attempt_at, last_error, event_id,
//	        redelivery_of, PRIMARY KEY (channel, id))

const outboxCols = `channel, id, partner_id, type, order_snapshot, ledger_snapshot, created_at, attempts,
	next_attempt_at, last_error, event_id, redelivery_of`

var outboxScan = rowScanner{"pg.outbox"}

func scanOutbox(r pgxRows, it *domain.OutboxItem) error {
	var ord, led []byte
	if err := outboxScan.scan(r, &it.Channel, &it.ID, &it.PartnerID, &it.Type, &ord, &led, &it.CreatedAt, &it.Attempts,
		&it.NextAttemptAt, &it.LastError, &it.EventID, &it.RedeliveryOf); err != nil {
		return err
	}
	var err error
	it.Order, it.Ledger, err = decodeSnapshots(ord, led)
	return err
}

// encodeSnapshots encodes the order and ledger row an event carries (nil:
// NULL).
func encodeSnapshots(o *domain.Order, e *domain.LedgerEntry) (ord, led []byte, err error) {
	if o != nil {
		if ord, err = json.Marshal(o); err != nil {
			return nil, nil, fmt.Errorf("pg: encode order snapshot: %w", err)
		}
	}
	if e != nil {
		if led, err = json.Marshal(e); err != nil {
			return nil, nil, fmt.Errorf("pg: encode ledger snapshot: %w", err)
		}
	}
	return ord, led, nil
}

func decodeSnapshots(ord, led []byte) (o *domain.Order, e *domain.LedgerEntry, err error) {
	if ord != nil {
		o = new(domain.Order)
		if err := json.Unmarshal(ord, o); err != nil {
			return nil, nil, fmt.Errorf("pg: order snapshot: %w", err)
		}
	}
	if led != nil {
		e = new(domain.LedgerEntry)
		if err := json.Unmarshal(led, e); err != nil {
			return nil, nil, fmt.Errorf("pg: ledger snapshot: %w", err)
		}
	}
	return o, e, nil
}

// AppendOutbox is held; the id the insert returns is written to it.ID when
// it runs (the next read or the commit).
func (t *tx) AppendOutbox(it *domain.OutboxItem) error {
	ord, led, err := encodeSnapshots(it.Order, it.Ledger)
	if err != nil {
		return err
	}
	return t.hold(&stmt{sql: `INSERT INTO outbox (channel, partner_id, type, order_snapshot, ledger_snapshot, created_at,
		attempts, next_attempt_at, last_error, event_id, redelivery_of) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING id`,
		args: []any{it.Channel, it.PartnerID, it.Type, ord, led, it.CreatedAt, it.Attempts, it.NextAttemptAt, text(it.LastError),
			it.EventID, it.RedeliveryOf},
		row: []any{&it.ID}})
}

func (t *tx) PutOutbox(it *domain.OutboxItem) error {
	ord, led, err := encodeSnapshots(it.Order, it.Ledger)
	if err != nil {
		return err
	}
	return t.later(`INSERT INTO outbox (`+outboxCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (channel, id) DO UPDATE SET partner_id = EXCLUDED.partner_id, type = EXCLUDED.type,
		order_snapshot = EXCLUDED.order_snapshot, ledger_snapshot = EXCLUDED.ledger_snapshot,
		created_at = EXCLUDED.created_at, attempts = EXCLUDED.attempts, next_attempt_at = EXCLUDED.next_attempt_at,
		last_error = EXCLUDED.last_error, event_id = EXCLUDED.event_id, redelivery_of = EXCLUDED.redelivery_of`,
		[]any{it.Channel, it.ID, it.PartnerID, it.Type, ord, led, it.CreatedAt, it.Attempts, it.NextAttemptAt, text(it.LastError),
			it.EventID, it.RedeliveryOf}, nil)
}

func (t *tx) DeleteOutbox(channel domain.Channel, id int64) error {
	return t.later("DELETE FROM outbox WHERE channel = $1 AND id = $2", []any{channel, id}, nil)
}

func (t *tx) PendingOutbox(channel domain.Channel, afterID int64, limit int) ([]domain.OutboxItem, error) {
	return list(t, "SELECT "+outboxCols+" FROM outbox WHERE channel = $1 AND id > $2 ORDER BY id LIMIT $3",
		[]any{channel, afterID, maxLimit(limit)}, scanOutbox)
}

func (t *tx) ForEachOutbox(fn func(*domain.OutboxItem) error) error {
	return walkByID(t, "SELECT "+outboxCols+" FROM outbox WHERE id > $1 ORDER BY id, channel LIMIT $2", scanOutbox,
		func(it *domain.OutboxItem) int64 { return it.ID }, fn)
}
