// Package pgtest gives tests a real PostgreSQL database.
//
// With OPENMONEY_TEST_DATABASE_URL set, that server is used. Otherwise the
// first call starts a throwaway server (pgserver, fsync off). Each DSN call
// gets its own schema (search_path in the returned DSN), dropped at the
// test's cleanup. Tests are skipped, with the reason, when no
// server can be had (failed instead with OPENMONEY_TEST_REQUIRE_PG=1;
// OPENMONEY_TEST_PG_BINDIR picks the binaries). Call Main from TestMain to
// stop the server at exit.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/theopenmoney/openmoney/store/pg/pgserver"
)

// EnvURL names the variable holding an existing server's URL.
const EnvURL = "OPENMONEY_TEST_DATABASE_URL"

// EnvRequire, when set to a non-empty value, turns the skip into a failure
// (for CI that installed PostgreSQL and must not silently skip).
const EnvRequire = "OPENMONEY_TEST_REQUIRE_PG"

// EnvBinDir, when set, is the only directory searched for initdb and pg_ctl.
const EnvBinDir = pgserver.EnvBinDir

var (
	once     sync.Once
	adminDSN string
	startErr error
	stopFn   func()
	schemaN  atomic.Int64
)

// Main runs the tests and stops a server started by this package.
func Main(m *testing.M) {
	code := m.Run()
	if stopFn != nil {
		stopFn()
	}
	os.Exit(code)
}

// DSN returns a DSN for a fresh, empty schema on a PostgreSQL server, or
// skips the test saying why none is available.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			adminDSN = u
			return
		}
		var srv *pgserver.Server
		srv, startErr = pgserver.Start(pgserver.Options{})
		if startErr == nil {
			adminDSN, stopFn = srv.DSN, srv.Stop
		}
	})
	if startErr != nil && os.Getenv(EnvRequire) != "" {
		t.Fatalf("pgtest: %s is set but no PostgreSQL server could be started: %v", EnvRequire, startErr)
	}
	if startErr != nil {
		t.Skipf("pgtest: no PostgreSQL server (set %s or install PostgreSQL): %v", EnvURL, startErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", redact(adminDSN), err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("t_%d_%d", os.Getpid(), schemaN.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			t.Logf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return WithParam(adminDSN, "search_path", schema)
}

// WithParam adds a run-time parameter (search_path, application_name, …) to
// a URL or key=value DSN.
func WithParam(dsn, key, val string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set(key, val)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " " + key + "=" + val
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return "(dsn)"
}
