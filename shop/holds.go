package shop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/store"
)

// Held deliveries. A provider answers a *fulfil.Hold when a paid order must
// wait for something outside it: the service wallet cannot pay (fees
// included), the chain view is too far behind to settle a payment already
// sent, the wallet sent messages the store has no record of (until an
// operator reconciles: reconcile.go), the wallet's history that settles a
// sent payment is not served, or something else signed with the service
// wallet (until an operator releases the batch: payerrelease.go). Such an order stays processing, is never refunded for it, and the
// attempt does not count towards the retry backoff: it is tried again every
// HeldRetryEvery, so it goes on by itself once the wallet is funded or the
// view catches up. New orders are still taken meanwhile (customers' payments
// refill the service wallet); the hold is loud instead: /health degraded,
// metrics, an error log line, and GET /admin/deliveries/held with the
// wallet balance against what is owed.
//
// The list lives in the memory of the instance running the delivery loop
// (the leader): after a restart it fills again within HeldRetryEvery.

// HeldRetryEvery is how often a held delivery is tried again.
const HeldRetryEvery = 30 * time.Second

// HeldDelivery is one paid order whose delivery waits.
type HeldDelivery struct {
	OrderID int64     `json:"order_id"`
	Reason  string    `json:"reason"` // one of fulfil's Hold* reasons
	Since   time.Time `json:"since"`  // first held for this reason
	Detail  string    `json:"detail"`
	// insufficient_funds: what this delivery needs (payment + fee reserve)
	// and the wallet balance read at its last attempt.
	NeedNano    int64  `json:"need_nanoton,string,omitempty"`
	BalanceNano *int64 `json:"wallet_balance_nanoton,string,omitempty"`
	// chain_behind: how far the chain view reached at the last attempt.
	ChainTime *time.Time `json:"chain_time,omitempty"`
	last      time.Time  // last attempt
}

// HoldSummary is what /health and the metrics show about held deliveries.
type HoldSummary struct {
	Orders      int            `json:"orders"`
	ByReason    map[string]int `json:"by_reason"`
	OldestSince *time.Time     `json:"oldest_since,omitempty"`
	// With orders held for funds: the service wallet balance (as last read),
	// what those deliveries need together (payment + fee reserve each, in
	// Fragment's TON prices) and the difference to top up.
	WalletBalanceNano *int64 `json:"wallet_balance_nanoton,string,omitempty"`
	NeedNano          int64  `json:"need_nanoton,string,omitempty"`
	ShortfallNano     int64  `json:"shortfall_nanoton,string,omitempty"`
	// With orders held for the chain: the largest lag of the chain view
	// behind this clock.
	ChainLagSeconds float64 `json:"chain_lag_seconds,omitempty"`
	// With orders held for the wallet's unrecorded messages: what the
	// provider found and what to do (the newest reading).
	WalletUnrecorded string `json:"wallet_unrecorded,omitempty"`
	// With orders held for a batch's wallet history (unread) or its seqno
	// (used elsewhere): what the provider found, the newest reading; the
	// wallet_used_elsewhere one when there is one.
	WalletDetail string `json:"wallet_detail,omitempty"`
	Action       string `json:"action"`
}

// HeldReport is the operator's view (GET /admin/deliveries/held): the
// summary, each held order, and what the service owes, next to the wallet.
type HeldReport struct {
	Summary string         `json:"summary"` // the figures below in one sentence, in TON
	Holds   HoldSummary    `json:"holds"`
	Held    []HeldDelivery `json:"held"`
	// Owed: the prices of all paid orders not delivered yet (held or not;
	// what customers paid us, in our prices) and the partners' balances
	// (credit they can spend or be refunded). Both are owed, separately.
	OwedOrdersNano   int64 `json:"owed_orders_nanoton,string"`
	OwedOrders       int   `json:"owed_orders"`
	OwedBalancesNano int64 `json:"owed_partner_balances_nanoton,string"`
	// OwedDeliveryNano is what those orders will cost at Fragment, in TON
	// (deliveryCost; USDT orders included: delivery is paid in TON).
	OwedDeliveryNano int64 `json:"owed_delivery_nanoton,string"`
	// Owed in USDT: of those orders, the ones paid in USDT (counted above at
	// their TON price, as delivery is paid in TON) and their USDT prices —
	// a failed one is refunded in USDT — and the partners' USDT balances.
	// The service's USDT jetton wallet is not compared with them.
	OwedUSDTOrders        int   `json:"owed_usdt_orders"`
	OwedOrdersUSDTUnits   int64 `json:"owed_orders_usdt_units,string"`
	OwedBalancesUSDTUnits int64 `json:"owed_partner_balances_usdt_units,string"`
}

type holdSet struct {
	mu sync.Mutex
	m  map[int64]*HeldDelivery
}

// put records a hold of order id; it reports whether the order was not held
// for this reason before (worth an error log line).
func (h *holdSet) put(id int64, hold *fulfil.Hold, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[int64]*HeldDelivery{}
	}
	now = now.Truncate(time.Second)
	d := &HeldDelivery{OrderID: id, Reason: hold.Reason, Since: now, Detail: hold.Detail, last: now}
	prev, had := h.m[id]
	if had && prev.Reason == hold.Reason {
		d.Since = prev.Since
	}
	if hold.Reason == fulfil.HoldFunds {
		bal := hold.BalanceNano
		d.NeedNano, d.BalanceNano = hold.NeedNano, &bal
	}
	if !hold.ChainTime.IsZero() {
		t := hold.ChainTime.UTC().Truncate(time.Second)
		d.ChainTime = &t
	}
	h.m[id] = d
	return !had || prev.Reason != hold.Reason
}

func (h *holdSet) drop(id int64) {
	h.mu.Lock()
	delete(h.m, id)
	h.mu.Unlock()
}

// ids lists the held orders.
func (h *holdSet) ids() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]int64, 0, len(h.m))
	for id := range h.m {
		out = append(out, id)
	}
	return out
}

func (h *holdSet) list() []HeldDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HeldDelivery, 0, len(h.m))
	for _, d := range h.m {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b HeldDelivery) int { return int(a.OrderID - b.OrderID) })
	return out
}

// holdDelivery keeps order id processing after a hold: the next attempt in
// HeldRetryEvery, and the attempt just made not counted (holds are not
// failures and must not push the backoff out).
func (s *Shop) holdDelivery(ctx context.Context, id int64, hold *fulfil.Hold) error {
	now := s.now()
	if s.held.put(id, hold, now) {
		s.log.Error("delivery held: the order waits, nothing is refunded", "order_id", id, "reason", hold.Reason, "detail", hold.Detail)
	} else {
		s.log.Debug("delivery still held", "order_id", id, "reason", hold.Reason)
	}
	s.observeDelivery(DeliveryHeld)
	return s.write(ctx, func(tx *txn) error { // the order is locked as read
		cur, err := tx.GetOrder(id)
		if err != nil || cur.Status != domain.StatusProcessing {
			return err
		}
		next := now.Add(HeldRetryEvery)
		cur.NextDeliveryAt = &next
		if cur.DeliveryAttempts > 0 {
			cur.DeliveryAttempts--
		}
		return tx.PutOrder(cur)
	})
}

// asHold finds a provider's hold in err.
func asHold(err error) (*fulfil.Hold, bool) {
	var h *fulfil.Hold
	return h, errors.As(err, &h)
}

// HeldDeliveries summarises the held deliveries (nil when none); cheap, for
// /health and the metrics.
func (s *Shop) HeldDeliveries() *HoldSummary {
	held := s.held.list()
	if len(held) == 0 {
		return nil
	}
	return s.summarise(held)
}

func (s *Shop) summarise(held []HeldDelivery) *HoldSummary {
	sum := &HoldSummary{Orders: len(held), ByReason: map[string]int{}}
	now := s.now()
	var balAt time.Time
	var lag time.Duration
	for _, d := range held {
		sum.ByReason[d.Reason]++
		if sum.OldestSince == nil || d.Since.Before(*sum.OldestSince) {
			since := d.Since
			sum.OldestSince = &since
		}
		switch d.Reason {
		case fulfil.HoldFunds:
			sum.NeedNano = satAdd(sum.NeedNano, d.NeedNano)
			if d.BalanceNano != nil && (sum.WalletBalanceNano == nil || d.last.After(balAt)) {
				b := *d.BalanceNano
				sum.WalletBalanceNano, balAt = &b, d.last
			}
		case fulfil.HoldChainBehind:
			if d.ChainTime != nil && now.Sub(*d.ChainTime) > lag {
				lag = now.Sub(*d.ChainTime)
			}
		}
	}
	sum.ChainLagSeconds = lag.Seconds()
	var act []string
	if n := sum.ByReason[fulfil.HoldFunds]; n > 0 && sum.WalletBalanceNano != nil {
		sum.ShortfallNano = max(sum.NeedNano-*sum.WalletBalanceNano, 0)
		act = append(act, fmt.Sprintf("%d paid order(s) wait for funds: top up the service wallet %s with at least %s TON (it holds %s TON, they need %s TON with fees); they are delivered automatically within %s of the top-up, never refunded for this",
			n, s.serviceAddr, formatTON(sum.ShortfallNano), formatTON(*sum.WalletBalanceNano), formatTON(sum.NeedNano), HeldRetryEvery))
	}
	if n := sum.ByReason[fulfil.HoldChainBehind]; n > 0 {
		act = append(act, fmt.Sprintf("%d sent payment(s) cannot be settled: the liteserver's view of the chain is %s behind; they settle (complete, or refund if never executed) once it catches up — check the liteservers (ton.config_url)",
			n, lag.Round(time.Second)))
	}
	if n := sum.ByReason[fulfil.HoldWalletUnrecorded]; n > 0 {
		sum.WalletUnrecorded = newestDetail(held, fulfil.HoldWalletUnrecorded)
		act = append(act, fmt.Sprintf("%d paid order(s) wait, nothing is paid: %s", n, sum.WalletUnrecorded))
	}
	if n := sum.ByReason[fulfil.HoldWalletHistory]; n > 0 {
		sum.WalletDetail = newestDetail(held, fulfil.HoldWalletHistory)
		act = append(act, fmt.Sprintf("%d sent payment(s) cannot be settled: the service wallet's seqno moved past their message and the wallet's history that shows whether it ran is not served; nothing is refunded or paid again until it is read — check the liteservers (ton.config_url) or set ton.archive_config_url: %s",
			n, sum.WalletDetail))
	}
	if n := sum.ByReason[fulfil.HoldWalletElsewhere]; n > 0 {
		sum.WalletDetail = newestDetail(held, fulfil.HoldWalletElsewhere)
		act = append(act, fmt.Sprintf("%d paid order(s) wait and nothing is paid from the service wallet %s: a message this service did not sign used the wallet; stop the other signer, look its message up, then release the batch naming the orders it paid (POST /admin/payer/batches/{id}/release, docs/OPERATIONS.md \"Held deliveries\"): %s",
			n, s.serviceAddr, sum.WalletDetail))
	}
	for i, a := range act {
		if i > 0 {
			sum.Action += "; "
		}
		sum.Action += a
	}
	return sum
}

// newestDetail is the detail of the latest attempt held for reason.
func newestDetail(held []HeldDelivery, reason string) string {
	var detail string
	var at time.Time
	for _, d := range held {
		if d.Reason == reason && (detail == "" || d.last.After(at)) {
			detail, at = d.Detail, d.last
		}
	}
	return detail
}

func satAdd(a, b int64) int64 {
	if a > 0 && b > (1<<63-1)-a {
		return 1<<63 - 1
	}
	return a + b
}

// HeldReport is the held deliveries with the wallet balance against what is
// owed: the prices of all paid orders awaiting delivery, and the partners'
// balances. It reads every order awaiting delivery and every partner.
func (s *Shop) HeldReport(ctx context.Context) (HeldReport, error) {
	held := s.held.list()
	r := HeldReport{Held: held, Holds: HoldSummary{ByReason: map[string]int{}}}
	if len(held) > 0 {
		r.Holds = *s.summarise(held)
	}
	err := s.st.View(ctx, func(tx store.Tx) error {
		ids, err := tx.DeliveryQueue(0, 1<<30)
		if err != nil {
			return err
		}
		r.OwedOrders, r.OwedOrdersNano, r.OwedDeliveryNano = 0, 0, 0
		r.OwedUSDTOrders, r.OwedOrdersUSDTUnits = 0, 0
		for _, id := range ids {
			o, err := tx.GetOrder(id)
			if err != nil {
				return err
			}
			if o.Status == domain.StatusPaid || o.Status == domain.StatusProcessing {
				r.OwedOrders++
				r.OwedOrdersNano = satAdd(r.OwedOrdersNano, o.PriceNano)
				r.OwedDeliveryNano = satAdd(r.OwedDeliveryNano, deliveryCost(o))
				if o.PaymentCurrency == domain.CurrencyUSDT {
					r.OwedUSDTOrders++
					r.OwedOrdersUSDTUnits = satAdd(r.OwedOrdersUSDTUnits, o.PriceUSDT)
				}
			}
		}
		r.OwedBalancesNano, r.OwedBalancesUSDTUnits = 0, 0
		return store.EachPartner(tx, func(p *domain.Partner) error {
			r.OwedBalancesNano = satAdd(r.OwedBalancesNano, p.BalanceNano)
			r.OwedBalancesUSDTUnits = satAdd(r.OwedBalancesUSDTUnits, p.BalanceUSDT)
			return nil
		})
	})
	if err != nil {
		return HeldReport{}, err
	}
	wallet := "unknown (no delivery is held for funds)"
	if r.Holds.WalletBalanceNano != nil {
		wallet = formatTON(*r.Holds.WalletBalanceNano) + " TON"
	}
	r.Summary = fmt.Sprintf("service wallet: %s; held deliveries: %d (need %s TON); owed: %s TON for %d paid orders awaiting delivery (about %s TON at Fragment), and %s TON in partner balances",
		wallet, len(held), formatTON(r.Holds.NeedNano), formatTON(r.OwedOrdersNano), r.OwedOrders, formatTON(r.OwedDeliveryNano), formatTON(r.OwedBalancesNano))
	if r.OwedUSDTOrders > 0 || r.OwedBalancesUSDTUnits != 0 {
		r.Summary += fmt.Sprintf("; in USDT: %s for the %d of those orders paid in USDT, and %s in partner balances",
			FormatAmount(domain.CurrencyUSDT, r.OwedOrdersUSDTUnits), r.OwedUSDTOrders, FormatAmount(domain.CurrencyUSDT, r.OwedBalancesUSDTUnits))
	}
	return r, nil
}
