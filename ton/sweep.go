package ton

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// DefaultSweepReserveNano is a keep-alive reserve that covers the sweep's own
// fees (a first send also deploys the wallet) and some storage rent.
const DefaultSweepReserveNano = 50_000_000 // 0.05 TON

// SweepComment is the comment of a sweep transfer. The listener reports it
// as not incoming anyway (its sender is a watched top-up wallet).
const SweepComment = "openmoney sweep"

// Sweep moves the balance above reserveNano of each top-up subwallet to the
// service wallet, printing one line per wallet. With dryRun it only prints.
// Partners' balances live in the ledger, not on these wallets, so a sweep
// changes no one's balance; it only gathers the coins where the service
// spends them.
//
// Each message pays its fees from the reserve (mode 1+2) and is sent
// non-bounceable, so it lands even before the service wallet is deployed.
// Sweep does not wait for confirmation: a second run before the first is
// committed would reuse the wallet's seqno and be rejected by the chain, not
// pay twice. Errors for single wallets are collected and returned together.
func Sweep(ctx context.Context, api ChainAPI, keys *Keys, subwalletIDs []uint32, reserveNano int64, dryRun bool, w io.Writer) error {
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
	var errs []error
	sent := 0

	for _, id := range subwalletIDs {
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
		if balance.Cmp(reserve) <= 0 {
			fmt.Fprintf(w, "subwallet %d %s: %s TON (%s), nothing above the reserve\n", id, keys.Friendly(addr), tlb.FromNanoTON(balance).String(), state)
			continue
		}
		amount := new(big.Int).Sub(balance, reserve)
		total.Add(total, amount)
		fmt.Fprintf(w, "subwallet %d %s: %s TON, sweep %s TON (%s nanoton) to %s\n", id, keys.Friendly(addr),
			tlb.FromNanoTON(balance).String(), tlb.FromNanoTON(amount).String(), amount.String(), keys.ServiceAddress())
		if dryRun {
			continue
		}
		ext, err := sweepMessage(ctx, sub, acc, dest, amount)
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

	if dryRun {
		fmt.Fprintf(w, "dry run: would sweep %s TON in total; nothing was sent\n", tlb.FromNanoTON(total).String())
	} else {
		fmt.Fprintf(w, "sent %d sweep message(s), %s TON in total; they land within a few blocks\n", sent, tlb.FromNanoTON(total).String())
	}
	return errors.Join(errs...)
}

// sweepMessage signs a transfer of amount from sub to dest. The wallet's
// seqno is read from the account data already fetched (no get-method call,
// so ChainAPI stays small); an undeployed wallet sends with its state init.
func sweepMessage(ctx context.Context, sub *wallet.Wallet, acc *tlb.Account, dest *address.Address, amount *big.Int) (*tlb.ExternalMessage, error) {
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

	to := dest.Bounce(false)
	body, err := wallet.CreateCommentCell(SweepComment)
	if err != nil {
		return nil, fmt.Errorf("comment: %w", err)
	}
	msg := &wallet.Message{
		Mode: wallet.PayGasSeparately + wallet.IgnoreErrors,
		InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true,
			Bounce:      false,
			DstAddr:     to,
			Amount:      tlb.FromNanoTON(amount),
			Body:        body,
		},
	}
	ext, err := sub.PrepareExternalMessageForMany(ctx, !deployed, []*wallet.Message{msg})
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
