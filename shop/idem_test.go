package shop_test

import (
	"errors"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// TestIdempotencyKeyLifetime: an order created under a key is returned for
// the same key and body (and refused for another body) while the key lives;
// past IdempotencyTTL the key is free again, even before the sweep removed
// its record. With KeyChecked (the API) a taken key is ErrKeyTaken: the
// caller replays what the key holds.
func TestIdempotencyKeyLifetime(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, _ := env.Partner(t)
	req := func(fp string, checked bool) shop.OrderRequest {
		return shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100,
			IdempotencyKey: "k1", Fingerprint: fp, KeyChecked: checked}
	}
	first, err := env.Shop.CreateOrder(ctx, p.ID, req("a", false))
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.Shop.CreateOrder(ctx, p.ID, req("a", false))
	if err != nil || again.ID != first.ID {
		t.Fatalf("same key and body: %v, %v; want order %d", again, err, first.ID)
	}
	var se *shop.Error
	if _, err := env.Shop.CreateOrder(ctx, p.ID, req("b", false)); !errors.As(err, &se) || se.Code != shop.CodeIdempotencyReused {
		t.Fatalf("same key, another body: %v; want IDEMPOTENCY_KEY_REUSED", err)
	}
	if _, err := env.Shop.CreateOrder(ctx, p.ID, req("a", true)); !errors.Is(err, shop.ErrKeyTaken) {
		t.Fatalf("taken key with KeyChecked: %v; want ErrKeyTaken", err)
	}
	env.Clock.Advance(shop.IdempotencyTTL + time.Minute)
	later, err := env.Shop.CreateOrder(ctx, p.ID, req("b", true))
	if err != nil || later.ID == first.ID {
		t.Fatalf("key past its time: %v, %v; want a new order", later, err)
	}
	rec, err := env.Shop.IdemLookup(ctx, p.ID, "k1")
	if err != nil || rec == nil || rec.OrderID != later.ID || rec.Fingerprint != "b" {
		t.Fatalf("record after reuse: %+v, %v; want the new order's", rec, err)
	}
	env.Check(t)
}
