// Package fragment delivers Telegram Stars and Premium by buying them on
// Fragment (fragment.com) and paying in TON from the service wallet.
//
// Fragment has no public API; the provider drives the JSON endpoint its own
// pages use (POST {base}/api?hash=…, form-encoded, field "method"), as the
// public clients do. docs/FRAGMENT.md pins the methods and fields used.
//
// Money safety: before a payment is broadcast, the Fragment request id, the
// exact message and the identity of the signed wallet message (seqno, hash,
// BOC) are saved through fulfil.SaveFunc. A Deliver call that finds such a
// state never sends again: it looks the message up on chain and finishes
// (confirmed) or fails (bounced, never executed) from what it finds.
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
	"time"

	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/ton"
)

// Defaults of Options.
const (
	DefaultBaseURL           = "https://fragment.com"
	DefaultRecipientCacheTTL = 60 * time.Second
	DefaultFeeReserveNano    = 50_000_000 // 0.05 TON kept for the transfer fee
	DefaultPollInterval      = 3 * time.Second
	DefaultConfirmTimeout    = 4 * time.Minute
	DefaultBounceWindow      = 30 * time.Second
	DefaultMinLinkValidity   = 30 * time.Second
	DefaultResendAfter       = 20 * time.Second
	DefaultProbeUsername     = "durov"

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
	Log        *slog.Logger
	Now        func() time.Time
	// RecipientCacheTTL is how long CheckRecipient answers are reused.
	RecipientCacheTTL time.Duration

	// FeeReserveNano is what the wallet must hold beyond the payment itself
	// (default 0.05 TON); with a poorer wallet the delivery is held
	// (fulfil.ErrInsufficientFunds) until the wallet is funded.
	FeeReserveNano int64
	// MaxAmountNano refuses to pay any single Fragment message above it
	// (0 = no cap), a guard against a wrong price.
	MaxAmountNano int64
	// ShowSender asks Fragment to show the buyer's Fragment account to the
	// recipient (show_sender=1). Default: anonymous.
	ShowSender bool
	// PollInterval between chain lookups while waiting for confirmation.
	PollInterval time.Duration
	// ConfirmTimeout bounds how long one Deliver call waits for the chain;
	// afterwards it returns a transient error and the next call resumes.
	ConfirmTimeout time.Duration
	// BounceWindow is how long after the payment's transaction a bounce is
	// still watched for before the delivery counts as done (default 30 s;
	// negative: do not wait).
	BounceWindow time.Duration
	// MinLinkValidity: a link expiring sooner is re-requested, never paid.
	MinLinkValidity time.Duration
	// ResendAfter: a message still pending after this long is rebroadcast
	// (the same signed message; it can execute only once).
	ResendAfter time.Duration
	// ProbeUsername is searched by Probe (default "durov").
	ProbeUsername string
	UserAgent     string
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
	if o.BounceWindow < 0 {
		o.BounceWindow = 0
	} else if o.BounceWindow == 0 {
		o.BounceWindow = DefaultBounceWindow
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
	_, err := p.search(ctx, fulfil.KindStars, p.opt.ProbeUsername, 0)
	var re *recipientError
	if errors.As(err, &re) {
		return nil // a normal "cannot receive" answer proves the session works
	}
	return err
}

// Run probes the session every interval (default 1 min; first probe at once)
// until ctx ends, so Available recovers (or turns unavailable) without an
// order. It returns nil when ctx is cancelled.
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
func (p *Provider) CheckRecipient(ctx context.Context, kind, username string) (fulfil.Recipient, error) {
	user := cleanUsername(username)
	if kind != fulfil.KindStars && kind != fulfil.KindPremium {
		return fulfil.Recipient{}, fmt.Errorf("fragment: unknown kind %q", kind)
	}
	key := kind + "\x00" + strings.ToLower(user)
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
func (p *Provider) search(ctx context.Context, kind, user string, months int) (string, error) {
	form := url.Values{"query": {user}}
	page, method := pageStars, "searchStarsRecipient"
	if kind == fulfil.KindPremium {
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

// deliveryState is what Deliver saves (fulfil.Request.State) before paying.
type deliveryState struct {
	V        int          `json:"v"`
	Kind     string       `json:"kind"`
	Username string       `json:"username"`
	ReqID    string       `json:"req_id"`
	Amount   string       `json:"amount,omitempty"` // init's TON amount, informative
	Message  stateMessage `json:"message"`
	Confirm  *confirmInfo `json:"confirm,omitempty"`
	Sent     *SentMessage `json:"sent"`
	// Prev: earlier messages of this delivery that ran without paying
	// (wallet short of funds), for the record; they can never pay.
	Prev []SentMessage `json:"prev,omitempty"`
}

type stateMessage struct {
	Address    string `json:"address"`
	Amount     string `json:"amount"`  // nanotons, integer string
	Payload    string `json:"payload"` // base64 BOC, as Fragment gave it
	ValidUntil int64  `json:"valid_until"`
}

// Deliver buys r on Fragment and pays for it. See the package comment for the
// never-pay-twice rule. Errors wrap fulfil.ErrPermanent (refund: nothing was
// paid, or the payment bounced back), fulfil.ErrUnavailable (session
// refused: wait), are a *fulfil.Hold (fulfil.ErrHeld: the service wallet is
// short of funds, or the chain view is too far behind to settle a sent
// payment; wait, never refund) or are transient (retry; a saved payment is
// resumed).
func (p *Provider) Deliver(ctx context.Context, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error) {
	log := p.log.With("ref", r.Ref, "order_id", r.OrderID, "kind", r.Kind)
	res, err := p.deliver(ctx, log, r, save)
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

func (p *Provider) deliver(ctx context.Context, log *slog.Logger, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error) {
	if strings.TrimSpace(r.State) != "" {
		var st deliveryState
		if err := json.Unmarshal([]byte(r.State), &st); err != nil || st.V != 1 {
			// Our own state is unreadable: it may describe a payment already
			// made, so neither pay nor refund. Keep failing loudly.
			log.Error("fragment: unreadable delivery state; resolve by hand", "err", err)
			return fulfil.Result{}, fmt.Errorf("fragment: unreadable delivery state for %s (not paying again): %v", r.Ref, err)
		}
		if st.Sent != nil {
			log.Info("fragment: resuming a sent payment", "req_id", st.ReqID, "seqno", st.Sent.Seqno, "ext_hash", st.Sent.ExtHash)
			return p.await(ctx, log, &st, save)
		}
	}
	if err := validateRequest(r); err != nil {
		return fulfil.Result{}, fmt.Errorf("%w: %v", fulfil.ErrInvalidRequest, err)
	}
	if err := p.stillShort(ctx, r.Ref); err != nil {
		return fulfil.Result{}, err
	}
	user := cleanUsername(r.Username)
	for attempt := 1; attempt <= linkAttempts; attempt++ {
		o, err := p.requestOffer(ctx, r.Kind, user, r.Stars, r.Months)
		if err != nil {
			return fulfil.Result{}, err
		}
		if left := o.ValidUntil.Sub(p.now()); left < p.opt.MinLinkValidity {
			log.Warn("fragment: payment link expires too soon, requesting a new one", "req_id", o.ReqID, "valid_for", left, "attempt", attempt)
			continue
		}
		return p.pay(ctx, log, r, user, o, save)
	}
	return fulfil.Result{}, fmt.Errorf("%w: fragment: payment links kept expiring before they could be paid (%d attempts, nothing paid)", fulfil.ErrExpiredLink, linkAttempts)
}

// refusal is the failure code of a permanent error text from Fragment.
func refusal(text string) *fulfil.Failure {
	if classifyError(text) == kindRecipient {
		return fulfil.ErrRecipientNotFound
	}
	return fulfil.ErrProviderRejected
}

func validateRequest(r fulfil.Request) error {
	u := cleanUsername(r.Username)
	if u == "" || len(u) > 64 {
		return fmt.Errorf("bad username %q", r.Username)
	}
	switch r.Kind {
	case fulfil.KindStars:
		if r.Stars < 50 || r.Stars > 1_000_000 {
			return fmt.Errorf("stars quantity %d out of Fragment's range (50–1000000)", r.Stars)
		}
	case fulfil.KindPremium:
		if r.Months != 3 && r.Months != 6 && r.Months != 12 {
			return fmt.Errorf("premium months %d (want 3, 6 or 12)", r.Months)
		}
	default:
		return fmt.Errorf("unknown kind %q", r.Kind)
	}
	return nil
}

// requestOffer runs search → update*State → init*Request → get*Link.
func (p *Provider) requestOffer(ctx context.Context, kind, user string, stars int64, months int) (offer, error) {
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
	if kind == fulfil.KindPremium {
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

// pay checks the offer and the wallet, saves the state, sends, and waits.
func (p *Provider) pay(ctx context.Context, log *slog.Logger, r fulfil.Request, user string, o offer, save fulfil.SaveFunc) (fulfil.Result, error) {
	log = log.With("req_id", o.ReqID)
	to, err := ton.ParseAddress(o.To)
	if err != nil {
		return fulfil.Result{}, fmt.Errorf("%w: fragment: bad destination address %q: %v", fulfil.ErrProviderError, o.To, err)
	}
	payload, err := decodePayload(o.Payload)
	if err != nil {
		return fulfil.Result{}, fmt.Errorf("%w: fragment: %v", fulfil.ErrProviderError, err)
	}
	if p.opt.MaxAmountNano > 0 && o.AmountNano > p.opt.MaxAmountNano {
		return fulfil.Result{}, fmt.Errorf("%w: fragment: price %d nanotons above the configured cap %d", fulfil.ErrPriceAboveCap, o.AmountNano, p.opt.MaxAmountNano)
	}
	if want, ok := tonToNano(o.Amount); ok && want != o.AmountNano {
		log.Warn("fragment: link amount differs from the quoted amount", "quoted_ton", o.Amount, "link_nano", o.AmountNano)
	}
	if o.From != "" {
		if raw, err := ton.RawAddress(o.From); err == nil && raw != p.wallet.Account().Address {
			log.Warn("fragment: link names another paying wallet; paying from the service wallet anyway", "from", o.From)
		}
	}
	bal, err := p.wallet.Balance(ctx)
	if err != nil {
		return fulfil.Result{}, fmt.Errorf("fragment: wallet balance: %w", err)
	}
	if need := o.AmountNano + p.opt.FeeReserveNano; bal < need {
		return fulfil.Result{}, fundsHold(bal, need)
	}

	st := &deliveryState{
		V: 1, Kind: r.Kind, Username: user, ReqID: o.ReqID, Amount: o.Amount,
		Message: stateMessage{Address: o.To, Amount: strconv.FormatInt(o.AmountNano, 10), Payload: o.Payload, ValidUntil: o.ValidUntil.Unix()},
		Confirm: o.Confirm,
	}
	recorded := false
	sent, err := p.wallet.Send(ctx, Message{To: to, AmountNano: o.AmountNano, Payload: payload, ValidUntil: o.ValidUntil, ReserveNano: p.opt.FeeReserveNano},
		func(ctx context.Context, s SentMessage) error {
			st.Sent = &s
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			if err := save(ctx, string(b)); err != nil {
				return fmt.Errorf("fragment: save delivery state: %w", err)
			}
			recorded = true
			return nil
		})
	if err != nil && !recorded {
		return fulfil.Result{}, fmt.Errorf("fragment: not paid: %w", err)
	}
	log.Info("fragment: payment sent", "to", o.To, "amount_nano", o.AmountNano, "comment", payloadComment(payload),
		"seqno", st.Sent.Seqno, "ext_hash", st.Sent.ExtHash, "send_err", err)
	if err == nil {
		st.Sent = &sent
		p.confirmToFragment(ctx, log, r.Kind, st)
	}
	return p.await(ctx, log, st, save)
}

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

// confirmToFragment posts the signed message to the confirm_method a link
// named, as Fragment's page does after a wallet signs. Best effort.
func (p *Provider) confirmToFragment(ctx context.Context, log *slog.Logger, kind string, st *deliveryState) {
	if st.Confirm == nil || st.Sent == nil {
		return
	}
	page := pageStars
	if kind == fulfil.KindPremium {
		page = pagePremium
	}
	acc, _ := json.Marshal(p.wallet.Account())
	form := url.Values{"account": {string(acc)}, "device": {deviceJSON}, "boc": {st.Sent.BOC}}
	for k, v := range st.Confirm.Params {
		form.Set(k, v)
	}
	if _, err := p.callOnce(ctx, page, st.Confirm.Method, form); err != nil {
		log.Warn("fragment: confirm call failed (payment unaffected)", "method", st.Confirm.Method, "err", err)
	}
}

// await follows a sent payment on chain until it is settled, the wait
// times out (transient error: the next call resumes), the chain view is too
// far behind to settle it (a HoldChainBehind hold: the next call resumes), or
// ctx ends.
func (p *Provider) await(ctx context.Context, log *slog.Logger, st *deliveryState, save fulfil.SaveFunc) (fulfil.Result, error) {
	s := *st.Sent
	deadline := p.now().Add(p.opt.ConfirmTimeout)
	lastResend := time.Unix(s.PreparedAt, 0)
	for {
		out, err := p.wallet.Lookup(ctx, s)
		if err != nil {
			if ctx.Err() != nil {
				return fulfil.Result{}, fmt.Errorf("fragment: payment for %s sent, confirmation pending: %w", st.ReqID, ctx.Err())
			}
			log.Warn("fragment: payment lookup failed", "err", err)
		} else {
			switch out.Status {
			case StatusConfirmed:
				// The bounce window is chain time too: a view that reaches
				// only seconds past the payment cannot show its bounce yet.
				if out.ChainTime.Sub(out.Time) >= p.opt.BounceWindow {
					log.Info("fragment: payment confirmed", "tx_hash", out.TxHash, "req_id", st.ReqID)
					return fulfil.Result{ProviderRef: st.ReqID, TxHash: out.TxHash}, nil
				}
			case StatusBounced:
				log.Error("fragment: payment bounced back", "tx_hash", out.TxHash, "detail", out.Detail)
				return fulfil.Result{}, fmt.Errorf("%w: fragment: payment %s bounced (Fragment did not accept it; the TON came back to the service wallet): %s", fulfil.ErrPaymentBounced, out.TxHash, out.Detail)
			case StatusFailed:
				if h, err := p.failedForFunds(ctx, st, save); h != nil || err != nil {
					if err != nil {
						return fulfil.Result{}, err
					}
					log.Error("fragment: payment executed without a transfer and the wallet is short of funds; the order waits", "tx_hash", out.TxHash)
					return fulfil.Result{}, h
				}
				log.Error("fragment: payment executed without a transfer", "tx_hash", out.TxHash, "detail", out.Detail)
				return fulfil.Result{}, fmt.Errorf("%w: fragment: payment did not leave the wallet (tx %s): %s", fulfil.ErrPaymentFailed, out.TxHash, out.Detail)
			case StatusExpired:
				log.Error("fragment: payment never executed", "detail", out.Detail)
				return fulfil.Result{}, fmt.Errorf("%w: fragment: payment never executed (%s); nothing paid", fulfil.ErrPaymentFailed, out.Detail)
			case StatusPending:
				if out.Behind {
					return fulfil.Result{}, &fulfil.Hold{Reason: fulfil.HoldChainBehind, ChainTime: out.ChainTime,
						Detail: fmt.Sprintf("payment for %s sent (seqno %d) and not seen yet: %s", st.ReqID, s.Seqno, out.Detail)}
				}
				now := p.now()
				if now.Sub(lastResend) >= p.opt.ResendAfter && now.Unix() < s.ValidUntil {
					if err := p.wallet.Resend(ctx, s); err != nil {
						log.Warn("fragment: rebroadcast failed", "err", err)
					}
					lastResend = now
				}
			}
		}
		if p.now().After(deadline) {
			return fulfil.Result{}, fmt.Errorf("fragment: payment for %s sent (seqno %d), not settled yet; will check again", st.ReqID, s.Seqno)
		}
		t := time.NewTimer(p.opt.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fulfil.Result{}, fmt.Errorf("fragment: payment for %s sent, confirmation pending: %w", st.ReqID, ctx.Err())
		case <-t.C:
		}
	}
}

// failedForFunds: our message ran but sent nothing, and the wallet cannot
// cover it now, so the wallet was short when it ran. Its seqno is spent, so
// it can never pay: the state forgets it (kept under prev) and the delivery
// is held for funds; once funded it starts over with a new Fragment request.
// A wallet that could pay means another cause: (nil, nil), the caller refunds.
func (p *Provider) failedForFunds(ctx context.Context, st *deliveryState, save fulfil.SaveFunc) (*fulfil.Hold, error) {
	bal, err := p.wallet.Balance(ctx)
	if err != nil {
		return nil, fmt.Errorf("fragment: payment ran without a transfer; wallet balance unreadable, deciding later: %w", err)
	}
	need := st.Sent.AmountNano + p.opt.FeeReserveNano
	if bal >= need {
		return nil, nil
	}
	st.Prev = append(st.Prev, *st.Sent)
	st.Sent = nil
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if err := save(ctx, string(b)); err != nil {
		return nil, fmt.Errorf("fragment: save delivery state: %w", err)
	}
	return fundsHold(bal, need), nil
}
