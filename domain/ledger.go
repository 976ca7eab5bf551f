package domain

import "time"

// LedgerType is why a partner's balance moved. Set when the row is
// appended; rows are never changed.
type LedgerType string

// Ledger row types.
const (
	LedgerTopup        LedgerType = "topup"         // a transfer to the partner's top-up address
	LedgerOrderPayment LedgerType = "order_payment" // a balance order paid (negative)
	LedgerOverpayment  LedgerType = "overpayment"   // what a transfer paid beyond its order's price
	LedgerLatePayment  LedgerType = "late_payment"  // a transfer for an order no longer payable
	LedgerRefund       LedgerType = "refund"        // a failed delivery's price given back
	LedgerAdjustment   LedgerType = "adjustment"    // an operator's correction
)

// LedgerEntry is one movement of a partner balance; append-only. Only shop
// appends rows; the store assigns ID and BalanceAfterNano with the partner's
// balance, at once.
type LedgerEntry struct {
	ID               int64      `json:"id"`
	PartnerID        int64      `json:"partner_id"`
	Type             LedgerType `json:"type"`
	AmountNano       int64      `json:"amount_nano"` // signed: debits are negative
	BalanceAfterNano int64      `json:"balance_after_nano"`
	OrderID          int64      `json:"order_id,omitempty"`
	TxHash           string     `json:"tx_hash,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
}
