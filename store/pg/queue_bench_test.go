package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
	"github.com/theopenmoney/openmoney/ton"
)

// BenchmarkDeliveryPassNotDue is one pass of the delivery loop over 10 000
// queued orders none of which is due (backing off for an hour), on
// PostgreSQL (shop.BenchmarkDeliveryPassNotDue is the bbolt one).
func BenchmarkDeliveryPassNotDue(b *testing.B) {
	ctx := context.Background()
	st, err := pg.Open(ctx, pgtest.DSN(b), pg.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg := config.Default()
	keys, err := ton.NewKeys(shoptest.Seed, "v4r2", ton.NetworkSandbox)
	if err != nil {
		b.Fatal(err)
	}
	sb := ton.NewSandbox(store.SandboxLog{Store: st}, time.Now)
	s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: keys, Chain: sb, Sandbox: sb, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed(string(cfg.Pricing.TonUSD), time.Now()), Version: "test"})
	if err != nil {
		b.Fatal(err)
	}
	p, err := s.CreatePartner(ctx, "bench partner")
	if err != nil {
		b.Fatal(err)
	}
	tmpl, _, err := s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	next := now.Add(time.Hour)
	for range 10 { // 10 transactions of 1 000
		err = st.Update(ctx, func(tx store.Tx) error {
			for range 1000 {
				o := *tmpl
				if o.ID, err = tx.NextOrderID(); err != nil {
					return err
				}
				o.PaymentMemo = ""
				o.Status, o.ExpiresAt, o.PaidAt, o.DeliveryAttempts, o.NextDeliveryAt = domain.StatusProcessing, nil, &now, 1, &next
				if err := tx.CreateOrder(&o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if n, err := s.DeliverDue(ctx); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}
