// Package store persists The Open Money's records. It holds no business rules:
// shop decides, store keeps records and their indexes consistent, one
// transaction per state change. Tx is the storage contract every backend
// implements (bbolt here; others behind the same interface).
package store

import (
	"context"
	"errors"
	"time"

	"github.com/theopenmoney/openmoney/domain"
)

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("store: not found")

// ErrExists is returned when a unique key (order id, key hash, tx hash,
// idempotency key) is already taken.
var ErrExists = errors.New("store: already exists")

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("store: locked by another process")

// ErrOverdraw is returned by AppendLedger when the row would take the
// partner's balance below zero; nothing is written.
var ErrOverdraw = errors.New("store: balance would go below zero")

// ErrSettled is returned by PutPayerBatch and PutPayerMessage for a record
// already settled (a batch with SettledAt, a message with an Outcome): a
// settlement is final, so a second writer (another instance, a stale view)
// never overwrites it; nothing is written and the caller reads it again.
var ErrSettled = errors.New("store: payer record already settled")

// Store is a transactional record store. Its four kinds of transaction differ
// in what they promise about fn's reads; every write is atomic and, for
// Update and Create, durable when the call returns nil.
type Store interface {
	// Update runs fn in one read-write transaction that is serializable:
	// it commits only if what fn read is still true at the commit, so fn may
	// base a write on any read (a rule that spans rows: applying a payment,
	// a refund, an assignment). fn may run more than once (a serialization
	// failure, or a batched commit retrying a failed member alone), so it
	// must not have side effects outside tx.
	Update(ctx context.Context, fn func(Tx) error) error
	// Write runs fn in a read-write transaction that locks instead of
	// re-checking: an order or unmatched deposit fn reads by key (GetOrder,
	// GetUnmatched) stays locked until the commit, so a change
	// fn bases on it stands; a balance changes only through AppendLedger's
	// conditional update (ErrOverdraw); a record fn found absent is not
	// locked, so fn creates it with an insert that its unique key refuses
	// (CreateOrder, CreateIdem, CreateSeen: ErrExists, from the call or
	// from Write itself, since a store may send writes with the commit).
	// Anything else fn reads may change before the commit. Concurrent
	// transactions wait for each other rather than fail; fn may run more
	// than once (a deadlock is retried).
	Write(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only snapshot: every read sees the same
	// committed state.
	View(ctx context.Context, fn func(Tx) error) error
	// Read runs fn read-only without a snapshot: each read sees the latest
	// committed state, so two reads may see different commits. For lookups
	// (one read, or reads that need not agree); a store may then skip the
	// transaction's own round trips.
	Read(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is one transaction: the record kinds, each behind its own interface.
// Methods that write return an error only for storage failures, ErrExists
// on a unique clash, ErrOverdraw from AppendLedger; ErrNotFound for missing
// records. A store may defer a write whose result the method does not
// return until the transaction's next read or its commit, so a failed write
// may be reported there instead (the transaction is then aborted).
type Tx interface {
	MetaTx
	PartnerTx
	OrderTx
	LedgerTx
	ChainTx
	IdemTx
	OutboxTx
	WebhookTx
	ParkedTx
	AuditTx
	PayerTx
}

// MetaTx: small named values (seeds, chain cursors, keys).
type MetaTx interface {
	GetMeta(key string) ([]byte, error)
	PutMeta(key string, val []byte) error
}

// PartnerTx: partners and their API keys.
type PartnerTx interface {
	NextPartnerID() (int64, error)
	// PutPartner creates or rewrites a partner and its indexes (telegram
	// user, top-up address: each unique). It never writes BalanceNano or
	// LedgerCount, which only AppendLedger changes (a new partner starts at
	// zero).
	PutPartner(p *domain.Partner) error
	GetPartner(id int64) (*domain.Partner, error)
	PartnerByTelegram(userID int64) (*domain.Partner, error)
	PartnerByTopupAddress(raw string) (*domain.Partner, error)
	// ListPartners returns partners with id > afterID, ascending.
	ListPartners(afterID int64, limit int) ([]domain.Partner, error)

	// PutAPIKey writes a key record. With isNew a hash already stored is
	// ErrExists, reported by the call without aborting the transaction.
	PutAPIKey(k *domain.APIKey, isNew bool) error
	GetAPIKey(hash string) (*domain.APIKey, error)
}

// OrderTx: orders and their indexes (partner, reference, expiry
// queue for pending_payment, delivery queue for paid/processing).
type OrderTx interface {
	// NextOrderID returns a new order id. Ids increase in the order they
	// are taken, not necessarily in commit order, and a rolled-back
	// transaction leaves a gap.
	NextOrderID() (int64, error)
	// CreateOrder inserts a new order (o.ID from NextOrderID); ErrExists when
	// the id is taken. The memo is not indexed: it is a function of the id.
	CreateOrder(o *domain.Order) error
	// PutOrder rewrites an existing order; the partner and reference
	// indexes stay as created, the queues follow its status.
	PutOrder(o *domain.Order) error
	GetOrder(id int64) (*domain.Order, error)
	// ListOrders returns a page of a partner's orders, newest (highest id)
	// first.
	ListOrders(partnerID int64, q OrderQuery) ([]domain.Order, error)
	// OrdersByReference returns a page of a partner's orders carrying
	// client_reference ref exactly, with id < beforeID (0 = the newest),
	// newest first.
	OrdersByReference(partnerID int64, ref string, beforeID int64, limit int) ([]domain.Order, error)
	// ForEachPartnerOrder walks a partner's orders newest first until fn returns false.
	ForEachPartnerOrder(partnerID int64, fn func(*domain.Order) bool) error
	ForEachOrder(fn func(*domain.Order) error) error
	// DueExpiries returns ids of pending_payment orders with expires_at <= now,
	// soonest first.
	DueExpiries(now time.Time, limit int) ([]int64, error)
	// DeliveryQueue returns ids of paid/processing orders with id >
	// afterID, ascending (a page of the operators' list; afterID 0 = from
	// the oldest).
	DeliveryQueue(afterID int64, limit int) ([]int64, error)
	// DueDeliveries returns ids of paid/processing orders whose next
	// delivery attempt is due by now (Order.DeliveryDueAt <= now), the
	// longest due first (ties by id), at most limit. Orders not due yet
	// are not read: the queue is kept ordered by due time, moved in the
	// transaction of every write that changes it.
	DueDeliveries(now time.Time, limit int) ([]int64, error)
}

// LedgerTx: the append-only balance movements.
type LedgerTx interface {
	// AppendLedger stores a movement of e.AmountNano (signed) on partner
	// e.PartnerID's balance: it assigns e.ID, adds the amount to the
	// partner's BalanceNano and one to its LedgerCount, and sets
	// e.BalanceAfterNano, all at once. ErrOverdraw (nothing written) when the
	// balance would go below zero, ErrNotFound when there is no such
	// partner. A partner's rows get increasing ids in commit order.
	AppendLedger(e *domain.LedgerEntry) error
	GetLedger(id int64) (*domain.LedgerEntry, error)
	// ListLedger returns a partner's rows with id < beforeID (0 = newest), newest first.
	ListLedger(partnerID int64, beforeID int64, limit int) ([]domain.LedgerEntry, error)
	ForEachLedger(fn func(*domain.LedgerEntry) error) error
}

// ChainTx: what the chain listener keeps: processed transfers, unmatched
// deposits and the sandbox chain.
type ChainTx interface {
	GetSeen(hash string) (*domain.SeenTx, error)
	// CreateSeen inserts s; ErrExists when the hash is recorded already.
	CreateSeen(s *domain.SeenTx) error
	// PutSeen creates or rewrites the record of s.Hash.
	PutSeen(s *domain.SeenTx) error
	ForEachSeen(fn func(*domain.SeenTx) error) error
	// PutUnmatched assigns u.ID when zero and stores the deposit.
	PutUnmatched(u *domain.Unmatched) error
	GetUnmatched(id int64) (*domain.Unmatched, error)
	ListUnmatched(afterID int64, limit int) ([]domain.Unmatched, error)

	// AppendSandboxTx stores a simulated chain transaction and returns its
	// sequence. Sequences increase in commit order, so a reader following
	// SandboxTxAfter(cursor) never skips one.
	AppendSandboxTx(data []byte) (uint64, error)
	SandboxTxAfter(seq uint64, limit int) ([]domain.SandboxTx, error)
}

// IdemTx: stored outcomes of requests carrying an Idempotency-Key.
type IdemTx interface {
	GetIdem(partnerID int64, key string) (*domain.IdemRecord, error)
	// PutIdem creates or replaces the record of (r.PartnerID, r.Key).
	PutIdem(r *domain.IdemRecord) error
	// CreateIdem inserts r; ErrExists when a record of (r.PartnerID, r.Key)
	// exists, however old (DeleteIdem removes one past its time).
	CreateIdem(r *domain.IdemRecord) error
	// DeleteIdem removes the record of (partnerID, key) if it was created
	// before t, and reports whether it did.
	DeleteIdem(partnerID int64, key string, t time.Time) (bool, error)
	// DeleteIdemBefore removes up to limit records created before t.
	DeleteIdemBefore(t time.Time, limit int) (int, error)
}

// OutboxTx: events waiting to be sent, per channel.
type OutboxTx interface {
	// AppendOutbox queues it on its channel and assigns it.ID (by the
	// transaction's commit at the latest: ids increase per channel).
	AppendOutbox(it *domain.OutboxItem) error
	PutOutbox(it *domain.OutboxItem) error
	DeleteOutbox(channel domain.Channel, id int64) error
	// PendingOutbox returns items of a channel with id > afterID, in id order.
	PendingOutbox(channel domain.Channel, afterID int64, limit int) ([]domain.OutboxItem, error)
}

// WebhookTx: partners' webhooks and their delivery log.
type WebhookTx interface {
	// PutWebhook creates or replaces the partner's webhook (one per partner,
	// keyed by w.PartnerID).
	PutWebhook(w *domain.Webhook) error
	// GetWebhook returns the partner's webhook, ErrNotFound when none.
	GetWebhook(partnerID int64) (*domain.Webhook, error)
	// DeleteWebhook removes the partner's webhook; ErrNotFound when none.
	// Its delivery history is kept.
	DeleteWebhook(partnerID int64) error
	// AppendWebhookDelivery assigns d.ID (increasing across all partners) and
	// stores the attempt.
	AppendWebhookDelivery(d *domain.WebhookDelivery) error
	// ListWebhookDeliveries returns a partner's attempts with id < beforeID
	// (0 = newest), newest first.
	ListWebhookDeliveries(partnerID int64, beforeID int64, limit int) ([]domain.WebhookDelivery, error)
	// GetWebhookDelivery returns one attempt by id; ErrNotFound when none.
	GetWebhookDelivery(id int64) (*domain.WebhookDelivery, error)
	// DeleteWebhookDeliveriesBefore removes up to limit attempts whose At is
	// before t, lowest ids first, stopping at the first one that is not
	// (ids grow with time); it returns how many it removed.
	DeleteWebhookDeliveriesBefore(t time.Time, limit int) (int, error)
}

// ParkedTx: chain transfers whose processing failed, kept for the operator.
type ParkedTx interface {
	// PutParked assigns p.ID when zero and stores the parked transfer; the
	// open index follows p.ResolvedAt.
	PutParked(p *domain.Parked) error
	GetParked(id int64) (*domain.Parked, error)
	// ListParked returns parked transfers with id > afterID, ascending; with
	// openOnly, only those not resolved yet.
	ListParked(afterID int64, limit int, openOnly bool) ([]domain.Parked, error)
}

// PayerTx: the Fragment payer's batches (one signed external message of the
// service wallet carrying several payments) and each order's message in
// them.
type PayerTx interface {
	// PutPayerBatch assigns b.ID when zero and stores the batch; the open
	// index follows b.SettledAt. A stored batch already settled is not
	// changed: ErrSettled (maybe from the commit).
	PutPayerBatch(b *domain.PayerBatch) error
	GetPayerBatch(id int64) (*domain.PayerBatch, error)
	// ListPayerBatches returns batches with id > afterID, ascending; with
	// openOnly, only those not settled yet.
	ListPayerBatches(afterID int64, limit int, openOnly bool) ([]domain.PayerBatch, error)
	// LastPayerBatch returns the newest batch (highest id) of wallet (a raw
	// address), or ErrNotFound.
	LastPayerBatch(wallet string) (*domain.PayerBatch, error)
	// PutPayerMessage stores a batch's message under (BatchID, Index) and
	// indexes it by order. A stored message whose Outcome is set is not
	// changed: ErrSettled (maybe from the commit), so an outcome is written
	// only over a pending payment.
	PutPayerMessage(m *domain.PayerMessage) error
	// PayerMessages returns a batch's messages by index.
	PayerMessages(batchID int64) ([]domain.PayerMessage, error)
	// OrderPayerMessages returns an order's messages, oldest batch first.
	OrderPayerMessages(orderID int64) ([]domain.PayerMessage, error)
}

// AuditTx: the operators' audit log.
type AuditTx interface {
	// AppendAudit assigns a.ID (increasing in commit order) and stores the row.
	AppendAudit(a *domain.AuditEntry) error
	// ListAudit returns audit rows with id > afterID, ascending.
	ListAudit(afterID int64, limit int) ([]domain.AuditEntry, error)
}
