package domain

import (
	"strconv"
	"strings"
	"time"
)

// Status is where an order stands. Only shop changes it, and only through
// its transition table (shop/transitions.go): every status change is one of
// the legal moves listed there, made in the store transaction that records
// it. The store keeps its derived queues (expiry, delivery) in step.
type Status string

// Order statuses.
const (
	StatusPendingPayment Status = "pending_payment" // created, waiting for its TON transfer
	StatusPaid           Status = "paid"            // paid in full, waiting for delivery
	StatusProcessing     Status = "processing"      // delivery under way
	StatusCompleted      Status = "completed"       // delivered (final)
	StatusFailed         Status = "failed"          // delivery failed without a refund (final)
	StatusRefunded       Status = "refunded"        // delivery failed; the price went back to the balance (final)
	StatusExpired        Status = "expired"         // not paid in time (final)
	StatusCancelled      Status = "cancelled"       // cancelled by the partner before payment (final)
)

// Kind is what an order delivers. Set at creation, never changed.
type Kind string

// Order kinds.
const (
	KindStars   Kind = "stars"
	KindPremium Kind = "premium"
)

// Method is how an order is paid. Set at creation, never changed.
type Method string

// Payment methods.
const (
	MethodTonMemo Method = "ton_memo" // a TON transfer whose comment is the order's memo
	MethodBalance Method = "balance"  // debited from the partner's balance at creation
)

// Currency is what an order is priced and paid in. Set at creation, never
// changed.
type Currency string

// Currencies.
const (
	CurrencyTON Currency = "TON"
	// CurrencyUSDT is Tether's USD₮ on TON, a jetton with 6 decimals: its
	// amounts are int64 USDT units (10^-6 USDT) end to end.
	CurrencyUSDT Currency = "USDT"
)

// Order is one Stars or Premium order. Money fields are nanotons (a USDT
// order's USDT fields: USDT units). Only shop writes it: the fields
// AsCreated copies are fixed at creation; Status moves through shop's
// transition table, and the rest records payment and delivery. A field
// added here is either set at creation (then AsCreated copies it) or later.
type Order struct {
	ID                int64    `json:"id"`
	PartnerID         int64    `json:"partner_id"`
	Status            Status   `json:"status"`
	Type              Kind     `json:"order_type"`
	StarsAmount       int64    `json:"stars_amount,omitempty"`
	PremiumMonths     int      `json:"premium_months,omitempty"`
	RecipientUsername string   `json:"recipient_username"`
	PriceNano         int64    `json:"price_nano"`
	PriceUSD          string   `json:"price_usd"`   // exact decimal
	TonUSD            string   `json:"ton_usd"`     // the rate the order was priced with
	FeePercent        string   `json:"fee_percent"` // the fee the order was priced with
	PaymentMethod     Method   `json:"payment_method"`
	PaymentCurrency   Currency `json:"payment_currency"`
	PaymentAddress    string   `json:"payment_address,omitempty"`
	// PaymentMemo is a function of ID (the shop's memo cipher), unique by
	// construction: no store indexes it.
	PaymentMemo     string     `json:"payment_memo,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	PaidAt          *time.Time `json:"paid_at,omitempty"`
	CompletedAt     *time.Time `json:"completed_at,omitempty"`
	ReceivedNano    int64      `json:"received_nano"`
	ClientReference string     `json:"client_reference,omitempty"`
	// ReturnURL is where the checkout page sends the customer back to once
	// the order is settled (the partner's shop); "" for none. Validated at
	// creation (shop.ValidReturnURL), never changed.
	ReturnURL     string `json:"return_url,omitempty"`
	FailureReason string `json:"failure_reason,omitempty"`
	// USDT orders (PaymentCurrency USDT): the price and what arrived, in
	// USDT units, and the USDT/USD rate priced with. PriceNano is then the
	// same price in TON at the order's TON rate, for reference (delivery is
	// paid in TON); ReceivedNano stays 0.
	PriceUSDT    int64  `json:"price_usdt,omitempty"`
	ReceivedUSDT int64  `json:"received_usdt,omitempty"`
	UsdtUSD      string `json:"usdt_usd,omitempty"`
	// USDTMaster is the USDT master (user-friendly form) a USDT order's
	// payment link names, as configured when it was created.
	USDTMaster string `json:"usdt_master,omitempty"`
	// PaymentTxHashes are the chain transfers credited to this order.
	PaymentTxHashes []string `json:"payment_tx_hashes,omitempty"`
	// Delivery bookkeeping, written before the provider is called so a crash
	// never delivers twice.
	DeliveryAttempts  int        `json:"delivery_attempts,omitempty"`
	DeliveryRef       string     `json:"delivery_ref,omitempty"`
	DeliveryState     string     `json:"delivery_state,omitempty"` // provider-specific progress
	NextDeliveryAt    *time.Time `json:"next_delivery_at,omitempty"`
	RefundedAt        *time.Time `json:"refunded_at,omitempty"`
	RefundLedgerID    int64      `json:"refund_ledger_id,omitempty"`
	IdempotencyKey    string     `json:"idempotency_key,omitempty"`
	DeliveryTxHash    string     `json:"delivery_tx_hash,omitempty"`
	DeliveryRequestID string     `json:"delivery_request_id,omitempty"`
}

// AsCreated is the order as its creation returned it: the fields set at
// creation, in the status it was created with (paid, at its creation, for a
// balance order; pending_payment otherwise). A request repeated with the
// same Idempotency-Key is answered with it, whatever happened to the order
// since, so the answer is the first one again.
func (o *Order) AsCreated() *Order {
	c := &Order{ID: o.ID, PartnerID: o.PartnerID, Status: StatusPendingPayment, Type: o.Type,
		StarsAmount: o.StarsAmount, PremiumMonths: o.PremiumMonths, RecipientUsername: o.RecipientUsername,
		PriceNano: o.PriceNano, PriceUSD: o.PriceUSD, TonUSD: o.TonUSD, FeePercent: o.FeePercent,
		PaymentMethod: o.PaymentMethod, PaymentCurrency: o.PaymentCurrency, PaymentAddress: o.PaymentAddress,
		PaymentMemo: o.PaymentMemo, ExpiresAt: o.ExpiresAt, CreatedAt: o.CreatedAt,
		PriceUSDT: o.PriceUSDT, UsdtUSD: o.UsdtUSD, USDTMaster: o.USDTMaster,
		ClientReference: o.ClientReference, ReturnURL: o.ReturnURL, IdempotencyKey: o.IdempotencyKey}
	if o.PaymentMethod == MethodBalance {
		c.Status, c.PaidAt = StatusPaid, &c.CreatedAt
	}
	return c
}

// DeliveryDueAt is when an order awaiting delivery (paid, processing) is
// due for its next attempt: NextDeliveryAt once an attempt set one, else
// since it was paid (CreatedAt for a record without PaidAt). The delivery
// queue is ordered by it, so the oldest due order goes first and orders not
// due yet are never read by a pass (store.OrderTx.DueDeliveries; the
// PostgreSQL index orders_delivery_due spells the same rule in SQL).
func (o *Order) DeliveryDueAt() time.Time {
	switch {
	case o.NextDeliveryAt != nil:
		return *o.NextDeliveryAt
	case o.PaidAt != nil:
		return *o.PaidAt
	}
	return o.CreatedAt
}

// Price is what o costs in its payment currency: nanotons, or USDT units
// for a USDT order.
func (o *Order) Price() int64 {
	if o.PaymentCurrency == CurrencyUSDT {
		return o.PriceUSDT
	}
	return o.PriceNano
}

// Failure splits FailureReason, "<code>: <sentence>" (the order object's
// failure_reason, as partners read it in the API and webhooks), into the
// stable code and the sentence for people; both "" when the order has none.
// A reason without a code ([a-z_] before the first ": ") is all sentence.
func (o *Order) Failure() (code, sentence string) {
	code, sentence, ok := strings.Cut(o.FailureReason, ": ")
	if !ok || code == "" || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "", strings.TrimSpace(o.FailureReason)
	}
	return code, strings.TrimSpace(sentence)
}

// Received is what arrived for o so far, in its payment currency.
func (o *Order) Received() int64 {
	if o.PaymentCurrency == CurrencyUSDT {
		return o.ReceivedUSDT
	}
	return o.ReceivedNano
}

// SetReceived sets what arrived for o, in its payment currency.
func (o *Order) SetReceived(v int64) {
	if o.PaymentCurrency == CurrencyUSDT {
		o.ReceivedUSDT = v
	} else {
		o.ReceivedNano = v
	}
}

// PaymentLink is the ton:// deep link that pays a ton_memo order ("" for
// other orders): a TON transfer of its price, or for a USDT order the jetton
// transfer wallet apps accept
// (ton://transfer/<owner>?jetton=<master>&amount=<units>&text=<memo>: the app
// finds the payer's jetton wallet and puts the memo in the forward payload).
func (o *Order) PaymentLink() string {
	if o.PaymentMethod != MethodTonMemo {
		return ""
	}
	return o.TransferLink(o.Price())
}

// TransferLink is the ton:// link paying amount (in o's currency) to o's
// payment address with its memo.
func (o *Order) TransferLink(amount int64) string {
	if o.PaymentCurrency == CurrencyUSDT {
		return "ton://transfer/" + o.PaymentAddress + "?jetton=" + o.USDTMaster + "&amount=" + strconv.FormatInt(amount, 10) + "&text=" + o.PaymentMemo
	}
	return "ton://transfer/" + o.PaymentAddress + "?amount=" + strconv.FormatInt(amount, 10) + "&text=" + o.PaymentMemo
}
