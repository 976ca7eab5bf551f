package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
)

// Two instances of the service on one PostgreSQL with the Fragment provider
// (simulated chain with 2 s blocks, simulated Fragment): only the leader
// signs and settles the wallet's payments. The second instance starts while
// the leader's first batch is open and never follows it (a follower that
// did would record outcomes from its own view, the last write winning). The
// leader is then killed with SIGKILL while its next batch is open: the
// other instance takes the lead, follows the recorded batches and finishes
// the burst. Every order is delivered exactly once or refunded once, and
// the integrity check passes.
func TestFragmentPaymentsRunOnTheLeaderOnly(t *testing.T) {
	dsn := pgtest.DSN(t)
	const orders = 12
	w := newBurstWorld(t, t.TempDir(), 2*time.Second, fmt.Sprintf("{driver: postgres, dsn: %q}", dsn))
	a := w.start(t)
	apiA := w.client(a)
	waitLeader(t, apiA)

	ids := w.burst(t, a, apiA, 1, orders)
	a.waitLogged(t, "fragment: payment batch sent", 30*time.Second)
	b := w.start(t) // the batch just sent runs a block later and settles a block after
	apiB := w.client(b)
	w.waitFinal(t, a, apiB, ids, 1)
	if leaderOf(apiB) {
		t.Fatal("the second instance leads while the first runs")
	}
	for _, line := range []string{"fragment: following payment batches", "fragment: payment batch", "fragment: payment recorded"} {
		if n := b.logged(line); n > 0 {
			t.Fatalf("the follower logged %q %d times: it runs the payments", line, n)
		}
	}
	if a.logged("fragment: payment batch settled") == 0 {
		t.Fatal("the leader settled no batch")
	}

	// Hand-over: the leader dies with a batch open.
	sent := a.logged("fragment: payment batch sent")
	ids2 := w.burst(t, a, apiA, 2, orders)
	deadline := time.Now().Add(30 * time.Second)
	for a.logged("fragment: payment batch sent") == sent {
		if time.Now().After(deadline) {
			t.Fatal("no second batch sent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.kill(t)
	waitLeader(t, apiB)
	w.waitFinal(t, b, apiB, ids2, 2)
	if b.logged("fragment: following payment batches recorded before the restart") == 0 {
		t.Error("the new leader did not follow the batches the old one recorded")
	}
	b.stop(t)

	st, err := pg.Open(context.Background(), dsn, pg.Options{NoMigrate: true, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	completed, refunded := w.verify(t, st, append(ids, ids2...))
	t.Logf("two instances on PostgreSQL, leader killed with a batch open: %d completed, %d refunded, every payment on chain once", completed, refunded)
}

// waitLeader waits up to 20 s for the instance behind c to hold the leader lock.
func waitLeader(t *testing.T, c *client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !leaderOf(c) {
		if time.Now().After(deadline) {
			t.Fatal("the instance did not become the leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
