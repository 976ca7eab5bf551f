// Package webhook delivers the shop's webhook outbox to partners' URLs:
// signed JSON POSTs, every attempt recorded, with an SSRF guard applied to
// every connection. The shop owns the queue, its order per partner, the
// retry schedule and window, and disabling; Sender sends one event at a time.
// See docs/WEBHOOKS.md for the receiver's side.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/view"
)

// SignatureHeader carries t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>.
const SignatureHeader = "OpenMoney-Signature"

// Other headers sent with every delivery.
const (
	EventIDHeader   = "OpenMoney-Event-Id"
	EventTypeHeader = "OpenMoney-Event-Type"
)

// DefaultTimeout bounds one delivery attempt (connect, send, response).
const DefaultTimeout = 10 * time.Second

// ErrBlockedAddress is returned when a webhook host resolves to an address
// that is not public (loopback, private, link-local, …) outside sandbox mode.
var ErrBlockedAddress = errors.New("webhook: destination address is not public")

// Event is the JSON body of every delivery.
type Event struct {
	ID        string `json:"id"`         // "evt_<n>", the same on every retry: dedupe by it
	Type      string `json:"type"`       // order.paid, …, balance.topup, webhook.test
	CreatedAt string `json:"created_at"` // RFC 3339 UTC, when the event happened
	Data      any    `json:"data"`       // the order or the ledger row as the API renders it
}

// TestData is the data of a webhook.test event.
type TestData struct {
	Message string `json:"message"`
}

// Options tune a Sender.
type Options struct {
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// UserAgent; default "OpenMoney-Webhooks/<version>".
	UserAgent string
	// AllowPrivate lets deliveries reach non-public addresses. Default: the
	// shop's sandbox mode (sandbox yes, testnet/mainnet no).
	AllowPrivate *bool
	// Now stamps signatures; default time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Sender implements shop.Notifier for domain.ChannelWebhook.
type Sender struct {
	shop      *shop.Shop
	client    *http.Client
	userAgent string
	now       func() time.Time
	log       *slog.Logger
}

// NewSender returns a Sender delivering s's webhook events.
func NewSender(s *shop.Shop, opt Options) *Sender {
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.UserAgent == "" {
		opt.UserAgent = "OpenMoney-Webhooks/" + s.Version()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	allowPrivate := s.SandboxMode()
	if opt.AllowPrivate != nil {
		allowPrivate = *opt.AllowPrivate
	}
	return &Sender{shop: s, client: newClient(opt.Timeout, allowPrivate), userAgent: opt.UserAgent,
		now: opt.Now, log: opt.Log}
}

// newClient is an HTTP client that never uses a proxy, never follows
// redirects, and (unless allowPrivate) refuses at connect time any address
// that is not public, whatever DNS answered.
func newClient(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = guard
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would connect for us, out of the guard's sight
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// guard is the dialer's Control: it runs after DNS resolution, for the very
// address about to be connected, so DNS rebinding cannot slip past it.
func guard(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	if !shop.PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// StatusError is a non-2xx answer from the receiver.
type StatusError struct {
	StatusCode int
	After      time.Duration // from Retry-After; 0 when absent
}

func (e *StatusError) Error() string {
	return "webhook: receiver answered " + strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
}

// RetryAfter tells the shop's outbox when to try again (0: its own backoff).
func (e *StatusError) RetryAfter() time.Duration { return e.After }

// Body renders the JSON body of an outbox item (an order with its
// checkout_url, as the API renders it).
func (snd *Sender) Body(it *domain.OutboxItem) ([]byte, error) {
	ev := Event{ID: shop.EventID(it), Type: it.Type, CreatedAt: it.CreatedAt.UTC().Format(time.RFC3339)}
	switch {
	case it.Order != nil:
		ev.Data = view.OrderOf(it.Order, snd.shop.CheckoutURL(it.Order))
	case it.Ledger != nil:
		ev.Data = view.LedgerOf(it.Ledger)
	case it.Type == shop.EventWebhookTest:
		ev.Data = TestData{Message: "Test event from The Open Money: your webhook works."}
	}
	return json.Marshal(ev)
}

// Sign returns the OpenMoney-Signature header value for body at time t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Notify delivers one event (shop.Notifier). nil means delivered, or
// nothing to deliver (the webhook was deleted or no longer wants the event
// type); an error makes the shop retry with backoff. Every attempt is
// recorded in the partner's delivery log.
func (snd *Sender) Notify(ctx context.Context, p *domain.Partner, it *domain.OutboxItem) error {
	w, err := snd.shop.WebhookTarget(ctx, p.ID)
	if shop.ErrorCode(err) == shop.CodeNotFound {
		return nil // deleted since the event was queued: drop it
	}
	if err != nil {
		return err
	}
	if w.DisabledAt != nil {
		return shop.ErrWebhookDisabled // not sent: the shop records it for redelivery
	}
	if it.Type != shop.EventWebhookTest && it.RedeliveryOf == 0 && !slices.Contains(w.Events, it.Type) {
		return nil // unsubscribed since (a test or a redelivery the partner asked for goes anyway)
	}
	body, err := snd.Body(it)
	if err != nil {
		return fmt.Errorf("webhook: encode %s: %w", shop.EventID(it), err)
	}
	status, dur, serr := snd.post(ctx, w, it, body)
	if rerr := snd.shop.RecordWebhookAttempt(ctx, it, shop.WebhookAttempt{StatusCode: status, Err: serr, Duration: dur}); rerr != nil {
		snd.log.Error("webhook: record attempt", "partner_id", p.ID, "event_id", shop.EventID(it), "err", rerr)
	}
	if serr != nil {
		snd.log.Info("webhook attempt failed", "partner_id", p.ID, "event_id", shop.EventID(it), "event", it.Type,
			"attempt", it.Attempts+1, "status", status, "err", serr)
		return serr
	}
	snd.log.Debug("webhook delivered", "partner_id", p.ID, "event_id", shop.EventID(it), "event", it.Type,
		"status", status, "duration", dur)
	return nil
}

// post sends one attempt and returns the receiver's status (0 when none).
func (snd *Sender) post(ctx context.Context, w *domain.Webhook, it *domain.OutboxItem, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("webhook: bad url: %w", unwrapURL(err))
	}
	h := req.Header
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", snd.userAgent)
	h.Set(EventIDHeader, shop.EventID(it))
	h.Set(EventTypeHeader, it.Type)
	h.Set(SignatureHeader, Sign(w.Secret, snd.now(), body))
	start := time.Now()
	resp, err := snd.client.Do(req)
	dur := time.Since(start)
	if err != nil {
		return 0, dur, fmt.Errorf("webhook: %w", unwrapURL(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, dur, nil
	}
	return resp.StatusCode, dur, &StatusError{StatusCode: resp.StatusCode, After: retryAfter(resp.Header.Get("Retry-After"), snd.now())}
}

// unwrapURL drops *url.Error's "Post <url>:" prefix: a URL may carry the
// partner's own token in its query, and errors end up in logs.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// retryAfter parses Retry-After (seconds or an HTTP date), capped.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(wait.WebhookRetryAfterMax/time.Second) {
			return wait.WebhookRetryAfterMax
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, wait.WebhookRetryAfterMax)
}
