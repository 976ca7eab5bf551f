package shop

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/pricing"
)

// Quote is a price: USD exact, TON rounded up to whole nanotons.
type Quote struct {
	Kind      domain.Kind
	Quantity  int64 // stars
	Months    int   // premium
	BaseUSD   string
	PriceUSD  string
	PriceNano int64
	// PriceUSDT is the price in USDT units at UsdtUSD (pricing.usdt_usd),
	// rounded up to a unit; 0 when USDT is off.
	PriceUSDT     int64
	UsdtUSD       string
	TonUSD        string
	FeePercent    string
	RateSource    string
	RateUpdatedAt time.Time
}

// FeeInfo is the public fee schedule.
type FeeInfo struct {
	FeePercent string
	StarsMin   int64
	StarsMax   int64
	USDPerStar string
	PremiumUSD map[int]string
	OrderTTL   time.Duration
}

// Fees returns the configured fee schedule.
func (s *Shop) Fees() FeeInfo {
	p := s.cfg.Pricing
	f := FeeInfo{FeePercent: string(p.FeePercent), StarsMin: p.Stars.Min, StarsMax: p.Stars.Max,
		USDPerStar: string(p.Stars.USDPerStar), PremiumUSD: map[int]string{}, OrderTTL: s.cfg.Orders.TTL}
	for m, v := range p.PremiumUSD {
		f.PremiumUSD[m] = string(v)
	}
	return f
}

// Rate returns the current TON/USD rate (SERVICE_UNAVAILABLE when stale).
func (s *Shop) Rate(ctx context.Context) (pricing.Rate, error) {
	r, err := s.rates.Current(ctx)
	if err != nil {
		if errors.Is(err, pricing.ErrStale) {
			return pricing.Rate{}, newErr(CodeServiceUnavailable, "", "rate_unavailable",
				"the TON/USD rate is unavailable right now; retry in a minute")
		}
		return pricing.Rate{}, fmt.Errorf("shop: rate: %w", err)
	}
	return r, nil
}

func (s *Shop) checkQuantity(q int64) error {
	lim := s.cfg.Pricing.Stars
	if q < lim.Min || q > lim.Max {
		return validation("quantity", "quantity_range", "quantity must be between %d and %d", lim.Min, lim.Max)
	}
	return nil
}

func (s *Shop) checkMonths(m int) error {
	if _, ok := s.premiumUSD[m]; !ok || (m != 3 && m != 6 && m != 12) {
		return validation("months", "months_allowed", "months must be 3, 6 or 12")
	}
	return nil
}

// Estimate prices an order: kind "stars" with amount = quantity, "premium"
// with amount = months. Same validation as order creation.
func (s *Shop) Estimate(ctx context.Context, kind domain.Kind, amount int64) (Quote, error) {
	q := Quote{Kind: kind}
	switch kind {
	case domain.KindStars:
		if err := s.checkQuantity(amount); err != nil {
			return Quote{}, err
		}
		q.Quantity = amount
	case domain.KindPremium:
		if amount > 12 || amount < 0 {
			return Quote{}, s.checkMonths(-1)
		}
		if err := s.checkMonths(int(amount)); err != nil {
			return Quote{}, err
		}
		q.Months = int(amount)
	default:
		return Quote{}, validation("order_type", "order_type", "order_type must be stars or premium")
	}
	rate, err := s.Rate(ctx)
	if err != nil {
		return Quote{}, err
	}
	p, err := s.price(kind, amount, rate.TonUSD)
	if err != nil {
		return Quote{}, err
	}
	q.BaseUSD, q.PriceUSD, q.PriceNano, q.PriceUSDT = p.baseUSD, p.priceUSD, p.nano, p.usdt
	if s.usdt.on {
		q.UsdtUSD = s.usdt.usdText
	}
	q.FeePercent = s.feeText
	q.TonUSD = rate.TonUSD
	q.RateSource = rate.Source
	q.RateUpdatedAt = rate.UpdatedAt
	return q, nil
}

// priceKey and priced are an entry of the price cache: the same kind,
// amount and rate always give the same exact price, and order creation
// would otherwise redo the big.Rat arithmetic and decimal formatting on
// every request.
type priceKey struct {
	kind   domain.Kind
	amount int64
	rate   string
}

type priced struct {
	baseUSD, priceUSD string
	nano              int64
	usdt              int64 // USDT units (0 when USDT is off)
}

// maxPriceCache bounds the cache; when full it starts over.
const maxPriceCache = 4096

// price is Price for a validated kind and amount (stars or months) at
// rate, through the cache.
func (s *Shop) price(kind domain.Kind, amount int64, rate string) (priced, error) {
	k := priceKey{kind, amount, rate}
	s.priceMu.Lock()
	p, ok := s.prices[k]
	s.priceMu.Unlock()
	if ok {
		return p, nil
	}
	var base *big.Rat
	if kind == domain.KindStars {
		base = new(big.Rat).Mul(s.usdPerStar, new(big.Rat).SetInt64(amount))
	} else {
		base = new(big.Rat).Set(s.premiumUSD[int(amount)]) // validated by Estimate
	}
	rateRat, err := pricing.Rate{TonUSD: rate}.Rat()
	if err != nil {
		return priced{}, newErr(CodeServiceUnavailable, "", "rate_unavailable", "the TON/USD rate is invalid; retry later")
	}
	usd, nano, err := Price(base, s.fee, rateRat)
	if err != nil {
		return priced{}, err
	}
	p = priced{baseUSD: money.Decimal(base), priceUSD: money.Decimal(usd), nano: nano}
	if s.usdt.on {
		if p.usdt, err = USDTPrice(usd, s.usdt.usd); err != nil {
			return priced{}, err
		}
	}
	s.priceMu.Lock()
	if len(s.prices) >= maxPriceCache {
		clear(s.prices)
	}
	s.prices[k] = p
	s.priceMu.Unlock()
	return p, nil
}

// Price applies the pricing rule exactly:
// price_usd = base × (1 + fee/100); price_ton = price_usd / ton_usd, rounded
// up to whole nanotons.
func Price(baseUSD, feePercent, tonUSD *big.Rat) (usd *big.Rat, nano int64, err error) {
	if tonUSD.Sign() <= 0 {
		return nil, 0, errors.New("shop: non-positive rate")
	}
	factor := new(big.Rat).Add(big.NewRat(1, 1), new(big.Rat).Quo(feePercent, big.NewRat(100, 1)))
	usd = new(big.Rat).Mul(baseUSD, factor)
	ton := new(big.Rat).Quo(usd, tonUSD)
	n := new(big.Rat).Mul(ton, big.NewRat(1_000_000_000, 1))
	q, r := new(big.Int).QuoRem(n.Num(), n.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return nil, 0, errors.New("shop: price overflows int64 nanotons")
	}
	return usd, q.Int64(), nil
}
