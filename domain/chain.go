package domain

import (
	"encoding/json"
	"time"
)

// SeenKind is where a chain transfer's money went. Written once when the
// transfer is first processed; only an operator's resolution of a parked
// transfer rewrites it (from SeenParked).
type SeenKind string

// Seen kinds.
const (
	SeenOrder     SeenKind = "order"     // credited to an order (RefID = order id)
	SeenLedger    SeenKind = "ledger"    // credited to a balance (RefID = ledger id)
	SeenUnmatched SeenKind = "unmatched" // kept for the operator (RefID = unmatched id)
	SeenIgnored   SeenKind = "ignored"   // bounced or outgoing
	// SeenParked: the transfer's processing failed and it is kept for the
	// operator as a parked transfer (RefID = parked id); neither credited
	// nor lost. Retrying or assigning it rewrites the seen record to where
	// the money went.
	SeenParked SeenKind = "parked"
)

// SeenTx records that a chain transaction hash was processed, and where its
// money went. Its presence makes every replay a no-op. Only shop writes it,
// in the transaction that accounts the transfer.
type SeenTx struct {
	Hash       string   `json:"hash"`
	Kind       SeenKind `json:"kind"`
	RefID      int64    `json:"ref_id,omitempty"`
	AmountNano int64    `json:"amount_nano"`
	// Currency is USDT for a jetton transfer, whose amount is AmountUSDT
	// (USDT units); empty for TON.
	Currency   Currency  `json:"currency,omitempty"`
	AmountUSDT int64     `json:"amount_usdt,omitempty"`
	SeenAt     time.Time `json:"seen_at"`
	// Split records a transfer credited partly to an order and partly to a
	// ledger row (overpayment): the ledger id of the excess.
	ExtraLedgerID int64 `json:"extra_ledger_id,omitempty"`
}

// Unmatched is an incoming transfer that matched no order or partner: kept
// for the operator, never dropped. Only shop writes it; an operator assigns
// it once.
type Unmatched struct {
	ID         int64     `json:"id"`
	TxHash     string    `json:"tx_hash"`
	LT         uint64    `json:"lt"`
	ChainTime  time.Time `json:"chain_time"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	AmountNano int64     `json:"amount_nano"`
	// Currency is USDT for jettons that arrived in our jetton wallet (To is
	// its owner), AmountUSDT their amount in USDT units; empty for TON.
	Currency   Currency   `json:"currency,omitempty"`
	AmountUSDT int64      `json:"amount_usdt,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	PayloadHex string     `json:"payload_hex,omitempty"`
	SeenAt     time.Time  `json:"seen_at"`
	AssignedAt *time.Time `json:"assigned_at,omitempty"`
	// AssignedLedgerID is the ledger row created when the operator assigned it.
	AssignedLedgerID int64 `json:"assigned_ledger_id,omitempty"`
}

// Resolution is how an operator resolved a parked transfer.
type Resolution string

// Parked resolutions.
const (
	ParkedRetried  Resolution = "retried"  // the payment rules ran again and accounted it
	ParkedAssigned Resolution = "assigned" // an operator credited it to a balance
)

// Parked is an incoming chain transfer whose processing failed with a
// per-transfer error (see shop.ApplyBatch): recorded, with the error, in the
// transaction of its batch, so the rest of the batch and every later batch go
// on. Only shop writes it; an operator resolves it exactly once.
type Parked struct {
	ID     int64  `json:"id"`
	TxHash string `json:"tx_hash"`
	// The transfer as the chain source delivered it.
	LT         uint64    `json:"lt"`
	ChainTime  time.Time `json:"chain_time"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to"`
	AmountNano int64     `json:"amount_nano"`
	Comment    string    `json:"comment,omitempty"`
	PayloadHex string    `json:"payload_hex,omitempty"`
	Incoming   bool      `json:"incoming"`
	Bounced    bool      `json:"bounced,omitempty"`
	// Jetton is the transfer's jetton part as the source delivered it (JSON
	// of ton.JettonTransfer; only shop reads it), JettonNotice its flag.
	Jetton       json.RawMessage `json:"jetton,omitempty"`
	JettonNotice bool            `json:"jetton_notice,omitempty"`

	Error    string    `json:"error"` // why processing failed
	ParkedAt time.Time `json:"parked_at"`
	// FailedAttempts counts operator retries and assignments that failed;
	// LastAttemptError is the latest one's error.
	FailedAttempts   int    `json:"failed_attempts,omitempty"`
	LastAttemptError string `json:"last_attempt_error,omitempty"`

	// Set once, when an operator resolves it (ParkedRetried | ParkedAssigned):
	// where the money went, as its seen record says (kind and ref id).
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	Resolution    Resolution `json:"resolution,omitempty"`
	ResolvedKind  SeenKind   `json:"resolved_kind,omitempty"`
	ResolvedRefID int64      `json:"resolved_ref_id,omitempty"`
}

// Open reports whether the transfer still waits for the operator.
func (p *Parked) Open() bool { return p.ResolvedAt == nil }

// SandboxTx is one simulated chain transaction in sandbox mode, as the
// sandbox chain (ton.Sandbox) persists it; append-only.
type SandboxTx struct {
	Seq  uint64 `json:"seq"`
	Data []byte `json:"data"`
}

// Amount is the seen transfer's currency and amount.
func (s *SeenTx) Amount() (Currency, int64) {
	if s.Currency == CurrencyUSDT {
		return CurrencyUSDT, s.AmountUSDT
	}
	return CurrencyTON, s.AmountNano
}

// Amount is the unmatched deposit's currency and amount.
func (u *Unmatched) Amount() (Currency, int64) {
	if u.Currency == CurrencyUSDT {
		return CurrencyUSDT, u.AmountUSDT
	}
	return CurrencyTON, u.AmountNano
}
