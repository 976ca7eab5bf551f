// Package pg is the PostgreSQL implementation of store.Store, for running
// several instances of the service on one partner base.
//
// Records are kept as JSON beside the typed columns their indexes need; unique
// constraints enforce memo, api key hash, seen tx hash and idempotency key
// uniqueness. Update runs fn in a SERIALIZABLE transaction and retries it on
// serialization failure or deadlock (store.Store already allows fn to run
// more than once); View runs fn in a READ ONLY REPEATABLE READ snapshot.
//
// Ids come from sequences, so a rolled-back transaction leaves a gap. Where
// callers page or stream by id — orders and ledger rows per partner (newest
// first with BeforeID), webhook deliveries per partner, the sandbox chain
// (SandboxTxAfter is a cursor) — the id is taken under a transaction-scoped
// advisory lock held until commit, so those ids also increase in commit order
// and a cursor never skips a row committed late.
package pg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/theopenmoney/openmoney/store"
)

// Options tune Open. The zero value is usable.
type Options struct {
	// MaxConns caps the pool (default: pgxpool's, max(4, NumCPU)).
	MaxConns int32
	// MaxRetries bounds how often Update re-runs fn after a serialization
	// failure or deadlock (default 30).
	MaxRetries int
	// NoMigrate skips applying migrations at open (the schema must be current).
	NoMigrate bool
}

// Store is the PostgreSQL store. Safe for concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	maxRetries int
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
	return &Store{pool: pool, maxRetries: opt.MaxRetries}, nil
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
	var err error
	for attempt := 0; ; attempt++ {
		err = s.run(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable}, fn)
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

// View runs fn in a READ ONLY REPEATABLE READ transaction: one consistent
// snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ptx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("pg: begin: %w", err)
	}
	t := &tx{ctx: ctx, tx: ptx}
	ferr := fn(t)
	if ferr == nil && t.err != nil {
		// fn swallowed a failed statement; the transaction is aborted.
		ferr = t.err
	}
	if ferr != nil {
		_ = ptx.Rollback(context.WithoutCancel(ctx))
		if t.err != nil && retryable(t.err) && !retryable(ferr) {
			// fn translated a serialization failure into its own error: retry anyway.
			return t.err
		}
		return ferr
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("pg: commit: %w", err)
	}
	return nil
}

// retryable reports a serialization failure or deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
