package pg_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil/manual"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
	"github.com/theopenmoney/openmoney/ton"
)

// Two instances over one database, each operator call sent to either: a
// parked transfer is resolved once and a manual delivery marked once, under
// 8 concurrent calls (serializable transactions: the losers re-run and see
// the winner's commit).
func TestParkedAndManualExactlyOnceOnPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	cfg := config.Default()
	cfg.Fulfillment.Provider = "manual"
	keys, err := ton.NewKeys(shoptest.Seed, "v4r2", ton.NetworkSandbox)
	if err != nil {
		t.Fatal(err)
	}
	var shops []*shop.Shop
	var st0 store.Store
	for i := range 2 {
		st, err := pg.Open(ctx, dsn, pg.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if i == 0 {
			st0 = st
		}
		s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: keys, Provider: manual.Provider{},
			Rates: pricing.NewFixed(string(cfg.Pricing.TonUSD), time.Now()), Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		shops = append(shops, s)
	}
	a, err := shops[0].CreatePartner(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := shops[0].CreatePartner(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	hash := func(n int) string { return fmt.Sprintf("%064x", 0xbeef00+n) }
	if _, err := shops[0].ApplyTransfer(ctx, ton.Transfer{Hash: hash(1), To: a.TopupAddress, AmountNano: 1e9, Incoming: true, ChainTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	out, err := shops[1].ApplyTransfer(ctx, ton.Transfer{Hash: hash(2), To: a.TopupAddress, AmountNano: math.MaxInt64, Incoming: true, ChainTime: time.Now()})
	if err != nil || out.Kind != domain.SeenParked {
		t.Fatalf("poison transfer: %+v %v", out, err)
	}
	if again, err := shops[0].ApplyTransfer(ctx, ton.Transfer{Hash: hash(2), To: a.TopupAddress, AmountNano: math.MaxInt64, Incoming: true}); err != nil ||
		!again.Replayed || again.ParkedID != out.ParkedID {
		t.Fatalf("replay on the other instance: %+v %v", again, err)
	}

	exactlyOnce := func(what string, call func(i int) error, loser shop.Code) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = call(i) }()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case shop.ErrorCode(err) != loser:
				t.Fatalf("%s: %v, want %s", what, err, loser)
			}
		}
		if ok != 1 {
			t.Fatalf("%s: %d of 8 succeeded, want exactly 1", what, ok)
		}
	}
	exactlyOnce("assign parked", func(i int) error {
		_, err := shops[i%2].AssignParked(ctx, out.ParkedID, shop.AssignTarget{PartnerID: b.ID, By: shop.Actor{Name: fmt.Sprint("op", i)}})
		return err
	}, shop.CodeAlreadyResolved)
	if bal, _ := shops[1].Balance(ctx, b.ID); bal.Nano != math.MaxInt64 {
		t.Fatalf("balance %d", bal.Nano)
	}

	o, _, err := shops[0].CreateOrder(ctx, a.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100,
		PaymentMethod: domain.MethodBalance})
	if err != nil {
		t.Fatal(err)
	}
	exactlyOnce("mark delivered", func(i int) error {
		_, err := shops[i%2].MarkDelivered(ctx, o.ID, shop.ManualMark{By: shop.Actor{Name: fmt.Sprint("op", i)}})
		return err
	}, shop.CodeNotAwaitingDelivery)
	o2, _, err := shops[1].CreateOrder(ctx, a.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100,
		PaymentMethod: domain.MethodBalance})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := shops[0].Balance(ctx, a.ID)
	exactlyOnce("mark failed", func(i int) error {
		_, _, err := shops[i%2].MarkFailed(ctx, o2.ID, shop.ManualMark{Reason: "no such recipient"})
		return err
	}, shop.CodeNotAwaitingDelivery)
	if after, _ := shops[0].Balance(ctx, a.ID); after.Nano != before.Nano+o2.PriceNano {
		t.Fatalf("balance %d → %d, want one refund of %d", before.Nano, after.Nano, o2.PriceNano)
	}
	log, err := shops[1].AuditLog(ctx, 0, 100)
	if err != nil || len(log) != 3 {
		t.Fatalf("audit %+v %v", log, err)
	}
	rep := check(t, st0)
	if rep.Parked != 0 || rep.ParkedResolved != 1 {
		t.Fatalf("report %+v", rep)
	}
}
