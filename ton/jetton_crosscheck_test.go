package ton

import (
	"context"
	"encoding/base64"
	"errors"
	"math/big"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/internal/tonjs"
)

// JettonRun is the answer of the "jettons" cross-check: real jetton
// contracts (the TEP-74 reference code and Tether's USD₮ code) run in
// @ton/sandbox, every transaction of each scenario as its BOC.
type JettonRun struct {
	Families []JettonFamily `json:"families"`
}

// JettonFamily is one contract family's run.
type JettonFamily struct {
	Kind        string `json:"kind"` // tep74 | usdt
	Master      string `json:"master"`
	MasterState struct {
		Code string `json:"code"`
		Data string `json:"data"`
	} `json:"masterState"`
	OwnerWallet     string `json:"ownerWallet"`
	PayerWallet     string `json:"payerWallet"`
	FakeMaster      string `json:"fakeMaster"`
	FakeOwnerWallet string `json:"fakeOwnerWallet"`
	Wallets         []struct {
		Owner  string `json:"owner"`
		Wallet string `json:"wallet"`
	} `json:"wallets"`
	Scenarios []JettonScenario `json:"scenarios"`
}

// JettonScenario is one scenario's transactions and balances.
type JettonScenario struct {
	Name       string `json:"name"`
	Units      string `json:"units"`
	PayerAfter string `json:"payerAfter"`
	PayerBefor string `json:"payerBefore"`
	OwnerAfter string `json:"ownerAfter"`
	DestAfter  string `json:"destAfter"`
	Txs        []struct {
		Account  string  `json:"account"`
		Hash     string  `json:"hash"`
		BOC      string  `json:"boc"`
		Op       *uint32 `json:"op"`
		Aborted  *bool   `json:"aborted"`
		ExitCode *int    `json:"exitCode"`
	} `json:"txs"`
}

// jettonSweepUnits is what the owner holds before the sweep scenario (1.5 +
// 2.5 USDT paid, and the checkout-built payment): the sweep moves all of it.
const jettonSweepUnits = 4_000_000 + builtUnits

// JettonMemo is the memo every scenario carries.
const JettonMemo = "STARS-jt7k2q"

var (
	jettonRunOnce sync.Once
	jettonRun     JettonRun
)

// runJettons runs the cross-check once per test binary: the service wallet
// of the test seed (v4r2 testnet) is the owner every jetton goes to.
// jettonPayer is the payer account of jettons.js (account(2)).
const jettonPayer = "0:" + "0202020202020202020202020202020202020202020202020202020202020202"

// builtUnits is what the "built" scenario pays.
const builtUnits = 3_250_000

func runJettons(t *testing.T) (JettonRun, *Keys, string) {
	t.Helper()
	tonjs.Need(t)
	k := testKeys(t, "v4r2", NetworkTestnet)
	_, topup, err := k.TopupAddress(SubwalletBase + 1)
	if err != nil {
		t.Fatal(err)
	}
	jettonRunOnce.Do(func() {
		// The checkout's TON Connect body for a USDT payment (payer → its
		// own jetton wallet), run by the real contracts as scenario "built".
		built, err := JettonTransferBOC(7, builtUnits, k.ServiceAddressRaw(), jettonPayer, JettonMemo)
		if err != nil {
			t.Fatal(err)
		}
		body, err := JettonSweepBody(1, big.NewInt(jettonSweepUnits), mustRaw(t, topup))
		if err != nil {
			t.Fatal(err)
		}
		tonjs.Run(t, map[string]any{"op": "jettons", "owner": k.ServiceAddressRaw(), "memo": JettonMemo,
			"now": fakeBaseTime + 60, "others": []string{topup},
			"built": map[string]any{"boc": built, "value": strconv.Itoa(JettonPayAttachNano), "units": strconv.Itoa(builtUnits)},
			"sweep": map[string]any{"body": base64.StdEncoding.EncodeToString(body.ToBOC()), "dest": topup}}, &jettonRun)
	})
	if len(jettonRun.Families) != 2 {
		t.Fatalf("jettons cross-check answered %d families, want 2", len(jettonRun.Families))
	}
	return jettonRun, k, topup
}

func (s JettonScenario) txOn(t *testing.T, account string) (*tlb.Transaction, *cell.Cell) {
	t.Helper()
	for _, x := range s.Txs {
		if x.Account == account {
			return decodeTxBOC(t, x.BOC)
		}
	}
	return nil, nil
}

func decodeTxBOC(t *testing.T, b64 string) (*tlb.Transaction, *cell.Cell) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cell.FromBOC(raw)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := loadTx(c)
	if err != nil {
		t.Fatal(err)
	}
	return tx, c
}

func (f JettonFamily) scenario(t *testing.T, name string) JettonScenario {
	t.Helper()
	for _, s := range f.Scenarios {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s: no scenario %q", f.Kind, name)
	return JettonScenario{}
}

// TestJettonTransfersOfRealContracts decodes the transactions real jetton
// contracts made in the TVM emulator, for the TEP-74 reference code and
// Tether's USD₮ code:
//   - a payer's transfer to our owner with the memo in the forward payload
//     (forward_ton_amount 1 nanoton, payload in a ref) pays: our jetton
//     wallet's internal_transfer gives the amount, the memo, the payer;
//   - the same with forward_ton_amount 0 and the memo inline pays too, and
//     no notification reaches the owner;
//   - a forged internal_transfer sent straight to our jetton wallet fails
//     (exit 707 / 74) and bounces: pays nothing; a transfer into a wallet
//     the USD₮ admin locked fails and bounces back to the payer's wallet,
//     whose balance comes back: pays nothing;
//   - every transfer_notification reaching our owner — the real one and a
//     fake jetton's with our memo — is flagged and carries no memo.
func TestJettonTransfersOfRealContracts(t *testing.T) {
	jr, k, _ := runJettons(t)
	owner := k.ServiceAddressRaw()
	for _, f := range jr.Families {
		t.Run(f.Kind, func(t *testing.T) {
			w := JettonWallet{Asset: AssetUSDT, Master: f.Master, Owner: owner, Wallet: f.OwnerWallet}
			payer := jettonPayer
			// built: the body ton.JettonTransferBOC makes for the checkout's
			// TON Connect request, with the TON it attaches.
			pays := map[string]int64{"pay": 1_500_000, "pay_no_notification": 2_500_000, "built": builtUnits}
			for name, units := range pays {
				s := f.scenario(t, name)
				tx, _ := s.txOn(t, f.OwnerWallet)
				if tx == nil {
					t.Fatalf("%s: no transaction on our jetton wallet", name)
				}
				got, ok := JettonTransferFromTx(w, 0, tx)
				if !ok || !got.Incoming || got.Bounced || got.Jetton == nil {
					t.Fatalf("%s: not an incoming jetton payment: %+v", name, got)
				}
				j := got.Jetton
				if j.Units != units || got.Comment != JettonMemo || got.To != owner || got.From != payer ||
					j.SourceWallet != f.PayerWallet || j.Wallet != f.OwnerWallet || j.Master != f.Master || j.Asset != AssetUSDT {
					t.Errorf("%s: decoded %+v jetton %+v", name, got, *j)
				}
				if got.Asset() != AssetUSDT {
					t.Errorf("%s: asset %q", name, got.Asset())
				}
				notice, _ := s.txOn(t, owner)
				switch name {
				case "pay", "built":
					if notice == nil {
						t.Fatalf("pay: no notification reached the owner")
					}
					n, ok := TransferFromTx(0, notice)
					if !ok || !n.JettonNotice || n.Comment != "" || n.Jetton != nil {
						t.Errorf("pay: the owner's notification is not flagged as one: %+v", n)
					}
				case "pay_no_notification":
					if notice != nil {
						t.Errorf("forward_ton_amount 0, yet the owner got a message")
					}
				}
			}

			fails := []string{"forged"}
			if f.Kind == "usdt" {
				fails = append(fails, "locked_bounces")
			}
			for _, name := range fails {
				s := f.scenario(t, name)
				tx, _ := s.txOn(t, f.OwnerWallet)
				if tx == nil {
					t.Fatalf("%s: no transaction on our jetton wallet", name)
				}
				got, ok := JettonTransferFromTx(w, 0, tx)
				if !ok || !got.Bounced {
					t.Errorf("%s: a failed transfer was not marked bounced: %+v", name, got)
				}
				if txSucceeded(tx) {
					t.Errorf("%s: the emulator's failed transaction reads as succeeded", name)
				}
				if name == "locked_bounces" && s.PayerAfter != s.PayerBefor {
					t.Errorf("locked: payer's balance %s → %s; the bounce should have restored it", s.PayerBefor, s.PayerAfter)
				}
			}

			fake := f.scenario(t, "fake")
			if tx, _ := fake.txOn(t, f.OwnerWallet); tx != nil {
				t.Fatalf("the fake jetton touched our real jetton wallet")
			}
			if f.FakeOwnerWallet == f.OwnerWallet || f.FakeMaster == f.Master {
				t.Fatalf("the fake jetton has our wallet or master")
			}
			notice, _ := fake.txOn(t, owner)
			if notice == nil {
				t.Fatalf("fake: no notification reached our owner")
			}
			n, ok := TransferFromTx(0, notice)
			if !ok || !n.JettonNotice || n.Comment != "" || n.AmountNano != 50_000_000 {
				t.Errorf("fake notification: %+v", n)
			}
		})
	}
}

// TestListenerReportsJettonsOfRealContracts runs the listener over a chain
// holding the emulator's transactions unchanged: the service wallet and our
// jetton wallet watched (the jetton wallet pinned only after its first
// payment, so that payment comes from the catch-up of its history), the
// fake jetton's wallet of our owner not watched. Exactly the three good
// payments (two a wallet app's, one the checkout's TON Connect body) are
// incoming jetton transfers; the failed ones are bounced; the
// fake jetton's transfer into its own wallet is never read; notifications
// are flagged.
func TestListenerReportsJettonsOfRealContracts(t *testing.T) {
	jr, k, _ := runJettons(t)
	owner := k.ServiceAddressRaw()
	for _, f := range jr.Families {
		t.Run(f.Kind, func(t *testing.T) {
			c := newFakeChain(t)
			var cells [][]*cell.Cell
			for _, s := range f.Scenarios {
				var cs []*cell.Cell
				for _, x := range s.Txs {
					_, cl := decodeTxBOC(t, x.BOC)
					cs = append(cs, cl)
				}
				cells = append(cells, cs)
			}
			start := c.headSeqno()
			c.mineCells(cells[0]...) // "pay", before the wallet is pinned
			r := newRecorder()
			l := NewListener(ListenerOptions{Network: NetworkTestnet, Log: testLogger(t),
				Dial:         func(context.Context) (ChainAPI, error) { return c, nil },
				Watched:      []string{k.ServiceAddress()},
				PollInterval: 100 * time.Microsecond, RetryMin: 100 * time.Microsecond, RetryMax: 2 * time.Millisecond})
			cursor := listenerCursor{seqno: start, utime: c.masters[start-c.base].gen}
			run(t, l, cursor.String(), r.fn)
			waitUntil(t, "first block", func() bool { return l.Status().LastBlock > start })
			l.WatchJettons(JettonWallet{Asset: AssetUSDT, Master: f.Master, Owner: owner, Wallet: f.OwnerWallet})
			for _, cs := range cells[1:] {
				c.mineCells(cs...)
			}
			var all []string
			for _, s := range f.Scenarios {
				for _, x := range s.Txs {
					if x.Account == f.OwnerWallet || x.Account == owner {
						all = append(all, x.Hash)
					}
				}
			}
			waitUntil(t, "every transaction of our accounts", func() bool { return r.has(all...) })

			paid := map[int64]bool{}
			for _, h := range r.order {
				tr := r.get(h)
				if tr.Jetton != nil && tr.Incoming && !tr.Bounced {
					paid[tr.Jetton.Units] = true
					if tr.Comment != JettonMemo || tr.To != owner {
						t.Errorf("payment %+v", tr)
					}
				}
				if tr.To == owner && tr.Jetton == nil && tr.Incoming && !tr.JettonNotice && tr.Comment == JettonMemo {
					t.Errorf("a TON message to our owner carries the memo unflagged: %+v", tr)
				}
				if r.counts[h] != 1 {
					t.Errorf("transfer %s delivered %d times", h, r.counts[h])
				}
			}
			// The good payments: two a wallet app's, one the checkout's TON
			// Connect body (scenario "built").
			if len(paid) != 3 || !paid[1_500_000] || !paid[2_500_000] || !paid[builtUnits] {
				t.Errorf("payments reported: %v; want exactly 1.5, 2.5 and 3.25 USDT", paid)
			}
			for _, x := range f.scenario(t, "fake").Txs {
				if x.Account == f.FakeOwnerWallet && r.has(x.Hash) {
					t.Errorf("the fake jetton's wallet was read")
				}
			}
		})
	}
}

// stubJettonChain serves a master's state and a get_wallet_address answer.
type stubJettonChain struct {
	data   *cell.Cell
	answer string
	active bool
}

func (s stubJettonChain) CurrentMasterchainInfo(context.Context) (*tonapi.BlockIDExt, error) {
	return &tonapi.BlockIDExt{Workchain: -1, SeqNo: 42}, nil
}

func (s stubJettonChain) GetAccount(context.Context, *tonapi.BlockIDExt, *address.Address) (*tlb.Account, error) {
	return &tlb.Account{IsActive: s.active, Data: s.data}, nil
}

func (s stubJettonChain) RunGetMethod(_ context.Context, _ *tonapi.BlockIDExt, _ *address.Address, method string, _ ...any) (*tonapi.ExecutionResult, error) {
	if method != "get_wallet_address" {
		return nil, errors.New("unexpected method " + method)
	}
	a, err := ParseAddress(s.answer)
	if err != nil {
		return nil, err
	}
	return tonapi.NewExecutionResult([]any{cell.BeginCell().MustStoreAddr(a).EndCell().BeginParse()}), nil
}

// TestJettonWalletAddressFollowsFromTheMasterState: for both real minters,
// the wallet address derived from the master's state (as the emulator holds
// it) equals what the master's own get_wallet_address answers, for the
// service wallet and a top-up address; ResolveJettonWallet accepts that
// answer and refuses any other (a lying liteserver), and a master that is
// not deployed.
func TestJettonWalletAddressFollowsFromTheMasterState(t *testing.T) {
	jr, k, topup := runJettons(t)
	for _, f := range jr.Families {
		t.Run(f.Kind, func(t *testing.T) {
			raw, err := base64.StdEncoding.DecodeString(f.MasterState.Data)
			if err != nil {
				t.Fatal(err)
			}
			data, err := cell.FromBOC(raw)
			if err != nil {
				t.Fatal(err)
			}
			master := mustRaw(t, f.Master)
			want := map[string]string{k.ServiceAddressRaw(): f.OwnerWallet}
			for _, w := range f.Wallets {
				want[w.Owner] = w.Wallet
			}
			if _, ok := want[topup]; !ok {
				t.Fatalf("no top-up wallet in the answer")
			}
			for owner, wallet := range want {
				cands := jettonWalletCandidates(data, master, mustRaw(t, owner))
				if cands[wallet] != f.Kind {
					t.Errorf("owner %s: derived %v, the master answers %s (%s layout)", owner, cands, wallet, f.Kind)
				}
				got, err := ResolveJettonWallet(context.Background(), stubJettonChain{data: data, answer: wallet, active: true}, f.Master, owner)
				if err != nil || got != wallet {
					t.Errorf("resolve %s: %q, %v", owner, got, err)
				}
			}
			// A liteserver naming another wallet (say the payer's) is refused.
			_, err = ResolveJettonWallet(context.Background(), stubJettonChain{data: data, answer: f.PayerWallet, active: true}, f.Master, k.ServiceAddressRaw())
			if !errors.Is(err, ErrUnproven) {
				t.Errorf("a lying answer: %v, want ErrUnproven", err)
			}
			if _, err := ResolveJettonWallet(context.Background(), stubJettonChain{data: data, answer: f.OwnerWallet}, f.Master, k.ServiceAddressRaw()); err == nil {
				t.Errorf("an undeployed master was accepted")
			}
		})
	}
}

// The sweep's jetton transfer (JettonSweepBody, built with tonutils-go's
// jetton.TransferPayload) run by the real jetton wallets in the TVM
// emulator, for the TEP-74 reference code and Tether's USD₮ code: the owner
// sends it to its own jetton wallet, and the whole balance arrives in the
// destination's jetton wallet; no transaction fails.
func TestSweepBodyMovesJettonsInRealContracts(t *testing.T) {
	run, _, _ := runJettons(t)
	for _, f := range run.Families {
		s := f.scenario(t, "sweep")
		if want := strconv.Itoa(jettonSweepUnits); s.OwnerAfter != "0" || s.DestAfter != want {
			t.Errorf("%s: after the sweep the owner holds %s and the destination %s; want 0 and %s", f.Kind, s.OwnerAfter, s.DestAfter, want)
		}
		// Both jetton wallets ran and succeeded (the destination here is an
		// address without code, so the excesses to it do not run anything).
		ran := map[string]bool{}
		for _, x := range s.Txs {
			if x.Account != f.OwnerWallet && (len(f.Wallets) == 0 || x.Account != f.Wallets[0].Wallet) {
				continue
			}
			ran[x.Account] = true
			if (x.Aborted != nil && *x.Aborted) || x.ExitCode == nil || (*x.ExitCode != 0 && *x.ExitCode != 1) {
				t.Errorf("%s: sweep transaction on jetton wallet %s failed (exit %v)", f.Kind, x.Account, x.ExitCode)
			}
		}
		if len(ran) != 2 {
			t.Errorf("%s: the sweep ran on %d of the two jetton wallets", f.Kind, len(ran))
		}
	}
}
