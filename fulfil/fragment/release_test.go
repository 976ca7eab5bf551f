package fragment

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/metrics"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// lateProvider lets the shop be built before the provider that keeps its
// payment records in the shop's store (as main wires them).
type lateProvider struct{ *Provider }

// shopSharingTheStore is shopWithWalletPayer with the provider's payment
// records in the shop's own store.
func shopSharingTheStore(t *testing.T) *walletShop {
	t.Helper()
	ws := &walletShop{}
	now := func() time.Time { return ws.clk.Now() }
	f, srv := newFakeFragment(t)
	ws.f = f
	ws.f.set(func(f *fakeFragment) { f.now = now })
	w := testWallet(t, wallet.V4R2)
	ws.chain = newFakeChain(t, w.Address())
	var err error
	ws.wp, err = NewWalletPayer(w, ws.chain, WalletPayerOptions{PollInterval: time.Millisecond, Now: now, BounceWindow: -1})
	if err != nil {
		t.Fatal(err)
	}
	late := &lateProvider{}
	ws.m = metrics.New()
	ws.env = shoptest.New(t, shoptest.Options{Clock: true, Provider: late, Observer: ws.m})
	ws.clk = ws.env.Clock
	ws.prov = newTestProvider(t, srv.URL, ws.wp, func(o *Options) {
		o.Now, o.ConfirmTimeout, o.ResendAfter, o.Records = now, time.Minute, time.Hour, shop.PayerRecords{Store: ws.env.Store}
	})
	late.Provider = ws.prov
	ws.clk.Advance(time.Since(ws.clk.Now())) // tonutils-go stamps valid_until from the real clock
	ws.chain.set(func(c *fakeChain) { c.now = now; c.commit() })
	ws.m.WatchHolds(ws.env.Shop.HeldDeliveries)
	return ws
}

// Another signer takes the seqno of a batch: its order is held
// (wallet_used_elsewhere) and so is every other order — no Fragment link, no
// payment — visibly (health, held report, metric), until an operator
// releases the batch. Released naming the order as paid by that other
// message: completed without a new payment. Released naming none: paid
// again, once, with a fresh link. The other order is paid once either way.
func TestShopReleasesABatchAnotherSignerDisplaced(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delivered bool
	}{{"the other message paid it", true}, {"the other message paid something else", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ws := shopSharingTheStore(t)
			p, _ := ws.env.Partner(t)
			o, _, err := ws.env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
			if err != nil {
				t.Fatal(err)
			}
			sent := ws.sendLost(t, o)
			ws.chain.set(func(c *fakeChain) { c.execute = true })
			other, err := NewWalletPayer(testWallet(t, wallet.V4R2), ws.chain, WalletPayerOptions{PollInterval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			m := testMessage(t)
			m.AmountNano = 1_000_000
			if s, err := sendOne(t, other, m); err != nil || s.Seqno != sent.Seqno {
				t.Fatalf("the other message: %+v, %v", s, err)
			}
			ws.clk.Advance(10 * time.Minute) // the order's retry is due
			ws.deliver(t)
			if got := ws.order(t, o); got.Status != domain.StatusProcessing {
				t.Fatalf("order %s (%s); want processing, held", got.Status, got.FailureReason)
			}
			h := ws.env.Shop.Health(bg)
			if h.Status != "degraded" || h.DeliveriesHeld == nil || h.DeliveriesHeld.ByReason[fulfil.HoldWalletElsewhere] != 1 ||
				!strings.Contains(h.DeliveriesHeld.WalletDetail, "did not sign took the service wallet's seqno 5") ||
				!strings.Contains(h.DeliveriesHeld.Action, "stop the other signer") {
				t.Fatalf("health %s %+v; want degraded with one wallet_used_elsewhere hold", h.Status, h.DeliveriesHeld)
			}
			if v := gauge(t, ws.m, "openmoney_delivery_held_orders", "reason", fulfil.HoldWalletElsewhere); v != 1 {
				t.Fatalf("held_orders{wallet_used_elsewhere} = %v", v)
			}
			o2, _, err := ws.env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "carol_sub", Quantity: 200})
			if err != nil {
				t.Fatal(err)
			}
			if got := payAndDeliver(t, ws.env, o2); got.Status != domain.StatusProcessing {
				t.Fatalf("another order: %s; want processing, held", got.Status)
			}
			if n := ws.f.count("initBuyStarsRequest"); n != 1 || paymentsOnChain(ws.chain) != 1 {
				t.Fatalf("%d Fragment requests, %d payments on chain; want 1 (the first order's) and 1 (the other signer's)", n, paymentsOnChain(ws.chain))
			}
			rep, err := ws.env.Shop.HeldReport(bg)
			if err != nil || len(rep.Held) != 2 || rep.Held[0].Reason != fulfil.HoldWalletElsewhere || rep.Held[1].Reason != fulfil.HoldWalletElsewhere {
				t.Fatalf("held report %+v, %v", rep.Held, err)
			}
			ws.env.Check(t)

			batchID := records(t, ws.prov, o.ID)[0].BatchID
			if _, err := ws.env.Shop.ReleaseBatch(bg, shop.BatchRelease{BatchID: batchID, Note: "seen"}); err == nil {
				t.Fatal("released without delivered_orders")
			}
			rel := shop.BatchRelease{BatchID: batchID, Delivered: []int64{}, Note: "tx at seqno 5: our old staging box; stopped", By: shop.Actor{Name: "alice"}}
			if tc.delivered {
				rel.Delivered = []int64{o.ID}
			}
			res, err := ws.env.Shop.ReleaseBatch(bg, rel)
			if err != nil {
				t.Fatal(err)
			}
			if tc.delivered != (len(res.Delivered) == 1 && len(res.WillPay) == 0) || res.Seqno != 5 {
				t.Fatalf("release %+v", res)
			}
			var se *shop.Error
			if _, err := ws.env.Shop.ReleaseBatch(bg, rel); !errors.As(err, &se) || se.Code != shop.CodeNotReconcilable {
				t.Fatalf("a second release: %v; want NOT_RECONCILABLE", err)
			}
			if len(ws.prov.DisplacedBatches()) != 0 {
				t.Fatal("the provider still follows the released batch")
			}

			ws.clk.Advance(shop.HeldRetryEvery + time.Second)
			ws.tick(true)
			ws.deliver(t)
			ws.tick(false)
			for _, x := range []*domain.Order{o, o2} {
				if got := ws.order(t, x); got.Status != domain.StatusCompleted {
					t.Fatalf("order %d: %s (%s); want completed", x.ID, got.Status, got.FailureReason)
				}
			}
			wantPays, wantReqs := 3, 3 // the other signer's; the first order again, with a fresh link; the second
			if tc.delivered {
				wantPays, wantReqs = 2, 2
			}
			if n, r := paymentsOnChain(ws.chain), ws.f.count("initBuyStarsRequest"); n != wantPays || r != wantReqs {
				t.Fatalf("%d payments on chain, %d Fragment requests; want %d and %d", n, r, wantPays, wantReqs)
			}
			if h := ws.env.Shop.Health(bg); h.DeliveriesHeld != nil {
				t.Fatalf("hold left: %+v", h.DeliveriesHeld)
			}
			ws.env.Check(t)
		})
	}
}
