package pg_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
	"github.com/theopenmoney/openmoney/ton"
)

type alertLog struct {
	mu   sync.Mutex
	keys []string
}

func (a *alertLog) SendAlerts(_ context.Context, to shop.Operator, ns []shop.AlertNotice) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range ns {
		a.keys = append(a.keys, fmt.Sprintf("%d %s cleared=%v", to.ID, n.Key, n.Cleared))
	}
	return nil
}

func (a *alertLog) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.keys...)
}

// Two instances over one database, operators configured: an alert raised by
// the leader is not raised again by the instance that takes over; the
// Fragment session an operator set on one instance is used by the other
// once it reloads (every 30 s in RunLocal).
func TestOperatorsOnPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	cfg := shoptest.AlertConfig(901)
	cfg.Fulfillment.Provider = "fragment"
	cfg.Fulfillment.Fragment.Cookies = "stel_ssid=configured"
	keys, err := ton.NewKeys(shoptest.Seed, "v4r2", ton.NetworkSandbox)
	if err != nil {
		t.Fatal(err)
	}
	var shops []*shop.Shop
	var logs []*alertLog
	for range 2 {
		st, err := pg.Open(ctx, dsn, pg.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: keys, Provider: fulfil.Sandbox{},
			Rates: pricing.NewFixed("3.6", time.Now())})
		if err != nil {
			t.Fatal(err)
		}
		l := &alertLog{}
		s.RegisterAlertSender(l)
		shops, logs = append(shops, s), append(logs, l)
	}
	if _, err := shops[1].ApplyTransfer(ctx, ton.Transfer{Hash: fmt.Sprintf("%064x", 77), To: shops[1].ServiceAddress(),
		AmountNano: 3_000_000_000, Comment: "no such memo", Incoming: true}); err != nil {
		t.Fatal(err)
	}
	// The leader raises it; the next leader finds it raised already.
	var wg sync.WaitGroup
	for _, s := range shops {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.CheckAlerts(ctx) }() // a handover overlap: both at once
	}
	wg.Wait()
	for range 3 {
		for _, s := range shops {
			if err := s.CheckAlerts(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := append(logs[0].got(), logs[1].got()...)
	if len(all) != 1 || all[0] != "901 unmatched:1 cleared=false" {
		t.Fatalf("alerts sent %v, want the deposit once", all)
	}

	if _, err := shops[0].SetFragmentSession(ctx, "stel_ssid=fresh; stel_token=t0k", shop.Actor{Name: "op"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := shops[1].FragmentSession(); c != "" {
		t.Fatalf("instance 1 has %q before reloading", c)
	}
	if err := shops[1].LoadFragmentSession(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := shops[1].FragmentSession(); c != "stel_ssid=fresh; stel_token=t0k" {
		t.Fatalf("instance 1 uses %q", c)
	}
	var raw []byte // the sealed record, as PostgreSQL holds it
	st, err := pg.Open(ctx, dsn, pg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.View(ctx, func(tx store.Tx) error { raw, err = tx.GetMeta("fragment_session"); return err }); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || strings.Contains(string(raw), "fresh") || strings.Contains(string(raw), "t0k") || strings.Contains(string(raw), "stel_") {
		t.Fatalf("the stored session is not sealed: %q", raw)
	}
}
