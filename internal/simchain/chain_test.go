package simchain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// clock is a settable wall clock shared by the chains of one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	fragmentAddr = address.NewAddress(0, 0, bytes.Repeat([]byte{0x42}, 32))
	bounceAddr   = address.NewAddress(0, 0, bytes.Repeat([]byte{0x43}, 32))
	customer     = address.NewAddress(0, 0, bytes.Repeat([]byte{0x07}, 32))
)

type fixture struct {
	path  string
	clk   *clock
	chain *Chain
	w     *wallet.Wallet
	step  time.Duration
}

func newFixture(t *testing.T, cfg wallet.VersionConfig) *fixture {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	w, err := wallet.FromPrivateKey(nil, key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	si, err := wallet.GetStateInit(key.Public().(ed25519.PublicKey), cfg, w.GetSubwalletID())
	if err != nil {
		t.Fatal(err)
	}
	sic, _ := tlb.ToCell(si)
	f := &fixture{path: filepath.Join(t.TempDir(), "chain"), clk: &clock{t: time.Now().Truncate(time.Second)}, w: w, step: time.Second}
	err = Create(f.path, Config{BlockInterval: f.step, Accounts: []Account{
		{Address: w.WalletAddress().String(), Balance: 100_000_000_000, StateInit: base64.StdEncoding.EncodeToString(sic.ToBOCWithFlags(false))},
		{Address: fragmentAddr.StringRaw(), Balance: 1},
		{Address: bounceAddr.StringRaw(), Balance: 1, Bounce: true},
	}}, f.clk.now())
	if err != nil {
		t.Fatal(err)
	}
	f.chain = f.open(t)
	return f
}

func (f *fixture) open(t *testing.T) *Chain {
	t.Helper()
	c, err := Open(f.path, f.clk.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sign builds the wallet's external carrying msgs with seqno.
func (f *fixture) sign(t *testing.T, seqno uint32, ttl time.Duration, msgs ...*wallet.Message) *tlb.ExternalMessage {
	t.Helper()
	spec := f.w.GetSpec().(interface {
		SetMessagesTTL(uint32)
		SetSeqnoFetcher(func(ctx context.Context, subWallet uint32) (uint32, error))
	})
	spec.SetMessagesTTL(uint32(ttl / time.Second))
	spec.SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return seqno, nil })
	ext, err := f.w.PrepareExternalMessageForMany(context.Background(), false, msgs)
	if err != nil {
		t.Fatal(err)
	}
	return ext
}

func pay(to *address.Address, nano int64, text string) *wallet.Message {
	return wallet.SimpleMessage(to, tlb.FromNanoTON(big.NewInt(nano)), Comment(text))
}

func (f *fixture) seqno(t *testing.T) uint32 {
	t.Helper()
	ctx := context.Background()
	b, err := f.chain.CurrentMasterchainInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.chain.RunGetMethod(ctx, b, f.w.WalletAddress(), "seqno")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := r.Int(0)
	return uint32(n.Uint64())
}

func outMessages(t *testing.T, tx *tlb.Transaction) []*tlb.InternalMessage {
	t.Helper()
	if tx.IO.Out == nil {
		return nil
	}
	list, err := tx.IO.Out.ToSlice()
	if err != nil {
		t.Fatal(err)
	}
	var out []*tlb.InternalMessage
	for _, m := range list {
		out = append(out, m.AsInternal())
	}
	return out
}

func TestWalletBatchRunsNextBlockWithBounces(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  wallet.VersionConfig
		n    int
	}{
		{"v5r1 255 messages", wallet.ConfigV5R1Final{NetworkGlobalID: wallet.TestnetGlobalID}, 255},
		{"v4r2 4 messages", wallet.V4R2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			ctx := context.Background()
			var msgs []*wallet.Message
			var sum int64
			for i := range tc.n {
				to := fragmentAddr
				if i%5 == 4 {
					to = bounceAddr
				}
				amt := int64(100_000_000 + i)
				sum += amt
				msgs = append(msgs, pay(to, amt, "Telegram Stars Ref#"+string(rune('a'+i%26))))
			}
			ext := f.sign(t, 0, time.Minute, msgs...)
			if err := f.chain.SendExternalMessage(ctx, ext); err != nil {
				t.Fatal(err)
			}
			// the same message again is a no-op; another one for the same seqno is refused
			if err := f.chain.SendExternalMessage(ctx, ext); err != nil {
				t.Fatalf("resend: %v", err)
			}
			other := f.sign(t, 0, 2*time.Minute, pay(fragmentAddr, 1, "other"))
			if err := f.chain.SendExternalMessage(ctx, other); !errors.Is(err, errRejected) {
				t.Fatalf("second message for seqno 0: %v", err)
			}
			if f.seqno(t) != 0 {
				t.Fatal("ran before the next block")
			}
			f.clk.add(f.step) // block 1: the wallet runs it
			if got := f.seqno(t); got != 1 {
				t.Fatalf("seqno %d after the block", got)
			}
			txs, err := f.chain.Transactions(f.w.WalletAddress().String())
			if err != nil {
				t.Fatal(err)
			}
			if len(txs) != 1 || txs[0].IO.In.MsgType != tlb.MsgTypeExternalIn {
				t.Fatalf("wallet transactions: %d", len(txs))
			}
			outs := outMessages(t, txs[0])
			if len(outs) != tc.n {
				t.Fatalf("%d out messages, want %d", len(outs), tc.n)
			}
			for i, o := range outs { // in the order signed
				if !o.DstAddr.Equals(msgs[i].InternalMessage.DstAddr) || o.Amount.Nano().Cmp(msgs[i].InternalMessage.Amount.Nano()) != 0 ||
					!bytes.Equal(o.Body.Hash(), msgs[i].InternalMessage.Body.Hash()) || o.CreatedLT != txs[0].LT+1+uint64(i) {
					t.Fatalf("out message %d differs: %v", i, o.Dump())
				}
			}
			f.clk.add(f.step) // block 2: destinations run; bounces sent
			f.clk.add(f.step) // block 3: bounces arrive
			txs, _ = f.chain.Transactions(f.w.WalletAddress().String())
			bounces := 0
			for _, tx := range txs[1:] {
				in := tx.IO.In.AsInternal()
				if !in.Bounced || !in.SrcAddr.Equals(bounceAddr) {
					t.Fatalf("unexpected wallet tx %v", tx)
				}
				if op := in.Body.BeginParse().MustLoadUInt(32); op != 0xffffffff {
					t.Fatalf("bounce body op %x", op)
				}
				bounces++
			}
			if bounces != tc.n/5 {
				t.Fatalf("%d bounces, want %d", bounces, tc.n/5)
			}
			// Fragment's account received every other payment, one tx each,
			// whose in message is ours by created_lt.
			ftx, _ := f.chain.Transactions(fragmentAddr.StringRaw())
			if len(ftx) != tc.n-tc.n/5 {
				t.Fatalf("fragment txs %d", len(ftx))
			}
			for _, tx := range ftx {
				in := tx.IO.In.AsInternal()
				if !in.SrcAddr.Equals(f.w.WalletAddress()) || in.CreatedLT <= txs[0].LT {
					t.Fatal("fragment tx not from our batch")
				}
			}
			bal, _ := f.chain.Balance(f.w.WalletAddress().String())
			var back int64
			for _, tx := range txs[1:] {
				back += tx.IO.In.AsInternal().Amount.Nano().Int64()
			}
			want := int64(100_000_000_000) - sum - DefaultFees.External - int64(tc.n)*DefaultFees.PerMessage + back
			if bal != want {
				t.Fatalf("balance %d, want %d", bal, want)
			}
		})
	}
}

func TestExpiredAndForgedExternalsDoNotRun(t *testing.T) {
	f := newFixture(t, wallet.ConfigV5R1Final{NetworkGlobalID: wallet.TestnetGlobalID})
	ctx := context.Background()
	// valid for 1 s: accepted now, past valid_until when the block comes
	ext := f.sign(t, 0, time.Second, pay(fragmentAddr, 5, "x"))
	f.clk.t = time.Now()
	if err := f.chain.SendExternalMessage(ctx, ext); err != nil {
		t.Fatal(err)
	}
	f.clk.add(3 * time.Second)
	if f.seqno(t) != 0 {
		t.Fatal("an expired message ran")
	}
	// tampered body
	ok := f.sign(t, 0, time.Minute, pay(fragmentAddr, 5, "x"))
	bad := *ok
	bits := ok.Body.BeginParse()
	data := bits.MustLoadSlice(ok.Body.BitsSize())
	data[len(data)-1] ^= 0x80
	b := cell.BeginCell().MustStoreSlice(data, ok.Body.BitsSize())
	for i := 0; i < int(ok.Body.RefsNum()); i++ {
		b.MustStoreRef(ok.Body.MustPeekRef(i))
	}
	bad.Body = b.EndCell()
	if err := f.chain.SendExternalMessage(ctx, &bad); !errors.Is(err, errRejected) {
		t.Fatalf("forged signature accepted: %v", err)
	}
	// wrong seqno
	if err := f.chain.SendExternalMessage(ctx, f.sign(t, 7, time.Minute, pay(fragmentAddr, 5, "x"))); !errors.Is(err, errRejected) {
		t.Fatalf("seqno 7 accepted: %v", err)
	}
}

// Two openers of one file (the service and the test process) see the same
// chain; one reopened after a "crash" finds the blocks made meanwhile and the
// message it had accepted run.
func TestSharedFileAndRestart(t *testing.T) {
	f := newFixture(t, wallet.V4R2)
	ctx := context.Background()
	other := f.open(t)
	if err := other.Send(Transfer{From: customer.StringRaw(), To: f.w.WalletAddress().String(), AmountNano: 5e9, Body: Comment("order 1")}); err != nil {
		t.Fatal(err)
	}
	if err := f.chain.SendExternalMessage(ctx, f.sign(t, 0, time.Minute, pay(fragmentAddr, 1e9, "p"))); err != nil {
		t.Fatal(err)
	}
	f.chain.Close()
	f.clk.add(10 * f.step)
	again := f.open(t)
	for _, c := range []*Chain{again, other} {
		seq, _, err := c.Head()
		if err != nil {
			t.Fatal(err)
		}
		if seq != masterBase+10 {
			t.Fatalf("head %d", seq)
		}
	}
	h1, _ := again.GetMasterchainInfo(ctx)
	h2, _ := other.GetMasterchainInfo(ctx)
	if !h1.Equals(h2) {
		t.Fatal("two openers disagree on the head block")
	}
	// prev_ref links every block to the one before, by hash
	for id := h1; id.SeqNo > masterBase; {
		b, err := again.GetBlockData(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		p := b.BlockInfo.PrevRef.Prev1
		prev, err := again.LookupBlock(ctx, -1, wholeShard, id.SeqNo-1)
		if err != nil || !bytes.Equal(prev.RootHash, p.RootHash) || !bytes.Equal(prev.FileHash, p.FileHash) {
			t.Fatalf("block %d does not link to %d", id.SeqNo, id.SeqNo-1)
		}
		shards, err := again.GetBlockShardsInfo(ctx, id)
		if err != nil || len(shards) != 1 {
			t.Fatal(err)
		}
		id = prev
	}
	txs, _ := again.Transactions(f.w.WalletAddress().String())
	if len(txs) != 2 || txs[0].IO.In.MsgType != tlb.MsgTypeInternal || txs[1].IO.In.MsgType != tlb.MsgTypeExternalIn {
		t.Fatalf("wallet history after restart: %d txs", len(txs))
	}
	if !bytes.Equal(txs[1].PrevTxHash, txs[0].Hash) {
		t.Fatal("transactions not linked")
	}
	// ListTransactions pages back by hash
	acc, err := again.GetAccount(ctx, h1, f.w.WalletAddress())
	if err != nil || acc.LastTxLT != txs[1].LT {
		t.Fatalf("account %v %v", acc, err)
	}
	list, err := again.ListTransactions(ctx, f.w.WalletAddress(), 10, acc.LastTxLT, acc.LastTxHash)
	if err != nil || len(list) != 2 {
		t.Fatalf("list %d %v", len(list), err)
	}
	// block transactions and GetTransaction agree
	var found int
	for id := h1; id.SeqNo > masterBase; {
		shards, _ := again.GetBlockShardsInfo(ctx, id)
		ids, _, err := again.GetBlockTransactionsV2(ctx, shards[0], 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ids {
			tx, err := again.GetTransaction(ctx, shards[0], address.NewAddress(0, 0, s.Account), s.LT)
			if err != nil || !bytes.Equal(tx.Hash, s.Hash) {
				t.Fatalf("tx %d: %v", s.LT, err)
			}
			found++
		}
		id, _ = again.LookupBlock(ctx, -1, wholeShard, id.SeqNo-1)
	}
	if found != 3 { // payment in, our external, Fragment's receipt
		t.Fatalf("%d transactions in blocks", found)
	}
	if _, err := again.GetBlockData(ctx, &tonapi.BlockIDExt{Workchain: -1, Shard: wholeShard, SeqNo: masterBase + 99, RootHash: make([]byte, 32)}); !errors.Is(err, tonapi.ErrBlockNotFound) {
		t.Fatalf("future block: %v", err)
	}
}
