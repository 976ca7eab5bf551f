package fragment

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/internal/tonjs"
	"github.com/theopenmoney/openmoney/ton"
)

// tonjsSeed is a fixed seed (never funded) that node derives the same key from.
var tonjsSeed = strings.Fields("birth pattern then forest walnut then phrase walnut fan pumpkin pattern then cluster blossom verify then forest velvet pond fiction pattern collect then then")

// signedExternals has the real WalletPayer sign two payments of the service
// wallet of keys: the first with seqno 0 and the state init (the wallet is
// not deployed yet), the second with seqno 1 once it is. Only the chain is
// a fake; the signing path is the payer's own. Returns what the payer
// recorded (the BOC it broadcasts, valid_until, seqno) and the messages.
func signedExternals(t *testing.T, keys *ton.Keys, testnet bool) ([]SentBatch, []Message) {
	t.Helper()
	chain := newFakeChain(t, keys.Wallet().WalletAddress())
	chain.execute = false // the emulator runs them, not the fake
	chain.deployed, chain.seqno = false, 0
	p, err := NewWalletPayer(keys.Wallet(), chain, WalletPayerOptions{Testnet: testnet, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	to, _ := ton.ParseAddress(fakeDest)
	long := "Telegram Premium for 3 months for @someone_long_username · paid by The Open Money Ref#Zq81kPz0aBcD"
	var msgs []Message
	for _, text := range []string{"100 Telegram Stars \n\nRef#abcDEF123", long} {
		pl, err := decodePayload(fragmentPayload(text))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, Message{To: to, AmountNano: 387_000_000 + int64(len(msgs)), Payload: pl, ValidUntil: time.Now().Add(5 * time.Minute)})
	}
	var sent []SentBatch
	for i, m := range msgs {
		s, err := sendOne(t, p, m)
		if err != nil {
			t.Fatal(err)
		}
		if s.Seqno != uint32(i) {
			t.Fatalf("message %d signed with seqno %d", i, s.Seqno)
		}
		sent = append(sent, s)
		chain.mu.Lock()
		chain.deployed, chain.seqno = true, uint32(i+1) // as if it executed
		chain.mu.Unlock()
	}
	return sent, msgs
}

// TestWalletExternalsRunInTonSandbox: the externals WalletPayer signs
// (v4r2 mainnet, v5r1 mainnet and testnet) are executed by the real wallet
// code in @ton/sandbox's TVM emulator, offline:
//   - the first deploys the wallet from the state init it carries, whose code
//     and data equal @ton/ton's for the same key and subwallet;
//   - each accepted message sends exactly what Fragment asked: destination,
//     amount and the payload cell (by hash), bounceable;
//   - the same external sent again does not run a second time;
//   - a message past its valid_until is rejected, and the very same bytes
//     are accepted before it (so the rejection was the expiry alone).
func TestWalletExternalsRunInTonSandbox(t *testing.T) {
	tonjs.Need(t)
	type step struct {
		Name string `json:"name"`
		BOC  string `json:"boc"`
		Now  int64  `json:"now"`
	}
	type wreq struct {
		Version   string   `json:"version"`
		Network   string   `json:"network"`
		Mnemonic  []string `json:"mnemonic"`
		Subwallet uint32   `json:"subwallet"`
		FundNano  string   `json:"fundNano"`
		Steps     []step   `json:"steps"`
	}
	type outMsg struct {
		Dest       string `json:"dest"`
		AmountNano string `json:"amountNano"`
		Bounce     bool   `json:"bounce"`
		BodyHash   string `json:"bodyHash"`
		Body       string `json:"body"`
	}
	type stepRes struct {
		Name         string   `json:"name"`
		Dest         string   `json:"dest"`
		InitCodeHash *string  `json:"initCodeHash"`
		InitDataHash *string  `json:"initDataHash"`
		Accepted     bool     `json:"accepted"`
		Aborted      bool     `json:"aborted"`
		ComputeExit  *int     `json:"computeExit"`
		ActionOk     *bool    `json:"actionOk"`
		OutMessages  []outMsg `json:"outMessages"`
		Error        string   `json:"error"`
		ExitCode     *int     `json:"exitCode"`
		State        string   `json:"state"`
		SeqnoAfter   *int     `json:"seqnoAfter"`
	}
	type wres struct {
		Address        string    `json:"address"`
		TonTonCodeHash string    `json:"tonTonCodeHash"`
		TonTonDataHash string    `json:"tonTonDataHash"`
		FundedBalance  string    `json:"fundedBalance"`
		Steps          []stepRes `json:"steps"`
	}
	type wallet struct {
		version, network string
		keys             *ton.Keys
		sent             []SentBatch
		msgs             []Message
	}
	var wallets []wallet
	var req []wreq
	for _, c := range []struct{ version, network string }{
		{"v4r2", ton.NetworkMainnet}, {"v5r1", ton.NetworkMainnet}, {"v5r1", ton.NetworkTestnet},
	} {
		keys, err := ton.NewKeys(tonjsSeed, c.version, c.network)
		if err != nil {
			t.Fatal(err)
		}
		sent, msgs := signedExternals(t, keys, c.network != ton.NetworkMainnet)
		v1, v2 := sent[0].ValidUntil, sent[1].ValidUntil
		sub := keys.Wallet().GetSubwalletID()
		req = append(req, wreq{Version: c.version, Network: c.network, Mnemonic: tonjsSeed, Subwallet: sub, FundNano: "10000000000",
			Steps: []step{
				{"first payment, deploys the wallet", sent[0].BOC, v1 - 160},
				{"first payment again", sent[0].BOC, v1 - 150},
				{"second payment after its valid_until", sent[1].BOC, v2 + 1},
				{"second payment before its valid_until", sent[1].BOC, v2 - 10},
				{"second payment again", sent[1].BOC, v2 - 5},
			}})
		wallets = append(wallets, wallet{c.version, c.network, keys, sent, msgs})
	}
	var res struct {
		Wallets []wres `json:"wallets"`
	}
	start := time.Now()
	tonjs.Run(t, map[string]any{"op": "wallets", "wallets": req}, &res)
	t.Logf("@ton/sandbox ran %d wallets in %s", len(req), time.Since(start).Round(time.Millisecond))
	if len(res.Wallets) != len(wallets) {
		t.Fatalf("%d results for %d wallets", len(res.Wallets), len(wallets))
	}
	for i, w := range wallets {
		r := res.Wallets[i]
		name := w.version + " " + w.network
		if r.Address != w.keys.ServiceAddressRaw() {
			t.Fatalf("%s: @ton/ton address %s, ours %s", name, r.Address, w.keys.ServiceAddressRaw())
		}
		if len(r.Steps) != 5 {
			t.Fatalf("%s: %d steps", name, len(r.Steps))
		}
		first := r.Steps[0]
		if first.InitCodeHash == nil || *first.InitCodeHash != r.TonTonCodeHash || first.InitDataHash == nil || *first.InitDataHash != r.TonTonDataHash {
			t.Errorf("%s: state init of the first message (code %v data %v) is not @ton/ton's (code %s data %s)", name, first.InitCodeHash, first.InitDataHash, r.TonTonCodeHash, r.TonTonDataHash)
		}
		if r.Steps[3].InitCodeHash != nil {
			t.Errorf("%s: the second message carries a state init although the wallet was deployed", name)
		}
		checkRun := func(s stepRes, m Message, seqno int) {
			t.Helper()
			if s.Dest != w.keys.ServiceAddressRaw() {
				t.Errorf("%s %s: external to %s", name, s.Name, s.Dest)
			}
			if !s.Accepted || s.Aborted || s.ComputeExit == nil || *s.ComputeExit != 0 || s.ActionOk == nil || !*s.ActionOk {
				t.Errorf("%s %s: not run cleanly: %+v", name, s.Name, s)
				return
			}
			if len(s.OutMessages) != 1 {
				t.Errorf("%s %s: %d out messages, want 1", name, s.Name, len(s.OutMessages))
				return
			}
			o := s.OutMessages[0]
			amount, _ := strconv.ParseInt(o.AmountNano, 10, 64)
			if o.Dest != m.To.StringRaw() || amount != m.AmountNano || o.BodyHash != hex.EncodeToString(m.Payload.Hash()) || !o.Bounce {
				t.Errorf("%s %s: sent %s %d bounce=%v body %s; Fragment asked %s %d body %s", name, s.Name,
					o.Dest, amount, o.Bounce, o.BodyHash, m.To.StringRaw(), m.AmountNano, hex.EncodeToString(m.Payload.Hash()))
			}
			if raw, err := base64.StdEncoding.DecodeString(o.Body); err == nil {
				if c, err := cell.FromBOC(raw); err != nil || hex.EncodeToString(c.Hash()) != hex.EncodeToString(m.Payload.Hash()) {
					t.Errorf("%s %s: body BOC does not parse to the payload", name, s.Name)
				}
			}
			if s.State != "active" || s.SeqnoAfter == nil || *s.SeqnoAfter != seqno {
				t.Errorf("%s %s: state %s seqno %v, want active %d", name, s.Name, s.State, s.SeqnoAfter, seqno)
			}
		}
		// The wallets' own exit codes: v4r2 throws 33 for a seqno mismatch and
		// 36 for valid_until <= now; v5r1 133 and 136.
		codes := map[string][2]int{"v4r2": {33, 36}, "v5r1": {133, 136}}[w.version]
		rejected := func(s stepRes, seqno, code int) {
			t.Helper()
			if s.Accepted {
				t.Errorf("%s %s: accepted (out %v), want rejected", name, s.Name, s.OutMessages)
			}
			if s.ExitCode == nil || *s.ExitCode != code {
				t.Errorf("%s %s: exit code %v, want %d (%s)", name, s.Name, s.ExitCode, code, firstLine(s.Error))
			}
			if s.SeqnoAfter == nil || *s.SeqnoAfter != seqno {
				t.Errorf("%s %s: seqno after %v, want %d", name, s.Name, s.SeqnoAfter, seqno)
			}
		}
		checkRun(r.Steps[0], w.msgs[0], 1)
		rejected(r.Steps[1], 1, codes[0])
		rejected(r.Steps[2], 1, codes[1])
		checkRun(r.Steps[3], w.msgs[1], 2)
		rejected(r.Steps[4], 2, codes[0])
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// TestBatchRunsInTonSandbox: the largest batch the payer signs (v5r1: 255
// Fragment payments in one external; v4r2: 4) runs in @ton/sandbox's TVM
// emulator under the real wallet code: accepted, every payment sent exactly
// as signed and in order, and what the wallet paid beyond the payments (gas,
// import, forwarding) within Payer.Fee, which the balance check counts.
func TestBatchRunsInTonSandbox(t *testing.T) {
	tonjs.Need(t)
	type out struct {
		Dest       string `json:"dest"`
		AmountNano string `json:"amountNano"`
		Bounce     bool   `json:"bounce"`
		BodyHash   string `json:"bodyHash"`
		FwdFee     string `json:"fwdFee"`
	}
	type result struct {
		BOCBytes        int    `json:"bocBytes"`
		Accepted        bool   `json:"accepted"`
		Aborted         bool   `json:"aborted"`
		ComputeExit     *int   `json:"computeExit"`
		GasUsed         string `json:"gasUsed"`
		GasFees         string `json:"gasFees"`
		ActionOk        *bool  `json:"actionOk"`
		TotalActions    int    `json:"totalActions"`
		TotalFwdFees    string `json:"totalFwdFees"`
		TotalActionFees string `json:"totalActionFees"`
		TotalFees       string `json:"totalFees"`
		Debit           string `json:"debitBeyondAmounts"`
		Out             []out  `json:"outMessages"`
		Error           string `json:"error"`
	}
	for _, c := range []struct {
		version string
		n       int
	}{{"v5r1", 255}, {"v5r1", 1}, {"v4r2", 4}, {"v4r2", 1}} {
		t.Run(fmt.Sprintf("%s %d", c.version, c.n), func(t *testing.T) {
			keys, err := ton.NewKeys(tonjsSeed, c.version, ton.NetworkMainnet)
			if err != nil {
				t.Fatal(err)
			}
			chain := newFakeChain(t, keys.Wallet().WalletAddress())
			chain.execute = false // the emulator runs it
			chain.deployed, chain.seqno, chain.balance = false, 0, 1000e9
			p, err := NewWalletPayer(keys.Wallet(), chain, WalletPayerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			to, _ := ton.ParseAddress(fakeDest)
			var ms []Message
			for i := range c.n {
				pl, err := decodePayload(fragmentPayload(fmt.Sprintf("%d Telegram Stars \n\nRef#%010d", 50+i, 7_000_000_000+i*7919)))
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, Message{To: to, AmountNano: 193_500_000 + int64(i), Payload: pl, ValidUntil: time.Now().Add(5 * time.Minute)})
			}
			s, err := sendOne(t, p, ms...)
			if err != nil || len(s.Messages) != c.n {
				t.Fatalf("signed %d of %d: %v", len(s.Messages), c.n, err)
			}
			var r result
			tonjs.Run(t, map[string]any{"op": "batch", "version": c.version, "network": ton.NetworkMainnet, "mnemonic": tonjsSeed,
				"subwallet": keys.Wallet().GetSubwalletID(), "fundNano": "1000000000000", "boc": s.BOC, "now": s.ValidUntil - 60}, &r)
			if !r.Accepted || r.Aborted || r.ComputeExit == nil || *r.ComputeExit != 0 || r.ActionOk == nil || !*r.ActionOk || r.TotalActions != c.n {
				t.Fatalf("not run cleanly: %+v", r)
			}
			if len(r.Out) != c.n {
				t.Fatalf("%d out messages, want %d", len(r.Out), c.n)
			}
			for i, o := range r.Out {
				m := ms[i]
				if o.Dest != m.To.StringRaw() || o.AmountNano != strconv.FormatInt(m.AmountNano, 10) || !o.Bounce ||
					o.BodyHash != hex.EncodeToString(m.Payload.Hash()) {
					t.Fatalf("out message %d: %+v; signed %s %d %x", i, o, m.To.StringRaw(), m.AmountNano, m.Payload.Hash())
				}
			}
			debit, err := strconv.ParseInt(r.Debit, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s, %d payments: external %d bytes; gas %s (%s nanoton); action fees %s, forward fees %s; total fees %s; wallet paid %d nanoton (%.6f TON) beyond the payments, %d per payment; Fee(%d) = %d",
				c.version, c.n, r.BOCBytes, r.GasUsed, r.GasFees, r.TotalActionFees, r.TotalFwdFees, r.TotalFees, debit, float64(debit)/1e9, debit/int64(c.n), c.n, p.Fee(c.n))
			if debit <= 0 || debit > p.Fee(c.n) {
				t.Fatalf("the wallet paid %d beyond the payments; the balance check counts Fee(%d) = %d", debit, c.n, p.Fee(c.n))
			}
		})
	}
}
