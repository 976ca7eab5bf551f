package fragment

import (
	"context"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Payer is the service wallet as the provider uses it: it describes itself
// for TON Connect, reports its balance, sends one message at a time and finds
// out what became of a message on chain. WalletPayer implements it with
// tonutils-go; tests use a fake.
type Payer interface {
	// Account is the TON Connect account of the paying wallet, sent to
	// Fragment with get*Link.
	Account() Account
	// Balance is the wallet's balance in nanotons.
	Balance(ctx context.Context) (int64, error)
	// Send builds and signs the external message carrying m, calls record
	// with what identifies it, and only when record returns nil broadcasts
	// it. It returns without waiting for the chain. When record fails
	// nothing is broadcast. An error after record succeeded means the message
	// may or may not be on its way: use Lookup. When the wallet, in the view
	// the message is signed at, holds less than AmountNano + ReserveNano,
	// nothing is signed and the error is a *fulfil.Hold (HoldFunds).
	Send(ctx context.Context, m Message, record func(context.Context, SentMessage) error) (SentMessage, error)
	// Resend broadcasts the same signed message again (harmless: the
	// wallet's seqno lets it execute at most once).
	Resend(ctx context.Context, s SentMessage) error
	// Lookup tells what happened to s on chain, judged in chain time (see
	// expiredInView): Outcome.ChainTime must be set.
	Lookup(ctx context.Context, s SentMessage) (Outcome, error)
}

// Account is a TON Connect wallet account (the JSON Fragment expects in the
// get*Link "account" field).
type Account struct {
	Address         string `json:"address"`         // raw "0:<hex>"
	PublicKey       string `json:"publicKey"`       // hex
	Chain           string `json:"chain"`           // "-239" mainnet, "-3" testnet
	WalletStateInit string `json:"walletStateInit"` // base64 BOC of the wallet's StateInit
}

// Message is one transfer from the service wallet.
type Message struct {
	To         *address.Address
	AmountNano int64
	Payload    *cell.Cell // forwarded as is
	// ValidUntil bounds the wallet message's own expiry (Fragment's link
	// validUntil); the payer may choose an earlier one.
	ValidUntil time.Time
	// ReserveNano is what the wallet must hold beyond AmountNano (fees).
	ReserveNano int64
}

// SentMessage identifies a signed external message of the service wallet. It
// is persisted before broadcasting, so after a crash the payment can be
// looked up instead of being made again.
type SentMessage struct {
	Wallet      string `json:"wallet"`       // raw address of the paying wallet
	Seqno       uint32 `json:"seqno"`        // wallet seqno the message uses
	ExtHash     string `json:"ext_hash"`     // hex hash of the external message body
	BOC         string `json:"boc"`          // base64 BOC of the signed external message
	ValidUntil  int64  `json:"valid_until"`  // unix seconds; the message cannot execute later
	AfterLT     uint64 `json:"after_lt"`     // wallet's last tx lt before sending (lookup bound)
	To          string `json:"to"`           // raw destination
	AmountNano  int64  `json:"amount_nano"`  // amount of the internal message
	PayloadHash string `json:"payload_hash"` // hex hash of the payload cell
	PreparedAt  int64  `json:"prepared_at"`  // unix seconds
	// BouncePfx/BounceBits: the first bits of the payload, which a bounce
	// of this transfer carries after 0xffffffff (hex, bit count).
	BouncePfx  string `json:"bounce_pfx,omitempty"`
	BounceBits int    `json:"bounce_bits,omitempty"`
}

// Status of a sent message on chain.
type Status int

// Statuses Lookup reports.
const (
	// StatusPending: not executed yet and still able to execute.
	StatusPending Status = iota
	// StatusConfirmed: executed; the transfer left the wallet and no bounce
	// has come back (so far).
	StatusConfirmed
	// StatusBounced: the transfer came back bounced: Fragment did not take it.
	StatusBounced
	// StatusFailed: executed but no transfer left (e.g. the balance was too
	// low when it ran): nothing was paid.
	StatusFailed
	// StatusExpired: never executed and never will (expired, or the wallet's
	// seqno moved past it): nothing was paid.
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

// Outcome is what Lookup found.
type Outcome struct {
	Status Status
	TxHash string    // hex hash of the wallet transaction that executed the message
	LT     uint64    // its logical time
	Time   time.Time // its chain time
	Detail string    // human explanation for failures and held lookups
	// ChainTime is how far the view the outcome was read from reaches, in
	// chain time. The bounce window and expiry are measured against it.
	ChainTime time.Time
	// Behind: pending only because the view is behind. By the local clock
	// the message expired (valid_until + margin has passed) but the view's
	// chain time has not reached that point, so nothing can be concluded;
	// a refund now could refund a payment that executed.
	Behind bool
}
