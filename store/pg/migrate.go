package pg

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Schema migrations: migrations/NNN_name.sql, applied in order, each in its
// own transaction, recorded in schema_migrations. Never edit an applied file;
// add the next number.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the session advisory lock held while migrating, so two
// instances starting together apply each migration once.
const migrationLockKey int64 = 0x4f4d_4d49_4752 // "OMMIGR"

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("pg: migration %s: name must be NNN_name.sql", base)
		}
		data, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("pg: migrations %s and %s share a number", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// Migrate applies pending schema migrations to the database at dsn and
// returns the names of those applied (for `openmoney migrate`). Safe to run
// from several processes at once.
func Migrate(ctx context.Context, dsn string) ([]string, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("pg: connect: %w", err)
	}
	defer pool.Close()
	var applied []string
	err = migrate(ctx, pool, func(name string) { applied = append(applied, name) })
	return applied, err
}

func migratePool(ctx context.Context, pool *pgxpool.Pool) error {
	return migrate(ctx, pool, func(string) {})
}

func migrate(ctx context.Context, pool *pgxpool.Pool, done func(string)) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pg: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("pg: migrate: lock: %w", err)
	}
	defer func() {
		// On a broken connection the lock died with the session anyway.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("pg: migrate: %w", err)
	}
	have := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("pg: migrate: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("pg: migrate: %w", err)
	}
	for _, v := range vs {
		have[int(v)] = true
	}
	for _, m := range ms {
		if have[m.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("pg: migration %s: %w", m.name, err)
		}
		done(m.name)
	}
	return nil
}
