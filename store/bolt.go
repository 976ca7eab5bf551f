package store

import (
	// Records are JSON (readable with any tool, as the PostgreSQL store's);
	// segmentio's codec reads and writes the same JSON as encoding/json in a
	// quarter (decode) to a half (encode) of the CPU.
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	json "github.com/segmentio/encoding/json"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Derived indexes live beside their records and are written in
// the same transaction.
var (
	bMeta          = []byte("meta")
	bPartners      = []byte("partners")
	bPartnersTG    = []byte("partners_by_telegram")
	bPartnersAddr  = []byte("partners_by_address")
	bKeys          = []byte("api_keys")
	bOrders        = []byte("orders")
	bOrdersMemo    = []byte("orders_by_memo")
	bOrdersPartner = []byte("orders_by_partner")
	bOrdersRef     = []byte("orders_by_reference")
	bOrdersExpiry  = []byte("orders_expiry_queue")
	bOrdersDeliver = []byte("orders_delivery_queue")
	bLedger        = []byte("ledger")
	bLedgerPartner = []byte("ledger_by_partner")
	bSeen          = []byte("seen_tx")
	bUnmatched     = []byte("unmatched")
	bIdem          = []byte("idempotency")
	bIdemTime      = []byte("idempotency_by_time")
	bOutbox        = []byte("outbox")
	bSandbox       = []byte("sandbox_chain")
	bWebhooks      = []byte("webhooks")
	bWhDeliveries  = []byte("webhook_deliveries")
	bWhDelPartner  = []byte("webhook_deliveries_by_partner")
)

// appendBuckets are written mostly in key order (ids, times, partner+id,
// partner+reference — a partner's references mostly grow, like invoice
// numbers): their pages split at appendFill instead of bbolt's default half,
// so an appended page is left nearly full rather than half empty — about
// half the pages, splits and page writes over time, and a shallower tree to
// search (the reference index of the 1 M-order bench set: 20 509 leaves at
// 51 % → 13 550 at 78 %, a lookup 7.9 → 6.4 µs). Records in orders grow a
// little when they change state, hence not 1.0.
var appendBuckets = [][]byte{bOrders, bOrdersPartner, bOrdersRef, bOrdersExpiry, bLedger, bLedgerPartner, bIdemTime,
	bOutbox, bSandbox, bWhDeliveries, bWhDelPartner, bUnmatched}

const appendFill = 0.9

var allBuckets = [][]byte{bMeta, bPartners, bPartnersTG, bPartnersAddr, bKeys, bOrders, bOrdersMemo,
	bOrdersPartner, bOrdersRef, bOrdersExpiry, bOrdersDeliver, bLedger, bLedgerPartner, bSeen,
	bUnmatched, bIdem, bIdemTime, bOutbox, bSandbox, bWebhooks, bWhDeliveries, bWhDelPartner,
	bParked, bParkedOpen, bAudit, bPayerBatches, bPayerOpen, bPayerMessages, bPayerByOrder}

// Bolt is the bbolt implementation of Store.
type Bolt struct {
	db     *bolt.DB
	writes *committer // group commit of Update; nil when read-only
}

// Options for OpenBolt.
type Options struct {
	ReadOnly bool
	// LockTimeout bounds the wait for the file lock (default 2 s); a service
	// already holding the store then gives ErrLocked instead of a hang.
	LockTimeout time.Duration
	// NoSync skips fsync (benchmarks of raw speed only; never in production).
	NoSync bool
}

// OpenBolt opens (creating if needed) the store file at path.
func OpenBolt(path string, opt Options) (*Bolt, error) {
	if opt.LockTimeout == 0 {
		opt.LockTimeout = 2 * time.Second
	}
	if !opt.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory: %w", err)
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout, ReadOnly: opt.ReadOnly, NoSync: opt.NoSync})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (is the service running? stop it or use its admin routes)", ErrLocked, path)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !opt.ReadOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("store: init buckets: %w", err)
		}
	}
	s := &Bolt{db: db}
	if !opt.ReadOnly {
		s.writes = newCommitter(db, appendFillPercent)
	}
	return s, nil
}

// DB exposes the bbolt handle for benchmarks that compare against raw bbolt.
func (s *Bolt) DB() *bolt.DB { return s.db }

// RawOrderSize reads order id's stored record without decoding it and
// returns its size: the storage part of a lookup, for benchmarks.
func (s *Bolt) RawOrderSize(id int64) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bOrders).Get(i64(id))
		if v == nil {
			return ErrNotFound
		}
		n = len(v)
		return nil
	})
	return n, err
}

// Close commits the writes already queued, then closes the file.
func (s *Bolt) Close() error {
	if s.writes != nil {
		s.writes.close()
	}
	return s.db.Close()
}

// Update runs fn in a read-write transaction shared with the other Updates
// waiting at that moment (group commit: one fsync for all; see committer).
func (s *Bolt) Update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.writes == nil {
		return fmt.Errorf("store: update: %w", bolterrors.ErrDatabaseReadOnly)
	}
	return s.writes.update(func(btx *bolt.Tx) error { return fn(&boltTx{tx: btx}) })
}

// appendFillPercent sets appendFill on the append-mostly buckets of a write
// transaction (FillPercent is a property of the handle, not stored).
func appendFillPercent(tx *bolt.Tx) {
	for _, name := range appendBuckets {
		if b := tx.Bucket(name); b != nil {
			b.FillPercent = appendFill
		}
	}
}

// View runs fn in a read-only transaction.
func (s *Bolt) View(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&boltTx{tx: btx}) })
}

type boltTx struct {
	tx *bolt.Tx
	// What this Update already established, so a write can skip a B-tree
	// search (order creation does both, in the single writer): the id
	// NextOrderID issued last, under which no record can exist yet, and the
	// idempotency key GetIdem last found absent.
	newOrderID int64
	idemAbsent []byte
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func i64(v int64) []byte { return u64(uint64(v)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func (t *boltTx) b(name []byte) *bolt.Bucket {
	b := t.tx.Bucket(name)
	if b == nil {
		// Read-only open of a store that predates a bucket: behave as empty.
		return nil
	}
	return b
}

func (t *boltTx) get(bucket, key []byte, v any) error {
	b := t.b(bucket)
	if b == nil {
		return ErrNotFound
	}
	data := b.Get(key)
	if data == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("store: decode %s: %w", bucket, err)
	}
	return nil
}

func (t *boltTx) put(bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", bucket, err)
	}
	return t.tx.Bucket(bucket).Put(key, data)
}

func (t *boltTx) seq(bucket []byte) (int64, error) {
	n, err := t.tx.Bucket(bucket).NextSequence()
	return int64(n), err
}

// --- meta

func (t *boltTx) GetMeta(key string) ([]byte, error) {
	b := t.b(bMeta)
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get([]byte(key))
	if v == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (t *boltTx) PutMeta(key string, val []byte) error {
	return t.tx.Bucket(bMeta).Put([]byte(key), val)
}

// --- partners

func (t *boltTx) NextPartnerID() (int64, error) { return t.seq(bPartners) }

func (t *boltTx) PutPartner(p *Partner) error {
	if p.TelegramUserID != 0 {
		if err := t.tx.Bucket(bPartnersTG).Put(i64(p.TelegramUserID), i64(p.ID)); err != nil {
			return err
		}
	}
	if p.TopupAddressRaw != "" {
		if err := t.tx.Bucket(bPartnersAddr).Put([]byte(p.TopupAddressRaw), i64(p.ID)); err != nil {
			return err
		}
	}
	return t.put(bPartners, i64(p.ID), p)
}

func (t *boltTx) GetPartner(id int64) (*Partner, error) {
	var p Partner
	if err := t.get(bPartners, i64(id), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *boltTx) partnerByIndex(bucket, key []byte) (*Partner, error) {
	b := t.b(bucket)
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	return t.GetPartner(int64(binary.BigEndian.Uint64(v)))
}

func (t *boltTx) PartnerByTelegram(userID int64) (*Partner, error) {
	return t.partnerByIndex(bPartnersTG, i64(userID))
}

func (t *boltTx) PartnerByTopupAddress(raw string) (*Partner, error) {
	return t.partnerByIndex(bPartnersAddr, []byte(raw))
}

func (t *boltTx) ListPartners(afterID int64, limit int) ([]Partner, error) {
	var out []Partner
	b := t.b(bPartners)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(i64(afterID + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		var p Partner
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("store: decode partner: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// --- keys

func (t *boltTx) PutAPIKey(k *APIKey, isNew bool) error {
	if isNew && t.tx.Bucket(bKeys).Get([]byte(k.Hash)) != nil {
		return ErrExists
	}
	return t.put(bKeys, []byte(k.Hash), k)
}

func (t *boltTx) GetAPIKey(hash string) (*APIKey, error) {
	var k APIKey
	if err := t.get(bKeys, []byte(hash), &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// --- orders

func (t *boltTx) NextOrderID() (int64, error) {
	id, err := t.seq(bOrders)
	t.newOrderID = id
	return id, err
}

func inExpiryQueue(o *Order) bool   { return o.Status == StatusPendingPayment && o.ExpiresAt != nil }
func inDeliveryQueue(o *Order) bool { return o.Status == StatusPaid || o.Status == StatusProcessing }

func expiryKey(o *Order) []byte { return cat(i64(o.ExpiresAt.UnixNano()), i64(o.ID)) }

func refKey(partnerID int64, ref string, id int64) []byte {
	return cat(i64(partnerID), []byte(ref), []byte{0}, i64(id))
}

func (t *boltTx) PutOrder(o *Order) error {
	var prev *Order
	fresh := o.ID == t.newOrderID
	t.newOrderID = 0 // written now: a second PutOrder must see this one
	// An order that exists is decoded for its old index entries.
	if !fresh && t.tx.Bucket(bOrders).Get(i64(o.ID)) != nil {
		old, err := t.GetOrder(o.ID)
		if err != nil {
			return err
		}
		prev = old
	}
	id := i64(o.ID)
	if prev == nil {
		if o.PaymentMemo != "" && !o.MemoDerived {
			mb := t.tx.Bucket(bOrdersMemo)
			if mb.Get([]byte(o.PaymentMemo)) != nil {
				return fmt.Errorf("memo %s: %w", o.PaymentMemo, ErrExists)
			}
			if err := mb.Put([]byte(o.PaymentMemo), id); err != nil {
				return err
			}
		}
		if err := t.tx.Bucket(bOrdersPartner).Put(cat(i64(o.PartnerID), id), nil); err != nil {
			return err
		}
		if o.ClientReference != "" {
			if err := t.tx.Bucket(bOrdersRef).Put(refKey(o.PartnerID, o.ClientReference, o.ID), nil); err != nil {
				return err
			}
		}
	}
	eq, dq := t.tx.Bucket(bOrdersExpiry), t.tx.Bucket(bOrdersDeliver)
	if prev != nil && inExpiryQueue(prev) && (!inExpiryQueue(o) || !prev.ExpiresAt.Equal(*o.ExpiresAt)) {
		if err := eq.Delete(expiryKey(prev)); err != nil {
			return err
		}
	}
	if inExpiryQueue(o) {
		if err := eq.Put(expiryKey(o), nil); err != nil {
			return err
		}
	}
	if inDeliveryQueue(o) {
		if err := dq.Put(id, nil); err != nil {
			return err
		}
	} else if prev != nil && inDeliveryQueue(prev) {
		if err := dq.Delete(id); err != nil {
			return err
		}
	}
	return t.put(bOrders, id, o)
}

func (t *boltTx) GetOrder(id int64) (*Order, error) {
	var o Order
	if err := t.get(bOrders, i64(id), &o); err != nil {
		return nil, err
	}
	return &o, nil
}

func (t *boltTx) OrderByMemo(memo string) (*Order, error) {
	b := t.b(bOrdersMemo)
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get([]byte(memo))
	if v == nil {
		return nil, ErrNotFound
	}
	return t.GetOrder(int64(binary.BigEndian.Uint64(v)))
}

func (t *boltTx) ForEachPartnerOrder(partnerID int64, fn func(*Order) bool) error {
	return t.walkPartnerOrders(partnerID, 0, func(o *Order) (bool, error) { return fn(o), nil })
}

// walkPartnerOrders walks a partner's orders with id < beforeID, newest first.
func (t *boltTx) walkPartnerOrders(partnerID, beforeID int64, fn func(*Order) (bool, error)) error {
	return t.walkNewest(bOrdersPartner, partnerID, beforeID, func(id []byte) (bool, error) {
		o, err := t.GetOrder(int64(binary.BigEndian.Uint64(id)))
		if err != nil {
			return false, err
		}
		return fn(o)
	})
}

// walkNewest walks an index bucket keyed partner(8)|id(8) from the partner's
// newest id below beforeID (0 = the newest) down, calling fn with each id
// until it returns false. Every per-partner list pages this way.
func (t *boltTx) walkNewest(index []byte, partnerID, beforeID int64, fn func(id []byte) (bool, error)) error {
	b := t.b(index)
	if b == nil {
		return nil
	}
	prefix := i64(partnerID)
	start := i64(partnerID + 1)
	if beforeID > 0 {
		start = cat(prefix, i64(beforeID))
	}
	c := b.Cursor()
	k, _ := c.Seek(start)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		more, err := fn(k[8:])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t *boltTx) ListOrders(partnerID int64, q OrderQuery) ([]Order, error) {
	var out []Order
	err := t.walkPartnerOrders(partnerID, q.BeforeID, func(o *Order) (bool, error) {
		if (q.Status == "" || o.Status == q.Status) && (q.Type == "" || o.Type == q.Type) {
			out = append(out, *o)
		}
		return len(out) < q.Limit, nil
	})
	return out, err
}

func (t *boltTx) OrdersByReference(partnerID int64, ref string, limit int) ([]Order, error) {
	var out []Order
	b := t.b(bOrdersRef)
	if b == nil {
		return nil, nil
	}
	prefix := cat(i64(partnerID), []byte(ref), []byte{0})
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 && len(out) < limit; k, _ = c.Next() {
		o, err := t.GetOrder(int64(binary.BigEndian.Uint64(k[len(prefix):])))
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, nil
}

func (t *boltTx) ForEachOrder(fn func(*Order) error) error {
	b := t.b(bOrders)
	if b == nil {
		return nil
	}
	return b.ForEach(func(_, v []byte) error {
		var o Order
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("store: decode order: %w", err)
		}
		return fn(&o)
	})
}

func (t *boltTx) DueExpiries(now time.Time, limit int) ([]int64, error) {
	var ids []int64
	b := t.b(bOrdersExpiry)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
			break
		}
		ids = append(ids, int64(binary.BigEndian.Uint64(k[8:])))
	}
	return ids, nil
}

func (t *boltTx) DeliveryQueue(limit int) ([]int64, error) {
	var ids []int64
	b := t.b(bOrdersDeliver)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
		ids = append(ids, int64(binary.BigEndian.Uint64(k)))
	}
	return ids, nil
}

// --- ledger

func (t *boltTx) AppendLedger(e *LedgerEntry) error {
	id, err := t.seq(bLedger)
	if err != nil {
		return err
	}
	e.ID = id
	if err := t.tx.Bucket(bLedgerPartner).Put(cat(i64(e.PartnerID), i64(id)), nil); err != nil {
		return err
	}
	return t.put(bLedger, i64(id), e)
}

func (t *boltTx) GetLedger(id int64) (*LedgerEntry, error) {
	var e LedgerEntry
	if err := t.get(bLedger, i64(id), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

func (t *boltTx) ListLedger(partnerID, beforeID int64, limit int) ([]LedgerEntry, error) {
	var out []LedgerEntry
	err := t.walkNewest(bLedgerPartner, partnerID, beforeID, func(id []byte) (bool, error) {
		if len(out) >= limit {
			return false, nil
		}
		e, err := t.GetLedger(int64(binary.BigEndian.Uint64(id)))
		if err != nil {
			return false, err
		}
		out = append(out, *e)
		return len(out) < limit, nil
	})
	return out, err
}

func (t *boltTx) ForEachLedger(fn func(*LedgerEntry) error) error {
	b := t.b(bLedger)
	if b == nil {
		return nil
	}
	return b.ForEach(func(_, v []byte) error {
		var e LedgerEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("store: decode ledger: %w", err)
		}
		return fn(&e)
	})
}

// --- chain

func (t *boltTx) GetSeen(hash string) (*SeenTx, error) {
	var s SeenTx
	if err := t.get(bSeen, []byte(hash), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (t *boltTx) PutSeen(s *SeenTx) error { return t.put(bSeen, []byte(s.Hash), s) }

func (t *boltTx) ForEachSeen(fn func(*SeenTx) error) error {
	b := t.b(bSeen)
	if b == nil {
		return nil
	}
	return b.ForEach(func(_, v []byte) error {
		var s SeenTx
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("store: decode seen: %w", err)
		}
		return fn(&s)
	})
}

func (t *boltTx) PutUnmatched(u *Unmatched) error {
	if u.ID == 0 {
		id, err := t.seq(bUnmatched)
		if err != nil {
			return err
		}
		u.ID = id
	}
	return t.put(bUnmatched, i64(u.ID), u)
}

func (t *boltTx) GetUnmatched(id int64) (*Unmatched, error) {
	var u Unmatched
	if err := t.get(bUnmatched, i64(id), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

func (t *boltTx) ListUnmatched(afterID int64, limit int) ([]Unmatched, error) {
	var out []Unmatched
	b := t.b(bUnmatched)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(i64(afterID + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		var u Unmatched
		if err := json.Unmarshal(v, &u); err != nil {
			return nil, fmt.Errorf("store: decode unmatched: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// --- idempotency

func idemKey(partnerID int64, key string) []byte { return cat(i64(partnerID), []byte(key)) }

// boltIdem is an IdemRecord as bbolt keeps it. A response body of
// idemBodyApart bytes or more is not stored in the record but as the value of
// the record's idempotency_by_time entry (BodyApart set): records are keyed by
// the client's random key, so each one lands on a random leaf, and a leaf of
// ~1.2 KB records (the body base64 in JSON) splits on almost every insert and
// makes the bucket's tree wide; the time bucket is written in key order, its
// pages filled to appendFill. The TTL sweep deletes both entries anyway.
type boltIdem struct {
	IdemRecord
	BodyApart bool `json:"body_apart,omitempty"`
}

const idemBodyApart = 64

func idemTimeKey(createdAt time.Time, k []byte) []byte { return cat(i64(createdAt.UnixNano()), k) }

func (t *boltTx) GetIdem(partnerID int64, key string) (*IdemRecord, error) {
	k := idemKey(partnerID, key)
	var r boltIdem
	if err := t.get(bIdem, k, &r); err != nil {
		if errors.Is(err, ErrNotFound) && t.tx.Writable() {
			t.idemAbsent = k
		}
		return nil, err
	}
	if err := t.idemBody(k, &r); err != nil {
		return nil, err
	}
	return &r.IdemRecord, nil
}

// idemBody fills the body of a record stored apart.
func (t *boltTx) idemBody(k []byte, r *boltIdem) error {
	if !r.BodyApart {
		return nil
	}
	body := t.tx.Bucket(bIdemTime).Get(idemTimeKey(r.CreatedAt, k))
	if body == nil {
		return fmt.Errorf("store: idempotency record %d/%q: response body missing from %s", r.PartnerID, r.Key, bIdemTime)
	}
	r.Body = bytes.Clone(body)
	return nil
}

func (t *boltTx) PutIdem(r *IdemRecord) error {
	k := idemKey(r.PartnerID, r.Key)
	times := t.tx.Bucket(bIdemTime)
	if bytes.Equal(k, t.idemAbsent) {
		t.idemAbsent = nil // written now
	} else if prev := t.tx.Bucket(bIdem).Get(k); prev != nil {
		var p boltIdem
		if err := json.Unmarshal(prev, &p); err != nil {
			return fmt.Errorf("store: decode %s: %w", bIdem, err)
		}
		if err := times.Delete(idemTimeKey(p.CreatedAt, k)); err != nil {
			return err
		}
	}
	rec := boltIdem{IdemRecord: *r}
	var body []byte
	if len(r.Body) >= idemBodyApart {
		body, rec.Body, rec.BodyApart = r.Body, nil, true
	}
	if err := times.Put(idemTimeKey(r.CreatedAt, k), body); err != nil {
		return err
	}
	return t.put(bIdem, k, &rec)
}

func (t *boltTx) DeleteIdemBefore(before time.Time, limit int) (int, error) {
	c := t.tx.Bucket(bIdemTime).Cursor()
	var dead [][]byte
	for k, _ := c.First(); k != nil && len(dead) < limit; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k[:8])) >= before.UnixNano() {
			break
		}
		dead = append(dead, bytes.Clone(k))
	}
	for _, k := range dead {
		if err := t.tx.Bucket(bIdemTime).Delete(k); err != nil { // and a body stored apart
			return 0, err
		}
		if err := t.tx.Bucket(bIdem).Delete(k[8:]); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

// --- outbox: one bucket, keys channel 0x00 id.

func outboxKey(channel string, id int64) []byte { return cat([]byte(channel), []byte{0}, i64(id)) }

func (t *boltTx) AppendOutbox(it *OutboxItem) error {
	id, err := t.seq(bOutbox)
	if err != nil {
		return err
	}
	it.ID = id
	return t.PutOutbox(it)
}

func (t *boltTx) PutOutbox(it *OutboxItem) error {
	return t.put(bOutbox, outboxKey(it.Channel, it.ID), it)
}

func (t *boltTx) DeleteOutbox(channel string, id int64) error {
	return t.tx.Bucket(bOutbox).Delete(outboxKey(channel, id))
}

func (t *boltTx) PendingOutbox(channel string, afterID int64, limit int) ([]OutboxItem, error) {
	var out []OutboxItem
	b := t.b(bOutbox)
	if b == nil {
		return nil, nil
	}
	prefix := cat([]byte(channel), []byte{0})
	c := b.Cursor()
	for k, v := c.Seek(outboxKey(channel, max(afterID, 0)+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
		var it OutboxItem
		if err := json.Unmarshal(v, &it); err != nil {
			return nil, fmt.Errorf("store: decode outbox: %w", err)
		}
		out = append(out, it)
	}
	return out, nil
}

// --- webhooks: one record per partner; deliveries by id with a partner index.

func (t *boltTx) PutWebhook(w *Webhook) error { return t.put(bWebhooks, i64(w.PartnerID), w) }

func (t *boltTx) GetWebhook(partnerID int64) (*Webhook, error) {
	var w Webhook
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

func (t *boltTx) AppendWebhookDelivery(d *WebhookDelivery) error {
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

func (t *boltTx) ListWebhookDeliveries(partnerID, beforeID int64, limit int) ([]WebhookDelivery, error) {
	var out []WebhookDelivery
	err := t.walkNewest(bWhDelPartner, partnerID, beforeID, func(id []byte) (bool, error) {
		if len(out) >= limit {
			return false, nil
		}
		var d WebhookDelivery
		if err := t.get(bWhDeliveries, id, &d); err != nil {
			return false, err
		}
		out = append(out, d)
		return len(out) < limit, nil
	})
	return out, err
}

// --- sandbox chain

func (t *boltTx) AppendSandboxTx(data []byte) (uint64, error) {
	b := t.tx.Bucket(bSandbox)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	return seq, b.Put(u64(seq), data)
}

func (t *boltTx) SandboxTxAfter(seq uint64, limit int) ([]SandboxTx, error) {
	var out []SandboxTx
	b := t.b(bSandbox)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(u64(seq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		out = append(out, SandboxTx{Seq: binary.BigEndian.Uint64(k), Data: bytes.Clone(v)})
	}
	return out, nil
}
