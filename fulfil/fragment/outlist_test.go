package fragment

import (
	"math/big"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// A wallet transaction that ran the batch but whose out messages cannot be
// parsed says nothing about which payments left: the batch stays pending
// with the reason in Detail, never "failed" (every payment unpaid, then
// paid again). Once the list reads, the payments settle as they are.
func TestUnreadableOutMessagesKeepTheBatchPending(t *testing.T) {
	p, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	s, err := sendOne(t, p, testMessage(t), testMessage(t))
	if err != nil {
		t.Fatal(err)
	}
	chain.mu.Lock()
	var ran *tlb.Transaction
	for _, tx := range chain.txs {
		if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeExternalIn {
			ran = tx
		}
	}
	if ran == nil || ran.IO.Out == nil {
		chain.mu.Unlock()
		t.Fatal("the batch did not run on the fake chain")
	}
	good := ran.IO.Out
	bad := cell.NewDict(15) // an entry without its message reference
	if err := bad.SetIntKey(big.NewInt(0), cell.BeginCell().MustStoreUInt(1, 8).EndCell()); err != nil {
		t.Fatal(err)
	}
	ran.IO.Out = &tlb.MessagesList{List: bad}
	chain.mu.Unlock()
	if _, err := ran.IO.Out.ToSlice(); err == nil {
		t.Fatal("the corrupted out list parses")
	}

	out := lookOne(t, p, s)
	if out.Status != StatusPending || !strings.Contains(out.Detail, "out messages cannot be read") {
		t.Fatalf("outcome %+v; want pending with the parse error in Detail", out)
	}
	for i, it := range out.Items {
		if it.Status == StatusFailed {
			t.Fatalf("payment %d failed from an unreadable list", i)
		}
	}

	chain.mu.Lock()
	ran.IO.Out = good
	chain.mu.Unlock()
	out = lookOne(t, p, s)
	if out.Status != StatusConfirmed || len(out.Items) != 2 || out.Items[0].Status != StatusConfirmed || out.Items[1].Status != StatusConfirmed {
		t.Fatalf("outcome after the list reads %+v", out)
	}
}
