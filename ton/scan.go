package ton

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/xssnick/tonutils-go/address"
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

// backfillPage is how many transactions ListTransactions returns per call.
const backfillPage = 16

type scanResult struct {
	transfers []Transfer
	shards    shardTops
	genUtime  uint32
}

// shardsAt returns the shard tops committed by masterchain block seqno.
func (l *Listener) shardsAt(ctx context.Context, api ChainAPI, head *blockID, seqno uint32) (shardTops, error) {
	mc, err := api.LookupBlock(ctx, head.Workchain, head.Shard, seqno)
	if err != nil {
		return nil, fmt.Errorf("lookup masterchain block %d: %w", seqno, err)
	}
	tops, err := api.GetBlockShardsInfo(ctx, mc)
	if err != nil {
		return nil, fmt.Errorf("shards of masterchain block %d: %w", seqno, err)
	}
	return topsOf(tops), nil
}

// scanMaster collects the watched transfers of masterchain block seqno and
// of every shard block it newly commits (prev: tops already scanned).
func (l *Listener) scanMaster(ctx context.Context, api ChainAPI, mcShard int64, seqno uint32, prev shardTops) (scanResult, error) {
	mc, err := api.LookupBlock(ctx, address.MasterchainID, mcShard, seqno)
	if err != nil {
		return scanResult{}, fmt.Errorf("lookup: %w", err)
	}
	data, err := api.GetBlockData(ctx, mc)
	if err != nil {
		return scanResult{}, fmt.Errorf("block data: %w", err)
	}
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
	return scanResult{transfers: out, shards: topsOf(tops), genUtime: data.BlockInfo.GenUtime}, nil
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
			if t, ok := TransferFromTx(b.Workchain, tx); ok {
				out = append(out, l.classify(t))
			}
		}
		if !more || len(ids) == 0 {
			return out, nil
		}
		after = ids[len(ids)-1].ID3()
	}
}

// classify marks money moving between two of our own accounts (a sweep from
// a top-up subwallet to the service wallet) as not incoming: it was counted
// when it reached the first account, and the shop records it as ignored.
func (l *Listener) classify(t Transfer) Transfer {
	if t.Incoming && t.From != "" && l.isWatched(t.From) {
		t.Incoming = false
	}
	return t
}

// backfill delivers, as one batch, the watched accounts' transfers made
// since boundary and up to masterchain block head (see Listener), and
// returns head's shard tops to follow on from.
func (l *Listener) backfill(ctx context.Context, api ChainAPI, head *blockID, boundary time.Time, pos *position, fn func(context.Context, Batch) error) (shardTops, error) {
	data, err := api.GetBlockData(ctx, head)
	if err != nil {
		return nil, fmt.Errorf("backfill: head block data: %w", err)
	}
	tops, err := api.GetBlockShardsInfo(ctx, head)
	if err != nil {
		return nil, fmt.Errorf("backfill: head shards: %w", err)
	}
	var all []Transfer
	accounts := l.watchedList()
	for _, a := range accounts {
		ts, err := l.accountSince(ctx, api, head, a, boundary)
		if err != nil {
			return nil, fmt.Errorf("backfill %s: %w", a.StringRaw(), err)
		}
		all = append(all, ts...)
	}
	sortTransfers(all)
	cur := listenerCursor{seqno: head.SeqNo, utime: data.BlockInfo.GenUtime}
	l.log.Info("backfill done", "since", boundary, "accounts", len(accounts), "transfers", len(all), "cursor", cur.String())
	if err := l.deliver(ctx, Batch{Transfers: all, Cursor: cur.String()}, fn); err != nil {
		return nil, err
	}
	pos.cursor, pos.fresh, pos.lastSent = cur, false, head.SeqNo
	l.setProgress(head.SeqNo, cur.time())
	return topsOf(tops), nil
}

// accountSince walks a's history back from its last transaction as of head
// until transactions are older than boundary.
func (l *Listener) accountSince(ctx context.Context, api ChainAPI, head *blockID, a *address.Address, boundary time.Time) ([]Transfer, error) {
	acc, err := api.GetAccount(ctx, head, a)
	if err != nil {
		return nil, fmt.Errorf("account state: %w", err)
	}
	if !acc.IsActive || acc.LastTxLT == 0 {
		return nil, nil
	}
	var out []Transfer
	lt, hash := acc.LastTxLT, acc.LastTxHash
	for {
		txs, err := api.ListTransactions(ctx, a, backfillPage, lt, hash)
		if errors.Is(err, tonapi.ErrNoTransactionsWereFound) {
			return out, nil
		}
		var ls tonapi.LSError
		if errors.As(err, &ls) {
			// The liteserver's history ends here; older transfers cannot be
			// read from it. Say so loudly: the operator may have to check
			// the account in an explorer.
			l.log.Error("account history not available before this point; older transfers were not checked",
				"account", a.StringRaw(), "lt", lt, "since", boundary, "err", err)
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list transactions before lt %d: %w", lt, err)
		}
		if len(txs) == 0 {
			return out, nil
		}
		for i := len(txs) - 1; i >= 0; i-- {
			tx := txs[i]
			if time.Unix(int64(tx.Now), 0).Before(boundary) {
				return out, nil
			}
			if t, ok := TransferFromTx(a.Workchain(), tx); ok {
				out = append(out, l.classify(t))
			}
		}
		oldest := txs[0]
		if oldest.PrevTxLT == 0 {
			return out, nil
		}
		lt, hash = oldest.PrevTxLT, oldest.PrevTxHash
	}
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
