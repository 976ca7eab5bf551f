package fragment

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"

	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

func TestExpiredInView(t *testing.T) {
	vu := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		view time.Time
		want bool
	}{
		{"view before valid_until", vu.Add(-time.Second), false},
		{"view at valid_until + margin", vu.Add(2 * time.Minute), false},
		{"view one second past valid_until + margin", vu.Add(2*time.Minute + time.Second), true},
		{"no view time: never concluded", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := expiredInView(vu.Unix(), tc.view, 2*time.Minute); got != tc.want {
				t.Fatalf("expiredInView = %v, want %v", got, tc.want)
			}
		})
	}
}

// The chain time of a view is the generation time of the shard block that
// holds the wallet, from the masterchain block's shard hashes, never the
// masterchain block's own (later) time.
func TestStateTimeReadsTheWalletsShard(t *testing.T) {
	mc := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	left := address.NewAddress(0, 0, bytes.Repeat([]byte{0x11}, 32))  // first bit 0
	right := address.NewAddress(0, 0, bytes.Repeat([]byte{0xee}, 32)) // first bit 1
	split := []fakeShard{
		{id: 0x4000000000000000, at: mc.Add(-7 * time.Second)},   // prefix 0
		{id: -0x4000000000000000, at: mc.Add(-90 * time.Second)}, // prefix 1: a lagging shard
	}
	id := &liteapi.BlockIDExt{Workchain: -1, Shard: -1 << 63, SeqNo: 77}
	for _, tc := range []struct {
		name string
		addr *address.Address
		blk  *tlb.Block
		want time.Time
		err  bool
	}{
		{"left shard", left, fakeMasterBlock(77, mc, split), mc.Add(-7 * time.Second), false},
		{"right shard lags", right, fakeMasterBlock(77, mc, split), mc.Add(-90 * time.Second), false},
		{"one shard", right, fakeMasterBlock(77, mc, []fakeShard{{id: -1 << 63, at: mc.Add(-3 * time.Second)}}), mc.Add(-3 * time.Second), false},
		{"shard newer than the masterchain block: capped", left, fakeMasterBlock(77, mc, []fakeShard{{id: -1 << 63, at: mc.Add(time.Hour)}}), mc, false},
		{"masterchain wallet", address.NewAddress(0, 0xff, bytes.Repeat([]byte{1}, 32)), fakeMasterBlock(77, mc, split), mc, false},
		{"another block than asked", left, fakeMasterBlock(78, mc, split), time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stateTime(tc.blk, id, tc.addr)
			if (err != nil) != tc.err || !got.Equal(tc.want) {
				t.Fatalf("stateTime = %s, %v; want %s (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
	notMaster := fakeMasterBlock(77, mc, split)
	notMaster.BlockInfo.NotMaster = true
	noShards := fakeMasterBlock(77, mc, split)
	noShards.Extra = nil
	for name, b := range map[string]*tlb.Block{"shard block": notMaster, "no shard hashes": noShards} {
		if _, err := stateTime(b, id, left); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// clockedPayer is a payer and its chain on one settable clock near real time
// (tonutils-go stamps valid_until from the real clock).
func clockedPayer(t *testing.T) (*WalletPayer, *fakeChain, *shoptest.Clock) {
	t.Helper()
	clk := shoptest.NewClock(time.Now())
	p, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.Now = clk.Now })
	chain.now = clk.Now
	return p, chain, clk
}

// setAt moves clk to t.
func setAt(clk *shoptest.Clock, t time.Time) { clk.Advance(t.Sub(clk.Now())) }

func (c *fakeChain) set(fn func(c *fakeChain)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c)
}

// A liteserver 3 minutes behind: the message ran 2 s before valid_until.
// This clock is past valid_until + margin, but the view is not: the lookup
// stays pending (held: chain_behind), never expired; once the view catches up it is
// confirmed, with the bounce window measured in chain time.
func TestWalletPayerLaggingViewNeverExpiresAnExecutedMessage(t *testing.T) {
	p, chain, clk := clockedPayer(t)
	ctx := context.Background()
	chain.set(func(c *fakeChain) { c.execute = false }) // the first broadcast is lost
	s, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	vu := time.Unix(s.ValidUntil, 0)
	setAt(clk, vu.Add(-2*time.Second))
	chain.set(func(c *fakeChain) { c.execute = true })
	if err := p.Resend(ctx, s); err != nil { // runs in a block 2 s before valid_until
		t.Fatal(err)
	}
	chain.set(func(c *fakeChain) { c.lag = 3 * time.Minute })
	setAt(clk, vu.Add(2*time.Minute+30*time.Second))
	out := lookOne(t, p, s)
	if out.Status != StatusPending || out.Hold != fulfil.HoldChainBehind || !out.ChainTime.Equal(clk.Now().Add(-3*time.Minute).Truncate(time.Second)) {
		t.Fatalf("lagging view: %+v; want pending, behind, chain time 3 min ago", out)
	}
	// The local-clock rule this replaces would have said expired here.
	if clk.Now().Unix() <= s.ValidUntil+int64(p.opt.ExpiryMargin/time.Second) {
		t.Fatal("test setup: the local clock must be past valid_until + margin")
	}
	chain.set(func(c *fakeChain) { c.lag = 0 })
	out = lookOne(t, p, s)
	if out.Status != StatusConfirmed || out.Hold != "" || !out.Time.Equal(vu.Add(-2*time.Second)) || out.Items[0].Status != StatusConfirmed {
		t.Fatalf("caught-up view: %+v; want run at valid_until - 2 s, the payment taken", out)
	}
}

// A message that truly never ran is expired only once the view's chain
// time, not this clock, is past valid_until + margin.
func TestWalletPayerNeverExecutedExpiresInChainTime(t *testing.T) {
	p, chain, clk := clockedPayer(t)
	ctx := context.Background()
	chain.set(func(c *fakeChain) { c.execute = false; c.lag = 3 * time.Minute })
	s, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	vu := time.Unix(s.ValidUntil, 0)
	for _, step := range []struct {
		at     time.Time // this clock; the view is 3 min earlier
		status Status
	}{
		{vu.Add(2*time.Minute + 30*time.Second), StatusPending}, // view: valid_until - 30 s
		{vu.Add(4*time.Minute + 30*time.Second), StatusPending}, // view: valid_until + 90 s
		{vu.Add(5 * time.Minute), StatusPending},                // view: valid_until + margin exactly
		{vu.Add(5*time.Minute + time.Second), StatusExpired},    // view: past valid_until + margin
	} {
		setAt(clk, step.at)
		out, err := p.Lookup(ctx, []SentBatch{s})
		if err != nil || out[0].Status != step.status || (step.status == StatusPending && out[0].Hold != fulfil.HoldChainBehind) {
			t.Fatalf("clock valid_until%+v: %+v, %v; want %s", step.at.Sub(vu), out, err, step.status)
		}
	}
}

// The next message is signed only when the view shows the previous one ran
// or can no longer run: a local clock past its expiry is not enough (a
// second message with the same seqno would later look "never executed").
func TestWalletPayerNextMessageWaitsForChainTime(t *testing.T) {
	p, chain, clk := clockedPayer(t)
	chain.set(func(c *fakeChain) { c.execute = false; c.lag = 3 * time.Minute })
	first, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	setAt(clk, time.Unix(first.ValidUntil, 0).Add(2*time.Minute+30*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	m := testMessage(t)
	m.ValidUntil = clk.Now().Add(5 * time.Minute)
	if _, err := p.SendBatch(ctx, []Message{m}, 0, func(context.Context, SentBatch) error { return nil }); err == nil {
		t.Fatal("a second message was signed while the view cannot rule out the first")
	}
	setAt(clk, time.Unix(first.ValidUntil, 0).Add(5*time.Minute+time.Second)) // the view passes expiry + margin
	m.ValidUntil = clk.Now().Add(5 * time.Minute)
	if _, err := sendOne(t, p, m); err != nil {
		t.Fatalf("after the view passed the first message's expiry: %v", err)
	}
}

// The wallet's balance at the view a message is signed at decides: too poor
// (fee and reserve included) → a funds hold, nothing recorded, nothing
// broadcast.
func TestWalletPayerTooPoorSignsNothing(t *testing.T) {
	p, chain := newTestPayer(t, nil)
	m := testMessage(t)
	const reserve = 50_000_000
	need := m.AmountNano + p.Fee(1) + reserve
	chain.set(func(c *fakeChain) { c.balance = need - 1; c.commit() })
	_, err := p.SendBatch(context.Background(), []Message{m}, reserve, func(context.Context, SentBatch) error {
		t.Error("recorded a message the wallet cannot pay")
		return nil
	})
	var h *fulfil.Hold
	if !errors.As(err, &h) || !errors.Is(err, fulfil.ErrInsufficientFunds) || h.BalanceNano != need-1 ||
		h.NeedNano != need || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("err = %v (%+v); want a funds hold with the numbers", err, h)
	}
	if chain.sends != 0 {
		t.Fatal("broadcast from a wallet too poor")
	}
	chain.set(func(c *fakeChain) { c.balance = need; c.commit() })
	if _, err := p.SendBatch(context.Background(), []Message{m}, reserve, func(context.Context, SentBatch) error { return nil }); err != nil {
		t.Fatalf("with exactly enough: %v", err)
	}
}

// The bounce window (used when the destination's history cannot be read)
// is chain time too: a payment seen in a view that reaches only 10 s past it
// could still bounce, however late this clock is, so it is not settled; once
// the view reaches 30 s past it, it is.
func TestBounceWindowIsMeasuredInChainTime(t *testing.T) {
	p, chain, clk := clockedPayer(t)
	s, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	paidAt := clk.Now()
	setAt(clk, paidAt.Add(time.Hour))
	chain.set(func(c *fakeChain) { c.lag = time.Hour - 10*time.Second })
	if out := lookOne(t, p, s); out.Status != StatusConfirmed || out.Items[0].Status != StatusPending {
		t.Fatalf("view 10 s past the payment: %+v; want run, payment not settled", out)
	}
	chain.set(func(c *fakeChain) { c.lag = time.Hour - 30*time.Second })
	if out := lookOne(t, p, s); out.Items[0].Status != StatusConfirmed {
		t.Fatalf("view 30 s past the payment: %+v; want taken", out)
	}
}
