// Package store persists The Open Money's records. It holds no business rules:
// shop decides, store keeps records and their indexes consistent, one
// transaction per state change. Tx is the storage contract every backend
// implements (bbolt here; others behind the same interface).
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("store: not found")

// ErrExists is returned when a unique key (memo, key hash) is already taken.
var ErrExists = errors.New("store: already exists")

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("store: locked by another process")

// Store is a transactional record store.
type Store interface {
	// Update runs fn in one read-write transaction, committed (durably) before
	// Update returns nil. fn may run more than once (batched commits retry a
	// failed member alone), so it must not have side effects outside tx.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is one transaction. Methods that write return an error only for storage
// failures (or ErrExists on a unique clash); ErrNotFound for missing records.
type Tx interface {
	// Meta: small named values (seeds, chain cursors, counters).
	GetMeta(key string) ([]byte, error)
	PutMeta(key string, val []byte) error

	NextPartnerID() (int64, error)
	// PutPartner writes a partner and its indexes (telegram user, top-up address).
	PutPartner(p *Partner) error
	GetPartner(id int64) (*Partner, error)
	PartnerByTelegram(userID int64) (*Partner, error)
	PartnerByTopupAddress(raw string) (*Partner, error)
	// ListPartners returns partners with id > afterID, ascending.
	ListPartners(afterID int64, limit int) ([]Partner, error)

	// PutAPIKey writes a key record (ErrExists if a new hash clashes).
	PutAPIKey(k *APIKey, isNew bool) error
	GetAPIKey(hash string) (*APIKey, error)

	NextOrderID() (int64, error)
	// PutOrder writes an order and keeps its indexes (memo, partner, reference,
	// expiry queue for pending_payment, delivery queue for paid/processing).
	PutOrder(o *Order) error
	GetOrder(id int64) (*Order, error)
	OrderByMemo(memo string) (*Order, error)
	ListOrders(partnerID int64, q OrderQuery) ([]Order, error)
	OrdersByReference(partnerID int64, ref string, limit int) ([]Order, error)
	// ForEachPartnerOrder walks a partner's orders newest first until fn returns false.
	ForEachPartnerOrder(partnerID int64, fn func(*Order) bool) error
	ForEachOrder(fn func(*Order) error) error
	// DueExpiries returns ids of pending_payment orders with expires_at <= now.
	DueExpiries(now time.Time, limit int) ([]int64, error)
	// DeliveryQueue returns ids of paid/processing orders, oldest first.
	DeliveryQueue(limit int) ([]int64, error)

	// AppendLedger assigns e.ID and stores the row.
	AppendLedger(e *LedgerEntry) error
	GetLedger(id int64) (*LedgerEntry, error)
	// ListLedger returns a partner's rows with id < beforeID (0 = newest), newest first.
	ListLedger(partnerID int64, beforeID int64, limit int) ([]LedgerEntry, error)
	ForEachLedger(fn func(*LedgerEntry) error) error

	GetSeen(hash string) (*SeenTx, error)
	PutSeen(s *SeenTx) error
	ForEachSeen(fn func(*SeenTx) error) error
	// PutUnmatched assigns u.ID when zero and stores the deposit.
	PutUnmatched(u *Unmatched) error
	GetUnmatched(id int64) (*Unmatched, error)
	ListUnmatched(afterID int64, limit int) ([]Unmatched, error)

	GetIdem(partnerID int64, key string) (*IdemRecord, error)
	PutIdem(r *IdemRecord) error
	// DeleteIdemBefore removes up to limit records created before t.
	DeleteIdemBefore(t time.Time, limit int) (int, error)

	// AppendOutbox assigns it.ID and queues the item on its channel.
	AppendOutbox(it *OutboxItem) error
	PutOutbox(it *OutboxItem) error
	DeleteOutbox(channel string, id int64) error
	// PendingOutbox returns items of a channel with id > afterID, in id order.
	PendingOutbox(channel string, afterID int64, limit int) ([]OutboxItem, error)

	// PutWebhook creates or replaces the partner's webhook (one per partner,
	// keyed by w.PartnerID).
	PutWebhook(w *Webhook) error
	// GetWebhook returns the partner's webhook, ErrNotFound when none.
	GetWebhook(partnerID int64) (*Webhook, error)
	// DeleteWebhook removes the partner's webhook; ErrNotFound when none.
	// Its delivery history is kept.
	DeleteWebhook(partnerID int64) error
	// AppendWebhookDelivery assigns d.ID (increasing across all partners) and
	// stores the attempt.
	AppendWebhookDelivery(d *WebhookDelivery) error
	// ListWebhookDeliveries returns a partner's attempts with id < beforeID
	// (0 = newest), newest first.
	ListWebhookDeliveries(partnerID int64, beforeID int64, limit int) ([]WebhookDelivery, error)
	// GetWebhookDelivery returns one attempt by id; ErrNotFound when none.
	GetWebhookDelivery(id int64) (*WebhookDelivery, error)
	// DeleteWebhookDeliveriesBefore removes up to limit attempts whose At is
	// before t, lowest ids first, stopping at the first one that is not
	// (ids grow with time); it returns how many it removed.
	DeleteWebhookDeliveriesBefore(t time.Time, limit int) (int, error)

	// PutParked assigns p.ID when zero and stores the parked transfer; the
	// open index follows p.ResolvedAt.
	PutParked(p *Parked) error
	GetParked(id int64) (*Parked, error)
	// ListParked returns parked transfers with id > afterID, ascending; with
	// openOnly, only those not resolved yet.
	ListParked(afterID int64, limit int, openOnly bool) ([]Parked, error)
	// AppendAudit assigns a.ID (increasing in commit order) and stores the row.
	AppendAudit(a *AuditEntry) error
	// ListAudit returns audit rows with id > afterID, ascending.
	ListAudit(afterID int64, limit int) ([]AuditEntry, error)

	// PutPayerBatch assigns b.ID when zero and stores the batch; the open
	// index follows b.SettledAt.
	PutPayerBatch(b *PayerBatch) error
	GetPayerBatch(id int64) (*PayerBatch, error)
	// ListPayerBatches returns batches with id > afterID, ascending; with
	// openOnly, only those not settled yet.
	ListPayerBatches(afterID int64, limit int, openOnly bool) ([]PayerBatch, error)
	// PutPayerMessage stores a batch's message under (BatchID, Index) and
	// indexes it by order.
	PutPayerMessage(m *PayerMessage) error
	// PayerMessages returns a batch's messages by index.
	PayerMessages(batchID int64) ([]PayerMessage, error)
	// OrderPayerMessages returns an order's messages, oldest batch first.
	OrderPayerMessages(orderID int64) ([]PayerMessage, error)

	// AppendSandboxTx stores a simulated chain transaction and returns its sequence.
	AppendSandboxTx(data []byte) (uint64, error)
	SandboxTxAfter(seq uint64, limit int) ([]SandboxTx, error)
}
