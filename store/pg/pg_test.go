package pg_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
	"github.com/theopenmoney/openmoney/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openPG(t *testing.T) *pg.Store {
	t.Helper()
	st, err := pg.Open(context.Background(), pgtest.DSN(t), pg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openPG(t) })
}

// TestLeaderFailover: two instances campaign for one lock; killing the
// leader's connection cancels its work within seconds and the other takes
// over; when that one stops, the first takes over again.
func TestLeaderFailover(t *testing.T) {
	dsn := pgtest.DSN(t)
	key := time.Now().UnixNano() & 0x7fffffffffff
	type state struct {
		running atomic.Int32
		starts  atomic.Int32
	}
	var a, b state
	work := func(s *state) func(context.Context) error {
		return func(ctx context.Context) error {
			s.starts.Add(1)
			s.running.Add(1)
			defer s.running.Add(-1)
			<-ctx.Done()
			return ctx.Err()
		}
	}
	newLeader := func(name string) *pg.Leader {
		l := pg.NewLeader(pgtest.WithParam(dsn, "application_name", name))
		l.Key = key
		l.Interval = 300 * time.Millisecond
		return l
	}
	la, lb := newLeader("leader-a"), newLeader("leader-b")
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopA()
	defer stopB()
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- la.Run(ctxA, work(&a)) }()
	waitFor(t, "a elected", 5*time.Second, func() bool { return a.running.Load() == 1 && la.IsLeader() })
	go func() { doneB <- lb.Run(ctxB, work(&b)) }()
	time.Sleep(time.Second)
	if b.starts.Load() != 0 || lb.IsLeader() {
		t.Fatalf("b runs while a holds the lock")
	}

	admin, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	killed := time.Now()
	if _, err := admin.Exec(context.Background(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'leader-a'"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's work cancelled", 3*time.Second, func() bool { return a.running.Load() == 0 })
	waitFor(t, "b takes over", 5*time.Second, func() bool { return b.running.Load() == 1 })
	t.Logf("takeover after %v", time.Since(killed).Round(time.Millisecond))
	time.Sleep(time.Second)
	if a.running.Load() != 0 {
		t.Fatalf("a runs again while b leads")
	}

	stopB()
	if err := <-doneB; err != nil {
		t.Errorf("b Run: %v", err)
	}
	waitFor(t, "a takes over again", 5*time.Second, func() bool { return a.running.Load() == 1 })
	if a.starts.Load() != 2 {
		t.Errorf("a started %d times, want 2", a.starts.Load())
	}
	stopA()
	if err := <-doneA; err != nil {
		t.Errorf("a Run: %v", err)
	}
	if a.running.Load() != 0 || b.running.Load() != 0 {
		t.Errorf("work still running after Run returned")
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openBolt(t *testing.T) *store.Bolt {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "test.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestCopyBoltToPostgres(t *testing.T) {
	pgs := openPG(t)
	defer pgs.Close()
	storetest.RunCopy(t, openBolt(t), pgs)
}

func TestCopyPostgresToBolt(t *testing.T) {
	pgs := openPG(t)
	defer pgs.Close()
	storetest.RunCopy(t, pgs, openBolt(t))
}

// TestMigrateConcurrently: instances starting together apply each migration
// once; a later run applies nothing.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	applied := make(chan []string, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			names, err := pg.Migrate(ctx, dsn)
			if err != nil {
				t.Error(err)
			}
			applied <- names
		}()
	}
	wg.Wait()
	close(applied)
	total := 0
	for names := range applied {
		total += len(names)
	}
	if total == 0 {
		t.Fatal("no migration applied")
	}
	names, err := pg.Migrate(ctx, dsn)
	if err != nil || len(names) != 0 {
		t.Errorf("second Migrate applied %v, %v", names, err)
	}
	st, err := pg.Open(ctx, dsn, pg.Options{NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != total {
		t.Errorf("schema_migrations rows %d (%v), applied %d", n, err, total)
	}
}

// TestSandboxCursorNeverSkips: appends from many transactions that commit
// in any order; a reader following SandboxTxAfter(cursor) — as the
// listener does — sees every record exactly once.
func TestSandboxCursorNeverSkips(t *testing.T) {
	ctx := context.Background()
	st := openPG(t)
	defer st.Close()
	const writers, each = 8, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := st.Update(ctx, func(tx store.Tx) error {
					if _, err := tx.AppendSandboxTx([]byte(fmt.Sprintf("%d-%d", w, i))); err != nil {
						return err
					}
					time.Sleep(time.Duration((w*7+i)%3) * time.Millisecond) // commit later than the append
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	seen := map[string]int{}
	var cursor uint64
	for done := false; !done; {
		select {
		case <-finished:
			done = true
		default:
		}
		if err := st.View(ctx, func(tx store.Tx) error {
			for {
				recs, err := tx.SandboxTxAfter(cursor, 7)
				if err != nil || len(recs) == 0 {
					return err
				}
				for _, r := range recs {
					seen[string(r.Data)]++
					cursor = r.Seq
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != writers*each {
		t.Errorf("reader saw %d distinct records, want %d", len(seen), writers*each)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %s seen %d times", k, n)
		}
	}
}

// TestUpdateRetriesHiddenSerializationFailure: fn that turns a store error
// into its own error is still retried when the cause was a serialization
// failure, and the final state is right.
func TestUpdateRetriesHiddenSerializationFailure(t *testing.T) {
	ctx := context.Background()
	st := openPG(t)
	defer st.Close()
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutMeta("n", []byte{0}) }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var calls atomic.Int32
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.Update(ctx, func(tx store.Tx) error {
				calls.Add(1)
				v, err := tx.GetMeta("n")
				if err != nil {
					return errors.New("could not read counter") // hides the cause
				}
				if err := tx.PutMeta("n", []byte{v[0] + 1}); err != nil {
					return errors.New("could not write counter")
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var v []byte
	if err := st.View(ctx, func(tx store.Tx) error { var err error; v, err = tx.GetMeta("n"); return err }); err != nil {
		t.Fatal(err)
	}
	if v[0] != 10 {
		t.Errorf("counter %d after 10 increments (%d fn calls)", v[0], calls.Load())
	}
	t.Logf("%d fn calls for 10 updates", calls.Load())
}

// TestFreeTextIsStored: text from elsewhere (a provider's error, a
// receiver's answer) may hold NUL or invalid UTF-8, which PostgreSQL text
// refuses: it is stored with U+FFFD in their place (a run of invalid bytes
// as one) instead of failing the transaction.
func TestFreeTextIsStored(t *testing.T) {
	ctx := context.Background()
	st := openPG(t)
	defer st.Close()
	bad := "timeout\x00 from \xff\xfe provider"
	want := "timeout\uFFFD from \uFFFD provider" // a run of invalid bytes is one U+FFFD
	var oid int64
	err := st.Update(ctx, func(tx store.Tx) error {
		id, err := tx.NextOrderID()
		if err != nil {
			return err
		}
		oid = id
		if err := tx.CreateOrder(&domain.Order{ID: id, PartnerID: 1, Status: domain.StatusFailed, Type: "stars",
			FailureReason: bad, DeliveryState: bad, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}); err != nil {
			return err
		}
		return tx.AppendWebhookDelivery(&domain.WebhookDelivery{PartnerID: 1, EventID: "evt_1", EventType: "order.paid",
			Attempt: 1, At: time.Now().UTC(), Error: bad, Final: domain.WebhookRetrying})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.View(ctx, func(tx store.Tx) error {
		o, err := tx.GetOrder(oid)
		if err != nil {
			return err
		}
		if o.FailureReason != want || o.DeliveryState != want {
			t.Errorf("order text read back as %q / %q, want %q", o.FailureReason, o.DeliveryState, want)
		}
		ds, err := tx.ListWebhookDeliveries(1, 0, 1)
		if err != nil || len(ds) != 1 || ds[0].Error != want {
			t.Errorf("delivery error read back as %+v, %v", ds, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
