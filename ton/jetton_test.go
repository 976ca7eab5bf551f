package ton

import (
	"math/big"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestJettonBodiesReadBack(t *testing.T) {
	k := testKeys(t, "v4r2", NetworkTestnet)
	owner := k.ServiceAddressRaw()
	wallet, err := SandboxJettonWallet(TestnetUSDTMaster, owner)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := SandboxJettonWallet(TestnetUSDTMaster, k.ServiceAddress()); again != wallet {
		t.Errorf("sandbox jetton wallet depends on the address form: %s vs %s", wallet, again)
	}
	other, _ := SandboxJettonWallet(MainnetUSDTMaster, owner)
	if other == wallet {
		t.Errorf("two masters, one wallet")
	}
	payer := "0:" + strings.Repeat("ab", 32)
	w := JettonWallet{Asset: AssetUSDT, Master: TestnetUSDTMaster, Owner: owner, Wallet: wallet}
	tr, err := SandboxJettonTransfer(w, payer, 12_345_678, "STARS-x1y2z3")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Incoming || tr.Bounced || tr.To != owner || tr.From != payer || tr.Comment != "STARS-x1y2z3" ||
		tr.Jetton == nil || tr.Jetton.Units != 12_345_678 || tr.Jetton.Wallet != wallet || tr.Jetton.ForwardNano != 1 || tr.Asset() != AssetUSDT {
		t.Errorf("sandbox jetton transfer: %+v %+v", tr, tr.Jetton)
	}
	n, err := SandboxJettonNotice(owner, payer, payer, 5, 1, "STARS-x1y2z3")
	if err != nil {
		t.Fatal(err)
	}
	if !n.JettonNotice || n.Comment != "" || n.Jetton != nil || n.PayloadHex == "" || n.Asset() != "TON" {
		t.Errorf("notice: %+v", n)
	}

	// forward payloads: inline comment, binary, none, a missing Either bit
	base := func() *cell.Builder {
		return cell.BeginCell().MustStoreUInt(OpJettonInternalTransfer, 32).MustStoreUInt(9, 64).
			MustStoreBigVarUInt(big.NewInt(7), 16).MustStoreAddr(mustRaw(t, payer)).MustStoreAddr(mustRaw(t, payer)).
			MustStoreBigVarUInt(big.NewInt(0), 16)
	}
	inline := base().MustStoreBoolBit(false).MustStoreUInt(0, 32).MustStoreStringSnake("PREMIUM-abc").EndCell()
	binary := base().MustStoreBoolBit(true).MustStoreRef(cell.BeginCell().MustStoreUInt(0xabcdef01, 32).EndCell()).EndCell()
	none := base().MustStoreBoolBit(false).EndCell()
	bare := base().EndCell()
	for name, c := range map[string]struct {
		body    *cell.Cell
		comment string
		binary  bool
	}{"inline": {inline, "PREMIUM-abc", false}, "binary": {binary, "", true}, "none": {none, "", false}, "bare": {bare, "", false}} {
		it, err := decodeInternalTransfer(c.body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if it.amount.Int64() != 7 || it.queryID != 9 || it.comment != c.comment || (it.payloadHex != "") != c.binary {
			t.Errorf("%s: %+v", name, it)
		}
	}
	if _, err := decodeInternalTransfer(cell.BeginCell().MustStoreUInt(OpJettonTransfer, 32).EndCell()); err == nil {
		t.Errorf("a transfer request read as an internal_transfer")
	}
	if _, err := decodeInternalTransfer(cell.BeginCell().MustStoreUInt(OpJettonInternalTransfer, 32).MustStoreUInt(1, 10).EndCell()); err == nil {
		t.Errorf("a truncated internal_transfer was read")
	}
}

// TestListenerJettonKinds: on our jetton wallets, only a successful
// internal_transfer from someone else's wallet is incoming; jettons swept
// from a top-up's jetton wallet to the service's are not (both ours); the
// owner's own transfer request and a failed internal_transfer move nothing
// to us; an internal_transfer into someone else's jetton wallet is never read.
func TestListenerJettonKinds(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	master := TestnetUSDTMaster
	svcW, _ := SandboxJettonWallet(master, f.service)
	topW, _ := SandboxJettonWallet(master, f.topup)
	aliceW, _ := SandboxJettonWallet(master, f.alice)
	bobW, _ := SandboxJettonWallet(master, f.bob)
	body := func(from string, units int64) *cell.Cell {
		b, err := JettonTransferBody(1, units, from, 0, "STARS-q1w2e3")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pay := c.tx(txOpts{to: svcW, from: aliceW, nano: 40_000_000, body: body(f.alice, 5_000_000), vmOK: true})
	topup := c.tx(txOpts{to: topW, from: aliceW, nano: 40_000_000, body: body(f.alice, 7_000_000), vmOK: true})
	sweep := c.tx(txOpts{to: svcW, from: topW, nano: 40_000_000, body: body(f.topup, 7_000_000), vmOK: true})
	request := c.tx(txOpts{to: topW, from: f.topup, nano: 50_000_000, vmOK: true,
		body: cell.BeginCell().MustStoreUInt(OpJettonTransfer, 32).MustStoreUInt(1, 64).EndCell()})
	failed := c.tx(txOpts{to: svcW, from: f.alice, nano: 40_000_000, body: body(f.alice, 900_000_000), bounceOk: true})
	elsewhere := c.tx(txOpts{to: bobW, from: aliceW, nano: 40_000_000, body: body(f.alice, 1), vmOK: true})
	start := c.headSeqno()
	r := newRecorder()
	opts := f.options()
	l := NewListener(opts)
	l.WatchJettons(JettonWallet{Asset: AssetUSDT, Master: master, Owner: f.service, Wallet: svcW},
		JettonWallet{Asset: AssetUSDT, Master: master, Owner: f.topup, Wallet: topW})
	run(t, l, f.cursorAt(start), r.fn)
	c.mine(pay, topup, sweep, request, failed, elsewhere)
	waitUntil(t, "jetton transactions", func() bool {
		return r.has(hashOf(pay), hashOf(topup), hashOf(sweep), hashOf(request), hashOf(failed))
	})
	check := func(name string, tx any, incoming, bounced bool, owner string, units int64) {
		got := r.get(hashOf(tx.(*tlb.Transaction)))
		if got.Incoming != incoming || got.Bounced != bounced || got.To != owner || got.Jetton == nil || got.Jetton.Units != units {
			t.Errorf("%s: %+v %+v", name, got, got.Jetton)
		}
	}
	check("payment", pay, true, false, f.service, 5_000_000)
	check("top-up", topup, true, false, f.topup, 7_000_000)
	check("sweep", sweep, false, false, f.service, 7_000_000)
	check("transfer request", request, false, false, f.topup, 0)
	check("failed", failed, true, true, f.service, 900_000_000)
	if r.has(hashOf(elsewhere)) {
		t.Errorf("an internal_transfer into someone else's jetton wallet was read")
	}
}
