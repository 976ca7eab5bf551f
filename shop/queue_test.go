package shop_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// countingProvider delivers as the sandbox does and counts its calls per order.
type countingProvider struct {
	fulfil.Sandbox
	mu    sync.Mutex
	calls map[int64]int
}

func (p *countingProvider) Deliver(ctx context.Context, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error) {
	p.mu.Lock()
	p.calls[r.OrderID]++
	p.mu.Unlock()
	return p.Sandbox.Deliver(ctx, r, save)
}

func (p *countingProvider) callsOf() map[int64]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int64]int, len(p.calls))
	for id, n := range p.calls {
		out[id] = n
	}
	return out
}

// noSyncStore is a bbolt store without fsync: tests that make hundreds of
// orders run in a fraction of the time.
func noSyncStore(t testing.TB) *store.Bolt {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "openmoney.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// backOff makes paid orders look as a failed attempt leaves them:
// processing, one attempt made, the next one at `next`.
func backOff(t *testing.T, env *shoptest.Env, next time.Time, orders []*domain.Order) {
	t.Helper()
	err := env.Store.Update(ctx, func(tx store.Tx) error {
		for _, o := range orders {
			cur, err := tx.GetOrder(o.ID)
			if err != nil {
				return err
			}
			cur.Status, cur.DeliveryAttempts, cur.NextDeliveryAt = domain.StatusProcessing, 1, &next
			if err := tx.PutOrder(cur); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Issue 15 ("never stall"): 600 older orders backing off (next attempt in
// an hour: Fragment errors, a held wallet, an operator's recheck) do not
// keep a newer paid order from the next pass, and the pass asks the
// provider about none of them. Before the queue was ordered by due time
// the pass read the 500 oldest ids, found none due and delivered nothing.
func TestDeliveryPassNotStarvedByOrdersNotDue(t *testing.T) {
	env, prov, p, waiting := notDue600(t)
	newest := newOrder(t, env, p.ID)
	payOrder(t, env, newest)

	n, err := env.Shop.DeliverDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Shop.Order(ctx, p.ID, newest.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || got.Status != domain.StatusCompleted {
		t.Fatalf("one pass behind 600 orders not due: finished %d, the new order is %s; want 1, completed", n, got.Status)
	}
	if calls := prov.callsOf(); len(calls) != 1 || calls[newest.ID] != 1 {
		t.Fatalf("provider calls %v; want one, for order %d", calls, newest.ID)
	}

	// An hour later they are due, the oldest first; each is delivered once.
	env.Clock.Advance(time.Hour)
	for pass := 0; ; pass++ {
		if pass == 5 {
			t.Fatal("600 due orders not delivered in 5 passes")
		}
		if n, err := env.Shop.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		} else if n == 0 {
			break
		}
	}
	calls := prov.callsOf()
	for _, o := range append(waiting, newest) {
		if calls[o.ID] != 1 {
			t.Fatalf("order %d delivered %d times, want 1", o.ID, calls[o.ID])
		}
	}
	env.Check(t)
}

// notDue600 is a shop with 600 paid orders backing off for an hour.
func notDue600(t *testing.T) (*shoptest.Env, *countingProvider, *domain.Partner, []*domain.Order) {
	t.Helper()
	prov := &countingProvider{calls: map[int64]int{}}
	env := shoptest.New(t, shoptest.Options{Clock: true, Provider: prov, Store: noSyncStore(t)})
	p, _ := env.Partner(t)
	var waiting []*domain.Order
	for range 600 {
		o := newOrder(t, env, p.ID)
		payOrder(t, env, o)
		waiting = append(waiting, o)
	}
	backOff(t, env, env.Clock.Now().Add(time.Hour), waiting)
	return env, prov, p, waiting
}

// The running delivery loop (passes kicked by payments and deliveries, not
// waiting for slots) delivers a new paid order behind 600 not due.
func TestDeliveryLoopNotStarvedByOrdersNotDue(t *testing.T) {
	env, prov, p, _ := notDue600(t)
	env.Run(t)
	newest := newOrder(t, env, p.ID)
	payOrder(t, env, newest)
	// Behind the old scan the order waits forever: the deadline only
	// matters when something is broken (-race on a shared machine is slow).
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := env.Shop.Order(ctx, p.ID, newest.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == domain.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new order is still %s after a minute behind 600 orders not due", got.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if calls := prov.callsOf(); len(calls) != 1 || calls[newest.ID] != 1 {
		t.Fatalf("provider calls %v; want one, for order %d", calls, newest.ID)
	}
}

// holdingProvider holds every delivery (the wallet cannot pay); its orders
// are delivered by hand, so an operator can finish one.
type holdingProvider struct{ fulfil.Sandbox }

func (holdingProvider) DeliveredByOperator() bool { return true }

func (holdingProvider) Deliver(context.Context, fulfil.Request, fulfil.SaveFunc) (fulfil.Result, error) {
	return fulfil.Result{}, &fulfil.Hold{Reason: fulfil.HoldFunds, Detail: "the wallet is short", BalanceNano: 1, NeedNano: 2}
}

// Held orders are not due (their next attempt is HeldRetryEvery away), so
// the pass never reads them; it still drops the hold of an order finished
// by other means (here an operator) and keeps those still waiting.
func TestDeliveryPassDropsHoldsOfOrdersFinishedElsewhere(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true, Provider: holdingProvider{}})
	p, _ := env.Partner(t)
	a, b := newOrder(t, env, p.ID), newOrder(t, env, p.ID)
	payOrder(t, env, a)
	payOrder(t, env, b)
	if _, err := env.Shop.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	heldIDs := func() []int64 {
		var ids []int64
		rep, err := env.Shop.HeldReport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range rep.Held {
			ids = append(ids, d.OrderID)
		}
		return ids
	}
	if got := heldIDs(); len(got) != 2 || got[0] != a.ID || got[1] != b.ID {
		t.Fatalf("held after the first pass: %v, want [%d %d]", got, a.ID, b.ID)
	}
	if _, err := env.Shop.MarkDelivered(ctx, a.ID, shop.ManualMark{By: shop.Actor{Name: "ops"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heldIDs(); len(got) != 1 || got[0] != b.ID {
		t.Fatalf("held after a was marked delivered: %v, want [%d]", got, b.ID)
	}
	if sum := env.Shop.HeldDeliveries(); sum == nil || sum.Orders != 1 {
		t.Fatalf("hold summary %+v, want one order", sum)
	}
	env.Check(t)
}

// BenchmarkDeliveryPassNotDue is one pass of the delivery loop over 10 000
// queued orders none of which is due (backing off for an hour): what every
// pass costs while a burst waits out a Fragment outage.
func BenchmarkDeliveryPassNotDue(b *testing.B) {
	prov := &countingProvider{calls: map[int64]int{}}
	env := shoptest.New(b, shoptest.Options{Clock: true, Provider: prov, Store: noSyncStore(b)})
	p, _ := env.Partner(b)
	tmpl, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		b.Fatal(err)
	}
	now := env.Clock.Now()
	next := now.Add(time.Hour)
	err = env.Store.Update(ctx, func(tx store.Tx) error {
		for range 10_000 {
			o := *tmpl
			if o.ID, err = tx.NextOrderID(); err != nil {
				return err
			}
			o.Status, o.ExpiresAt, o.PaidAt, o.DeliveryAttempts, o.NextDeliveryAt = domain.StatusProcessing, nil, &now, 1, &next
			if err := tx.CreateOrder(&o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if n, err := env.Shop.DeliverDue(ctx); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
	b.StopTimer()
	if len(prov.callsOf()) != 0 {
		b.Fatal("a delivery ran: none is due")
	}
}

// BenchmarkOrderPaidAndDelivered is one order's writes through the
// delivery queue: created, paid (joins the queue), delivered by a pass
// (processing, then completed: leaves it), on bbolt without fsync so the
// index work is not hidden behind the disk.
func BenchmarkOrderPaidAndDelivered(b *testing.B) {
	env := shoptest.New(b, shoptest.Options{Clock: true, Store: noSyncStore(b)})
	p, _ := env.Partner(b)
	b.ReportAllocs()
	for b.Loop() {
		o, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: o.PriceNano,
			Comment: o.PaymentMemo, ChainTime: o.CreatedAt, Incoming: true}); err != nil {
			b.Fatal(err)
		}
		if n, err := env.Shop.DeliverDue(ctx); err != nil || n != 1 {
			b.Fatal(n, err)
		}
	}
}
