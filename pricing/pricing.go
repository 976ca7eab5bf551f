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

// Status describes a rate source for /health: where the rate comes from,
// how old it is, and a live jump held for confirmation (live.go).
type Status struct {
	Kind       string     `json:"kind"`           // fixed | live
	Host       string     `json:"host,omitempty"` // live: the host of pricing.rate_url (never its path or query)
	TonUSD     *string    `json:"ton_usd"`        // the rate in use; null before the first good reading
	UpdatedAt  *time.Time `json:"updated_at"`     // when it was read (fixed: since start)
	AgeSeconds int64      `json:"age_seconds"`
	Held       *Held      `json:"held"` // live: a reading held back as a jump; null when none
}

// Held is a live reading more than 20 % (maxJump) away from the last good rate,
// waiting for a second reading to confirm it.
type Held struct {
	TonUSD    string    `json:"ton_usd"`
	Since     time.Time `json:"since"`
	ConfirmBy time.Time `json:"confirm_by"`
	// ChangePercent is the held reading against the last good rate, e.g. "-27.5".
	ChangePercent string `json:"change_percent"`
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

// Status reports the fixed rate, aged from start.
func (f *Fixed) Status() Status {
	v, at := f.rate.TonUSD, f.rate.UpdatedAt
	return Status{Kind: "fixed", TonUSD: &v, UpdatedAt: &at, AgeSeconds: int64(time.Since(at) / time.Second)}
}
