package domain

import "time"

// PayerBatch is one signed external message of the service wallet carrying
// one or more Fragment payments (fulfil/fragment). It is written, with each
// of its PayerMessages, in one transaction before the message is broadcast,
// so after a crash every order's payment is looked up on chain instead of
// being made again. Only the Fragment provider writes it.
type PayerBatch struct {
	ID         int64     `json:"id"`
	Wallet     string    `json:"wallet"`      // raw address of the paying wallet
	Seqno      uint32    `json:"seqno"`       // wallet seqno the message uses
	ExtHash    string    `json:"ext_hash"`    // hex hash of the external message body
	BOC        string    `json:"boc"`         // base64 BOC of the signed external message
	ValidUntil int64     `json:"valid_until"` // unix seconds; it cannot run later
	AfterLT    uint64    `json:"after_lt"`    // the wallet's last transaction lt when signed
	CreatedAt  time.Time `json:"created_at"`
	Messages   int       `json:"messages"`   // payments it carries
	TotalNano  int64     `json:"total_nano"` // their sum
	FeeNano    int64     `json:"fee_nano"`   // the fee counted for it in the balance check
	// Set once every payment of the batch is settled.
	SettledAt *time.Time `json:"settled_at,omitempty"`
	// TxHash is the wallet transaction that ran the message (hex); empty
	// when it never ran.
	TxHash string `json:"tx_hash,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Open reports whether some payment of the batch is not settled yet.
func (b *PayerBatch) Open() bool { return b.SettledAt == nil }

// Outcomes of a PayerMessage.
const (
	PaymentPending = ""        // not settled yet
	PaymentPaid    = "paid"    // Fragment's account took it
	PaymentBounced = "bounced" // Fragment's account refused it; the TON came back
	PaymentUnpaid  = "unpaid"  // it never left the wallet (batch never ran, or this message was not sent)
)

// PayerMessage is one order's payment inside a PayerBatch, exactly as
// signed: position, destination, amount and Fragment's payload.
type PayerMessage struct {
	BatchID int64  `json:"batch_id"`
	Index   int    `json:"index"` // position in the external message, from 0
	OrderID int64  `json:"order_id"`
	Kind    Kind   `json:"kind"`
	ReqID   string `json:"req_id"` // Fragment's request
	// The message.
	To          string `json:"to"` // raw destination
	AmountNano  int64  `json:"amount_nano"`
	Payload     string `json:"payload"`      // base64 BOC as Fragment gave it
	PayloadHash string `json:"payload_hash"` // hex
	// LinkValidUntil is the Fragment link's validUntil (unix seconds).
	LinkValidUntil int64 `json:"link_valid_until"`
	// ConfirmMethod and ConfirmParams: what Fragment asked to be posted
	// back after signing (best effort).
	ConfirmMethod string            `json:"confirm_method,omitempty"`
	ConfirmParams map[string]string `json:"confirm_params,omitempty"`
	// Outcome (PaymentPaid, …) once settled.
	Outcome    string     `json:"outcome,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	DestTxHash string     `json:"dest_tx_hash,omitempty"` // Fragment's transaction (hex)
	Detail     string     `json:"detail,omitempty"`
}
