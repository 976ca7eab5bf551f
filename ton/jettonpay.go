package ton

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/ton/wallet"
)

// Jetton payments a payer's wallet is asked to send (TON Connect).
const (
	// JettonPayForwardNano is the forward_ton_amount of a jetton payment
	// we ask for: 1 nanoton, so that our jetton wallet notifies its owner
	// with the memo (the payment itself is read from the internal_transfer
	// and counts with 0 too).
	JettonPayForwardNano = 1
	// JettonPayAttachNano is the TON attached to the payer's message to its
	// own jetton wallet: the gas and forward fees of the transfer, the
	// internal_transfer and the notification (about 0.03–0.04 TON for
	// USD₮ and the TEP-74 wallets); what is left returns to the payer as
	// excesses (response_destination).
	JettonPayAttachNano = 50_000_000
)

// JettonTransferBOC is the TEP-74 transfer body (op 0x0f8a7ea5) a payer's
// wallet sends to its own jetton wallet to pay units to the owner address
// to with memo as the forward payload's text comment; leftover TON goes back
// to responseTo (the payer). Base64 BOC, as TON Connect takes a payload.
func JettonTransferBOC(queryID uint64, units int64, to, responseTo string, memo string) (string, error) {
	if units <= 0 {
		return "", errors.New("ton: jetton transfer of a non-positive amount")
	}
	dst, err := ParseAddress(to)
	if err != nil {
		return "", fmt.Errorf("ton: jetton transfer destination: %w", err)
	}
	resp, err := ParseAddress(responseTo)
	if err != nil {
		return "", fmt.Errorf("ton: jetton transfer response destination: %w", err)
	}
	c, err := wallet.CreateCommentCell(memo)
	if err != nil {
		return "", fmt.Errorf("ton: comment cell: %w", err)
	}
	body, err := tlb.ToCell(jetton.TransferPayload{
		QueryID:             queryID,
		Amount:              tlb.FromNanoTON(big.NewInt(units)),
		Destination:         dst,
		ResponseDestination: resp,
		ForwardTONAmount:    tlb.FromNanoTONU(JettonPayForwardNano),
		ForwardPayload:      c,
	})
	if err != nil {
		return "", fmt.Errorf("ton: jetton transfer body: %w", err)
	}
	return base64.StdEncoding.EncodeToString(body.ToBOC()), nil
}
