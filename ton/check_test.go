package ton

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestTonCheckPrintsWalletChainAndCursor(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	c.setAccount(f.service, 3_500_000_000, tlb.AccountStatusActive, nil)
	cursorSeq := c.mine()
	c.mine()
	head := c.mine()

	var out bytes.Buffer
	if err := TonCheck(context.Background(), c, f.keys, f.cursorAt(cursorSeq), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"network:", "testnet",
		f.keys.ServiceAddress(), f.keys.ServiceAddressRaw(),
		"3.5 TON", "3500000000 nanoton",
		"seqno " + strconv.FormatUint(uint64(head), 10),
		f.cursorAt(cursorSeq), "2 blocks, 6 s behind",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("ton-check output lacks %q:\n%s", want, s)
		}
	}

	out.Reset()
	if err := TonCheck(context.Background(), c, f.keys, "", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "none") {
		t.Errorf("empty cursor not explained:\n%s", out.String())
	}
}

func TestSweep(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	pub := f.keys.Wallet().PrivateKey().Public().(ed25519.PublicKey)
	ids := []uint32{SubwalletBase + 1, SubwalletBase + 2, SubwalletBase + 3, SubwalletBase + 4}
	raw := map[uint32]string{}
	for _, id := range ids {
		_, r, err := f.keys.TopupAddress(id)
		if err != nil {
			t.Fatal(err)
		}
		raw[id] = r
	}
	c.setAccount(raw[ids[0]], 2_000_000_000, tlb.AccountStatusActive, v4r2Data(7, ids[0], pub)) // deployed, seqno 7
	c.setAccount(raw[ids[1]], 500_000_000, tlb.AccountStatusUninit, nil)                        // received only
	c.setAccount(raw[ids[2]], 10_000_000, tlb.AccountStatusActive, v4r2Data(1, ids[2], pub))    // below reserve
	// ids[3] never used: no account at all
	c.mine()

	t.Run("dry run prints amounts and sends nothing", func(t *testing.T) {
		var out bytes.Buffer
		if err := Sweep(context.Background(), c, f.keys, sweepWallets(ids), DefaultSweepReserveNano, true, &out); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		for _, want := range []string{"sweep 1.95 TON (1950000000 nanoton)", "sweep 0.45 TON", "nothing above the reserve", "would sweep 2.4 TON", "nothing was sent"} {
			if !strings.Contains(s, want) {
				t.Errorf("dry-run output lacks %q:\n%s", want, s)
			}
		}
		if n := c.callCount("SendExternalMessage"); n != 0 {
			t.Errorf("dry run sent %d messages", n)
		}
	})

	t.Run("sends signed transfers to the service wallet", func(t *testing.T) {
		var out bytes.Buffer
		if err := Sweep(context.Background(), c, f.keys, sweepWallets(ids), DefaultSweepReserveNano, false, &out); err != nil {
			t.Fatal(err)
		}
		if len(c.sent) != 2 {
			t.Fatalf("sent %d messages, want 2:\n%s", len(c.sent), out.String())
		}
		for i, tc := range []struct {
			id       uint32
			seqno    uint64
			amount   int64
			withInit bool
		}{
			{ids[0], 7, 1_950_000_000, false},
			{ids[1], 0, 450_000_000, true},
		} {
			ext := c.sent[i]
			if ext.DstAddr.StringRaw() != raw[tc.id] {
				t.Errorf("message %d to %s, want subwallet %s", i, ext.DstAddr.StringRaw(), raw[tc.id])
			}
			if (ext.StateInit != nil) != tc.withInit {
				t.Errorf("message %d: state init present=%v, want %v", i, ext.StateInit != nil, tc.withInit)
			}
			// v4r2 body: signature, subwallet, valid_until, seqno, op, (mode, ^msg)
			s := ext.Body.BeginParse()
			sig := s.MustLoadSlice(512)
			signed, err := s.Copy().ToCell()
			if err != nil {
				t.Fatal(err)
			}
			if !ed25519.Verify(pub, signed.Hash(), sig) {
				t.Errorf("message %d: bad signature", i)
			}
			if sub := s.MustLoadUInt(32); sub != uint64(tc.id) {
				t.Errorf("message %d: subwallet %d", i, sub)
			}
			s.MustLoadUInt(32) // valid until
			if seq := s.MustLoadUInt(32); seq != tc.seqno {
				t.Errorf("message %d: seqno %d, want %d", i, seq, tc.seqno)
			}
			s.MustLoadUInt(8) // op
			if mode := s.MustLoadUInt(8); mode != wallet.PayGasSeparately+wallet.IgnoreErrors {
				t.Errorf("message %d: mode %d", i, mode)
			}
			var msg tlb.InternalMessage
			if err := tlb.LoadFromCell(&msg, s.MustLoadRef()); err != nil {
				t.Fatal(err)
			}
			if msg.DstAddr.StringRaw() != f.service || msg.Bounce || msg.Amount.Nano().Int64() != tc.amount || msg.Comment() != SweepComment {
				t.Errorf("message %d: inner transfer %s", i, msg.Dump())
			}
		}
	})
}

func sweepWallets(ids []uint32) []SweepWallet {
	out := make([]SweepWallet, len(ids))
	for i, id := range ids {
		out[i] = SweepWallet{SubwalletID: id}
	}
	return out
}

// A top-up wallet's USDT (its pinned jetton wallet's balance, read from the
// proven state in either jetton layout) is swept in the same signed message
// as its TON: a TEP-74 jetton transfer to the jetton wallet, 0.05 TON of gas
// attached, destination and response the service wallet. A wallet without
// the gas above the reserve keeps its jettons and the line says what to send.
func TestSweepJettons(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	pub := f.keys.Wallet().PrivateKey().Public().(ed25519.PublicKey)
	ids := []uint32{SubwalletBase + 1, SubwalletBase + 2, SubwalletBase + 3}
	master := mustRaw(t, MainnetUSDTMaster)
	var wallets []SweepWallet
	jw := map[uint32]string{}
	for i, id := range ids {
		_, r, err := f.keys.TopupAddress(id)
		if err != nil {
			t.Fatal(err)
		}
		owner := mustRaw(t, r)
		jw[id] = address.NewAddress(0, 0, bytes.Repeat([]byte{byte(0x40 + i)}, 32)).StringRaw()
		wallets = append(wallets, SweepWallet{SubwalletID: id, Jettons: []JettonWallet{{Asset: AssetUSDT, Master: master.StringRaw(), Owner: r, Wallet: jw[id]}}})
		switch i {
		case 0: // deployed, 2 TON; a USD₮-layout jetton wallet with 4 USDT
			c.setAccount(r, 2_000_000_000, tlb.AccountStatusActive, v4r2Data(7, id, pub))
			c.setAccount(jw[id], 10_000_000, tlb.AccountStatusActive, cell.BeginCell().MustStoreUInt(0, 4).
				MustStoreBigCoins(big.NewInt(4_000_000)).MustStoreAddr(owner).MustStoreAddr(master).EndCell())
		case 1: // never sent, 0.5 TON; a TEP-74-layout jetton wallet with 1.25 USDT
			c.setAccount(r, 500_000_000, tlb.AccountStatusUninit, nil)
			c.setAccount(jw[id], 10_000_000, tlb.AccountStatusActive, cell.BeginCell().MustStoreBigCoins(big.NewInt(1_250_000)).
				MustStoreAddr(owner).MustStoreAddr(master).MustStoreRef(cell.BeginCell().EndCell()).EndCell())
		case 2: // USDT only (no TON for gas): 3 USDT stay
			c.setAccount(jw[id], 10_000_000, tlb.AccountStatusActive, cell.BeginCell().MustStoreUInt(0, 4).
				MustStoreBigCoins(big.NewInt(3_000_000)).MustStoreAddr(owner).MustStoreAddr(master).EndCell())
		}
	}
	c.mine()

	var out bytes.Buffer
	if err := Sweep(context.Background(), c, f.keys, wallets, DefaultSweepReserveNano, true, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sweep 4 USDT (4000000 units) from jetton wallet " + jw[ids[0]], "sweep 1.9 TON (1900000000 nanoton)",
		"sweep 1.25 USDT (1250000 units)", "sweep 0.4 TON", "3 USDT in jetton wallet " + jw[ids[2]] + ", but only 0 TON above the reserve for its gas: send it at least 0.1 TON",
		"would sweep 2.3 TON and 5.25 USDT in total; nothing was sent"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run lacks %q:\n%s", want, out.String())
		}
	}
	if len(c.sent) != 0 {
		t.Fatalf("dry run sent %d", len(c.sent))
	}
	out.Reset()
	if err := Sweep(context.Background(), c, f.keys, wallets, DefaultSweepReserveNano, false, &out); err != nil {
		t.Fatal(err)
	}
	if len(c.sent) != 2 {
		t.Fatalf("sent %d messages, want 2 (the wallet without gas sends nothing):\n%s", len(c.sent), out.String())
	}
	for i, tc := range []struct {
		id    uint32
		units int64
		ton   int64
	}{{ids[0], 4_000_000, 1_900_000_000}, {ids[1], 1_250_000, 400_000_000}} {
		s := c.sent[i].Body.BeginParse()
		s.MustLoadSlice(512)                                      // signature (checked in TestSweep)
		s.MustLoadUInt(32)                                        // subwallet
		s.MustLoadUInt(32)                                        // valid until
		s.MustLoadUInt(32)                                        // seqno
		if op := s.MustLoadUInt(8); op != 0 || s.RefsNum() != 2 { // v4r2 simple send, two messages
			t.Fatalf("message %d: op %d with %d messages", i, op, s.RefsNum())
		}
		var msgs [2]tlb.InternalMessage
		for k := range msgs {
			if mode := s.MustLoadUInt(8); mode != wallet.PayGasSeparately+wallet.IgnoreErrors {
				t.Errorf("message %d.%d: mode %d", i, k, mode)
			}
			if err := tlb.LoadFromCell(&msgs[k], s.MustLoadRef()); err != nil {
				t.Fatal(err)
			}
		}
		jm, tm := msgs[0], msgs[1]
		if jm.DstAddr.StringRaw() != jw[tc.id] || !jm.Bounce || jm.Amount.Nano().Int64() != JettonSweepGasNano {
			t.Errorf("message %d: jetton part %s", i, jm.Dump())
		}
		// The body read field by field as TEP-74 lays it out:
		// transfer#0f8a7ea5 query_id:uint64 amount:Coins destination:MsgAddress
		// response_destination:MsgAddress custom_payload:(Maybe ^Cell)
		// forward_ton_amount:Coins forward_payload:(Either Cell ^Cell)
		b := jm.Body.BeginParse()
		if op := b.MustLoadUInt(32); op != OpJettonTransfer {
			t.Fatalf("op %x", op)
		}
		b.MustLoadUInt(64)
		units, dst, resp := b.MustLoadBigCoins(), b.MustLoadAddr(), b.MustLoadAddr()
		custom, fwd := b.MustLoadMaybeRef(), b.MustLoadBigCoins()
		if units.Int64() != tc.units || dst.StringRaw() != f.service || resp.StringRaw() != f.service || custom != nil || fwd.Sign() != 0 {
			t.Errorf("message %d: jetton transfer of %s to %s, response %s, custom %v, forward %s", i, units, dst.StringRaw(), resp.StringRaw(), custom, fwd)
		}
		comment, _ := forwardPayload(b)
		if comment != SweepComment {
			t.Errorf("message %d: forward payload %q", i, comment)
		}
		// tonutils-go's own type reads the same.
		var p jetton.TransferPayload
		if err := tlb.LoadFromCell(&p, jm.Body.BeginParse()); err != nil || p.Amount.Nano().Int64() != tc.units || p.Destination.StringRaw() != f.service {
			t.Errorf("message %d: jetton.TransferPayload %+v %v", i, p, err)
		}
		if tm.DstAddr.StringRaw() != f.service || tm.Bounce || tm.Amount.Nano().Int64() != tc.ton || tm.Comment() != SweepComment {
			t.Errorf("message %d: TON part %s", i, tm.Dump())
		}
	}
}

func TestWalletSeqnoV5(t *testing.T) {
	k, err := NewKeys(testSeed, "v5r1", NetworkTestnet)
	if err != nil {
		t.Fatal(err)
	}
	data := cell.BeginCell().MustStoreBoolBit(true).MustStoreUInt(12, 32).MustStoreUInt(0, 32).EndCell()
	if seq, err := walletSeqno(k.Wallet().GetSpec(), data); err != nil || seq != 12 {
		t.Errorf("v5r1 seqno = %d, %v; want 12", seq, err)
	}
}

func TestDialFailsWithoutLiteservers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, DialConfig{Network: NetworkSandbox}); err == nil {
		t.Errorf("dialled the sandbox")
	}
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "global.config.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h := base64.StdEncoding.EncodeToString(make([]byte, 32))
	withInit := write(`{"liteservers": [], "validator": {"init_block": {"workchain": -1, "shard": -9223372036854775808, "seqno": 1, "root_hash": "` + h + `", "file_hash": "` + h + `"}}}`)
	if _, err := Dial(ctx, DialConfig{Network: NetworkTestnet, ConfigURL: withInit}); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("config without liteservers: %v", err)
	}
	// No block to anchor proofs at: refused rather than trusting the first answer.
	noInit := write(`{"liteservers": []}`)
	if _, err := Dial(ctx, DialConfig{Network: NetworkTestnet, ConfigURL: noInit}); err == nil || !strings.Contains(err.Error(), "ton.trusted_block") {
		t.Errorf("config without init block: %v", err)
	}
	if _, err := Dial(ctx, DialConfig{Network: NetworkTestnet, ConfigURL: noInit, TrustedBlock: "(-1,8000000000000000,5):" + strings.Repeat("ab", 32) + ":" + strings.Repeat("cd", 32)}); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("config without init block but a trusted block: %v", err)
	}
	if _, err := Dial(ctx, DialConfig{Network: NetworkTestnet, ConfigURL: withInit, TrustedBlock: "latest"}); err == nil || !strings.Contains(err.Error(), "ton.trusted_block") {
		t.Errorf("bad trusted block: %v", err)
	}
	if _, err := Dial(ctx, DialConfig{Network: NetworkTestnet, ConfigURL: filepath.Join(t.TempDir(), "missing.json")}); err == nil {
		t.Errorf("missing config file accepted")
	}
}

// TestTestnetTonCheck talks to the real testnet: OPENMONEY_TESTNET=1 go test -run Testnet ./ton/
func TestTestnetTonCheck(t *testing.T) {
	if os.Getenv("OPENMONEY_TESTNET") != "1" {
		t.Skip("set OPENMONEY_TESTNET=1 to run against the real testnet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	api, err := Dial(ctx, DialConfig{Network: NetworkTestnet, ConfigURL: os.Getenv("OPENMONEY_TESTNET_CONFIG"), TrustedBlock: os.Getenv("OPENMONEY_TESTNET_TRUSTED_BLOCK")})
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeys(testSeed, "v4r2", NetworkTestnet)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := TonCheck(ctx, api, k, "", &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())

	// and the listener follows a few real blocks
	l := NewListener(ListenerOptions{
		Network: NetworkTestnet,
		Dial:    func(context.Context) (ChainAPI, error) { return api, nil },
		Watched: []string{k.ServiceAddress()},
		Log:     testLogger(t),
	})
	r := newRecorder()
	run(t, l, "", r.fn)
	waitUntilTimeout(t, 60*time.Second, "a real block", func() bool { return l.Status().LastBlock > 0 })
	t.Logf("listener status: %+v", l.Status())
}
