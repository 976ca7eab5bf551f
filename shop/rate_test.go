package shop_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// With a live rate the price is still exact to the nanoton, each order keeps
// the rate it was priced with, and a stale rate refuses to price (503).
func TestLiveRatePricingAndStaleness(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Write([]byte(`{"the-open-network":{"usd":3.6}}`))
	}))
	defer srv.Close()
	clock := shoptest.NewClock(time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC))
	live := pricing.NewLive(pricing.LiveOptions{URL: srv.URL, Now: clock.Now})
	if err := live.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "om.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := ton.NewKeys(shoptest.Seed, "v4r2", ton.NetworkSandbox)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shop.New(shop.Deps{Config: config.Default(), Store: st, Keys: keys, Provider: fulfil.Sandbox{}, Rates: live, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreatePartner(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.Estimate(ctx, domain.KindStars, 100)
	if err != nil || q.PriceNano != 437500000 || q.TonUSD != "3.6" || q.RateSource != "coingecko" {
		t.Fatalf("estimate %+v, %v", q, err)
	}
	o, _, err := s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil || o.PriceNano != 437500000 || o.TonUSD != "3.6" {
		t.Fatalf("order %+v, %v", o, err)
	}
	// The source fails: the last good rate serves until it is 10 minutes old.
	failing.Store(true)
	clock.Advance(9 * time.Minute)
	if err := live.Refresh(ctx); err == nil {
		t.Fatal("refresh from a failing source succeeded")
	}
	if _, err := s.Estimate(ctx, domain.KindStars, 100); err != nil {
		t.Fatalf("last good rate not used: %v", err)
	}
	clock.Advance(2 * time.Minute)
	if _, err := s.Estimate(ctx, domain.KindStars, 100); shop.ErrorCode(err) != shop.CodeServiceUnavailable {
		t.Fatalf("stale estimate: %v; want SERVICE_UNAVAILABLE", err)
	}
	if _, _, err := s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100}); shop.ErrorCode(err) != shop.CodeServiceUnavailable {
		t.Fatalf("order with a stale rate: %v; want SERVICE_UNAVAILABLE", err)
	}
	failing.Store(false)
	if err := live.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Estimate(ctx, domain.KindStars, 100); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}
