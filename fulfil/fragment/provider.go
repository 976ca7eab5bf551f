// Package fragment delivers Telegram Stars and Premium by buying them on
// Fragment (fragment.com) and paying in TON from the service wallet.
//
// Fragment has no public API; the provider drives the JSON endpoint its own
// pages use (POST {base}/api?hash=…, form-encoded, field "method"), as the
// public clients do. docs/FRAGMENT.md pins the methods and fields used.
//
// Throughput: Deliver calls run concurrently; their Fragment requests run in
// parallel and their payments leave the service wallet in batches, one
// wallet message carrying up to 255 of them (v5r1; 4 for v4r2). See
// pipeline.go and docs/FRAGMENT.md.
//
// Money safety: before a batch is broadcast, the batch (seqno, hash, BOC,
// valid_until) and each order's exact message are recorded in the store in
// one transaction. A Deliver call that finds its order's message there never
// pays again while that batch might still run: it waits for the batch's
// outcome on chain and finishes (paid), refunds (bounced) or starts over with
// a fresh Fragment request (the batch never ran, or this payment did not
// leave the wallet).
package fragment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/ton"
)

// Defaults of Options.
const (
	DefaultBaseURL           = "https://fragment.com"
	DefaultRecipientCacheTTL = 60 * time.Second
	DefaultFeeReserveNano    = 50_000_000 // 0.05 TON kept beyond payments and fees
	DefaultPollInterval      = time.Second
	DefaultConfirmTimeout    = 4 * time.Minute
	DefaultMinLinkValidity   = 30 * time.Second
	DefaultResendAfter       = 20 * time.Second
	DefaultProbeUsername     = "durov"
	DefaultConcurrency       = 32
	DefaultMaxUnpaid         = 3
	DefaultRetryAfterMax     = 5 * time.Second

	linkAttempts = 3
)

// Options configure a Provider. Zero values take the defaults.
type Options struct {
	BaseURL string // fulfillment.fragment.base_url (default https://fragment.com)
	// Hash is the api hash (FRAGMENT_HASH). When empty, or when Fragment
	// answers "Bad request", it is read from the /stars/buy page.
	Hash string
	// Cookies are the stel_ssid, stel_dt, stel_token, stel_ton_token cookies
	// of a logged-in session, "k=v; k=v" (FRAGMENT_COOKIES). Never logged.
	Cookies string
	// Session, when set, is asked before every request for a session that
	// replaces Cookies and Hash at runtime (an operator's /fragment, kept by
	// the shop); while it returns empty cookies, Cookies and Hash are used.
	Session    func() (cookies, hash string)
	HTTPClient *http.Client // default: 20 s timeout
	Wallet     Payer        // the service wallet (required)
	// Records keeps the payment batches and each order's message
	// (required): the service's own store (shop.PayerRecords), so they live
	// and are copied with the orders.
	Records Records
	Log     *slog.Logger
	Now     func() time.Time
	// Observer, when set, is told of each batch sent and each failed
	// look-up pass (the service's metrics).
	Observer Observer
	// RecipientCacheTTL is how long CheckRecipient answers are reused.
	RecipientCacheTTL time.Duration

	// FeeReserveNano is what the wallet must keep beyond a batch's payments
	// and its fees (Payer.Fee; default 0.05 TON); payments a poorer wallet
	// cannot cover are held (fulfil.ErrInsufficientFunds) until it is funded.
	FeeReserveNano int64
	// MaxAmountNano refuses to pay any single Fragment message above it
	// (0 = no cap), a guard against a wrong price.
	MaxAmountNano int64
	// ShowSender asks Fragment to show the buyer's Fragment account to the
	// recipient (show_sender=1). Default: anonymous.
	ShowSender bool
	// PollInterval between lookups of the open batches (default 1 s).
	PollInterval time.Duration
	// ConfirmTimeout bounds how long one Deliver call waits for the chain;
	// afterwards it returns a transient error and the next call resumes.
	ConfirmTimeout time.Duration
	// MinLinkValidity: a link expiring sooner is re-requested, never paid.
	MinLinkValidity time.Duration
	// ResendAfter: a batch still pending after this long is rebroadcast
	// (the same signed message; it can run only once).
	ResendAfter time.Duration
	// Concurrency bounds the Fragment requests (search, init, link) made
	// at once across deliveries (default 32).
	Concurrency int
	// Ahead bounds the payments holding a link but not yet in a batch
	// (default twice the wallet's MaxMessages): links are asked for no
	// earlier than the wallet can pay them, so they do not expire waiting.
	Ahead int
	// MaxUnpaid: an order whose payments left the wallet this many times
	// without paying (batch never ran) is refunded (default 3).
	MaxUnpaid int
	// RetryAfterMax: a 429 whose Retry-After is at most this long is waited
	// out and the call retried (up to 3 times); a longer one fails the
	// attempt with the error's RetryAfter (default 5 s).
	RetryAfterMax time.Duration
	// ProbeUsername is searched by Probe (default "durov").
	ProbeUsername string
	UserAgent     string
}

// Observer is told what the payment pipeline does (metrics).
type Observer interface {
	// PaymentBatchSent: a batch carrying payments was recorded and broadcast.
	PaymentBatchSent(payments int)
	// PaymentLookupFailed: a pass looking the open batches up on chain (or
	// recording what it found) failed; the next pass tries again.
	PaymentLookupFailed()
}

// Provider is the Fragment delivery provider (fulfillment.provider: fragment).
// Safe for concurrent use.
type Provider struct {
	base      string
	cookies   string
	http      *http.Client
	wallet    Payer
	log       *slog.Logger
	now       func() time.Time
	cacheTTL  time.Duration
	userAgent string
	opt       Options

	mu         sync.Mutex
	hash       string
	inUse      string // the cookies (and hash) of the session in use, to see Options.Session change
	downReason string
	downSince  time.Time
	cache      map[string]cachedRecipient
	// short: deliveries held for funds (Ref → what they needed). Their next
	// attempt first reads the balance, and only a wallet that now covers
	// the need asks Fragment for a new payment link.
	short map[string]int64

	records Records
	guard   walletGuard
	// pipe is the running payment pipeline (nil while none runs); pipeMu
	// orders its start and stop, closed refuses a start after Close.
	pipeMu sync.Mutex
	closed bool
	pipe   atomic.Pointer[pipeline]
}

type cachedRecipient struct {
	rec fulfil.Recipient
	at  time.Time
}

// New returns a Fragment provider.
func New(opts Options) (*Provider, error) {
	if opts.Wallet == nil {
		return nil, errors.New("fragment: Options.Wallet is required")
	}
	if opts.Records == nil {
		return nil, errors.New("fragment: Options.Records is required (the payment batches are recorded there)")
	}
	base := strings.TrimRight(strings.TrimSpace(opts.BaseURL), "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fragment: bad base URL %q", opts.BaseURL)
	}
	cookies := normalizeCookies(opts.Cookies)
	if cookies == "" {
		return nil, errors.New("fragment: session cookies are required")
	}
	hash := strings.TrimSpace(opts.Hash)
	if hash != "" && !isHex(hash) {
		return nil, errors.New("fragment: the api hash must be hex")
	}
	p := &Provider{
		base:      base,
		cookies:   cookies,
		http:      opts.HTTPClient,
		wallet:    opts.Wallet,
		log:       opts.Log,
		now:       opts.Now,
		cacheTTL:  opts.RecipientCacheTTL,
		userAgent: opts.UserAgent,
		opt:       opts,
		hash:      strings.ToLower(hash),
		cache:     map[string]cachedRecipient{},
		short:     map[string]int64{},
		records:   opts.Records,
	}
	if p.http == nil {
		p.http = &http.Client{Timeout: 20 * time.Second}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.cacheTTL <= 0 {
		p.cacheTTL = DefaultRecipientCacheTTL
	}
	if p.userAgent == "" {
		p.userAgent = defaultUserAgent
	}
	o := &p.opt
	if o.FeeReserveNano <= 0 {
		o.FeeReserveNano = DefaultFeeReserveNano
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ConfirmTimeout <= 0 {
		o.ConfirmTimeout = DefaultConfirmTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Ahead <= 0 {
		o.Ahead = 2 * o.Wallet.MaxMessages()
	}
	if o.MaxUnpaid <= 0 {
		o.MaxUnpaid = DefaultMaxUnpaid
	}
	if o.RetryAfterMax <= 0 {
		o.RetryAfterMax = DefaultRetryAfterMax
	}
	if o.MinLinkValidity <= 0 {
		o.MinLinkValidity = DefaultMinLinkValidity
	}
	if o.ResendAfter <= 0 {
		o.ResendAfter = DefaultResendAfter
	}
	if o.ProbeUsername == "" {
		o.ProbeUsername = DefaultProbeUsername
	}
	return p, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return len(s) > 0 && len(s) <= 64
}

// Available is nil when new orders may be taken, and otherwise an error
// wrapping fulfil.ErrUnavailable saying why (the Fragment session or hash was
// refused). It turns nil again after any successful Fragment call (Probe).
func (p *Provider) Available() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.downReason == "" {
		return nil
	}
	return fmt.Errorf("%w: fragment: %s (since %s)", fulfil.ErrUnavailable, p.downReason, p.downSince.UTC().Format(time.RFC3339))
}

// Probe checks the Fragment session with a recipient search; the lead calls
// it periodically (e.g. every minute) so Available recovers without waiting
// for an order. It returns nil when Fragment answered normally.
func (p *Provider) Probe(ctx context.Context) error {
	_, err := p.search(ctx, domain.KindStars, p.opt.ProbeUsername, 0)
	var re *recipientError
	if errors.As(err, &re) {
		return nil // a normal "cannot receive" answer proves the session works
	}
	return err
}

// MaxConcurrent is how many deliveries the shop may run at once: enough to
// keep the wallet's batches full (fulfil.Concurrent).
func (p *Provider) MaxConcurrent() int {
	return max(8*p.wallet.MaxMessages(), p.opt.Ahead+p.opt.Concurrency)
}

// Close stops the payment pipeline (batcher, resolver) for good. Recorded
// batches are followed again by the next Provider over the same store.
func (p *Provider) Close() {
	p.pipeMu.Lock()
	p.closed = true
	pl := p.pipe.Swap(nil)
	p.pipeMu.Unlock()
	if pl != nil {
		pl.stop()
	}
}

// RunPayments runs the payment pipeline (batcher, resolver, confirm
// workers) until ctx ends, then stops it; a later call (or Deliver) starts
// a new one from the store's records. It is the delivery loop's companion:
// with several instances on one store it runs on the leader only (main's
// leaderWork), so one instance signs and settles the wallet's payments. A
// pipeline that cannot read the open batches is tried again every
// RetryStartEvery.
func (p *Provider) RunPayments(ctx context.Context) error {
	for {
		pl := p.startPipeline()
		if pl.err == nil {
			<-ctx.Done()
			p.stopPipeline(pl)
			return nil
		}
		if errors.Is(pl.err, errClosed) {
			return nil
		}
		t := time.NewTimer(RetryStartEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// RetryStartEvery: how often RunPayments tries again to start a pipeline
// whose open batches could not be read.
const RetryStartEvery = 5 * time.Second

// Run probes the session every interval (default 1 min; first probe at
// once) until ctx ends, so Available recovers (or turns unavailable)
// without an order; every instance runs it (new orders are refused while
// the provider is unavailable). It returns nil when ctx is cancelled. The
// payments run in RunPayments.
func (p *Provider) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.Probe(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("fragment: probe failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// CheckRecipient asks Fragment's search whether username can receive kind
// ("stars" | "premium"). Answers are cached for RecipientCacheTTL. A name
// Fragment rejects gives CanReceive=false with Fragment's own reason; a
// refused session gives an error wrapping fulfil.ErrUnavailable.
func (p *Provider) CheckRecipient(ctx context.Context, kind domain.Kind, username string) (fulfil.Recipient, error) {
	user := cleanUsername(username)
	if kind != domain.KindStars && kind != domain.KindPremium {
		return fulfil.Recipient{}, fmt.Errorf("fragment: unknown kind %q", kind)
	}
	key := string(kind) + "\x00" + strings.ToLower(user)
	p.mu.Lock()
	if c, ok := p.cache[key]; ok && p.now().Sub(c.at) < p.cacheTTL {
		p.mu.Unlock()
		return c.rec, nil
	}
	p.mu.Unlock()

	var rec fulfil.Recipient
	_, err := p.search(ctx, kind, user, 0)
	var re *recipientError
	switch {
	case err == nil:
		rec = fulfil.Recipient{CanReceive: true}
	case errors.As(err, &re):
		rec = fulfil.Recipient{Reason: re.reason}
	default:
		return fulfil.Recipient{}, err
	}
	p.mu.Lock()
	now := p.now()
	for k, c := range p.cache { // keep the cache small
		if now.Sub(c.at) >= p.cacheTTL {
			delete(p.cache, k)
		}
	}
	p.cache[key] = cachedRecipient{rec: rec, at: now}
	p.mu.Unlock()
	return rec, nil
}

// recipientError is Fragment saying the username cannot receive.
type recipientError struct{ reason string }

func (e *recipientError) Error() string { return "fragment: recipient refused: " + e.reason }

func cleanUsername(u string) string {
	u = strings.TrimSpace(u)
	u = strings.TrimPrefix(u, "@")
	return u
}

// search runs search*Recipient and returns Fragment's opaque recipient token.
// months is the premium duration (0: 3 for a plain check).
func (p *Provider) search(ctx context.Context, kind domain.Kind, user string, months int) (string, error) {
	form := url.Values{"query": {user}}
	page, method := pageStars, "searchStarsRecipient"
	if kind == domain.KindPremium {
		page, method = pagePremium, "searchPremiumGiftRecipient"
		if months == 0 {
			months = 3
		}
		form.Set("months", strconv.Itoa(months))
	} else {
		form.Set("quantity", "")
	}
	r, err := p.call(ctx, page, method, form)
	if err != nil {
		return "", err
	}
	if r.HasError {
		switch classifyError(r.Error) {
		case kindTransient:
			return "", fmt.Errorf("fragment: %s: %s", method, r.Error)
		case kindRecipient, kindOther:
			return "", &recipientError{reason: r.Error}
		}
	}
	if r.Found == nil || r.Found.Recipient == "" {
		return "", &recipientError{reason: "No Telegram user found with this username."}
	}
	return r.Found.Recipient, nil
}

// Deliver buys r on Fragment and pays for it in one of the service wallet's
// batches. See the package comment for the never-pay-twice rule. Errors wrap
// fulfil.ErrPermanent (refund: nothing was paid, or the payment bounced
// back), fulfil.ErrUnavailable (session refused: wait), are a *fulfil.Hold
// (fulfil.ErrHeld: the service wallet is short of funds, or the chain view is
// too far behind to settle a sent payment; wait, never refund) or are
// transient (retry; a recorded payment is resumed). r.State is not used: the
// store's payment records are the state.
func (p *Provider) Deliver(ctx context.Context, r fulfil.Request, _ fulfil.SaveFunc) (fulfil.Result, error) {
	log := p.log.With("ref", r.Ref, "order_id", r.OrderID, "kind", r.Kind)
	res, err := p.deliver(ctx, log, r)
	var h *fulfil.Hold
	p.mu.Lock()
	_, wasShort := p.short[r.Ref]
	if errors.As(err, &h) && h.Reason == fulfil.HoldFunds {
		p.short[r.Ref] = h.NeedNano
	} else {
		delete(p.short, r.Ref)
	}
	p.mu.Unlock()
	switch {
	case h != nil && h.Reason == fulfil.HoldFunds && !wasShort:
		log.Error("fragment: service wallet too poor to pay; the order waits (not refunded) until the wallet is topped up",
			"balance_nano", h.BalanceNano, "need_nano", h.NeedNano)
	case h != nil:
		log.Warn("fragment: delivery held", "reason", h.Reason, "detail", h.Detail)
	case wasShort && err == nil:
		log.Info("fragment: service wallet funded again; held delivery paid")
	}
	return res, err
}

func (p *Provider) deliver(ctx context.Context, log *slog.Logger, r fulfil.Request) (fulfil.Result, error) {
	pl := p.startPipeline()
	if pl.err != nil {
		return fulfil.Result{}, pl.err
	}
	if err := p.guarded(ctx); err != nil {
		return fulfil.Result{}, err
	}
	for {
		msgs, err := p.records.OrderPayments(ctx, r.OrderID)
		if err != nil {
			return fulfil.Result{}, fmt.Errorf("fragment: payment records of order %d: %w", r.OrderID, err)
		}
		unpaid := 0
		for _, m := range msgs {
			switch m.Outcome {
			case domain.PaymentPending:
				// A payment on its way (this run, or before a restart):
				// never another one while it might still run.
				log.Info("fragment: following a recorded payment", "req_id", m.ReqID, "batch", m.BatchID)
				res, err := p.follow(ctx, log, pl, m)
				if errors.Is(err, errUnpaid) {
					unpaid = -1 // read the records again: it is unpaid now
					break
				}
				return res, err
			case domain.PaymentPaid, domain.PaymentBounced:
				return p.finish(ctx, m)
			case domain.PaymentUnpaid:
				unpaid++
			}
			if unpaid < 0 {
				break
			}
		}
		if unpaid < 0 {
			continue
		}
		if unpaid >= p.opt.MaxUnpaid {
			return fulfil.Result{}, fmt.Errorf("%w: fragment: %d payments for this order never left the service wallet; nothing paid", fulfil.ErrPaymentFailed, unpaid)
		}
		if unpaid > 0 {
			log.Warn("fragment: the last payment never left the wallet; asking Fragment for a new one", "unpaid", unpaid)
		}
		m, err := p.pay(ctx, log, pl, r)
		if err != nil {
			return fulfil.Result{}, err
		}
		res, err := p.follow(ctx, log, pl, *m)
		if !errors.Is(err, errUnpaid) {
			return res, err
		}
	}
}

// errUnpaid: the payment never left the wallet; start over.
var errUnpaid = errors.New("fragment: payment never left the wallet")

// pay gets a payment link from Fragment and has it recorded in a batch.
func (p *Provider) pay(ctx context.Context, log *slog.Logger, pl *pipeline, r fulfil.Request) (*domain.PayerMessage, error) {
	if err := validateRequest(r); err != nil {
		return nil, fmt.Errorf("%w: %v", fulfil.ErrInvalidRequest, err)
	}
	if err := p.stillShort(ctx, r.Ref); err != nil {
		return nil, err
	}
	if h := pl.elsewhere(); h != nil { // no new link while the wallet is not ours alone
		return nil, h
	}
	pl.mu.Lock()
	done := pl.released[r.OrderID]
	pl.mu.Unlock()
	if done {
		return nil, errors.New("fragment: an operator's release completed this order; it is not paid again")
	}
	select { // an ahead slot: links are asked for only as the wallet can pay them
	case pl.ahead <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	handed := false
	defer func() {
		if !handed {
			<-pl.ahead
		}
	}()
	user := cleanUsername(r.Username)
	for attempt := 1; attempt <= linkAttempts; attempt++ {
		o, err := p.offer(ctx, pl, r.Kind, user, r.Stars, r.Months)
		if err != nil {
			return nil, err
		}
		if left := o.ValidUntil.Sub(p.now()); left < p.opt.MinLinkValidity {
			log.Warn("fragment: payment link expires too soon, requesting a new one", "req_id", o.ReqID, "valid_for", left, "attempt", attempt)
			continue
		}
		it, err := p.checkOffer(log, r, o)
		if err != nil {
			return nil, err
		}
		handed = true
		res := pl.submit(ctx, it)
		if errors.Is(res.err, errLinkTooShort) {
			log.Warn("fragment: payment link expired waiting for a batch, requesting a new one", "req_id", o.ReqID)
			select {
			case pl.ahead <- struct{}{}:
				handed = false
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		if res.err != nil {
			var h *fulfil.Hold
			if errors.As(res.err, &h) {
				return nil, res.err
			}
			return nil, fmt.Errorf("fragment: not paid: %w", res.err)
		}
		log.Info("fragment: payment recorded in a batch", "req_id", o.ReqID, "batch", res.msg.BatchID, "index", res.msg.Index,
			"to", o.To, "amount_nano", o.AmountNano)
		return res.msg, nil
	}
	return nil, fmt.Errorf("%w: fragment: payment links kept expiring before they could be paid (%d attempts, nothing paid)", fulfil.ErrExpiredLink, linkAttempts)
}

// refusal is the failure code of a permanent error text from Fragment.
func refusal(text string) *fulfil.Failure {
	if classifyError(text) == kindRecipient {
		return fulfil.ErrRecipientNotFound
	}
	return fulfil.ErrProviderRejected
}

// offer runs requestOffer within the concurrency bound.
func (p *Provider) offer(ctx context.Context, pl *pipeline, kind domain.Kind, user string, stars int64, months int) (offer, error) {
	select {
	case pl.offers <- struct{}{}:
	case <-ctx.Done():
		return offer{}, ctx.Err()
	}
	defer func() { <-pl.offers }()
	return p.requestOffer(ctx, kind, user, stars, months)
}

// checkOffer checks Fragment's message before any money moves.
func (p *Provider) checkOffer(log *slog.Logger, r fulfil.Request, o offer) (*item, error) {
	to, err := ton.ParseAddress(o.To)
	if err != nil {
		return nil, fmt.Errorf("%w: fragment: bad destination address %q: %v", fulfil.ErrProviderError, o.To, err)
	}
	payload, err := decodePayload(o.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: fragment: %v", fulfil.ErrProviderError, err)
	}
	if p.opt.MaxAmountNano > 0 && o.AmountNano > p.opt.MaxAmountNano {
		return nil, fmt.Errorf("%w: fragment: price %d nanotons above the configured cap %d", fulfil.ErrPriceAboveCap, o.AmountNano, p.opt.MaxAmountNano)
	}
	if want, ok := tonToNano(o.Amount); ok && want != o.AmountNano {
		log.Warn("fragment: link amount differs from the quoted amount", "quoted_ton", o.Amount, "link_nano", o.AmountNano)
	}
	if o.From != "" {
		if raw, err := ton.RawAddress(o.From); err == nil && raw != p.wallet.Account().Address {
			log.Warn("fragment: link names another paying wallet; paying from the service wallet anyway", "from", o.From)
		}
	}
	return &item{orderID: r.OrderID, kind: r.Kind, offer: o, to: to, payload: payload, log: log, done: make(chan placed, 1)}, nil
}

// follow waits for recorded payment m's outcome and finishes with it;
// errUnpaid when it never left the wallet (and the wallet can pay again).
func (p *Provider) follow(ctx context.Context, log *slog.Logger, pl *pipeline, m domain.PayerMessage) (fulfil.Result, error) {
	got, err := pl.await(ctx, m, p.opt.ConfirmTimeout)
	if errors.Is(err, errStillPending) {
		return fulfil.Result{}, fmt.Errorf("fragment: payment for %s sent (batch %d), not settled yet; will check again", m.ReqID, m.BatchID)
	}
	if err != nil {
		return fulfil.Result{}, err
	}
	if got.Outcome != domain.PaymentUnpaid {
		return p.finish(ctx, got)
	}
	// Nothing was paid. A wallet too poor now was too poor then: hold (a
	// new request follows once it is funded); else start over.
	bal, err := p.wallet.Balance(ctx)
	if err != nil {
		return fulfil.Result{}, fmt.Errorf("fragment: payment never left the wallet; wallet balance unreadable, deciding later: %w", err)
	}
	if need := got.AmountNano + p.wallet.Fee(1) + p.opt.FeeReserveNano; bal < need {
		log.Error("fragment: payment never left the wallet and the wallet is short of funds; the order waits", "detail", got.Detail)
		return fulfil.Result{}, fundsHold(bal, need)
	}
	log.Warn("fragment: payment never left the wallet", "req_id", got.ReqID, "batch", got.BatchID, "detail", got.Detail)
	return fulfil.Result{}, errUnpaid
}

// finish turns a settled payment into the delivery's result.
func (p *Provider) finish(ctx context.Context, m domain.PayerMessage) (fulfil.Result, error) {
	b, err := p.records.Batch(ctx, m.BatchID)
	if err != nil {
		return fulfil.Result{}, fmt.Errorf("fragment: payment batch %d: %w", m.BatchID, err)
	}
	if m.Outcome == domain.PaymentBounced {
		return fulfil.Result{}, fmt.Errorf("%w: fragment: payment in tx %s bounced (Fragment did not accept it; the TON came back to the service wallet): %s",
			fulfil.ErrPaymentBounced, b.TxHash, m.Detail)
	}
	return fulfil.Result{ProviderRef: m.ReqID, TxHash: b.TxHash}, nil
}

func validateRequest(r fulfil.Request) error {
	u := cleanUsername(r.Username)
	if u == "" || len(u) > 64 {
		return fmt.Errorf("bad username %q", r.Username)
	}
	switch r.Kind {
	case domain.KindStars:
		if r.Stars < 50 || r.Stars > 1_000_000 {
			return fmt.Errorf("stars quantity %d out of Fragment's range (50–1000000)", r.Stars)
		}
	case domain.KindPremium:
		if r.Months != 3 && r.Months != 6 && r.Months != 12 {
			return fmt.Errorf("premium months %d (want 3, 6 or 12)", r.Months)
		}
	default:
		return fmt.Errorf("unknown kind %q", r.Kind)
	}
	return nil
}

// requestOffer runs search → update*State → init*Request → get*Link.
func (p *Provider) requestOffer(ctx context.Context, kind domain.Kind, user string, stars int64, months int) (offer, error) {
	token, err := p.search(ctx, kind, user, months)
	var re *recipientError
	if errors.As(err, &re) {
		return offer{}, fmt.Errorf("%w: fragment: recipient %q: %s", fulfil.ErrRecipientNotFound, user, re.reason)
	}
	if err != nil {
		return offer{}, err
	}
	page, stateMethod, initMethod, linkMethod := pageStars, "updateStarsBuyState", "initBuyStarsRequest", "getBuyStarsLink"
	initForm := url.Values{"recipient": {token}, "payment_method": {"ton"}}
	if kind == domain.KindPremium {
		page, stateMethod, initMethod, linkMethod = pagePremium, "updatePremiumState", "initGiftPremiumRequest", "getGiftPremiumLink"
		initForm.Set("months", strconv.Itoa(months))
	} else {
		initForm.Set("quantity", strconv.FormatInt(stars, 10))
	}

	// The page's own state update; one client needs it before init. Its
	// answer does not matter.
	if _, err := p.callOnce(ctx, page, stateMethod, url.Values{
		"mode": {"new"}, "lv": {"false"}, "dh": {strconv.FormatInt(100_000_000+rand.Int64N(2_047_483_647), 10)},
	}); err != nil && ctx.Err() != nil {
		return offer{}, ctx.Err()
	}

	ir, err := p.call(ctx, page, initMethod, initForm)
	if err != nil {
		return offer{}, err
	}
	if ir.HasError {
		switch classifyError(ir.Error) {
		case kindTransient:
			return offer{}, fmt.Errorf("fragment: %s: %s", initMethod, ir.Error)
		default: // recipient or price errors: nothing was paid, refund
			return offer{}, fmt.Errorf("%w: fragment: %s: %s", refusal(ir.Error), initMethod, ir.Error)
		}
	}
	if ir.NeedTON {
		return offer{}, p.unavailable("%s: need_ton (no TON wallet connected to the Fragment account)", initMethod)
	}
	if ir.ReqID == "" {
		return offer{}, p.unavailable("%s: no req_id in the answer (session expired?)", initMethod)
	}

	acc := p.wallet.Account()
	accJSON, _ := json.Marshal(acc)
	showSender := "0"
	if p.opt.ShowSender {
		showSender = "1"
	}
	lr, err := p.call(ctx, page, linkMethod, url.Values{
		"transaction": {"1"},
		"id":          {ir.ReqID},
		"show_sender": {showSender},
		"account":     {string(accJSON)},
		"device":      {deviceJSON},
	})
	if err != nil {
		return offer{}, err
	}
	if lr.HasError {
		switch classifyError(lr.Error) {
		case kindTransient:
			return offer{}, fmt.Errorf("fragment: %s: %s", linkMethod, lr.Error)
		default:
			return offer{}, fmt.Errorf("%w: fragment: %s: %s", refusal(lr.Error), linkMethod, lr.Error)
		}
	}
	if lr.NeedVerify {
		return offer{}, p.unavailable("%s: need_verify (link the service wallet / verify the Fragment account)", linkMethod)
	}
	o, err := parseLink(lr)
	if err != nil {
		return offer{}, fmt.Errorf("%w: fragment: %s: %v", fulfil.ErrProviderError, linkMethod, err)
	}
	o.ReqID, o.Amount = ir.ReqID, ir.Amount
	return o, nil
}

// deviceJSON is the TON Connect device description sent with get*Link, as
// the public clients send it (Fragment is reported not to verify it).
const deviceJSON = `{"platform":"iphone","appName":"Tonkeeper","appVersion":"5.0.14","maxProtocolVersion":2,"features":["SendTransaction",{"name":"SendTransaction","maxMessages":4}]}`

// fundsHold is the hold of a wallet holding bal that needs need.
func fundsHold(bal, need int64) *fulfil.Hold {
	return &fulfil.Hold{Reason: fulfil.HoldFunds, BalanceNano: bal, NeedNano: need,
		Detail: fmt.Sprintf("service wallet holds %s TON, the payment needs %s TON with the fee reserve; nothing paid, top the wallet up",
			money.FormatTON(bal), money.FormatTON(need))}
}

// stillShort holds a delivery that was held for funds while the wallet
// still cannot cover what it needed then, without asking Fragment for a new
// payment link every time.
func (p *Provider) stillShort(ctx context.Context, ref string) error {
	p.mu.Lock()
	need, ok := p.short[ref]
	p.mu.Unlock()
	if !ok {
		return nil
	}
	bal, err := p.wallet.Balance(ctx)
	if err != nil {
		return fmt.Errorf("fragment: wallet balance: %w", err)
	}
	if bal < need {
		return fundsHold(bal, need)
	}
	return nil
}

// confirm posts the signed message to the confirm_method a link named, as
// Fragment's page does after a wallet signs. Best effort.
func (p *Provider) confirm(ctx context.Context, page, method string, params map[string]string, boc string) {
	acc, _ := json.Marshal(p.wallet.Account())
	form := url.Values{"account": {string(acc)}, "device": {deviceJSON}, "boc": {boc}}
	for k, v := range params {
		form.Set(k, v)
	}
	if _, err := p.callOnce(ctx, page, method, form); err != nil && ctx.Err() == nil {
		p.log.Warn("fragment: confirm call failed (payment unaffected)", "method", method, "err", err)
	}
}
