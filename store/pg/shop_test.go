package pg_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
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
	"github.com/theopenmoney/openmoney/store/storetest"
	"github.com/theopenmoney/openmoney/ton"
)

// newShop builds a sandbox shop over st, as main does.
func newShop(t *testing.T, st store.Store) (*shop.Shop, *ton.Sandbox) {
	t.Helper()
	cfg := config.Default()
	keys, err := ton.NewKeys(shoptest.Seed, "v4r2", ton.NetworkSandbox)
	if err != nil {
		t.Fatal(err)
	}
	sb := ton.NewSandbox(store.SandboxLog{Store: st}, time.Now)
	s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: keys, Chain: sb, Sandbox: sb, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed(string(cfg.Pricing.TonUSD), time.Now()), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return s, sb
}

func check(t *testing.T, st store.Store) shop.Report {
	t.Helper()
	rep, err := shop.Check(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("integrity check: %d violations:\n%s", len(rep.Violations), strings.Join(rep.Violations, "\n"))
	}
	return rep
}

// TestShopOnPostgres: two shops (two instances) over one database; 20
// concurrent balance orders spread over both never overdraw; a ton_memo
// order paid through the sandbox chain is delivered by the instance running
// the loops; the integrity check passes.
func TestShopOnPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var shops []*shop.Shop
	var stores []store.Store
	for range 2 {
		st, err := pg.Open(ctx, dsn, pg.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s, _ := newShop(t, st)
		shops, stores = append(shops, s), append(stores, st)
	}
	p, err := shops[0].CreatePartner(ctx, "pg partner")
	if err != nil {
		t.Fatal(err)
	}
	key, err := shops[0].IssueKey(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := shops[1].Authenticate(ctx, key.Key); err != nil || got.ID != p.ID {
		t.Fatalf("key issued on one instance, checked on the other: %v, %v", got, err)
	}
	probe, _, err := shops[0].CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	price := probe.PriceNano
	if _, err := shops[0].CancelOrder(ctx, p.ID, probe.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := shops[1].ApplyTransfer(ctx, ton.Transfer{Hash: fmt.Sprintf("%064x", 1), To: p.TopupAddress,
		AmountNano: 7*price + 1000, Incoming: true, ChainTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := shops[i%2].CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus",
				Quantity: 100, PaymentMethod: domain.MethodBalance})
			mu.Lock()
			codes[string(shop.ErrorCode(err))]++
			mu.Unlock()
			if err != nil && shop.ErrorCode(err) == "" {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if codes[""] != 7 || codes[string(shop.CodeInsufficientBalance)] != 13 {
		t.Fatalf("outcomes %v; want 7 ok and 13 INSUFFICIENT_BALANCE", codes)
	}
	if bal, _ := shops[1].Balance(ctx, p.ID); bal.Nano != 1000 {
		t.Fatalf("balance %d; want 1000", bal.Nano)
	}

	// Loops on instance 0 only; the order and the transfer go through instance 1.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = shops[0].Run(rctx) }()
	defer func() { cancel(); <-done }()
	o, _, err := shops[1].CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shops[1].SandboxTransfer(ctx, p.ID, shop.SandboxTransferRequest{ToAddress: o.PaymentAddress,
		AmountNano: o.PriceNano, Comment: o.PaymentMemo}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := shops[1].Order(ctx, p.ID, o.ID)
		if err == nil && got.Status == domain.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order still %v (%v)", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rep := check(t, stores[1])
	t.Logf("check: %+v", rep)
}

// TestImportBoltShopIntoPostgres: a store written by the shop (top-ups,
// paid and expired orders, deliveries, refunds, unmatched deposits) is
// copied into PostgreSQL; the integrity check passes on both sides with the
// same counts, and the copy serves the shop.
func TestImportBoltShopIntoPostgres(t *testing.T) {
	ctx := context.Background()
	env := shoptest.New(t, shoptest.Options{})
	n := 0
	hash := func() string { n++; return fmt.Sprintf("%064x", n) }
	for i := range 3 {
		p, _ := env.Partner(t)
		if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: hash(), To: p.TopupAddress, AmountNano: 50e9, Incoming: true, ChainTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for j, name := range []string{"pandus", "pandus_fail", "pandus"} {
			method := domain.MethodBalance
			if j == 2 {
				method = ""
			}
			o, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: name, Quantity: int64(100 + i), PaymentMethod: method})
			if err != nil {
				t.Fatal(err)
			}
			if method == "" {
				if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: hash(), To: o.PaymentAddress, AmountNano: o.PriceNano + 7,
					Comment: o.PaymentMemo, Incoming: true, ChainTime: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: hash(), To: env.Shop.ServiceAddress(), AmountNano: 3e9, Comment: "no such memo", Incoming: true, ChainTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Shop.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	before := check(t, env.Store)
	if before.Orders < 9 || before.Unmatched < 3 || before.LedgerRows < 10 {
		t.Fatalf("source too small to prove much: %+v", before)
	}
	pgs := openPG(t)
	defer pgs.Close()
	if err := store.Copy(ctx, env.Store, pgs, nil); err != nil {
		t.Fatal(err)
	}
	after := check(t, pgs)
	before.Violations, after.Violations = nil, nil
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("check counts differ: bolt %+v, postgres %+v", before, after)
	}
	if a, b := storetest.Dump(t, env.Store), storetest.Dump(t, pgs); a != b {
		t.Errorf("dump differs:\n--- bolt\n%s\n--- postgres\n%s", a, b)
	}
	// The imported store keeps working: a new partner and order get fresh ids.
	s, _ := newShop(t, pgs)
	p, err := s.CreatePartner(ctx, "after import")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100}); err != nil {
		t.Fatal(err)
	}
	check(t, pgs)
}
