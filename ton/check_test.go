package ton

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
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
		if err := Sweep(context.Background(), c, f.keys, ids, DefaultSweepReserveNano, true, &out); err != nil {
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
		if err := Sweep(context.Background(), c, f.keys, ids, DefaultSweepReserveNano, false, &out); err != nil {
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

func waitUntilTimeout(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
