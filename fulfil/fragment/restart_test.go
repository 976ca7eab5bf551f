package fragment

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
)

// After a restart, which open batch is held is known only once the resolver
// has looked it up: nothing is signed before that (issue 16 follow-up).

// gatedPayer is a Payer whose look-ups wait until the gate opens and fail
// while fail is set; it counts the batches it is asked to sign and the
// look-ups that failed.
type gatedPayer struct {
	Payer
	mu     sync.Mutex
	gate   chan struct{}
	fail   error
	failed int
	sends  int
}

func newGatedPayer(p Payer) *gatedPayer { return &gatedPayer{Payer: p, gate: make(chan struct{})} }

func (g *gatedPayer) open() { close(g.gate) }

func (g *gatedPayer) setFail(err error) {
	g.mu.Lock()
	g.fail = err
	g.mu.Unlock()
}

func (g *gatedPayer) counts() (sends, failed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sends, g.failed
}

func (g *gatedPayer) Lookup(ctx context.Context, bs []SentBatch) ([]BatchOutcome, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	g.mu.Lock()
	fail := g.fail
	if fail != nil {
		g.failed++
	}
	g.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return g.Payer.Lookup(ctx, bs)
}

func (g *gatedPayer) SendBatch(ctx context.Context, ms []Message, reserve int64, record func(context.Context, SentBatch) error) (SentBatch, error) {
	g.mu.Lock()
	g.sends++
	g.mu.Unlock()
	return g.Payer.SendBatch(ctx, ms, reserve, record)
}

// paymentsHealth is the provider's fragment_payments component as /health
// shows it (JSON).
func paymentsHealth(t *testing.T, p *Provider) map[string]any {
	t.Helper()
	_, st := p.PaymentsHealth()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitLong polls cond for up to a minute (machines are shared and slow;
// nothing here depends on how long it takes).
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// deliverAsync runs p.Deliver(ctx, r) in the background; the result
// arrives on the channel. The call ends with the test at the latest.
func deliverAsync(ctx context.Context, t *testing.T, p *Provider, r fulfil.Request) <-chan error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := p.Deliver(ctx, r, noSave)
		done <- err
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return done
}

// recv waits up to a minute for a Deliver result.
func recv(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

// A batch recorded at seqno 5 was displaced by a message this service did
// not sign; the wallet's seqno on chain is 6. After a restart the next
// batch (seqno 6 passes the wait for the previous one) must not be signed
// before the resolver has looked the recorded batch up — then the hold is
// known and nothing is signed while it stands.
func TestRestartSignsNothingBeforeADisplacedBatchIsLookedUp(t *testing.T) {
	f, srv := newFakeFragment(t)
	wp, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	chain.execute = false // the broadcast is lost
	p := newTestProvider(t, srv.URL, wp, func(o *Options) { o.ConfirmTimeout = 50 * time.Millisecond; o.ResendAfter = time.Hour })
	if _, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave); err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("first Deliver: %v; want transient", err)
	}
	p.Close()
	chain.set(func(c *fakeChain) { c.execute = true })
	other, err := NewWalletPayer(testWallet(t, wallet.V4R2), chain, WalletPayerOptions{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage(t)
	m.AmountNano = 1_000_000
	if s, err := sendOne(t, other, m); err != nil || s.Seqno != 5 { // takes the batch's seqno
		t.Fatalf("the other message: %+v, %v", s, err)
	}

	// The restart: a new payer and provider over the same records; the
	// first look-up waits until the test lets it through.
	wp2, err := NewWalletPayer(testWallet(t, wallet.V4R2), chain, WalletPayerOptions{PollInterval: time.Millisecond, BounceWindow: -1})
	if err != nil {
		t.Fatal(err)
	}
	g := newGatedPayer(wp2)
	p2 := newTestProvider(t, srv.URL, g, func(o *Options) { o.Records = p.records; o.ResendAfter = time.Hour; o.ConfirmTimeout = time.Minute })
	done := deliverAsync(context.Background(), t, p2, premiumReq("bob_premium", 3))
	var h map[string]any
	waitLong(t, "the new order's payment signed or waiting", func() bool {
		sends, _ := g.counts()
		h = paymentsHealth(t, p2)
		return sends > 0 || h["payments_waiting"] == 1.0 && h["signing_waits"] != nil
	})
	if sends, _ := g.counts(); sends != 0 {
		waitLong(t, "the batch signed too early to reach the chain", func() bool { return paymentsOnChain(chain) == 2 })
		t.Fatalf("%d batch signed before the recorded batch was looked up: a second payment is on chain while a foreign signer holds the wallet", sends)
	}
	if n := paymentsOnChain(chain); n != 1 {
		t.Fatalf("%d payments on chain; want 1 (the foreign one)", n)
	}
	if w, _ := h["signing_waits"].(string); !strings.Contains(w, "no payment is signed until the open batches [") {
		t.Fatalf("health signing_waits %q", w)
	}

	g.open()
	err = recv(t, "the new order's Deliver", done)
	var hold *fulfil.Hold
	if !errors.As(err, &hold) || hold.Reason != fulfil.HoldWalletElsewhere {
		t.Fatalf("new order: %v; want held %s", err, fulfil.HoldWalletElsewhere)
	}
	if len(p2.DisplacedBatches()) != 1 {
		t.Fatalf("displaced batches %v; want the recorded one", p2.DisplacedBatches())
	}
	// While the hold stands: the held orders wait, nothing is signed, no
	// new link is asked for.
	for _, r := range []fulfil.Request{starsReq("alice_user", 100), premiumReq("bob_premium", 3)} {
		for range 2 {
			_, err := p2.Deliver(context.Background(), r, noSave)
			if !errors.As(err, &hold) || hold.Reason != fulfil.HoldWalletElsewhere {
				t.Fatalf("order %d: %v; want held %s", r.OrderID, err, fulfil.HoldWalletElsewhere)
			}
		}
	}
	sends, _ := g.counts()
	if seqno, err := wp2.Seqno(context.Background()); err != nil || seqno != 6 || sends != 0 || paymentsOnChain(chain) != 1 {
		t.Fatalf("wallet seqno %d (%v), %d batches signed, %d payments on chain; want 6, 0, 1", seqno, err, sends, paymentsOnChain(chain))
	}
	// The link asked before the hold was known is the only one.
	if f.count("getBuyStarsLink") != 1 || f.count("getGiftPremiumLink") != 1 {
		t.Fatalf("%d stars + %d premium links; want 1 + 1", f.count("getBuyStarsLink"), f.count("getGiftPremiumLink"))
	}
	if h := paymentsHealth(t, p2); h["signing_waits"] != nil {
		t.Fatalf("health still says %v", h["signing_waits"])
	}
	if ms := records(t, p2, 7); len(ms) != 1 || ms[0].Outcome != domain.PaymentPending {
		t.Fatalf("records %+v; want the one payment still pending", ms)
	}
	if ms := records(t, p2, 8); len(ms) != 0 {
		t.Fatalf("order 8 has payment records %+v; want none", ms)
	}
}

// A batch recorded at seqno 5 ran; after a restart the look-ups fail. The
// next batch waits — /health says why — until a look-up succeeds; then the
// recorded batch settles and the new payment is signed and paid, once each.
func TestRestartSignsNothingWhileTheLookupsFail(t *testing.T) {
	f, srv := newFakeFragment(t)
	wp, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	chain.execute = false
	p := newTestProvider(t, srv.URL, wp, func(o *Options) { o.ConfirmTimeout = 50 * time.Millisecond; o.ResendAfter = time.Hour })
	if _, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave); err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("first Deliver: %v; want transient", err)
	}
	p.Close()
	sent := recordedBatch(t, storeOf(p), 7)
	chain.set(func(c *fakeChain) { c.execute = true })
	if err := wp.Resend(context.Background(), sent); err != nil { // it runs after all: seqno 6
		t.Fatal(err)
	}

	wp2, err := NewWalletPayer(testWallet(t, wallet.V4R2), chain, WalletPayerOptions{PollInterval: time.Millisecond, BounceWindow: -1})
	if err != nil {
		t.Fatal(err)
	}
	g := newGatedPayer(wp2)
	g.setFail(errors.New("liteserver unreachable"))
	g.open()
	p2 := newTestProvider(t, srv.URL, g, func(o *Options) { o.Records = p.records; o.ResendAfter = time.Hour; o.ConfirmTimeout = time.Minute })
	done := deliverAsync(context.Background(), t, p2, premiumReq("bob_premium", 3))
	var h map[string]any
	waitLong(t, "the new order's payment signed or waiting through failed look-ups", func() bool {
		sends, failed := g.counts()
		h = paymentsHealth(t, p2)
		return sends > 0 || h["payments_waiting"] == 1.0 && failed >= 3 && h["signing_waits"] != nil
	})
	if sends, _ := g.counts(); sends != 0 {
		waitLong(t, "the batch signed too early to reach the chain", func() bool { return paymentsOnChain(chain) == 2 })
		t.Fatalf("%d batch signed while the look-ups fail: a second payment is on chain before the recorded batch was looked up", sends)
	}
	if n := paymentsOnChain(chain); n != 1 {
		t.Fatalf("%d payments on chain; want 1 (the recorded batch's)", n)
	}
	if e, _ := h["last_lookup_error"].(string); !strings.Contains(e, "liteserver unreachable") {
		t.Fatalf("health last_lookup_error %q", e)
	}
	if w, _ := h["signing_waits"].(string); !strings.Contains(w, "the look-ups fail: liteserver unreachable") {
		t.Fatalf("health signing_waits %q", w)
	}

	g.setFail(nil)
	if err := recv(t, "the new order's Deliver", done); err != nil {
		t.Fatalf("new order after the look-ups work: %v", err)
	}
	res, err := p2.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
	if err != nil || res.TxHash == "" {
		t.Fatalf("the recorded order: %+v, %v; want completed by its batch", res, err)
	}
	if sends, _ := g.counts(); sends != 1 || paymentsOnChain(chain) != 2 || f.count("getBuyStarsLink") != 1 || f.count("getGiftPremiumLink") != 1 {
		t.Fatalf("%d batches signed, %d payments on chain, %d + %d links; want 1, 2, 1 + 1",
			sends, paymentsOnChain(chain), f.count("getBuyStarsLink"), f.count("getGiftPremiumLink"))
	}
	for _, id := range []int64{7, 8} {
		if ms := records(t, p2, id); len(ms) != 1 || ms[0].Outcome != domain.PaymentPaid {
			t.Fatalf("order %d records %+v; want one paid", id, ms)
		}
	}
	if h := paymentsHealth(t, p2); h["signing_waits"] != nil {
		t.Fatalf("health still says %v", h["signing_waits"])
	}
}

// No batch open at the start, or only batches this pipeline signed: the
// batcher does not wait for any look-up (they are all blocked here).
func TestOwnBatchesNeedNoLookupBeforeTheNext(t *testing.T) {
	_, srv := newFakeFragment(t)
	wp, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	g := newGatedPayer(wp)
	recs := shop.PayerRecords{Store: testStore(t)}
	reconciled(t, recs, wp)
	p := newTestProvider(t, srv.URL, g, func(o *Options) { o.Records = recs; o.ResendAfter = time.Hour; o.ConfirmTimeout = time.Minute })
	deliverAsync(context.Background(), t, p, starsReq("alice_user", 100))
	waitLong(t, "the first batch", func() bool { s, _ := g.counts(); return s == 1 })
	deliverAsync(context.Background(), t, p, premiumReq("bob_premium", 3))
	waitLong(t, "the second batch", func() bool { s, _ := g.counts(); return s == 2 && paymentsOnChain(chain) == 2 })
	if h := paymentsHealth(t, p); h["signing_waits"] != nil {
		t.Fatalf("health says %v", h["signing_waits"])
	}
}
