package store

import "time"

// SeenParked: the transfer's processing failed and it is kept for the
// operator as a parked transfer (RefID = parked id); neither credited nor
// lost. Retrying or assigning it rewrites the seen record to where the money
// went.
const SeenParked = "parked"

// Parked resolutions.
const (
	ParkedRetried  = "retried"  // the payment rules ran again and accounted it
	ParkedAssigned = "assigned" // an operator credited it to a balance
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

	Error    string    `json:"error"` // why processing failed
	ParkedAt time.Time `json:"parked_at"`
	// FailedAttempts counts operator retries and assignments that failed;
	// LastAttemptError is the latest one's error.
	FailedAttempts   int    `json:"failed_attempts,omitempty"`
	LastAttemptError string `json:"last_attempt_error,omitempty"`

	// Set once, when an operator resolves it (ParkedRetried | ParkedAssigned):
	// where the money went, as its seen record says (kind and ref id).
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	Resolution    string     `json:"resolution,omitempty"`
	ResolvedKind  string     `json:"resolved_kind,omitempty"`
	ResolvedRefID int64      `json:"resolved_ref_id,omitempty"`
}

// Open reports whether the transfer still waits for the operator.
func (p *Parked) Open() bool { return p.ResolvedAt == nil }

// AuditEntry is one operator action through the admin routes (mark an order
// delivered or failed, retry or assign a parked transfer, assign an unmatched
// deposit), written in the transaction of the change it records; append-only.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`            // the operator's name as given, "admin" when none
	Remote string    `json:"remote,omitempty"` // client address of the request
	Action string    `json:"action"`           // e.g. order.mark_delivered
	// What the action touched (0 when not applicable).
	OrderID     int64  `json:"order_id,omitempty"`
	PartnerID   int64  `json:"partner_id,omitempty"`
	ParkedID    int64  `json:"parked_id,omitempty"`
	UnmatchedID int64  `json:"unmatched_id,omitempty"`
	LedgerID    int64  `json:"ledger_id,omitempty"`
	Detail      string `json:"detail,omitempty"` // the operator's reason, note or reference
}
