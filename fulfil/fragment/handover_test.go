package fragment

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
)

// Two pipelines over one store, as during a leader hand-over on
// PostgreSQL: the leader's view settles a payment as paid; the other
// instance, which loaded the batch while it was open, sees it from a view
// that says the batch never ran. Its "unpaid" is refused by the store, it
// takes the leader's outcome instead, and the order completes from it:
// nothing is paid a second time.
func TestSecondWriterCannotOverwriteAPaidOutcome(t *testing.T) {
	f, srv := newFakeFragment(t)
	leaderView := newFakePayer()
	leaderView.pending = 1 << 30 // sent; not settled until released
	p1 := newTestProvider(t, srv.URL, leaderView, func(o *Options) { o.ConfirmTimeout = 20 * time.Millisecond })
	_, err := p1.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("first Deliver: err = %v, want a transient error (payment in flight)", err)
	}
	// The other instance: a wallet view that does not know the batch (it
	// would call it expired: unpaid), failing until the leader settled.
	staleView := newFakePayer()
	staleView.lookErr = 1 << 30
	p2 := newTestProvider(t, srv.URL, staleView, func(o *Options) { o.Records = shop.PayerRecords{Store: storeOf(p1)} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p2.RunPayments(ctx) }()
	waitFor(t, "the second pipeline to load the open batch", func() bool {
		_, st := p2.PaymentsHealth()
		return st.(PaymentsStatus).OpenBatches == 1
	})

	leaderView.mu.Lock()
	leaderView.pending = 0
	leaderView.mu.Unlock()
	waitFor(t, "the leader to record paid", func() bool {
		ms := records(t, p1, 7)
		return len(ms) == 1 && ms[0].Outcome == domain.PaymentPaid
	})
	staleView.mu.Lock()
	staleView.lookErr = 0
	staleView.mu.Unlock()
	waitFor(t, "the second pipeline to take the stored outcome", func() bool {
		_, st := p2.PaymentsHealth()
		return st.(PaymentsStatus).OpenBatches == 0
	})
	staleView.mu.Lock()
	looked := staleView.lookups
	staleView.mu.Unlock()
	if looked == 0 {
		t.Fatal("the second pipeline never looked the batch up")
	}
	if ms := records(t, p1, 7); len(ms) != 1 || ms[0].Outcome != domain.PaymentPaid {
		t.Fatalf("records after the second writer: %+v; want the leader's paid", ms)
	}
	// The order is delivered from the paid record by the second instance
	// (the new leader), without a new Fragment request or payment.
	res, err := p2.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
	if err != nil || res.ProviderRef != "req0001XyZ" {
		t.Fatalf("Deliver on the second instance: %+v, %v", res, err)
	}
	if n := f.count("initBuyStarsRequest"); n != 1 || staleView.sentCount() != 0 || leaderView.sentCount() != 1 {
		t.Fatalf("%d Fragment requests, %d + %d payments; want 1 and 1 + 0", n, leaderView.sentCount(), staleView.sentCount())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunPayments: %v", err)
	}
	if _, st := p2.PaymentsHealth(); st.(PaymentsStatus).OpenBatches != 0 || p2.pipe.Load() != nil {
		t.Fatal("the pipeline still runs after RunPayments returned")
	}
}
