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
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// TestDerivedMemos: new orders get memos derived from their id (no memo
// index entry), found by lookup and by payment matching in any case; the key
// survives a new Shop over the same store; an order with a random, indexed
// memo (what an id beyond the derived code space gets) is found too.
func TestDerivedMemos(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	format := regexp.MustCompile(`^STARS-[0-9a-z]{6}$`)

	o := newOrder(t, env, p.ID)
	if !format.MatchString(o.PaymentMemo) || !o.MemoDerived {
		t.Fatalf("memo %q derived %v, want a derived STARS-xxxxxx", o.PaymentMemo, o.MemoDerived)
	}
	want, err := shop.DerivedMemo(ctx, env.Shop, "stars", o.ID)
	if err != nil || want != o.PaymentMemo {
		t.Fatalf("derived memo of id %d = %q (%v), order has %q", o.ID, want, err, o.PaymentMemo)
	}
	// bbolt keeps no index entry for it; the shop still finds it.
	if err := env.Store.View(ctx, func(tx store.Tx) error {
		_, err := tx.OrderByMemo(o.PaymentMemo)
		return err
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("store memo index lookup: %v, want not found (derived memos are not indexed)", err)
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

	// An order with a random memo, indexed (ids beyond the code space). The
	// next order still gets its derived memo, without a read: derived memos
	// of ids below the code space are never taken at random.
	var legacy domain.Order
	err = env.Store.Update(ctx, func(tx store.Tx) error {
		id, err := tx.NextOrderID()
		if err != nil {
			return err
		}
		exp := time.Now().Add(time.Hour)
		legacy = domain.Order{ID: id, PartnerID: p.ID, Status: domain.StatusPendingPayment, Type: "stars", StarsAmount: 100,
			RecipientUsername: "pandus", PriceNano: price100, PaymentMethod: domain.MethodTonMemo, PaymentCurrency: "TON",
			PaymentAddress: o.PaymentAddress, ExpiresAt: &exp, CreatedAt: time.Now()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	legacy.PaymentMemo = "STARS-r4nd0m"
	if err := env.Store.Update(ctx, func(tx store.Tx) error { l := legacy; return tx.CreateOrder(&l) }); err != nil {
		t.Fatal(err)
	}
	next := newOrder(t, env, p.ID)
	if next.ID != legacy.ID+1 {
		t.Fatalf("next order id %d, want %d", next.ID, legacy.ID+1)
	}
	if want, err := shop.DerivedMemo(ctx, env.Shop, "stars", next.ID); err != nil || next.PaymentMemo != want || !next.MemoDerived {
		t.Fatalf("order %d memo %q derived %v: want its derived memo %q (%v)", next.ID, next.PaymentMemo, next.MemoDerived, want, err)
	}
	for _, c := range []struct {
		memo string
		id   int64
	}{{legacy.PaymentMemo, legacy.ID}, {next.PaymentMemo, next.ID}, {o.PaymentMemo, o.ID}} {
		if got, err := env.Shop.OrderByMemo(ctx, p.ID, c.memo); err != nil || got.ID != c.id {
			t.Errorf("OrderByMemo(%s) = %v, %v; want order %d", c.memo, got, err, c.id)
		}
	}
	out, err = env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: price100,
		Comment: legacy.PaymentMemo, Incoming: true})
	if err != nil || out.OrderID != legacy.ID {
		t.Fatalf("payment by the legacy memo: %+v, %v; want order %d", out, err, legacy.ID)
	}
	var se *shop.Error
	if got, err := env.Shop.OrderByMemo(ctx, p.ID, "STARS-zzzzzz"); !errors.As(err, &se) || se.Code != shop.CodeNotFound {
		t.Errorf("unknown memo: %v, %v; want NOT_FOUND", got, err)
	}
	env.Check(t)
}
