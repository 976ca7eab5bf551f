package pg

import (
	"fmt"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Orders. Every field is a column; the indexes are the store's own
// derived ones, kept by PostgreSQL as the status changes:
//
//	orders_by_partner      (partner_id, id)                      ListOrders, paging
//	orders_by_reference    (partner_id, client_reference, id) WHERE client_reference IS NOT NULL
//	orders_expiry_queue    (expires_at, id) WHERE status = 'pending_payment'
//	orders_delivery_queue  (id) WHERE status IN ('paid', 'processing')
//	orders_delivery_due    (COALESCE(next_delivery_at, paid_at, created_at), id) WHERE status IN ('paid', 'processing')
//
// orders_delivery_due's expression is domain.Order.DeliveryDueAt; the
// queries below repeat it exactly, so the planner uses the index.
//
// A memo is a function of the id (the shop's memo cipher), unique by
// construction and found through the id, so it is not indexed (as in bbolt).

const orderCols = `id, partner_id, status, order_type, stars_amount, premium_months, recipient_username,
	price_nano, price_usd, ton_usd, fee_percent, payment_method, payment_currency, payment_address,
	payment_memo, expires_at, created_at, paid_at, completed_at, received_nano,
	client_reference, failure_reason, payment_tx_hashes, delivery_attempts, delivery_ref, delivery_state,
	next_delivery_at, refunded_at, refund_ledger_id, idempotency_key, delivery_tx_hash, delivery_request_id,
	price_usdt, received_usdt, usdt_usd, usdt_master, return_url`

func orderArgs(o *domain.Order) []any {
	hashes := o.PaymentTxHashes
	if hashes == nil {
		hashes = []string{}
	}
	return []any{o.ID, o.PartnerID, o.Status, o.Type, o.StarsAmount, o.PremiumMonths, o.RecipientUsername,
		o.PriceNano, o.PriceUSD, o.TonUSD, o.FeePercent, o.PaymentMethod, o.PaymentCurrency, o.PaymentAddress,
		nullStr(o.PaymentMemo), o.ExpiresAt, o.CreatedAt, o.PaidAt, o.CompletedAt, o.ReceivedNano,
		nullStr(o.ClientReference), text(o.FailureReason), hashes, o.DeliveryAttempts, o.DeliveryRef, text(o.DeliveryState),
		o.NextDeliveryAt, o.RefundedAt, o.RefundLedgerID, o.IdempotencyKey, o.DeliveryTxHash, o.DeliveryRequestID,
		o.PriceUSDT, o.ReceivedUSDT, o.UsdtUSD, o.USDTMaster, nullStr(o.ReturnURL)}
}

func updateOrderArgs(o *domain.Order) []any {
	a := orderArgs(o)
	// orderArgs without partner_id (1), payment_memo (14),
	// client_reference (20) and return_url (the last), counted from 0.
	return append(append(append([]any{a[0]}, a[2:14]...), a[15:20]...), a[21:len(a)-1]...)
}

// orderScan scans orderCols.
var orderScan = rowScanner{"pg.order"}

func scanOrder(r pgxRows, o *domain.Order) error {
	// The named string types are scanned as strings (pgx converts into
	// them by reflection, on every row), all into one scratch value.
	var x struct {
		memo, ref, ret                 *string
		status, kind, method, currency string
	}
	err := orderScan.scan(r, &o.ID, &o.PartnerID, &x.status, &x.kind, &o.StarsAmount, &o.PremiumMonths, &o.RecipientUsername,
		&o.PriceNano, &o.PriceUSD, &o.TonUSD, &o.FeePercent, &x.method, &x.currency, &o.PaymentAddress,
		&x.memo, &o.ExpiresAt, &o.CreatedAt, &o.PaidAt, &o.CompletedAt, &o.ReceivedNano,
		&x.ref, &o.FailureReason, &o.PaymentTxHashes, &o.DeliveryAttempts, &o.DeliveryRef, &o.DeliveryState,
		&o.NextDeliveryAt, &o.RefundedAt, &o.RefundLedgerID, &o.IdempotencyKey, &o.DeliveryTxHash, &o.DeliveryRequestID,
		&o.PriceUSDT, &o.ReceivedUSDT, &o.UsdtUSD, &o.USDTMaster, &x.ret)
	o.Status, o.Type, o.PaymentMethod, o.PaymentCurrency = domain.Status(x.status), domain.Kind(x.kind), domain.Method(x.method), domain.Currency(x.currency)
	o.PaymentMemo, o.ClientReference, o.ReturnURL = strOf(x.memo), strOf(x.ref), strOf(x.ret)
	if len(o.PaymentTxHashes) == 0 {
		o.PaymentTxHashes = nil
	}
	return err
}

var (
	insertOrderSQL = "INSERT INTO orders (" + orderCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
		$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32,
		$33, $34, $35, $36, $37)`
	// The memo, the partner and the reference stay as created (their
	// indexes), and so does the return URL; updateOrderArgs gives the other columns in this order.
	updateOrderSQL = `UPDATE orders SET status = $2, order_type = $3, stars_amount = $4, premium_months = $5,
		recipient_username = $6, price_nano = $7, price_usd = $8, ton_usd = $9, fee_percent = $10,
		payment_method = $11, payment_currency = $12, payment_address = $13, expires_at = $14, created_at = $15,
		paid_at = $16, completed_at = $17, received_nano = $18, failure_reason = $19, payment_tx_hashes = $20,
		delivery_attempts = $21, delivery_ref = $22, delivery_state = $23, next_delivery_at = $24,
		refunded_at = $25, refund_ledger_id = $26, idempotency_key = $27, delivery_tx_hash = $28,
		delivery_request_id = $29, price_usdt = $30, received_usdt = $31, usdt_usd = $32, usdt_master = $33
		WHERE id = $1`
	dueExpiriesSQL = fmt.Sprintf(`SELECT id FROM orders WHERE status = '%s' AND expires_at <= $1
		ORDER BY expires_at, id LIMIT $2`, domain.StatusPendingPayment)
	deliveryQueueSQL = fmt.Sprintf(`SELECT id FROM orders WHERE status IN ('%s', '%s') AND id > $1 ORDER BY id LIMIT $2`,
		domain.StatusPaid, domain.StatusProcessing)
	dueDeliveriesSQL = fmt.Sprintf(`SELECT id FROM orders WHERE status IN ('%s', '%s')
		AND COALESCE(next_delivery_at, paid_at, created_at) <= $1
		ORDER BY COALESCE(next_delivery_at, paid_at, created_at), id LIMIT $2`,
		domain.StatusPaid, domain.StatusProcessing)
)

// NextOrderID takes the next value of order_id_seq. No lock: ids are not in
// commit order, and the newest-first paging rule does not need them to be
// (docs/SCALING.md). Under load the value comes from idCache, taken by an
// earlier order's commit at most idFresh ago, which saves the round trip.
func (t *tx) NextOrderID() (int64, error) {
	t.tookID = true
	if id, ok := t.ids.take(); ok {
		return id, nil
	}
	var id int64
	err := t.one("SELECT nextval('order_id_seq')", nil, &id)
	return id, err
}

// idFresh is how old a prefetched order id may be: ids follow creation time
// to within this, as they follow it to within a commit's duration anyway.
const idFresh = 100 * time.Millisecond

// idCache holds order ids taken from the sequence by committing creations
// (one each, in the commit's batch) for the next creations of this
// process. An id older than idFresh is dropped (a gap, as a rollback leaves).
type idCache struct {
	mu  sync.Mutex
	max int
	ids []cachedID
}

type cachedID struct {
	id int64
	at time.Time
}

// wanted reports whether a commit should take one more id.
func (c *idCache) wanted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids) < c.max
}

func (c *idCache) put(id int64) {
	c.mu.Lock()
	c.ids = append(c.ids, cachedID{id, time.Now()})
	c.mu.Unlock()
}

// take returns the oldest fresh id, dropping stale ones.
func (c *idCache) take() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for len(c.ids) > 0 {
		x := c.ids[0]
		c.ids = c.ids[1:]
		if now.Sub(x.at) < idFresh {
			return x.id, true
		}
	}
	return 0, false
}

// CreateOrder is held and sent with the commit (or the next read): a taken
// id or memo fails it there with ErrExists.
func (t *tx) CreateOrder(o *domain.Order) error {
	return t.later(insertOrderSQL, orderArgs(o), nil)
}

func (t *tx) PutOrder(o *domain.Order) error {
	return t.later(updateOrderSQL, updateOrderArgs(o), affected(fmt.Errorf("pg: order %d: %w", o.ID, store.ErrNotFound)))
}

func (t *tx) GetOrder(id int64) (*domain.Order, error) {
	return getLocked(t, "SELECT "+orderCols+" FROM orders WHERE id = $1", []any{id}, scanOrder)
}

func (t *tx) ListOrders(partnerID int64, q store.OrderQuery) ([]domain.Order, error) {
	return list(t, "SELECT "+orderCols+` FROM orders
		WHERE partner_id = $1 AND id < $2 AND ($3 = '' OR status = $3) AND ($4 = '' OR order_type = $4)
		ORDER BY id DESC LIMIT $5`, []any{partnerID, beforeID(q.BeforeID), q.Status, q.Type, maxLimit(q.Limit)}, scanOrder)
}

func (t *tx) OrdersByReference(partnerID int64, ref string, before int64, limit int) ([]domain.Order, error) {
	return list(t, "SELECT "+orderCols+` FROM orders WHERE partner_id = $1 AND client_reference = $2 AND id < $3
		ORDER BY id DESC LIMIT $4`, []any{partnerID, ref, beforeID(before), maxLimit(limit)}, scanOrder)
}

func (t *tx) ForEachPartnerOrder(partnerID int64, fn func(*domain.Order) bool) error {
	before := beforeID(0)
	for {
		page, err := list(t, "SELECT "+orderCols+` FROM orders WHERE partner_id = $1 AND id < $2
			ORDER BY id DESC LIMIT $3`, []any{partnerID, before, pageSize}, scanOrder)
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

func (t *tx) ForEachOrder(fn func(*domain.Order) error) error {
	return walkByID(t, "SELECT "+orderCols+" FROM orders WHERE id > $1 ORDER BY id LIMIT $2", scanOrder,
		func(o *domain.Order) int64 { return o.ID }, fn)
}

func (t *tx) DueExpiries(now time.Time, limit int) ([]int64, error) {
	return ids(t, dueExpiriesSQL, now, maxLimit(limit))
}

func (t *tx) DeliveryQueue(afterID int64, limit int) ([]int64, error) {
	return ids(t, deliveryQueueSQL, afterID, maxLimit(limit))
}

func (t *tx) DueDeliveries(now time.Time, limit int) ([]int64, error) {
	return ids(t, dueDeliveriesSQL, now, maxLimit(limit))
}

func ids(t *tx, sql string, args ...any) ([]int64, error) {
	return list(t, sql, args, func(r pgxRows, id *int64) error { return r.Scan(id) })
}
