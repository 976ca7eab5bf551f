package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/theopenmoney/openmoney/internal/wait"
)

// DefaultLeaderKey is the advisory lock key of the instance that runs the
// single-leader work (chain listener, expiry, delivery, outbox senders, bot
// polling).
const DefaultLeaderKey int64 = 0x4f4d_4c454144 // "OMLEAD"

// Leader elects one process among those sharing a database: the holder of a
// session-level pg_advisory_lock on a dedicated connection (not from any
// pool). The lock dies with the connection, so when the leader's process
// dies or its connection drops, PostgreSQL releases it and another instance
// takes over within about Interval.
type Leader struct {
	dsn string
	// Key is the advisory lock key (DefaultLeaderKey).
	Key int64
	// Interval is how often a follower tries the lock and the leader checks
	// its connection (default 1 s). Lost leadership cancels fn's context
	// within Interval plus CheckTimeout.
	Interval time.Duration
	// CheckTimeout bounds each connection check (default 1 s).
	CheckTimeout time.Duration
	// Log receives elections and losses (default: discard).
	Log *slog.Logger

	leading atomic.Bool
}

// NewLeader returns a Leader for the database at dsn with default settings.
func NewLeader(dsn string) *Leader {
	return &Leader{dsn: dsn, Key: DefaultLeaderKey, Interval: time.Second, CheckTimeout: time.Second,
		Log: slog.New(slog.DiscardHandler)}
}

// IsLeader reports whether this process holds the lock now (for health).
func (l *Leader) IsLeader() bool { return l.leading.Load() }

// errLost is the cause of fn's context when leadership is lost.
var errLost = errors.New("pg: leadership lost")

// Run campaigns until ctx ends. While this process holds the lock it runs
// fn(ctx'), where ctx' is cancelled (cause: leadership lost) as soon as the
// connection or lock is lost; after fn returns it campaigns again. If fn
// returns while still leading, Run releases the lock and returns fn's error
// (nil included) — fn is expected to run until its context ends. Run returns
// nil when ctx ends.
func (l *Leader) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	interval := l.Interval
	if interval <= 0 {
		interval = time.Second
	}
	for ctx.Err() == nil {
		conn, err := l.connect(ctx)
		if err != nil {
			l.Log.Warn("leader: connect", "err", err)
			if !wait.Sleep(ctx, interval) {
				break
			}
			continue
		}
		done, err := l.session(ctx, conn, fn, interval)
		conn.Close(context.Background())
		if done {
			return err
		}
		if err != nil && ctx.Err() == nil {
			l.Log.Warn("leader: session ended", "err", err)
		}
		if !wait.Sleep(ctx, interval/2) {
			break
		}
	}
	return nil
}

func (l *Leader) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(l.dsn)
	if err != nil {
		return nil, fmt.Errorf("pg: leader: parse dsn: %w", err)
	}
	// Let the server notice a vanished leader quickly and release its lock.
	for k, v := range map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
		"tcp_keepalives_count": "3", "application_name": "openmoney-leader"} {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	d := &net.Dialer{KeepAlive: 5 * time.Second, Timeout: 10 * time.Second}
	cfg.DialFunc = d.DialContext
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.ConnectConfig(cctx, cfg)
}

// session campaigns on one connection until it breaks or ctx ends. done
// reports that Run must return err (fn returned on its own while leading).
func (l *Leader) session(ctx context.Context, conn *pgx.Conn, fn func(context.Context) error, interval time.Duration) (done bool, err error) {
	for {
		var got bool
		if err := l.query(ctx, conn, "SELECT pg_try_advisory_lock($1)", &got); err != nil {
			return false, err
		}
		if got {
			break
		}
		if !wait.Sleep(ctx, interval) {
			return true, nil
		}
	}
	l.Log.Info("leader: elected", "key", l.Key)
	l.leading.Store(true)
	defer l.leading.Store(false)

	parent := ctx
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fnDone := make(chan error, 1)
	go func() { fnDone <- fn(fctx) }()

	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case ferr := <-fnDone:
			if context.Cause(fctx) == errLost {
				return false, errLost
			}
			// fn ended on its own (or ctx ended): give the lock back.
			uctx, ucancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", l.Key)
			ucancel()
			l.Log.Info("leader: stepped down", "key", l.Key)
			if parent.Err() != nil {
				return true, nil
			}
			return true, ferr
		case <-ctx.Done():
			// fn sees the same cancellation; wait for it above.
			ctx = context.Background()
		case <-t.C:
			if context.Cause(fctx) == errLost {
				continue
			}
			var held bool
			err := l.query(ctx, conn, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
				AND pid = pg_backend_pid() AND granted AND objsubid = 1
				AND ((classid::bigint << 32) | objid::bigint) = $1)`, &held)
			if err == nil && !held {
				err = errors.New("advisory lock no longer held")
			}
			if err != nil {
				l.Log.Warn("leader: lost", "err", err)
				l.leading.Store(false)
				cancel(errLost)
			}
		}
	}
}

func (l *Leader) query(ctx context.Context, conn *pgx.Conn, sql string, dest any) error {
	timeout := l.CheckTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return conn.QueryRow(qctx, sql, l.Key).Scan(dest)
}
