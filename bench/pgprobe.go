package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/theopenmoney/openmoney/store/pg/pgserver"
)

// pgProbe reads PostgreSQL's own counters around a measured phase: commits
// and rollbacks (pg_stat_database), serialization failures and deadlocks
// (the server log, when the bench started the server), statements
// (pg_stat_statements, when loaded) and CPU time of the server's processes
// (when the server runs on this machine and the bench started it).
type pgProbe struct {
	admin string
	srv   *pgserver.Server // nil when -dsn names a server the bench did not start
	pgss  bool             // pg_stat_statements is readable
}

// pgSample is one reading of the counters.
type pgSample struct {
	commits, rollbacks int64
	serFail, deadlocks int64 // -1: no server log
	stmts              map[int64]stmtStat
	serverCPU          time.Duration // -1: unknown
	selfCPU            time.Duration
}

type stmtStat struct {
	query string
	calls int64
	ms    float64
}

// pgDelta is what happened between two samples.
type pgDelta struct {
	commits, rollbacks int64
	serFail, deadlocks int64 // -1: unknown
	stmts              []stmtStat
	serverCPU          time.Duration // -1: unknown
	selfCPU            time.Duration
}

// newPGProbe checks what the server lets the probe read.
func newPGProbe(ctx context.Context, admin string, srv *pgserver.Server) *pgProbe {
	p := &pgProbe{admin: admin, srv: srv}
	_ = p.conn(ctx, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
			return err
		}
		_, err := c.Exec(ctx, "SELECT count(*) FROM pg_stat_statements")
		p.pgss = err == nil
		return nil
	})
	return p
}

func (p *pgProbe) conn(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := pgx.Connect(ctx, p.admin)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return fn(c)
}

// settle waits until no backend of application app is left, so their
// statistics are flushed into pg_stat_database (a backend flushes at exit;
// while it lives, up to ~10 s late).
func (p *pgProbe) settle(ctx context.Context, app string) error {
	return p.conn(ctx, func(c *pgx.Conn) error {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var n int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("bench: %d backends of %s still connected after 15 s", n, app)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func (p *pgProbe) sample(ctx context.Context) (pgSample, error) {
	s := pgSample{serFail: -1, deadlocks: -1, serverCPU: -1, selfCPU: selfCPU()}
	err := p.conn(ctx, func(c *pgx.Conn) error {
		// This backend's own counts, flushed now (its first read ran in a
		// new backend whose earlier work is none).
		if err := c.QueryRow(ctx, `SELECT xact_commit, xact_rollback FROM pg_stat_database
			WHERE datname = current_database()`).Scan(&s.commits, &s.rollbacks); err != nil {
			return fmt.Errorf("bench: pg_stat_database: %w", err)
		}
		if !p.pgss {
			return nil
		}
		rows, err := c.Query(ctx, `SELECT queryid, calls, total_exec_time, query FROM pg_stat_statements
			WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`)
		if err != nil {
			return err
		}
		s.stmts = map[int64]stmtStat{}
		for rows.Next() {
			var id int64
			var st stmtStat
			if err := rows.Scan(&id, &st.calls, &st.ms, &st.query); err != nil {
				return err
			}
			s.stmts[id] = st
		}
		return rows.Err()
	})
	if err != nil {
		return s, err
	}
	if p.srv != nil {
		if data, err := os.ReadFile(p.srv.LogPath); err == nil {
			s.serFail = int64(bytes.Count(data, []byte("ERROR:  could not serialize access")))
			s.deadlocks = int64(bytes.Count(data, []byte("ERROR:  deadlock detected")))
		}
		if pid, err := p.srv.PostmasterPID(); err == nil {
			if d, err := treeCPU(pid); err == nil {
				s.serverCPU = d
			}
		}
	}
	return s, nil
}

func (a pgSample) sub(b pgSample) pgDelta {
	d := pgDelta{commits: a.commits - b.commits, rollbacks: a.rollbacks - b.rollbacks, serFail: -1, deadlocks: -1,
		serverCPU: -1, selfCPU: a.selfCPU - b.selfCPU}
	if a.serFail >= 0 && b.serFail >= 0 {
		d.serFail, d.deadlocks = a.serFail-b.serFail, a.deadlocks-b.deadlocks
	}
	if a.serverCPU >= 0 && b.serverCPU >= 0 {
		d.serverCPU = a.serverCPU - b.serverCPU
	}
	for id, st := range a.stmts {
		prev := b.stmts[id]
		if st.calls > prev.calls {
			d.stmts = append(d.stmts, stmtStat{query: st.query, calls: st.calls - prev.calls, ms: st.ms - prev.ms})
		}
	}
	byTimeDesc(d.stmts)
	return d
}

func (d pgDelta) add(e pgDelta) pgDelta {
	out := pgDelta{commits: d.commits + e.commits, rollbacks: d.rollbacks + e.rollbacks, serFail: -1, deadlocks: -1,
		serverCPU: -1, selfCPU: d.selfCPU + e.selfCPU}
	if d.serFail >= 0 && e.serFail >= 0 {
		out.serFail, out.deadlocks = d.serFail+e.serFail, d.deadlocks+e.deadlocks
	}
	if d.serverCPU >= 0 && e.serverCPU >= 0 {
		out.serverCPU = d.serverCPU + e.serverCPU
	}
	byQuery := map[string]stmtStat{}
	for _, s := range append(slices.Clone(d.stmts), e.stmts...) {
		t := byQuery[s.query]
		t.query, t.calls, t.ms = s.query, t.calls+s.calls, t.ms+s.ms
		byQuery[s.query] = t
	}
	for _, s := range byQuery {
		out.stmts = append(out.stmts, s)
	}
	byTimeDesc(out.stmts)
	return out
}

// byTimeDesc sorts statements by server time, most first.
func byTimeDesc(stmts []stmtStat) {
	slices.SortFunc(stmts, func(x, y stmtStat) int { return cmp.Compare(y.ms, x.ms) })
}

// statements is the number of statements the server ran, or -1.
func (d pgDelta) statements() int64 {
	if d.stmts == nil {
		return -1
	}
	var n int64
	for _, s := range d.stmts {
		n += s.calls
	}
	return n
}

// cpuNote says how much CPU one operation took: the bench process (service,
// load generator, pgx) and the PostgreSQL server.
func (d pgDelta) cpuNote(n int64) string {
	if n <= 0 {
		return "no operations"
	}
	self := float64(d.selfCPU.Microseconds()) / float64(n)
	if d.serverCPU < 0 {
		return fmt.Sprintf("%.0f µs CPU in the bench process (server CPU unknown: not started by the bench)", self)
	}
	srv := float64(d.serverCPU.Microseconds()) / float64(n)
	return fmt.Sprintf("%.0f µs CPU (%.0f bench process + %.0f PostgreSQL)", self+srv, self, srv)
}

// topStatements lists the statements that took most server time per
// operation.
func (d pgDelta) topStatements(n int64, k int) string {
	if d.stmts == nil || n <= 0 {
		return "pg_stat_statements not available"
	}
	var parts []string
	for i, s := range d.stmts {
		if i == k {
			break
		}
		q := strings.Join(strings.Fields(s.query), " ")
		if len(q) > 70 {
			q = q[:70] + "…"
		}
		parts = append(parts, fmt.Sprintf("%.2f× %.0f µs %q", float64(s.calls)/float64(n), 1000*s.ms/float64(n), q))
	}
	return strings.Join(parts, "; ")
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat times.
const clockTick = 10 * time.Millisecond

// treeCPU is the CPU time of process pid, its exited children it reaped,
// and its live children (PostgreSQL: the postmaster, its backends and
// auxiliary processes).
func treeCPU(pid int) (time.Duration, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := procStat(n)
		if err != nil {
			continue
		}
		switch {
		case n == pid:
			ticks += f[11] + f[12] + f[13] + f[14] // utime stime cutime cstime
		case f[1] == int64(pid):
			ticks += f[11] + f[12]
		}
	}
	return time.Duration(ticks) * clockTick, nil
}

// procStat returns the numeric fields of /proc/<pid>/stat after the command
// name, f[0] being the state (as 0) and f[1] the parent pid.
func procStat(pid int) ([]int64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("bad stat")
	}
	sc := bufio.NewScanner(bytes.NewReader(data[i+1:]))
	sc.Split(bufio.ScanWords)
	var f []int64
	for sc.Scan() {
		v, _ := strconv.ParseInt(sc.Text(), 10, 64)
		f = append(f, v)
	}
	if len(f) < 15 {
		return nil, fmt.Errorf("short stat")
	}
	return f, nil
}
