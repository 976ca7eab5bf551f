package ton

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

type blockID = tonapi.BlockIDExt

// shardKey names a shard (its id changes on split and merge).
type shardKey struct {
	wc    int32
	shard int64
}

// shardTops maps each shard to the seqno of its newest block already
// scanned: the tops committed by the last masterchain block processed.
type shardTops map[shardKey]uint32

func topsOf(blocks []*blockID) shardTops {
	t := make(shardTops, len(blocks))
	for _, b := range blocks {
		t[shardKey{b.Workchain, b.Shard}] = b.SeqNo
	}
	return t
}

// maxShardWalk bounds the walk back through a shard's parents. Between two
// consecutive masterchain blocks a shard advances by a few blocks; a longer
// walk means the previous tops are wrong and must not run away.
const maxShardWalk = 256

// txPage is how many transaction ids are asked per block page.
const txPage = 256

type scanResult struct {
	transfers []Transfer
	shards    shardTops
	genUtime  uint32
}

// mcBlock is a masterchain block id reached through proven links: the head
// GetMasterchainInfo verified, or the prev_ref of a block whose data hashed to
// its proven id. gen is its generation time once its data has been read.
type mcBlock struct {
	id     *blockID
	gen    uint32
	hasGen bool
}

// provenMaster returns masterchain block seqno (at most head's) by walking
// back from the proven head, or from the lowest proven block above seqno,
// through the prev_ref of each block's hash-checked data. LookupBlock is never
// used for a block we scan: its answer carries no proof.
func (l *Listener) provenMaster(ctx context.Context, api ChainAPI, head *blockID, seqno uint32, pos *position) (*mcBlock, error) {
	if seqno > head.SeqNo {
		return nil, fmt.Errorf("masterchain block %d is above the head %d", seqno, head.SeqNo)
	}
	if err := pos.remember(head); err != nil {
		return nil, err
	}
	if b := pos.mc[seqno]; b != nil {
		return b, nil
	}
	start := pos.mc[head.SeqNo]
	for s, b := range pos.mc {
		if s > seqno && s < start.id.SeqNo {
			start = b
		}
	}
	for cur := start; cur.id.SeqNo > seqno; {
		data, err := api.GetBlockData(ctx, cur.id)
		if err != nil {
			return nil, fmt.Errorf("masterchain block %d: %w", cur.id.SeqNo, err)
		}
		h := data.BlockInfo
		p := h.PrevRef.Prev1
		if h.SeqNo != cur.id.SeqNo || h.NotMaster || h.AfterMerge || h.Shard.WorkchainID != address.MasterchainID ||
			p.SeqNo != cur.id.SeqNo-1 || len(p.RootHash) != 32 || len(p.FileHash) != 32 {
			return nil, unproven("masterchain link", "block %d's header (seqno %d, previous %d) does not link to the block before it", cur.id.SeqNo, h.SeqNo, p.SeqNo)
		}
		cur.gen, cur.hasGen = h.GenUtime, true
		prev := &blockID{Workchain: address.MasterchainID, Shard: head.Shard, SeqNo: p.SeqNo, RootHash: p.RootHash, FileHash: p.FileHash}
		if err := pos.remember(prev); err != nil {
			return nil, err
		}
		cur = pos.mc[prev.SeqNo]
	}
	return pos.mc[seqno], nil
}

// genOf fills in b's generation time from its (hash-checked) data.
func genOf(ctx context.Context, api ChainAPI, b *mcBlock) error {
	if b.hasGen {
		return nil
	}
	data, err := api.GetBlockData(ctx, b.id)
	if err != nil {
		return fmt.Errorf("block data: %w", err)
	}
	if data.BlockInfo.SeqNo != b.id.SeqNo || data.BlockInfo.NotMaster {
		return unproven("masterchain block", "data of block %d names seqno %d", b.id.SeqNo, data.BlockInfo.SeqNo)
	}
	b.gen, b.hasGen = data.BlockInfo.GenUtime, true
	return nil
}

// shardsAt returns the shard tops committed by masterchain block seqno.
func (l *Listener) shardsAt(ctx context.Context, api ChainAPI, head *blockID, seqno uint32, pos *position) (shardTops, error) {
	mc, err := l.provenMaster(ctx, api, head, seqno, pos)
	if err != nil {
		return nil, err
	}
	tops, err := api.GetBlockShardsInfo(ctx, mc.id)
	if err != nil {
		return nil, fmt.Errorf("shards of masterchain block %d: %w", seqno, err)
	}
	return topsOf(tops), nil
}

// scanMaster collects the watched transfers of masterchain block seqno and
// of every shard block it newly commits (prev: tops already scanned).
func (l *Listener) scanMaster(ctx context.Context, api ChainAPI, head *blockID, seqno uint32, prev shardTops, pos *position) (scanResult, error) {
	mb, err := l.provenMaster(ctx, api, head, seqno, pos)
	if err != nil {
		return scanResult{}, err
	}
	if err := genOf(ctx, api, mb); err != nil {
		return scanResult{}, err
	}
	mc := mb.id
	tops, err := api.GetBlockShardsInfo(ctx, mc)
	if err != nil {
		return scanResult{}, fmt.Errorf("shards: %w", err)
	}

	var blocks []*blockID
	visited := map[shardKey]map[uint32]bool{}
	for _, s := range tops {
		ns, err := l.notSeen(ctx, api, s, prev, visited, 0)
		if err != nil {
			return scanResult{}, err
		}
		blocks = append(blocks, ns...)
	}
	blocks = append(blocks, mc)

	var out []Transfer
	for _, b := range blocks {
		ts, err := l.blockTransfers(ctx, api, b)
		if err != nil {
			return scanResult{}, err
		}
		out = append(out, ts...)
	}
	sortTransfers(out)
	return scanResult{transfers: out, shards: topsOf(tops), genUtime: mb.gen}, nil
}

// notSeen returns the blocks of s's shard chain newer than prev, parents
// first (the block-scan example's getNotSeenShards): a masterchain block
// names only each shard's top, and the blocks between two tops hold
// transactions too. visited avoids scanning a parent twice when both halves
// of a split lead back to it.
func (l *Listener) notSeen(ctx context.Context, api ChainAPI, s *blockID, prev shardTops, visited map[shardKey]map[uint32]bool, depth int) ([]*blockID, error) {
	k := shardKey{s.Workchain, s.Shard}
	last, known := prev[k]
	if known && s.SeqNo <= last {
		return nil, nil
	}
	if visited[k][s.SeqNo] {
		return nil, nil
	}
	if visited[k] == nil {
		visited[k] = map[uint32]bool{}
	}
	visited[k][s.SeqNo] = true
	// The same shard one block on: its only parent is the top already seen
	// (a split or merge changes the shard id), so its header need not be read.
	if known && s.SeqNo == last+1 {
		return []*blockID{s}, nil
	}
	if depth >= maxShardWalk {
		return nil, fmt.Errorf("shard %d:%016x: more than %d unseen blocks before %d", s.Workchain, uint64(s.Shard), maxShardWalk, s.SeqNo)
	}
	data, err := api.GetBlockData(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("shard block %d:%016x:%d: %w", s.Workchain, uint64(s.Shard), s.SeqNo, err)
	}
	parents, err := data.BlockInfo.GetParentBlocks()
	if err != nil {
		return nil, fmt.Errorf("parents of shard block %d:%016x:%d: %w", s.Workchain, uint64(s.Shard), s.SeqNo, err)
	}
	var out []*blockID
	for _, p := range parents {
		ps, err := l.notSeen(ctx, api, p, prev, visited, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return append(out, s), nil
}

// blockTransfers lists block b's transactions and loads those on watched accounts.
func (l *Listener) blockTransfers(ctx context.Context, api ChainAPI, b *blockID) ([]Transfer, error) {
	var (
		out   []Transfer
		after *tonapi.TransactionID3
	)
	for {
		ids, more, err := api.GetBlockTransactionsV2(ctx, b, txPage, after)
		if err != nil {
			return nil, fmt.Errorf("transactions of block %d:%016x:%d: %w", b.Workchain, uint64(b.Shard), b.SeqNo, err)
		}
		for _, id := range ids {
			if !l.isWatched(accountRaw(b.Workchain, id.Account)) {
				continue
			}
			addr := address.NewAddress(0, byte(b.Workchain), id.Account)
			tx, err := api.GetTransaction(ctx, b, addr, id.LT)
			if err != nil {
				return nil, fmt.Errorf("transaction %s lt %d: %w", addr.StringRaw(), id.LT, err)
			}
			if len(tx.Hash) == 0 {
				tx.Hash = id.Hash
			}
			// The library proves that the block holds this transaction, not
			// that it is the one asked for: it must be the listed id.
			if tx.LT != id.LT || !bytes.Equal(tx.AccountAddr, id.Account) || !bytes.Equal(tx.Hash, id.Hash) {
				return nil, unproven("transaction", "%s lt %d: the answer is another transaction (lt %d, hash %x)", addr.StringRaw(), id.LT, tx.LT, tx.Hash)
			}
			if t, ok := l.convert(b.Workchain, tx); ok {
				out = append(out, t)
			}
		}
		if !more || len(ids) == 0 {
			return out, nil
		}
		after = ids[len(ids)-1].ID3()
	}
}

// classify marks money moving between two of our own accounts (a sweep from
// a top-up subwallet, or its jetton wallet, to the service wallet's) as not incoming: it was counted
// when it reached the first account, and the shop records it as ignored.
func (l *Listener) classify(t Transfer) Transfer {
	if t.Incoming && t.From != "" && l.isWatched(t.From) {
		t.Incoming = false
	}
	// Jettons from one of our jetton wallets (a jetton sweep).
	if t.Incoming && t.Jetton != nil && t.Jetton.SourceWallet != "" && l.isWatched(t.Jetton.SourceWallet) {
		t.Incoming = false
	}
	return t
}

// backfill delivers, as one batch, the watched accounts' transfers made
// since boundary and up to masterchain block head (see Listener), and
// returns head's shard tops to follow on from. When some account's history
// cannot be read back to boundary from any liteserver (nor the archive),
// the cursor stays where it is: what was read is delivered with the current
// cursor (so other payments are not held up), the gap shows in Status, and a
// *HistoryGapError is returned so the whole backfill is tried again later.
func (l *Listener) backfill(ctx context.Context, api ChainAPI, head *blockID, boundary time.Time, pos *position, fn func(context.Context, Batch) error) (shardTops, error) {
	data, err := api.GetBlockData(ctx, head)
	if err != nil {
		return nil, fmt.Errorf("backfill: head block data: %w", err)
	}
	tops, err := api.GetBlockShardsInfo(ctx, head)
	if err != nil {
		return nil, fmt.Errorf("backfill: head shards: %w", err)
	}
	var (
		all  []Transfer
		gaps []HistoryGap
	)
	accounts := l.watchedList()
	for _, a := range accounts {
		ts, gap, err := l.accountSince(ctx, api, head, a, boundary, pos)
		if err != nil {
			return nil, fmt.Errorf("backfill %s: %w", a.StringRaw(), err)
		}
		all = append(all, ts...)
		if gap != nil {
			gaps = append(gaps, *gap)
		}
	}
	sortTransfers(all)
	if len(gaps) > 0 {
		gerr := &HistoryGapError{Gaps: gaps, Cursor: pos.cursor.String()}
		if pos.fresh {
			gerr.Cursor = ""
		}
		l.setGap(gerr.Error())
		l.log.Error("account history unreadable: the cursor is held before the gap until it can be read",
			"gaps", gerr.Error(), "head", head.SeqNo, "read", len(all))
		// Credit what could be read, without moving the cursor past the gap
		// (a first start has no cursor to keep: it retries whole).
		if !pos.fresh {
			if err := l.deliver(ctx, Batch{Transfers: all, Cursor: pos.cursor.String()}, fn); err != nil {
				return nil, err
			}
		}
		return nil, gerr
	}
	cur := listenerCursor{seqno: head.SeqNo, utime: data.BlockInfo.GenUtime}
	l.log.Info("backfill done", "since", boundary, "accounts", len(accounts), "transfers", len(all), "cursor", cur.String())
	if err := l.deliver(ctx, Batch{Transfers: all, Cursor: cur.String()}, fn); err != nil {
		return nil, err
	}
	l.setGap("")
	pos.cursor, pos.fresh, pos.lastSent = cur, false, head.SeqNo
	l.setProgress(head.SeqNo, cur.time())
	return topsOf(tops), nil
}

// HistoryGapError lists the unread ranges and the cursor held before them.
type HistoryGapError struct {
	Gaps   []HistoryGap
	Cursor string
}

func (e *HistoryGapError) Error() string {
	parts := make([]string, len(e.Gaps))
	for i, g := range e.Gaps {
		parts[i] = g.String()
	}
	held := "no cursor yet"
	if e.Cursor != "" {
		held = "cursor held at " + e.Cursor
	}
	return fmt.Sprintf("%s (%s): %s", ErrHistoryGap, held, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrHistoryGap) hold.
func (e *HistoryGapError) Is(target error) bool { return target == ErrHistoryGap }

// accountSince walks a's history back from its last transaction as of head
// until transactions are older than boundary. The starting point is proven
// (GetAccount's Merkle proof against head) and ListTransactions checks each
// transaction's hash against the previous one's link, so every page is proven
// whichever server serves it. A page no server can serve is a gap, never the
// end of the history: the history ends only at a transaction with no
// predecessor.
func (l *Listener) accountSince(ctx context.Context, api ChainAPI, head *blockID, a *address.Address, boundary time.Time, pos *position) ([]Transfer, *HistoryGap, error) {
	acc, err := api.GetAccount(ctx, head, a)
	if err != nil {
		return nil, nil, fmt.Errorf("account state: %w", err)
	}
	if !acc.IsActive || acc.LastTxLT == 0 {
		return nil, nil, nil
	}
	var out []Transfer
	lt, hash := acc.LastTxLT, acc.LastTxHash
	for {
		txs, err := l.history(ctx, api, a, lt, hash, pos)
		if err != nil {
			return out, &HistoryGap{Account: a.StringRaw(), UpToLT: lt, Since: boundary, Head: head.SeqNo, Err: err}, nil
		}
		for i := len(txs) - 1; i >= 0; i-- {
			tx := txs[i]
			if time.Unix(int64(tx.Now), 0).Before(boundary) {
				return out, nil, nil
			}
			if t, ok := l.convert(a.Workchain(), tx); ok {
				out = append(out, t)
			}
		}
		oldest := txs[0]
		if oldest.PrevTxLT == 0 {
			return out, nil, nil
		}
		lt, hash = oldest.PrevTxLT, oldest.PrevTxHash
	}
}

// history returns the page of a's transactions ending with (lt, hash)
// (HistorySource: this liteserver, others of the pool, then the archive).
func (l *Listener) history(ctx context.Context, api ChainAPI, a *address.Address, lt uint64, hash []byte, pos *position) ([]*tlb.Transaction, error) {
	src := HistorySource{API: api, Log: l.log,
		Archive: func(ctx context.Context) TxLister {
			if arch := l.archiveAPI(ctx, pos); arch != nil {
				return arch
			}
			return nil
		},
		Failed: func(err error) {
			if errors.Is(err, ErrUnproven) {
				l.proofFailed(err)
			}
		}}
	return src.Page(ctx, a, lt, hash)
}

// archiveAPI dials the archive liteservers once, when first needed; nil
// when none are configured or they cannot be reached now.
func (l *Listener) archiveAPI(ctx context.Context, pos *position) ChainAPI {
	if l.opts.Archive == nil {
		return nil
	}
	if pos.archive == nil {
		a, err := l.opts.Archive(ctx)
		if err != nil {
			l.log.Warn("cannot connect to the archive liteservers", "err", err)
			return nil
		}
		pos.archive = a
	}
	return pos.archive
}

// sortTransfers orders by chain time, then logical time: chain order across
// accounts and shards as far as it is defined.
func sortTransfers(ts []Transfer) {
	slices.SortStableFunc(ts, func(a, b Transfer) int {
		if c := a.ChainTime.Compare(b.ChainTime); c != 0 {
			return c
		}
		if c := cmp.Compare(a.LT, b.LT); c != 0 {
			return c
		}
		return cmp.Compare(a.Hash, b.Hash)
	})
}
