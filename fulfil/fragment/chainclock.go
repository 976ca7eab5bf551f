package fragment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// The chain clock. Whether a signed wallet message can still execute is a
// question about chain time, not about this machine's clock: the wallet
// contract compares valid_until with the time of the block that would run
// it, and what we know about the wallet is its state in one liteserver's
// view, which may be minutes behind. Judging "not found and expired" by the
// local clock against a lagging view refunds a payment that executed just
// before valid_until in a block the view does not show yet, while Fragment
// keeps the TON.
//
// So every judgement uses the chain time of the view: the generation time of
// the shard block whose state the view shows for the wallet, read from the
// masterchain block the view was taken at (its shard_descr, in the block's
// shard hashes), and never later than that masterchain block's own gen_utime.
// GetBlockData is proven: tonutils-go checks the block's root hash against
// the block id, and the id comes from CurrentMasterchainInfo (checked against
// the trusted block when the client runs with ProofCheckPolicySecure).
//
// Why not something simpler:
//   - the local clock: the bug above;
//   - the masterchain block's gen_utime alone: the wallet's state at that
//     block is the state of the newest shard block the masterchain has
//     committed, which can be older (normally seconds; a stalled shard, much
//     more), so a message can run in a shard block generated before the
//     masterchain block's time that the view does not include yet;
//   - the wallet's last transaction time: it is when the wallet was last
//     active, not how far the view reaches. It is a safe lower bound but it
//     never advances while the wallet is idle, which is exactly the
//     never-executed case, so an expired message would never be resolved;
//   - liteServer.getTime: the server's clock, unproven and unrelated to the
//     view.
//
// The margin (ExpiryMargin, at least minExpiryMargin) absorbs the rest:
// whole-second rounding and a shard block that is committed in a later
// masterchain block than its generation time suggests.

// minExpiryMargin is the smallest ExpiryMargin a WalletPayer accepts.
const minExpiryMargin = 30 * time.Second

// expiredInView is the chain-clock rule: a wallet message valid until
// validUntil (unix seconds) that a view does not contain can no longer
// execute only when the view's chain time is past validUntil + margin. A
// view that is not that far yet proves nothing, however late the local clock
// says it is. (The other proof of "never", the wallet's seqno having moved
// past the message's, needs no clock.) Batch resolvers reuse it.
func expiredInView(validUntil int64, view time.Time, margin time.Duration) bool {
	return !view.IsZero() && view.Unix() > validUntil+int64(margin/time.Second)
}

// viewTime is the chain time of the wallet's state as of masterchain block
// block (see above). One block is remembered, so polling the same view costs
// one block download.
func (p *WalletPayer) viewTime(ctx context.Context, api ChainAPI, block *liteapi.BlockIDExt) (time.Time, error) {
	p.viewMu.Lock()
	if p.viewBlock != nil && p.viewBlock.Equals(block) {
		at := p.viewAt
		p.viewMu.Unlock()
		return at, nil
	}
	p.viewMu.Unlock()
	b, err := api.GetBlockData(ctx, block)
	if err != nil {
		return time.Time{}, fmt.Errorf("fragment: masterchain block %d: %w", block.SeqNo, err)
	}
	at, err := stateTime(b, block, p.addr)
	if err != nil {
		return time.Time{}, fmt.Errorf("fragment: chain time of masterchain block %d: %w", block.SeqNo, err)
	}
	p.viewMu.Lock()
	p.viewBlock, p.viewAt = block.Copy(), at
	p.viewMu.Unlock()
	return at, nil
}

// stateTime reads, from masterchain block b (whose id is id), the
// generation time of the shard block holding addr's state: the shard_descr
// of addr's shard in the block's shard hashes, capped by the masterchain
// block's own gen_utime. A masterchain address takes the latter.
func stateTime(b *tlb.Block, id *liteapi.BlockIDExt, addr *address.Address) (time.Time, error) {
	h := b.BlockInfo
	if h.NotMaster || h.SeqNo != id.SeqNo || h.Shard.WorkchainID != -1 {
		return time.Time{}, fmt.Errorf("the block is not masterchain block %d", id.SeqNo)
	}
	mc := h.GenUtime
	wc := int32(addr.Workchain())
	if wc == -1 {
		return time.Unix(int64(mc), 0).UTC(), nil
	}
	if b.Extra == nil || b.Extra.Custom == nil || b.Extra.Custom.ShardHashes == nil {
		return time.Time{}, errors.New("the block has no shard hashes")
	}
	key := cell.BeginCell().MustStoreInt(int64(wc), 32).EndCell()
	v, err := b.Extra.Custom.ShardHashes.LoadValue(key)
	if err != nil {
		return time.Time{}, fmt.Errorf("no shards of workchain %d: %w", wc, err)
	}
	root, err := v.LoadRef()
	if err != nil {
		return time.Time{}, fmt.Errorf("shard tree of workchain %d: %w", wc, err)
	}
	var tree tlb.BinTree
	if err := tlb.LoadFromCell(&tree, root); err != nil {
		return time.Time{}, fmt.Errorf("shard tree of workchain %d: %w", wc, err)
	}
	for _, leaf := range tree.All() {
		shard, utime, err := shardDescr(leaf.Value)
		if err != nil {
			return time.Time{}, err
		}
		if !tlb.ShardID(shard).ContainsAddress(addr) {
			continue
		}
		return time.Unix(int64(min(utime, mc)), 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("no shard of workchain %d holds the wallet", wc)
}

// shardDescr reads the shard id and gen_utime of a shard_descr (either layout).
func shardDescr(c *cell.Cell) (shard int64, utime uint32, err error) {
	sl := c.BeginParse()
	tag, err := sl.LoadUInt(4)
	if err != nil {
		return 0, 0, fmt.Errorf("shard descr: %w", err)
	}
	switch tag {
	case 0xa:
		var d tlb.ShardDesc
		if err := tlb.LoadFromCell(&d, sl, true); err != nil {
			return 0, 0, fmt.Errorf("shard descr: %w", err)
		}
		return d.NextValidatorShard, d.GenUTime, nil
	case 0xb:
		var d tlb.ShardDescB
		if err := tlb.LoadFromCell(&d, sl, true); err != nil {
			return 0, 0, fmt.Errorf("shard descr: %w", err)
		}
		return d.NextValidatorShard, d.GenUTime, nil
	}
	return 0, 0, fmt.Errorf("shard descr: unknown tag %x", tag)
}
