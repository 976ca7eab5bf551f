package ton

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"slices"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// DefaultSweepReserveNano is a keep-alive reserve that covers the sweep's own
// fees (a first send also deploys the wallet) and some storage rent.
const DefaultSweepReserveNano = 50_000_000 // 0.05 TON

// SweepComment is the comment of a sweep transfer. The listener reports it
// as not incoming anyway (its sender is a watched top-up wallet).
const SweepComment = "openmoney sweep"

// JettonSweepGasNano is the TON a jetton sweep attaches to its transfer for
// the two jetton wallets' gas and forward fees (a USD₮ transfer uses well
// under it); the rest comes back to the service wallet as excesses.
const JettonSweepGasNano = 50_000_000 // 0.05 TON

// SweepWallet is one top-up subwallet to sweep, with its pinned jetton
// wallets (the partner's USDT jetton wallet), whose jettons go to the
// service wallet's jetton wallet of the same master.
type SweepWallet struct {
	SubwalletID uint32
	Jettons     []JettonWallet
}

// Sweep moves the balance above reserveNano of each top-up subwallet to the
// service wallet, and the jettons of its pinned jetton wallets (USDT) to
// the service wallet's, printing one line per wallet and jetton wallet.
// With dryRun it only prints. Partners' balances live in the ledger, not on
// these wallets, so a sweep changes no one's balance; it only gathers the
// coins where the service keeps them.
//
// One signed message per subwallet carries both: first a jetton transfer
// to each jetton wallet holding jettons (JettonSweepGasNano attached,
// bounceable, destination and response the service wallet, comment
// SweepComment), then the TON above the reserve and that gas. Jettons move
// only when the subwallet holds their gas above the reserve; otherwise the
// line says how much TON to send it first (from the service wallet: the
// listener does not count that as a top-up). Each message pays its fees from
// the reserve (mode 1+2); the TON transfer is non-bounceable, so it lands
// even before the service wallet is deployed. Sweep does not wait for
// confirmation: a second run before the first is committed would reuse the
// wallet's seqno and be rejected by the chain, not pay twice. Errors for
// single wallets are collected and returned together.
func Sweep(ctx context.Context, api ChainAPI, keys *Keys, wallets []SweepWallet, reserveNano int64, dryRun bool, w io.Writer) error {
	if reserveNano < 0 {
		return fmt.Errorf("sweep: negative reserve %d", reserveNano)
	}
	head, err := api.GetMasterchainInfo(ctx)
	if err != nil {
		return fmt.Errorf("sweep: masterchain info: %w", err)
	}
	dest := keys.Wallet().WalletAddress()
	reserve := big.NewInt(reserveNano)
	total := new(big.Int)
	jettonTotal := map[string]*big.Int{} // asset → units
	var errs []error
	sent := 0

	for _, sw := range wallets {
		id := sw.SubwalletID
		sub, err := keys.Subwallet(id)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep: subwallet %d: %w", id, err))
			continue
		}
		addr := sub.WalletAddress()
		acc, err := api.GetAccount(ctx, head, addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep: subwallet %d state: %w", id, err))
			fmt.Fprintf(w, "subwallet %d %s: cannot read state: %v\n", id, keys.Friendly(addr), err)
			continue
		}
		balance, state := accountBalance(acc)
		spare := new(big.Int).Sub(balance, reserve) // TON above the reserve
		var jettons []jettonMove
		for _, jw := range sw.Jettons {
			units, err := jettonBalance(ctx, api, head, jw, addr)
			if err != nil {
				errs = append(errs, fmt.Errorf("sweep: subwallet %d %s jetton wallet: %w", id, jw.Asset, err))
				fmt.Fprintf(w, "subwallet %d %s: %s jetton wallet %s: cannot read it: %v\n", id, keys.Friendly(addr), jw.Asset, jw.Wallet, err)
				continue
			}
			if units.Sign() == 0 {
				continue
			}
			gas := big.NewInt(JettonSweepGasNano)
			if spare.Cmp(gas) < 0 {
				need := new(big.Int).Sub(gas, spare)
				fmt.Fprintf(w, "subwallet %d %s: %s %s in jetton wallet %s, but only %s TON above the reserve for its gas: send it at least %s TON from the service wallet (not a top-up), then sweep again\n",
					id, keys.Friendly(addr), formatUnits(units, jw.Asset), jw.Asset, jw.Wallet, tlb.FromNanoTON(maxBig(spare, new(big.Int))).String(), tlb.FromNanoTON(need).String())
				continue
			}
			spare.Sub(spare, gas)
			jettons = append(jettons, jettonMove{wallet: jw, units: units})
			t, ok := jettonTotal[jw.Asset]
			if !ok {
				t = new(big.Int)
				jettonTotal[jw.Asset] = t
			}
			t.Add(t, units)
			fmt.Fprintf(w, "subwallet %d %s: sweep %s %s (%s units) from jetton wallet %s to the service wallet's (gas %s TON)\n",
				id, keys.Friendly(addr), formatUnits(units, jw.Asset), jw.Asset, units.String(), jw.Wallet, tlb.FromNanoTON(gas).String())
		}
		var amount *big.Int
		if spare.Sign() > 0 {
			amount = spare
			total.Add(total, amount)
			fmt.Fprintf(w, "subwallet %d %s: %s TON, sweep %s TON (%s nanoton) to %s\n", id, keys.Friendly(addr),
				tlb.FromNanoTON(balance).String(), tlb.FromNanoTON(amount).String(), amount.String(), keys.ServiceAddress())
		} else if len(jettons) == 0 {
			fmt.Fprintf(w, "subwallet %d %s: %s TON (%s), nothing above the reserve\n", id, keys.Friendly(addr), tlb.FromNanoTON(balance).String(), state)
			continue
		}
		if dryRun {
			continue
		}
		ext, err := sweepMessage(ctx, sub, acc, dest, amount, jettons)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep: subwallet %d: %w", id, err))
			continue
		}
		if err := api.SendExternalMessage(ctx, ext); err != nil {
			errs = append(errs, fmt.Errorf("sweep: subwallet %d: send: %w", id, err))
			fmt.Fprintf(w, "  send failed: %v\n", err)
			continue
		}
		sent++
		fmt.Fprintf(w, "  sent, message %x\n", ext.Body.Hash())
	}

	var jt string
	for _, asset := range slices.Sorted(maps.Keys(jettonTotal)) {
		jt += fmt.Sprintf(" and %s %s", formatUnits(jettonTotal[asset], asset), asset)
	}
	if dryRun {
		fmt.Fprintf(w, "dry run: would sweep %s TON%s in total; nothing was sent\n", tlb.FromNanoTON(total).String(), jt)
	} else {
		fmt.Fprintf(w, "sent %d sweep message(s), %s TON%s in total; they land within a few blocks\n", sent, tlb.FromNanoTON(total).String(), jt)
	}
	return errors.Join(errs...)
}

// jettonMove is one jetton wallet's balance to sweep.
type jettonMove struct {
	wallet JettonWallet
	units  *big.Int
}

func maxBig(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// formatUnits renders a jetton amount in whole tokens (USDT: 6 decimals).
func formatUnits(units *big.Int, asset string) string {
	if asset != AssetUSDT {
		return units.String()
	}
	return tlb.MustFromNano(units, USDTDecimals).String()
}

// jettonBalance reads the balance of jetton wallet jw, owned by owner, from
// its state at block head (proven, like every account state). An account
// that does not exist or is not deployed holds nothing.
func jettonBalance(ctx context.Context, api ChainAPI, head *tonapi.BlockIDExt, jw JettonWallet, owner *address.Address) (*big.Int, error) {
	wa, err := ParseAddress(jw.Wallet)
	if err != nil {
		return nil, err
	}
	acc, err := api.GetAccount(ctx, head, wa)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if acc == nil || !acc.IsActive || acc.State == nil || acc.State.Status != tlb.AccountStatusActive || acc.Data == nil {
		return new(big.Int), nil
	}
	master, err := ParseAddress(jw.Master)
	if err != nil {
		return nil, err
	}
	return JettonWalletBalance(acc.Data, owner, master)
}

// JettonWalletBalance reads a jetton wallet's balance from its data, for
// the two layouts that exist (ResolveJettonWallet): TEP-74's (balance owner
// master wallet_code) and Tether's USD₮ (status:uint4 balance owner master).
// The layout whose owner and master match is the one; none matching is an
// error (a wallet that is not what was pinned).
func JettonWalletBalance(data *cell.Cell, owner, master *address.Address) (*big.Int, error) {
	match := func(o, m *address.Address) bool {
		return o != nil && m != nil && o.Equals(owner) && m.Equals(master)
	}
	if s := data.BeginParse(); true {
		bal, e1 := s.LoadBigCoins()
		o, e2 := s.LoadAddr()
		m, e3 := s.LoadAddr()
		if e1 == nil && e2 == nil && e3 == nil && match(o, m) {
			return bal, nil
		}
	}
	if s := data.BeginParse(); true {
		_, e0 := s.LoadUInt(4)
		bal, e1 := s.LoadBigCoins()
		o, e2 := s.LoadAddr()
		m, e3 := s.LoadAddr()
		if e0 == nil && e1 == nil && e2 == nil && e3 == nil && match(o, m) {
			return bal, nil
		}
	}
	return nil, fmt.Errorf("jetton wallet data of no known layout with owner %s and master %s", owner.StringRaw(), master.StringRaw())
}

// JettonSweepBody is the jetton transfer (TEP-74 transfer, op 0x0f8a7ea5,
// built with tonutils-go's jetton.TransferPayload) that moves units from a
// top-up wallet's jetton wallet to dest's (the service wallet): excess TON
// back to dest, no forward TON (no notification), the sweep comment as the
// forward payload.
func JettonSweepBody(queryID uint64, units *big.Int, dest *address.Address) (*cell.Cell, error) {
	comment, err := wallet.CreateCommentCell(SweepComment)
	if err != nil {
		return nil, err
	}
	return tlb.ToCell(jetton.TransferPayload{QueryID: queryID, Amount: tlb.FromNanoTON(units), Destination: dest,
		ResponseDestination: dest, ForwardTONAmount: tlb.ZeroCoins, ForwardPayload: comment})
}

// sweepMessage signs one message from sub: the jetton transfers of jettons
// (to dest's jetton wallets), then a transfer of amount to dest (none when
// amount is nil). The wallet's seqno is read from the account data already
// fetched (no get-method call, so ChainAPI stays small); an undeployed
// wallet sends with its state init.
func sweepMessage(ctx context.Context, sub *wallet.Wallet, acc *tlb.Account, dest *address.Address, amount *big.Int, jettons []jettonMove) (*tlb.ExternalMessage, error) {
	deployed := acc.IsActive && acc.State != nil && acc.State.Status == tlb.AccountStatusActive
	var seqno uint32
	if deployed {
		var err error
		if seqno, err = walletSeqno(sub.GetSpec(), acc.Data); err != nil {
			return nil, err
		}
	}
	setter, ok := sub.GetSpec().(interface {
		SetSeqnoFetcher(func(ctx context.Context, subWallet uint32) (uint32, error))
	})
	if !ok {
		return nil, fmt.Errorf("wallet version %T has no seqno", sub.GetSpec())
	}
	setter.SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return seqno, nil })

	var msgs []*wallet.Message
	for i, j := range jettons {
		jw, err := ParseAddress(j.wallet.Wallet)
		if err != nil {
			return nil, err
		}
		body, err := JettonSweepBody(uint64(i), j.units, dest.Bounce(true))
		if err != nil {
			return nil, fmt.Errorf("jetton transfer: %w", err)
		}
		msgs = append(msgs, &wallet.Message{
			Mode: wallet.PayGasSeparately + wallet.IgnoreErrors,
			InternalMessage: &tlb.InternalMessage{
				IHRDisabled: true,
				Bounce:      true, // a failed jetton transfer gives the gas back
				DstAddr:     jw.Bounce(true),
				Amount:      tlb.FromNanoTON(big.NewInt(JettonSweepGasNano)),
				Body:        body,
			},
		})
	}
	if amount != nil {
		body, err := wallet.CreateCommentCell(SweepComment)
		if err != nil {
			return nil, fmt.Errorf("comment: %w", err)
		}
		msgs = append(msgs, &wallet.Message{
			Mode: wallet.PayGasSeparately + wallet.IgnoreErrors,
			InternalMessage: &tlb.InternalMessage{
				IHRDisabled: true,
				Bounce:      false,
				DstAddr:     dest.Bounce(false),
				Amount:      tlb.FromNanoTON(amount),
				Body:        body,
			},
		})
	}
	ext, err := sub.PrepareExternalMessageForMany(ctx, !deployed, msgs)
	if err != nil {
		return nil, fmt.Errorf("build message: %w", err)
	}
	return ext, nil
}

// walletSeqno reads the seqno from a wallet's persistent data:
// v4r2 starts with seqno:uint32; v5r1 with is_signature_allowed:1 then seqno:uint32.
func walletSeqno(spec any, data *cell.Cell) (uint32, error) {
	if data == nil {
		return 0, errors.New("deployed wallet without data")
	}
	s := data.BeginParse()
	switch spec.(type) {
	case *wallet.SpecV4R2:
	case *wallet.SpecV5R1Final:
		if _, err := s.LoadUInt(1); err != nil {
			return 0, fmt.Errorf("wallet data: %w", err)
		}
	default:
		return 0, fmt.Errorf("unsupported wallet version %T", spec)
	}
	v, err := s.LoadUInt(32)
	if err != nil {
		return 0, fmt.Errorf("wallet data seqno: %w", err)
	}
	return uint32(v), nil
}
