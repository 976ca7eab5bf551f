package domain

import "time"

// IdemRecord is the stored outcome of a POST carrying an Idempotency-Key,
// scoped to the partner. OrderID is set (in the order's own transaction) when
// the request created an order; Status/Body hold the final response once
// known. Written by shop for the API's idempotency layer; removed after a day.
type IdemRecord struct {
	PartnerID   int64     `json:"partner_id"`
	Key         string    `json:"key"`
	Fingerprint string    `json:"fingerprint"`
	OrderID     int64     `json:"order_id,omitempty"`
	Status      int       `json:"status,omitempty"`
	Body        []byte    `json:"body,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// AuditEntry is one operator action through the admin routes or the bot
// (mark an order delivered or failed, retry or assign a parked transfer,
// assign an unmatched deposit, …), written by shop in the transaction of the
// change it records; append-only.
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
