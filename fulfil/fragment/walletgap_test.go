package fragment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/internal/simchain"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// holeyChain is a liteserver pool that lacks part of some accounts'
// history: below an account's floor lt, ListTransactions answers tonutils-go's
// ErrNoTransactionsWereFound (what v1.12.0 returns for an empty list and for
// LSError code 0), except on the nodes listed in serving. It is sticky like
// the real client (Client), so the payer can ask the pool's other nodes.
type holeyChain struct {
	ChainAPI
	mu      sync.Mutex
	floor   map[string]uint64 // raw address → lowest lt served
	nodes   uint32            // nodes in the pool
	serving []uint32          // nodes that serve everything
	asked   map[uint32]int    // pages asked of each node (0: not bound)
}

func newHoleyChain(c ChainAPI) *holeyChain {
	return &holeyChain{ChainAPI: c, floor: map[string]uint64{}, nodes: 1, asked: map[uint32]int{}}
}

// hide makes a's transactions below lt unserved (0: serve everything).
func (c *holeyChain) hide(a string, lt uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.floor[a] = lt
}

func (c *holeyChain) ListTransactions(ctx context.Context, a *address.Address, num uint32, lt uint64, hash []byte) ([]*tlb.Transaction, error) {
	node := simchain.NodeOf(ctx)
	c.mu.Lock()
	c.asked[node]++
	hidden := lt < c.floor[a.StringRaw()] && !slices.Contains(c.serving, node)
	c.mu.Unlock()
	if hidden {
		return nil, liteapi.ErrNoTransactionsWereFound
	}
	return c.ChainAPI.ListTransactions(ctx, a, num, lt, hash)
}

// full serves a's history in full: a stand-in for the archive.
type full struct{ ChainAPI }

// Client binds contexts to nodes 1, 2, … in turn, like the real pool.
func (c *holeyChain) Client() liteapi.LiteClient {
	return simchain.Pool{Nodes: func() uint32 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.nodes
	}}
}

// The reviewer's reproduction: one batch sent and run, 40 incoming
// transfers after it, and after a restart a liteserver that serves only the
// newest 16 of the wallet's transactions. The seqno moved past the batch
// and its transaction is in the unread range: held (wallet_history_unread),
// never "expired" (which paid every order of the batch again). Once the
// history is served the same payer finds it ran.
func TestWalletPayerUnreadHistoryHoldsABatchTheSeqnoPassed(t *testing.T) {
	w := testWallet(t, wallet.V4R2)
	chain := newFakeChain(t, w.Address())
	opts := WalletPayerOptions{PollInterval: time.Millisecond, BounceWindow: -1}
	p, err := NewWalletPayer(w, chain, opts)
	if err != nil {
		t.Fatal(err)
	}
	chain.incoming(3)
	s, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	chain.incoming(40)
	if out := lookOne(t, p, s); out.Status != StatusConfirmed {
		t.Fatalf("full history: %+v", out)
	}
	holey := newHoleyChain(chain)
	holey.hide(w.Address().StringRaw(), chain.txs[len(chain.txs)-16].LT)
	p2, err := NewWalletPayer(w, holey, opts) // after a restart: nothing cached
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // asked again every time, never given up
		out := lookOne(t, p2, s)
		if out.Status != StatusPending || out.Hold != fulfil.HoldWalletHistory ||
			!strings.Contains(out.Detail, "seqno is 6, past this batch's 5") || !strings.Contains(out.Detail, "not served") {
			t.Fatalf("unread history: %+v; want pending, held %s", out, fulfil.HoldWalletHistory)
		}
	}
	chain.incoming(5) // more traffic while it is held
	holey.hide(w.Address().StringRaw(), 0)
	out := lookOne(t, p2, s)
	if out.Status != StatusConfirmed || out.Hold != "" || out.Items[0].Status != StatusConfirmed || out.TxHash != fmt.Sprintf("%x", chain.txs[3].Hash) {
		t.Fatalf("history served again: %+v; want the batch's transaction", out)
	}
}

// A page one liteserver lacks is asked of the pool's other servers, then of
// the archive: no hold when any of them has it.
func TestWalletPayerAsksOtherServersAndTheArchive(t *testing.T) {
	for _, tc := range []struct {
		name    string
		serving []uint32
		archive bool
	}{
		{name: "another liteserver has it", serving: []uint32{2}},
		{name: "only the archive has it", archive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWallet(t, wallet.V4R2)
			chain := newFakeChain(t, w.Address())
			chain.incoming(3)
			p, err := NewWalletPayer(w, chain, WalletPayerOptions{PollInterval: time.Millisecond, BounceWindow: -1})
			if err != nil {
				t.Fatal(err)
			}
			s, err := sendOne(t, p, testMessage(t))
			if err != nil {
				t.Fatal(err)
			}
			chain.incoming(40)
			holey := newHoleyChain(chain)
			holey.nodes, holey.serving = 3, tc.serving
			holey.hide(w.Address().StringRaw(), chain.txs[len(chain.txs)-16].LT)
			dials := 0
			opts := WalletPayerOptions{PollInterval: time.Millisecond, BounceWindow: -1}
			if tc.archive {
				opts.Archive = func(context.Context) (ton.TxLister, error) { dials++; return full{chain}, nil }
			}
			p2, err := NewWalletPayer(w, holey, opts)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if out := lookOne(t, p2, s); out.Status != StatusConfirmed || out.Hold != "" {
					t.Fatalf("%+v; want confirmed", out)
				}
			}
			if tc.archive && dials != 1 {
				t.Fatalf("archive dialled %d times, want once", dials)
			}
			if !tc.archive && holey.asked[2] == 0 {
				t.Fatal("the other liteserver was never asked")
			}
		})
	}
}

// A gap opening above what a payer has already read does not make it
// forget what it read, nor take the gap as read: the cache never moves past
// an unread range.
func TestWalletPayerGapAboveTheCacheIsAskedAgain(t *testing.T) {
	p, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	first, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	if out := lookOne(t, p, first); out.Status != StatusConfirmed {
		t.Fatalf("%+v", out)
	}
	holey := newHoleyChain(chain)
	p.api = holey
	second, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	chain.incoming(40)
	holey.hide(p.addr.StringRaw(), chain.txs[len(chain.txs)-16].LT) // second's transaction is unread
	outs, err := p.Lookup(context.Background(), []SentBatch{first, second})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Status != StatusConfirmed || outs[1].Status != StatusPending || outs[1].Hold != fulfil.HoldWalletHistory {
		t.Fatalf("first %+v\nsecond %+v; want the first (read before) confirmed, the second held", outs[0], outs[1])
	}
	chain.incoming(20)
	holey.hide(p.addr.StringRaw(), 0)
	outs, err = p.Lookup(context.Background(), []SentBatch{first, second})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Status != StatusConfirmed || outs[1].Status != StatusConfirmed {
		t.Fatalf("first %+v\nsecond %+v; want both confirmed", outs[0], outs[1])
	}
}

// A message this payer did not sign takes the batch's seqno (something
// else signs with the wallet's key): the batch is held
// (wallet_used_elsewhere), never expired. A message of this payer's own that
// took the seqno after the batch expired in chain time makes it expired:
// it never ran.
func TestWalletPayerSeqnoTakenByAnotherMessage(t *testing.T) {
	t.Run("not ours: held", func(t *testing.T) {
		p, chain := newTestPayer(t, nil)
		chain.execute = false
		s, err := sendOne(t, p, testMessage(t))
		if err != nil {
			t.Fatal(err)
		}
		chain.set(func(c *fakeChain) { c.execute = true })
		// The same key signs elsewhere (another process: its own payer).
		other, err := NewWalletPayer(testWallet(t, wallet.V4R2), chain, WalletPayerOptions{PollInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		m := testMessage(t)
		m.AmountNano = 1_000_000 // another payment altogether
		o, err := sendOne(t, other, m)
		if err != nil || o.Seqno != s.Seqno {
			t.Fatalf("the other message: %+v, %v", o, err)
		}
		out := lookOne(t, p, s)
		if out.Status != StatusPending || out.Hold != fulfil.HoldWalletElsewhere || !strings.Contains(out.Detail, "did not sign took the service wallet's seqno 5") {
			t.Fatalf("%+v; want pending, held %s", out, fulfil.HoldWalletElsewhere)
		}
		if err := p.Resend(context.Background(), s); err == nil {
			t.Fatal("the displaced message ran after all")
		}
		if out := lookOne(t, p, s); out.Hold != fulfil.HoldWalletElsewhere {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("the seqno moved without any message in sight: held", func(t *testing.T) {
		p, chain := newTestPayer(t, nil)
		chain.execute = false
		s, err := sendOne(t, p, testMessage(t))
		if err != nil {
			t.Fatal(err)
		}
		chain.set(func(c *fakeChain) {
			c.seqno++ // an unreadable external took seqno 5
			c.newTx(&tlb.Message{MsgType: tlb.MsgTypeExternalIn, Msg: &tlb.ExternalMessage{DstAddr: c.addr, Body: cell.BeginCell().MustStoreUInt(1, 8).EndCell()}})
			c.commit()
		})
		if out := lookOne(t, p, s); out.Status != StatusPending || out.Hold != fulfil.HoldWalletElsewhere {
			t.Fatalf("%+v; want held %s", out, fulfil.HoldWalletElsewhere)
		}
	})
	t.Run("ours, after it expired: never ran", func(t *testing.T) {
		p, chain, clk := clockedPayer(t)
		chain.set(func(c *fakeChain) { c.execute = false })
		old, err := sendOne(t, p, testMessage(t))
		if err != nil {
			t.Fatal(err)
		}
		setAt(clk, time.Unix(old.ValidUntil, 0).Add(p.opt.ExpiryMargin+time.Second))
		chain.set(func(c *fakeChain) { c.execute = true })
		m := testMessage(t)
		m.ValidUntil = clk.Now().Add(5 * time.Minute)
		next, err := sendOne(t, p, m) // signed at the same seqno: the old one can no longer run
		if err != nil || next.Seqno != old.Seqno {
			t.Fatalf("next %+v, %v", next, err)
		}
		// This payer knows it signed next, even looking the old one up alone.
		if out := lookOne(t, p, old); out.Status != StatusExpired || !strings.Contains(out.Detail, "another message of this service") {
			t.Fatalf("%+v; want expired", out)
		}
		// After a restart both are among the open batches.
		p2, err := NewWalletPayer(testWallet(t, wallet.V4R2), chain, WalletPayerOptions{PollInterval: time.Millisecond, Now: clk.Now, BounceWindow: -1})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := p2.Lookup(context.Background(), []SentBatch{old, next})
		if err != nil || outs[0].Status != StatusExpired || outs[1].Status != StatusConfirmed {
			t.Fatalf("%+v, %v; want the old expired, the new confirmed", outs, err)
		}
	})
}

// The provider over the reviewer's reproduction: a batch recorded and run,
// then a restart over a liteserver lacking the history. The order is held
// (wallet_history_unread) — not refunded, not paid again — and completes
// with the one payment once the history is served: one Fragment link, one
// payment on chain.
func TestProviderUnreadWalletHistoryNeverPaysTwice(t *testing.T) {
	f, srv := newFakeFragment(t)
	wp, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	chain.execute = false // the broadcast is lost; the provider stops before it runs
	p := newTestProvider(t, srv.URL, wp, func(o *Options) { o.ConfirmTimeout = 50 * time.Millisecond })
	if _, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave); err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("first Deliver: %v; want transient", err)
	}
	p.Close()
	sent := recordedBatch(t, storeOf(p), 7)
	chain.set(func(c *fakeChain) { c.execute = true })
	if err := wp.Resend(context.Background(), sent); err != nil { // it runs after all
		t.Fatal(err)
	}
	chain.incoming(40)
	holey := newHoleyChain(chain)
	holey.hide(wp.addr.StringRaw(), chain.txs[len(chain.txs)-16].LT)
	wp2, err := NewWalletPayer(testWallet(t, wallet.V4R2), holey, WalletPayerOptions{PollInterval: time.Millisecond, BounceWindow: -1})
	if err != nil {
		t.Fatal(err)
	}
	p2 := newTestProvider(t, srv.URL, wp2, func(o *Options) { o.Records = p.records; o.ConfirmTimeout = time.Minute })
	for range 3 {
		_, err := p2.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
		var h *fulfil.Hold
		if !errors.As(err, &h) || h.Reason != fulfil.HoldWalletHistory {
			t.Fatalf("Deliver over the unread history: %v; want held %s", err, fulfil.HoldWalletHistory)
		}
	}
	if n := paymentsOnChain(chain); n != 1 || f.count("getBuyStarsLink") != 1 {
		t.Fatalf("%d payments on chain, %d links; want 1 and 1", n, f.count("getBuyStarsLink"))
	}
	holey.hide(wp.addr.StringRaw(), 0)
	res, err := p2.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
	if err != nil || res.TxHash != fmt.Sprintf("%x", chain.txs[3].Hash) {
		t.Fatalf("history served: %+v, %v; want completed by the one payment", res, err)
	}
	if n := paymentsOnChain(chain); n != 1 || f.count("getBuyStarsLink") != 1 {
		t.Fatalf("%d payments on chain, %d links; want 1 and 1", n, f.count("getBuyStarsLink"))
	}
	if ms := records(t, p2, 7); len(ms) != 1 || ms[0].Outcome != domain.PaymentPaid {
		t.Fatalf("records %+v", ms)
	}
}

// The provider when a foreign message takes the seqno of its batch: the
// order is held (wallet_used_elsewhere), nothing is paid again, and no
// other order gets a link or a payment while the batch is unsettled.
func TestProviderWalletUsedElsewherePaysNothingAgain(t *testing.T) {
	f, srv := newFakeFragment(t)
	wp, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	chain.execute = false
	// The hold must come within the wait whatever the machine's load: a
	// long ConfirmTimeout, and the first delivery is stopped once its
	// payment is recorded.
	p := newTestProvider(t, srv.URL, wp, func(o *Options) { o.ConfirmTimeout = time.Minute; o.ResendAfter = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	first := deliverAsync(ctx, t, p, starsReq("alice_user", 100))
	waitLong(t, "the first payment recorded", func() bool { return len(records(t, p, 7)) == 1 })
	cancel()
	if err := recv(t, "the first Deliver", first); err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("first Deliver: %v; want transient", err)
	}
	chain.set(func(c *fakeChain) { c.execute = true })
	other, err := NewWalletPayer(testWallet(t, wallet.V4R2), chain, WalletPayerOptions{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage(t)
	m.AmountNano = 1_000_000
	if _, err := sendOne(t, other, m); err != nil { // takes seqno 5
		t.Fatal(err)
	}
	for range 3 {
		_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
		var h *fulfil.Hold
		if !errors.As(err, &h) || h.Reason != fulfil.HoldWalletElsewhere {
			t.Fatalf("Deliver: %v; want held %s", err, fulfil.HoldWalletElsewhere)
		}
	}
	_, err = p.Deliver(context.Background(), premiumReq("bob_user", 3), noSave)
	var h *fulfil.Hold
	if !errors.As(err, &h) || h.Reason != fulfil.HoldWalletElsewhere {
		t.Fatalf("another order: %v; want held %s", err, fulfil.HoldWalletElsewhere)
	}
	if n := paymentsOnChain(chain); n != 1 || f.count("getBuyStarsLink") != 1 || f.count("getGiftPremiumLink") != 0 {
		t.Fatalf("%d payments on chain (the foreign one), %d + %d links; want 1, 1, 0", n, f.count("getBuyStarsLink"), f.count("getGiftPremiumLink"))
	}
	if ms := records(t, p, 7); len(ms) != 1 || ms[0].Outcome != domain.PaymentPending {
		t.Fatalf("records %+v; want the one payment still pending", ms)
	}
}

// recordedBatch is the batch order id's payment was recorded in.
func recordedBatch(t *testing.T, st store.Store, orderID int64) SentBatch {
	t.Helper()
	var sent SentBatch
	if err := st.View(context.Background(), func(tx store.Tx) error {
		ms, err := tx.OrderPayerMessages(orderID)
		if err != nil || len(ms) != 1 {
			return fmt.Errorf("order %d: %d payment records, %v", orderID, len(ms), err)
		}
		rec, err := tx.GetPayerBatch(ms[0].BatchID)
		if err != nil {
			return err
		}
		all, err := tx.PayerMessages(rec.ID)
		sent = sentOf(rec, all)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return sent
}

// paymentsOnChain counts the wallet transactions that sent payments out.
func paymentsOnChain(c *fakeChain) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tx := range c.txs {
		if tx.IO.Out != nil {
			list, _ := tx.IO.Out.ToSlice()
			n += len(list)
		}
	}
	return n
}

// A destination whose history is not served: its payments stay pending
// (the bounce-window fallback is an hour here), and the unread range is
// asked for again at every Lookup — never skipped — so once it is served
// each payment is settled by Fragment's own transaction.
func TestWalletPayerDestinationGapIsAskedAgain(t *testing.T) {
	keys, err := ton.NewKeys(ton.NewSeed(), "v5r1", ton.NetworkTestnet)
	if err != nil {
		t.Fatal(err)
	}
	chain := newHoleyChain(newSimChain(t, keys))
	chain.hide(simTaker.StringRaw(), 1<<63)
	p, err := NewWalletPayer(keys.Wallet(), chain, WalletPayerOptions{Testnet: true, PollInterval: simBlock / 4, BounceWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := decodePayload(fragmentPayload("100 Telegram Stars \n\nRef#gap1"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.SendBatch(context.Background(), []Message{{To: simTaker, AmountNano: 1e9, Payload: pl, ValidUntil: time.Now().Add(5 * time.Minute)}},
		0, func(context.Context, SentBatch) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for deadline := time.Now().Add(time.Minute); ran < 5; time.Sleep(simBlock) {
		if time.Now().After(deadline) {
			t.Fatal("the batch did not run")
		}
		out := lookOne(t, p, s)
		if out.Status != StatusConfirmed {
			continue
		}
		ran++
		if it := out.Items[0]; it.Status != StatusPending || it.DestTx != "" {
			t.Fatalf("destination history unread: %+v; want pending", it)
		}
	}
	chain.hide(simTaker.StringRaw(), 0)
	out := lookOne(t, p, s)
	if it := out.Items[0]; it.Status != StatusConfirmed || len(it.DestTx) != 64 {
		t.Fatalf("destination history served: %+v; want taken, by Fragment's transaction", it)
	}
}
