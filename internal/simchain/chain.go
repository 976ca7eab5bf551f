// Package simchain is a simulated TON chain with real block timing, for the
// delivery tests and `openmoney bench`. It serves the listener (ton.ChainAPI)
// and the Fragment payer (fragment.ChainAPI) through the same tonutils-go
// types a liteserver answers with: block ids whose hashes are those of real
// block cells linked by prev_ref, masterchain blocks committing a shard block
// in their shard hashes, transactions that are real cells (their hash is the
// cell's) linked per account, account states and the wallet's seqno.
//
// # Time
//
// Block k of the masterchain (and of the one shard of workchain 0) is made at
// t0 + k·BlockInterval, whether anyone is looking or not: a chain is a
// function of its log and the wall clock. A process that was killed finds,
// when it opens the chain again, every block made while it was down.
//
// # The log
//
// The chain's state lives in one file: the genesis, then every message the
// chain accepted, stamped with the time it was accepted (see log.go). An
// accepted message runs in the first block after its stamp. Every process that
// opens the file (the service, and the test that pays its orders and checks
// the result) replays it to the same blocks. SendExternalMessage appends and
// syncs before it returns, so an acknowledged broadcast survives kill -9.
//
// # What runs
//
//   - The wallets of the genesis (v4r2 or v5r1, from their state init) accept
//     an external message when its signature, wallet id and seqno are right
//     and valid_until is ahead of the chain; one per seqno (a different
//     message with a seqno already waiting is refused, the same one again is
//     a no-op); it runs in the next block if still valid then, sending its
//     messages in order (mode +2: a message the balance cannot cover is
//     skipped) and paying Fees.
//   - Internal messages made in block k reach their destination in block
//     k+1. Accounts marked Bounce refuse every message: a bounceable one goes
//     back to its sender (0xffffffff and the first 256 bits of the body,
//     minus Fees.Bounce) one block later. Accounts that do not exist bounce
//     bounceable messages too, and keep the others.
//   - Transfers injected with Transfer arrive as internal messages from any
//     address (customers paying their orders).
package simchain

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Config is the genesis of a chain.
type Config struct {
	// BlockInterval between blocks (default 5 s).
	BlockInterval time.Duration `json:"block_interval"`
	// GlobalID of the network in block headers (default -3, testnet).
	GlobalID int32 `json:"global_id"`
	// Accounts that exist at genesis.
	Accounts []Account `json:"accounts"`
	Fees     Fees      `json:"fees"`
}

// Account is an account at genesis. With StateInit it is a deployed wallet;
// without, an active contract that accepts every message (Fragment's payment
// address), or with Bounce one that refuses every message.
type Account struct {
	Address   string `json:"address"` // any form
	Balance   int64  `json:"balance"` // nanotons
	StateInit string `json:"state_init,omitempty"`
	Bounce    bool   `json:"bounce,omitempty"`
}

// Fees the chain charges, in nanotons.
type Fees struct {
	// External: per external message a wallet runs (import and gas).
	External int64 `json:"external"`
	// PerMessage: per message a wallet sends (forward and action fees),
	// beyond the message's value (send mode +1).
	PerMessage int64 `json:"per_message"`
	// Bounce: taken from the value of a bounced message.
	Bounce int64 `json:"bounce"`
}

// DefaultFees are the fees of a v5r1 wallet sending Fragment payments as
// @ton/sandbox measured them (docs/FRAGMENT.md "Fees"): 6.09 mTON for one
// payment, 301.5 mTON for 255.
var DefaultFees = Fees{External: 4_900_000, PerMessage: 1_170_000, Bounce: 1_000_000}

// Chain is an open simulated chain. Safe for concurrent use; several
// processes may open the same file.
type Chain struct {
	mu   sync.Mutex
	f    *os.File
	off  int64 // bytes of the log read
	now  func() time.Time
	cfg  Config
	t0   time.Time
	step time.Duration

	lastAt   int64    // newest entry stamp (unix ns)
	pending  []*entry // read, for blocks not made yet
	masters  []*block // by index k
	shards   []*block // by index k
	accounts map[string]*acct
	queue    []*tlb.InternalMessage // made in the newest block, delivered in the next
	lt       uint64
}

type genesis struct {
	Kind   string `json:"kind"` // "genesis"
	T0     int64  `json:"t0"`   // unix ns
	Config Config `json:"config"`
}

// entry is one accepted message.
type entry struct {
	Kind string `json:"kind"` // "transfer" | "external"
	At   int64  `json:"at"`   // accept time, unix ns
	// transfer
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Amount int64  `json:"amount,omitempty"`
	Body   string `json:"body,omitempty"` // base64 BOC
	Bounce bool   `json:"bounce,omitempty"`
	// external
	BOC string `json:"boc,omitempty"`
}

type acct struct {
	addr     *address.Address
	raw      string
	balance  int64
	status   tlb.AccountStatus
	bounce   bool
	wallet   *walletState
	txs      []*txRec
	versions []version // state after each block that changed it
}

// version is an account's state as of masterchain block index k.
type version struct {
	k        int
	balance  int64
	status   tlb.AccountStatus
	seqno    uint32
	lastLT   uint64
	lastHash []byte
}

type txRec struct {
	account []byte
	lt      uint64
	hash    []byte
	cell    *cell.Cell
	k       int // block index
}

// Create makes a new chain file at path (it must not exist) with genesis cfg
// at time t0 (zero: now).
func Create(path string, cfg Config, t0 time.Time) error {
	if cfg.BlockInterval <= 0 {
		cfg.BlockInterval = 5 * time.Second
	}
	if cfg.GlobalID == 0 {
		cfg.GlobalID = -3
	}
	if cfg.Fees == (Fees{}) {
		cfg.Fees = DefaultFees
	}
	if t0.IsZero() {
		t0 = time.Now()
	}
	// Validate before writing anything.
	if _, err := newState(cfg); err != nil {
		return err
	}
	rec, err := encodeRecord(genesis{Kind: "genesis", T0: t0.UnixNano(), Config: cfg})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("simchain: create: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(rec); err != nil {
		return fmt.Errorf("simchain: create: %w", err)
	}
	return f.Sync()
}

// Open opens the chain file at path; now is the wall clock (nil: time.Now).
func Open(path string, now func() time.Time) (*Chain, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("simchain: open: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	c := &Chain{f: f, now: now}
	if err := flock(f, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	buf, err := readFrom(f, 0)
	_ = flock(f, syscall.LOCK_UN)
	if err != nil {
		f.Close()
		return nil, err
	}
	recs, _ := readRecords(buf)
	if len(recs) == 0 {
		f.Close()
		return nil, errors.New("simchain: no genesis in " + path)
	}
	var g genesis
	if err := json.Unmarshal(recs[0], &g); err != nil || g.Kind != "genesis" {
		f.Close()
		return nil, fmt.Errorf("simchain: bad genesis in %s: %v", path, err)
	}
	st, err := newState(g.Config)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.cfg, c.t0, c.step = g.Config, time.Unix(0, g.T0), g.Config.BlockInterval
	c.accounts = st
	c.off = int64(recordHeader + len(recs[0]))
	if err := c.makeBlock(0); err != nil {
		f.Close()
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.syncLocked(true); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the file.
func (c *Chain) Close() error { return c.f.Close() }

// BlockInterval is the time between blocks.
func (c *Chain) BlockInterval() time.Duration { return c.step }

func newState(cfg Config) (map[string]*acct, error) {
	out := map[string]*acct{}
	for _, a := range cfg.Accounts {
		addr, err := parseAddr(a.Address)
		if err != nil {
			return nil, fmt.Errorf("simchain: genesis account %q: %w", a.Address, err)
		}
		ac := &acct{addr: addr, raw: addr.StringRaw(), balance: a.Balance, status: tlb.AccountStatusActive, bounce: a.Bounce}
		if a.StateInit != "" {
			w, hash, err := parseStateInit(a.StateInit)
			if err != nil {
				return nil, fmt.Errorf("simchain: genesis account %s: %w", ac.raw, err)
			}
			if string(hash) != string(addr.Data()) {
				return nil, fmt.Errorf("simchain: genesis account %s: the state init is another address's", ac.raw)
			}
			ac.wallet = w
		}
		if _, dup := out[ac.raw]; dup {
			return nil, fmt.Errorf("simchain: genesis account %s twice", ac.raw)
		}
		out[ac.raw] = ac
	}
	return out, nil
}

func parseAddr(s string) (*address.Address, error) {
	if a, err := address.ParseRawAddr(s); err == nil {
		return a, nil
	}
	return address.ParseAddr(s)
}

// due is the index of the newest block made by time t.
func (c *Chain) due(t time.Time) int {
	if t.Before(c.t0) {
		return 0
	}
	return int(t.Sub(c.t0) / c.step)
}

// blockOf is the block an entry stamped at (unix ns) runs in: the first one
// after it.
func (c *Chain) blockOf(at int64) int { return int((at-c.t0.UnixNano())/int64(c.step)) + 1 }

// genTime of block k, in unix seconds.
func (c *Chain) genTime(k int) uint32 {
	return uint32(c.t0.Add(time.Duration(k) * c.step).Unix())
}

// syncLocked reads entries appended since the last read and makes the
// blocks due. Blocks are made only under the file lock with the clock read
// after taking it, so no entry stamped before a block's time can still be on
// its way into the file (see log.go).
func (c *Chain) syncLocked(force bool) error {
	if !force && c.due(c.now()) < len(c.masters) {
		st, err := c.f.Stat()
		if err == nil && st.Size() == c.off {
			return nil
		}
	}
	if err := flock(c.f, syscall.LOCK_SH); err != nil {
		return err
	}
	defer flock(c.f, syscall.LOCK_UN)
	return c.catchUpLocked()
}

// catchUpLocked reads new entries and makes the blocks due; the caller holds
// the file lock.
func (c *Chain) catchUpLocked() error {
	now := c.now()
	if err := c.readLocked(); err != nil {
		return err
	}
	for k := len(c.masters); k <= c.due(now); k++ {
		if err := c.makeBlock(k); err != nil {
			return err
		}
	}
	return nil
}

func (c *Chain) readLocked() error {
	buf, err := readFrom(c.f, c.off)
	if err != nil {
		return fmt.Errorf("simchain: read log: %w", err)
	}
	recs, n := readRecords(buf)
	for _, r := range recs {
		var e entry
		if err := json.Unmarshal(r, &e); err != nil {
			return fmt.Errorf("simchain: log entry: %w", err)
		}
		c.pending = append(c.pending, &e)
		c.lastAt = max(c.lastAt, e.At)
	}
	c.off += int64(n)
	return nil
}

// appendLocked stamps and durably appends entries; it holds the exclusive
// lock around reading, checking (check runs with the chain caught up, and
// may refuse) and writing.
func (c *Chain) appendLocked(build func(at int64) ([]*entry, error)) error {
	if err := flock(c.f, syscall.LOCK_EX); err != nil {
		return err
	}
	defer flock(c.f, syscall.LOCK_UN)
	if err := c.catchUpLocked(); err != nil {
		return err
	}
	at := max(c.now().UnixNano(), c.lastAt)
	es, err := build(at)
	if err != nil || len(es) == 0 {
		return err
	}
	recs := make([][]byte, len(es))
	for i, e := range es {
		e.At = at
		if recs[i], err = encodeRecord(e); err != nil {
			return err
		}
	}
	if err := appendRecords(c.f, c.off, recs); err != nil {
		return fmt.Errorf("simchain: append: %w", err)
	}
	return c.readLocked()
}

// Transfer is an internal message into the chain from outside it (a
// customer's payment).
type Transfer struct {
	From, To   string // any address form
	AmountNano int64
	Body       *cell.Cell // nil: empty
	Bounce     bool
}

// Comment is a text comment body (op 0 + snake string).
func Comment(text string) *cell.Cell {
	return cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake(text).EndCell()
}

// Send durably accepts transfers; they arrive in the next block.
func (c *Chain) Send(ts ...Transfer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.appendLocked(func(int64) ([]*entry, error) {
		out := make([]*entry, 0, len(ts))
		for _, t := range ts {
			from, err1 := parseAddr(t.From)
			to, err2 := parseAddr(t.To)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("simchain: transfer: %w", err)
			}
			if t.AmountNano <= 0 {
				return nil, errors.New("simchain: transfer amount must be positive")
			}
			body := t.Body
			if body == nil {
				body = cell.BeginCell().EndCell()
			}
			out = append(out, &entry{Kind: "transfer", From: from.StringRaw(), To: to.StringRaw(), Amount: t.AmountNano,
				Body: base64.StdEncoding.EncodeToString(body.ToBOCWithFlags(false)), Bounce: t.Bounce})
		}
		return out, nil
	})
}

// SendExternalMessage accepts a wallet's external message into the mempool
// (durably) or refuses it as the wallet would.
func (c *Chain) SendExternalMessage(_ context.Context, ext *tlb.ExternalMessage) error {
	if ext == nil || ext.DstAddr == nil || ext.Body == nil {
		return errors.New("simchain: incomplete external message")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.appendLocked(func(at int64) ([]*entry, error) {
		a := c.accounts[ext.DstAddr.StringRaw()]
		if a == nil || a.wallet == nil {
			return nil, rejected("no wallet at %s", ext.DstAddr.StringRaw())
		}
		m, err := a.wallet.parse(ext.Body)
		if err != nil {
			return nil, err
		}
		// Another external is already waiting for this seqno: the same
		// one again is a no-op, any other is refused.
		for _, e := range c.pending {
			if e.Kind != "external" {
				continue
			}
			pe, err := decodeExternal(e.BOC)
			if err != nil || !pe.DstAddr.Equals(ext.DstAddr) {
				continue
			}
			if sameBody(pe.Body, ext.Body) {
				return nil, nil
			}
			return nil, rejected("seqno %d already has a message waiting", m.seqno)
		}
		if err := a.wallet.check(m, uint32(time.Unix(0, at).Unix())); err != nil {
			return nil, err
		}
		c2, err := tlb.ToCell(ext)
		if err != nil {
			return nil, err
		}
		return []*entry{{Kind: "external", BOC: base64.StdEncoding.EncodeToString(c2.ToBOCWithFlags(false))}}, nil
	})
}

func decodeExternal(b64 string) (*tlb.ExternalMessage, error) {
	c, err := decodeBOC(b64)
	if err != nil {
		return nil, err
	}
	var ext tlb.ExternalMessage
	if err := tlb.LoadFromCell(&ext, c.BeginParse()); err != nil {
		return nil, err
	}
	return &ext, nil
}

func decodeBOC(b64 string) (*cell.Cell, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	return cell.FromBOC(raw)
}

// account returns (creating when absent, as nonexist) the account at raw.
func (c *Chain) account(addr *address.Address) *acct {
	raw := addr.StringRaw()
	a := c.accounts[raw]
	if a == nil {
		a = &acct{addr: addr, raw: raw, status: tlb.AccountStatusNonExist}
		c.accounts[raw] = a
	}
	return a
}

// makeBlock makes block k: the messages sent in block k-1 arrive, then the
// entries stamped for k run in log order.
func (c *Chain) makeBlock(k int) error {
	gen := c.genTime(k)
	c.lt = uint64(k+1) * 1_000_000
	start := c.lt
	var txs []*txRec
	touched := map[*acct]bool{}
	queue := c.queue
	c.queue = nil
	for _, m := range queue {
		tx, err := c.deliver(k, gen, m)
		if err != nil {
			return err
		}
		txs = append(txs, tx)
		touched[c.accounts[m.DstAddr.StringRaw()]] = true
	}
	var rest []*entry
	for _, e := range c.pending {
		if c.blockOf(e.At) != k {
			if c.blockOf(e.At) < k {
				return fmt.Errorf("simchain: entry for block %d found while making block %d (clock went back?)", c.blockOf(e.At), k)
			}
			rest = append(rest, e)
			continue
		}
		switch e.Kind {
		case "transfer":
			from, _ := parseAddr(e.From)
			to, _ := parseAddr(e.To)
			body, err := decodeBOC(e.Body)
			if err != nil {
				return fmt.Errorf("simchain: transfer body: %w", err)
			}
			c.lt += 10
			m := &tlb.InternalMessage{IHRDisabled: true, Bounce: e.Bounce, SrcAddr: from, DstAddr: to,
				Amount: tlb.FromNanoTON(big.NewInt(e.Amount)), CreatedLT: c.lt, CreatedAt: gen - 1, Body: body}
			tx, err := c.deliver(k, gen, m)
			if err != nil {
				return err
			}
			txs = append(txs, tx)
			touched[c.accounts[to.StringRaw()]] = true
		case "external":
			ext, err := decodeExternal(e.BOC)
			if err != nil {
				return fmt.Errorf("simchain: external: %w", err)
			}
			tx, err := c.runExternal(k, gen, ext)
			if err != nil {
				return err
			}
			if tx != nil {
				txs = append(txs, tx)
				touched[c.accounts[ext.DstAddr.StringRaw()]] = true
			}
		}
	}
	c.pending = rest
	slices.SortFunc(txs, func(a, b *txRec) int {
		if c := slices.Compare(a.account, b.account); c != 0 {
			return c
		}
		return int(a.lt - b.lt)
	})
	for a := range touched {
		c.snapshot(a, k)
	}
	if k == 0 {
		for _, a := range c.accounts {
			c.snapshot(a, 0)
		}
	}

	var prevShard, prevMaster *block
	if k > 0 {
		prevShard, prevMaster = c.shards[k-1], c.masters[k-1]
	}
	end := c.lt + 1
	sh, err := seal(c.cfg.GlobalID, blockHeader(0, shardBase+uint32(k), gen, start, end, prevShard, prevMaster), shardSeed(txs), nil)
	if err != nil {
		return err
	}
	sh.txs = txs
	mc, err := masterExtra(sh)
	if err != nil {
		return err
	}
	mb, err := seal(c.cfg.GlobalID, blockHeader(address.MasterchainID, masterBase+uint32(k), gen, start, end, prevMaster, nil), sh.id.RootHash, mc)
	if err != nil {
		return err
	}
	mb.shard = sh
	c.shards = append(c.shards, sh)
	c.masters = append(c.masters, mb)
	return nil
}

func (c *Chain) snapshot(a *acct, k int) {
	v := version{k: k, balance: a.balance, status: a.status}
	if a.wallet != nil {
		v.seqno = a.wallet.seqno
	}
	if n := len(a.txs); n > 0 {
		v.lastLT, v.lastHash = a.txs[n-1].lt, a.txs[n-1].hash
	}
	if n := len(a.versions); n > 0 && a.versions[n-1].k == k {
		a.versions[n-1] = v
		return
	}
	a.versions = append(a.versions, v)
}

// deliver runs internal message m at its destination in block k.
func (c *Chain) deliver(k int, gen uint32, m *tlb.InternalMessage) (*txRec, error) {
	a := c.account(m.DstAddr)
	value := m.Amount.Nano().Int64()
	orig := a.status
	c.lt += 10
	tx := &tlb.Transaction{LT: c.lt, Now: gen, OrigStatus: orig}
	tx.IO.In = &tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: m}
	refuse := a.bounce || (a.status != tlb.AccountStatusActive && m.Bounce)
	desc := tlb.TransactionDescriptionOrdinary{
		CreditPhase: &tlb.CreditPhase{Credit: tlb.CurrencyCollection{Coins: m.Amount}},
	}
	switch {
	case refuse && m.Bounce:
		desc.CreditPhase = nil
		desc.Aborted = true
		desc.ComputePhase = computeFailed(a.status == tlb.AccountStatusActive)
		back := value - c.cfg.Fees.Bounce
		if back > 0 {
			body := bounceBody(m.Body)
			out := &tlb.InternalMessage{IHRDisabled: true, Bounced: true, SrcAddr: a.addr, DstAddr: m.SrcAddr,
				Amount: tlb.FromNanoTON(big.NewInt(back)), CreatedLT: c.lt + 1, CreatedAt: gen, Body: body}
			desc.BouncePhase = &tlb.BouncePhase{Phase: tlb.BouncePhaseOk{
				MsgSize: tlb.StorageUsedShort{Cells: big.NewInt(1), Bits: big.NewInt(int64(body.BitsSize()))},
				MsgFees: tlb.FromNanoTON(big.NewInt(c.cfg.Fees.Bounce)), FwdFees: tlb.ZeroCoins}}
			if err := setOut(tx, []*tlb.InternalMessage{out}); err != nil {
				return nil, err
			}
			c.queue = append(c.queue, out)
		} else {
			desc.BouncePhase = &tlb.BouncePhase{Phase: tlb.BouncePhaseNegFunds{}}
		}
	default:
		a.balance += value
		if a.status == tlb.AccountStatusNonExist {
			a.status = tlb.AccountStatusUninit
		}
		if a.status == tlb.AccountStatusActive {
			desc.ComputePhase = computeOK()
		} else {
			desc.ComputePhase = tlb.ComputePhase{Phase: tlb.ComputePhaseSkipped{Reason: tlb.ComputeSkipReason{Type: tlb.ComputeSkipReasonNoState}}}
		}
	}
	tx.Description = desc
	tx.EndStatus = a.status
	if a.status == tlb.AccountStatusNonExist {
		tx.EndStatus = tlb.AccountStatusNonExist
	}
	return c.record(a, k, tx)
}

// bounceBody is what a bounce carries: 0xffffffff and the first 256 bits
// of the body's root cell.
func bounceBody(body *cell.Cell) *cell.Cell {
	b := cell.BeginCell().MustStoreUInt(0xffffffff, 32)
	if body != nil {
		n := min(body.BitsSize(), 256)
		b.MustStoreSlice(body.BeginParse().MustLoadSlice(n), n)
	}
	return b.EndCell()
}

// runExternal runs a wallet's external message in block k; nil when the
// wallet no longer accepts it (expired, or its seqno was taken).
func (c *Chain) runExternal(k int, gen uint32, ext *tlb.ExternalMessage) (*txRec, error) {
	a := c.accounts[ext.DstAddr.StringRaw()]
	if a == nil || a.wallet == nil {
		return nil, nil
	}
	m, err := a.wallet.parse(ext.Body)
	if err != nil || a.wallet.check(m, gen) != nil || a.balance < c.cfg.Fees.External {
		return nil, nil
	}
	a.wallet.seqno++
	a.balance -= c.cfg.Fees.External
	c.lt += 10
	tx := &tlb.Transaction{LT: c.lt, Now: gen, OrigStatus: a.status, EndStatus: a.status}
	tx.IO.In = &tlb.Message{MsgType: tlb.MsgTypeExternalIn, Msg: ext}
	var outs []*tlb.InternalMessage
	skipped := 0
	for _, act := range m.actions {
		var im tlb.InternalMessage
		if err := tlb.LoadFromCell(&im, act.msg.BeginParse()); err != nil || im.DstAddr == nil {
			skipped++
			continue
		}
		value := im.Amount.Nano().Int64()
		if a.balance < value+c.cfg.Fees.PerMessage {
			skipped++ // mode +2: errors ignored, the message is not sent
			continue
		}
		a.balance -= value + c.cfg.Fees.PerMessage
		out := &tlb.InternalMessage{IHRDisabled: true, Bounce: im.Bounce, SrcAddr: a.addr, DstAddr: im.DstAddr,
			Amount: im.Amount, FwdFee: tlb.FromNanoTON(big.NewInt(c.cfg.Fees.PerMessage)),
			CreatedLT: c.lt + 1 + uint64(len(outs)), CreatedAt: gen, StateInit: im.StateInit, Body: im.Body}
		if out.Body == nil {
			out.Body = cell.BeginCell().EndCell()
		}
		outs = append(outs, out)
	}
	c.lt += uint64(len(outs))
	if err := setOut(tx, outs); err != nil {
		return nil, err
	}
	fees := c.cfg.Fees.External + int64(len(outs))*c.cfg.Fees.PerMessage
	tx.TotalFees = tlb.CurrencyCollection{Coins: tlb.FromNanoTON(big.NewInt(fees))}
	tx.Description = tlb.TransactionDescriptionOrdinary{
		ComputePhase: computeOK(),
		ActionPhase: &tlb.ActionPhase{Success: true, Valid: true, StatusChange: tlb.AccStatusChange{Type: tlb.AccStatusChangeUnchanged}, TotalActions: uint16(len(m.actions)),
			SkippedActions: uint16(skipped), MessagesCreated: uint16(len(outs)), ActionListHash: make([]byte, 32),
			TotalMsgSize: tlb.StorageUsedShort{Cells: big.NewInt(int64(len(outs))), Bits: big.NewInt(0)}},
	}
	c.queue = append(c.queue, outs...)
	return c.record(a, k, tx)
}

func computeOK() tlb.ComputePhase {
	vm := tlb.ComputePhaseVM{Success: true, GasFees: tlb.ZeroCoins}
	vm.Details.GasUsed, vm.Details.GasLimit = big.NewInt(3000), big.NewInt(1_000_000)
	vm.Details.VMInitStateHash, vm.Details.VMFinalStateHash = make([]byte, 32), make([]byte, 32)
	return tlb.ComputePhase{Phase: vm}
}

func computeFailed(active bool) tlb.ComputePhase {
	if !active {
		return tlb.ComputePhase{Phase: tlb.ComputePhaseSkipped{Reason: tlb.ComputeSkipReason{Type: tlb.ComputeSkipReasonNoState}}}
	}
	vm := tlb.ComputePhaseVM{Success: false, GasFees: tlb.ZeroCoins}
	vm.Details.GasUsed, vm.Details.GasLimit = big.NewInt(500), big.NewInt(1_000_000)
	vm.Details.ExitCode = 0xffff
	vm.Details.VMInitStateHash, vm.Details.VMFinalStateHash = make([]byte, 32), make([]byte, 32)
	return tlb.ComputePhase{Phase: vm}
}

func setOut(tx *tlb.Transaction, outs []*tlb.InternalMessage) error {
	if len(outs) == 0 {
		return nil
	}
	d := cell.NewDict(15)
	for i, m := range outs {
		mc, err := tlb.ToCell(m)
		if err != nil {
			return fmt.Errorf("simchain: out message: %w", err)
		}
		if err := d.SetIntKey(big.NewInt(int64(i)), cell.BeginCell().MustStoreRef(mc).EndCell()); err != nil {
			return err
		}
	}
	tx.IO.Out = &tlb.MessagesList{List: d}
	tx.OutMsgCount = uint16(len(outs))
	return nil
}

// record links tx to a's previous transaction, makes it a cell and files it.
func (c *Chain) record(a *acct, k int, tx *tlb.Transaction) (*txRec, error) {
	tx.AccountAddr = a.addr.Data()
	tx.PrevTxHash = make([]byte, 32)
	if n := len(a.txs); n > 0 {
		tx.PrevTxLT, tx.PrevTxHash = a.txs[n-1].lt, a.txs[n-1].hash
	}
	if tx.TotalFees.Coins.Nano() == nil {
		tx.TotalFees = tlb.CurrencyCollection{Coins: tlb.ZeroCoins}
	}
	old := make([]byte, 32)
	if n := len(a.txs); n > 0 {
		old = a.txs[n-1].hash
	}
	tx.StateUpdate = tlb.HashUpdate{OldHash: old, NewHash: hashOf(a.raw, tx.LT)}
	cl, err := tlb.ToCell(tx)
	if err != nil {
		return nil, fmt.Errorf("simchain: transaction cell: %w", err)
	}
	r := &txRec{account: a.addr.Data(), lt: tx.LT, hash: cl.Hash(), cell: cl, k: k}
	a.txs = append(a.txs, r)
	return r, nil
}

func hashOf(parts ...any) []byte {
	sum := sha256.Sum256(fmt.Append(nil, parts...))
	return sum[:]
}

// --- reading (the liteserver side)

func (c *Chain) enter() error {
	c.mu.Lock()
	if err := c.syncLocked(false); err != nil {
		c.mu.Unlock()
		return err
	}
	return nil
}

func (c *Chain) head() *block { return c.masters[len(c.masters)-1] }

// GetMasterchainInfo is the newest masterchain block.
func (c *Chain) GetMasterchainInfo(context.Context) (*tonapi.BlockIDExt, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	return c.head().id.Copy(), nil
}

// CurrentMasterchainInfo is the newest masterchain block (no cache).
func (c *Chain) CurrentMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error) {
	return c.GetMasterchainInfo(ctx)
}

// byID finds the block id names, checking its hashes.
func (c *Chain) byID(id *tonapi.BlockIDExt) (*block, int, error) {
	if id == nil {
		return nil, 0, errors.New("simchain: nil block id")
	}
	list, base := c.shards, uint32(shardBase)
	if id.Workchain == address.MasterchainID {
		list, base = c.masters, masterBase
	}
	if id.SeqNo < base || int(id.SeqNo-base) >= len(list) {
		return nil, 0, tonapi.ErrBlockNotFound
	}
	k := int(id.SeqNo - base)
	b := list[k]
	if !b.id.Equals(id) {
		return nil, 0, fmt.Errorf("simchain: block %d:%d has other hashes (%x)", id.Workchain, id.SeqNo, b.id.RootHash)
	}
	return b, k, nil
}

// enterBlock is enter, then byID: on success the caller holds mu (and
// unlocks it), on error it is released.
func (c *Chain) enterBlock(id *tonapi.BlockIDExt) (*block, int, error) {
	if err := c.enter(); err != nil {
		return nil, 0, err
	}
	b, k, err := c.byID(id)
	if err != nil {
		c.mu.Unlock()
		return nil, 0, err
	}
	return b, k, nil
}

// LookupBlock finds a block by seqno.
func (c *Chain) LookupBlock(_ context.Context, workchain int32, _ int64, seqno uint32) (*tonapi.BlockIDExt, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	list, base := c.shards, uint32(shardBase)
	if workchain == address.MasterchainID {
		list, base = c.masters, masterBase
	}
	if seqno < base || int(seqno-base) >= len(list) {
		return nil, tonapi.ErrBlockNotFound
	}
	return list[seqno-base].id.Copy(), nil
}

// GetBlockData returns the block's parsed cell.
func (c *Chain) GetBlockData(_ context.Context, id *tonapi.BlockIDExt) (*tlb.Block, error) {
	b, _, err := c.enterBlock(id)
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	return b.data, nil
}

// GetBlockShardsInfo lists the shard blocks a masterchain block commits.
func (c *Chain) GetBlockShardsInfo(_ context.Context, master *tonapi.BlockIDExt) ([]*tonapi.BlockIDExt, error) {
	b, _, err := c.enterBlock(master)
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	if b.shard == nil {
		return nil, errors.New("simchain: not a masterchain block")
	}
	return []*tonapi.BlockIDExt{b.shard.id.Copy()}, nil
}

// GetBlockTransactionsV2 lists a block's transactions by (account, lt).
func (c *Chain) GetBlockTransactionsV2(_ context.Context, id *tonapi.BlockIDExt, count uint32, after ...*tonapi.TransactionID3) ([]tonapi.TransactionShortInfo, bool, error) {
	b, _, err := c.enterBlock(id)
	if err != nil {
		return nil, false, err
	}
	defer c.mu.Unlock()
	txs := b.txs
	if len(after) > 0 && after[0] != nil {
		a := after[0]
		i, _ := slices.BinarySearchFunc(txs, a, func(t *txRec, a *tonapi.TransactionID3) int {
			if c := slices.Compare(t.account, a.Account); c != 0 {
				return c
			}
			switch {
			case t.lt < a.LT:
				return -1
			case t.lt > a.LT:
				return 1
			}
			return 0
		})
		if i < len(txs) && slices.Equal(txs[i].account, a.Account) && txs[i].lt == a.LT {
			i++
		}
		txs = txs[i:]
	}
	more := false
	if count > 0 && len(txs) > int(count) {
		txs, more = txs[:count], true
	}
	out := make([]tonapi.TransactionShortInfo, len(txs))
	for i, t := range txs {
		out[i] = tonapi.TransactionShortInfo{Account: slices.Clone(t.account), LT: t.lt, Hash: slices.Clone(t.hash)}
	}
	return out, more, nil
}

// loadTxs decodes rs in order.
func loadTxs(rs []*txRec) ([]*tlb.Transaction, error) {
	out := make([]*tlb.Transaction, 0, len(rs))
	for _, r := range rs {
		tx, err := loadTx(r)
		if err != nil {
			return nil, err
		}
		out = append(out, tx)
	}
	return out, nil
}

func loadTx(r *txRec) (*tlb.Transaction, error) {
	var tx tlb.Transaction
	if err := tlb.LoadFromCell(&tx, r.cell.BeginParse()); err != nil {
		return nil, fmt.Errorf("simchain: transaction cell: %w", err)
	}
	tx.Hash = slices.Clone(r.hash)
	return &tx, nil
}

// GetTransaction loads addr's transaction lt of block id.
func (c *Chain) GetTransaction(_ context.Context, id *tonapi.BlockIDExt, addr *address.Address, lt uint64) (*tlb.Transaction, error) {
	b, _, err := c.enterBlock(id)
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	for _, t := range b.txs {
		if t.lt == lt && slices.Equal(t.account, addr.Data()) {
			return loadTx(t)
		}
	}
	return nil, errors.New("simchain: transaction not in the block")
}

// ListTransactions returns up to num transactions of addr ending with (lt,
// hash), oldest first.
func (c *Chain) ListTransactions(_ context.Context, addr *address.Address, num uint32, lt uint64, hash []byte) ([]*tlb.Transaction, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	a := c.accounts[addr.StringRaw()]
	if a == nil {
		return nil, tonapi.ErrNoTransactionsWereFound
	}
	i, ok := slices.BinarySearchFunc(a.txs, lt, func(t *txRec, lt uint64) int {
		switch {
		case t.lt < lt:
			return -1
		case t.lt > lt:
			return 1
		}
		return 0
	})
	if !ok {
		return nil, tonapi.ErrNoTransactionsWereFound
	}
	if !slices.Equal(a.txs[i].hash, hash) {
		return nil, fmt.Errorf("simchain: transaction %d of %s has hash %x, not %x", lt, a.raw, a.txs[i].hash, hash)
	}
	from := max(0, i+1-int(max(num, 1)))
	return loadTxs(a.txs[from : i+1])
}

// stateAt is a's state as of masterchain block index k.
func (a *acct) stateAt(k int) (version, bool) {
	i, found := slices.BinarySearchFunc(a.versions, k, func(v version, k int) int { return v.k - k })
	if !found {
		if i == 0 {
			return version{}, false
		}
		i--
	}
	return a.versions[i], true
}

// GetAccount returns addr's state as of the masterchain block.
func (c *Chain) GetAccount(_ context.Context, id *tonapi.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	if id.Workchain != address.MasterchainID {
		return nil, errors.New("simchain: account state is read at a masterchain block")
	}
	_, k, err := c.enterBlock(id)
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	a := c.accounts[addr.StringRaw()]
	if a == nil {
		return &tlb.Account{}, nil
	}
	v, ok := a.stateAt(k)
	if !ok || v.status == tlb.AccountStatusNonExist {
		return &tlb.Account{}, nil
	}
	return &tlb.Account{
		IsActive: true,
		State: &tlb.AccountState{IsValid: true, Address: a.addr, AccountStorage: tlb.AccountStorage{
			Status: v.status, LastTransactionLT: v.lastLT, Balance: tlb.FromNanoTON(big.NewInt(v.balance)),
		}},
		LastTxLT: v.lastLT, LastTxHash: slices.Clone(v.lastHash),
	}, nil
}

// RunGetMethod answers "seqno" of a wallet as of the masterchain block.
func (c *Chain) RunGetMethod(_ context.Context, id *tonapi.BlockIDExt, addr *address.Address, method string, _ ...interface{}) (*tonapi.ExecutionResult, error) {
	_, k, err := c.enterBlock(id)
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	a := c.accounts[addr.StringRaw()]
	if a == nil || a.wallet == nil {
		return nil, tonapi.ContractExecError{Code: tonapi.ErrCodeContractNotInitialized}
	}
	if method != "seqno" {
		return nil, tonapi.ContractExecError{Code: 11}
	}
	v, _ := a.stateAt(k)
	return tonapi.NewExecutionResult([]any{big.NewInt(int64(v.seqno))}), nil
}

// --- inspection, for tests and the bench

// Transactions returns every transaction of addr so far, oldest first.
func (c *Chain) Transactions(addr string) ([]*tlb.Transaction, error) {
	a, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	ac := c.accounts[a.StringRaw()]
	if ac == nil {
		return nil, nil
	}
	return loadTxs(ac.txs)
}

// Balance is addr's balance now, in nanotons.
func (c *Chain) Balance(addr string) (int64, error) {
	a, err := parseAddr(addr)
	if err != nil {
		return 0, err
	}
	if err := c.enter(); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	if ac := c.accounts[a.StringRaw()]; ac != nil {
		return ac.balance, nil
	}
	return 0, nil
}

// Head is the newest block's masterchain seqno and generation time.
func (c *Chain) Head() (uint32, time.Time, error) {
	if err := c.enter(); err != nil {
		return 0, time.Time{}, err
	}
	defer c.mu.Unlock()
	h := c.head()
	return h.id.SeqNo, time.Unix(int64(h.gen), 0), nil
}

// TxHashHex is a transaction's hash as the store and logs write it.
func TxHashHex(tx *tlb.Transaction) string { return hex.EncodeToString(tx.Hash) }
