package main

import (
	"context"
	"errors"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	tonapi "github.com/xssnick/tonutils-go/ton"

	"github.com/theopenmoney/openmoney/fulfil/fragment"
)

// pinnable is what fragment.WalletPayer.at looks for to pin a snapshot's
// reads to its masterchain block.
type pinnable interface {
	WaitForBlock(uint32) tonapi.APIClientWrapped
}

// recordingAPI is the dialled tonutils client: it records the blocks it is
// asked to wait for and hands out one pinned client per call.
type recordingAPI struct {
	tonapi.APIClientWrapped // unused methods panic
	waited                  []uint32
	pinned                  *recordingAPI
}

func (r *recordingAPI) WaitForBlock(seqno uint32) tonapi.APIClientWrapped {
	r.waited = append(r.waited, seqno)
	r.pinned = &recordingAPI{}
	return r.pinned
}

// The Fragment payer's snapshot reads go through chainClient.WaitForBlock
// (what fragment.WalletPayer.at asks for), which hands them to the dialled
// client pinned to the snapshot's block; before the first dial the pinned
// client fails every call instead of reading unpinned.
func TestChainClientWaitForBlockDelegates(t *testing.T) {
	var payerChain fragment.ChainAPI = &chainClient{}
	if _, ok := payerChain.(pinnable); !ok {
		t.Fatal("chainClient has no WaitForBlock: the payer's reads are not pinned")
	}
	ctx := context.Background()
	undialled := (&chainClient{}).WaitForBlock(7)
	if _, err := undialled.ListTransactions(ctx, address.MustParseRawAddr("0:"+zeros64), 16, 1, make([]byte, 32)); !errors.Is(err, errUndialled) {
		t.Fatalf("undialled: err = %v", err)
	}
	api := &recordingAPI{}
	cc := &chainClient{api: api}
	got := cc.WaitForBlock(4242)
	if len(api.waited) != 1 || api.waited[0] != 4242 || got != tonapi.APIClientWrapped(api.pinned) {
		t.Fatalf("WaitForBlock(4242): waited %v, returned %T %p (pinned %p)", api.waited, got, got, api.pinned)
	}
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"
