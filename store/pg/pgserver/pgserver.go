// Package pgserver starts a throwaway PostgreSQL server from the installed
// server binaries: initdb into a temporary directory (as the "postgres" user
// when running as root, since initdb refuses root), pg_ctl start on a free
// loopback port with its unix socket in that directory. The tests (pgtest)
// run it without durability; `openmoney bench -store postgres` runs it with
// fsync and synchronous commits on, so its figures are durable writes.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvBinDir, when set, is the only directory searched for initdb and pg_ctl.
const EnvBinDir = "OPENMONEY_TEST_PG_BINDIR"

// Options for Start.
type Options struct {
	// Durable keeps PostgreSQL's defaults: fsync, synchronous_commit and
	// full_page_writes on. Off (the tests' choice) turns all three off.
	Durable bool
	// Settings are extra server settings (-c name=value), e.g.
	// shared_preload_libraries.
	Settings map[string]string
}

// Server is a running throwaway server.
type Server struct {
	// DSN connects as the superuser "postgres" to database "postgres".
	DSN string
	// LogPath is the server log (errors, including serialization failures).
	LogPath string
	dataDir string
	stop    func()
}

// Stop stops the server (immediate shutdown) and removes its directory.
func (s *Server) Stop() {
	if s != nil && s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// PostmasterPID is the server's main process id (its backends are its
// children), read from postmaster.pid.
func (s *Server) PostmasterPID() (int, error) {
	data, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// FindBin locates a PostgreSQL server binary: $OPENMONEY_TEST_PG_BINDIR,
// then PATH, then the usual distribution directories (newest version first).
func FindBin(name string) (string, error) {
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
	return "", fmt.Errorf("%s not found in PATH nor /usr/lib/postgresql/*/bin (install the PostgreSQL server package)", name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs initdb and pg_ctl start and returns the running server.
func Start(opt Options) (*Server, error) {
	initdb, err := FindBin("initdb")
	if err != nil {
		return nil, err
	}
	pgctl, err := FindBin("pg_ctl")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "openmoney-pg-")
	if err != nil {
		return nil, err
	}
	var cred *credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user to run initdb as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &credential{uid: uint32(uid), gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
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
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	settings := map[string]string{"listen_addresses": "127.0.0.1", "max_connections": "300", "shared_buffers": "64MB"}
	if !opt.Durable {
		settings["fsync"], settings["synchronous_commit"], settings["full_page_writes"] = "off", "off", "off"
	}
	maps.Copy(settings, opt.Settings)
	opts := fmt.Sprintf("-p %d -k %s", port, dir)
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		if strings.ContainsAny(settings[k], " '\"\\") {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgserver: setting %s=%q: no spaces or quotes", k, settings[k])
		}
		opts += fmt.Sprintf(" -c %s=%s", k, settings[k])
	}
	logPath := filepath.Join(dir, "server.log")
	if err := run(time.Minute, pgctl, "-D", data, "-l", logPath, "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(logPath)
		os.RemoveAll(dir)
		return nil, errors.Join(err, errors.New(string(log)))
	}
	s := &Server{DSN: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		LogPath: logPath, dataDir: data}
	s.stop = func() {
		_ = run(time.Minute, pgctl, "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	}
	return s, nil
}
