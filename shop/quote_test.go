package shop

import (
	"math/big"
	"testing"
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
			if got := Decimal(usd); got != tc.wantUSD || nano != tc.wantNano {
				t.Fatalf("Price = %s USD, %d nano; want %s, %d", got, nano, tc.wantUSD, tc.wantNano)
			}
		})
	}
}
