package fragment

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

// fakeChain is a liteserver view of one v4r2 wallet: it executes the
// external messages it is given (when told to), producing tonutils-go
// transactions the way the chain does. The chain runs on its own clock
// (now); the liteserver's view may lag it (lag), showing the wallet as it
// was then, with masterchain blocks whose times say so.
type fakeChain struct {
	t    *testing.T
	mu   sync.Mutex
	addr *address.Address

	deployed bool
	balance  int64
	seqno    uint32
	block    uint32
	txs      []*tlb.Transaction // ascending

	execute bool // run messages on broadcast (else they are lost)
	bounce  bool // the destination bounces transfers
	noFunds bool // the action phase sends nothing
	sends   int
	onSend  func()

	now         func() time.Time // the chain's clock (default time.Now)
	lag         time.Duration    // the liteserver's view is this far behind the chain
	shardBehind time.Duration    // the wallet's shard block is this much older than the masterchain block
	onBlock     func()           // called before each new view (tests advance their clock)
	hist        []fakeView       // the wallet after each change, for lagging views
	views       map[uint32]fakeView
}

// fakeView is the wallet as a masterchain block shows it.
type fakeView struct {
	at       time.Time // masterchain block time
	seqno    uint32
	balance  int64
	deployed bool
	ntx      int // transactions visible
}

func newFakeChain(t *testing.T, addr *address.Address) *fakeChain {
	c := &fakeChain{t: t, addr: addr, deployed: true, balance: 10_000_000_000, seqno: 5, execute: true,
		now: time.Now, views: map[uint32]fakeView{}}
	c.commit()
	return c
}

func (c *fakeChain) live() fakeView {
	return fakeView{at: c.now(), seqno: c.seqno, balance: c.balance, deployed: c.deployed, ntx: len(c.txs)}
}

// commit records the wallet's state after a change, at the chain's time.
func (c *fakeChain) commit() { c.hist = append(c.hist, c.live()) }

// view is what the liteserver shows now: the live wallet, or with a lag
// the last state committed by then.
func (c *fakeChain) view() fakeView {
	if c.lag == 0 {
		return c.live()
	}
	at := c.now().Add(-c.lag)
	v := c.hist[0]
	for _, h := range c.hist {
		if !h.at.After(at) {
			v = h
		}
	}
	v.at = at
	return v
}

func (c *fakeChain) CurrentMasterchainInfo(context.Context) (*liteapi.BlockIDExt, error) {
	c.mu.Lock()
	onBlock := c.onBlock
	c.mu.Unlock()
	if onBlock != nil {
		onBlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.block++
	c.views[c.block] = c.view()
	root := sha256.Sum256(binary.BigEndian.AppendUint32(nil, c.block))
	return &liteapi.BlockIDExt{Workchain: -1, Shard: -1 << 63, SeqNo: c.block, RootHash: root[:], FileHash: root[:]}, nil
}

func (c *fakeChain) viewOf(b *liteapi.BlockIDExt) (fakeView, error) {
	v, ok := c.views[b.SeqNo]
	if !ok {
		return fakeView{}, liteapi.ErrBlockNotFound
	}
	return v, nil
}

// GetBlockData serves the masterchain block of a view: its header, and the
// shard hashes with one basechain shard whose block is shardBehind older.
func (c *fakeChain) GetBlockData(_ context.Context, b *liteapi.BlockIDExt) (*tlb.Block, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, err := c.viewOf(b)
	if err != nil {
		return nil, err
	}
	return fakeMasterBlock(b.SeqNo, v.at, []fakeShard{{id: -1 << 63, at: v.at.Add(-c.shardBehind)}}), nil
}

type fakeShard struct {
	id int64 // shard prefix with its tag bit (-1<<63: the whole workchain)
	at time.Time
}

// fakeMasterBlock builds masterchain block seqno generated at at, committing
// basechain shards (two shards need a fork of the bin tree).
func fakeMasterBlock(seqno uint32, at time.Time, shards []fakeShard) *tlb.Block {
	leaf := func(sh fakeShard) *cell.Cell {
		d, err := tlb.ToCell(tlb.ShardDesc{SeqNo: 1, RootHash: make([]byte, 32), FileHash: make([]byte, 32),
			NextValidatorShard: sh.id, GenUTime: uint32(sh.at.Unix()), SplitMergeAt: tlb.FutureSplitMergeNone{},
			Currencies: struct {
				FeesCollected tlb.CurrencyCollection `tlb:"."`
				FundsCreated  tlb.CurrencyCollection `tlb:"."`
			}{tlb.CurrencyCollection{Coins: tlb.ZeroCoins}, tlb.CurrencyCollection{Coins: tlb.ZeroCoins}}})
		if err != nil {
			panic(err)
		}
		return cell.BeginCell().MustStoreUInt(0, 1).MustStoreBuilder(d.ToBuilder()).EndCell()
	}
	var tree *cell.Cell
	switch len(shards) {
	case 1:
		tree = leaf(shards[0])
	case 2:
		tree = cell.BeginCell().MustStoreUInt(1, 1).MustStoreRef(leaf(shards[0])).MustStoreRef(leaf(shards[1])).EndCell()
	}
	hashes := cell.NewDict(32)
	if err := hashes.Set(cell.BeginCell().MustStoreInt(0, 32).EndCell(), cell.BeginCell().MustStoreRef(tree).EndCell()); err != nil {
		panic(err)
	}
	blk := &tlb.Block{Extra: &tlb.BlockExtra{Custom: &tlb.McBlockExtra{ShardHashes: hashes}}}
	blk.BlockInfo.SeqNo = seqno
	blk.BlockInfo.Shard = tlb.ShardIdent{WorkchainID: -1, PrefixBits: 0, ShardPrefix: 0}
	blk.BlockInfo.GenUtime = uint32(at.Unix())
	return blk
}

func (c *fakeChain) lastTx() (uint64, []byte) {
	if len(c.txs) == 0 {
		return 0, nil
	}
	tx := c.txs[len(c.txs)-1]
	return tx.LT, tx.Hash
}

func (c *fakeChain) GetAccount(_ context.Context, b *liteapi.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, err := c.viewOf(b)
	if err != nil {
		return nil, err
	}
	if !addr.Equals(c.addr) {
		return &tlb.Account{}, nil
	}
	status := tlb.AccountStatus(tlb.AccountStatusActive)
	if !v.deployed {
		status = tlb.AccountStatusUninit
	}
	var lt uint64
	var h []byte
	if v.ntx > 0 {
		lt, h = c.txs[v.ntx-1].LT, c.txs[v.ntx-1].Hash
	}
	return &tlb.Account{
		IsActive: true,
		State: &tlb.AccountState{IsValid: true, Address: c.addr, AccountStorage: tlb.AccountStorage{
			Status: status, Balance: tlb.FromNanoTON(big.NewInt(v.balance)),
		}},
		LastTxLT: lt, LastTxHash: h,
	}, nil
}

func (c *fakeChain) RunGetMethod(_ context.Context, b *liteapi.BlockIDExt, _ *address.Address, method string, _ ...interface{}) (*liteapi.ExecutionResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, err := c.viewOf(b)
	if err != nil {
		return nil, err
	}
	if method != "seqno" {
		return nil, fmt.Errorf("unexpected get method %s", method)
	}
	if !v.deployed {
		return nil, liteapi.ContractExecError{Code: liteapi.ErrCodeContractNotInitialized}
	}
	return liteapi.NewExecutionResult([]any{big.NewInt(int64(v.seqno))}), nil
}

func (c *fakeChain) ListTransactions(_ context.Context, _ *address.Address, num uint32, lt uint64, hash []byte) ([]*tlb.Transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.txs) - 1; i >= 0; i-- {
		if c.txs[i].LT == lt {
			if !bytes.Equal(c.txs[i].Hash, hash) {
				return nil, errors.New("hash mismatch")
			}
			from := max(0, i+1-int(num))
			return append([]*tlb.Transaction(nil), c.txs[from:i+1]...), nil
		}
	}
	return nil, liteapi.ErrNoTransactionsWereFound
}

func (c *fakeChain) SendExternalMessage(_ context.Context, ext *tlb.ExternalMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sends++
	if c.onSend != nil {
		c.onSend()
	}
	if !c.execute {
		return nil // lost on the way
	}
	if !ext.DstAddr.Equals(c.addr) {
		return errors.New("wrong wallet")
	}
	validUntil, seqno, err := bodyHeader(ext.Body, false)
	if err != nil {
		return err
	}
	if seqno != c.seqno || c.now().Unix() >= validUntil { // the wallet wants valid_until > now
		return errors.New("inbound external message rejected before smart-contract execution (406)")
	}
	if !c.deployed && ext.StateInit == nil {
		return errors.New("uninit wallet needs state init")
	}
	sl := ext.Body.BeginParse()
	sl.MustLoadSlice(512 + 32 + 32 + 32)
	if op := sl.MustLoadUInt(8); op != 0 {
		return errors.New("unexpected op")
	}
	var msgs []*cell.Cell
	for sl.RefsNum() > 0 {
		sl.MustLoadUInt(8) // mode
		intCell, err := sl.LoadRefCell()
		if err != nil {
			return err
		}
		msgs = append(msgs, intCell)
	}
	c.seqno++
	c.deployed = true
	tx := c.newTx(&tlb.Message{MsgType: tlb.MsgTypeExternalIn, Msg: ext})
	out := cell.NewDict(15)
	var sent []tlb.InternalMessage
	for _, intCell := range msgs {
		var im tlb.InternalMessage
		if err := tlb.LoadFromCell(&im, intCell.BeginParse()); err != nil {
			return err
		}
		if c.noFunds || c.balance < im.Amount.Nano().Int64() {
			continue // send mode +2: skipped
		}
		im.SrcAddr, im.CreatedLT = c.addr, tx.LT+1+uint64(len(sent))
		mc, err := tlb.ToCell(&im)
		if err != nil {
			return err
		}
		if err := out.SetIntKey(big.NewInt(int64(len(sent))), cell.BeginCell().MustStoreRef(mc).EndCell()); err != nil {
			return err
		}
		c.balance -= im.Amount.Nano().Int64()
		sent = append(sent, im)
	}
	if len(sent) > 0 {
		tx.IO.Out = &tlb.MessagesList{List: out}
	}
	if c.bounce {
		for _, im := range sent {
			pfx, bits := bouncePrefix(im.Body)
			raw, _ := hex.DecodeString(pfx)
			body := cell.BeginCell().MustStoreUInt(0xffffffff, 32).MustStoreSlice(raw, uint(bits)).EndCell()
			c.newTx(&tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: &tlb.InternalMessage{
				Bounced: true, SrcAddr: im.DstAddr, DstAddr: c.addr, Amount: im.Amount, Body: body,
			}})
		}
	}
	c.commit()
	return nil
}

// newTx appends a transaction with the given incoming message.
func (c *fakeChain) newTx(in *tlb.Message) *tlb.Transaction {
	lt, h := c.lastTx()
	tx := &tlb.Transaction{LT: lt + 1000, PrevTxLT: lt, PrevTxHash: h, Now: uint32(c.now().Unix())}
	sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, tx.LT))
	tx.Hash = sum[:]
	tx.IO.In = in
	c.txs = append(c.txs, tx)
	return tx
}

// incoming adds an unrelated incoming transfer (customers pay the service wallet).
func (c *fakeChain) incoming(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.newTx(&tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: &tlb.InternalMessage{
			SrcAddr: address.NewAddress(0, 0, bytes.Repeat([]byte{7}, 32)), DstAddr: c.addr,
			Amount: tlb.FromNanoTON(big.NewInt(1e9)), Body: cell.BeginCell().EndCell(),
		}})
	}
	c.commit()
}

func newTestKeys(t *testing.T, version, network string) *ton.Keys {
	t.Helper()
	k, err := ton.NewKeys(ton.NewSeed(), version, network)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testMessage(t *testing.T) Message {
	t.Helper()
	payload, err := decodePayload(fragmentPayload("100 Telegram Stars \n\nRef#abcDEF123"))
	if err != nil {
		t.Fatal(err)
	}
	to, _ := ton.ParseAddress(fakeDest)
	return Message{To: to, AmountNano: 387_000_000, Payload: payload, ValidUntil: time.Now().Add(5 * time.Minute)}
}

func TestWalletPayerAccount(t *testing.T) {
	t.Parallel()
	type wantAcc struct {
		name    string
		w       *wallet.Wallet
		raw     string
		testnet bool
	}
	k4 := newTestKeys(t, "v4r2", ton.NetworkMainnet) // the service wallet as ton.Keys derives it
	k5 := newTestKeys(t, "v5r1", ton.NetworkTestnet)
	v5main := testWallet(t, wallet.ConfigV5R1Final{NetworkGlobalID: wallet.MainnetGlobalID})
	for _, tc := range []wantAcc{
		{"v4r2 mainnet (ton.Keys)", k4.Wallet(), k4.ServiceAddressRaw(), false},
		{"v5r1 testnet (ton.Keys)", k5.Wallet(), k5.ServiceAddressRaw(), true},
		{"v5r1 mainnet", v5main, v5main.Address().StringRaw(), false},
		{"v4r2 testnet", testWallet(t, wallet.V4R2), testWallet(t, wallet.V4R2).Address().StringRaw(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewWalletPayer(tc.w, newFakeChain(t, tc.w.Address()), WalletPayerOptions{Testnet: tc.testnet})
			if err != nil {
				t.Fatal(err)
			}
			acc := p.Account()
			chain := map[bool]string{false: "-239", true: "-3"}[tc.testnet]
			if acc.Address != tc.raw || acc.Chain != chain || len(acc.PublicKey) != 64 {
				t.Fatalf("account %+v, want address %s chain %s", acc, tc.raw, chain)
			}
			raw, err := base64.StdEncoding.DecodeString(acc.WalletStateInit)
			if err != nil {
				t.Fatal(err)
			}
			si, err := cell.FromBOC(raw)
			if err != nil {
				t.Fatal(err)
			}
			// The state init hashes to the wallet address: Fragment can check it.
			if hex.EncodeToString(si.Hash()) != hex.EncodeToString(tc.w.Address().Data()) {
				t.Fatal("walletStateInit does not hash to the wallet address")
			}
			if pub := tc.w.PrivateKey().Public(); hex.EncodeToString(pub.(ed25519.PublicKey)) != acc.PublicKey {
				t.Fatal("public key mismatch")
			}
		})
	}
	if _, err := NewWalletPayer(v5main, newFakeChain(t, v5main.Address()), WalletPayerOptions{Testnet: true}); err == nil {
		t.Fatal("a mainnet v5 wallet accepted for testnet")
	}
}

// testWallet is a wallet from a fixed key (deriving from a seed is slow).
func testWallet(t *testing.T, cfg wallet.VersionConfig) *wallet.Wallet {
	t.Helper()
	w, err := wallet.FromPrivateKey(nil, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newTestPayer(t *testing.T, mut func(*WalletPayerOptions)) (*WalletPayer, *fakeChain) {
	t.Helper()
	w := testWallet(t, wallet.V4R2)
	chain := newFakeChain(t, w.Address())
	opts := WalletPayerOptions{PollInterval: time.Millisecond}
	if mut != nil {
		mut(&opts)
	}
	p, err := NewWalletPayer(w, chain, opts)
	if err != nil {
		t.Fatal(err)
	}
	chain.incoming(3)
	return p, chain
}

// sendOne signs and broadcasts a batch of the given messages, recording nothing.
func sendOne(t *testing.T, p *WalletPayer, ms ...Message) (SentBatch, error) {
	t.Helper()
	return p.SendBatch(context.Background(), ms, 0, func(context.Context, SentBatch) error { return nil })
}

// lookOne looks one batch up.
func lookOne(t *testing.T, p *WalletPayer, b SentBatch) BatchOutcome {
	t.Helper()
	outs, err := p.Lookup(context.Background(), []SentBatch{b})
	if err != nil {
		t.Fatal(err)
	}
	return outs[0]
}

func TestWalletPayerSendRecordsBeforeBroadcastAndConfirms(t *testing.T) {
	p, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	ctx := context.Background()
	m := testMessage(t)
	m2 := testMessage(t)
	m2.AmountNano = 5_000_000
	var recorded SentBatch
	s, err := p.SendBatch(ctx, []Message{m, m2}, 0, func(_ context.Context, s SentBatch) error {
		if chain.sends != 0 {
			t.Error("broadcast before record")
		}
		recorded = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.ExtHash != recorded.ExtHash || s.Seqno != 5 || len(s.Messages) != 2 || s.Messages[0].AmountNano != m.AmountNano ||
		s.Messages[0].To != m.To.StringRaw() || s.Messages[0].PayloadHash != hex.EncodeToString(m.Payload.Hash()) ||
		s.Messages[1].AmountNano != m2.AmountNano || s.ValidUntil < time.Now().Unix() || s.AfterLT == 0 || s.FeeNano != p.Fee(2) {
		t.Fatalf("sent %+v", s)
	}
	chain.incoming(20) // more traffic after the payment
	out := lookOne(t, p, s)
	if out.Status != StatusConfirmed || len(out.TxHash) != 64 || len(out.Items) != 2 ||
		out.Items[0].Status != StatusConfirmed || out.Items[1].Status != StatusConfirmed {
		t.Fatalf("outcome %+v", out)
	}
	// The messages on chain are exactly the ones asked for, in order.
	tx := chain.txs[3]
	list, _ := tx.IO.Out.ToSlice()
	for i, want := range []Message{m, m2} {
		im := list[i].AsInternal()
		if im.DstAddr.StringRaw() != want.To.StringRaw() || im.Amount.Nano().Int64() != want.AmountNano ||
			!bytes.Equal(im.Body.Hash(), want.Payload.Hash()) || !im.Bounce {
			t.Fatalf("on-chain message %d %s", i, im.Dump())
		}
	}
	if out.TxHash != hex.EncodeToString(tx.Hash) {
		t.Fatal("tx hash mismatch")
	}
	if bal, err := p.Balance(ctx); err != nil || bal != 10_000_000_000-m.AmountNano-m2.AmountNano {
		t.Fatalf("balance %d, %v", bal, err)
	}
}

// A balance that covers only some payments (with the fee for each) signs
// only those, in order; none at all is a funds hold, nothing signed.
func TestWalletPayerBatchShrinksToTheBalance(t *testing.T) {
	p, chain := newTestPayer(t, nil)
	m := testMessage(t) // 0.387 TON
	chain.mu.Lock()
	chain.balance = 2*m.AmountNano + p.Fee(2) + 1_000
	chain.commit()
	chain.mu.Unlock()
	s, err := sendOne(t, p, m, m, m, m)
	if err != nil || len(s.Messages) != 2 {
		t.Fatalf("%d payments signed, %v; want the 2 the balance covers", len(s.Messages), err)
	}
	_, err = sendOne(t, p, m)
	var h *fulfil.Hold
	if !errors.As(err, &h) || h.Reason != fulfil.HoldFunds || h.NeedNano != m.AmountNano+p.Fee(1) {
		t.Fatalf("poor wallet: %v", err)
	}
	if chain.sends != 1 {
		t.Fatalf("%d broadcasts", chain.sends)
	}
}

func TestWalletPayerRecordFailureBroadcastsNothing(t *testing.T) {
	p, chain := newTestPayer(t, nil)
	if _, err := p.SendBatch(context.Background(), []Message{testMessage(t)}, 0, func(context.Context, SentBatch) error { return errors.New("disk full") }); err == nil {
		t.Fatal("SendBatch succeeded")
	}
	if chain.sends != 0 {
		t.Fatal("broadcast without a record")
	}
}

func TestWalletPayerLostMessage(t *testing.T) {
	clk := shoptest.NewClock(time.Now())
	p, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.Now = clk.Now })
	chain.now = clk.Now // the liteserver keeps up with the chain
	chain.execute = false
	s, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	if out := lookOne(t, p, s); out.Status != StatusPending || out.Hold != "" {
		t.Fatalf("lost message: %+v, want pending", out)
	}
	clk.Advance(3*time.Minute + 2*time.Minute + 5*time.Second) // past valid_until + margin
	if out := lookOne(t, p, s); out.Status != StatusExpired {
		t.Fatalf("expired lost message: %+v, want expired", out)
	}
}

func TestWalletPayerResendExecutesOnce(t *testing.T) {
	p, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	ctx := context.Background()
	chain.execute = false
	s, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	chain.mu.Lock()
	chain.execute = true
	chain.mu.Unlock()
	if err := p.Resend(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := p.Resend(ctx, s); err == nil { // the wallet refuses the replay
		t.Fatal("replayed message accepted")
	}
	if out := lookOne(t, p, s); out.Status != StatusConfirmed || out.Items[0].Status != StatusConfirmed {
		t.Fatalf("%+v", out)
	}
	paid := 0
	for _, tx := range chain.txs {
		if tx.IO.Out != nil {
			paid++
		}
	}
	if paid != 1 {
		t.Fatalf("%d payments on chain", paid)
	}
}

// Without a readable destination history (the fake has none), a bounce on
// the wallet carrying the payment's first bits means refused, and a sent
// payment with no bounce within the window means taken.
func TestWalletPayerBouncedAndFailed(t *testing.T) {
	for name, set := range map[string]func(c *fakeChain){
		"bounced": func(c *fakeChain) { c.bounce = true },
		"failed":  func(c *fakeChain) { c.noFunds = true },
	} {
		t.Run(name, func(t *testing.T) {
			p, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
			set(chain)
			s, err := sendOne(t, p, testMessage(t))
			if err != nil {
				t.Fatal(err)
			}
			out := lookOne(t, p, s)
			want := map[string]Status{"bounced": StatusBounced, "failed": StatusFailed}[name]
			if out.Status != StatusConfirmed || out.TxHash == "" || out.Items[0].Status != want {
				t.Fatalf("%+v; want the payment %s", out, want)
			}
		})
	}
}

func TestWalletPayerOneBatchInFlight(t *testing.T) {
	p, chain := newTestPayer(t, nil)
	chain.execute = false
	first, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := p.SendBatch(ctx, []Message{testMessage(t)}, 0, func(context.Context, SentBatch) error { return nil }); err == nil {
		t.Fatal("second message signed while the first can still run")
	}
	if err := p.Ready(ctx); err == nil {
		t.Fatal("ready while the first can still run")
	}
	chain.mu.Lock()
	chain.execute = true
	chain.mu.Unlock()
	if err := p.Resend(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	second, err := sendOne(t, p, testMessage(t))
	if err != nil || second.Seqno != first.Seqno+1 {
		t.Fatalf("second %+v, %v", second, err)
	}
}

// After a restart the payer knows nothing; Resume with the recorded batch
// makes the next one wait for it.
func TestWalletPayerResumeWaitsForARecordedBatch(t *testing.T) {
	p, chain := newTestPayer(t, nil)
	chain.execute = false
	first, err := sendOne(t, p, testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewWalletPayer(testWallet(t, wallet.V4R2), chain, WalletPayerOptions{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p2.Resume(first)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := p2.Ready(ctx); err == nil {
		t.Fatal("a restarted payer would sign over a recorded batch that can still run")
	}
}

func TestWalletPayerUndeployedWallet(t *testing.T) {
	p, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	chain.deployed, chain.seqno = false, 0
	s, err := sendOne(t, p, testMessage(t))
	if err != nil || s.Seqno != 0 {
		t.Fatalf("%+v, %v", s, err)
	}
	ext, err := decodeExternal(s.BOC)
	if err != nil || ext.StateInit == nil {
		t.Fatalf("first message must deploy the wallet: %v", err)
	}
	if out := lookOne(t, p, s); out.Status != StatusConfirmed || out.Items[0].Status != StatusConfirmed {
		t.Fatalf("%+v", out)
	}
}

func TestWalletPayerV5Header(t *testing.T) {
	w := testWallet(t, wallet.ConfigV5R1Final{NetworkGlobalID: wallet.MainnetGlobalID})
	chain := newFakeChain(t, w.Address())
	chain.execute = false // the fake only runs v4 bodies
	p, err := NewWalletPayer(w, chain, WalletPayerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxMessages() != 255 {
		t.Fatalf("v5r1 carries %d payments a message", p.MaxMessages())
	}
	m := testMessage(t)
	m.ValidUntil = time.Now().Add(time.Minute)
	later := testMessage(t)
	later.ValidUntil = time.Now().Add(4 * time.Minute)
	s, err := p.SendBatch(context.Background(), []Message{later, m}, 0, func(context.Context, SentBatch) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if s.Seqno != 5 || s.ValidUntil > m.ValidUntil.Unix() {
		t.Fatalf("%+v: the wallet message must expire before every link", s)
	}
	// A link about to expire is refused before anything is signed.
	m.ValidUntil = time.Now().Add(5 * time.Second)
	p2, _ := NewWalletPayer(w, newFakeChain(t, w.Address()), WalletPayerOptions{})
	if _, err := p2.SendBatch(context.Background(), []Message{m}, 0, func(context.Context, SentBatch) error {
		t.Error("recorded a message for an expiring link")
		return nil
	}); err == nil {
		t.Fatal("sent for an expiring link")
	}
}

// The provider and the tonutils-go payer together: one real signed message.
func TestProviderWithWalletPayer(t *testing.T) {
	f, srv := newFakeFragment(t)
	wp, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	p := newTestProvider(t, srv.URL, wp, nil)
	res, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	link := f.links[res.ProviderRef]
	f.mu.Unlock()
	var paid []*tlb.InternalMessage
	for _, tx := range chain.txs {
		if tx.IO.Out != nil {
			list, _ := tx.IO.Out.ToSlice()
			paid = append(paid, list[0].AsInternal())
			if hex.EncodeToString(tx.Hash) != res.TxHash {
				t.Error("result tx hash is not the payment's")
			}
		}
	}
	want, _ := decodePayload(link.Payload)
	wantTo, _ := ton.RawAddress(link.Address)
	if len(paid) != 1 || paid[0].DstAddr.StringRaw() != wantTo || paid[0].Amount.Nano().String() != link.Amount ||
		!bytes.Equal(paid[0].Body.Hash(), want.Hash()) {
		t.Fatalf("on-chain payments %d", len(paid))
	}
	if acc := f.lastCall("getBuyStarsLink").Form["account"]; !bytes.Contains([]byte(acc), []byte(wp.Account().Address)) {
		t.Fatalf("account %s", acc)
	}
	// A restart finds the payment in the store instead of paying again.
	p.Close()
	p2 := newTestProvider(t, srv.URL, wp, func(o *Options) { o.Records = p.records })
	res2, err := p2.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
	if err != nil || res2 != res || chain.sends != 1 {
		t.Fatalf("resume: %+v, %v, sends %d", res2, err, chain.sends)
	}
}
