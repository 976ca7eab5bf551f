package ton

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// JettonChain is what finding a jetton wallet asks of the chain; the real
// client (Dial) has these methods with these signatures.
type JettonChain interface {
	CurrentMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error)
	GetAccount(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address) (*tlb.Account, error)
	RunGetMethod(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address, method string, params ...any) (*tonapi.ExecutionResult, error)
}

var _ JettonChain = (tonapi.APIClientWrapped)(nil)

// ResolveJettonWallet returns the address (raw) of owner's jetton wallet of
// master, as the master's get_wallet_address answers it at the current
// (proven) masterchain block — and only when that answer follows from the
// master's proven state.
//
// A liteserver proves account states, not get-method results: tonutils-go
// checks the Merkle proof of the master's state that the method ran on, but
// the result is computed by the server. So the answer is checked: the
// master's state is read with its proof (GetAccount), the wallet code is
// taken from its data, and the wallet's address is derived locally as the
// hash of its StateInit for each known master layout — TEP-74's reference
// minter (total_supply, admin, content, wallet_code; wallet data balance,
// owner, master, wallet_code) and Tether's USD₮ minter (total_supply, admin,
// next_admin, wallet_code, metadata_uri; wallet data status, balance,
// owner, master). The answer must be one of those addresses; a master of
// another layout, or a server that lies, gets an *UnprovenError and nothing
// is pinned.
func ResolveJettonWallet(ctx context.Context, api JettonChain, master, owner string) (string, error) {
	m, err := ParseAddress(master)
	if err != nil {
		return "", fmt.Errorf("ton: jetton master: %w", err)
	}
	o, err := ParseAddress(owner)
	if err != nil {
		return "", fmt.Errorf("ton: jetton wallet owner: %w", err)
	}
	head, err := api.CurrentMasterchainInfo(ctx)
	if err != nil {
		return "", fmt.Errorf("ton: jetton wallet of %s: masterchain info: %w", o.StringRaw(), err)
	}
	acc, err := api.GetAccount(ctx, head, m)
	if err != nil {
		return "", fmt.Errorf("ton: jetton master %s state: %w", m.StringRaw(), checkAnswer("jetton master state", err))
	}
	if acc == nil || !acc.IsActive || acc.Data == nil {
		return "", fmt.Errorf("ton: jetton master %s is not deployed at masterchain block %d: check ton.jettons.usdt.master for this network",
			m.StringRaw(), head.SeqNo)
	}
	candidates := jettonWalletCandidates(acc.Data, m, o)
	res, err := api.RunGetMethod(ctx, head, m, "get_wallet_address", cell.BeginCell().MustStoreAddr(o).EndCell().BeginParse())
	if err != nil {
		return "", fmt.Errorf("ton: jetton master %s get_wallet_address: %w", m.StringRaw(), checkAnswer("get_wallet_address", err))
	}
	s, err := res.Slice(0)
	if err != nil {
		return "", unproven("get_wallet_address", "master %s answered no address: %v", m.StringRaw(), err)
	}
	w, err := s.LoadAddr()
	if err != nil || w.Type() != address.StdAddress {
		return "", unproven("get_wallet_address", "master %s answered no standard address", m.StringRaw())
	}
	raw := w.StringRaw()
	if _, ok := candidates[raw]; !ok {
		return "", unproven("get_wallet_address",
			"master %s answered %s for %s, which its proven state does not give for any known jetton layout (TEP-74, USD₮)",
			m.StringRaw(), raw, o.StringRaw())
	}
	return raw, nil
}

// jettonWalletCandidates derives owner's jetton wallet address from the
// master's data for each known layout (raw address → layout name). A layout
// the data does not parse as gives nothing.
func jettonWalletCandidates(data *cell.Cell, master, owner *address.Address) map[string]string {
	out := map[string]string{}
	add := func(layout string, code, walletData *cell.Cell) {
		if code == nil || walletData == nil {
			return
		}
		si := cell.BeginCell().MustStoreUInt(0, 2).MustStoreMaybeRef(code).MustStoreMaybeRef(walletData).
			MustStoreUInt(0, 1).EndCell()
		a := address.NewAddress(0, byte(master.Workchain()), si.Hash())
		out[a.StringRaw()] = layout
	}
	// TEP-74 reference minter.
	if s := data.BeginParse(); true {
		_, e1 := s.LoadBigCoins()
		_, e2 := s.LoadAddr()
		_, e3 := s.LoadRefCell()
		code, e4 := s.LoadRefCell()
		if e1 == nil && e2 == nil && e3 == nil && e4 == nil {
			wd := cell.BeginCell().MustStoreBigCoins(new(big.Int)).MustStoreAddr(owner).MustStoreAddr(master).
				MustStoreRef(code).EndCell()
			add("tep74", code, wd)
		}
	}
	// Tether's USD₮ (ton-blockchain/stablecoin-contract).
	if s := data.BeginParse(); true {
		_, e1 := s.LoadBigCoins()
		_, e2 := s.LoadAddr()
		_, e3 := s.LoadAddr()
		code, e4 := s.LoadRefCell()
		_, e5 := s.LoadRefCell()
		if e1 == nil && e2 == nil && e3 == nil && e4 == nil && e5 == nil {
			wd := cell.BeginCell().MustStoreUInt(0, 4).MustStoreBigCoins(new(big.Int)).MustStoreAddr(owner).
				MustStoreAddr(master).EndCell()
			add("usdt", code, wd)
		}
	}
	return out
}

// SandboxJettonWallet is the simulated chain's jetton wallet of owner for
// master: a made-up address derived from both (no contract exists in the
// sandbox to ask).
func SandboxJettonWallet(master, owner string) (string, error) {
	m, err := RawAddress(master)
	if err != nil {
		return "", fmt.Errorf("ton: jetton master: %w", err)
	}
	o, err := RawAddress(owner)
	if err != nil {
		return "", fmt.Errorf("ton: jetton wallet owner: %w", err)
	}
	h := sha256.Sum256([]byte("openmoney sandbox jetton wallet|" + m + "|" + o))
	return address.NewAddress(0, 0, h[:]).StringRaw(), nil
}
