package pricing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/internal/wait"
)

// Defaults of LiveOptions.
const (
	DefaultRefresh = 60 * time.Second
	DefaultMaxAge  = 10 * time.Minute

	// confirmWindow is how long a held jump waits for its confirming reading.
	confirmWindow = 5 * time.Minute

	fetchTimeout   = 15 * time.Second
	maxBodyBytes   = 1 << 20
	maxRetryAfter  = 5 * time.Minute
	maxRateDigits  = 40 // longest decimal text accepted, sign and dot excluded
	sourceCoinGeck = "coingecko"
	sourceTonapi   = "tonapi"
	sourcePlain    = "ton_usd"
)

// Sanity bounds for a TON/USD rate: anything outside is a broken source, not
// a market move, and is refused (the last good rate is kept until stale).
var (
	minSaneRate = big.NewRat(1, 1000) // 0.001 USD
	maxSaneRate = big.NewRat(100000, 1)
)

// The jump rule (docs/OPERATIONS.md, "TON/USD rate"). A reading R is
// compared with the last good rate G, the one in use (however old):
//   - no G yet (the first reading since start): R becomes G;
//   - |R−G| ≤ maxJump·G: R becomes G, and any held reading is dropped;
//   - otherwise R is held, not used, unless a reading H is already held
//     since at most confirmWindow before R and |R−H| ≤ confirmTolerance·H:
//     then R confirms the jump and becomes G. A held reading that R does not
//     confirm is replaced by R (the window starts again).
//
// While a reading is held, Current keeps answering G as long as G is not
// older than MaxAge; after that it answers ErrStale (new orders get 503)
// until a reading is accepted. Readings come every Refresh (60 s), so a
// real market move is priced one refresh later; a source that answers one
// wild number is never used.
var (
	maxJump          = big.NewRat(1, 5)  // 20 %
	confirmTolerance = big.NewRat(1, 10) // 10 %
)

// ErrBadRate means the source answered but not with a usable TON/USD rate.
var ErrBadRate = errors.New("pricing: rate source answer is not a usable TON/USD rate")

// LiveOptions configure a Live rate source. Zero values take the defaults.
type LiveOptions struct {
	URL        string        // JSON rate source (pricing.rate_url)
	HTTPClient *http.Client  // default: a client with a 15 s timeout
	Refresh    time.Duration // time between successful fetches (default 60 s)
	MaxAge     time.Duration // older rates are stale (default 10 min)
	Now        func() time.Time
	Log        *slog.Logger
}

// Live is a TON/USD rate fetched from a JSON URL and refreshed in the
// background by Run. It keeps the last good rate; Current refuses it once it
// is older than MaxAge. Safe for concurrent use.
type Live struct {
	url     string
	client  *http.Client
	refresh time.Duration
	maxAge  time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu      sync.Mutex
	rate    Rate
	have    bool
	held    *Rate // a jump waiting for confirmation (UpdatedAt: when read)
	lastErr error
}

// NewLive returns a live rate source; call Run to keep it fresh.
func NewLive(opts LiveOptions) *Live {
	l := &Live{
		url:     opts.URL,
		client:  opts.HTTPClient,
		refresh: opts.Refresh,
		maxAge:  opts.MaxAge,
		now:     opts.Now,
		log:     opts.Log,
	}
	if l.client == nil {
		l.client = &http.Client{Timeout: fetchTimeout}
	}
	if l.refresh <= 0 {
		l.refresh = DefaultRefresh
	}
	if l.maxAge <= 0 {
		l.maxAge = DefaultMaxAge
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l
}

// Current returns the last good rate, or an error wrapping ErrStale when there
// is none or it is older than MaxAge. Never a price from a stale rate.
func (l *Live) Current(context.Context) (Rate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.have {
		if l.lastErr != nil {
			return Rate{}, fmt.Errorf("%w: no rate fetched yet (last error: %v)", ErrStale, l.lastErr)
		}
		return Rate{}, fmt.Errorf("%w: no rate fetched yet", ErrStale)
	}
	if age := l.now().Sub(l.rate.UpdatedAt); age > l.maxAge {
		return Rate{}, fmt.Errorf("%w: last rate is %s old (max %s)", ErrStale, age.Round(time.Second), l.maxAge)
	}
	return l.rate, nil
}

// Refresh fetches the rate once. On failure the last good rate is kept.
func (l *Live) Refresh(ctx context.Context) error {
	r, err := l.fetch(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.lastErr = err
		return err
	}
	l.lastErr = nil
	l.accept(r)
	return nil
}

// accept applies the jump rule to a good reading r; l.mu is held.
func (l *Live) accept(r Rate) {
	if !l.have {
		l.rate, l.have = r, true
		return
	}
	if change(l.rate, r).Cmp(maxJump) <= 0 {
		if l.held != nil {
			l.log.Info("pricing: held TON/USD reading dropped: the next one is within 20 % of the rate in use",
				"held", l.held.TonUSD, "ton_usd", r.TonUSD)
		}
		l.rate, l.held = r, nil
		return
	}
	if h := l.held; h != nil && r.UpdatedAt.Sub(h.UpdatedAt) <= confirmWindow && change(*h, r).Cmp(confirmTolerance) <= 0 {
		l.log.Warn("pricing: TON/USD jump confirmed by a second reading; now in use",
			"previous", l.rate.TonUSD, "held", h.TonUSD, "ton_usd", r.TonUSD)
		l.rate, l.held = r, nil
		return
	}
	l.held = &r
	l.log.Warn("pricing: TON/USD reading more than 20 % away from the rate in use; held until a second reading within 5 minutes confirms it",
		"ton_usd_in_use", l.rate.TonUSD, "held", r.TonUSD, "change_percent", percent(l.rate, r))
}

// change is |b−a|/a of two good rates.
func change(a, b Rate) *big.Rat {
	ra, err1 := a.Rat()
	rb, err2 := b.Rat()
	if err1 != nil || err2 != nil {
		return new(big.Rat).SetInt64(1 << 30) // cannot happen: ParseRate checked both
	}
	d := new(big.Rat).Sub(rb, ra)
	d.Abs(d)
	return d.Quo(d, ra)
}

// percent is (b−a)/a in percent with one decimal ("-27.5").
func percent(a, b Rate) string {
	ra, err1 := a.Rat()
	rb, err2 := b.Rat()
	if err1 != nil || err2 != nil {
		return "?"
	}
	d := new(big.Rat).Sub(rb, ra)
	d.Quo(d, ra)
	d.Mul(d, big.NewRat(100, 1))
	return d.FloatString(1)
}

// Status reports the live source for /health: the host of rate_url, the
// rate in use and its age, and a held jump.
func (l *Live) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Status{Kind: "live", Host: l.host()}
	if l.have {
		v, at := l.rate.TonUSD, l.rate.UpdatedAt
		st.TonUSD, st.UpdatedAt = &v, &at
		st.AgeSeconds = int64(l.now().Sub(at) / time.Second)
	}
	if h := l.held; h != nil {
		st.Held = &Held{TonUSD: h.TonUSD, Since: h.UpdatedAt, ConfirmBy: h.UpdatedAt.Add(confirmWindow),
			ChangePercent: percent(l.rate, *h)}
	}
	return st
}

// host is the host (and port) of the rate URL: what errors and health may
// show, never its path or query (which may carry an API key).
func (l *Live) host() string {
	u, err := url.Parse(l.url)
	if err != nil {
		return ""
	}
	return u.Host
}

// Run refreshes every Refresh interval until ctx ends; after a failure it
// retries sooner on the wait.Rate schedule, capped at Refresh (or later when
// the source asks so with Retry-After). It returns nil when ctx is
// cancelled.
func (l *Live) Run(ctx context.Context) error {
	sched := wait.Rate
	sched.Base, sched.Max = min(sched.Base, l.refresh), l.refresh
	failures := 0
	for {
		delay := l.refresh
		if err := l.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			delay = sched.After(failures)
			var ra *retryAfterError
			if errors.As(err, &ra) && ra.after > delay {
				delay = min(ra.after, maxRetryAfter)
			}
			l.log.Warn("pricing: rate refresh failed", "err", err, "retry_in", delay)
		} else {
			failures = 0
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

type retryAfterError struct {
	status int
	after  time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("pricing: rate source answered HTTP %d (retry after %s)", e.status, e.after)
}

func (l *Live) fetch(ctx context.Context) (Rate, error) {
	if l.url == "" {
		return Rate{}, errors.New("pricing: no rate_url configured")
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return Rate{}, fmt.Errorf("pricing: rate request to %s: bad URL", l.host())
	}
	req.Header.Set("Accept", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text quotes the whole URL, query (API key) included
		}
		return Rate{}, fmt.Errorf("pricing: fetch rate from %s: %w", l.host(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return Rate{}, fmt.Errorf("pricing: read rate: %w", err)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		after := time.Duration(0)
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return Rate{}, &retryAfterError{status: resp.StatusCode, after: after}
	}
	if resp.StatusCode != http.StatusOK {
		return Rate{}, fmt.Errorf("pricing: rate source answered HTTP %d", resp.StatusCode)
	}
	if len(body) > maxBodyBytes {
		return Rate{}, fmt.Errorf("%w: body larger than %d bytes", ErrBadRate, maxBodyBytes)
	}
	value, source, err := ParseRate(body)
	if err != nil {
		return Rate{}, err
	}
	return Rate{TonUSD: value, Source: source, UpdatedAt: l.now().UTC()}, nil
}

// ParseRate extracts the TON/USD rate from a JSON body, detecting its shape:
//
//	CoinGecko simple price  {"the-open-network":{"usd":5.43}}  (or "toncoin")
//	tonapi rates            {"rates":{"TON":{"prices":{"USD":5.43}}}}
//	plain                   {"ton_usd":5.43}  (a JSON number or decimal string)
//
// The value is returned as the exact decimal written in the JSON (never via a
// float), with source naming the shape. Errors wrap ErrBadRate.
func ParseRate(body []byte) (value, source string, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil || top == nil {
		return "", "", fmt.Errorf("%w: not a JSON object", ErrBadRate)
	}
	var raw json.RawMessage
	switch {
	case top["ton_usd"] != nil:
		raw, source = top["ton_usd"], sourcePlain
	case top["rates"] != nil:
		raw, source = pick(top["rates"], "TON", "prices", "USD"), sourceTonapi
	case top["the-open-network"] != nil:
		raw, source = pick(top["the-open-network"], "usd"), sourceCoinGeck
	case top["toncoin"] != nil:
		raw, source = pick(top["toncoin"], "usd"), sourceCoinGeck
	default:
		return "", "", fmt.Errorf("%w: unknown shape (want CoinGecko, tonapi or {\"ton_usd\": n})", ErrBadRate)
	}
	if raw == nil {
		return "", "", fmt.Errorf("%w: %s shape without a USD price", ErrBadRate, source)
	}
	text, err := numberText(raw)
	if err != nil {
		return "", "", fmt.Errorf("%w: %s: %v", ErrBadRate, source, err)
	}
	value, err = normalizeDecimal(text)
	if err != nil {
		return "", "", fmt.Errorf("%w: %s: %v", ErrBadRate, source, err)
	}
	r, _ := new(big.Rat).SetString(value)
	if r == nil || r.Cmp(minSaneRate) < 0 || r.Cmp(maxSaneRate) > 0 {
		return "", "", fmt.Errorf("%w: %s: rate %s outside the sane range (0.001–100000 USD)", ErrBadRate, source, value)
	}
	return value, source, nil
}

// pick walks nested objects by key; nil when any step is missing.
func pick(raw json.RawMessage, path ...string) json.RawMessage {
	for _, k := range path {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]json.RawMessage
		if err := dec.Decode(&m); err != nil || m == nil {
			return nil
		}
		raw = m[k]
		if raw == nil {
			return nil
		}
	}
	return raw
}

// numberText returns the literal text of a JSON number, or of a string that
// holds one.
func numberText(raw json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", errors.New("bad JSON value")
	}
	switch t := v.(type) {
	case json.Number:
		return t.String(), nil
	case string:
		return strings.TrimSpace(t), nil
	default:
		return "", errors.New("rate is not a number")
	}
}

// normalizeDecimal turns a JSON number text (digits, optional fraction,
// optional exponent) into a plain, exact decimal without exponent, leading or
// trailing zeros: "5.430" → "5.43", "5.43e-1" → "0.543", "1E2" → "100".
func normalizeDecimal(s string) (string, error) {
	if s == "" || len(s) > 2*maxRateDigits {
		return "", errors.New("bad decimal")
	}
	mant, expText := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText = s[:i], s[i+1:]
	}
	if strings.HasPrefix(mant, "-") {
		return "", errors.New("rate must be positive")
	}
	mant = strings.TrimPrefix(mant, "+")
	whole, frac, _ := strings.Cut(mant, ".")
	if whole+frac == "" || strings.Count(mant, ".") > 1 {
		return "", errors.New("bad decimal")
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return "", errors.New("bad decimal")
		}
	}
	exp := 0
	if expText != "" {
		e, err := strconv.Atoi(expText)
		if err != nil || e > maxRateDigits || e < -maxRateDigits {
			return "", errors.New("bad exponent")
		}
		exp = e
	}
	digits := whole + frac
	point := len(whole) + exp // position of the decimal point in digits
	if point < 0 {
		digits = strings.Repeat("0", -point) + digits
		point = 0
	}
	if point > len(digits) {
		digits += strings.Repeat("0", point-len(digits))
	}
	ip := strings.TrimLeft(digits[:point], "0")
	fp := strings.TrimRight(digits[point:], "0")
	if ip == "" {
		ip = "0"
	}
	if len(ip)+len(fp) > maxRateDigits {
		return "", errors.New("too many digits")
	}
	if fp == "" {
		return ip, nil
	}
	return ip + "." + fp, nil
}
