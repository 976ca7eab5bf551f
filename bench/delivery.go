package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil/fragment"
	"github.com/theopenmoney/openmoney/internal/fragmentsim"
	"github.com/theopenmoney/openmoney/internal/simchain"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// The burst rows: a burst of paid orders delivered through the real Fragment
// provider, wallet payer and listener over the simulated chain (blocks every
// 5 s) and the simulated Fragment (about 200 ms a call, its own rate limit).
// Orders are created first; then every customer pays in one go, as in a
// promotion; the clock starts when the listener marks the first one paid.

// burstSpec is one burst run.
type burstSpec struct {
	version  string        // service wallet: v5r1 | v4r2
	orders   int           // paid orders in the burst
	block    time.Duration // block interval of the simulated chain
	dir      string        // where the chain lives
	ss       *stores       // where the service's store is made
	kind     string        // and of which kind
	fragment fragmentsim.Options
	timeout  time.Duration
}

// burstResult is what a burst measured.
type burstResult struct {
	Orders, Completed, Refunded int
	// Rate: deliveries per second from the first order paid to the last
	// one finished.
	Rate     float64
	P50, P99 time.Duration // paid → completed
	Span     time.Duration
	// On chain: successful Fragment payments, and how many requests were
	// paid more than once (must be 0).
	Payments, PaidTwice int
	Fragment            fragmentsim.Stats
	WalletTxs           int // wallet transactions carrying our payments
}

// Fragment's payment addresses in the simulation: one that takes payments,
// one that refuses them (bounces).
var (
	simFragment = address.NewAddress(0, 0, bytes.Repeat([]byte{0xf1}, 32))
	simBouncer  = address.NewAddress(0, 0, bytes.Repeat([]byte{0xb0}, 32))
	simCustomer = address.NewAddress(0, 0, bytes.Repeat([]byte{0xc5}, 32))
)

// runBurst builds the service over a fresh simulated chain and Fragment,
// creates spec.orders orders, pays them all at once and waits until each is
// completed or refunded.
func runBurst(ctx context.Context, spec burstSpec, log *slog.Logger) (burstResult, error) {
	var res burstResult
	keys, err := ton.NewKeys(ton.NewSeed(), spec.version, ton.NetworkTestnet)
	if err != nil {
		return res, err
	}
	gen, err := simchain.WalletGenesis(keys.Wallet(), 1_000_000*1e9)
	if err != nil {
		return res, err
	}
	chainPath := filepath.Join(spec.dir, "chain-"+spec.version)
	if err := simchain.Create(chainPath, simchain.Config{BlockInterval: spec.block, Accounts: []simchain.Account{
		gen, {Address: simFragment.StringRaw(), Balance: 1e9}, {Address: simBouncer.StringRaw(), Balance: 1e9, Bounce: true},
	}}, time.Time{}); err != nil {
		return res, err
	}
	chain, err := simchain.Open(chainPath, nil)
	if err != nil {
		return res, err
	}
	defer chain.Close()
	fo := spec.fragment
	fo.Address, fo.BounceAddress = simFragment.String(), simBouncer.String()
	fs, err := fragmentsim.New(fo)
	if err != nil {
		return res, err
	}
	srv := httptest.NewServer(fs)
	defer srv.Close()

	loc, err := spec.ss.create(ctx, "burst_"+spec.version)
	if err != nil {
		return res, err
	}
	st, err := openStore(ctx, spec.kind, loc, false)
	if err != nil {
		return res, fmt.Errorf("bench: open store: %w", err)
	}
	defer st.Close()
	cfg := config.Default()
	cfg.TON.Network, cfg.TON.WalletVersion = ton.NetworkTestnet, spec.version
	cfg.Fulfillment.Provider = "fragment"
	cfg.API.RateLimit = config.RateLimit{PerSecond: 1e9, Burst: 1_000_000_000}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	payer, err := fragment.NewWalletPayer(keys.Wallet(), chain, fragment.WalletPayerOptions{Testnet: true, Log: quiet})
	if err != nil {
		return res, err
	}
	prov, err := fragment.New(fragment.Options{BaseURL: srv.URL, Hash: fs.Hash(), Cookies: fs.Cookies(), Wallet: payer, Records: shop.PayerRecords{Store: st}, Log: quiet})
	if err != nil {
		return res, err
	}
	listener := ton.NewListener(ton.ListenerOptions{Network: ton.NetworkTestnet, Log: quiet,
		Watched: []string{keys.ServiceAddressRaw()}, Dial: func(context.Context) (ton.ChainAPI, error) { return chain, nil }})
	s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: keys, Chain: listener, Provider: prov,
		Rates: pricing.NewFixed(string(cfg.Pricing.TonUSD), time.Now()), Log: quiet, Version: "bench"})
	if err != nil {
		return res, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(runCtx) }()

	p, err := s.CreatePartner(ctx, "burst")
	if err != nil {
		return res, err
	}
	log.Info("burst: creating orders (each checks its recipient with Fragment)", "orders", spec.orders, "wallet", spec.version)
	orders := make([]*domain.Order, spec.orders)
	errs := make(chan error, spec.orders)
	sem := make(chan struct{}, 32)
	var cwg sync.WaitGroup
	for i := range orders {
		cwg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; cwg.Done() }()
			o, _, err := s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, Quantity: 100,
				RecipientUsername: "burst_" + spec.version + "_" + strconv.Itoa(i), PaymentMethod: domain.MethodTonMemo})
			if err != nil {
				errs <- fmt.Errorf("bench: burst order: %w", err)
				return
			}
			orders[i] = o
		}()
	}
	cwg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	ts := make([]simchain.Transfer, len(orders))
	for i, o := range orders {
		ts[i] = simchain.Transfer{From: simCustomer.StringRaw(), To: o.PaymentAddress, AmountNano: o.PriceNano, Body: simchain.Comment(o.PaymentMemo)}
	}
	calls0 := fs.Stats()
	log.Info("burst: every customer pays at once", "orders", len(orders), "block", spec.block)
	if err := chain.Send(ts...); err != nil {
		return res, err
	}

	deadline := time.Now().Add(spec.timeout)
	bar := time.Now()
	for {
		done, err := countFinal(ctx, st, orders, &res)
		if err != nil {
			return res, err
		}
		if done == len(orders) {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("bench: burst of %d orders (%s): only %d finished after %s", len(orders), spec.version, done, spec.timeout)
		}
		if time.Since(bar) > 10*time.Second {
			log.Info("burst: delivering", "finished", done, "of", len(orders))
			bar = time.Now()
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	calls1 := fs.Stats()
	res.Fragment = fragmentsim.Stats{Calls: calls1.Calls - calls0.Calls, RateLimited: calls1.RateLimited - calls0.RateLimited}
	return res, chainPayments(chain, keys.ServiceAddressRaw(), fs, &res)
}

// countFinal reads the orders; when all are final it fills res.
func countFinal(ctx context.Context, st store.Store, orders []*domain.Order, res *burstResult) (int, error) {
	done := 0
	var first, last time.Time
	var lat []time.Duration
	completed, refunded := 0, 0
	err := st.View(ctx, func(tx store.Tx) error {
		for _, o := range orders {
			got, err := tx.GetOrder(o.ID)
			if err != nil {
				return err
			}
			if got.PaidAt != nil && (first.IsZero() || got.PaidAt.Before(first)) {
				first = *got.PaidAt
			}
			switch got.Status {
			case domain.StatusCompleted:
				completed++
				lat = append(lat, got.CompletedAt.Sub(*got.PaidAt))
				last = maxTime(last, *got.CompletedAt)
			case domain.StatusRefunded:
				refunded++
				last = maxTime(last, *got.RefundedAt)
			default:
				continue
			}
			done++
		}
		return nil
	})
	if err != nil || done < len(orders) {
		return done, err
	}
	slices.Sort(lat)
	res.Orders, res.Completed, res.Refunded = len(orders), completed, refunded
	res.Span = last.Sub(first)
	res.Rate = float64(done) / res.Span.Seconds()
	res.P50, res.P99 = quantile(lat, 0.5), quantile(lat, 0.99)
	return done, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// chainPayments counts, on the chain, the payments our wallet sent to each
// Fragment request (by payload) that were not bounced.
func chainPayments(chain *simchain.Chain, wallet string, fs *fragmentsim.Server, res *burstResult) error {
	txs, err := chain.Transactions(wallet)
	if err != nil {
		return err
	}
	byPayload := map[string]int{}
	for _, r := range fs.Requests() {
		byPayload[r.PayloadHash] = 0
	}
	for _, tx := range txs {
		if tx.IO.Out == nil || tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn {
			continue
		}
		list, err := tx.IO.Out.ToSlice()
		if err != nil {
			return err
		}
		if len(list) > 0 {
			res.WalletTxs++
		}
		for _, m := range list {
			im := m.AsInternal()
			if im.DstAddr.Equals(simFragment) {
				byPayload[fmt.Sprintf("%x", im.Body.Hash())]++
			}
		}
	}
	for _, n := range byPayload {
		res.Payments += n
		if n > 1 {
			res.PaidTwice++
		}
	}
	if res.PaidTwice > 0 {
		return errors.New("bench: a Fragment request was paid twice")
	}
	return nil
}

// runDelivery measures the burst rows (v5r1, then v4r2).
func runDelivery(ctx context.Context, o options, ss *stores, log *slog.Logger, rep *Report) error {
	fo := fragmentsim.Options{Latency: 200 * time.Millisecond}
	for _, b := range []struct {
		version string
		orders  int
		goal    float64
	}{{"v5r1", o.burst, 20}, {"v4r2", o.burstV4, 0.7}} {
		if b.orders <= 0 {
			continue
		}
		spec := burstSpec{version: b.version, orders: b.orders, block: o.block, dir: ss.dir, ss: ss, kind: o.store, fragment: fo,
			timeout: 30*time.Minute + time.Duration(b.orders)*2*time.Second}
		r, err := runBurst(ctx, spec, log)
		if err != nil {
			return err
		}
		note := fmt.Sprintf("%d paid orders at once, %s blocks, Fragment %s a call and %g calls/s: %d completed, %d refunded in %s; %d Fragment payments on chain in %d wallet messages, %d requests paid twice; %d Fragment calls (%d answered 429)",
			r.Orders, o.block, fo.Latency, max(fo.RateLimit, 300), r.Completed, r.Refunded, r.Span.Round(100*time.Millisecond), r.Payments, r.WalletTxs, r.PaidTwice, r.Fragment.Calls, r.Fragment.RateLimited)
		name := "burst " + b.version + " " + kilo(b.orders)
		rep.Rows = append(rep.Rows, newRow(name+" deliveries", "orders/s", r.Rate, 0, target{"ours", ">=", b.goal}, ""))
		if b.version == "v5r1" {
			rep.Rows = append(rep.Rows,
				newRow(name+" paid → completed p50", "s", r.P50.Seconds(), 0, target{"ours", "<=", 60}, ""),
				newRow(name+" paid → completed p99", "s", r.P99.Seconds(), 0, target{"ours", "<=", 60}, note))
		} else {
			rep.Rows[len(rep.Rows)-1].Note = note + fmt.Sprintf("; paid → completed p50 %.1f s, p99 %.1f s", r.P50.Seconds(), r.P99.Seconds())
		}
	}
	return nil
}
