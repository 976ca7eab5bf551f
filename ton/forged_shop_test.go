package ton_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// waitFor polls cond: the deadline only matters when something is broken
// (the machine is shared and -race is slow).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ton.WaitUntil(t, 30*time.Second, what, cond)
}

// Forged chain data against a real shop over a real bbolt store: the
// listener is wired to the shop as main wires it (the shop's listen loop
// feeds its batches into ApplyBatch and keeps the cursor), over liteservers
// that lie. A partner's order waits for payment while (a) every liteserver
// serves a forged masterchain block paying the order's memo in full (its
// LookupBlock names the forged block, its GetBlockData of the real id
// answers the forged block's data) and (b) every liteserver tampers with a
// real transaction of a proven block, rewriting a small unrelated deposit
// into a full payment of the order. Neither reaches the store: the order
// stays pending_payment with nothing received, no ledger row is written, and
// shop.Check (what `openmoney check` runs) finds nothing wrong. Then (c) the
// honest chain's real payment arrives and pays the order exactly once.
func TestForgedChainDataNeverReachesTheStore(t *testing.T) {
	chain := ton.NewFakeChain(t)
	fs := newForgedShop(t, chain, chain)
	env, listener, service, alice, o, price := fs.env, fs.listener, fs.service, fs.alice, fs.order, fs.order.Price()
	untouched := func(step string, forged ...string) { t.Helper(); fs.untouched(t, step, forged...) }

	// (a) A forged masterchain block paying the memo in full, served by
	// every liteserver in place of the real block of its seqno.
	chain.SetHidden(1) // the real block exists, not served before the liars are ready
	seq := chain.Mine()
	forged := chain.Pay(alice, service, price, o.PaymentMemo)
	chain.Forge(seq, forged)
	chain.SetLies(ton.LieLookup | ton.LieBlockData)
	failures := listener.Status().ProofFailures
	chain.SetHidden(0)
	waitFor(t, "the forged block refused (or taken)", func() bool {
		st := listener.Status()
		return st.ProofFailures > failures || st.LastBlock >= seq
	})
	untouched("forged block served", ton.TxHash(forged))
	if st := listener.Status(); !strings.Contains(st.LastProofFailure, "incorrect block") || st.LastBlock >= seq {
		t.Fatalf("forged block data: status %+v; want refused as an incorrect block, block %d not passed", st, seq)
	}
	chain.SetLies(0)
	waitFor(t, "the real block read", func() bool { return listener.Status().LastBlock >= seq })
	untouched("real block read", ton.TxHash(forged))
	if n := chain.CallCount("LookupBlock"); n != 0 {
		t.Errorf("LookupBlock called %d times; its answer is never proven", n)
	}

	// (b) A real deposit of 0.01 TON with another comment, served by every
	// liteserver as a full payment of the order.
	chain.SetTamper(func(tx *tlb.Transaction) {
		in := tx.IO.In.AsInternal()
		in.Amount = tlb.FromNanoTONU(uint64(price))
		in.Body = cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake(o.PaymentMemo).EndCell()
	})
	chain.SetLies(ton.LieTx)
	failures = listener.Status().ProofFailures
	gift := chain.Pay(alice, service, shoptest.TON/100, "gift")
	seq = chain.Mine(gift)
	waitFor(t, "the tampered transaction refused (or taken)", func() bool {
		st := listener.Status()
		return st.ProofFailures > failures || st.LastBlock >= seq
	})
	untouched("tampered transaction served", ton.TxHash(forged), ton.TxHash(gift))
	if st := listener.Status(); !strings.Contains(st.LastProofFailure, "another transaction") || st.LastBlock >= seq {
		t.Fatalf("tampered transaction: status %+v; want refused as another transaction, block %d not passed", st, seq)
	}
	chain.SetLies(0)
	waitFor(t, "the real deposit read", func() bool { return listener.Status().LastBlock >= seq })
	untouched("real deposit read", ton.TxHash(forged))
	s := readStore(t, env.Store, o.ID, ton.TxHash(gift))
	if g := s.seen[ton.TxHash(gift)]; g == nil || g.Kind != domain.SeenUnmatched || g.AmountNano != shoptest.TON/100 ||
		len(s.unmatched) != 1 || s.unmatched[0].Comment != "gift" || s.unmatched[0].AmountNano != shoptest.TON/100 {
		t.Fatalf("the real deposit: seen %+v, unmatched %+v; want one unmatched 0.01 TON \"gift\"", g, s.unmatched)
	}

	// (c) The honest chain's payment of the order.
	pay := chain.Pay(alice, service, price, o.PaymentMemo)
	seq = chain.Mine(pay)
	waitFor(t, "the real payment", func() bool {
		return readStore(t, env.Store, o.ID).order.Status != domain.StatusPendingPayment
	})
	// the next block too: nothing of the payment's block is left to apply
	next := chain.Mine()
	waitFor(t, "the listener past the payment", func() bool { return listener.Status().LastBlock >= next })
	fs.paidOnce(t, chain, pay, ton.TxHash(forged), 1) // the gift is the unmatched deposit
}

// A forged masterchain head against a real shop: a liteserver claims a
// newer head than the trusted block, an invented block paying the order's
// memo in full (every liteserver serves its data under its id), with a
// "proof" that has no links. The head goes through the client Dial builds
// (tonutils-go's Secure policy under guardClient), which refuses it: the
// listener counts a proof failure and reads nothing; the order stays
// pending_payment with nothing received, no ledger row, neither payment
// seen, shop.Check clean. Then the honest head (the trusted block, which
// holds the real payment) is answered and the order is paid exactly once.
func TestForgedHeadNeverReachesTheStore(t *testing.T) {
	chain := ton.NewFakeChain(t)
	head := ton.NewGuardedHead(chain)
	fs := newForgedShop(t, chain, head)
	o, price := fs.order, fs.order.Price()

	// The real payment in block paid, then one more real block, both
	// unseen; the forged head takes that newest seqno, its block linked
	// to paid and paying the memo in full.
	chain.SetHidden(1)
	pay := chain.Pay(fs.alice, fs.service, price, o.PaymentMemo)
	paid := chain.Mine(pay)
	chain.SetHidden(2)
	newest := chain.Mine()
	forged := chain.Pay(fs.alice, fs.service, price, o.PaymentMemo)
	forgedHead := chain.Forge(newest, forged)
	chain.SetLies(ton.LieLookup | ton.LieBlockData)
	trusted := chain.MasterID(paid)
	failures := fs.listener.Status().ProofFailures
	head.Anchor(trusted, forgedHead, tonapi.PartialBlockProof{Complete: true, From: trusted, To: forgedHead})
	// The listener asks the head in one goroutine: once the anchored
	// liteserver was asked, no earlier head of the fake is in flight.
	waitFor(t, "the forged head's proof asked", func() bool { return head.ProofsAsked() > 0 })
	chain.SetHidden(0)
	failures = fs.listener.Status().ProofFailures
	waitFor(t, "the forged head refused (or taken) with every block served", func() bool {
		st := fs.listener.Status()
		return st.ProofFailures > failures || st.LastBlock >= paid
	})
	fs.untouched(t, "forged head answered", ton.TxHash(forged), ton.TxHash(pay))
	if st := fs.listener.Status(); !strings.Contains(st.LastProofFailure, "no links") || st.LastBlock >= paid {
		t.Fatalf("forged head: status %+v; want refused (a proof with no links), block %d not read", st, paid)
	}
	if head.ProofsAsked() == 0 {
		t.Fatal("the forged head was taken without asking a proof")
	}

	// The honest liteservers: the head is the trusted block, which needs
	// no links.
	chain.SetLies(0)
	head.Answer(trusted, tonapi.PartialBlockProof{})
	waitFor(t, "the real payment", func() bool {
		return readStore(t, fs.env.Store, o.ID).order.Status != domain.StatusPendingPayment
	})
	waitFor(t, "the listener at the honest head", func() bool { return fs.listener.Status().LastBlock >= paid })
	fs.paidOnce(t, chain, pay, ton.TxHash(forged), 0)
}

// forgedShop is a partner's Stars order waiting for payment (ton_memo) in a
// real shop over a real bbolt store, whose listener, wired to the shop as
// main wires it, reads chain through api (chain itself, or chain under a
// guarded head).
type forgedShop struct {
	env            *shoptest.Env
	listener       *ton.Listener
	service, alice string
	order          *domain.Order
}

func newForgedShop(t *testing.T, chain *ton.FakeChain, api ton.ChainAPI) *forgedShop {
	ctx := context.Background()
	keys, err := ton.NewKeys(shoptest.Seed, "v4r2", ton.NetworkTestnet)
	if err != nil {
		t.Fatal(err)
	}
	fs := &forgedShop{service: keys.ServiceAddressRaw(), alice: ton.FakeAccount("alice")}
	opts := ton.FakeListenerOptions(t, chain, fs.service)
	opts.Dial = func(context.Context) (ton.ChainAPI, error) { return api, nil }
	opts.PollInterval = time.Millisecond // caught up most of the time: poll gently
	fs.listener = ton.NewListener(opts)
	cfg := config.Default()
	cfg.TON.Network = ton.NetworkTestnet
	fs.env = shoptest.New(t, shoptest.Options{Config: cfg, Keys: keys, Chain: fs.listener, NotSandbox: true})
	watched, err := fs.env.Shop.WatchedAddresses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs.listener.Watch(watched...)
	fs.env.Run(t)
	following := chain.Mine()
	waitFor(t, "the listener following the chain", func() bool { return fs.listener.Status().LastBlock >= following })

	p, _ := fs.env.Partner(t)
	o, _, err := fs.env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	if o.PaymentMethod != domain.MethodTonMemo || o.PaymentMemo == "" || o.Price() <= 0 {
		t.Fatalf("order to pay by memo: %+v", o)
	}
	fs.order = o
	return fs
}

// untouched asserts the order waits with nothing received, no ledger row
// exists, none of the forged hashes was recorded, and the store passes the
// integrity check.
func (fs *forgedShop) untouched(t *testing.T, step string, forged ...string) {
	t.Helper()
	s := readStore(t, fs.env.Store, fs.order.ID, forged...)
	if s.order.Status != domain.StatusPendingPayment || s.order.Received() != 0 || len(s.order.PaymentTxHashes) != 0 {
		t.Fatalf("%s: order %s, received %d, payments %v; want pending_payment, nothing received",
			step, s.order.Status, s.order.Received(), s.order.PaymentTxHashes)
	}
	if s.ledger != 0 {
		t.Fatalf("%s: %d ledger rows; want none", step, s.ledger)
	}
	if len(s.seen) != 0 {
		t.Fatalf("%s: forged transfers recorded as seen: %v", step, s.seen)
	}
	fs.env.Check(t)
}

// paidOnce asserts the order is paid exactly once, by pay: received its
// price, pay seen as the order's with no excess, the forged transfer not
// seen, no ledger row, unmatched deposits besides, shop.Check clean, and
// LookupBlock never called.
func (fs *forgedShop) paidOnce(t *testing.T, chain *ton.FakeChain, pay *tlb.Transaction, forged string, unmatched int) {
	t.Helper()
	o, price := fs.order, fs.order.Price()
	s := readStore(t, fs.env.Store, o.ID, ton.TxHash(pay), forged)
	if s.order.Status == domain.StatusPendingPayment || s.order.PaidAt == nil || s.order.Received() != price ||
		len(s.order.PaymentTxHashes) != 1 || s.order.PaymentTxHashes[0] != ton.TxHash(pay) {
		t.Fatalf("order %s, received %d of %d, payments %v; want paid once by %s",
			s.order.Status, s.order.Received(), price, s.order.PaymentTxHashes, ton.TxHash(pay))
	}
	if g := s.seen[ton.TxHash(pay)]; g == nil || g.Kind != domain.SeenOrder || g.RefID != o.ID || g.ExtraLedgerID != 0 {
		t.Fatalf("payment seen as %+v; want the order's, no excess", g)
	}
	if s.seen[forged] != nil || s.ledger != 0 || len(s.unmatched) != unmatched {
		t.Fatalf("after the payment: forged seen %v, %d ledger rows, %d unmatched; want none, none, %d",
			s.seen[forged], s.ledger, len(s.unmatched), unmatched)
	}
	rep, err := shop.Check(context.Background(), fs.env.Store)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) != 0 || rep.SeenTx != 1+unmatched || rep.Unmatched != unmatched || rep.LedgerRows != 0 {
		t.Fatalf("integrity check: %+v; want no violation, %d seen (the payment, the unmatched), %d unmatched, 0 ledger rows",
			rep, 1+unmatched, unmatched)
	}
	if n := chain.CallCount("LookupBlock"); n != 0 {
		t.Errorf("LookupBlock called %d times; its answer is never proven", n)
	}
}

// stored is what the store holds about one order and some hashes.
type stored struct {
	order     *domain.Order
	ledger    int
	seen      map[string]*domain.SeenTx // of the hashes asked, those recorded
	unmatched []domain.Unmatched
}

func readStore(t *testing.T, st store.Store, orderID int64, hashes ...string) stored {
	t.Helper()
	var s stored
	err := st.View(context.Background(), func(tx store.Tx) error {
		var err error
		if s.order, err = tx.GetOrder(orderID); err != nil {
			return err
		}
		if err := tx.ForEachLedger(func(*domain.LedgerEntry) error { s.ledger++; return nil }); err != nil {
			return err
		}
		s.seen = map[string]*domain.SeenTx{}
		for _, h := range hashes {
			seen, err := tx.GetSeen(h)
			switch {
			case err == nil:
				s.seen[h] = seen
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		s.unmatched, err = tx.ListUnmatched(0, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
