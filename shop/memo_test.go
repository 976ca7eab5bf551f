package shop_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

// TestDerivedMemos: orders get memos derived from their id (no store
// index), found by lookup and by payment matching in any case; the key
// survives a new Shop over the same store; a memo no order holds (another
// kind's prefix on a real code, an unknown code) is not found.
func TestDerivedMemos(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	format := regexp.MustCompile(`^STARS-[0-9a-z]{6}$`)

	o := newOrder(t, env, p.ID)
	if !format.MatchString(o.PaymentMemo) {
		t.Fatalf("memo %q, want a derived STARS-xxxxxx", o.PaymentMemo)
	}
	want, err := shop.DerivedMemo(ctx, env.Shop, "stars", o.ID)
	if err != nil || want != o.PaymentMemo {
		t.Fatalf("derived memo of id %d = %q (%v), order has %q", o.ID, want, err, o.PaymentMemo)
	}
	if got, err := env.Shop.OrderByMemo(ctx, p.ID, " "+strings.ToUpper(o.PaymentMemo)+"\n"); err != nil || got.ID != o.ID {
		t.Fatalf("OrderByMemo = %v, %v; want order %d", got, err, o.ID)
	}

	// A second Shop over the same store reads the key from the store.
	again, err := shop.New(shop.Deps{Config: env.Config, Store: env.Store, Keys: env.Keys, Chain: env.Sandbox, Sandbox: env.Sandbox,
		Provider: fulfil.Sandbox{}, Rates: pricing.NewFixed(string(env.Config.Pricing.TonUSD), time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.OrderByMemo(ctx, p.ID, o.PaymentMemo); err != nil || got.ID != o.ID {
		t.Fatalf("new shop: OrderByMemo = %v, %v; want order %d", got, err, o.ID)
	}
	out, err := again.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: o.PriceNano,
		Comment: strings.ToUpper(o.PaymentMemo), Incoming: true})
	if err != nil || out.Kind != domain.SeenOrder || out.OrderID != o.ID {
		t.Fatalf("payment by derived memo: %+v, %v; want credited to order %d", out, err, o.ID)
	}

	next := newOrder(t, env, p.ID)
	if want, err := shop.DerivedMemo(ctx, env.Shop, "stars", next.ID); err != nil || next.PaymentMemo != want {
		t.Fatalf("order %d memo %q: want its derived memo %q (%v)", next.ID, next.PaymentMemo, want, err)
	}
	var se *shop.Error
	for _, memo := range []string{"STARS-zzzzzz", "PREMIUM-" + strings.TrimPrefix(next.PaymentMemo, "STARS-")} {
		if got, err := env.Shop.OrderByMemo(ctx, p.ID, memo); !errors.As(err, &se) || se.Code != shop.CodeNotFound {
			t.Errorf("memo %s: %v, %v; want NOT_FOUND", memo, got, err)
		}
	}
	env.Check(t)
}
