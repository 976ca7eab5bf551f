package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
)

// The store kinds of -store.
const (
	storeBolt     = "bbolt"
	storePostgres = "postgres"
)

// pgDefaultOrders is -orders for a postgres run when not given: loading goes
// through the store's Tx API, a few round trips per order.
const pgDefaultOrders = 200_000

// dsnEnv is -dsn's default, the variable the service's config reads too.
const dsnEnv = "OPENMONEY_DATABASE_URL"

// childDSNEnv carries a PostgreSQL restart child's DSN, which may hold a
// password, instead of its command line (which other users can read); the
// child is then given "-restart-child -".
const childDSNEnv = "OPENMONEY_BENCH_CHILD_DSN"

// stores creates the fresh, empty stores a run measures ("ours") and removes
// them at the end unless keep: bbolt files in a temporary directory, or
// PostgreSQL schemas with random names reached through a DSN with
// search_path. The directory also holds the bbolt baseline's file either way.
type stores struct {
	kind    string
	dir     string
	admin   string   // postgres: the -dsn
	prefix  string   // postgres: random schema name prefix
	schemas []string // postgres: created schemas
	keep    bool
	log     *slog.Logger
}

func newStores(kind, dsn string, keep bool, log *slog.Logger) (*stores, error) {
	dir, err := os.MkdirTemp("", "openmoney-bench-*")
	if err != nil {
		return nil, fmt.Errorf("bench: temp dir: %w", err)
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return &stores{kind: kind, dir: dir, admin: dsn, prefix: "openmoney_bench_" + hex.EncodeToString(r[:]),
		keep: keep, log: log}, nil
}

// create makes an empty store called name and returns its location (a file
// path or a DSN).
func (ss *stores) create(ctx context.Context, name string) (string, error) {
	if ss.kind != storePostgres {
		return filepath.Join(ss.dir, name+".db"), nil
	}
	schema := ss.prefix + "_" + name
	err := ss.admin1(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("bench: create schema: %w", err)
	}
	ss.schemas = append(ss.schemas, schema)
	return withParam(ss.admin, "search_path", schema), nil
}

// admin1 runs fn on a connection to -dsn.
func (ss *stores) admin1(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := pgx.Connect(ctx, ss.admin)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return fn(c)
}

// serverNote describes the PostgreSQL server and its durability settings.
func (ss *stores) serverNote(ctx context.Context, own bool) (string, error) {
	var ver, fsync, sync string
	err := ss.admin1(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('fsync'), "+
			"current_setting('synchronous_commit')").Scan(&ver, &fsync, &sync)
	})
	if err != nil {
		return "", fmt.Errorf("bench: postgres settings: %w", err)
	}
	where := "the server given by -dsn"
	if own {
		where = "a throwaway server started by the bench on this machine"
	}
	return fmt.Sprintf("store: PostgreSQL %s (%s) over loopback TCP, fsync %s, synchronous_commit %s, one fresh schema per store; "+
		"the HTTP rows' baselines are PostgreSQL's own INSERT and SELECT from the same process", ver, where, fsync, sync), nil
}

// cleanup removes what create made, or logs where it is with keep.
func (ss *stores) cleanup() {
	if ss.keep {
		ss.log.Info("keeping the bench stores", "dir", ss.dir, "schemas", strings.Join(ss.schemas, ","))
		return
	}
	os.RemoveAll(ss.dir)
	if len(ss.schemas) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := ss.admin1(ctx, func(c *pgx.Conn) error {
		for _, s := range ss.schemas {
			if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		ss.log.Warn("bench: could not drop the bench schemas", "schemas", strings.Join(ss.schemas, ","), "err", err)
	}
}

// openStore opens the store of kind at loc. bulk is for loading: bbolt
// skips fsync (flushStore syncs once), PostgreSQL commits with
// synchronous_commit off; reads are unaffected.
func openStore(ctx context.Context, kind, loc string, bulk bool) (store.Store, error) {
	if kind == storePostgres {
		if bulk {
			loc = withParam(loc, "synchronous_commit", "off")
		}
		return pg.Open(ctx, loc, pg.Options{})
	}
	return store.OpenBolt(loc, store.Options{NoSync: bulk})
}

// flushStore makes what a bulk-opened store wrote durable.
func flushStore(ctx context.Context, st store.Store) error {
	switch s := st.(type) {
	case *store.Bolt:
		return s.DB().Sync()
	case *pg.Store:
		// A synchronous commit of a transaction with an id flushes the WAL up to it.
		return pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "SELECT txid_current()")
			return err
		})
	}
	return nil
}

// storeSize is the store's size on disk: the bbolt file, or the tables of
// the store's schema with their indexes and TOAST.
func storeSize(ctx context.Context, st store.Store, loc string) int64 {
	switch s := st.(type) {
	case *pg.Store:
		var n int64
		_ = s.Pool().QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
			FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'`).Scan(&n)
		return n
	default:
		if fi, err := os.Stat(loc); err == nil {
			return fi.Size()
		}
	}
	return 0
}

// withParam adds a run-time parameter to a URL or key=value DSN (as pgtest does).
func withParam(dsn, key, val string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set(key, val)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " " + key + "=" + val
}
