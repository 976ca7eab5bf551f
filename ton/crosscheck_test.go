package ton

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/internal/tonjs"
)

// TestAddressesMatchTonTon: every address Keys derives (service wallet and
// partner top-up subwallets, v4r2 and v5r1, mainnet and testnet, raw and
// both friendly forms) equals what @ton/ton derives from the same mnemonic
// with @ton/crypto, including the subwallet edge values; and @ton/ton
// refuses the v5r1 subwallet 32768 that PartnerSubwallet refuses too.
func TestAddressesMatchTonTon(t *testing.T) {
	tonjs.Need(t)
	type jsCase struct {
		Version       string  `json:"version"`
		Network       string  `json:"network"`
		Subwallet     *uint32 `json:"subwallet,omitempty"`
		Raw           string  `json:"raw"`
		Bounceable    string  `json:"bounceable"`
		NonBounceable string  `json:"nonBounceable"`
		Error         string  `json:"error"`
	}
	type ours struct{ raw, bounceable, nonBounceable, what string }
	var cases []jsCase
	var want []ours
	u32 := func(v uint32) *uint32 { return &v }
	for _, network := range []string{NetworkMainnet, NetworkTestnet} {
		for _, version := range []string{"v4r2", "v5r1"} {
			k := testKeys(t, version, network)
			add := func(sub *uint32, friendly, raw, what string) {
				a, err := ParseAddress(friendly)
				if err != nil {
					t.Fatal(err)
				}
				b := a.Copy()
				b.SetBounce(true)
				cases = append(cases, jsCase{Version: version, Network: network, Subwallet: sub})
				want = append(want, ours{raw: raw, bounceable: b.String(), nonBounceable: friendly, what: fmt.Sprintf("%s %s %s", version, network, what)})
			}
			var svcSub *uint32 // v4r2: @ton/ton's default wallet id
			if version == "v5r1" {
				svcSub = u32(0)
			}
			add(svcSub, k.ServiceAddress(), k.ServiceAddressRaw(), "service wallet")
			partners := []int64{1, 2, 32766, 32767}
			if version == "v4r2" {
				partners = append(partners, 32768, 65535, 65536, 1<<31, 1<<32-1-SubwalletBase)
			}
			for _, pid := range partners {
				sub, err := k.PartnerSubwallet(pid)
				if err != nil {
					t.Fatal(err)
				}
				f, raw, err := k.TopupAddress(sub)
				if err != nil {
					t.Fatal(err)
				}
				add(u32(sub), f, raw, fmt.Sprintf("partner %d (subwallet %d)", pid, sub))
			}
		}
	}
	// The v5r1 subwallet field is 15 bits: the engine must refuse 32768.
	cases = append(cases, jsCase{Version: "v5r1", Network: NetworkMainnet, Subwallet: u32(32768)})

	var res struct {
		PublicKey string   `json:"publicKey"`
		Cases     []jsCase `json:"cases"`
	}
	tonjs.Run(t, map[string]any{"op": "addresses", "mnemonic": testSeed, "cases": cases}, &res)
	k := testKeys(t, "v4r2", NetworkMainnet)
	if got := hex.EncodeToString(k.Wallet().PrivateKey().Public().(ed25519.PublicKey)); got != res.PublicKey {
		t.Fatalf("public key: ours %s, @ton/crypto %s", got, res.PublicKey)
	}
	if len(res.Cases) != len(cases) {
		t.Fatalf("%d answers for %d cases", len(res.Cases), len(cases))
	}
	for i, w := range want {
		g := res.Cases[i]
		if g.Error != "" {
			t.Errorf("%s: @ton/ton: %s", w.what, g.Error)
			continue
		}
		if g.Raw != w.raw || g.Bounceable != w.bounceable || g.NonBounceable != w.nonBounceable {
			t.Errorf("%s:\n ours     %s %s %s\n @ton/ton %s %s %s", w.what, w.raw, w.bounceable, w.nonBounceable, g.Raw, g.Bounceable, g.NonBounceable)
		}
	}
	if last := res.Cases[len(res.Cases)-1]; last.Error == "" {
		t.Errorf("@ton/ton derived a v5r1 address for subwallet 32768 (%s); PartnerSubwallet's 15-bit limit rests on its refusal", last.Raw)
	}
	t.Logf("%d addresses equal to @ton/ton's", len(want))
}

// TestCommentsMatchTonCore: bodies built by @ton/core (comment(), and
// hand-made snake chains cutting UTF-8 characters between cells) read back
// through TransferFromTx as the exact text; bodies that are not text
// comments stay whole in PayloadHex.
func TestCommentsMatchTonCore(t *testing.T) {
	tonjs.Need(t)
	var res struct {
		Cases []struct {
			Name string  `json:"name"`
			Text *string `json:"text"`
			BOC  string  `json:"boc"`
		} `json:"cases"`
	}
	tonjs.Run(t, map[string]any{"op": "comments"}, &res)
	if len(res.Cases) < 15 {
		t.Fatalf("only %d cases from node", len(res.Cases))
	}
	c := newFakeChain(t)
	const to, from = "0:" + "11111111111111111111111111111111" + "11111111111111111111111111111111", "0:" + "22222222222222222222222222222222" + "22222222222222222222222222222222"
	texts := 0
	for _, tc := range res.Cases {
		raw, err := base64.StdEncoding.DecodeString(tc.BOC)
		if err != nil {
			t.Fatal(err)
		}
		body, err := cell.FromBOC(raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		tx := c.tx(txOpts{to: to, from: from, nano: 1_000_000_000, body: body})
		tr, ok := TransferFromTx(0, tx)
		if !ok {
			t.Fatalf("%s: not a transfer", tc.Name)
		}
		if tc.Text != nil {
			texts++
			if tr.Comment != *tc.Text || tr.PayloadHex != "" {
				t.Errorf("%s: comment %q payload %q, want %q", tc.Name, tr.Comment, tr.PayloadHex, *tc.Text)
			}
			continue
		}
		if tr.Comment != "" {
			t.Errorf("%s: read as comment %q", tc.Name, tr.Comment)
		}
		pb, _ := hex.DecodeString(tr.PayloadHex)
		pc, err := cell.FromBOC(pb)
		if err != nil || !equalHash(pc, body) {
			t.Errorf("%s: payload %q is not the body", tc.Name, tr.PayloadHex)
		}
	}
	t.Logf("%d @ton/core bodies decoded (%d text comments)", len(res.Cases), texts)
}

func equalHash(a, b *cell.Cell) bool {
	return hex.EncodeToString(a.Hash()) == hex.EncodeToString(b.Hash())
}
