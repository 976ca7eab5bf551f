package api

import (
	"bytes"
	"encoding/json"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/shop"
)

// The JSON shapes of the API (openapi.json's schemas). Money: a TON figure is a JSON number
// rendered exactly from integer nanotons (money.FormatTON as json.Number,
// never a float64), beside the exact nanotons as a decimal string. Times are
// RFC 3339 UTC to the second; null until reached.

// tonNumber renders nanotons as an exact JSON number of TON.
func tonNumber(nano int64) json.Number { return json.Number(money.FormatTON(nano)) }

func nanoString(nano int64) string { return strconv.FormatInt(nano, 10) }

// decNumber renders an exact decimal string (prices, rates, fees) as a JSON
// number; text that is not already a JSON number ("+3.6", ".5") is
// normalised exactly through big.Rat.
func decNumber(s string) json.Number {
	if isJSONNumber(s) {
		return json.Number(s)
	}
	if r, ok := new(big.Rat).SetString(s); ok {
		return json.Number(shop.Decimal(r))
	}
	return json.Number("0")
}

// isJSONNumber reports whether s is a JSON number literal.
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	return json.Valid([]byte(s))
}

func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func timePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeString(*t)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// OrderView is the order object, fields in the contract's order (openapi.json).
type OrderView struct {
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
	ExpiresAt             *string         `json:"expires_at"`
	CreatedAt             string          `json:"created_at"`
	PaidAt                *string         `json:"paid_at"`
	CompletedAt           *string         `json:"completed_at"`
	AmountReceivedTON     json.Number     `json:"amount_received_ton"`
	AmountReceivedNanoton string          `json:"amount_received_nanoton"`
	ClientReference       *string         `json:"client_reference"`
	FailureReason         *string         `json:"failure_reason"`
}

// orderView renders o with its checkout URL.
func (srv *server) orderView(o *domain.Order) OrderView { return orderJSON(o, srv.shop.CheckoutURL(o)) }

// orderJSON renders o; checkoutURL is its payment page ("" for none: null).
func orderJSON(o *domain.Order, checkoutURL string) OrderView {
	v := OrderView{CheckoutURL: strPtr(checkoutURL),
		ID: o.ID, Status: o.Status, OrderType: o.Type, RecipientUsername: o.RecipientUsername,
		PriceTON: tonNumber(o.PriceNano), PriceNanoton: nanoString(o.PriceNano), PriceUSD: decNumber(o.PriceUSD),
		PaymentMethod: o.PaymentMethod, PaymentCurrency: o.PaymentCurrency,
		PaymentAddress: strPtr(o.PaymentAddress), PaymentMemo: strPtr(o.PaymentMemo), PaymentLink: strPtr(shop.PaymentLink(o)),
		ExpiresAt: timePtr(o.ExpiresAt), CreatedAt: timeString(o.CreatedAt), PaidAt: timePtr(o.PaidAt),
		CompletedAt:       timePtr(o.CompletedAt),
		AmountReceivedTON: tonNumber(o.ReceivedNano), AmountReceivedNanoton: nanoString(o.ReceivedNano),
		ClientReference: strPtr(o.ClientReference), FailureReason: strPtr(o.FailureReason),
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

// ListView is a page: {"items":[…],"next_cursor":"…"|null}.
type ListView[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func listView[S, T any](items []S, next string, conv func(*S) T) ListView[T] {
	out := ListView[T]{Items: make([]T, len(items)), NextCursor: strPtr(next)}
	for i := range items {
		out.Items[i] = conv(&items[i])
	}
	return out
}

// LedgerView is one balance movement; amounts are signed (debits negative).
type LedgerView struct {
	ID                  int64             `json:"id"`
	Type                domain.LedgerType `json:"type"`
	AmountTON           json.Number       `json:"amount_ton"`
	AmountNanoton       string            `json:"amount_nanoton"`
	BalanceAfterNanoton string            `json:"balance_after_nanoton"`
	OrderID             *int64            `json:"order_id"`
	TxHash              *string           `json:"tx_hash"`
	CreatedAt           string            `json:"created_at"`
}

func ledgerView(e *domain.LedgerEntry) LedgerView {
	v := LedgerView{ID: e.ID, Type: e.Type, AmountTON: tonNumber(e.AmountNano), AmountNanoton: nanoString(e.AmountNano),
		BalanceAfterNanoton: nanoString(e.BalanceAfterNano), TxHash: strPtr(e.TxHash), CreatedAt: timeString(e.CreatedAt)}
	if e.OrderID != 0 {
		id := e.OrderID
		v.OrderID = &id
	}
	return v
}

// BalanceView is GET /balance.
type BalanceView struct {
	BalanceTON     json.Number `json:"balance_ton"`
	BalanceNanoton string      `json:"balance_nanoton"`
	TopupAddress   string      `json:"topup_address"`
}

// RateView is GET /pricing/ton-rate.
type RateView struct {
	TonUSD    json.Number `json:"ton_usd"`
	Source    string      `json:"source"`
	UpdatedAt string      `json:"updated_at"`
}

// EstimateView is GET /pricing/estimate/{stars,premium}.
type EstimateView struct {
	OrderType     domain.Kind `json:"order_type"`
	Quantity      *int64      `json:"quantity,omitempty"`
	Months        *int        `json:"months,omitempty"`
	BaseUSD       json.Number `json:"base_usd"`
	PriceUSD      json.Number `json:"price_usd"`
	PriceTON      json.Number `json:"price_ton"`
	PriceNanoton  string      `json:"price_nanoton"`
	TonUSD        json.Number `json:"ton_usd"`
	FeePercent    json.Number `json:"fee_percent"`
	RateSource    string      `json:"rate_source"`
	RateUpdatedAt string      `json:"rate_updated_at"`
}

func estimateView(q shop.Quote) EstimateView {
	v := EstimateView{OrderType: q.Kind, BaseUSD: decNumber(q.BaseUSD), PriceUSD: decNumber(q.PriceUSD),
		PriceTON: tonNumber(q.PriceNano), PriceNanoton: nanoString(q.PriceNano), TonUSD: decNumber(q.TonUSD),
		FeePercent: decNumber(q.FeePercent), RateSource: q.RateSource, RateUpdatedAt: timeString(q.RateUpdatedAt)}
	if q.Kind == domain.KindStars {
		n := q.Quantity
		v.Quantity = &n
	} else {
		m := q.Months
		v.Months = &m
	}
	return v
}

// FeeView is GET /pricing/fee.
type FeeView struct {
	FeePercent json.Number `json:"fee_percent"`
	Stars      struct {
		Min        int64       `json:"min"`
		Max        int64       `json:"max"`
		USDPerStar json.Number `json:"usd_per_star"`
	} `json:"stars"`
	PremiumUSD      PremiumPrices `json:"premium_usd"`
	OrderTTLSeconds int64         `json:"order_ttl_seconds"`
}

// PremiumPrices marshals as {"3":…,"6":…,"12":…}, months ascending.
type PremiumPrices map[int]string

// MarshalJSON writes the months in ascending order with exact numbers.
func (p PremiumPrices) MarshalJSON() ([]byte, error) {
	months := make([]int, 0, len(p))
	for m := range p {
		months = append(months, m)
	}
	slices.Sort(months)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range months {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + strconv.Itoa(m) + `":` + string(decNumber(p[m])))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func feeView(f shop.FeeInfo) FeeView {
	v := FeeView{FeePercent: decNumber(f.FeePercent), PremiumUSD: PremiumPrices(f.PremiumUSD),
		OrderTTLSeconds: int64(f.OrderTTL / time.Second)}
	v.Stars.Min, v.Stars.Max, v.Stars.USDPerStar = f.StarsMin, f.StarsMax, decNumber(f.USDPerStar)
	return v
}

// StatsView is GET /orders/stats/summary over orders created in [from, to).
type StatsView struct {
	From                   *string                 `json:"from"`
	To                     *string                 `json:"to"`
	TotalOrders            int64                   `json:"total_orders"`
	ByStatus               map[domain.Status]int64 `json:"by_status"`
	ByType                 map[domain.Kind]int64   `json:"by_type"`
	StarsDelivered         int64                   `json:"stars_delivered"`
	PremiumMonthsDelivered int64                   `json:"premium_months_delivered"`
	TONVolumePaid          struct {
		TON     json.Number `json:"ton"`
		Nanoton string      `json:"nanoton"`
	} `json:"ton_volume_paid"`
}

func statsView(s shop.Stats) StatsView {
	v := StatsView{From: timePtr(s.From), To: timePtr(s.To), TotalOrders: s.Total, ByStatus: s.ByStatus, ByType: s.ByType,
		StarsDelivered: s.StarsDelivered, PremiumMonthsDelivered: s.PremiumMonthsDelivered}
	v.TONVolumePaid.TON, v.TONVolumePaid.Nanoton = tonNumber(s.VolumePaidNano), nanoString(s.VolumePaidNano)
	return v
}

// RecipientView is GET /recipients/{stars,premium}.
type RecipientView struct {
	Username   string  `json:"username"`
	CanReceive bool    `json:"can_receive"`
	Reason     *string `json:"reason"`
}

// SandboxPartnerView is POST /sandbox/partners.
type SandboxPartnerView struct {
	PartnerID int64  `json:"partner_id"`
	APIKey    string `json:"api_key"`
}

// SandboxTransferView is POST /sandbox/transfers.
type SandboxTransferView struct {
	TxHash string `json:"tx_hash"`
}
