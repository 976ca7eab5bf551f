// Package ton is everything about the TON chain: addresses and wallets
// derived from the service seed, the Transfer values the shop matches, and the
// chain sources that produce them (the sandbox chain here; the liteserver
// listener for testnet/mainnet). Sources only report what happened on chain;
// deciding what a transfer means is the shop's job.
package ton

import (
	"context"
	"time"
)

// Transfer is one transaction on a watched account, as the shop sees it.
type Transfer struct {
	Hash       string    `json:"hash"` // 64 hex chars, the transaction hash
	LT         uint64    `json:"lt"`
	ChainTime  time.Time `json:"chain_time"` // the transaction's Now
	From       string    `json:"from,omitempty"`
	To         string    `json:"to"`
	AmountNano int64     `json:"amount_nano"`
	Comment    string    `json:"comment,omitempty"`
	// PayloadHex is the raw message body when it is not a text comment.
	PayloadHex string `json:"payload_hex,omitempty"`
	Incoming   bool   `json:"incoming"`
	// Bounced: the money did not stay with us — the message is a bounce of
	// one of our sends, our account bounced it back, or (jettons) the
	// receiving transaction failed.
	Bounced bool `json:"bounced,omitempty"`
	// Jetton is set when this is a transaction of one of our jetton wallets
	// (see JettonTransferFromTx): To is then that wallet's owner, AmountNano
	// the TON the message carried (fees, never credited) and Jetton.Units
	// the jettons. Nil for TON.
	Jetton *JettonTransfer `json:"jetton,omitempty"`
	// JettonNotice: the body is a jetton transfer_notification. Never a
	// payment: any jetton wallet, a fake jetton's too, can send one.
	JettonNotice bool `json:"jetton_notice,omitempty"`
}

// Asset is what the transfer moved: "TON", or the jetton's asset name.
func (t Transfer) Asset() string {
	if t.Jetton != nil {
		return t.Jetton.Asset
	}
	return "TON"
}

// Batch is a group of transfers in chain order and the cursor to resume from
// once all of them are recorded.
type Batch struct {
	Transfers []Transfer
	Cursor    string
}

// Status is what a source reports for health.
type Status struct {
	Network       string    `json:"network"`
	Connected     bool      `json:"connected"`
	LastBlock     uint32    `json:"last_block"`
	LastBlockTime time.Time `json:"last_block_time"`
	LagSeconds    float64   `json:"lag_seconds"`
	Error         string    `json:"error,omitempty"`
	// ProofFailures counts liteserver answers that failed verification
	// since start (none of them was used).
	ProofFailures uint64 `json:"proof_failures"`
	// LastProofFailure is the latest such failure, with its time.
	LastProofFailure string `json:"last_proof_failure,omitempty"`
	// HistoryGap names account history backfill could not read; the cursor
	// is held before it until it can.
	HistoryGap string `json:"history_gap,omitempty"`
	// Alert, when set, is why the source needs the operator even though it
	// may be connected and current: a held history gap, or a failed
	// verification within ProofAlertWindow. The shop reports degraded.
	Alert string `json:"alert,omitempty"`
}

// Source streams incoming transfers. Stream calls fn with batches after
// cursor, in chain order, and only moves on when fn returns nil; fn durably
// records the batch and its cursor, so a crash at any point replays at most a
// batch (crediting is idempotent by hash). Stream returns when ctx ends.
type Source interface {
	Stream(ctx context.Context, cursor string, fn func(context.Context, Batch) error) error
	Status() Status
}
