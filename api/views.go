package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/view"
)

// The JSON shapes of the API (openapi.json's schemas). Money: a TON figure is a JSON number
// rendered exactly from integer nanotons (money.FormatTON as json.Number,
// never a float64), beside the exact nanotons as a decimal string. Times are
// RFC 3339 UTC to the second; null until reached.

// orderView renders o with its checkout URL.
func (srv *server) orderView(o *domain.Order) view.Order {
	return view.OrderOf(o, srv.shop.CheckoutURL(o))
}

// ListView is a page: {"items":[…],"next_cursor":"…"|null}.
type ListView[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func listView[S, T any](items []S, next string, conv func(*S) T) ListView[T] {
	out := ListView[T]{Items: make([]T, len(items)), NextCursor: view.StrPtr(next)}
	for i := range items {
		out.Items[i] = conv(&items[i])
	}
	return out
}

// BalanceView is GET /balance.
type BalanceView struct {
	BalanceTON     json.Number `json:"balance_ton"`
	BalanceNanoton string      `json:"balance_nanoton"`
	// The USDT balance (0 while USDT is off), topped up by USDT sent to
	// the same top-up address.
	BalanceUSDT      json.Number `json:"balance_usdt"`
	BalanceUSDTUnits string      `json:"balance_usdt_units"`
	TopupAddress     string      `json:"topup_address"`
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
	// The price in USDT (null while USDT is off) and the USDT/USD rate.
	PriceUSDT      *json.Number `json:"price_usdt"`
	PriceUSDTUnits *string      `json:"price_usdt_units"`
	UsdtUSD        *json.Number `json:"usdt_usd"`
}

func estimateView(q shop.Quote) EstimateView {
	v := EstimateView{OrderType: q.Kind, BaseUSD: view.Decimal(q.BaseUSD), PriceUSD: view.Decimal(q.PriceUSD),
		PriceTON: view.TON(q.PriceNano), PriceNanoton: view.Nano(q.PriceNano), TonUSD: view.Decimal(q.TonUSD),
		FeePercent: view.Decimal(q.FeePercent), RateSource: q.RateSource, RateUpdatedAt: view.Time(q.RateUpdatedAt)}
	if q.UsdtUSD != "" {
		r := view.Decimal(q.UsdtUSD)
		v.PriceUSDT, v.PriceUSDTUnits, v.UsdtUSD = view.USDTPtr(q.PriceUSDT), view.NanoPtr(q.PriceUSDT), &r
	}
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
		b.WriteString(`"` + strconv.Itoa(m) + `":` + string(view.Decimal(p[m])))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func feeView(f shop.FeeInfo) FeeView {
	v := FeeView{FeePercent: view.Decimal(f.FeePercent), PremiumUSD: PremiumPrices(f.PremiumUSD),
		OrderTTLSeconds: int64(f.OrderTTL / time.Second)}
	v.Stars.Min, v.Stars.Max, v.Stars.USDPerStar = f.StarsMin, f.StarsMax, view.Decimal(f.USDPerStar)
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
	USDTVolumePaid struct {
		USDT  json.Number `json:"usdt"`
		Units string      `json:"units"`
	} `json:"usdt_volume_paid"`
}

func statsView(s shop.Stats) StatsView {
	v := StatsView{From: view.TimePtr(s.From), To: view.TimePtr(s.To), TotalOrders: s.Total, ByStatus: s.ByStatus, ByType: s.ByType,
		StarsDelivered: s.StarsDelivered, PremiumMonthsDelivered: s.PremiumMonthsDelivered}
	v.TONVolumePaid.TON, v.TONVolumePaid.Nanoton = view.TON(s.VolumePaidNano), view.Nano(s.VolumePaidNano)
	v.USDTVolumePaid.USDT, v.USDTVolumePaid.Units = view.USDT(s.VolumePaidUSDT), view.Nano(s.VolumePaidUSDT)
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
