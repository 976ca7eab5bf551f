package shop

import (
	"context"
	"math/big"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/internal/wait"
)

// The TON float. Delivery pays Fragment in TON from the service wallet
// whatever the customer paid in: USDT received accumulates in the service
// wallet's USDT jetton wallet (docs/TON.md) and pays no delivery. So the
// service wallet's TON must cover what the paid orders not delivered yet
// will cost at Fragment; when it does not, deliveries wait (held for funds)
// while USDT orders keep coming. The shop reads the wallet and what is owed
// at most every walletTTL (on the leader: floatLoop, and the alert pass);
// /health, the metrics and the ton_float_short alert show that reading.

// TONFloat is the service wallet's TON against what the paid orders
// awaiting delivery will cost at Fragment, as last read.
type TONFloat struct {
	WalletNano int64 `json:"wallet_nanoton,string"`
	// OwedDeliveryNano is the Fragment cost of the paid orders not delivered
	// yet (TON and USDT orders alike), estimated per order by deliveryCost.
	OwedDeliveryNano int64 `json:"owed_delivery_nanoton,string"`
	OwedOrders       int   `json:"owed_orders"`
	// ShortfallNano is what the wallet lacks (0 when it covers it).
	ShortfallNano int64     `json:"shortfall_nanoton,string"`
	ReadAt        time.Time `json:"read_at"`
}

// TONFloat is the last reading of the TON float; nil before the first one
// and without a wallet reader (sandbox mode). It never reads the chain
// itself, so /health and a metrics scrape never wait for it.
func (s *Shop) TONFloat() *TONFloat {
	o := s.ops
	o.readMu.Lock()
	r := o.reading
	o.readMu.Unlock()
	if !r.known {
		return nil
	}
	return &TONFloat{WalletNano: r.balance, OwedDeliveryNano: r.owedDelivery, OwedOrders: r.owedCount,
		ShortfallNano: max(r.owedDelivery-r.balance, 0), ReadAt: r.at.UTC()}
}

// RefreshTONFloat reads the wallet and what is owed now (when the last
// reading is older than walletTTL) and returns the float.
func (s *Shop) RefreshTONFloat(ctx context.Context) *TONFloat {
	s.readWallet(ctx, s.now())
	return s.TONFloat()
}

// floatLoop keeps the float reading fresh for /health and the metrics.
func (s *Shop) floatLoop(ctx context.Context) {
	if s.ops.wallet == nil {
		return
	}
	for {
		s.readWallet(ctx, s.now())
		if !wait.Sleep(ctx, walletTTL) {
			return
		}
	}
}

// deliveryCost estimates what delivering o costs at Fragment, in TON: its
// price without our fee at the TON rate it was priced with
// (price_nano × 100 / (100 + fee_percent), rounded up). Fragment's own
// price may differ a little; a held delivery reports the exact need.
func deliveryCost(o *domain.Order) int64 {
	fee, ok := new(big.Rat).SetString(o.FeePercent)
	if !ok || fee.Sign() < 0 {
		return o.PriceNano
	}
	div := new(big.Rat).Add(big.NewRat(1, 1), new(big.Rat).Quo(fee, big.NewRat(100, 1)))
	v := new(big.Rat).Quo(new(big.Rat).SetInt64(o.PriceNano), div)
	q, r := new(big.Int).QuoRem(v.Num(), v.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return o.PriceNano
	}
	return q.Int64()
}
