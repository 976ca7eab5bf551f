package ton

import (
	"encoding/base64"
	"fmt"

	"github.com/xssnick/tonutils-go/ton/wallet"
)

// CommentBOC is the message body of a text comment (op 0, then the text as
// a snake string) as a base64 bag of cells: the payload TON Connect asks a
// wallet to attach, so the transfer carries an order's memo exactly.
func CommentBOC(text string) (string, error) {
	c, err := wallet.CreateCommentCell(text)
	if err != nil {
		return "", fmt.Errorf("ton: comment cell: %w", err)
	}
	return base64.StdEncoding.EncodeToString(c.ToBOC()), nil
}

// ChainID is TON Connect's CHAIN of a network: "-239" for mainnet, "-3"
// for testnet and the sandbox (whose addresses are testnet's).
func ChainID(network string) string {
	if network == NetworkMainnet {
		return "-239"
	}
	return "-3"
}
