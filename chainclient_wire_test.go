//go:build !race

// tonutils-go's TL serializer trips the race detector's pointer checks
// (checkptr) when it encodes liteServer.waitMasterchainSeqno, so this
// wire-level test runs without -race; TestChainClientWaitForBlockDelegates
// runs in both.

package main

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tl"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

// recordingLite is a liteserver client that records each query's bytes and
// answers every one with an error.
type recordingLite struct {
	mu      sync.Mutex
	queries [][]byte
}

var errRecorded = errors.New("recorded")

func (r *recordingLite) QueryLiteserver(_ context.Context, payload tl.Serializable, _ tl.Serializable) error {
	b, err := tl.Serialize(payload, true)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.queries = append(r.queries, b)
	r.mu.Unlock()
	return errRecorded
}
func (r *recordingLite) StickyContext(ctx context.Context) context.Context { return ctx }
func (r *recordingLite) StickyContextNextNode(ctx context.Context) (context.Context, error) {
	return ctx, nil
}
func (r *recordingLite) StickyContextNextNodeBalanced(ctx context.Context) (context.Context, error) {
	return ctx, nil
}
func (r *recordingLite) StickyNodeID(context.Context) uint32 { return 1 }

// The payer's snapshot reads go through chainClient.WaitForBlock (what
// fragment.WalletPayer.at asks for): each of them, ListTransactions
// included, reaches the liteserver prefixed with
// liteServer.waitMasterchainSeqno of the snapshot's block, so a server
// behind that block cannot answer it. Before the first dial the pinned
// client fails instead of reading unpinned.
func TestChainClientPinsThePayersReadsOnTheWire(t *testing.T) {
	ctx := context.Background()
	lite := &recordingLite{}
	cc := &chainClient{api: tonapi.NewAPIClient(lite)}
	const seqno = 4242
	want, err := tl.Serialize(&tonapi.WaitMasterchainSeqno{Seqno: seqno}, true)
	if err != nil {
		t.Fatal(err)
	}
	want = want[:8] // constructor and seqno; the timeout follows
	api := cc.WaitForBlock(seqno)
	addr := address.MustParseRawAddr("0:" + zeros64)
	block := &tonapi.BlockIDExt{Workchain: -1, Shard: -1 << 63, SeqNo: seqno, RootHash: make([]byte, 32), FileHash: make([]byte, 32)}
	_, _ = api.ListTransactions(ctx, addr, 16, 100, make([]byte, 32))
	_, _ = api.GetAccount(ctx, block, addr)
	_, _ = api.RunGetMethod(ctx, block, addr, "seqno")
	if len(lite.queries) != 3 {
		t.Fatalf("%d queries reached the liteserver, want 3", len(lite.queries))
	}
	for i, q := range lite.queries {
		if !bytes.HasPrefix(q, want) {
			t.Errorf("query %d not pinned to block %d: %x…", i, seqno, q[:min(len(q), 16)])
		}
	}
	// The same client unpinned: no prefix (what the payer got before).
	lite.queries = nil
	_, _ = cc.ListTransactions(ctx, addr, 16, 100, make([]byte, 32))
	if len(lite.queries) != 1 || bytes.HasPrefix(lite.queries[0], want[:4]) {
		t.Fatalf("unpinned read carries a wait prefix: %x", lite.queries)
	}
}
