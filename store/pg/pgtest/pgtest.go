// Package pgtest gives tests a real PostgreSQL database.
//
// With OPENMONEY_TEST_DATABASE_URL set, that server is used. Otherwise the
// first call starts a throwaway server: initdb into a temp dir (as the
// "postgres" user when running as root, since initdb refuses root), pg_ctl
// start on a free loopback port with its unix socket in the temp dir, fsync
// off. Each DSN call gets its own schema (search_path in the returned DSN),
// dropped at the test's cleanup. Tests are skipped, with the reason, when no
// server can be had (failed instead with OPENMONEY_TEST_REQUIRE_PG=1;
// OPENMONEY_TEST_PG_BINDIR picks the binaries). Call Main from TestMain to
// stop the server at exit.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding an existing server's URL.
const EnvURL = "OPENMONEY_TEST_DATABASE_URL"

// EnvRequire, when set to a non-empty value, turns the skip into a failure
// (for CI that installed PostgreSQL and must not silently skip).
const EnvRequire = "OPENMONEY_TEST_REQUIRE_PG"

// EnvBinDir, when set, is the only directory searched for initdb and pg_ctl.
const EnvBinDir = "OPENMONEY_TEST_PG_BINDIR"

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
		adminDSN, stopFn, startErr = start()
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

// findBin locates a PostgreSQL server binary: PATH, then the usual
// distribution directories (newest version first).
func findBin(name string) (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s not found in %s=%s", name, EnvBinDir, dir)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var cands []string
	for _, pat := range []string{"/usr/lib/postgresql/*/bin/", "/usr/pgsql-*/bin/", "/usr/local/pgsql/bin/",
		"/opt/homebrew/opt/postgresql*/bin/", "/usr/local/opt/postgresql*/bin/"} {
		m, _ := filepath.Glob(pat + name)
		sort.Sort(sort.Reverse(sort.StringSlice(m)))
		cands = append(cands, m...)
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH nor /usr/lib/postgresql/*/bin", name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs initdb and pg_ctl start; it returns the admin DSN and a stop func.
func start() (string, func(), error) {
	initdb, err := findBin("initdb")
	if err != nil {
		return "", nil, err
	}
	pgctl, err := findBin("pg_ctl")
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "openmoney-pg-")
	if err != nil {
		return "", nil, err
	}
	var cred *credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("running as root and no postgres user to run initdb as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &credential{uid: uint32(uid), gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
	}
	run := func(timeout time.Duration, name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
		setCredential(cmd, cred)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run(2*time.Minute, initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c synchronous_commit=off "+
		"-c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB", port, dir)
	if err := run(time.Minute, pgctl, "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60",
		"-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("%w\n%s", err, log)
	}
	stop := func() {
		_ = run(time.Minute, pgctl, "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
}
