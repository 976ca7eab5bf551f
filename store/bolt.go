package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	// Records are JSON (readable with any tool); segmentio's codec reads
	// and writes the same JSON as encoding/json in a quarter (decode) to a
	// half (encode) of the CPU.
	json "github.com/segmentio/encoding/json"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The bbolt store: this file opens it and runs transactions; each record
// kind lives in its own file with its buckets (bolt_orders.go,
// bolt_partners.go, …).
//
// Bucket names. Derived indexes live beside their records and are written in
// the same transaction.
var (
	bMeta          = []byte("meta")
	bPartners      = []byte("partners")
	bPartnersTG    = []byte("partners_by_telegram")
	bPartnersAddr  = []byte("partners_by_address")
	bKeys          = []byte("api_keys")
	bOrders        = []byte("orders")
	bOrdersPartner = []byte("orders_by_partner")
	bOrdersRef     = []byte("orders_by_reference")
	bOrdersExpiry  = []byte("orders_expiry_queue")
	bOrdersDeliver = []byte("orders_delivery_queue")
	bOrdersDue     = []byte("orders_delivery_due")
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
// so an appended page is left nearly full rather than half empty: fewer
// pages, splits and page writes, and a shallower tree to search
// (docs/PERFORMANCE.md has the figures). Records in orders grow a little
// when they change state, hence not 1.0.
var appendBuckets = [][]byte{bOrders, bOrdersPartner, bOrdersRef, bOrdersExpiry, bLedger, bLedgerPartner, bIdemTime,
	bOutbox, bSandbox, bWhDeliveries, bWhDelPartner, bUnmatched}

const appendFill = 0.9

var allBuckets = [][]byte{bMeta, bPartners, bPartnersTG, bPartnersAddr, bKeys, bOrders,
	bOrdersPartner, bOrdersRef, bOrdersExpiry, bOrdersDeliver, bOrdersDue, bLedger, bLedgerPartner, bSeen,
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

// Write is Update: bbolt has one writer, so every transaction is
// serializable.
func (s *Bolt) Write(ctx context.Context, fn func(Tx) error) error { return s.Update(ctx, fn) }

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

// Read is View: a bbolt read transaction costs nothing to begin.
func (s *Bolt) Read(ctx context.Context, fn func(Tx) error) error { return s.View(ctx, fn) }

type boltTx struct {
	tx *bolt.Tx
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
