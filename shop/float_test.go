package shop_test

import (
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// The TON float: the service wallet's TON against what the paid orders
// awaiting delivery will cost at Fragment (USDT orders included: delivery
// is paid in TON). /health shows the last reading and degrades while the
// wallet is short; without a reading (sandbox: no wallet reader) it shows
// nothing.
func TestTONFloatInHealth(t *testing.T) {
	sandbox := shoptest.New(t, shoptest.Options{})
	if h := sandbox.Shop.Health(ctx); h.TONFloat != nil || sandbox.Shop.RefreshTONFloat(ctx) != nil {
		t.Fatalf("sandbox float %+v", h.TONFloat)
	}

	k := newAlertEnv(t, alertConfig(), "")
	env := k.env
	if h := env.Shop.Health(ctx); h.TONFloat != nil {
		t.Fatalf("a float before any reading: %+v", h.TONFloat)
	}
	p, _ := env.Partner(t)
	o := shoptest.PaidUSDTOrder(t, env, p, "pandus", 10_000)
	// 10000 stars: 157.5 USD at 3.6 USD/TON = 43.75 TON; without the 5 % fee
	// 41.666666666… TON, rounded up to the nanoton.
	const cost = 41_666_666_667
	if o.PriceNano != 43_750_000_000 {
		t.Fatalf("price %d", o.PriceNano)
	}
	f := env.Shop.RefreshTONFloat(ctx)
	if f == nil || f.WalletNano != 1000*tonN || f.OwedDeliveryNano != cost || f.OwedOrders != 1 || f.ShortfallNano != 0 {
		t.Fatalf("float %+v", f)
	}
	if h := env.Shop.Health(ctx); h.TONFloat == nil || *h.TONFloat != *f || h.Status != "ok" {
		t.Fatalf("health %s, float %+v", h.Status, h.TONFloat)
	}
	rep, err := env.Shop.HeldReport(ctx)
	if err != nil || rep.OwedDeliveryNano != cost || rep.OwedOrdersNano != o.PriceNano ||
		rep.OwedUSDTOrders != 1 || rep.OwedOrdersUSDTUnits != o.PriceUSDT || rep.OwedBalancesUSDTUnits != 0 {
		t.Fatalf("held report %+v %v", rep, err)
	}

	k.Wallet.Set(10 * tonN)
	if f := env.Shop.RefreshTONFloat(ctx); f.WalletNano != 1000*tonN {
		t.Fatalf("read again within a minute: %+v", f) // the reading is kept walletTTL
	}
	env.Clock.Advance(2 * time.Minute)
	f = env.Shop.RefreshTONFloat(ctx)
	if f.WalletNano != 10*tonN || f.ShortfallNano != cost-10*tonN {
		t.Fatalf("short float %+v", f)
	}
	if h := env.Shop.Health(ctx); h.Status != "degraded" || h.TONFloat.ShortfallNano != cost-10*tonN {
		t.Fatalf("health %s, float %+v", h.Status, h.TONFloat)
	}
}
