package ton

import (
	"context"
	"errors"
	"fmt"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

// ChainAPI is the part of tonutils-go's liteserver client that this package
// uses. Every method has exactly the library's signature, so the real client
// (what Dial returns) satisfies it, and tests substitute a scripted chain that
// speaks the same types (tlb.Transaction, ton.BlockIDExt) instead of a fake
// protocol.
type ChainAPI interface {
	// GetMasterchainInfo returns the newest masterchain block the liteserver
	// knows, uncached (the listener polls it for new blocks).
	GetMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error)
	// CurrentMasterchainInfo is the library's cached variant (refreshed at most
	// every 5 s); fine for one-off reads such as balances.
	CurrentMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error)
	// LookupBlock resolves a block by seqno; ton.ErrBlockNotFound when the
	// liteserver does not have it (not yet, or no longer).
	LookupBlock(ctx context.Context, workchain int32, shard int64, seqno uint32) (*tonapi.BlockIDExt, error)
	// GetBlockData returns the whole block; the listener reads its header
	// (generation time, parent blocks).
	GetBlockData(ctx context.Context, block *tonapi.BlockIDExt) (*tlb.Block, error)
	// GetBlockShardsInfo returns the shard top blocks a masterchain block commits.
	GetBlockShardsInfo(ctx context.Context, master *tonapi.BlockIDExt) ([]*tonapi.BlockIDExt, error)
	// GetBlockTransactionsV2 lists a block's transaction ids, paged by after.
	GetBlockTransactionsV2(ctx context.Context, block *tonapi.BlockIDExt, count uint32, after ...*tonapi.TransactionID3) ([]tonapi.TransactionShortInfo, bool, error)
	// GetTransaction loads one transaction of addr in block.
	GetTransaction(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address, lt uint64) (*tlb.Transaction, error)
	// ListTransactions returns up to num transactions of addr ending with
	// (lt, txHash), oldest first; used for backfill.
	ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error)
	// GetAccount returns the account state as of a masterchain block.
	GetAccount(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address) (*tlb.Account, error)
	// SendExternalMessage broadcasts a signed wallet message (Sweep).
	SendExternalMessage(ctx context.Context, msg *tlb.ExternalMessage) error
}

// The real client must keep satisfying ChainAPI; a library upgrade that
// changes a signature breaks the build here rather than at run time.
var _ ChainAPI = (tonapi.APIClientWrapped)(nil)

// The real client also offers the optional capabilities below.
var (
	_ blockWaiter  = (tonapi.APIClientWrapped)(nil)
	_ stickyClient = (tonapi.APIClientWrapped)(nil)
)

// blockWaiter is the optional long-poll of the real client: a query prefixed
// with liteServer.waitMasterchainSeqno is answered as soon as the liteserver
// has that masterchain block, so a new block is seen without a polling delay.
// It is not part of ChainAPI because it returns the library's full interface,
// which a test chain has no reason to implement.
type blockWaiter interface {
	WaitForBlock(seqno uint32) tonapi.APIClientWrapped
}

// stickyClient is implemented by the real client: binding one scan to one
// liteserver avoids asking node B for a block that only node A has seen yet
// (which would look like a pruned block).
type stickyClient interface {
	Client() tonapi.LiteClient
}

// nextNode binds ctx to another liteserver than the ones it was bound to;
// nil when there is none left (or no choice at all), which starts afresh.
func nextNode(ctx context.Context, api ChainAPI) context.Context {
	if s, ok := api.(stickyClient); ok {
		if c := s.Client(); c != nil {
			if n, err := c.StickyContextNextNode(ctx); err == nil {
				return n
			}
		}
	}
	return nil
}

// sticky binds ctx to one liteserver when the client supports it.
func sticky(ctx context.Context, api ChainAPI) context.Context {
	if s, ok := api.(stickyClient); ok {
		if c := s.Client(); c != nil {
			return c.StickyContext(ctx)
		}
	}
	return ctx
}

// ErrUnproven marks a liteserver answer that failed verification: a block
// whose data does not hash to its id, a proof, signature or link that does
// not check, a masterchain block not reached through proven links, a
// transaction that is not the one the proven block lists. Nothing from such
// an answer is used; the listener counts it, shows it in Status and asks
// another liteserver.
var ErrUnproven = errors.New("unproven liteserver answer")

// UnprovenError is an ErrUnproven with what was being read.
type UnprovenError struct {
	Op  string
	Err error
}

func (e *UnprovenError) Error() string {
	return fmt.Sprintf("%s: %s: %v", ErrUnproven, e.Op, e.Err)
}

func (e *UnprovenError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnproven) hold.
func (e *UnprovenError) Is(target error) bool { return target == ErrUnproven }

func unproven(op, format string, args ...any) error {
	return &UnprovenError{Op: op, Err: fmt.Errorf(format, args...)}
}
