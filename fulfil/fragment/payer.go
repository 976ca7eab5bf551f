package fragment

import (
	"context"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Payer is the service wallet as the provider uses it: it describes itself
// for TON Connect, reports its balance, sends batches of payments (one
// signed wallet message carrying up to MaxMessages of them) one batch at a
// time, and finds out what became of each payment on chain. WalletPayer
// implements it with tonutils-go; tests use a fake.
type Payer interface {
	// Account is the TON Connect account of the paying wallet, sent to
	// Fragment with get*Link.
	Account() Account
	// Balance is the wallet's balance in nanotons.
	Balance(ctx context.Context) (int64, error)
	// Seqno is the wallet's seqno at the newest view (proven): how many
	// messages it has ever run. 0 before it is deployed.
	Seqno(ctx context.Context) (uint32, error)
	// MaxMessages is how many payments one wallet message may carry.
	MaxMessages() int
	// Fee is an upper bound, in nanotons, of what a wallet message carrying
	// n payments costs beyond their amounts (import, gas, forwarding).
	Fee(n int) int64
	// Ready blocks until the previous batch has run or can no longer run
	// (judged in chain time), so the next one may be signed.
	Ready(ctx context.Context) error
	// SendBatch waits like Ready, reads the wallet at one view and takes the
	// longest prefix of ms whose amounts, plus Fee for them, plus reserve,
	// the balance covers; it signs one external message carrying them in
	// order, whose valid_until ends before every included message's
	// ValidUntil, calls record with what identifies it, and only when record
	// returns nil broadcasts it. It returns without waiting for the chain;
	// len(SentBatch.Messages) says how many of ms it carries. When record
	// fails nothing is broadcast. An error after record succeeded means the
	// message may or may not be on its way: use Lookup. When not even the
	// first message is covered, nothing is signed and the error is a
	// *fulfil.Hold (HoldFunds).
	SendBatch(ctx context.Context, ms []Message, reserve int64, record func(context.Context, SentBatch) error) (SentBatch, error)
	// Resend broadcasts the same signed message again (harmless: the
	// wallet's seqno lets it run at most once).
	Resend(ctx context.Context, b SentBatch) error
	// Lookup tells, from one view of the chain, what became of each batch
	// and each of its payments, judged in chain time (see expiredInView).
	Lookup(ctx context.Context, bs []SentBatch) ([]BatchOutcome, error)
	// Resume tells the payer about a batch recorded before a restart that
	// may still run, so the next batch waits for it.
	Resume(b SentBatch)
}

// Account is a TON Connect wallet account (the JSON Fragment expects in the
// get*Link "account" field).
type Account struct {
	Address         string `json:"address"`         // raw "0:<hex>"
	PublicKey       string `json:"publicKey"`       // hex
	Chain           string `json:"chain"`           // "-239" mainnet, "-3" testnet
	WalletStateInit string `json:"walletStateInit"` // base64 BOC of the wallet's StateInit
}

// Message is one payment from the service wallet.
type Message struct {
	To         *address.Address
	AmountNano int64
	Payload    *cell.Cell // forwarded as is
	// ValidUntil bounds the wallet message's own expiry (Fragment's link
	// validUntil); the payer may choose an earlier one.
	ValidUntil time.Time
}

// SentBatch identifies a signed external message of the service wallet and
// the payments it carries. It is recorded before broadcasting, so after a
// crash the payments are looked up instead of being made again.
type SentBatch struct {
	Wallet     string     // raw address of the paying wallet
	Seqno      uint32     // wallet seqno the message uses
	ExtHash    string     // hex hash of the external message body
	BOC        string     // base64 BOC of the signed external message
	ValidUntil int64      // unix seconds; the message cannot run later
	AfterLT    uint64     // wallet's last tx lt before sending (lookup bound)
	PreparedAt int64      // unix seconds
	FeeNano    int64      // Fee counted in the balance check
	Balance    int64      // the wallet balance it was signed against
	Messages   []SentItem // in the order of the wallet message
}

// SentItem is one payment of a SentBatch.
type SentItem struct {
	To          string // raw destination
	AmountNano  int64
	PayloadHash string // hex hash of the payload cell
	// BouncePfx/BounceBits: the first bits of the payload, which a bounce
	// of this payment carries after 0xffffffff (hex, bit count).
	BouncePfx  string
	BounceBits int
}

// Status of a batch or of one of its payments.
type Status int

// Statuses Lookup reports.
const (
	// StatusPending: batch: not run yet and still able to run; payment:
	// sent, and the destination's answer not seen yet.
	StatusPending Status = iota
	// StatusConfirmed: batch: it ran; payment: the destination took it.
	StatusConfirmed
	// StatusBounced: the payment came back bounced: Fragment did not take it.
	StatusBounced
	// StatusFailed: the batch ran but this payment did not leave the wallet
	// (the balance did not cover it when it ran): nothing was paid.
	StatusFailed
	// StatusExpired: the batch never ran and never will: the wallet's seqno
	// did not move past it and it expired in chain time, or the message
	// that took its seqno is another batch of this payer's (signed after it
	// expired). Nothing was paid. A seqno that moved past without the
	// batch's transaction in sight is never "expired" (see Hold).
	StatusExpired
)

func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusConfirmed:
		return "confirmed"
	case StatusBounced:
		return "bounced"
	case StatusFailed:
		return "failed"
	case StatusExpired:
		return "expired"
	}
	return "unknown"
}

// BatchOutcome is what Lookup found about one batch.
type BatchOutcome struct {
	// Status: StatusConfirmed (it ran: Items say what became of each
	// payment), StatusExpired (never runs: nothing was paid) or
	// StatusPending (possibly held: Hold).
	Status Status
	TxHash string    // hex hash of the wallet transaction that ran it
	LT     uint64    // its logical time
	Time   time.Time // its chain time
	Items  []ItemOutcome
	Detail string
	// ChainTime is how far the view the outcome was read from reaches, in
	// chain time. Expiry is measured against it.
	ChainTime time.Time
	// Hold: pending, and nothing can be concluded until a condition outside
	// the batch clears; its orders are held (a fulfil.Hold with this reason
	// and Detail), never refunded or paid again meanwhile:
	//   - fulfil.HoldChainBehind: by the local clock the message expired
	//     (valid_until + margin has passed) but the view's chain time has
	//     not reached that point; a refund now could refund a payment that
	//     ran.
	//   - fulfil.HoldWalletHistory: the wallet's seqno moved past the batch
	//     and the wallet's history that shows whether it ran cannot be read
	//     yet (a gap no liteserver serves).
	//   - fulfil.HoldWalletElsewhere: a message this payer did not sign took
	//     the batch's seqno; the batch never ran, but something else signs
	//     with the wallet's key.
	Hold string
}

// ItemOutcome is what became of one payment of a batch that ran.
type ItemOutcome struct {
	// Status: StatusConfirmed, StatusBounced, StatusFailed, or
	// StatusPending (sent; the destination's transaction not seen yet).
	Status Status
	// DestTx is the destination's transaction that took or refused it (hex),
	// when found.
	DestTx string
	Detail string
}
