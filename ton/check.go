package ton

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
)

// TonCheck prints what an operator needs to know before trusting the real
// chain: the network, the service wallet (both forms) and its balance, the
// current masterchain block and how old it is (liteserver lag), and where
// the listener's stored cursor stands behind it. cursor is the value the
// shop stored ("" when the listener never ran).
func TonCheck(ctx context.Context, api ChainAPI, keys *Keys, cursor string, w io.Writer) error {
	head, err := api.GetMasterchainInfo(ctx)
	if err != nil {
		return fmt.Errorf("ton-check: masterchain info: %w", err)
	}
	data, err := api.GetBlockData(ctx, head)
	if err != nil {
		return fmt.Errorf("ton-check: masterchain block %d: %w", head.SeqNo, err)
	}
	headTime := time.Unix(int64(data.BlockInfo.GenUtime), 0).UTC()
	now := time.Now()

	acc, err := api.GetAccount(ctx, head, keys.Wallet().WalletAddress())
	if err != nil {
		return fmt.Errorf("ton-check: service wallet state: %w", err)
	}
	balance, state := accountBalance(acc)

	p := func(k, format string, a ...any) {
		fmt.Fprintf(w, "%-18s "+format+"\n", append([]any{k + ":"}, a...)...)
	}
	p("network", "%s", keys.Network())
	p("service wallet", "%s", keys.ServiceAddress())
	p("  raw", "%s", keys.ServiceAddressRaw())
	p("  balance", "%s TON (%s nanoton, %s)", tlb.FromNanoTON(balance).String(), balance.String(), state)
	p("masterchain", "seqno %d at %s (%.0f s ago)", head.SeqNo, headTime.Format(time.RFC3339), now.Sub(headTime).Seconds())

	seq, at, ok, err := CursorInfo(cursor)
	switch {
	case err != nil:
		p("listener cursor", "%q is unreadable: %v", cursor, err)
	case !ok:
		p("listener cursor", "none (the listener has not recorded a block yet)")
	default:
		behind := int64(head.SeqNo) - int64(seq)
		p("listener cursor", "%s (seqno %d at %s)", cursor, seq, at.Format(time.RFC3339))
		p("listener lag", "%d blocks, %.0f s behind the chain", behind, headTime.Sub(at).Seconds())
	}
	return nil
}

// accountBalance returns an account's balance in nanotons and its status.
func accountBalance(acc *tlb.Account) (*big.Int, string) {
	if acc == nil || !acc.IsActive || acc.State == nil {
		return new(big.Int), "not deployed, no balance"
	}
	status := "active"
	if acc.State.Status != tlb.AccountStatusActive {
		status = string(acc.State.Status)
	}
	return acc.State.Balance.Nano(), status
}
