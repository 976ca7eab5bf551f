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
	// LedgerWrongCurrency: a payment for an order in the other currency
	// (USDT sent to a TON order or the reverse), credited to the balance in
	// the currency it came in; the order is unchanged.
	LedgerWrongCurrency LedgerType = "wrong_currency"
)

// LedgerEntry is one movement of a partner balance; append-only. Only shop
// appends rows; the store assigns ID and the balance after with the
// partner's balance in the row's currency, at once. A row moves one
// currency: TON rows use AmountNano/BalanceAfterNano, USDT rows
// AmountUSDT/BalanceAfterUSDT (USDT units); the other pair is 0.
type LedgerEntry struct {
	ID               int64      `json:"id"`
	PartnerID        int64      `json:"partner_id"`
	Type             LedgerType `json:"type"`
	Currency         Currency   `json:"currency"`
	AmountNano       int64      `json:"amount_nano"` // signed: debits are negative
	BalanceAfterNano int64      `json:"balance_after_nano"`
	AmountUSDT       int64      `json:"amount_usdt,omitempty"`
	BalanceAfterUSDT int64      `json:"balance_after_usdt,omitempty"`
	OrderID          int64      `json:"order_id,omitempty"`
	TxHash           string     `json:"tx_hash,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
}

// Amount is the row's currency, signed amount and balance after (nanotons
// or USDT units).
func (e *LedgerEntry) Amount() (currency Currency, amount, balanceAfter int64) {
	if e.Currency == CurrencyUSDT {
		return CurrencyUSDT, e.AmountUSDT, e.BalanceAfterUSDT
	}
	return CurrencyTON, e.AmountNano, e.BalanceAfterNano
}
