package shoptest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/ton"
)

// Knobs for the operators' alerts: a chain status, a provider outage or
// hold, and a wallet balance the test sets (in-process stand-ins for the
// listener, Fragment and the liteservers, which have network fakes of
// their own in ton/ and fulfil/fragment/).

// TON is one TON in nanotons.
const TON = int64(1_000_000_000)

// StatusChain is a chain source that streams nothing and reports the
// status the test sets (healthy at first).
type StatusChain struct {
	mu sync.Mutex
	st ton.Status
}

// Healthy is a connected, current listener.
func Healthy() ton.Status {
	return ton.Status{Network: "mainnet", Connected: true, LastBlock: 7, LastBlockTime: time.Now(), LagSeconds: 2}
}

// Stream waits for ctx.
func (c *StatusChain) Stream(ctx context.Context, _ string, _ func(context.Context, ton.Batch) error) error {
	<-ctx.Done()
	return nil
}

// Status is what Set set.
func (c *StatusChain) Status() ton.Status { c.mu.Lock(); defer c.mu.Unlock(); return c.st }

// Set replaces the status.
func (c *StatusChain) Set(st ton.Status) { c.mu.Lock(); c.st = st; c.mu.Unlock() }

// SwitchProvider is the sandbox provider with a switchable outage
// (Available) and hold (Deliver); its Probe reads the shop's Fragment
// session, records it, and succeeds when ProbeOK.
type SwitchProvider struct {
	fulfil.Sandbox
	Shop *shop.Shop

	mu      sync.Mutex
	down    error
	hold    *fulfil.Hold
	stall   chan struct{} // non-nil: deliveries wait until it closes
	probed  []string
	probeOK bool
}

// Available is the outage set with SetDown.
func (p *SwitchProvider) Available() error { p.mu.Lock(); defer p.mu.Unlock(); return p.down }

// SetDown sets (or with nil ends) the outage.
func (p *SwitchProvider) SetDown(err error) { p.mu.Lock(); p.down = err; p.mu.Unlock() }

// SetHold makes every delivery answer h (nil: deliver as the sandbox does).
func (p *SwitchProvider) SetHold(h *fulfil.Hold) { p.mu.Lock(); p.hold = h; p.mu.Unlock() }

// SetProbeOK says whether Probe succeeds (and ends the outage).
func (p *SwitchProvider) SetProbeOK(ok bool) { p.mu.Lock(); p.probeOK = ok; p.mu.Unlock() }

// Probed lists the cookies each Probe saw.
func (p *SwitchProvider) Probed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.probed...)
}

// SetStall makes deliveries wait (a slow Fragment: the order stays owed)
// until SetStall(false), or their context ends.
func (p *SwitchProvider) SetStall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.stall == nil:
		p.stall = make(chan struct{})
	case !on && p.stall != nil:
		close(p.stall)
		p.stall = nil
	}
}

// Deliver answers the hold, or delivers as the sandbox does.
func (p *SwitchProvider) Deliver(ctx context.Context, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error) {
	p.mu.Lock()
	h, stall := p.hold, p.stall
	p.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			return fulfil.Result{}, ctx.Err()
		}
	}
	if h != nil {
		return fulfil.Result{}, h
	}
	return p.Sandbox.Deliver(ctx, r, save)
}

// Probe checks "the session": the cookies the shop hands out now.
func (p *SwitchProvider) Probe(context.Context) error {
	cookies := ""
	if p.Shop != nil {
		cookies, _ = p.Shop.FragmentSession()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probed = append(p.probed, cookies)
	if p.probeOK {
		p.down = nil
		return nil
	}
	return errors.New("fragment: session refused: \"Access denied\"")
}

// Wallet is a service wallet balance the test sets.
type Wallet struct {
	mu  sync.Mutex
	bal int64
}

// Balance is the balance set.
func (w *Wallet) Balance(context.Context) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bal, nil
}

// Set sets the balance.
func (w *Wallet) Set(n int64) { w.mu.Lock(); w.bal = n; w.mu.Unlock() }

// Knobs are an alert test's switches.
type Knobs struct {
	Chain    *StatusChain
	Provider *SwitchProvider
	Wallet   *Wallet
}

// WithKnobs fills opt with the knobs (a healthy listener, no outage, a
// wallet of 1000 TON) and returns them; set Knobs.Provider.Shop once the
// shop exists (NewWithKnobs does).
func WithKnobs(opt *Options) *Knobs {
	k := &Knobs{Chain: &StatusChain{st: Healthy()}, Provider: &SwitchProvider{}, Wallet: &Wallet{bal: 1000 * TON}}
	opt.Chain, opt.Provider, opt.Wallet = k.Chain, k.Provider, k.Wallet
	return k
}

// NewWithKnobs is New with the knobs.
func NewWithKnobs(tb testing.TB, opt Options) (*Env, *Knobs) {
	k := WithKnobs(&opt)
	env := New(tb, opt)
	k.Provider.Shop = env.Shop
	return env, k
}

// AlertConfig is the default config with operators and a refund spike of 2
// refunds within 10 minutes.
func AlertConfig(operators ...int64) *config.Config {
	cfg := config.Default()
	cfg.Telegram.Operators = operators
	cfg.Telegram.Alerts.Refunds = 2
	cfg.Telegram.Alerts.RefundsWindow = 10 * time.Minute
	return cfg
}

// AlertCase raises and ends one service-wide alert kind (the env needs a
// clock and the knobs; the raise may take the kind's delay of the clock).
type AlertCase struct {
	Kind       string
	Set, Unset func(t *testing.T, env *Env, k *Knobs)
}

var txN atomic.Int64

// TxHash is a fresh transfer hash.
func TxHash() string { return fmt.Sprintf("%064x", 1<<40+txN.Add(1)) }

// USDTTransfer is what the listener reports for units of USDT from from
// arriving in owner's USDT jetton wallet (testnet master) with memo, built
// by the ton package's own code as the sandbox chain builds it; a fresh
// hash, chain time at.
func USDTTransfer(t testing.TB, owner, from string, units int64, memo string, at time.Time) ton.Transfer {
	t.Helper()
	raw, err := ton.RawAddress(owner)
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := ton.SandboxJettonWallet(ton.TestnetUSDTMaster, raw)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ton.SandboxJettonTransfer(ton.JettonWallet{Asset: ton.AssetUSDT, Master: ton.TestnetUSDTMaster, Owner: raw, Wallet: wallet},
		from, units, memo)
	if err != nil {
		t.Fatal(err)
	}
	tr.Hash, tr.ChainTime = TxHash(), at
	return tr
}

// PaidUSDTOrder creates a USDT Stars order of quantity stars for user and
// pays it in full with USDT arriving in the service wallet's jetton wallet.
func PaidUSDTOrder(t *testing.T, env *Env, p *domain.Partner, user string, quantity int64) *domain.Order {
	t.Helper()
	ctx := context.Background()
	o, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: user,
		Quantity: quantity, PaymentCurrency: domain.CurrencyUSDT})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ton.RawAddress(o.PaymentAddress)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.ApplyTransfer(ctx, USDTTransfer(t, raw, raw, o.PriceUSDT, o.PaymentMemo, o.CreatedAt)); err != nil {
		t.Fatal(err)
	}
	if got, err := env.Shop.Order(ctx, p.ID, o.ID); err != nil || got.Status != domain.StatusPaid {
		t.Fatalf("USDT order not paid: %+v %v", got, err)
	}
	return o
}

// PaidOrder creates a Stars order for user and pays it in full.
func PaidOrder(t *testing.T, env *Env, p *domain.Partner, user string) *domain.Order {
	t.Helper()
	ctx := context.Background()
	o, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: user, Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: TxHash(), To: o.PaymentAddress,
		AmountNano: o.PriceNano, Comment: o.PaymentMemo, ChainTime: o.CreatedAt, Incoming: true}); err != nil {
		t.Fatal(err)
	}
	return o
}

func deliverDue(t *testing.T, env *Env) int {
	t.Helper()
	n, err := env.Shop.DeliverDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// AlertCases are the service-wide alert kinds with what starts and ends each.
func AlertCases() []AlertCase {
	status := func(mut func(*ton.Status)) func(*testing.T, *Env, *Knobs) {
		return func(_ *testing.T, _ *Env, k *Knobs) {
			st := Healthy()
			mut(&st)
			k.Chain.Set(st)
		}
	}
	healthy := status(func(*ton.Status) {})
	// held: a paid order's delivery is held with h (raised at once), then
	// the condition clears and the next attempt delivers it.
	held := func(kind string, h *fulfil.Hold) AlertCase {
		return AlertCase{kind,
			func(t *testing.T, env *Env, k *Knobs) {
				k.Provider.SetHold(h)
				p, _ := env.Partner(t)
				PaidOrder(t, env, p, "pandus")
				deliverDue(t, env)
			},
			func(t *testing.T, env *Env, k *Knobs) {
				k.Provider.SetHold(nil)
				env.Clock.Advance(shop.HeldRetryEvery)
				deliverDue(t, env)
			}}
	}
	// heldLong: held again every 30 s for rounds attempts, an alert pass
	// between (alerts raised only after a delay).
	heldLong := func(kind string, hold func(env *Env) *fulfil.Hold, rounds int) AlertCase {
		return AlertCase{kind,
			func(t *testing.T, env *Env, k *Knobs) {
				k.Provider.SetHold(hold(env))
				p, _ := env.Partner(t)
				PaidOrder(t, env, p, "pandus")
				for range rounds {
					deliverDue(t, env)
					if err := env.Shop.CheckAlerts(context.Background()); err != nil {
						t.Fatal(err)
					}
					env.Clock.Advance(shop.HeldRetryEvery)
				}
			},
			func(t *testing.T, env *Env, k *Knobs) {
				k.Provider.SetHold(nil)
				deliverDue(t, env)
			}}
	}
	return []AlertCase{
		{shop.AlertListenerDown, status(func(s *ton.Status) { s.Connected, s.Error = false, "dial: all liteservers refused" }), healthy},
		{shop.AlertListenerLag, status(func(s *ton.Status) { s.LagSeconds = 600 }), healthy},
		{shop.AlertHistoryGap, status(func(s *ton.Status) {
			s.HistoryGap = "account 0:ab…: transactions at and before lt 7 back to 2026-04-16T10:00:00Z"
			s.Alert = "account history gap held (the cursor waits before it): …"
		}), healthy},
		{shop.AlertProofFailure, status(func(s *ton.Status) {
			s.ProofFailures, s.LastProofFailure = 3, "2026-04-16T12:00:00Z: unproven liteserver answer: block data: incorrect block"
			s.Alert = "a liteserver answer failed verification 5s ago and was not used: …"
		}), healthy},
		{shop.AlertProviderDown,
			func(_ *testing.T, _ *Env, k *Knobs) {
				k.Provider.SetDown(fmt.Errorf("%w: fragment: session refused: \"Access denied\"", fulfil.ErrUnavailable))
			},
			func(_ *testing.T, _ *Env, k *Knobs) { k.Provider.SetDown(nil) }},
		{shop.AlertWalletLow, func(_ *testing.T, _ *Env, k *Knobs) { k.Wallet.Set(TON) },
			func(_ *testing.T, _ *Env, k *Knobs) { k.Wallet.Set(1000 * TON) }},
		{shop.AlertFloatShort,
			// A paid USDT order of 10000 stars costs about 41.67 TON at
			// Fragment; the wallet holds 10 TON (above wallet_min_ton).
			// Fragment is slow meanwhile: the order stays owed.
			func(t *testing.T, env *Env, k *Knobs) {
				k.Provider.SetStall(true)
				k.Wallet.Set(10 * TON)
				p, _ := env.Partner(t)
				PaidUSDTOrder(t, env, p, "pandus", 10_000)
			},
			func(_ *testing.T, _ *Env, k *Knobs) { k.Wallet.Set(1000 * TON); k.Provider.SetStall(false) }},
		{shop.AlertWalletShort,
			func(t *testing.T, env *Env, _ *Knobs) {
				p, _ := env.Partner(t)
				if _, err := env.Shop.ApplyTransfer(context.Background(), ton.Transfer{Hash: TxHash(),
					To: p.TopupAddress, AmountNano: 2000 * TON, Incoming: true}); err != nil {
					t.Fatal(err)
				}
			},
			func(_ *testing.T, _ *Env, k *Knobs) { k.Wallet.Set(3000 * TON) }},
		held(shop.AlertHeldFunds, &fulfil.Hold{Reason: fulfil.HoldFunds, BalanceNano: TON / 10, NeedNano: TON, Detail: "wallet short"}),
		heldLong(shop.AlertHeldChain, func(env *Env) *fulfil.Hold {
			return &fulfil.Hold{Reason: fulfil.HoldChainBehind, ChainTime: env.Clock.Now().Add(-time.Hour), Detail: "view behind"}
		}, 12),
		held(shop.AlertHeldWallet, &fulfil.Hold{Reason: fulfil.HoldWalletUnrecorded,
			Detail: "the service wallet 0:ab… has run 2 message(s) this store has no record of (seqno 7 on chain, the store's payment records end at 5)"}),
		heldLong(shop.AlertHeldHistory, func(*Env) *fulfil.Hold {
			return &fulfil.Hold{Reason: fulfil.HoldWalletHistory,
				Detail: "payment for req1 sent (batch 1, seqno 5) and not settled: the wallet's seqno is 6, past this batch's 5, and its transaction is not among those read"}
		}, 6),
		held(shop.AlertHeldElsewhere, &fulfil.Hold{Reason: fulfil.HoldWalletElsewhere,
			Detail: "payment for req1 sent (batch 1, seqno 5) and not settled: a message this service did not sign took the service wallet's seqno 5"}),
		{shop.AlertRefundSpike,
			func(t *testing.T, env *Env, _ *Knobs) {
				p, _ := env.Partner(t)
				a, b := PaidOrder(t, env, p, "pandus_fail"), PaidOrder(t, env, p, "durov_fail")
				// The shop's own delivery loop may be running too: wait for both refunds.
				for deadline := time.Now().Add(10 * time.Second); ; {
					deliverDue(t, env)
					oa, _ := env.Shop.OperatorOrder(context.Background(), a.ID)
					ob, _ := env.Shop.OperatorOrder(context.Background(), b.ID)
					if oa.Status == domain.StatusRefunded && ob.Status == domain.StatusRefunded {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("orders %s and %s, want both refunded", oa.Status, ob.Status)
					}
					time.Sleep(10 * time.Millisecond)
				}
			},
			func(_ *testing.T, env *Env, _ *Knobs) { env.Clock.Advance(10 * time.Minute) }},
	}
}
