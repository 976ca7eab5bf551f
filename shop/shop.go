// Package shop is the business: partners and keys, pricing, orders, payment
// matching, the balance ledger, expiry, delivery with refunds and the
// notification outbox. It is the only place money rules live; api and bot
// translate requests into calls here. It consumes the store, the chain
// source, the delivery provider and the rate source through interfaces.
package shop

import (
	"context"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// Provider delivers Stars/Premium (fulfil.Sandbox, fulfil/fragment).
type Provider interface {
	CheckRecipient(ctx context.Context, kind domain.Kind, username string) (fulfil.Recipient, error)
	// Deliver returns an error wrapping fulfil.ErrPermanent (refund),
	// fulfil.ErrUnavailable (wait), or any other error (retry later).
	Deliver(ctx context.Context, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error)
	// Available is nil when new orders may be taken.
	Available() error
}

// Rates supplies the TON/USD rate; pricing.ErrStale when none is usable.
type Rates interface {
	Current(ctx context.Context) (pricing.Rate, error)
}

// Notifier sends one outbox item on its channel (the bot, webhooks). An error
// that implements RetryAfter() time.Duration sets the next attempt. A
// webhook notifier returns ErrWebhookDisabled, without sending, for a
// partner whose webhook is disabled: the event is then dropped with a
// failed delivery row the partner can redeliver.
type Notifier interface {
	Notify(ctx context.Context, p *domain.Partner, it *domain.OutboxItem) error
}

// ErrWebhookDisabled: the event was not sent because the partner's webhook
// is disabled (see Notifier).
var ErrWebhookDisabled = errors.New("webhook disabled")

// watcher is implemented by chain sources that filter by address (the real
// listener); new partners' top-up addresses are added to it.
type watcher interface{ Watch(raws ...string) }

// Deps are what the shop runs on.
type Deps struct {
	Config   *config.Config
	Store    store.Store
	Keys     *ton.Keys
	Chain    ton.Source
	Sandbox  *ton.Sandbox // nil unless ton.network is sandbox
	Provider Provider
	Rates    Rates
	Now      func() time.Time
	Log      *slog.Logger
	Version  string
	// Observer, when set, is told about committed order transitions,
	// received TON, delivery and notification outcomes (metrics).
	Observer Observer
	// Wallet, when set, reads the service wallet's balance for the
	// operators' alerts and /status (nil: not known, e.g. in sandbox mode).
	Wallet WalletBalance
	// Jettons finds our USDT jetton wallets (nil in sandbox mode: the
	// sandbox's made-up ones).
	Jettons JettonResolver
}

// Shop is the business service. Safe for concurrent use.
type Shop struct {
	memo     atomic.Pointer[memoCipher]   // set once the store's memo key is committed
	checkout atomic.Pointer[checkoutKeys] // set once the store's checkout secret is read (checkout.go)
	cfg      *config.Config
	st       store.Store
	keys     *ton.Keys
	chain    ton.Source
	sandbox  *ton.Sandbox
	provider Provider
	rates    Rates
	now      func() time.Time // UTC, to the microsecond: what every store keeps
	log      *slog.Logger
	version  string
	obs      Observer // nil: nothing reported
	txObs    Observer // told what each committed transaction did (obs and the operators' alerts); nil: nothing

	fee          *big.Rat
	feeText      string // Decimal(fee)
	priceMu      sync.Mutex
	prices       map[priceKey]priced // see price
	usdPerStar   *big.Rat
	premiumUSD   map[int]*big.Rat
	serviceRaw   string
	serviceAddr  string
	notifyMu     sync.Mutex
	notifiers    map[domain.Channel]Notifier
	healthMu     sync.Mutex
	healthChecks map[string]func() (bool, any)
	kick         chan struct{} // wakes the delivery loop
	held         holdSet       // deliveries waiting on a *fulfil.Hold (holds.go)
	running      running       // deliveries in progress (lifecycle.go)
	keyUseMu     sync.Mutex
	keyUse       map[string]time.Time // last-used stamps not yet written
	// authCache maps live key hashes to partner ids; entries are removed in
	// the same call that revokes or rotates a key, so a dead key answers 401
	// at once (within this process; see docs for several instances).
	authMu    sync.RWMutex
	authCache map[string]authEntry
	authGen   uint64 // bumped by every forget
	listen    listenerState
	usdt      usdtState  // USDT on TON (usdt.go)
	ops       *operators // telegram.operators: alerts, commands, the Fragment session (alerts.go)
}

// New builds the shop.
func New(d Deps) (*Shop, error) {
	if d.Config == nil || d.Store == nil || d.Keys == nil || d.Provider == nil || d.Rates == nil {
		return nil, errors.New("shop: Config, Store, Keys, Provider and Rates are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	ops := newOperators(d)
	s := &Shop{
		cfg: d.Config, st: d.Store, obs: d.Observer, txObs: ops.storeObserver(d.Observer), keys: d.Keys, chain: d.Chain, sandbox: d.Sandbox,
		provider: d.Provider, rates: d.Rates, now: func() time.Time { return d.Now().UTC().Truncate(time.Microsecond) },
		log: d.Log, version: d.Version,
		fee:          d.Config.Pricing.FeePercent.Rat(),
		prices:       map[priceKey]priced{},
		usdPerStar:   d.Config.Pricing.Stars.USDPerStar.Rat(),
		premiumUSD:   map[int]*big.Rat{},
		serviceRaw:   d.Keys.ServiceAddressRaw(),
		serviceAddr:  d.Keys.ServiceAddress(),
		notifiers:    map[domain.Channel]Notifier{},
		healthChecks: map[string]func() (bool, any){},
		kick:         make(chan struct{}, 1),
		keyUse:       map[string]time.Time{},
		authCache:    map[string]authEntry{},
		ops:          ops,
	}
	for m, p := range d.Config.Pricing.PremiumUSD {
		s.premiumUSD[m] = p.Rat()
	}
	u, err := newUSDT(d)
	if err != nil {
		return nil, err
	}
	s.usdt = u
	s.feeText = money.Decimal(s.fee)
	return s, nil
}

// SandboxMode reports whether the chain is simulated.
func (s *Shop) SandboxMode() bool { return s.sandbox != nil }

// ServiceAddress is the payment address of ton_memo orders.
func (s *Shop) ServiceAddress() string { return s.serviceAddr }

// Version of the running binary.
func (s *Shop) Version() string { return s.version }

// RegisterNotifier sets the sender of a channel's outbox (domain.ChannelTelegram, …).
func (s *Shop) RegisterNotifier(channel domain.Channel, n Notifier) {
	if s.obs != nil && n != nil {
		n = observedNotifier{Notifier: n, channel: channel, obs: s.obs}
	}
	s.notifyMu.Lock()
	s.notifiers[channel] = n
	s.notifyMu.Unlock()
}

// RegisterHealth adds a component to the health report; fn returns whether it
// is healthy and details to show.
func (s *Shop) RegisterHealth(name string, fn func() (bool, any)) {
	s.healthMu.Lock()
	s.healthChecks[name] = fn
	s.healthMu.Unlock()
}

func (s *Shop) notifier(channel domain.Channel) Notifier {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notifiers[channel]
}

// Run runs the background loops (payment listener, expiry, delivery, outbox
// senders, housekeeping) until ctx ends; with several instances only the
// leader runs them (RunLocal runs on every instance). All their state lives in the store,
// so they resume after a restart.
func (s *Shop) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	loops := []func(context.Context){s.listenLoop, s.expiryLoop, s.deliveryLoop, s.housekeepingLoop, s.alertLoop, s.jettonLoop, s.floatLoop,
		func(ctx context.Context) { s.outboxLoop(ctx, domain.ChannelTelegram) },
		func(ctx context.Context) { s.outboxLoop(ctx, domain.ChannelWebhook) }}
	for _, l := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); l(ctx) }()
	}
	wg.Wait()
	return nil
}

// sandboxSeedMeta names the store meta value holding the sandbox wallet seed.
const sandboxSeedMeta = "sandbox_wallet_seed"

// SandboxSeed is the sandbox mode's wallet seed: generated once and kept in
// the store, so sandbox addresses stay the same across restarts.
func SandboxSeed(ctx context.Context, st store.Store) ([]string, error) {
	var seed string
	err := st.Update(ctx, func(tx store.Tx) error {
		v, err := tx.GetMeta(sandboxSeedMeta)
		if err == nil {
			seed = string(v)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		seed = strings.Join(ton.NewSeed(), " ")
		return tx.PutMeta(sandboxSeedMeta, []byte(seed))
	})
	return strings.Fields(seed), err
}
