// Package pg is the PostgreSQL implementation of store.Store, for running
// several instances of the service on one partner base.
//
// Each record kind lives in its own file with its tables and statements
// (orders.go, partners.go, ledger.go, …); records are typed columns, and
// what stays opaque to the store (an outbox event's snapshot, a stored
// response) is jsonb or bytea. Unique constraints enforce api key hash,
// seen tx hash, idempotency key and partner index uniqueness; memos need
// none (each is derived from its order's id, shop/memo.go).
//
// Transactions (see store.Store for what each promises, docs/SCALING.md
// for why):
//   - Write is READ COMMITTED with row locks: orders and unmatched deposits
//     read by key are locked (SELECT … FOR NO KEY UPDATE), new records are
//     inserted against their unique keys, balances move by a conditional
//     UPDATE; retried on deadlock. Creating orders, applying payments,
//     expiry, delivery.
//   - Update is SERIALIZABLE, retried on serialization failure or deadlock:
//     the rarer rules that span rows (operator assignments and marks,
//     webhook and key changes, stored answers).
//   - View is a READ ONLY REPEATABLE READ snapshot; Read runs each statement
//     on its own (autocommit), so a one-statement lookup is one round trip.
//
// Round trips: BEGIN is sent with a transaction's first statement, and
// writes whose result the caller does not need are held and sent with the
// next read or with the COMMIT, as one pipelined batch (tx.go). A Write
// that reads before it writes or locks runs those reads outside a
// transaction and its writes as one implicit transaction: creating an order
// is one batch of inserts (with the next order's id, orders.go), after a
// nextval when no id is at hand.
package pg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/theopenmoney/openmoney/store"
)

// Options tune Open. The zero value is usable.
type Options struct {
	// MaxConns caps the pool (default DefaultMaxConns(); pool_max_conns in
	// the DSN also sets it).
	MaxConns int32
	// MaxRetries bounds how often Update re-runs fn after a serialization
	// failure or deadlock (default 30).
	MaxRetries int
	// NoMigrate skips applying migrations at open (the schema must be current).
	NoMigrate bool
}

// DefaultMaxConns is the pool size when neither Options nor the DSN set
// one: eight connections per CPU. A request holds a connection for one or
// two round trips and, when it writes, a commit that waits for the WAL
// flush; with fewer connections the requests queue for them while the CPUs
// idle and each flush carries fewer commits, while many more only add
// backends competing for the same CPUs (docs/PERFORMANCE.md: the pool sweep
// of `openmoney bench -store postgres`).
func DefaultMaxConns() int32 { return int32(8 * runtime.NumCPU()) }

// Store is the PostgreSQL store. Safe for concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	maxRetries int
	orderIDs   idCache
}

var _ store.Store = (*Store)(nil)

// Open connects to dsn (a postgres:// URL or key=value string), applies any
// pending migrations under an advisory lock, and returns the store.
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pg: parse dsn: %w", err)
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	} else if !dsnSets(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns()
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// Times come back in UTC, as the shop writes them.
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pg: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pg: connect: %w", err)
	}
	if !opt.NoMigrate {
		if err := migratePool(ctx, pool); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if opt.MaxRetries <= 0 {
		opt.MaxRetries = 30
	}
	return &Store{pool: pool, maxRetries: opt.MaxRetries, orderIDs: idCache{max: int(cfg.MaxConns)}}, nil
}

// Pool exposes the connection pool (health checks, benchmarks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Update runs fn in a SERIALIZABLE transaction, committed before Update
// returns nil. On serialization failure (40001) or deadlock (40P01) — from any
// statement or from the commit — the transaction is rolled back and fn runs
// again, up to MaxRetries times.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.retry(ctx, modeUpdate, fn)
}

// Write runs fn at READ COMMITTED with row locks (see the package doc),
// retried on deadlock.
func (s *Store) Write(ctx context.Context, fn func(store.Tx) error) error {
	return s.retry(ctx, modeWrite, fn)
}

// View runs fn in a READ ONLY REPEATABLE READ transaction: one snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, modeView, fn)
}

// Read runs each of fn's statements on its own, outside a transaction.
func (s *Store) Read(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, modeRead, fn)
}

func (s *Store) retry(ctx context.Context, m mode, fn func(store.Tx) error) error {
	var err error
	for attempt := 0; ; attempt++ {
		err = s.run(ctx, m, fn)
		if err == nil || !retryable(err) || attempt >= s.maxRetries {
			break
		}
		// Jittered backoff: 1 ms · 2^attempt, at most 64 ms.
		d := time.Millisecond << min(attempt, 6)
		t := time.NewTimer(d/2 + rand.N(d))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return err
}

func (s *Store) run(ctx context.Context, m mode, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &tx{ctx: ctx, pool: s.pool, mode: m, ids: &s.orderIDs}
	defer t.release()
	ferr := fn(t)
	if ferr == nil && t.err != nil {
		// fn swallowed a failed statement; the transaction is aborted.
		ferr = t.err
	}
	if ferr != nil {
		t.rollback()
		if t.err != nil && retryable(t.err) && !retryable(ferr) {
			// fn translated a serialization failure into its own error: retry anyway.
			return t.err
		}
		return ferr
	}
	if err := t.commit(); err != nil {
		t.rollback()
		return err
	}
	return nil
}

// retryable reports a serialization failure or deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// dsnSets reports whether a URL or key=value DSN names parameter key.
func dsnSets(dsn, key string) bool {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return false
	}
	_, ok := cfg.RuntimeParams[key]
	return ok
}
