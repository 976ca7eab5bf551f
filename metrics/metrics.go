// Package metrics exposes the service's Prometheus metrics on their own
// registry (never the global default one). It implements the api's request
// Observer and the shop's Observer (and PaymentsObserver), so neither of those packages depends on
// Prometheus, and serves /metrics on a listener of its own (metrics.listen),
// never on the partner API's.
//
// Labels carry no partner data: routes are patterns ("GET
// /api/v1/orders/{id}"), statuses, order statuses, outcomes and channels, all
// from fixed sets; no partner ids, keys, usernames, addresses or memos.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/ton"
)

// Namespace prefixes every metric name.
const Namespace = "openmoney"

// Metrics is the service's metric set and its registry. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	rateLimited    *prometheus.CounterVec
	transitions    *prometheus.CounterVec
	received       prometheus.Counter
	receivedUSDT   prometheus.Counter
	transfers      prometheus.Counter
	deliveries     *prometheus.CounterVec
	notifications  *prometheus.CounterVec
	webhooks       *prometheus.CounterVec
	telegramErrors prometheus.Counter
	parked         prometheus.Counter
	listenerFails  prometheus.Counter
	batchesSent    prometheus.Counter
	batchSize      prometheus.Histogram
	lookupFails    prometheus.Counter
}

// New builds the metrics on a fresh registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "http",
			Name: "requests_total", Help: "HTTP requests to the partner API by route pattern and status."},
			[]string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "http",
			Name: "request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "http",
			Name: "rate_limited_total", Help: "Requests refused with 429 RATE_LIMITED, by route pattern."},
			[]string{"route"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "orders",
			Name: "transitions_total", Help: `Committed order status changes; from="new" for a created order.`},
			[]string{"from", "to"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "ton",
			Name: "received_nanotons_total", Help: "Nanotons of incoming transfers accounted (orders, balances, unmatched), each transfer once."}),
		receivedUSDT: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "ton",
			Name: "received_usdt_units_total", Help: "USDT units (10^-6 USDT) of incoming jetton transfers accounted (orders, balances, unmatched), each transfer once."}),
		transfers: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "ton",
			Name: "received_transfers_total", Help: "Incoming transfers accounted (TON and USDT), each once."}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "delivery",
			Name: "outcomes_total", Help: "Delivery attempt outcomes: completed, refunded, retry, held (waits for funds or the chain; never refunded for it)."},
			[]string{"outcome"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "notifications",
			Name: "total", Help: "Outbox sends by channel (telegram, webhook) and outcome (sent, error, failed)."},
			[]string{"channel", "outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "webhook",
			Name: "deliveries_total", Help: "Webhook delivery attempts by outcome: sent, error (will retry), failed (given up)."},
			[]string{"outcome"}),
		telegramErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "telegram",
			Name: "send_errors_total", Help: "Telegram notification sends that failed (will be retried)."}),
		parked: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "payments",
			Name: "parked_total", Help: "Incoming transfers parked because their processing failed (each once)."}),
		listenerFails: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "listener",
			Name: "failures_total", Help: "Times the payment listener failed to record a batch or stopped, and retried."}),
		batchesSent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "fragment",
			Name: "batches_sent_total", Help: "Service wallet messages recorded and broadcast carrying Fragment payments (a rebroadcast of the same message is not counted)."}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "fragment",
			Name: "payments_per_batch", Help: "Fragment payments carried by each wallet message sent (at most 255 with v5r1, 4 with v4r2).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 255}}),
		lookupFails: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "fragment",
			Name: "lookup_failures_total", Help: "Passes looking the open payment batches up on chain (or recording what they found) that failed and were retried."}),
	}
	reg.MustRegister(m.requests, m.latency, m.rateLimited, m.transitions, m.received, m.receivedUSDT, m.transfers,
		m.deliveries, m.notifications, m.webhooks, m.telegramErrors, m.parked, m.listenerFails,
		m.batchesSent, m.batchSize, m.lookupFails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{shop.DeliveryCompleted, shop.DeliveryRefunded, shop.DeliveryRetry, shop.DeliveryHeld} {
		m.deliveries.WithLabelValues(o) // present at 0 from the start
	}
	for _, o := range []string{shop.NotifySent, shop.NotifyError, shop.NotifyFailed} {
		m.webhooks.WithLabelValues(o)
	}
	return m
}

// Registry is the registry the metrics live on (to add collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format. Mount it
// on the metrics listener only (see Serve), never on the partner API.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WatchListener adds gauges read at each scrape from the chain source's
// status: lag, last block, proof failures, a held history gap, connected.
func (m *Metrics) WatchListener(status func() ton.Status) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "listener", Name: "lag_seconds",
			Help: "Seconds between now and the last block the TON listener processed."},
			func() float64 { return status().LagSeconds }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "listener", Name: "last_block",
			Help: "Sequence number of the last masterchain block the TON listener processed."},
			func() float64 { return float64(status().LastBlock) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "listener", Name: "proof_failures_total",
			Help: "Liteserver answers that failed verification (a block, proof or link that does not check); none was used."},
			func() float64 { return float64(status().ProofFailures) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "listener", Name: "history_gap",
			Help: "1 while backfill holds the cursor before account history no liteserver could serve, else 0."},
			func() float64 {
				if status().HistoryGap != "" {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "listener", Name: "connected",
			Help: "1 when the TON listener is connected, else 0."},
			func() float64 {
				if status().Connected {
					return 1
				}
				return 0
			}),
	)
}

// WatchParked adds a gauge read at each scrape: the parked transfers
// waiting for the operator (shop.ParkedCount); -1 when the store cannot say.
func (m *Metrics) WatchParked(count func(context.Context) (int, error)) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "payments",
		Name: "parked_transfers", Help: "Incoming transfers parked and waiting for the operator (GET /api/v1/admin/parked)."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := count(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
}

// TransfersParked implements shop.PaymentsObserver.
func (m *Metrics) TransfersParked(n int) { m.parked.Add(float64(n)) }

// ListenerFailed implements shop.PaymentsObserver.
func (m *Metrics) ListenerFailed() { m.listenerFails.Inc() }

// PaymentBatchSent implements fragment.Observer.
func (m *Metrics) PaymentBatchSent(payments int) {
	m.batchesSent.Inc()
	m.batchSize.Observe(float64(payments))
}

// PaymentLookupFailed implements fragment.Observer.
func (m *Metrics) PaymentLookupFailed() { m.lookupFails.Inc() }

// WatchPayments adds gauges read at each scrape from the Fragment payments
// on their way (fragment.Provider.PaymentsHealth, through open): wallet
// messages recorded and not settled, and the payments they carry not
// settled yet. Both are 0 on an instance that does not run the payments
// (a follower).
func (m *Metrics) WatchPayments(open func() (batches, inFlight int)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "fragment", Name: "open_batches",
			Help: "Service wallet messages carrying Fragment payments, recorded and not settled yet."},
			func() float64 { b, _ := open(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "fragment", Name: "payments_in_flight",
			Help: "Fragment payments sent in a wallet message whose outcome (paid, bounced, unpaid) is not known yet."},
			func() float64 { _, n := open(); return float64(n) }),
	)
}

// WatchHolds adds gauges read at each scrape from the shop's held
// deliveries (shop.HeldDeliveries): how many orders wait, by reason, and
// for funds the wallet balance and the shortfall, for the chain the lag.
func (m *Metrics) WatchHolds(held func() *shop.HoldSummary) {
	gauge := func(name, help string, labels prometheus.Labels, f func(*shop.HoldSummary) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "delivery", Name: name,
			Help: help, ConstLabels: labels}, func() float64 {
			if h := held(); h != nil {
				return f(h)
			}
			return 0
		})
	}
	for _, reason := range []string{fulfil.HoldFunds, fulfil.HoldChainBehind, fulfil.HoldWalletUnrecorded, fulfil.HoldWalletHistory, fulfil.HoldWalletElsewhere} {
		m.reg.MustRegister(gauge("held_orders", "Paid orders whose delivery waits (stays processing, never refunded for it), by reason: insufficient_funds (the service wallet cannot pay, fees included), chain_behind (the chain view is too old to settle a sent payment), wallet_unrecorded (the service wallet sent messages the store has no record of: nothing is paid until an operator reconciles), wallet_history_unread (the wallet's history that settles a sent payment is not served), wallet_used_elsewhere (a message this service did not sign took a sent payment's seqno: nothing is paid until an operator releases the batch).",
			prometheus.Labels{"reason": reason}, func(h *shop.HoldSummary) float64 { return float64(h.ByReason[reason]) }))
	}
	m.reg.MustRegister(
		gauge("held_shortfall_nanotons", "Nanotons to add to the service wallet so every delivery held for funds can be paid (0 when none is).",
			nil, func(h *shop.HoldSummary) float64 { return float64(h.ShortfallNano) }),
		gauge("held_wallet_balance_nanotons", "The service wallet balance as last read by a delivery held for funds (0 when none is).",
			nil, func(h *shop.HoldSummary) float64 {
				if h.WalletBalanceNano == nil {
					return 0
				}
				return float64(*h.WalletBalanceNano)
			}),
		gauge("held_chain_lag_seconds", "How far the chain view of a delivery held for the chain is behind this clock (0 when none is).",
			nil, func(h *shop.HoldSummary) float64 { return h.ChainLagSeconds }),
	)
}

// WatchFloat adds gauges read at each scrape from the TON float
// (shop.TONFloat, as last read; no chain read at scrape time): the service
// wallet's TON, what the paid orders awaiting delivery will cost at
// Fragment, and the shortfall; -1 for all three while no reading exists
// (sandbox mode, or before the first).
func (m *Metrics) WatchFloat(float func() *shop.TONFloat) {
	gauge := func(name, help string, f func(*shop.TONFloat) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "ton", Name: name, Help: help},
			func() float64 {
				if v := float(); v != nil {
					return float64(f(v))
				}
				return -1
			})
	}
	m.reg.MustRegister(
		gauge("float_nanotons", "The service wallet's TON balance as last read (delivery pays Fragment from it, whatever the customer paid in); -1 when unknown.",
			func(v *shop.TONFloat) int64 { return v.WalletNano }),
		gauge("owed_delivery_nanotons", "What the paid orders awaiting delivery (TON and USDT orders) will cost at Fragment, in nanotons, as last read; -1 when unknown.",
			func(v *shop.TONFloat) int64 { return v.OwedDeliveryNano }),
		gauge("float_shortfall_nanotons", "Nanotons the service wallet lacks to pay the deliveries owed (0 when covered); -1 when unknown.",
			func(v *shop.TONFloat) int64 { return v.ShortfallNano }),
	)
}

// ObserveRequest implements api.Observer.
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	if route == "" {
		route = "other" // outside the route table: unknown paths (404/405), static docs
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
	if status == http.StatusTooManyRequests {
		m.rateLimited.WithLabelValues(route).Inc()
	}
}

var orderStatuses = map[domain.Status]bool{
	domain.StatusPendingPayment: true, domain.StatusPaid: true, domain.StatusProcessing: true, domain.StatusCompleted: true,
	domain.StatusFailed: true, domain.StatusRefunded: true, domain.StatusExpired: true, domain.StatusCancelled: true,
}

// known keeps label values within a fixed set.
func known[T ~string](v T, ok bool) string {
	if ok {
		return string(v)
	}
	return "other"
}

// OrderTransition implements shop.Observer.
func (m *Metrics) OrderTransition(from, to domain.Status) {
	label := "new"
	if from != "" {
		label = known(from, orderStatuses[from])
	}
	m.transitions.WithLabelValues(label, known(to, orderStatuses[to])).Inc()
}

// Received implements shop.Observer.
func (m *Metrics) Received(cur domain.Currency, amount int64) {
	if amount <= 0 {
		return
	}
	if cur == domain.CurrencyUSDT {
		m.receivedUSDT.Add(float64(amount))
	} else {
		m.received.Add(float64(amount))
	}
	m.transfers.Inc()
}

// Delivery implements shop.Observer.
func (m *Metrics) Delivery(outcome string) {
	ok := outcome == shop.DeliveryCompleted || outcome == shop.DeliveryRefunded || outcome == shop.DeliveryRetry ||
		outcome == shop.DeliveryHeld
	m.deliveries.WithLabelValues(known(outcome, ok)).Inc()
}

// Notification implements shop.Observer.
func (m *Metrics) Notification(channel domain.Channel, outcome string) {
	label := known(channel, channel == domain.ChannelTelegram || channel == domain.ChannelWebhook)
	outcome = known(outcome, outcome == shop.NotifySent || outcome == shop.NotifyError || outcome == shop.NotifyFailed)
	m.notifications.WithLabelValues(label, outcome).Inc()
	switch channel {
	case domain.ChannelWebhook:
		m.webhooks.WithLabelValues(outcome).Inc()
	case domain.ChannelTelegram:
		if outcome != shop.NotifySent {
			m.telegramErrors.Inc()
		}
	}
}

// Serve serves h at /metrics on ln until ctx ends, then shuts down (5 s
// grace). Any other path is 404.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// ListenAndServe listens on addr (metrics.listen) and calls Serve.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	return Serve(ctx, ln, h, log)
}
