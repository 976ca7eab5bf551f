package shop_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil/manual"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// paidManual returns a manual-provider shop and an order the delivery loop
// has handed over (processing, waiting for the operator).
func paidManual(t *testing.T, rec *recorder) (*shoptest.Env, *domain.Partner, *domain.Order) {
	t.Helper()
	opt := shoptest.Options{Provider: manual.Provider{}, Clock: true}
	if rec != nil {
		opt.Observer = rec
	}
	env := shoptest.New(t, opt)
	p, _ := env.Partner(t)
	o := newOrder(t, env, p.ID)
	payOrder(t, env, o)
	for range 2 { // the loop hands it over once and leaves it waiting
		if n, err := env.Shop.DeliverDue(ctx); err != nil || n != 0 {
			t.Fatalf("deliver: %d %v", n, err)
		}
	}
	o, _ = env.Shop.Order(ctx, p.ID, o.ID)
	if o.Status != domain.StatusProcessing || o.DeliveryAttempts != 1 || o.NextDeliveryAt == nil {
		t.Fatalf("a paid order with the manual provider: %+v", o)
	}
	return env, p, o
}

// markConcurrently runs mark 8 times at once and returns the winners' orders;
// every loser must get NOT_AWAITING_DELIVERY.
func markConcurrently(t *testing.T, mark func() (*domain.Order, error)) []*domain.Order {
	t.Helper()
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []*domain.Order
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := mark()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, o)
			case shop.ErrorCode(err) != shop.CodeNotAwaitingDelivery:
				t.Errorf("a losing mark: %v, want NOT_AWAITING_DELIVERY", err)
			}
		}()
	}
	wg.Wait()
	return won
}

func TestManualMarkDeliveredExactlyOnce(t *testing.T) {
	rec := &recorder{}
	env, p, o := paidManual(t, rec)
	won := markConcurrently(t, func() (*domain.Order, error) {
		return env.Shop.MarkDelivered(ctx, o.ID, shop.ManualMark{By: shop.Actor{Name: "dana", Remote: "192.0.2.9"}, Reference: "fragment tx 9c1e"})
	})
	if len(won) != 1 {
		t.Fatalf("%d of 8 concurrent marks succeeded, want exactly 1", len(won))
	}
	got := won[0]
	if got.Status != domain.StatusCompleted || got.CompletedAt == nil || got.DeliveryRef != "manual: fragment tx 9c1e" || got.NextDeliveryAt != nil {
		t.Fatalf("marked order %+v", got)
	}
	if _, _, err := env.Shop.MarkFailed(ctx, o.ID, shop.ManualMark{Reason: "too late"}); shop.ErrorCode(err) != shop.CodeNotAwaitingDelivery {
		t.Fatalf("fail after delivered: %v", err)
	}
	log, _ := env.Shop.AuditLog(ctx, 0, 10)
	if len(log) != 1 || log[0].Action != shop.AuditMarkDelivered || log[0].Actor != "dana" || log[0].Remote != "192.0.2.9" ||
		log[0].OrderID != o.ID || log[0].PartnerID != p.ID || log[0].Detail != "fragment tx 9c1e" {
		t.Fatalf("audit %+v", log)
	}
	events, _ := rec.snapshot()
	if n := strings.Count(strings.Join(events, " "), "delivery:completed"); n != 1 {
		t.Fatalf("events %q", events)
	}
	// the loop leaves it alone from now on
	if _, err := env.Shop.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := env.Shop.Order(ctx, p.ID, o.ID); again.Status != domain.StatusCompleted {
		t.Fatalf("after the loop: %s", again.Status)
	}
	mustCheck(t, env)
}

func TestManualMarkFailedRefundsOnce(t *testing.T) {
	env, p, o := paidManual(t, nil)
	if _, _, err := env.Shop.MarkFailed(ctx, o.ID, shop.ManualMark{}); shop.ErrorCode(err) != shop.CodeValidation {
		t.Fatalf("no reason: %v", err)
	}
	won := markConcurrently(t, func() (*domain.Order, error) {
		o, _, err := env.Shop.MarkFailed(ctx, o.ID, shop.ManualMark{Reason: "recipient has no\nTelegram account"})
		return o, err
	})
	if len(won) != 1 {
		t.Fatalf("%d of 8 concurrent marks succeeded, want exactly 1", len(won))
	}
	// failure_reason: the stable code, then the operator's reason on one line.
	if got := won[0]; got.Status != domain.StatusRefunded || got.FailureReason != "operator_failed: recipient has no Telegram account" || got.RefundLedgerID == 0 {
		t.Fatalf("marked order %+v", got)
	}
	if bal, _ := env.Shop.Balance(ctx, p.ID); bal.Nano != o.PriceNano {
		t.Fatalf("balance %d, want the price refunded once (%d)", bal.Nano, o.PriceNano)
	}
	if got := ledgerTypes(t, env, p.ID); len(got) != 1 || got[0] != "refund:437500000" {
		t.Fatalf("ledger %v", got)
	}
	if _, err := env.Shop.MarkDelivered(ctx, o.ID, shop.ManualMark{}); shop.ErrorCode(err) != shop.CodeNotAwaitingDelivery {
		t.Fatalf("deliver after failed: %v", err)
	}
	log, _ := env.Shop.AuditLog(ctx, 0, 10)
	if len(log) != 1 || log[0].Action != shop.AuditMarkFailed || log[0].Actor != "admin" || log[0].LedgerID != won[0].RefundLedgerID {
		t.Fatalf("audit %+v", log)
	}
	mustCheck(t, env)
}

func TestManualMarkRules(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Provider: manual.Provider{}})
	p, _ := env.Partner(t)
	pending := newOrder(t, env, p.ID)
	if _, err := env.Shop.MarkDelivered(ctx, pending.ID, shop.ManualMark{}); shop.ErrorCode(err) != shop.CodeNotAwaitingDelivery ||
		!strings.Contains(err.Error(), "pending_payment") {
		t.Fatalf("unpaid order: %v", err)
	}
	if _, err := env.Shop.MarkDelivered(ctx, 999, shop.ManualMark{}); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("unknown order: %v", err)
	}
	if _, err := env.Shop.MarkDelivered(ctx, pending.ID, shop.ManualMark{By: shop.Actor{Name: "a\x00b"}}); shop.ErrorCode(err) != shop.CodeValidation {
		t.Fatalf("bad operator name: %v", err)
	}
	// paid, not yet picked up by the loop: marked directly
	paid := newOrder(t, env, p.ID)
	payOrder(t, env, paid)
	if o, err := env.Shop.MarkDelivered(ctx, paid.ID, shop.ManualMark{}); err != nil || o.Status != domain.StatusCompleted || o.DeliveryRef != "manual" {
		t.Fatalf("paid order: %+v %v", o, err)
	}
	// pending deliveries: the operator's list
	waiting := newOrder(t, env, p.ID)
	payOrder(t, env, waiting)
	list, err := env.Shop.PendingDeliveries(ctx, 0, 0)
	if err != nil || len(list) != 1 || list[0].ID != waiting.ID {
		t.Fatalf("pending deliveries %+v %v", list, err)
	}
	mustCheck(t, env)

	// another provider's orders are never marked by hand
	auto := shoptest.New(t, shoptest.Options{})
	q, _ := auto.Partner(t)
	o := newOrder(t, auto, q.ID)
	payOrder(t, auto, o)
	if _, err := auto.Shop.MarkDelivered(ctx, o.ID, shop.ManualMark{}); shop.ErrorCode(err) != shop.CodeNotAwaitingDelivery {
		t.Fatalf("sandbox provider: %v", err)
	}
	if got, _ := auto.Shop.Order(ctx, q.ID, o.ID); got.Status != domain.StatusPaid {
		t.Fatalf("order %s", got.Status)
	}
}
