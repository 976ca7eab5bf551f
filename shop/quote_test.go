package shop

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/pricing"
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func TestPriceIsExactAndRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		name            string
		base, fee, rate string
		wantUSD         string
		wantNano        int64
	}{
		{"spec example: 100 stars at 0.015, fee 5%, 3.6 TON/USD", "1.5", "5", "3.6", "1.575", 437500000},
		{"rounds up a repeating fraction", "1", "0", "3", "1", 333333334},
		{"zero fee", "11.99", "0", "2", "11.99", 5995000000},
		{"premium 12 months", "28.99", "5", "3.6", "30.4395", 8455416667},
		{"fee 100%", "1", "100", "1", "2", 2000000000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			usd, nano, err := Price(rat(tc.base), rat(tc.fee), rat(tc.rate))
			if err != nil {
				t.Fatal(err)
			}
			if got := money.Decimal(usd); got != tc.wantUSD || nano != tc.wantNano {
				t.Fatalf("Price = %s USD, %d nano; want %s, %d", got, nano, tc.wantUSD, tc.wantNano)
			}
		})
	}
}

// TestEstimateCacheIsExact: prices served from the price cache (past its
// size, so it also starts over) equal a fresh exact computation, and a rate
// change is a different entry.
func TestEstimateCacheIsExact(t *testing.T) {
	cfg := config.Default()
	s := &Shop{cfg: cfg, fee: cfg.Pricing.FeePercent.Rat(), usdPerStar: cfg.Pricing.Stars.USDPerStar.Rat(),
		premiumUSD: map[int]*big.Rat{}, prices: map[priceKey]priced{}}
	for m, p := range cfg.Pricing.PremiumUSD {
		s.premiumUSD[m] = p.Rat()
	}
	s.feeText = money.Decimal(s.fee)
	for _, rate := range []string{"3.6", "3.61", "7"} {
		s.rates = pricing.NewFixed(rate, time.Now())
		for round := range 2 {
			for q := cfg.Pricing.Stars.Min; q < cfg.Pricing.Stars.Min+maxPriceCache+500; q += 1 + q/200 {
				got, err := s.Estimate(context.Background(), domain.KindStars, q)
				if err != nil {
					t.Fatal(err)
				}
				usd, nano, err := Price(new(big.Rat).Mul(s.usdPerStar, big.NewRat(q, 1)), s.fee, rat(rate))
				if err != nil {
					t.Fatal(err)
				}
				if got.PriceNano != nano || got.PriceUSD != money.Decimal(usd) || got.TonUSD != rate || got.FeePercent != money.Decimal(s.fee) {
					t.Fatalf("rate %s round %d, %d stars: %+v; want %d nano, %s USD", rate, round, q, got, nano, money.Decimal(usd))
				}
			}
			for _, m := range []int64{3, 6, 12} {
				got, err := s.Estimate(context.Background(), domain.KindPremium, m)
				_, nano, _ := Price(s.premiumUSD[int(m)], s.fee, rat(rate))
				if err != nil || got.PriceNano != nano || got.Months != int(m) {
					t.Fatalf("rate %s, premium %d: %+v, %v; want %d nano", rate, m, got, err, nano)
				}
			}
		}
	}
	if len(s.prices) > maxPriceCache {
		t.Errorf("price cache holds %d entries, bound is %d", len(s.prices), maxPriceCache)
	}
}
