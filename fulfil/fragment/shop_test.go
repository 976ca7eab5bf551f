package fragment

import (
	"context"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// These tests run the real shop (bbolt, payment matching, delivery loop,
// refunds) with the Fragment provider against the fake Fragment server and
// the fake service wallet: the whole path an order takes in production.

var bg = context.Background()

func shopWithFragment(t *testing.T) (*shoptest.Env, *fakeFragment, *fakePayer, *Provider) {
	t.Helper()
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	st := testStore(t) // one store for the orders and the payment records, as in the service
	p := newTestProvider(t, srv.URL, payer, func(o *Options) { o.ConfirmTimeout = 100 * time.Millisecond; o.Records = shop.PayerRecords{Store: st} })
	env := shoptest.New(t, shoptest.Options{Clock: true, Provider: p, Store: st.(*store.Bolt)})
	return env, f, payer, p
}

func payAndDeliver(t *testing.T, env *shoptest.Env, o *domain.Order) *domain.Order {
	t.Helper()
	if _, err := env.Shop.ApplyTransfer(bg, ton.Transfer{Hash: hashFor(o.ID), To: o.PaymentAddress, AmountNano: o.PriceNano,
		Comment: o.PaymentMemo, ChainTime: o.CreatedAt, Incoming: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.DeliverDue(bg); err != nil {
		t.Fatal(err)
	}
	got, err := env.Shop.Order(bg, o.PartnerID, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func hashFor(id int64) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 64)
	for i := range b {
		b[i] = hexd[(int(id)+i)%16]
	}
	return string(b)
}

func TestShopOrdersCompleteThroughFragment(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  shop.OrderRequest
	}{
		{"stars", shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100}},
		{"premium", shop.OrderRequest{Kind: domain.KindPremium, RecipientUsername: "bob_premium", Months: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, f, payer, _ := shopWithFragment(t)
			p, _ := env.Partner(t)
			o, _, err := env.Shop.CreateOrder(bg, p.ID, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got := payAndDeliver(t, env, o)
			if got.Status != domain.StatusCompleted || got.DeliveryRef == "" || got.DeliveryTxHash == "" {
				t.Fatalf("order %s ref %q tx %q", got.Status, got.DeliveryRef, got.DeliveryTxHash)
			}
			checkSentEqualsLink(t, f, payer, got.DeliveryRef)
			env.Shop.DeliverDue(bg) // nothing left to do: no second payment
			if payer.sentCount() != 1 {
				t.Fatalf("%d payments", payer.sentCount())
			}
			env.Check(t)
		})
	}
}

func TestShopCrashAfterSendResumesWithoutSecondPayment(t *testing.T) {
	env, _, payer, prov := shopWithFragment(t)
	p, _ := env.Partner(t)
	o, _, err := env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	// The payment is broadcast but not confirmed before the provider gives
	// up waiting: like a crash after sending, the order stays processing
	// with its payment recorded in a batch.
	payer.mu.Lock()
	payer.pending = 1 << 30
	payer.mu.Unlock()
	got := payAndDeliver(t, env, o)
	if ms := records(t, prov, o.ID); got.Status != domain.StatusProcessing || len(ms) != 1 || ms[0].Outcome != "" || payer.sentCount() != 1 {
		t.Fatalf("after the first attempt: %s, records %+v, %d sent", got.Status, ms, payer.sentCount())
	}
	payer.mu.Lock()
	payer.pending = 0
	payer.mu.Unlock()
	env.Clock.Advance(time.Hour)
	if _, err := env.Shop.DeliverDue(bg); err != nil {
		t.Fatal(err)
	}
	got, _ = env.Shop.Order(bg, p.ID, o.ID)
	if got.Status != domain.StatusCompleted || payer.sentCount() != 1 {
		t.Fatalf("resumed: %s with %d payments; want completed with 1", got.Status, payer.sentCount())
	}
	env.Check(t)
}

func TestShopFragmentFailureRefunds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fakeFragment, p *fakePayer)
	}{
		{"recipient gone at init", func(f *fakeFragment, _ *fakePayer) { f.initError = "No Telegram users found." }},
		{"price changed", func(f *fakeFragment, _ *fakePayer) { f.initError = "Price was changed, please try again." }},
		{"link error", func(f *fakeFragment, _ *fakePayer) { f.linkError = "Request expired" }},
		{"bounced payment", func(_ *fakeFragment, p *fakePayer) { p.final = StatusBounced }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, f, payer, _ := shopWithFragment(t)
			p, _ := env.Partner(t)
			o, _, err := env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
			if err != nil {
				t.Fatal(err)
			}
			f.set(func(f *fakeFragment) {})
			payer.mu.Lock()
			tc.setup(f, payer)
			payer.mu.Unlock()
			got := payAndDeliver(t, env, o)
			bal, _ := env.Shop.Balance(bg, p.ID)
			if got.Status != domain.StatusRefunded || got.FailureReason == "" || bal.Nano != o.PriceNano {
				t.Fatalf("%s (%q), balance %d; want refunded with %d back", got.Status, got.FailureReason, bal.Nano, o.PriceNano)
			}
			env.Check(t)
		})
	}
}

func TestShopExpiredSessionRefusesNewOrdersAndRetriesWaitingOnes(t *testing.T) {
	env, f, payer, prov := shopWithFragment(t)
	p, _ := env.Partner(t)
	o, _, err := env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeFragment) { f.sessionMode = "error" })
	got := payAndDeliver(t, env, o)
	if got.Status != domain.StatusProcessing || payer.sentCount() != 0 {
		t.Fatalf("with a dead session: %s, %d sent; want processing, nothing paid", got.Status, payer.sentCount())
	}
	_, _, err = env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
	if shop.ErrorCode(err) != shop.CodeServiceUnavailable {
		t.Fatalf("new order with a dead session: %v; want SERVICE_UNAVAILABLE", err)
	}
	if h := env.Shop.Health(bg); h.Status != "degraded" {
		t.Fatalf("health %s; want degraded", h.Status)
	}
	f.set(func(f *fakeFragment) { f.sessionMode = ""; f.users["durov"] = true })
	if err := prov.Probe(bg); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour)
	env.Shop.DeliverDue(bg)
	got, _ = env.Shop.Order(bg, p.ID, o.ID)
	if got.Status != domain.StatusCompleted || payer.sentCount() != 1 {
		t.Fatalf("after recovery: %s, %d sent", got.Status, payer.sentCount())
	}
	if _, _, err := env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100}); err != nil {
		t.Fatalf("new order after recovery: %v", err)
	}
	env.Check(t)
}
