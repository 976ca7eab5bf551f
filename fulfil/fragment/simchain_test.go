package fragment

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/internal/fragmentsim"
	"github.com/theopenmoney/openmoney/internal/simchain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// These tests run the payer and the provider on the simulated chain
// (internal/simchain: wall-clock blocks, real block and transaction cells,
// the wallet contracts' checks, bounces) with short blocks.

var (
	simTaker   = address.NewAddress(0, 0, bytes.Repeat([]byte{0xf1}, 32)) // takes payments
	simRefuser = address.NewAddress(0, 0, bytes.Repeat([]byte{0xb0}, 32)) // refuses them
)

const simBlock = 200 * time.Millisecond

// newSimChain is a chain whose genesis holds the wallet of keys (funded)
// and Fragment's two addresses.
func newSimChain(t *testing.T, keys *ton.Keys) *simchain.Chain {
	t.Helper()
	gen, err := simchain.WalletGenesis(keys.Wallet(), 100_000*1e9)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chain")
	if err := simchain.Create(path, simchain.Config{BlockInterval: simBlock, Accounts: []simchain.Account{
		gen, {Address: simTaker.StringRaw(), Balance: 1e9}, {Address: simRefuser.StringRaw(), Balance: 1e9, Bounce: true},
	}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	c, err := simchain.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// lookUntilSettled looks bs up until every payment is settled.
func lookUntilSettled(t *testing.T, p *WalletPayer, bs []SentBatch) []BatchOutcome {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		outs, err := p.Lookup(context.Background(), bs)
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for _, o := range outs {
			if o.Status == StatusPending {
				done = false
			}
			for _, it := range o.Items {
				done = done && it.Status != StatusPending
			}
		}
		if done {
			return outs
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %+v", outs)
		}
		time.Sleep(simBlock / 2)
	}
}

// Payments whose bounces are indistinguishable on the wallet's side (same
// destination, same amount, same first 256 bits: Premium comments of the
// same length, in two batches) are each settled by the destination's own
// transaction for that very message (named in the outcome), not by the 30 s
// bounce window.
func TestWalletPayerSettlesEachPaymentByItsDestinationTransaction(t *testing.T) {
	for _, version := range []string{"v5r1", "v4r2"} {
		t.Run(version, func(t *testing.T) {
			keys, err := ton.NewKeys(ton.NewSeed(), version, ton.NetworkTestnet)
			if err != nil {
				t.Fatal(err)
			}
			chain := newSimChain(t, keys)
			p, err := NewWalletPayer(keys.Wallet(), chain, WalletPayerOptions{Testnet: true, PollInterval: simBlock / 4})
			if err != nil {
				t.Fatal(err)
			}
			pay := func(to *address.Address, ref string) Message {
				pl, err := decodePayload(fragmentPayload("Telegram Premium for 3 months \n\nRef#" + ref))
				if err != nil {
					t.Fatal(err)
				}
				return Message{To: to, AmountNano: 3_100_000_000, Payload: pl, ValidUntil: time.Now().Add(5 * time.Minute)}
			}
			// refuser, taker, refuser, taker: the bounces of 0 and 2 carry
			// the same bits; so do 4 and 6 of the second batch
			var batches []SentBatch
			want := []Status{StatusBounced, StatusConfirmed, StatusBounced, StatusConfirmed}
			for b := range 2 {
				var ms []Message
				for i := range 4 {
					to := simTaker
					if want[i] == StatusBounced {
						to = simRefuser
					}
					ms = append(ms, pay(to, fmt.Sprintf("b%di%d", b, i)))
				}
				s, err := p.SendBatch(context.Background(), ms, 0, func(context.Context, SentBatch) error { return nil })
				if err != nil || len(s.Messages) != 4 {
					t.Fatalf("batch %d: %d payments, %v", b, len(s.Messages), err)
				}
				if s.Messages[0].BouncePfx != s.Messages[2].BouncePfx {
					t.Fatal("test setup: the bounces must look alike")
				}
				batches = append(batches, s)
			}
			outs := lookUntilSettled(t, p, batches) // within 20 s: the 30 s window is not what settles them
			for b, o := range outs {
				if o.Status != StatusConfirmed {
					t.Fatalf("batch %d: %+v", b, o)
				}
				for i, it := range o.Items {
					if it.Status != want[i] || len(it.DestTx) != 64 {
						t.Errorf("batch %d payment %d: %s (%s), want %s", b, i, it.Status, it.Detail, want[i])
					}
				}
			}
			// the destinations' transactions named are four different ones
			seen := map[string]bool{}
			for _, o := range outs {
				for _, it := range o.Items {
					if seen[it.DestTx] {
						t.Fatalf("two payments settled by one transaction %s", it.DestTx)
					}
					seen[it.DestTx] = true
				}
			}
		})
	}
}

// simFragment runs the simulated Fragment (short latency) for the chain.
func simFragment(t *testing.T, bounceShare float64) (*fragmentsim.Server, string) {
	t.Helper()
	fs, err := fragmentsim.New(fragmentsim.Options{Latency: 5 * time.Millisecond, RateLimit: 2000,
		Address: simTaker.String(), BounceAddress: simRefuser.String(), BounceShare: bounceShare})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	return fs, srv.URL
}

type simRig struct {
	keys  *ton.Keys
	chain *simchain.Chain
	fs    *fragmentsim.Server
	url   string
	st    store.Store
}

func (r *simRig) provider(t *testing.T, mut func(*Options)) *Provider {
	t.Helper()
	wp, err := NewWalletPayer(r.keys.Wallet(), r.chain, WalletPayerOptions{Testnet: true, PollInterval: simBlock / 4})
	if err != nil {
		t.Fatal(err)
	}
	return newTestProvider(t, r.url, wp, func(o *Options) {
		o.Hash, o.Cookies, o.Records = r.fs.Hash(), r.fs.Cookies(), shop.PayerRecords{Store: r.st}
		o.PollInterval, o.ResendAfter, o.ConfirmTimeout = simBlock/2, 2*time.Second, 30*time.Second
		if mut != nil {
			mut(o)
		}
	})
}

// onChain counts, per Fragment payload, the payments that left the wallet
// and whether each was taken or refused.
func onChain(t *testing.T, chain *simchain.Chain, wallet string) (taken, refused map[string]int) {
	t.Helper()
	txs, err := chain.Transactions(wallet)
	if err != nil {
		t.Fatal(err)
	}
	taken, refused = map[string]int{}, map[string]int{}
	for _, tx := range txs {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn || tx.IO.Out == nil {
			continue
		}
		list, err := tx.IO.Out.ToSlice()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			im := m.AsInternal()
			h := hex.EncodeToString(im.Body.Hash())
			if im.DstAddr.Equals(simRefuser) {
				refused[h]++
			} else {
				taken[h]++
			}
		}
	}
	return taken, refused
}

// deliverAll delivers reqs at once, each retried after a transient error as
// the shop would, and returns each one's final error.
func deliverAll(p *Provider, reqs []fulfil.Request) []error {
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(time.Minute)
			for {
				_, errs[i] = p.Deliver(context.Background(), r, noSave)
				if errs[i] == nil || errors.Is(errs[i], fulfil.ErrPermanent) || time.Now().After(deadline) {
					return
				}
				time.Sleep(simBlock)
			}
		}()
	}
	wg.Wait()
	return errs
}

// A burst through the real provider, payer, simulated Fragment and chain:
// every order is paid exactly once (refused payments refunded, once), in
// far fewer wallet messages than payments; a provider "killed" mid-burst
// and restarted over the same store resumes the recorded payments and pays
// nothing twice.
func TestBurstOnTheSimulatedChainPaysEachOrderOnce(t *testing.T) {
	keys, err := ton.NewKeys(ton.NewSeed(), "v5r1", ton.NetworkTestnet)
	if err != nil {
		t.Fatal(err)
	}
	rig := &simRig{keys: keys, chain: newSimChain(t, keys), st: testStore(t)}
	rig.fs, rig.url = simFragment(t, 0.2)
	const n = 80
	reqs := make([]fulfil.Request, n)
	for i := range reqs {
		reqs[i] = fulfil.Request{Ref: fmt.Sprintf("order-%d", i+1), OrderID: int64(i + 1), Kind: domain.KindStars,
			Username: fmt.Sprintf("burst_user_%d", i), Stars: 50 + int64(i)}
	}
	// First run: killed (closed, its calls cancelled) while payments are
	// on their way.
	p1 := rig.provider(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range reqs[:n/2] {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = p1.Deliver(ctx, r, noSave) }()
	}
	waitFor(t, "payments recorded", func() bool {
		var bs []domain.PayerBatch
		_ = rig.st.View(context.Background(), func(tx store.Tx) error { bs, _ = tx.ListPayerBatches(0, 100, false); return nil })
		return len(bs) > 0
	})
	cancel()
	wg.Wait()
	p1.Close()

	p2 := rig.provider(t, nil)
	errs := deliverAll(p2, reqs)
	bounced := 0
	for i, err := range errs {
		switch {
		case err == nil:
			if rig.fs.Bounces(reqs[i].Username) {
				t.Errorf("%s: completed, but its payments go to the refusing address", reqs[i].Ref)
			}
		case errors.Is(err, fulfil.ErrPermanent) && rig.fs.Bounces(reqs[i].Username):
			bounced++
		default:
			t.Errorf("%s: %v", reqs[i].Ref, err)
		}
	}
	if bounced == 0 {
		t.Fatal("test setup: no recipient bounces")
	}
	// The chain: each order's payment left the wallet exactly once, taken
	// or refused as its recipient's address decides.
	taken, refused := onChain(t, rig.chain, keys.ServiceAddressRaw())
	byUser := map[string]int{}
	for _, r := range rig.fs.Requests() {
		n := taken[r.PayloadHash] + refused[r.PayloadHash]
		if n > 1 {
			t.Fatalf("request %s paid %d times", r.ReqID, n)
		}
		byUser[r.Username] += n
	}
	wallets := 0
	for _, r := range reqs {
		if byUser[r.Username] != 1 {
			t.Errorf("%s: %d payments on chain, want 1", r.Ref, byUser[r.Username])
		}
	}
	txs, _ := rig.chain.Transactions(keys.ServiceAddressRaw())
	for _, tx := range txs {
		if tx.IO.In.MsgType == tlb.MsgTypeExternalIn {
			wallets++
		}
	}
	if wallets >= n/2 {
		t.Errorf("%d wallet messages for %d payments", wallets, n)
	}
	t.Logf("%d orders: %d completed, %d refunded (bounced); %d wallet messages; %d Fragment requests", n, n-bounced, bounced, wallets, len(rig.fs.Requests()))
}
