package ton

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/theopenmoney/openmoney/internal/simchain"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// fakeChain is a scripted TON chain behind ChainAPI. Masterchain blocks
// commit shard blocks of workchain 0; shard blocks form per-shard chains
// whose headers (tlb.BlockHeader) name their parents, so the listener's
// parent walk runs on the same data as on the real chain. Transactions are
// real tlb.Transaction cells: built with tonutils-go's builders, stored as
// cells and parsed again on every read, as a liteserver's answer would be.
type fakeChain struct {
	t  testing.TB
	mu sync.Mutex

	base    uint32 // seqno of the first masterchain block
	masters []*fakeMaster
	// hidden: masterchain blocks made but not yet served (a block "being produced").
	hidden int
	// prunedBelow: masterchain blocks (and the shard blocks they commit)
	// below this seqno are gone, as on a liteserver that keeps recent blocks only.
	prunedBelow uint32

	tops      map[shardKey]*fakeBlock // current top of each active shard
	blocks    map[string]*fakeBlock   // by blockKey
	pending   []*fakeBlock            // shard blocks not yet committed
	accounts  map[string]*fakeAccount // by raw address
	lt        uint64
	now       uint32
	blockStep uint32 // seconds between masterchain blocks

	pageCap  int  // GetBlockTransactionsV2 returns at most this many ids
	dupPages bool // serve every transaction id twice

	fail  map[string][]error // per method, errors to return on the next calls
	calls map[string]int
	sent  []*tlb.ExternalMessage
	// historyFrom: ListTransactions answers LSError -400 below this lt per
	// account, on the nodes in historyNodes (nil: every node).
	historyFrom  map[string]uint64
	historyNodes []uint32
	lastTx       map[string]*fakeTx
	// down, when set, fails every call (a liteserver outage).
	down error
	// hook runs at every call, under mu.
	hook func(method string)

	// nodes is how many liteservers the pool has (Client); lies says which
	// ones lie and how; forged* hold what the liars invented.
	nodes         uint32
	lies          map[uint32]lie
	forgedMasters map[uint32]*forgedMaster
	forgedBlocks  map[string]*fakeBlock // by root hash
	// tamper, when set, is how a lieTx liar changes a transaction (the
	// default multiplies the inbound amount by 1000).
	tamper func(*tlb.Transaction)
}

type fakeMaster struct {
	id     *tonapi.BlockIDExt
	gen    uint32
	shards []*tonapi.BlockIDExt
}

type fakeBlock struct {
	id        *tonapi.BlockIDExt
	header    tlb.BlockHeader
	boc       []byte // the block cell, serialised
	txs       []fakeTx
	committed uint32 // masterchain seqno that committed it; 0 = not yet
}

// fakeTx is a transaction as the chain stores it: a cell.
type fakeTx struct {
	account []byte
	lt      uint64
	cell    *cell.Cell
}

type fakeAccount struct {
	addr *address.Address
	txs  []*fakeTxRef
	// explicit state for balance / wallet tests
	balance int64
	status  tlb.AccountStatus
	data    *cell.Cell
}

type fakeTxRef struct {
	tx    fakeTx
	block *fakeBlock
	now   uint32
}

const (
	fakeBaseTime   = 1_750_000_000
	fakeBaseSeqno  = 100
	fakeShardSeqno = 5000
)

// defaultShard is the whole of workchain 0.
const defaultShard = uint64(1) << 63

func newFakeChain(t testing.TB) *fakeChain {
	c := &fakeChain{
		t:           t,
		base:        fakeBaseSeqno,
		tops:        map[shardKey]*fakeBlock{},
		blocks:      map[string]*fakeBlock{},
		accounts:    map[string]*fakeAccount{},
		lt:          40_000_000,
		now:         fakeBaseTime,
		blockStep:   3,
		pageCap:     2,
		fail:        map[string][]error{},
		calls:       map[string]int{},
		historyFrom: map[string]uint64{},
		lastTx:      map[string]*fakeTx{},

		nodes:         3,
		lies:          map[uint32]lie{},
		forgedMasters: map[uint32]*forgedMaster{},
		forgedBlocks:  map[string]*fakeBlock{},
	}
	// genesis: one shard block and the masterchain block committing it
	g := c.newBlock(0, defaultShard, fakeShardSeqno, nil, false, nil)
	c.seal(g, "")
	c.register(g)
	c.tops[shardKey{0, sid(defaultShard)}] = g
	c.pending = append(c.pending, g)
	c.master()
	return c
}

// sid converts a shard id to the signed form BlockIDExt uses.
func sid(u uint64) int64 { return int64(u) }

func blockKey(wc int32, shard int64, seqno uint32) string {
	return fmt.Sprintf("%d:%016x:%d", wc, uint64(shard), seqno)
}

func fakeHash(parts ...any) []byte {
	h := sha256.Sum256(fmt.Append(nil, parts...))
	return h[:]
}

// shardIdent is the inverse of tlb.ConvertShardIdentToShard.
func shardIdent(wc int32, shard uint64) tlb.ShardIdent {
	tz := bits.TrailingZeros64(shard)
	return tlb.ShardIdent{PrefixBits: int8(63 - tz), WorkchainID: wc, ShardPrefix: shard &^ (uint64(1) << tz)}
}

// newBlock makes a block of shard with its header; seal gives it its id.
func (c *fakeChain) newBlock(wc int32, shard uint64, seqno uint32, parent *fakeBlock, afterSplit bool, txs []fakeTx) *fakeBlock {
	b := &fakeBlock{txs: txs}
	b.header.Shard = shardIdent(wc, shard)
	b.header.SeqNo = seqno
	b.header.NotMaster = wc != address.MasterchainID
	b.header.AfterSplit = afterSplit
	b.header.GenUtime = c.now
	if parent != nil {
		b.header.PrevRef.Prev1 = tlb.ExtBlkRef{SeqNo: parent.id.SeqNo, RootHash: parent.id.RootHash, FileHash: parent.id.FileHash}
	}
	if b.header.NotMaster {
		b.header.MasterRef = &tlb.ExtBlkRef{RootHash: make([]byte, 32), FileHash: make([]byte, 32)}
	}
	return b
}

// seal serialises b as a real block cell (simchain.BlockCell) and sets its
// id as the chain does: root hash = the cell's hash, file hash = the hash of
// its BOC. The transactions are bound into the cell (through the extra's
// random seed), so a block with other transactions has another id.
func (c *fakeChain) seal(b *fakeBlock, salt string) {
	h := sha256.New()
	fmt.Fprint(h, salt)
	for _, tx := range b.txs {
		h.Write(tx.cell.Hash())
	}
	root, _, err := simchain.BlockCell(-3, &b.header, h.Sum(nil), nil)
	if err != nil {
		c.t.Fatalf("fake: %v", err)
	}
	b.boc = root.ToBOCWithFlags(false)
	file := sha256.Sum256(b.boc)
	wc, shard := tlb.ConvertShardIdentToShard(b.header.Shard)
	b.id = &tonapi.BlockIDExt{Workchain: wc, Shard: sid(shard), SeqNo: b.header.SeqNo, RootHash: root.Hash(), FileHash: file[:]}
}

// register files a sealed block under its key.
func (c *fakeChain) register(b *fakeBlock) {
	c.blocks[blockKey(b.id.Workchain, b.id.Shard, b.id.SeqNo)] = b
}

// shardBlock appends a block with txs to shard's chain; a later master()
// commits it.
func (c *fakeChain) shardBlock(shard uint64, txs ...*tlb.Transaction) *fakeBlock {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := shardKey{0, sid(shard)}
	parent := c.tops[k]
	if parent == nil {
		c.t.Fatalf("fake: no active shard %016x", shard)
	}
	b := c.newBlock(0, shard, parent.id.SeqNo+1, parent, false, c.store(txs))
	c.seal(b, "")
	c.register(b)
	c.tops[k] = b
	c.pending = append(c.pending, b)
	return b
}

// split replaces shard by its two halves (one new block each).
func (c *fakeChain) split(shard uint64) (left, right uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := shardKey{0, sid(shard)}
	parent := c.tops[k]
	low := shard & -shard
	left, right = shard-low/2, shard+low/2
	delete(c.tops, k)
	for _, s := range []uint64{left, right} {
		b := c.newBlock(0, s, parent.id.SeqNo+1, parent, true, nil)
		c.seal(b, "")
		c.register(b)
		c.tops[shardKey{0, sid(s)}] = b
		c.pending = append(c.pending, b)
	}
	return left, right
}

// store serialises txs into cells and files them under their accounts.
func (c *fakeChain) store(txs []*tlb.Transaction) []fakeTx {
	var out []fakeTx
	for _, tx := range txs {
		cl, err := tlb.ToCell(tx)
		if err != nil {
			c.t.Fatalf("fake: tx to cell: %v", err)
		}
		out = append(out, fakeTx{account: tx.AccountAddr, lt: tx.LT, cell: cl})
	}
	return out
}

// master makes the next masterchain block, committing every pending shard
// block, and serves it (unless setHidden holds it back).
func (c *fakeChain) master() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	seqno := c.base + uint32(len(c.masters))
	if len(c.masters) > 0 {
		c.now += c.blockStep
	}
	mb := c.newBlock(address.MasterchainID, defaultShard, seqno, nil, false, nil)
	if len(c.masters) > 0 {
		prev := c.masters[len(c.masters)-1].id
		mb.header.PrevRef.Prev1 = tlb.ExtBlkRef{SeqNo: prev.SeqNo, RootHash: prev.RootHash, FileHash: prev.FileHash}
	}
	keys := make([]shardKey, 0, len(c.tops))
	for k := range c.tops {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b shardKey) int { return cmp.Compare(uint64(a.shard), uint64(b.shard)) })
	var shards []*tonapi.BlockIDExt
	for _, k := range keys {
		shards = append(shards, c.tops[k].id)
	}
	// the committed shard tops are part of the block (McBlockExtra)
	var salt strings.Builder
	for _, sh := range shards {
		fmt.Fprintf(&salt, "%x", sh.RootHash)
	}
	c.seal(mb, salt.String())
	c.register(mb)
	m := &fakeMaster{id: mb.id, gen: c.now, shards: shards}
	for _, b := range c.pending {
		b.committed = seqno
		for _, tx := range b.txs {
			acc := c.accountLocked(address.NewAddress(0, 0, tx.account))
			var parsed tlb.Transaction
			if err := tlb.LoadFromCell(&parsed, tx.cell.BeginParse()); err != nil {
				c.t.Fatalf("fake: reload tx: %v", err)
			}
			acc.txs = append(acc.txs, &fakeTxRef{tx: tx, block: b, now: parsed.Now})
		}
	}
	c.pending = nil
	mb.committed = seqno
	c.masters = append(c.masters, m)
	return seqno
}

// mine puts txs in one new block of the default shard and commits it.
func (c *fakeChain) mine(txs ...*tlb.Transaction) uint32 {
	c.shardBlock(defaultShard, txs...)
	return c.master()
}

// setHidden keeps the newest n masterchain blocks from being served.
func (c *fakeChain) setHidden(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hidden = n
}

func (c *fakeChain) setDown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = err
}

func (c *fakeChain) prune(below uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prunedBelow = below
}

func (c *fakeChain) failNext(method string, errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail[method] = append(c.fail[method], errs...)
}

func (c *fakeChain) callCount(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

func (c *fakeChain) headSeqno() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base + uint32(len(c.masters)-1-c.hidden)
}

func (c *fakeChain) chainTime() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// enter counts a call and returns an injected failure, if any. Caller holds mu.
func (c *fakeChain) enter(method string) error {
	c.calls[method]++
	if c.hook != nil {
		c.hook(method)
	}
	if c.down != nil {
		return c.down
	}
	if errs := c.fail[method]; len(errs) > 0 {
		c.fail[method] = errs[1:]
		return errs[0]
	}
	return nil
}

func (c *fakeChain) visibleLocked() uint32 { return c.base + uint32(len(c.masters)-1-c.hidden) }

func (c *fakeChain) accountLocked(a *address.Address) *fakeAccount {
	raw := a.StringRaw()
	acc := c.accounts[raw]
	if acc == nil {
		acc = &fakeAccount{addr: address.NewAddress(0, byte(a.Workchain()), a.Data())}
		c.accounts[raw] = acc
	}
	return acc
}

// blockAvailable says whether b is served: committed by a visible,
// not-pruned masterchain block.
func (c *fakeChain) blockAvailable(b *fakeBlock) bool {
	return b.committed != 0 && b.committed <= c.visibleLocked() && b.committed >= c.prunedBelow
}

// lookupLocked finds the block with exactly id; a liar also knows its own
// forged blocks.
func (c *fakeChain) lookupLocked(id *tonapi.BlockIDExt, node uint32) (*fakeBlock, error) {
	if c.lies[node] != 0 {
		if b := c.forgedBlocks[string(id.RootHash)]; b != nil {
			return b, nil
		}
	}
	b := c.blocks[blockKey(id.Workchain, id.Shard, id.SeqNo)]
	if b == nil || !bytes.Equal(b.id.RootHash, id.RootHash) || !c.blockAvailable(b) {
		return nil, tonapi.LSError{Code: 651, Text: "block not found"}
	}
	return b, nil
}

func loadTx(c *cell.Cell) (*tlb.Transaction, error) {
	var tx tlb.Transaction
	if err := tlb.LoadFromCell(&tx, c.BeginParse()); err != nil {
		return nil, fmt.Errorf("fake: load tx: %w", err)
	}
	tx.Hash = c.Hash()
	return &tx, nil
}

// --- ChainAPI ---

func (c *fakeChain) GetMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter("GetMasterchainInfo"); err != nil {
		return nil, err
	}
	return c.masters[c.visibleLocked()-c.base].id.Copy(), nil
}

func (c *fakeChain) CurrentMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error) {
	return c.GetMasterchainInfo(ctx)
}

func (c *fakeChain) LookupBlock(ctx context.Context, workchain int32, shard int64, seqno uint32) (*tonapi.BlockIDExt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter("LookupBlock"); err != nil {
		return nil, err
	}
	if workchain != address.MasterchainID || uint64(shard) != defaultShard {
		return nil, fmt.Errorf("fake: lookup supports the masterchain only")
	}
	if f := c.forgedMasters[seqno]; f != nil && c.lies[simchain.NodeOf(ctx)]&lieLookup != 0 {
		return f.block.id.Copy(), nil
	}
	if seqno < c.base || seqno > c.visibleLocked() || seqno < c.prunedBelow {
		return nil, tonapi.ErrBlockNotFound
	}
	return c.masters[seqno-c.base].id.Copy(), nil
}

// GetBlockData answers as a liteserver does (the block's BOC, or an error)
// and reads the answer with tonutils-go's own APIClient.GetBlockData, which
// parses the cell and refuses data that does not hash to the id asked for;
// errors go through checkAnswer as with the real client.
func (c *fakeChain) GetBlockData(ctx context.Context, block *tonapi.BlockIDExt) (*tlb.Block, error) {
	c.mu.Lock()
	err := c.enter("GetBlockData")
	var answer tl.Serializable
	if err == nil {
		b, lerr := c.lookupLocked(block, simchain.NodeOf(ctx))
		switch {
		case lerr != nil:
			answer = lerr
		case c.lies[simchain.NodeOf(ctx)]&lieBlockData != 0 && !b.header.NotMaster && c.forgedMasters[b.id.SeqNo] != nil:
			// a liar swaps in its own block under the real id
			answer = tonapi.BlockData{ID: block, Payload: c.forgedMasters[b.id.SeqNo].block.boc}
		default:
			answer = tonapi.BlockData{ID: block, Payload: b.boc}
		}
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	data, err := tonapi.NewAPIClient(cannedLS{answer}, tonapi.ProofCheckPolicyFast).GetBlockData(ctx, block)
	return data, checkAnswer("block data", err)
}

// cannedLS is a LiteClient that answers every query with one prepared answer.
type cannedLS struct{ answer tl.Serializable }

func (l cannedLS) QueryLiteserver(_ context.Context, _ tl.Serializable, result tl.Serializable) error {
	*(result.(*tl.Serializable)) = l.answer
	return nil
}
func (l cannedLS) StickyContext(ctx context.Context) context.Context { return ctx }
func (l cannedLS) StickyContextNextNode(ctx context.Context) (context.Context, error) {
	return ctx, errors.New("no other node")
}
func (l cannedLS) StickyContextNextNodeBalanced(ctx context.Context) (context.Context, error) {
	return ctx, errors.New("no other node")
}
func (l cannedLS) StickyNodeID(context.Context) uint32 { return 0 }

// --- liteservers: the fake is a pool of nodes, some of which may lie ---

type lie int

const (
	// lieLookup: LookupBlock answers the forged master block of that seqno.
	lieLookup lie = 1 << iota
	// lieBlockData: GetBlockData of a real master id answers the forged block's data.
	lieBlockData
	// lieTx: GetTransaction answers the listed transaction with its amount changed.
	lieTx
)

// Client makes the fake a "sticky" client like the real one: it binds a
// context to node 1, 2, … in turn.
func (c *fakeChain) Client() tonapi.LiteClient {
	return simchain.Pool{Nodes: func() uint32 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.nodes
	}}
}

// setLie makes node tell the given lies.
func (c *fakeChain) setLie(node uint32, l lie) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lies[node] = l
}

// forgedMaster is a masterchain block a liar invents for seqno: it links to
// the real block before it and commits one invented shard block whose
// transactions never happened.
type forgedMaster struct {
	block  *fakeBlock
	shards []*tonapi.BlockIDExt
}

// forge invents masterchain block seqno (which must follow the current head
// by one: the liar is ahead) holding txs in an invented shard block. The
// real chain is untouched: the transactions are in no account's history.
func (c *fakeChain) forge(seqno uint32, txs ...*tlb.Transaction) *forgedMaster {
	c.mu.Lock()
	defer c.mu.Unlock()
	prevMaster := c.masters[seqno-1-c.base]
	top := c.tops[shardKey{0, sid(defaultShard)}]
	sb := c.newBlock(0, defaultShard, top.id.SeqNo+1, top, false, c.store(txs))
	c.seal(sb, "forged")
	mb := c.newBlock(address.MasterchainID, defaultShard, seqno, nil, false, nil)
	mb.header.PrevRef.Prev1 = tlb.ExtBlkRef{SeqNo: prevMaster.id.SeqNo, RootHash: prevMaster.id.RootHash, FileHash: prevMaster.id.FileHash}
	mb.header.GenUtime = c.now + c.blockStep
	c.seal(mb, "forged")
	sb.committed, mb.committed = seqno, seqno
	f := &forgedMaster{block: mb, shards: []*tonapi.BlockIDExt{sb.id}}
	c.forgedMasters[seqno] = f
	c.forgedBlocks[string(sb.id.RootHash)] = sb
	c.forgedBlocks[string(mb.id.RootHash)] = mb
	return f
}

func (c *fakeChain) GetBlockShardsInfo(ctx context.Context, master *tonapi.BlockIDExt) ([]*tonapi.BlockIDExt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter("GetBlockShardsInfo"); err != nil {
		return nil, err
	}
	mb, err := c.lookupLocked(master, simchain.NodeOf(ctx))
	if err != nil {
		return nil, err
	}
	shards := c.masters[master.SeqNo-c.base].shards
	if f := c.forgedMasters[master.SeqNo]; f != nil && f.block == mb {
		shards = f.shards
	}
	var out []*tonapi.BlockIDExt
	for _, s := range shards {
		out = append(out, s.Copy())
	}
	return out, nil
}

func (c *fakeChain) GetBlockTransactionsV2(ctx context.Context, block *tonapi.BlockIDExt, count uint32, after ...*tonapi.TransactionID3) ([]tonapi.TransactionShortInfo, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter("GetBlockTransactionsV2"); err != nil {
		return nil, false, err
	}
	b, err := c.lookupLocked(block, simchain.NodeOf(ctx))
	if err != nil {
		return nil, false, err
	}
	// a liteserver lists by (account, lt)
	txs := slices.Clone(b.txs)
	slices.SortFunc(txs, func(x, y fakeTx) int {
		if d := bytes.Compare(x.account, y.account); d != 0 {
			return d
		}
		return cmp.Compare(x.lt, y.lt)
	})
	if len(after) > 0 && after[0] != nil {
		a := after[0]
		i := slices.IndexFunc(txs, func(x fakeTx) bool {
			d := bytes.Compare(x.account, a.Account)
			return d > 0 || (d == 0 && x.lt > a.LT)
		})
		if i < 0 {
			txs = nil
		} else {
			txs = txs[i:]
		}
	}
	limit := min(int(count), c.pageCap)
	more := len(txs) > limit
	if more {
		txs = txs[:limit]
	}
	var out []tonapi.TransactionShortInfo
	for _, x := range txs {
		info := tonapi.TransactionShortInfo{Account: x.account, LT: x.lt, Hash: x.cell.Hash()}
		out = append(out, info)
		if c.dupPages {
			out = append(out, info)
		}
	}
	return out, more, nil
}

func (c *fakeChain) GetTransaction(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address, lt uint64) (*tlb.Transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter("GetTransaction"); err != nil {
		return nil, err
	}
	b, err := c.lookupLocked(block, simchain.NodeOf(ctx))
	if err != nil {
		return nil, err
	}
	for _, x := range b.txs {
		if x.lt == lt && bytes.Equal(x.account, addr.Data()) {
			tx, err := loadTx(x.cell)
			if err == nil && c.lies[simchain.NodeOf(ctx)]&lieTx != 0 {
				// another transaction than the block lists: by default
				// more money
				if c.tamper != nil {
					c.tamper(tx)
				} else {
					in := tx.IO.In.AsInternal()
					in.Amount = tlb.FromNanoTONU(in.Amount.Nano().Uint64() * 1000)
				}
				cl, cerr := tlb.ToCell(tx)
				if cerr != nil {
					return nil, cerr
				}
				return loadTx(cl)
			}
			return tx, err
		}
	}
	return nil, tonapi.ErrNoTransactionsWereFound
}

func (c *fakeChain) ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter("ListTransactions"); err != nil {
		return nil, err
	}
	return c.listLocked(addr, num, lt, txHash, simchain.NodeOf(ctx), false)
}

// archiveChain is the same chain served by an archival liteserver: every
// account's whole history.
type archiveChain struct{ *fakeChain }

func (a archiveChain) ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.enter("ArchiveListTransactions"); err != nil {
		return nil, err
	}
	return a.listLocked(addr, num, lt, txHash, 0, true)
}

func (c *fakeChain) listLocked(addr *address.Address, num uint32, lt uint64, txHash []byte, node uint32, archive bool) ([]*tlb.Transaction, error) {
	from, limited := c.historyFrom[addr.StringRaw()]
	limited = limited && !archive && (c.historyNodes == nil || slices.Contains(c.historyNodes, node))
	if limited && lt < from {
		return nil, tonapi.LSError{Code: -400, Text: "cannot find block with lt"}
	}
	acc := c.accounts[addr.StringRaw()]
	if acc == nil {
		return nil, tonapi.ErrNoTransactionsWereFound
	}
	end := slices.IndexFunc(acc.txs, func(r *fakeTxRef) bool { return r.tx.lt == lt })
	if end < 0 || !c.blockAvailableForHistory(acc.txs[end]) {
		return nil, tonapi.ErrNoTransactionsWereFound
	}
	if !bytes.Equal(acc.txs[end].tx.cell.Hash(), txHash) {
		return nil, fmt.Errorf("incorrect transaction hash, not matches prev tx hash")
	}
	start := max(0, end+1-int(num))
	if limited {
		for start <= end && acc.txs[start].tx.lt < from {
			start++
		}
	}
	var out []*tlb.Transaction
	for _, r := range acc.txs[start : end+1] {
		tx, err := loadTx(r.tx.cell)
		if err != nil {
			return nil, err
		}
		out = append(out, tx)
	}
	return out, nil
}

// blockAvailableForHistory: account history outlives block data on a
// liteserver (it is what backfill relies on); it only needs the tx committed.
func (c *fakeChain) blockAvailableForHistory(r *fakeTxRef) bool {
	return r.block.committed != 0 && r.block.committed <= c.visibleLocked()
}

func (c *fakeChain) GetAccount(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter("GetAccount"); err != nil {
		return nil, err
	}
	acc := c.accounts[addr.StringRaw()]
	if acc == nil {
		return &tlb.Account{IsActive: false}, nil
	}
	out := &tlb.Account{IsActive: true}
	for _, r := range acc.txs {
		if r.block.committed != 0 && r.block.committed <= block.SeqNo {
			out.LastTxLT = r.tx.lt
			out.LastTxHash = r.tx.cell.Hash()
		}
	}
	status := acc.status
	if status == "" {
		status = tlb.AccountStatusUninit
	}
	out.State = &tlb.AccountState{IsValid: true, Address: acc.addr, AccountStorage: tlb.AccountStorage{
		Status: status, Balance: tlb.FromNanoTON(big.NewInt(acc.balance)), LastTransactionLT: out.LastTxLT,
	}}
	out.Data = acc.data
	return out, nil
}

func (c *fakeChain) SendExternalMessage(ctx context.Context, msg *tlb.ExternalMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enter("SendExternalMessage"); err != nil {
		return err
	}
	c.sent = append(c.sent, msg)
	return nil
}

// setAccount sets the explicit state of an account (balance tests).
func (c *fakeChain) setAccount(raw string, balance int64, status tlb.AccountStatus, data *cell.Cell) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := address.ParseRawAddr(raw)
	if err != nil {
		c.t.Fatal(err)
	}
	acc := c.accountLocked(a)
	acc.balance, acc.status, acc.data = balance, status, data
}

// --- transaction builders ---

// txOpts describes the inbound message of a transaction.
type txOpts struct {
	to       string // raw account the tx belongs to
	from     string // raw sender (internal)
	nano     int64
	body     *cell.Cell
	bounced  bool // the message is itself a bounce
	bounceOk bool // the account bounced the message back
	external bool // inbound external (the wallet's own send)
	outTo    string
	outNano  int64
	outBody  *cell.Cell
	vmOK     bool // the account's code ran and succeeded (a contract, e.g. a jetton wallet)
}

func mustRaw(t testing.TB, s string) *address.Address {
	t.Helper()
	a, err := ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tx builds a transaction as the chain would record it, linked to the
// account's previous transaction, and round-trips it through cells.
func (c *fakeChain) tx(o txOpts) *tlb.Transaction {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	to := mustRaw(c.t, o.to)
	c.lt += 1000
	tx := &tlb.Transaction{
		AccountAddr: to.Data(),
		LT:          c.lt,
		PrevTxHash:  make([]byte, 32),
		Now:         c.now + 1,
		OrigStatus:  tlb.AccountStatusActive,
		EndStatus:   tlb.AccountStatusActive,
		TotalFees:   tlb.CurrencyCollection{Coins: tlb.FromNanoTONU(1_000_000)},
		StateUpdate: tlb.HashUpdate{OldHash: fakeHash("old", c.lt), NewHash: fakeHash("new", c.lt)},
	}
	// link to the account's newest transaction (tests put transactions in
	// blocks in the order they make them)
	prev := c.lastTx[to.StringRaw()]
	if prev != nil {
		tx.PrevTxLT, tx.PrevTxHash = prev.lt, prev.cell.Hash()
	}

	desc := tlb.TransactionDescriptionOrdinary{
		ComputePhase: tlb.ComputePhase{Phase: tlb.ComputePhaseSkipped{Reason: tlb.ComputeSkipReason{Type: tlb.ComputeSkipReasonNoState}}},
	}
	if o.vmOK {
		vm := tlb.ComputePhaseVM{Success: true, GasFees: tlb.FromNanoTONU(1000)}
		vm.Details.GasUsed, vm.Details.GasLimit = big.NewInt(1000), big.NewInt(10000)
		vm.Details.VMInitStateHash, vm.Details.VMFinalStateHash = make([]byte, 32), make([]byte, 32)
		desc.ComputePhase = tlb.ComputePhase{Phase: vm}
	}
	if o.bounceOk {
		desc.BouncePhase = &tlb.BouncePhase{Phase: tlb.BouncePhaseOk{
			MsgSize: tlb.StorageUsedShort{Cells: big.NewInt(1), Bits: big.NewInt(100)},
			MsgFees: tlb.FromNanoTONU(1000), FwdFees: tlb.FromNanoTONU(1000),
		}}
	}
	tx.Description = desc

	if o.external {
		tx.IO.In = &tlb.Message{MsgType: tlb.MsgTypeExternalIn, Msg: &tlb.ExternalMessage{
			SrcAddr: address.NewAddressNone(), DstAddr: to, ImportFee: tlb.FromNanoTONU(0),
			Body: cell.BeginCell().MustStoreUInt(0xdeadbeef, 32).EndCell(),
		}}
		if o.outTo != "" {
			out := &tlb.InternalMessage{
				IHRDisabled: true, SrcAddr: to, DstAddr: mustRaw(c.t, o.outTo),
				Amount: tlb.FromNanoTONU(uint64(o.outNano)), CreatedLT: c.lt + 1, CreatedAt: c.now + 1,
				Body: o.outBody,
			}
			if out.Body == nil {
				out.Body = cell.BeginCell().EndCell()
			}
			mc, err := tlb.ToCell(out)
			if err != nil {
				c.t.Fatalf("fake: out msg: %v", err)
			}
			d := cell.NewDict(15)
			if err := d.SetIntKey(big.NewInt(0), cell.BeginCell().MustStoreRef(mc).EndCell()); err != nil {
				c.t.Fatal(err)
			}
			tx.IO.Out = &tlb.MessagesList{List: d}
			tx.OutMsgCount = 1
		}
	} else {
		body := o.body
		if body == nil {
			body = cell.BeginCell().EndCell()
		}
		tx.IO.In = &tlb.Message{MsgType: tlb.MsgTypeInternal, Msg: &tlb.InternalMessage{
			IHRDisabled: true, Bounce: o.bounceOk, Bounced: o.bounced,
			SrcAddr: mustRaw(c.t, o.from), DstAddr: to,
			Amount: tlb.FromNanoTONU(uint64(o.nano)), CreatedLT: c.lt - 1, CreatedAt: c.now,
			Body: body,
		}}
	}

	// round trip: what the listener reads is what a liteserver would send
	cl, err := tlb.ToCell(tx)
	if err != nil {
		c.t.Fatalf("fake: tx to cell: %v", err)
	}
	back, err := loadTx(cl)
	if err != nil {
		c.t.Fatal(err)
	}
	c.lastTx[to.StringRaw()] = &fakeTx{account: back.AccountAddr, lt: back.LT, cell: cl}
	return back
}

func commentCell(s string) *cell.Cell {
	return cell.BeginCell().MustStoreUInt(0, 32).MustStoreStringSnake(s).EndCell()
}

// v4r2Data is a deployed v4r2 wallet's data with the given seqno.
func v4r2Data(seqno, subwallet uint32, pub []byte) *cell.Cell {
	return cell.BeginCell().MustStoreUInt(uint64(seqno), 32).MustStoreUInt(uint64(subwallet), 32).
		MustStoreSlice(pub, 256).MustStoreDict(nil).EndCell()
}

// mineCells puts transactions given as cells (as another engine built them:
// @ton/sandbox) unchanged in one new block of the default shard and commits it.
func (c *fakeChain) mineCells(cells ...*cell.Cell) uint32 {
	c.t.Helper()
	c.mu.Lock()
	var txs []fakeTx
	for _, cl := range cells {
		tx, err := loadTx(cl)
		if err != nil {
			c.mu.Unlock()
			c.t.Fatal(err)
		}
		txs = append(txs, fakeTx{account: tx.AccountAddr, lt: tx.LT, cell: cl})
	}
	k := shardKey{0, sid(defaultShard)}
	parent := c.tops[k]
	b := c.newBlock(0, defaultShard, parent.id.SeqNo+1, parent, false, txs)
	c.seal(b, "")
	c.register(b)
	c.tops[k] = b
	c.pending = append(c.pending, b)
	c.mu.Unlock()
	return c.master()
}
