package shop_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// gatedProvider delivers many orders at once (fulfil.Concurrent): each
// delivery waits at the gate; it records how many run at once and whether
// one order ever ran twice at the same time.
type gatedProvider struct {
	fulfil.Sandbox
	limit int
	gate  chan struct{}

	mu       sync.Mutex
	running  map[int64]bool
	now, max int
	twice    bool
	calls    int
}

func (p *gatedProvider) MaxConcurrent() int { return p.limit }

func (p *gatedProvider) Deliver(ctx context.Context, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error) {
	p.mu.Lock()
	p.calls++
	p.twice = p.twice || p.running[r.OrderID]
	p.running[r.OrderID] = true
	p.now++
	p.max = max(p.max, p.now)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.running, r.OrderID)
		p.now--
		p.mu.Unlock()
	}()
	select {
	case <-p.gate:
	case <-ctx.Done():
		return fulfil.Result{}, ctx.Err()
	}
	return p.Sandbox.Deliver(ctx, r, save)
}

// The delivery loop runs up to the provider's MaxConcurrent deliveries at
// once, never one order twice at the same time, and one slow delivery holds
// up none of the others.
func TestDeliveriesRunConcurrentlyUpToTheProvidersBound(t *testing.T) {
	prov := &gatedProvider{limit: 8, gate: make(chan struct{}), running: map[int64]bool{}}
	env := shoptest.New(t, shoptest.Options{Provider: prov})
	p, _ := env.Partner(t)
	var orders []*domain.Order
	for range 20 {
		o := newOrder(t, env, p.ID)
		payOrder(t, env, o)
		orders = append(orders, o)
	}
	env.Run(t)
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitUntil("8 deliveries at once", func() bool { prov.mu.Lock(); defer prov.mu.Unlock(); return prov.now == 8 })
	time.Sleep(50 * time.Millisecond) // the loop keeps passing; nothing more starts
	prov.mu.Lock()
	if prov.max != 8 || prov.calls != 8 {
		t.Fatalf("%d running at most, %d calls; want 8 and 8", prov.max, prov.calls)
	}
	prov.mu.Unlock()
	for range 20 {
		prov.gate <- struct{}{}
	}
	waitUntil("every order completed", func() bool {
		for _, o := range orders {
			got, _ := env.Shop.Order(ctx, p.ID, o.ID)
			if got.Status != domain.StatusCompleted {
				return false
			}
		}
		return true
	})
	prov.mu.Lock()
	defer prov.mu.Unlock()
	if prov.twice || prov.max > 8 || prov.calls != 20 {
		t.Fatalf("twice %v, max %d, calls %d", prov.twice, prov.max, prov.calls)
	}
	env.Check(t)
}
