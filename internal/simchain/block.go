package simchain

import (
	"crypto/sha256"
	"fmt"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Blocks are real block cells (tlb.Block: header, value flow, state update,
// extra) and their ids are what the chain's are: root hash = the cell's
// hash, file hash = the hash of its BOC. Each masterchain block names the
// previous one in its header (prev_ref) and commits the one shard block of
// workchain 0 made at the same time in its shard hashes (McBlockExtra), whose
// header in turn names the previous shard block. The transactions are bound
// into the shard block through the extra's random seed, so a block with other
// transactions has another id.

const (
	masterBase = 1_000 // seqno of masterchain block 0
	shardBase  = 5_000 // seqno of shard block 0
)

// wholeShard is the shard id of a workchain with one shard.
const wholeShard = int64(-1 << 63)

type block struct {
	id   *tonapi.BlockIDExt
	root *cell.Cell
	gen  uint32
	// shard blocks: their transactions, by (account, lt)
	txs []*txRec
	// masterchain blocks: the shard block they commit
	shard *block
	data  *tlb.Block // parsed root, what GetBlockData answers
}

func blockHeader(wc int32, seqno, gen uint32, startLT, endLT uint64, prev *block, master *block) *tlb.BlockHeader {
	h := &tlb.BlockHeader{}
	h.Shard = tlb.ShardIdent{WorkchainID: wc, PrefixBits: 0, ShardPrefix: 0}
	h.SeqNo = seqno
	h.NotMaster = wc != address.MasterchainID
	h.GenUtime = gen
	h.StartLt, h.EndLt = startLT, endLT
	if prev != nil {
		h.PrevRef.Prev1 = tlb.ExtBlkRef{EndLt: prev.data.BlockInfo.EndLt, SeqNo: prev.id.SeqNo, RootHash: prev.id.RootHash, FileHash: prev.id.FileHash}
	}
	if h.NotMaster {
		h.MasterRef = &tlb.ExtBlkRef{RootHash: make([]byte, 32), FileHash: make([]byte, 32)}
		if master != nil {
			h.MasterRef = &tlb.ExtBlkRef{EndLt: master.data.BlockInfo.EndLt, SeqNo: master.id.SeqNo, RootHash: master.id.RootHash, FileHash: master.id.FileHash}
		}
	}
	return h
}

// headerCell builds the block_info cell (block.tlb block_info)
// tonutils-go's BlockHeader reads.
func headerCell(h *tlb.BlockHeader) (*cell.Cell, error) {
	b := cell.BeginCell().MustStoreUInt(0x9bc7a987, 32).MustStoreUInt(uint64(h.Version), 32)
	for _, f := range []bool{h.NotMaster, h.AfterMerge, h.BeforeSplit, h.AfterSplit, h.WantSplit, h.WantMerge, h.KeyBlock, h.VertSeqnoIncr} {
		b.MustStoreBoolBit(f)
	}
	b.MustStoreUInt(0, 8). // flags: no gen_software
				MustStoreUInt(uint64(h.SeqNo), 32).MustStoreUInt(uint64(h.VertSeqNo), 32)
	si, err := tlb.ToCell(h.Shard)
	if err != nil {
		return nil, err
	}
	b.MustStoreBuilder(si.ToBuilder())
	b.MustStoreUInt(uint64(h.GenUtime), 32).MustStoreUInt(h.StartLt, 64).MustStoreUInt(h.EndLt, 64).
		MustStoreUInt(uint64(h.GenValidatorListHashShort), 32).MustStoreUInt(uint64(h.GenCatchainSeqno), 32).
		MustStoreUInt(uint64(h.MinRefMcSeqno), 32).MustStoreUInt(uint64(h.PrevKeyBlockSeqno), 32)
	ref := func(r tlb.ExtBlkRef) (*cell.Cell, error) {
		if len(r.RootHash) == 0 {
			r.RootHash, r.FileHash = make([]byte, 32), make([]byte, 32)
		}
		return tlb.ToCell(r)
	}
	if h.NotMaster {
		mr, err := ref(*h.MasterRef)
		if err != nil {
			return nil, err
		}
		b.MustStoreRef(mr)
	}
	prev, err := ref(h.PrevRef.Prev1)
	if err != nil {
		return nil, err
	}
	if h.AfterMerge { // prev_blks_info: both parents
		p2, err := ref(*h.PrevRef.Prev2)
		if err != nil {
			return nil, err
		}
		prev = cell.BeginCell().MustStoreRef(prev).MustStoreRef(p2).EndCell()
	}
	b.MustStoreRef(prev)
	return b.EndCell(), nil
}

// BlockCell builds a block as the chain serialises it (tlb.Block: global
// id, header h, empty value flow and state update, extra) and returns its
// root cell and tonutils-go's own parse of it, which is what GetBlockData
// answers. The extra's random seed is seed (what binds the block's content,
// e.g. its transactions, into its hash); mc, when set, is a masterchain
// block's McBlockExtra. The block's id is the root's hash and the hash of
// its BOC (root.ToBOCWithFlags(false)). Both simulated chains (this one and
// ton's scripted test chain) build their blocks here.
func BlockCell(globalID int32, h *tlb.BlockHeader, seed []byte, mc *cell.Cell) (*cell.Cell, *tlb.Block, error) {
	hdr, err := headerCell(h)
	if err != nil {
		return nil, nil, fmt.Errorf("simchain: block header: %w", err)
	}
	empty := cell.BeginCell().EndCell()
	extra := cell.BeginCell().MustStoreUInt(0x4a33f6fd, 32).
		MustStoreRef(empty).MustStoreRef(empty).MustStoreRef(empty).
		MustStoreSlice(seed, 256).MustStoreSlice(make([]byte, 32), 256).
		MustStoreBoolBit(mc != nil)
	if mc != nil {
		extra.MustStoreRef(mc)
	}
	root := cell.BeginCell().MustStoreUInt(0x11ef55aa, 32).MustStoreInt(int64(globalID), 32).
		MustStoreRef(hdr).MustStoreRef(empty).MustStoreRef(empty).MustStoreRef(extra.EndCell()).EndCell()
	var data tlb.Block
	if err := tlb.LoadFromCell(&data, root.BeginParse()); err != nil {
		return nil, nil, fmt.Errorf("simchain: block cell does not parse: %w", err)
	}
	return root, &data, nil
}

// seal builds the block of header h (see BlockCell) and gives it its id.
func seal(globalID int32, h *tlb.BlockHeader, seed []byte, mc *cell.Cell) (*block, error) {
	root, data, err := BlockCell(globalID, h, seed, mc)
	if err != nil {
		return nil, err
	}
	file := sha256.Sum256(root.ToBOCWithFlags(false))
	return &block{
		id: &tonapi.BlockIDExt{Workchain: h.Shard.WorkchainID, Shard: wholeShard, SeqNo: h.SeqNo,
			RootHash: root.Hash(), FileHash: file[:]},
		root: root, gen: h.GenUtime, data: data,
	}, nil
}

// shardSeed binds the transactions into the shard block (the extra's random
// seed is their hash).
func shardSeed(txs []*txRec) []byte {
	h := sha256.New()
	for _, tx := range txs {
		h.Write(tx.hash)
	}
	return h.Sum(nil)
}

// masterExtra commits shard block s: McBlockExtra with the shard hashes of
// workchain 0 (one leaf, shard_descr of s). The masterchain block's seed is
// s's root hash.
func masterExtra(s *block) (*cell.Cell, error) {
	d, err := tlb.ToCell(tlb.ShardDesc{SeqNo: s.id.SeqNo, StartLT: s.data.BlockInfo.StartLt, EndLT: s.data.BlockInfo.EndLt,
		RootHash: s.id.RootHash, FileHash: s.id.FileHash, NextValidatorShard: wholeShard, GenUTime: s.gen,
		SplitMergeAt: tlb.FutureSplitMergeNone{},
		Currencies: struct {
			FeesCollected tlb.CurrencyCollection `tlb:"."`
			FundsCreated  tlb.CurrencyCollection `tlb:"."`
		}{tlb.CurrencyCollection{Coins: tlb.ZeroCoins}, tlb.CurrencyCollection{Coins: tlb.ZeroCoins}}})
	if err != nil {
		return nil, fmt.Errorf("simchain: shard descr: %w", err)
	}
	leaf := cell.BeginCell().MustStoreUInt(0, 1).MustStoreBuilder(d.ToBuilder()).EndCell()
	hashes := cell.NewDict(32)
	if err := hashes.Set(cell.BeginCell().MustStoreInt(0, 32).EndCell(), cell.BeginCell().MustStoreRef(leaf).EndCell()); err != nil {
		return nil, err
	}
	mc, err := tlb.ToCell(tlb.McBlockExtra{ShardHashes: hashes})
	if err != nil {
		return nil, fmt.Errorf("simchain: masterchain extra: %w", err)
	}
	return mc, nil
}
