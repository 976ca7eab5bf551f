// Package view holds the JSON shapes partners receive both from the API
// (api) and in webhook events (webhook): the order and the balance
// transaction, and the rules they are rendered by. Money: a TON figure is a
// JSON number rendered exactly from integer nanotons (never a float64),
// beside the exact nanotons as a decimal string. Times are RFC 3339 UTC to
// the second; null until reached. Field order is the contract's
// (api/openapi.json).
package view

import (
	"encoding/json"
	"math/big"
	"strconv"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
)

// TON renders nanotons as an exact JSON number of TON.
func TON(nano int64) json.Number { return json.Number(money.FormatTON(nano)) }

// Nano renders nanotons as a decimal string.
func Nano(nano int64) string { return strconv.FormatInt(nano, 10) }

// USDT renders USDT units (10^-6 USDT) as an exact JSON number of USDT.
func USDT(units int64) json.Number { return json.Number(money.FormatUSDT(units)) }

// USDTPtr is USDT as a pointer (for fields null in TON objects).
func USDTPtr(units int64) *json.Number { n := USDT(units); return &n }

// NanoPtr is Nano as a pointer: an integer amount (nanotons or USDT
// units) as a decimal string, for fields null in the other currency.
func NanoPtr(v int64) *string { s := Nano(v); return &s }

// Decimal renders an exact decimal string (prices, rates, fees) as a JSON
// number; text that is not already a JSON number ("+3.6", ".5") is
// normalised exactly through big.Rat.
func Decimal(s string) json.Number {
	if IsJSONNumber(s) {
		return json.Number(s)
	}
	if r, ok := new(big.Rat).SetString(s); ok {
		return json.Number(money.Decimal(r))
	}
	return json.Number("0")
}

// IsJSONNumber reports whether s is a JSON number literal (as Decimal and
// the API's amount fields take it).
func IsJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	return json.Valid([]byte(s))
}

// Time renders t as RFC 3339 UTC to the second.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// TimePtr is Time, or null for nil.
func TimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := Time(*t)
	return &s
}

// StrPtr is s, or null for "".
func StrPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Order is the order object, fields in the contract's order (openapi.json).
type Order struct {
	ID                    int64           `json:"id"`
	Status                domain.Status   `json:"status"`
	OrderType             domain.Kind     `json:"order_type"`
	StarsAmount           *int64          `json:"stars_amount,omitempty"`
	PremiumMonths         *int            `json:"premium_months,omitempty"`
	RecipientUsername     string          `json:"recipient_username"`
	PriceTON              json.Number     `json:"price_ton"`
	PriceNanoton          string          `json:"price_nanoton"`
	PriceUSD              json.Number     `json:"price_usd"`
	PaymentMethod         domain.Method   `json:"payment_method"`
	PaymentCurrency       domain.Currency `json:"payment_currency"`
	PaymentAddress        *string         `json:"payment_address"`
	PaymentMemo           *string         `json:"payment_memo"`
	PaymentLink           *string         `json:"payment_link"`
	CheckoutURL           *string         `json:"checkout_url"`
	ReturnURL             *string         `json:"return_url"`
	ExpiresAt             *string         `json:"expires_at"`
	CreatedAt             string          `json:"created_at"`
	PaidAt                *string         `json:"paid_at"`
	CompletedAt           *string         `json:"completed_at"`
	AmountReceivedTON     json.Number     `json:"amount_received_ton"`
	AmountReceivedNanoton string          `json:"amount_received_nanoton"`
	// USDT orders only (null for TON orders): the price and what arrived,
	// as USDT numbers and exact USDT units (10^-6), and the USDT/USD rate.
	PriceUSDT               *json.Number `json:"price_usdt"`
	PriceUSDTUnits          *string      `json:"price_usdt_units"`
	AmountReceivedUSDT      *json.Number `json:"amount_received_usdt"`
	AmountReceivedUSDTUnits *string      `json:"amount_received_usdt_units"`
	UsdtUSD                 *json.Number `json:"usdt_usd"`
	ClientReference         *string      `json:"client_reference"`
	FailureReason           *string      `json:"failure_reason"`
}

// OrderOf renders o; checkoutURL is its payment page ("" for none: null).
func OrderOf(o *domain.Order, checkoutURL string) Order {
	v := Order{CheckoutURL: StrPtr(checkoutURL), ReturnURL: StrPtr(o.ReturnURL),
		ID: o.ID, Status: o.Status, OrderType: o.Type, RecipientUsername: o.RecipientUsername,
		PriceTON: TON(o.PriceNano), PriceNanoton: Nano(o.PriceNano), PriceUSD: Decimal(o.PriceUSD),
		PaymentMethod: o.PaymentMethod, PaymentCurrency: o.PaymentCurrency,
		PaymentAddress: StrPtr(o.PaymentAddress), PaymentMemo: StrPtr(o.PaymentMemo), PaymentLink: StrPtr(o.PaymentLink()),
		ExpiresAt: TimePtr(o.ExpiresAt), CreatedAt: Time(o.CreatedAt), PaidAt: TimePtr(o.PaidAt),
		CompletedAt:       TimePtr(o.CompletedAt),
		AmountReceivedTON: TON(o.ReceivedNano), AmountReceivedNanoton: Nano(o.ReceivedNano),
		ClientReference: StrPtr(o.ClientReference), FailureReason: StrPtr(o.FailureReason),
	}
	if o.PaymentCurrency == domain.CurrencyUSDT {
		v.PriceUSDT, v.PriceUSDTUnits = USDTPtr(o.PriceUSDT), NanoPtr(o.PriceUSDT)
		v.AmountReceivedUSDT, v.AmountReceivedUSDTUnits = USDTPtr(o.ReceivedUSDT), NanoPtr(o.ReceivedUSDT)
		r := Decimal(o.UsdtUSD)
		v.UsdtUSD = &r
	}
	switch o.Type {
	case domain.KindStars:
		n := o.StarsAmount
		v.StarsAmount = &n
	case domain.KindPremium:
		m := o.PremiumMonths
		v.PremiumMonths = &m
	}
	return v
}

// Ledger is one balance movement; amounts are signed (debits negative).
// A row moves one currency: a TON row has the TON fields (the USDT ones
// null), a USDT row the USDT fields (the TON ones null).
type Ledger struct {
	ID                    int64             `json:"id"`
	Type                  domain.LedgerType `json:"type"`
	Currency              domain.Currency   `json:"currency"`
	AmountTON             *json.Number      `json:"amount_ton"`
	AmountNanoton         *string           `json:"amount_nanoton"`
	BalanceAfterNanoton   *string           `json:"balance_after_nanoton"`
	AmountUSDT            *json.Number      `json:"amount_usdt"`
	AmountUSDTUnits       *string           `json:"amount_usdt_units"`
	BalanceAfterUSDTUnits *string           `json:"balance_after_usdt_units"`
	OrderID               *int64            `json:"order_id"`
	TxHash                *string           `json:"tx_hash"`
	CreatedAt             string            `json:"created_at"`
}

// LedgerOf renders e.
func LedgerOf(e *domain.LedgerEntry) Ledger {
	cur, amount, after := e.Amount()
	v := Ledger{ID: e.ID, Type: e.Type, Currency: cur, TxHash: StrPtr(e.TxHash), CreatedAt: Time(e.CreatedAt)}
	if cur == domain.CurrencyUSDT {
		v.AmountUSDT, v.AmountUSDTUnits, v.BalanceAfterUSDTUnits = USDTPtr(amount), NanoPtr(amount), NanoPtr(after)
	} else {
		n := TON(amount)
		v.AmountTON, v.AmountNanoton, v.BalanceAfterNanoton = &n, NanoPtr(amount), NanoPtr(after)
	}
	if e.OrderID != 0 {
		id := e.OrderID
		v.OrderID = &id
	}
	return v
}
