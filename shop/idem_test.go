package shop_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

// TestIdempotencyKeyContract: the shop's "create order with this key". The
// same key and the same order (after validation: "@pandus" is "pandus") get
// the order as it was created, replayed, even once it is paid; another order
// is IDEMPOTENCY_KEY_REUSED; a key holding an answer that is not an order's
// is ErrKeyTaken; past IdempotencyTTL the key is free again, even before
// the sweep removed its record.
func TestIdempotencyKeyContract(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, _ := env.Partner(t)
	req := func(user string, qty int64) shop.OrderRequest {
		return shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: user, Quantity: qty, IdempotencyKey: "k1"}
	}
	first, replayed, err := env.Shop.CreateOrder(ctx, p.ID, req("pandus", 100))
	if err != nil || replayed {
		t.Fatalf("first: %v, replayed %v", err, replayed)
	}
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: first.PaymentAddress, AmountNano: first.PriceNano,
		Comment: first.PaymentMemo, Incoming: true}); err != nil {
		t.Fatal(err)
	}
	again, replayed, err := env.Shop.CreateOrder(ctx, p.ID, req("@pandus", 100))
	if err != nil || !replayed || !reflect.DeepEqual(again, first) {
		t.Fatalf("same key and order, once paid: %+v, replayed %v, %v; want the order as created %+v", again, replayed, err, first)
	}
	var se *shop.Error
	if _, _, err := env.Shop.CreateOrder(ctx, p.ID, req("pandus", 200)); !errors.As(err, &se) || se.Code != shop.CodeIdempotencyReused {
		t.Fatalf("same key, another order: %v; want IDEMPOTENCY_KEY_REUSED", err)
	}
	if err := env.Shop.IdemSave(ctx, domain.IdemRecord{PartnerID: p.ID, Key: "k2", Fingerprint: "http", Status: 422, Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus",
		Quantity: 100, IdempotencyKey: "k2"}); !errors.Is(err, shop.ErrKeyTaken) {
		t.Fatalf("key holding another answer: %v; want ErrKeyTaken", err)
	}
	env.Clock.Advance(shop.IdempotencyTTL + time.Minute)
	later, replayed, err := env.Shop.CreateOrder(ctx, p.ID, req("pandus", 200))
	if err != nil || replayed || later.ID == first.ID {
		t.Fatalf("key past its time: %v, replayed %v, %v; want a new order", later, replayed, err)
	}
	rec, err := env.Shop.IdemLookup(ctx, p.ID, "k1")
	if err != nil || rec == nil || rec.OrderID != later.ID {
		t.Fatalf("record after reuse: %+v, %v; want the new order's", rec, err)
	}
	env.Check(t)
}
