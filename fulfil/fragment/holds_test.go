package fragment

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/metrics"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// A wallet that cannot pay the link plus the fee reserve holds the delivery:
// nothing paid, nothing refunded, not an unavailable provider. While it stays
// short, further attempts read the balance only (no new Fragment request);
// once funded the delivery is paid, once.
func TestWalletTooPoorHoldsThenPaysOnce(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	const price = 100 * 3_870_000
	payer.balance = price // the payment, without the fee reserve
	p := newTestProvider(t, srv.URL, payer, nil)
	need := price + payer.Fee(1) + DefaultFeeReserveNano
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := p.Deliver(bg, starsReq("alice_user", 100), noSave)
		var h *fulfil.Hold
		if !errors.As(err, &h) || !errors.Is(err, fulfil.ErrInsufficientFunds) || errors.Is(err, fulfil.ErrPermanent) ||
			errors.Is(err, fulfil.ErrUnavailable) || h.BalanceNano != price || h.NeedNano != need {
			t.Fatalf("attempt %d: %v (%+v); want a funds hold with balance %d, need %d", attempt, err, h, price, need)
		}
		if payer.sentCount() != 0 || len(records(t, p, 7)) != 0 || p.Available() != nil {
			t.Fatalf("attempt %d: %d sent, %d records, available %v", attempt, payer.sentCount(), len(records(t, p, 7)), p.Available())
		}
		if n := f.count("initBuyStarsRequest"); n != 1 {
			t.Fatalf("attempt %d: %d Fragment requests; a wallet still short must not ask again", attempt, n)
		}
	}
	payer.mu.Lock()
	payer.balance = 10_000_000_000
	payer.mu.Unlock()
	res, err := p.Deliver(bg, starsReq("alice_user", 100), noSave)
	if err != nil {
		t.Fatal(err)
	}
	checkSentEqualsLink(t, f, payer, res.ProviderRef)
}

// Our payment's batch ran but this payment did not leave the wallet, and the
// wallet is short now: it was too poor when the batch ran. The batch's seqno
// is spent, so it can never pay; the payment is recorded unpaid, the
// delivery is held and, once funded, starts over with a new request.
func TestPaymentRunWithoutFundsIsHeldAndStartsOver(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	payer.final = StatusFailed
	payer.onLookup = func(int) { payer.balance = 1000 } // drained before it ran (called under payer.mu)
	p := newTestProvider(t, srv.URL, payer, nil)
	_, err := p.Deliver(bg, starsReq("alice_user", 100), noSave)
	if !errors.Is(err, fulfil.ErrInsufficientFunds) || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("err = %v; want a funds hold", err)
	}
	if ms := records(t, p, 7); len(ms) != 1 || ms[0].Outcome != domain.PaymentUnpaid {
		t.Fatalf("records %+v: want the spent payment recorded unpaid", ms)
	}
	payer.mu.Lock()
	payer.onLookup, payer.balance, payer.final = nil, 10_000_000_000, StatusConfirmed
	payer.mu.Unlock()
	res, err := p.Deliver(bg, starsReq("alice_user", 100), noSave)
	if err != nil || res.ProviderRef != "req0002XyZ" || f.count("initBuyStarsRequest") != 2 || payer.batchCount() != 2 {
		t.Fatalf("after funding: %+v, %v, %d requests, %d messages; want the second request paid by a second message",
			res, err, f.count("initBuyStarsRequest"), payer.batchCount())
	}
	if ms := records(t, p, 7); len(ms) != 2 || ms[0].Outcome != domain.PaymentUnpaid || ms[1].Outcome != domain.PaymentPaid {
		t.Fatalf("records %+v", ms)
	}
}

// walletShop is the real shop with the Fragment provider paying through the
// real WalletPayer on the fake chain, everything on one clock.
type walletShop struct {
	env   *shoptest.Env
	f     *fakeFragment
	chain *fakeChain
	wp    *WalletPayer
	prov  *Provider
	m     *metrics.Metrics
	clk   *shoptest.Clock
}

func shopWithWalletPayer(t *testing.T) *walletShop {
	t.Helper()
	ws := &walletShop{}
	now := func() time.Time { return ws.clk.Now() }
	var srvURL string
	ws.f, srvURL = func() (*fakeFragment, string) { f, srv := newFakeFragment(t); return f, srv.URL }()
	ws.f.set(func(f *fakeFragment) { f.now = now })
	w := testWallet(t, wallet.V4R2)
	ws.chain = newFakeChain(t, w.Address())
	var err error
	ws.wp, err = NewWalletPayer(w, ws.chain, WalletPayerOptions{PollInterval: time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ws.prov = newTestProvider(t, srvURL, ws.wp, func(o *Options) { o.Now = now; o.ConfirmTimeout = time.Minute })
	ws.m = metrics.New()
	ws.env = shoptest.New(t, shoptest.Options{Clock: true, Provider: ws.prov, Observer: ws.m})
	ws.clk = ws.env.Clock
	ws.clk.Advance(time.Since(ws.clk.Now())) // tonutils-go stamps valid_until from the real clock
	ws.chain.set(func(c *fakeChain) { c.now = now; c.commit() })
	ws.m.WatchHolds(ws.env.Shop.HeldDeliveries)
	return ws
}

// tick makes every new chain view advance the clock by a second, so a
// provider waiting for the chain sees time pass; off when on is false.
func (ws *walletShop) tick(on bool) {
	ws.chain.set(func(c *fakeChain) {
		c.onBlock = nil
		if on {
			c.onBlock = func() { ws.clk.Advance(time.Second) }
		}
	})
}

func (ws *walletShop) order(t *testing.T, o *domain.Order) *domain.Order {
	t.Helper()
	o, err := ws.env.Shop.Order(bg, o.PartnerID, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (ws *walletShop) deliver(t *testing.T) {
	t.Helper()
	if _, err := ws.env.Shop.DeliverDue(bg); err != nil {
		t.Fatal(err)
	}
}

// payments counts the transfers that left the wallet on chain.
func (ws *walletShop) payments() (n int, lastTx string) {
	ws.chain.mu.Lock()
	defer ws.chain.mu.Unlock()
	for _, tx := range ws.chain.txs {
		if tx.IO.Out != nil {
			n++
			lastTx = hex.EncodeToString(tx.Hash)
		}
	}
	return n, lastTx
}

// batchOf is the batch carrying order o's latest payment.
func (ws *walletShop) batchOf(t *testing.T, o *domain.Order) SentBatch {
	t.Helper()
	var sent SentBatch
	err := storeOf(ws.prov).View(bg, func(tx store.Tx) error {
		ms, err := tx.OrderPayerMessages(o.ID)
		if err != nil || len(ms) == 0 {
			return fmt.Errorf("order %d: no payment records (%v)", o.ID, err)
		}
		b, err := tx.GetPayerBatch(ms[len(ms)-1].BatchID)
		if err != nil {
			return err
		}
		all, err := tx.PayerMessages(b.ID)
		sent = sentOf(b, all)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

func gauge(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mm := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range mm.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			if g := mm.GetGauge(); g != nil {
				return g.GetValue()
			}
			return mm.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s %v", name, labels)
	return 0
}

// sendLost pays o with the wallet's broadcasts lost on the way: the order is
// processing with a sent message that has not run. The chain's clock ticks
// while the provider waits.
func (ws *walletShop) sendLost(t *testing.T, o *domain.Order) SentBatch {
	t.Helper()
	ws.chain.set(func(c *fakeChain) { c.execute = false })
	ws.tick(true)
	got := payAndDeliver(t, ws.env, o)
	ws.tick(false)
	if got.Status != domain.StatusProcessing {
		t.Fatalf("after a lost broadcast: %s (%s)", got.Status, got.FailureReason)
	}
	return ws.batchOf(t, got)
}

// A liteserver 3 minutes behind causes no refund: the payment ran 2 s
// before its valid_until, this clock is past valid_until + margin, and the
// view does not reach the payment yet. The order waits, visibly (health,
// metrics); when the view catches up it completes, paid once.
func TestShopLiteserverThreeMinutesBehindCausesNoRefund(t *testing.T) {
	ws := shopWithWalletPayer(t)
	p, _ := ws.env.Partner(t)
	o, _, err := ws.env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	sent := ws.sendLost(t, o)
	vu := time.Unix(sent.ValidUntil, 0)

	setAt(ws.clk, vu.Add(-2*time.Second)) // a rebroadcast runs 2 s before valid_until
	ws.chain.set(func(c *fakeChain) { c.execute = true })
	// The provider's resolver may rebroadcast it first (this clock is past
	// ResendAfter); either way it runs now, 2 s before valid_until, once.
	if err := ws.wp.Resend(bg, sent); err != nil {
		if n, _ := ws.payments(); n != 1 {
			t.Fatalf("rebroadcast: %v, and %d payments on chain; want the batch run once", err, n)
		}
	}
	ws.chain.set(func(c *fakeChain) { c.lag = 3 * time.Minute })
	setAt(ws.clk, vu.Add(2*time.Minute+30*time.Second))
	ws.deliver(t)

	got := ws.order(t, o)
	if bal, _ := ws.env.Shop.Balance(bg, p.ID); got.Status != domain.StatusProcessing || got.RefundedAt != nil || bal.Nano != 0 {
		t.Fatalf("with the view behind: %s (%q), balance %d; want processing, nothing refunded", got.Status, got.FailureReason, bal.Nano)
	}
	h := ws.env.Shop.Health(bg)
	if h.Status != "degraded" || h.DeliveriesHeld == nil || h.DeliveriesHeld.ByReason[fulfil.HoldChainBehind] != 1 ||
		h.DeliveriesHeld.ChainLagSeconds < 170 || !strings.Contains(h.DeliveriesHeld.Action, "behind") {
		t.Fatalf("health %s %+v; want degraded with one chain_behind hold and the lag", h.Status, h.DeliveriesHeld)
	}
	if v := gauge(t, ws.m, "openmoney_delivery_held_orders", "reason", fulfil.HoldChainBehind); v != 1 {
		t.Fatalf("held_orders{chain_behind} = %v", v)
	}
	if v := gauge(t, ws.m, "openmoney_delivery_held_chain_lag_seconds"); v < 170 {
		t.Fatalf("held_chain_lag_seconds = %v", v)
	}
	ws.env.Check(t)

	ws.chain.set(func(c *fakeChain) { c.lag = 0 }) // the liteserver catches up
	ws.clk.Advance(shop.HeldRetryEvery + time.Second)
	ws.deliver(t)
	got = ws.order(t, o)
	n, txHash := ws.payments()
	if got.Status != domain.StatusCompleted || got.DeliveryTxHash != txHash || n != 1 || ws.f.count("initBuyStarsRequest") != 1 {
		t.Fatalf("after the view caught up: %s tx %q, %d payments (last %s), %d requests; want completed, paid once",
			got.Status, got.DeliveryTxHash, n, txHash, ws.f.count("initBuyStarsRequest"))
	}
	if h := ws.env.Shop.Health(bg); h.DeliveriesHeld != nil || gauge(t, ws.m, "openmoney_delivery_held_orders", "reason", fulfil.HoldChainBehind) != 0 {
		t.Fatalf("hold not cleared: %+v", h.DeliveriesHeld)
	}
	ws.env.Check(t)
}

// The opposite: a payment that never ran is given up, and the order paid
// with a fresh Fragment request, but only once the view's chain time, not
// this clock, is past valid_until + margin. (It used to be refunded; the
// batching issue asks for a fresh link instead, and a refund only after
// Options.MaxUnpaid such payments: TestResumeOutcomes.)
func TestShopNeverExecutedPaymentRetriesOnlyInChainTime(t *testing.T) {
	ws := shopWithWalletPayer(t)
	p, _ := ws.env.Partner(t)
	o, _, err := ws.env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	vu := time.Unix(ws.sendLost(t, o).ValidUntil, 0)
	ws.chain.set(func(c *fakeChain) { c.lag = 3 * time.Minute })
	for _, at := range []time.Duration{2*time.Minute + 30*time.Second, 4*time.Minute + 30*time.Second, 5 * time.Minute} {
		setAt(ws.clk, vu.Add(at)) // the view: valid_until + at - 3 min
		ws.deliver(t)
		if got := ws.order(t, o); got.Status != domain.StatusProcessing {
			t.Fatalf("clock valid_until+%s, view valid_until+%s: %s (%s); want still processing",
				at, at-3*time.Minute, got.Status, got.FailureReason)
		}
	}
	if n := ws.f.count("initBuyStarsRequest"); n != 1 {
		t.Fatalf("%d Fragment requests while the first payment could still run", n)
	}
	// The next attempt: the view is past valid_until + margin; the chain
	// runs messages again.
	ws.chain.set(func(c *fakeChain) { c.lag = 0; c.execute = true })
	setAt(ws.clk, vu.Add(5*time.Minute+shop.HeldRetryEvery))
	ws.tick(true)
	ws.deliver(t)
	ws.tick(false)
	got := ws.order(t, o)
	bal, _ := ws.env.Shop.Balance(bg, p.ID)
	n, txHash := ws.payments()
	if got.Status != domain.StatusCompleted || got.DeliveryTxHash != txHash || bal.Nano != 0 || n != 1 || ws.f.count("initBuyStarsRequest") != 2 {
		t.Fatalf("%s (%q), balance %d, %d payments, %d requests; want completed by a second request, paid once",
			got.Status, got.FailureReason, bal.Nano, n, ws.f.count("initBuyStarsRequest"))
	}
	if h := ws.env.Shop.Health(bg); h.DeliveriesHeld != nil {
		t.Fatalf("hold left after completion: %+v", h.DeliveriesHeld)
	}
	ws.env.Check(t)
}

// A service wallet too poor to pay (fees included) holds the paid order: not
// refunded, health degraded with the wallet balance against what the order
// needs, a metric, the owed amounts at the admin report; new orders are
// still taken. Funded, it completes by itself, paid exactly once.
func TestShopWalletShortOfFundsWaitsThenCompletesOnce(t *testing.T) {
	ws := shopWithWalletPayer(t)
	const poor = 100_000_000 // 0.1 TON; the order needs 0.387 + 0.05
	ws.chain.set(func(c *fakeChain) { c.balance = poor })
	p, _ := ws.env.Partner(t)
	p2, _ := ws.env.Partner(t) // a partner with 5 TON of balance: owed too
	if _, err := ws.env.Shop.ApplyTransfer(bg, ton.Transfer{Hash: strings.Repeat("ab", 32), To: p2.TopupAddress,
		AmountNano: 5_000_000_000, ChainTime: ws.clk.Now(), Incoming: true}); err != nil {
		t.Fatal(err)
	}
	o, _, err := ws.env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := payAndDeliver(t, ws.env, o)
	if got.Status != domain.StatusProcessing || got.RefundedAt != nil || got.FailureReason != "" || got.DeliveryAttempts != 0 {
		t.Fatalf("with a poor wallet: %s (%q), %d attempts; want processing, no refund, the hold not counted as an attempt",
			got.Status, got.FailureReason, got.DeliveryAttempts)
	}
	need := 100*3_870_000 + ws.wp.Fee(1) + DefaultFeeReserveNano
	h := ws.env.Shop.Health(bg)
	held := h.DeliveriesHeld
	if h.Status != "degraded" || held == nil || held.ByReason[fulfil.HoldFunds] != 1 || held.WalletBalanceNano == nil ||
		*held.WalletBalanceNano != poor || held.NeedNano != need || held.ShortfallNano != need-poor ||
		!strings.Contains(held.Action, ws.env.Shop.ServiceAddress()) || !strings.Contains(held.Action, money.FormatTON(need-poor)+" TON") {
		t.Fatalf("health %s %+v; want degraded with balance %d against need %d", h.Status, held, poor, need)
	}
	for _, c := range []struct {
		name  string
		label []string
		want  float64
	}{
		{"openmoney_delivery_held_orders", []string{"reason", fulfil.HoldFunds}, 1},
		{"openmoney_delivery_held_shortfall_nanotons", nil, float64(need - poor)},
		{"openmoney_delivery_held_wallet_balance_nanotons", nil, poor},
		{"openmoney_delivery_outcomes_total", []string{"outcome", shop.DeliveryHeld}, 1},
		{"openmoney_delivery_outcomes_total", []string{"outcome", shop.DeliveryRefunded}, 0},
	} {
		if v := gauge(t, ws.m, c.name, c.label...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.label, v, c.want)
		}
	}
	rep, err := ws.env.Shop.HeldReport(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Held) != 1 || rep.Held[0].OrderID != o.ID || rep.OwedOrders != 1 || rep.OwedOrdersNano != o.PriceNano ||
		rep.OwedBalancesNano != 5_000_000_000 || !strings.Contains(rep.Summary, "5 TON in partner balances") {
		t.Fatalf("held report %+v", rep)
	}
	if _, _, err := ws.env.Shop.CreateOrder(bg, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100}); err != nil {
		t.Fatalf("a new order while the wallet is short: %v; want accepted", err)
	}
	ws.env.Check(t)

	// Still short: tried again on the hold's pace, from the balance alone.
	ws.clk.Advance(shop.HeldRetryEvery + time.Second)
	ws.deliver(t)
	if got := ws.order(t, o); got.Status != domain.StatusProcessing || ws.f.count("initBuyStarsRequest") != 1 || ws.chain.sends != 0 {
		t.Fatalf("still short: %s, %d requests, %d broadcasts", got.Status, ws.f.count("initBuyStarsRequest"), ws.chain.sends)
	}

	// The operator tops the wallet up: it goes on by itself.
	ws.chain.set(func(c *fakeChain) { c.balance = 10_000_000_000 })
	ws.clk.Advance(shop.HeldRetryEvery + time.Second)
	ws.tick(true)
	ws.deliver(t)
	ws.tick(false)
	got = ws.order(t, o)
	n, txHash := ws.payments()
	if got.Status != domain.StatusCompleted || got.DeliveryTxHash != txHash || n != 1 {
		t.Fatalf("after the top-up: %s, %d payments; want completed, paid once", got.Status, n)
	}
	ws.clk.Advance(time.Hour)
	ws.deliver(t)
	if n, _ := ws.payments(); n != 1 || ws.env.Shop.Health(bg).DeliveriesHeld != nil ||
		gauge(t, ws.m, "openmoney_delivery_held_orders", "reason", fulfil.HoldFunds) != 0 {
		t.Fatalf("after completion: %d payments, health %+v", n, ws.env.Shop.Health(bg).DeliveriesHeld)
	}
	ws.env.Check(t)
}
