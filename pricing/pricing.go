// Package pricing supplies the TON/USD rate: a fixed rate from config, or a
// live one from rate_url (see live.go). The arithmetic on prices is the shop's.
package pricing

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ErrStale means no rate fresh enough to price with is available.
var ErrStale = errors.New("pricing: TON/USD rate unavailable or stale")

// Rate is a TON/USD rate. TonUSD is an exact decimal string ("3.6").
type Rate struct {
	TonUSD    string    `json:"ton_usd"`
	Source    string    `json:"source"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Rat returns the rate as an exact rational.
func (r Rate) Rat() (*big.Rat, error) {
	v, ok := new(big.Rat).SetString(r.TonUSD)
	if !ok || v.Sign() <= 0 {
		return nil, fmt.Errorf("pricing: bad rate %q", r.TonUSD)
	}
	return v, nil
}

// Fixed is a constant rate from config (pricing.ton_usd > 0).
type Fixed struct {
	rate Rate
}

// NewFixed returns a fixed source; tonUSD is the decimal text from config.
func NewFixed(tonUSD string, since time.Time) *Fixed {
	return &Fixed{rate: Rate{TonUSD: tonUSD, Source: "fixed", UpdatedAt: since.UTC()}}
}

// Current returns the fixed rate.
func (f *Fixed) Current(context.Context) (Rate, error) { return f.rate, nil }
