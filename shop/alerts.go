package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/store"
)

// Operators' alerts (telegram.operators). The leader evaluates every
// condition each AlertEvery. A condition that needs an operator becomes an
// active alert, and each operator gets one notice when it is raised and one
// when it clears, never more while it persists. The active alerts, the
// notices still to send and the watermarks of the per-item scans live in
// one store meta record, written in the transaction that changes them: a
// restart neither repeats an alert nor loses one. Sending is separate from
// the partners' outbox (its own loop), rate-limited per operator; notices
// that wait for the limit go together in one message.
//
// Notices are claimed for sending in the record, sent, then removed: two
// instances (a leader handover) never send the same ones, and a crash after
// the message went out but before its removal sends it once more when the
// claim has lapsed. That is the only duplicate there can be.

// Alert kinds (Alert.Kind); the bot's texts are keyed by them.
const (
	AlertFloatShort      = "ton_float_short"  // the service wallet's TON is below what paid orders will cost at Fragment
	AlertWalletShort     = "wallet_short"     // the service wallet holds less than what is owed
	AlertWalletLow       = "wallet_low"       // the service wallet holds less than telegram.alerts.wallet_min_ton
	AlertProviderDown    = "provider_down"    // the delivery provider refuses (Fragment session expired)
	AlertListenerDown    = "listener_down"    // the listener is disconnected, failing, or cannot record
	AlertListenerLag     = "listener_lag"     // the listener is more than MaxListenerLag behind
	AlertHistoryGap      = "history_gap"      // backfill holds the cursor before unreadable history
	AlertProofFailure    = "proof_failure"    // a liteserver answer failed verification
	AlertHeldFunds       = "held_funds"       // paid orders wait: the wallet cannot pay Fragment
	AlertHeldChain       = "held_chain"       // sent payments wait for the chain view
	AlertHeldWallet      = "held_wallet"      // the wallet sent messages the store has no record of: nothing is paid
	AlertHeldHistory     = "held_history"     // sent payments wait: the wallet's history is not served
	AlertHeldElsewhere   = "held_elsewhere"   // something else signed with the service wallet: nothing is paid
	AlertRefundSpike     = "refund_spike"     // telegram.alerts.refunds refunds within the window
	AlertParked          = "parked"           // one parked transfer (key parked:<id>)
	AlertUnmatched       = "unmatched"        // one unmatched deposit (key unmatched:<id>)
	AlertWebhookDisabled = "webhook_disabled" // one partner's webhook (key webhook_disabled:<partner id>)
)

// AlertEvery is how often the leader evaluates the alerts and sends them.
const AlertEvery = 15 * time.Second

// alertTiming: how long a service-wide condition must last before it is
// raised, and be gone before it clears (no alert for a blip, no flapping).
// Per-item alerts (parked, unmatched, webhook) are raised and cleared at once.
var alertTiming = map[string]struct{ raise, clear time.Duration }{
	AlertFloatShort:    {2 * time.Minute, 2 * time.Minute},
	AlertWalletShort:   {2 * time.Minute, 2 * time.Minute},
	AlertWalletLow:     {2 * time.Minute, 2 * time.Minute},
	AlertProviderDown:  {0, 0},
	AlertListenerDown:  {2 * time.Minute, time.Minute},
	AlertListenerLag:   {2 * time.Minute, time.Minute},
	AlertHistoryGap:    {2 * time.Minute, 0},
	AlertProofFailure:  {0, 0},
	AlertHeldFunds:     {0, time.Minute},
	AlertHeldChain:     {5 * time.Minute, time.Minute},
	AlertHeldWallet:    {0, time.Minute},
	AlertHeldHistory:   {2 * time.Minute, time.Minute},
	AlertHeldElsewhere: {0, time.Minute},
	AlertRefundSpike:   {0, 0},
}

// perItem reports whether kind is raised per record (key kind:<id>).
func perItem(kind string) bool {
	return kind == AlertParked || kind == AlertUnmatched || kind == AlertWebhookDisabled
}

// Alert rate limit per operator: a burst, then one message a minute; notices
// waiting meanwhile go together in the next message.
const (
	alertBurst = 5
	alertEvery = time.Minute
)

// maxAlertQueue bounds the notices kept for sending (an operator who never
// opened the bot, Telegram down for days): the oldest go first.
const maxAlertQueue = 500

// alertsMeta names the store meta record of the alert state.
const alertsMeta = "operator_alerts"

// AlertFacts are the figures an alert shows; which are set depends on the kind.
type AlertFacts struct {
	BalanceNano      int64   `json:"balance_nano,omitempty"`       // the service wallet
	OwedOrdersNano   int64   `json:"owed_orders_nano,omitempty"`   // paid orders awaiting delivery, at their prices
	OwedOrders       int     `json:"owed_orders,omitempty"`        // how many
	OwedBalancesNano int64   `json:"owed_balances_nano,omitempty"` // partner balances
	OwedUSDT         int64   `json:"owed_usdt,omitempty"`          // USDT units owed besides (USDT orders and balances), not compared
	NeedNano         int64   `json:"need_nano,omitempty"`          // what is owed, what held deliveries need, or what deliveries will cost
	ShortfallNano    int64   `json:"shortfall_nano,omitempty"`     // what to add to the wallet
	ThresholdNano    int64   `json:"threshold_nano,omitempty"`     // telegram.alerts.wallet_min_ton
	Address          string  `json:"address,omitempty"`            // the service wallet; a deposit's sender
	Count            int     `json:"count,omitempty"`              // orders held, refunds, proof failures
	WindowSeconds    int64   `json:"window_s,omitempty"`           // the refund spike's window
	LagSeconds       float64 `json:"lag_s,omitempty"`              // listener or chain view lag
	ID               int64   `json:"id,omitempty"`                 // parked / unmatched id, partner id
	AmountNano       int64   `json:"amount_nano,omitempty"`        // a transfer's amount (TON)
	// Currency is a USDT transfer's (AmountUSDT its units); empty for TON.
	Currency   domain.Currency `json:"currency,omitempty"`
	AmountUSDT int64           `json:"amount_usdt,omitempty"`
	Comment    string          `json:"comment,omitempty"` // a transfer's comment
	TxHash     string          `json:"tx,omitempty"`      // a transfer's hash
	Name       string          `json:"name,omitempty"`    // a partner's name
	Detail     string          `json:"detail,omitempty"`  // the error or reason, as reported
}

// Alert is a condition that needs an operator, active from Since until it
// clears.
type Alert struct {
	Key   string     `json:"key"` // the kind, or kind:<id> for per-item alerts
	Kind  string     `json:"kind"`
	Since time.Time  `json:"since"`
	Facts AlertFacts `json:"facts"`
}

// AlertNotice is one message-worthy change of an alert: raised, or cleared.
type AlertNotice struct {
	ID int64 `json:"id"`
	Alert
	Cleared bool      `json:"cleared,omitempty"`
	At      time.Time `json:"at"`
	To      []int64   `json:"to"` // operators it is still to be sent to
}

// alertState is the stored record.
type alertState struct {
	Active map[string]*Alert `json:"active"`
	Queue  []AlertNotice     `json:"queue"`
	NextID int64             `json:"next_id"`
	// Watermarks: unmatched deposits and parked transfers up to these ids
	// were looked at. The listener on the leader writes both, one batch at
	// a time, so their ids become visible in order.
	UnmatchedAfter int64 `json:"unmatched_after"`
	ParkedAfter    int64 `json:"parked_after"`
	// Sending: operators whose notices an instance is sending, until when
	// (a claim, so two instances never send the same notices).
	Sending map[int64]time.Time `json:"sending,omitempty"`
}

func loadAlerts(tx store.Tx) (*alertState, error) {
	st := &alertState{Active: map[string]*Alert{}}
	raw, err := tx.GetMeta(alertsMeta)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(raw) == 0) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("alert state: %w", err)
	}
	if st.Active == nil {
		st.Active = map[string]*Alert{}
	}
	return st, nil
}

func saveAlerts(tx store.Tx, st *alertState) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.PutMeta(alertsMeta, raw)
}

// Operator is whom an alert goes to: a Telegram user id and the language
// the bot last saw them use ("" when they never wrote to it).
type Operator struct {
	ID       int64
	Language string
}

// AlertSender delivers notices to one operator, in order, as one message
// (the bot). An error with RetryAfter() time.Duration sets the next
// attempt; one wrapping ErrOperatorUnreachable (the operator blocked the
// bot or never started it) drops the notices for that operator.
type AlertSender interface {
	SendAlerts(ctx context.Context, to Operator, notices []AlertNotice) error
}

// ErrOperatorUnreachable: Telegram refuses to deliver to the operator.
var ErrOperatorUnreachable = errors.New("shop: the operator cannot be reached in Telegram")

// WalletBalance reads the service wallet's balance in nanotons.
type WalletBalance interface {
	Balance(ctx context.Context) (int64, error)
}

// walletTTL: the wallet balance and what is owed are read at most this often.
const walletTTL = time.Minute

// operators is the shop's state for telegram.operators.
type operators struct {
	ids     []int64
	wallet  WalletBalance
	ioMu    sync.Mutex // one wallet read at a time (readWallet)
	readMu  sync.Mutex // guards reading: read by Health and the metrics too
	reading walletReading
	refunds *refundWindow
	sender  atomic.Pointer[senderBox]
	session atomic.Pointer[fragmentSession] // fragsession.go

	mu       sync.Mutex // one alert pass at a time; guards the fields below
	seen     map[string]time.Time
	gone     map[string]time.Time
	limiters map[int64]*rate.Limiter
	retryAt  map[int64]time.Time
	failures map[int64]int
}

type senderBox struct{ AlertSender }

func newOperators(d Deps) *operators {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return &operators{
		ids: slices.Clone(d.Config.Telegram.Operators), wallet: d.Wallet,
		refunds:  &refundWindow{now: func() time.Time { return now().UTC() }},
		seen:     map[string]time.Time{},
		gone:     map[string]time.Time{},
		limiters: map[int64]*rate.Limiter{},
		retryAt:  map[int64]time.Time{},
		failures: map[int64]int{},
	}
}

// storeObserver is what the shop's store reports to: the metrics observer,
// and with operators configured the refund counter as well (nil: none).
func (o *operators) storeObserver(metrics Observer) Observer {
	if len(o.ids) == 0 {
		return metrics
	}
	return teeObserver{first: metrics, refunds: o.refunds}
}

// IsOperator reports whether a Telegram user is one of telegram.operators.
func (s *Shop) IsOperator(telegramUserID int64) bool {
	return telegramUserID > 0 && slices.Contains(s.ops.ids, telegramUserID)
}

// Operators are the configured operators' Telegram user ids.
func (s *Shop) Operators() []int64 { return slices.Clone(s.ops.ids) }

// RegisterAlertSender sets who delivers the operators' alerts (the bot).
func (s *Shop) RegisterAlertSender(a AlertSender) {
	if a == nil {
		s.ops.sender.Store(nil)
		return
	}
	s.ops.sender.Store(&senderBox{a})
}

func (s *Shop) alertLoop(ctx context.Context) {
	if len(s.ops.ids) == 0 {
		return
	}
	for {
		if err := s.CheckAlerts(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("operator alerts", "err", err)
		}
		if !wait.Sleep(ctx, AlertEvery) {
			return
		}
	}
}

// CheckAlerts makes one alert pass: it evaluates every condition, records
// the alerts raised and cleared (a notice for each operator) in the store,
// then sends the notices that are due. The leader runs it every AlertEvery.
func (s *Shop) CheckAlerts(ctx context.Context) error {
	if len(s.ops.ids) == 0 {
		return nil
	}
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	if err := s.evaluateAlerts(ctx); err != nil {
		return err
	}
	return s.sendAlerts(ctx)
}

// ActiveAlerts lists the alerts active now, oldest first.
func (s *Shop) ActiveAlerts(ctx context.Context) ([]Alert, error) {
	var out []Alert
	err := s.st.View(ctx, func(tx store.Tx) error {
		st, err := loadAlerts(tx)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, a := range st.Active {
			out = append(out, *a)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Alert) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return compareStrings(a.Key, b.Key)
	})
	return out, err
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func itemKey(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

// conditions are the service-wide conditions present now; unknown are the
// kinds that could not be judged this pass (they neither raise nor clear).
type conditions struct {
	present map[string]Alert
	unknown map[string]bool
}

func (c *conditions) add(kind string, f AlertFacts) {
	f.Detail = clipParked(f.Detail, 500)
	c.present[kind] = Alert{Key: kind, Kind: kind, Facts: f}
}

// globalConditions judges the service-wide conditions.
func (s *Shop) globalConditions(ctx context.Context, now time.Time) conditions {
	c := conditions{present: map[string]Alert{}, unknown: map[string]bool{}}
	if s.chain != nil {
		st := s.chain.Status()
		var ph PaymentsHealth
		failing := !s.listenerHealth(&ph)
		switch {
		case !st.Connected || st.Error != "" || failing:
			// Detail: the listener's error; or Count, the failures in a row
			// to record payments, and their error; neither: not connected.
			f := AlertFacts{Detail: st.Error}
			if f.Detail == "" && failing {
				f.Count, f.Detail = ph.ListenerFailures, ph.ListenerError
			}
			c.add(AlertListenerDown, f)
		case st.LagSeconds > MaxListenerLag.Seconds():
			c.add(AlertListenerLag, AlertFacts{LagSeconds: st.LagSeconds})
		}
		switch {
		case st.HistoryGap != "":
			c.add(AlertHistoryGap, AlertFacts{Detail: st.HistoryGap})
		case st.Alert != "":
			detail := st.LastProofFailure
			if detail == "" {
				detail = st.Alert
			}
			c.add(AlertProofFailure, AlertFacts{Count: int(min(st.ProofFailures, 1<<31-1)), Detail: detail})
		}
	}
	if err := s.provider.Available(); err != nil {
		c.add(AlertProviderDown, AlertFacts{Detail: err.Error()})
	}
	if h := s.HeldDeliveries(); h != nil {
		if n := h.ByReason[fulfil.HoldFunds]; n > 0 {
			f := AlertFacts{Count: n, NeedNano: h.NeedNano, ShortfallNano: h.ShortfallNano, Address: s.serviceAddr}
			if h.WalletBalanceNano != nil {
				f.BalanceNano = *h.WalletBalanceNano
			}
			c.add(AlertHeldFunds, f)
		}
		if n := h.ByReason[fulfil.HoldChainBehind]; n > 0 {
			c.add(AlertHeldChain, AlertFacts{Count: n, LagSeconds: h.ChainLagSeconds})
		}
		if n := h.ByReason[fulfil.HoldWalletUnrecorded]; n > 0 {
			c.add(AlertHeldWallet, AlertFacts{Count: n, Detail: h.WalletUnrecorded, Address: s.serviceAddr})
		}
		if n := h.ByReason[fulfil.HoldWalletHistory]; n > 0 {
			c.add(AlertHeldHistory, AlertFacts{Count: n, Detail: h.WalletDetail})
		}
		if n := h.ByReason[fulfil.HoldWalletElsewhere]; n > 0 {
			c.add(AlertHeldElsewhere, AlertFacts{Count: n, Detail: h.WalletDetail, Address: s.serviceAddr})
		}
	}
	if a := s.cfg.Telegram.Alerts; a.Refunds > 0 {
		if n := s.ops.refunds.count(now, a.RefundsWindow); n >= a.Refunds {
			c.add(AlertRefundSpike, AlertFacts{Count: n, WindowSeconds: int64(a.RefundsWindow / time.Second)})
		}
	}
	r := s.readWallet(ctx, now)
	if !r.known {
		c.unknown[AlertFloatShort], c.unknown[AlertWalletShort], c.unknown[AlertWalletLow] = true, true, true
		return c
	}
	f := AlertFacts{BalanceNano: r.balance, OwedOrdersNano: r.owedOrders, OwedOrders: r.owedCount,
		OwedBalancesNano: r.owedBalances, OwedUSDT: r.owedUSDT, NeedNano: r.owed(), Address: s.serviceAddr}
	// One alert for one shortage: below what deliveries will cost is the
	// urgent one (deliveries are about to wait), and includes being below all
	// that is owed. Once a delivery is held for funds, held_funds says it
	// with Fragment's exact need, beside wallet_short as before.
	_, heldFunds := c.present[AlertHeldFunds]
	switch {
	case r.balance < r.owedDelivery && !heldFunds:
		c.add(AlertFloatShort, AlertFacts{BalanceNano: r.balance, NeedNano: r.owedDelivery, OwedOrders: r.owedCount,
			ShortfallNano: r.owedDelivery - r.balance, Address: s.serviceAddr})
	case r.balance < r.owed():
		f.ShortfallNano = r.owed() - r.balance
		c.add(AlertWalletShort, f)
	}
	if floor := tonNano(s.cfg.Telegram.Alerts.WalletMinTON); floor > 0 && r.balance < floor {
		f.ShortfallNano, f.ThresholdNano = 0, floor
		c.add(AlertWalletLow, f)
	}
	return c
}

// tonNano converts a TON decimal from the config to nanotons (rounded down;
// saturating).
func tonNano(d interface{ Rat() *big.Rat }) int64 {
	r := new(big.Rat).Mul(d.Rat(), big.NewRat(1_000_000_000, 1))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 1<<63 - 1
	}
	return n.Int64()
}

// walletReading is the service wallet's balance against what is owed.
type walletReading struct {
	known        bool
	at           time.Time
	err          string
	balance      int64
	owedOrders   int64
	owedCount    int
	owedBalances int64
	owedDelivery int64 // the owed orders' Fragment cost (deliveryCost)
	owedUSDT     int64 // USDT units owed (USDT orders and balances)
}

func (r walletReading) owed() int64 { return satAdd(r.owedOrders, r.owedBalances) }

// readWallet reads the wallet balance and what is owed, at most every
// walletTTL.
func (s *Shop) readWallet(ctx context.Context, now time.Time) walletReading {
	o := s.ops
	if o.wallet == nil {
		return walletReading{err: "no wallet reader (sandbox)"}
	}
	// One read at a time (the alert pass and floatLoop); readMu guards only
	// the field, so TONFloat never waits for the chain.
	o.ioMu.Lock()
	defer o.ioMu.Unlock()
	o.readMu.Lock()
	last := o.reading
	o.readMu.Unlock()
	if !last.at.IsZero() && now.Sub(last.at) < walletTTL && now.After(last.at.Add(-time.Second)) {
		return last
	}
	keep := func(r walletReading) walletReading {
		o.readMu.Lock()
		o.reading = r
		o.readMu.Unlock()
		return r
	}
	r := walletReading{at: now}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	bal, err := o.wallet.Balance(cctx)
	cancel()
	if err != nil {
		r.err = err.Error()
		return keep(r)
	}
	rep, err := s.HeldReport(ctx)
	if err != nil {
		r.err = err.Error()
		return keep(r)
	}
	r.known, r.balance = true, bal
	r.owedOrders, r.owedCount, r.owedBalances = rep.OwedOrdersNano, rep.OwedOrders, rep.OwedBalancesNano
	r.owedDelivery = rep.OwedDeliveryNano
	r.owedUSDT = satAdd(rep.OwedOrdersUSDTUnits, rep.OwedBalancesUSDTUnits)
	return keep(r)
}

// evaluateAlerts records the alerts raised and cleared since the last pass.
func (s *Shop) evaluateAlerts(ctx context.Context) error {
	o := s.ops
	now := s.now()
	conds := s.globalConditions(ctx, now)
	for k := range conds.present {
		if _, ok := o.seen[k]; !ok {
			o.seen[k] = now
		}
		delete(o.gone, k)
	}
	for k := range o.seen {
		if _, ok := conds.present[k]; !ok {
			delete(o.seen, k)
		}
	}
	unmatchedMin := tonNano(s.cfg.Telegram.Alerts.UnmatchedMinTON)
	var active map[string]bool
	var raised, cleared []string
	err := s.update(ctx, func(tx *txn) error {
		raised, cleared = raised[:0], cleared[:0]
		st, err := loadAlerts(tx)
		if err != nil {
			return err
		}
		changed := false
		// Notices for ids no longer in telegram.operators (the list changed
		// at a restart) are dropped.
		for i := range st.Queue {
			n := &st.Queue[i]
			if k := slices.DeleteFunc(slices.Clone(n.To), func(x int64) bool { return !s.IsOperator(x) }); len(k) != len(n.To) {
				n.To, changed = k, true
			}
		}
		st.Queue = slices.DeleteFunc(st.Queue, func(n AlertNotice) bool { return len(n.To) == 0 })
		raise := func(a Alert) {
			if st.Active[a.Key] != nil {
				return
			}
			if a.Since.IsZero() {
				a.Since = now
			}
			st.Active[a.Key] = &a
			s.queueNotice(st, a, false, now, o.ids)
			raised, changed = append(raised, a.Key), true
		}
		clear := func(key string) {
			s.clearAlert(st, key, now)
			cleared, changed = append(cleared, key), true
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range st.Active {
				if !yield(k) {
					return
				}
			}
		})
		// Active alerts: still there?
		for _, k := range keys {
			a := st.Active[k]
			if perItem(a.Kind) {
				open, err := itemOpen(tx, a)
				if err != nil {
					return err
				}
				if !open {
					clear(k)
				}
				continue
			}
			if _, present := conds.present[k]; present || conds.unknown[a.Kind] {
				continue
			}
			g, ok := o.gone[k]
			if !ok {
				g = now
				o.gone[k] = now // set once; a rerun of this function finds it
			}
			if now.Sub(g) >= alertTiming[a.Kind].clear {
				clear(k)
			}
		}
		// Service-wide conditions present long enough.
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range conds.present {
				if !yield(k) {
					return
				}
			}
		}) {
			a := conds.present[k]
			if since := o.seen[k]; now.Sub(since) >= alertTiming[a.Kind].raise {
				a.Since = since
				raise(a)
			}
		}
		// New unmatched deposits and parked transfers.
		for {
			us, err := tx.ListUnmatched(st.UnmatchedAfter, maxAdminLimit)
			if err != nil {
				return err
			}
			for _, u := range us {
				st.UnmatchedAfter, changed = u.ID, true
				if u.AssignedAt == nil && !smallDeposit(&u, unmatchedMin) {
					f := AlertFacts{ID: u.ID, AmountNano: u.AmountNano, Address: u.From, Comment: clipParked(u.Comment, 200), TxHash: u.TxHash}
					if cur, amount := u.Amount(); cur == domain.CurrencyUSDT {
						f.Currency, f.AmountUSDT = cur, amount
					}
					raise(Alert{Key: itemKey(AlertUnmatched, u.ID), Kind: AlertUnmatched, Since: u.SeenAt, Facts: f})
				}
			}
			if len(us) < maxAdminLimit {
				break
			}
		}
		for {
			ps, err := tx.ListParked(st.ParkedAfter, maxAdminLimit, false)
			if err != nil {
				return err
			}
			for _, p := range ps {
				st.ParkedAfter, changed = p.ID, true
				if p.Open() {
					f := AlertFacts{ID: p.ID, AmountNano: p.AmountNano, Address: p.From, Comment: clipParked(p.Comment, 200),
						TxHash: p.TxHash, Detail: clipParked(p.Error, 500)}
					if cur, amount := ParkedAmount(&p); cur == domain.CurrencyUSDT {
						f.Currency, f.AmountUSDT = cur, amount
					}
					raise(Alert{Key: itemKey(AlertParked, p.ID), Kind: AlertParked, Since: p.ParkedAt, Facts: f})
				}
			}
			if len(ps) < maxAdminLimit {
				break
			}
		}
		active = map[string]bool{}
		for k := range st.Active {
			active[k] = true
		}
		if !changed {
			return nil
		}
		return saveAlerts(tx, st)
	})
	if err != nil {
		return fmt.Errorf("shop: alerts: %w", err)
	}
	for k := range o.gone {
		if !active[k] {
			delete(o.gone, k)
		}
	}
	for _, k := range raised {
		s.log.Warn("operator alert raised", "alert", k)
	}
	for _, k := range cleared {
		s.log.Info("operator alert cleared", "alert", k)
	}
	return nil
}

// itemOpen reports whether the record of a per-item alert still needs an
// operator.
func itemOpen(tx store.Tx, a *Alert) (bool, error) {
	var err error
	open := false
	switch a.Kind {
	case AlertUnmatched:
		var u *domain.Unmatched
		if u, err = tx.GetUnmatched(a.Facts.ID); err == nil {
			open = u.AssignedAt == nil
		}
	case AlertParked:
		var p *domain.Parked
		if p, err = tx.GetParked(a.Facts.ID); err == nil {
			open = p.Open()
		}
	case AlertWebhookDisabled:
		var w *domain.Webhook
		if w, err = tx.GetWebhook(a.Facts.ID); err == nil {
			open = w.DisabledAt != nil
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return open, err
}

// queueNotice adds a notice for operators to the state.
func (s *Shop) queueNotice(st *alertState, a Alert, cleared bool, now time.Time, to []int64) {
	if len(to) == 0 {
		return
	}
	st.NextID++
	st.Queue = append(st.Queue, AlertNotice{ID: st.NextID, Alert: a, Cleared: cleared, At: now, To: slices.Clone(to)})
	if drop := len(st.Queue) - maxAlertQueue; drop > 0 {
		s.log.Error("operator alerts: too many unsent notices; the oldest are dropped (see /status)", "dropped", drop)
		st.Queue = slices.Delete(st.Queue, 0, drop)
	}
}

// clearAlert ends an active alert: the operators who got (or are still to
// get) its raise notice get a cleared one — except those whose raise notice
// has not gone yet: they get neither.
func (s *Shop) clearAlert(st *alertState, key string, now time.Time) {
	a := st.Active[key]
	if a == nil {
		return
	}
	delete(st.Active, key)
	to := slices.Clone(s.ops.ids)
	for i := range st.Queue {
		n := &st.Queue[i]
		if n.Key == key && !n.Cleared {
			to = slices.DeleteFunc(to, func(id int64) bool { return slices.Contains(n.To, id) })
			n.To = nil
		}
	}
	st.Queue = slices.DeleteFunc(st.Queue, func(n AlertNotice) bool { return len(n.To) == 0 })
	s.queueNotice(st, *a, true, now, to)
}

// alertWebhookDisabled raises the alert of a partner's webhook the shop has
// just disabled, in the caller's transaction (it clears when the partner
// re-enables or deletes it).
func (s *Shop) alertWebhookDisabled(tx store.Tx, p *domain.Partner, reason string) error {
	if len(s.ops.ids) == 0 {
		return nil
	}
	st, err := loadAlerts(tx)
	if err != nil {
		return err
	}
	key := itemKey(AlertWebhookDisabled, p.ID)
	if st.Active[key] != nil {
		return nil
	}
	now := s.now()
	a := Alert{Key: key, Kind: AlertWebhookDisabled, Since: now,
		Facts: AlertFacts{ID: p.ID, Name: p.Name, Detail: clipParked(reason, 500)}}
	st.Active[key] = &a
	s.queueNotice(st, a, false, now, s.ops.ids)
	return saveAlerts(tx, st)
}

// sendAlerts sends each operator the notices waiting for them, as one
// message, within the operator's rate limit (callers hold ops.mu).
func (s *Shop) sendAlerts(ctx context.Context) error {
	box := s.ops.sender.Load()
	if box == nil {
		return nil
	}
	var st *alertState
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		st, err = loadAlerts(tx)
		return err
	}); err != nil {
		return fmt.Errorf("shop: alerts: %w", err)
	}
	o := s.ops
	due := map[int64]bool{}
	for _, n := range st.Queue {
		for _, id := range n.To {
			due[id] = true
		}
	}
	for _, id := range o.ids {
		if !due[id] {
			continue
		}
		now := s.now()
		if now.Before(o.retryAt[id]) {
			continue
		}
		lim := o.limiters[id]
		if lim == nil {
			lim = rate.NewLimiter(rate.Every(alertEvery), alertBurst)
			o.limiters[id] = lim
		}
		if !lim.AllowN(now, 1) {
			continue
		}
		ns, err := s.claimAlerts(ctx, id, now)
		if err != nil {
			return err
		}
		if len(ns) == 0 {
			continue // another instance is sending them (a leader handover)
		}
		err = box.SendAlerts(ctx, Operator{ID: id, Language: s.TelegramLanguage(ctx, id)}, ns)
		done := true
		switch {
		case err == nil:
		case errors.Is(err, ErrOperatorUnreachable):
			s.log.Warn("an operator cannot be reached in Telegram (never sent /start, or blocked the bot); their alerts are dropped",
				"operator", id, "notices", len(ns))
		default:
			done = false
			o.failures[id]++
			delay := wait.Alert.After(o.failures[id])
			var ra retryAfter
			if errors.As(err, &ra) && ra.RetryAfter() > 0 {
				delay = ra.RetryAfter()
			}
			o.retryAt[id] = now.Add(delay)
			if ctx.Err() == nil {
				s.log.Warn("operator alert not sent; will retry", "operator", id, "in", delay, "err", err)
			}
		}
		if done {
			delete(o.failures, id)
			delete(o.retryAt, id)
		}
		if err := s.releaseAlerts(context.WithoutCancel(ctx), id, ns, done); err != nil {
			return err
		}
	}
	return nil
}

// alertLease is how long a claim on an operator's notices stands: an
// instance that claimed them and died is replaced after it.
const alertLease = 2 * time.Minute

// claimAlerts takes the notices waiting for operator id for sending, so no
// other instance sends them meanwhile; none when another instance holds a
// live claim.
func (s *Shop) claimAlerts(ctx context.Context, id int64, now time.Time) ([]AlertNotice, error) {
	var ns []AlertNotice
	err := s.update(ctx, func(tx *txn) error {
		ns = nil
		st, err := loadAlerts(tx)
		if err != nil {
			return err
		}
		if until, ok := st.Sending[id]; ok && now.Before(until) {
			return nil
		}
		for _, n := range st.Queue {
			if slices.Contains(n.To, id) {
				ns = append(ns, n)
			}
		}
		if len(ns) == 0 {
			return nil
		}
		if st.Sending == nil {
			st.Sending = map[int64]time.Time{}
		}
		st.Sending[id] = now.Add(alertLease)
		return saveAlerts(tx, st)
	})
	if err != nil {
		return nil, fmt.Errorf("shop: alerts for %d: %w", id, err)
	}
	return ns, nil
}

// releaseAlerts ends a claim; with sent, the notices are done for id.
func (s *Shop) releaseAlerts(ctx context.Context, id int64, ns []AlertNotice, sent bool) error {
	ids := map[int64]bool{}
	for _, n := range ns {
		ids[n.ID] = true
	}
	err := s.update(ctx, func(tx *txn) error {
		st, err := loadAlerts(tx)
		if err != nil {
			return err
		}
		delete(st.Sending, id)
		for i := range st.Queue {
			n := &st.Queue[i]
			if sent && ids[n.ID] {
				n.To = slices.DeleteFunc(slices.Clone(n.To), func(x int64) bool { return x == id })
			}
		}
		st.Queue = slices.DeleteFunc(st.Queue, func(n AlertNotice) bool { return len(n.To) == 0 })
		return saveAlerts(tx, st)
	})
	if err != nil {
		return fmt.Errorf("shop: alerts sent to %d: %w", id, err)
	}
	return nil
}

// refundWindow remembers when orders were refunded (in this process, as
// they commit), for the refund spike.
type refundWindow struct {
	now func() time.Time
	mu  sync.Mutex
	at  []time.Time
}

const maxRefundMemory = 100_000

func (w *refundWindow) add() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at = append(w.at, w.now())
	if len(w.at) > maxRefundMemory {
		w.at = slices.Delete(w.at, 0, len(w.at)-maxRefundMemory)
	}
}

// count is how many refunds happened within window before now (older
// ones are forgotten).
func (w *refundWindow) count(now time.Time, window time.Duration) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	cut := sort.Search(len(w.at), func(i int) bool { return now.Sub(w.at[i]) < window })
	w.at = w.at[cut:]
	return len(w.at)
}

// teeObserver tells the metrics observer (if any) everything, and counts
// refunds for the alerts.
type teeObserver struct {
	first   Observer
	refunds *refundWindow
}

func (t teeObserver) OrderTransition(from, to domain.Status) {
	if t.first != nil {
		t.first.OrderTransition(from, to)
	}
	if from == domain.StatusProcessing && to == domain.StatusRefunded {
		t.refunds.add()
	}
}

func (t teeObserver) Received(cur domain.Currency, n int64) {
	if t.first != nil {
		t.first.Received(cur, n)
	}
}

func (t teeObserver) Delivery(outcome string) {
	if t.first != nil {
		t.first.Delivery(outcome)
	}
}

func (t teeObserver) Notification(channel domain.Channel, outcome string) {
	if t.first != nil {
		t.first.Notification(channel, outcome)
	}
}

func (t teeObserver) TransfersParked(n int) {
	if po, ok := t.first.(PaymentsObserver); ok {
		po.TransfersParked(n)
	}
}

func (t teeObserver) ListenerFailed() {
	if po, ok := t.first.(PaymentsObserver); ok {
		po.ListenerFailed()
	}
}
