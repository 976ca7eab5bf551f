package shop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// EventWebhookTest is the event POST /webhook/test queues; it goes to the
// webhook whatever its event list.
const EventWebhookTest = "webhook.test"

// WebhookEvents are the event types a webhook can subscribe to, in the order
// they are listed back.
var WebhookEvents = []string{EventOrderPaid, EventOrderCompleted, EventOrderRefunded, EventOrderExpired,
	EventOrderCancelled, EventBalanceTopup}

// WebhookSecretPrefix starts every webhook signing secret.
const WebhookSecretPrefix = "whsec_"

// EventWebhookDisabled is queued on the Telegram channel when the shop
// disables a partner's webhook (sent only when the partner is linked).
const EventWebhookDisabled = "webhook.disabled"

// WebhookRetryWindow is how long a webhook event is retried: an event older
// than this whose attempt fails again is dropped and recorded as failed.
const WebhookRetryWindow = 72 * time.Hour

// WebhookDisableAfter: a webhook whose every attempt failed for this long is
// disabled (the partner is told in the bot and on GET /webhook; a PUT
// re-enables it).
const WebhookDisableAfter = 72 * time.Hour

// WebhookDeliveryRetention is how long delivery rows are kept.
const WebhookDeliveryRetention = 30 * 24 * time.Hour

// MaxWebhookURL bounds the length of a webhook URL.
const MaxWebhookURL = 2048

// EventID is the stable id of an outbox event as receivers see it
// ("evt_<outbox id>"): the same on every retry, so receivers can dedupe.
func EventID(it *domain.OutboxItem) string {
	if it.EventID != "" {
		return it.EventID // a redelivery keeps the event's id
	}
	return "evt_" + strconv.FormatInt(it.ID, 10)
}

// newWebhookSecret returns whsec_ + base64url of 32 random bytes.
func newWebhookSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("shop: random webhook secret: %w", err)
	}
	return WebhookSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// nonPublic4 are IPv4 ranges beyond the netip predicates that must not be
// reached: "this network", CGNAT shared space (RFC 6598), IETF protocol
// assignments, benchmarking, and reserved/broadcast.
var nonPublic4 = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("240.0.0.0/4")}

// nat64 prefixes embed an IPv4 address in their last 32 bits (RFC 6052, 8215).
var nat64 = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}

// PublicAddr reports whether a webhook may connect to ip outside sandbox
// mode: not loopback, private (RFC 1918, fc00::/7), link-local, unspecified,
// multicast, CGNAT (100.64.0.0/10) or other reserved IPv4 space, nor an
// IPv4-mapped or NAT64 form of those.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip.Is4() {
		for _, p := range nonPublic4 {
			if p.Contains(ip) {
				return false
			}
		}
		return true
	}
	for _, p := range nat64 {
		if p.Contains(ip) {
			b := ip.As16()
			return PublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		}
	}
	return true
}

// lookupHost resolves webhook hosts at save time; a variable for tests.
var lookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkWebhookURL validates a webhook URL: absolute http(s) (http only in
// sandbox mode), at most MaxWebhookURL bytes, no credentials, and outside
// sandbox mode a host that is not, and does not resolve to, a non-public
// address. The connect-time guard in package webhook repeats the address
// check for every connection, so DNS changes after saving cannot bypass it.
func (s *Shop) checkWebhookURL(ctx context.Context, raw string) (string, error) {
	if raw == "" {
		return "", validation("url", "webhook_url", "url is required")
	}
	if len(raw) > MaxWebhookURL {
		return "", validation("url", "webhook_url", "url must be at most %d characters", MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", validation("url", "webhook_url", "url must be an absolute https URL such as https://example.com/webhooks/openmoney")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.SandboxMode():
	case u.Scheme == "http":
		return "", validation("url", "webhook_url", "url must use https (http is allowed only in sandbox mode)")
	default:
		return "", validation("url", "webhook_url", "url must use https, got scheme %q", u.Scheme)
	}
	if u.User != nil {
		return "", validation("url", "webhook_url", "url must not carry credentials")
	}
	if u.Fragment != "" {
		return "", validation("url", "webhook_url", "url must not have a #fragment")
	}
	host := u.Hostname()
	if host == "" {
		return "", validation("url", "webhook_url", "url has no host")
	}
	if !s.SandboxMode() {
		if err := checkWebhookHost(ctx, host); err != nil {
			return "", err
		}
	}
	return u.String(), nil
}

// checkWebhookHost refuses hosts that are or resolve to non-public
// addresses. A name that does not resolve now is accepted (DNS may follow);
// the connect-time guard still applies.
func checkWebhookHost(ctx context.Context, host string) error {
	refused := validation("url", "webhook_url", "url host %q is a loopback, private or link-local address; webhooks go to public addresses only", host)
	lh := strings.ToLower(strings.TrimSuffix(host, "."))
	if lh == "localhost" || strings.HasSuffix(lh, ".localhost") {
		return refused
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !PublicAddr(ip) {
			return refused
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ips, err := lookupHost(ctx, host)
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if !PublicAddr(ip) {
			return refused
		}
	}
	return nil
}

// checkWebhookEvents validates and normalises an event list: nil means all
// events (SetWebhook passes nil only when creating); an explicit list must
// be non-empty and name known events.
func checkWebhookEvents(events []string) ([]string, error) {
	if events == nil {
		return slices.Clone(WebhookEvents), nil
	}
	if len(events) == 0 {
		return nil, validation("events", "webhook_events", "events must list at least one of %s (omit it to keep the current list; list all six for every event)", strings.Join(WebhookEvents, ", "))
	}
	want := map[string]bool{}
	for _, e := range events {
		if !slices.Contains(WebhookEvents, e) {
			return nil, validation("events", "webhook_events", "events: unknown event %q; use %s", clipText(e), strings.Join(WebhookEvents, ", "))
		}
		want[e] = true
	}
	var out []string
	for _, e := range WebhookEvents {
		if want[e] {
			out = append(out, e)
		}
	}
	return out, nil
}

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// WebhookUpdate is what a partner sets on its webhook. A nil field keeps
// the current value; when the webhook is created, URL is required and nil
// Events means all events.
type WebhookUpdate struct {
	URL    *string
	Events []string
}

// SetWebhook creates or updates the partner's webhook, and re-enables it if
// the shop had disabled it. A new webhook gets a fresh signing secret,
// returned in Secret this once; an update keeps the secret and returns
// Secret empty. Errors: VALIDATION_ERROR (field url or events), NOT_FOUND
// (partner).
func (s *Shop) SetWebhook(ctx context.Context, partnerID int64, up WebhookUpdate) (*domain.Webhook, error) {
	var u string
	if up.URL != nil {
		var err error
		if u, err = s.checkWebhookURL(ctx, *up.URL); err != nil {
			return nil, err
		}
	}
	var evs []string
	if up.Events != nil {
		var err error
		if evs, err = checkWebhookEvents(up.Events); err != nil {
			return nil, err
		}
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return nil, err
	}
	var out domain.Webhook
	reenabled := false
	err = s.update(ctx, func(tx *txn) error {
		if _, err := tx.GetPartner(partnerID); err != nil {
			return err
		}
		now := s.now()
		w, err := tx.GetWebhook(partnerID)
		created := errors.Is(err, store.ErrNotFound)
		switch {
		case created && up.URL == nil:
			return validation("url", "webhook_url", "url is required to create a webhook")
		case created:
			w = &domain.Webhook{PartnerID: partnerID, Secret: secret, CreatedAt: now, Events: slices.Clone(WebhookEvents)}
		case err != nil:
			return err
		}
		if up.URL != nil {
			w.URL = u
		}
		if evs != nil {
			w.Events = evs
		}
		reenabled = w.DisabledAt != nil
		w.UpdatedAt, w.DisabledAt, w.DisabledReason, w.FailingSince = now, nil, "", nil
		if err := tx.PutWebhook(w); err != nil {
			return err
		}
		out = *w
		if !created {
			out.Secret = ""
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("partner")
	}
	var be *Error
	if errors.As(err, &be) {
		return nil, be
	}
	if err != nil {
		return nil, fmt.Errorf("shop: set webhook: %w", err)
	}
	host := ""
	if pu, err := url.Parse(out.URL); err == nil {
		host = pu.Host // not the whole URL: its query may carry the partner's token
	}
	s.log.Info("webhook set", "partner_id", partnerID, "host", host, "events", out.Events, "reenabled", reenabled)
	return &out, nil
}

// GetWebhook returns the partner's webhook without its secret.
// Errors: NOT_FOUND when the partner has none.
func (s *Shop) GetWebhook(ctx context.Context, partnerID int64) (*domain.Webhook, error) {
	w, err := s.WebhookTarget(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	w.Secret = ""
	return w, nil
}

// WebhookTarget returns the partner's webhook with its secret, for the
// sender that signs deliveries; never show it to a partner.
// Errors: NOT_FOUND when the partner has none.
func (s *Shop) WebhookTarget(ctx context.Context, partnerID int64) (*domain.Webhook, error) {
	var w *domain.Webhook
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		w, err = tx.GetWebhook(partnerID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("webhook")
	}
	if err != nil {
		return nil, fmt.Errorf("shop: get webhook: %w", err)
	}
	return w, nil
}

// DeleteWebhook removes the partner's webhook; events still queued for it
// are dropped when their turn comes. Errors: NOT_FOUND when none.
func (s *Shop) DeleteWebhook(ctx context.Context, partnerID int64) error {
	err := s.update(ctx, func(tx *txn) error { return tx.DeleteWebhook(partnerID) })
	if errors.Is(err, store.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return fmt.Errorf("shop: delete webhook: %w", err)
	}
	s.log.Info("webhook deleted", "partner_id", partnerID)
	return nil
}

// RotateWebhookSecret gives the webhook a new secret, returned in Secret
// this once; the old one stops signing at once. Errors: NOT_FOUND when none.
func (s *Shop) RotateWebhookSecret(ctx context.Context, partnerID int64) (*domain.Webhook, error) {
	secret, err := newWebhookSecret()
	if err != nil {
		return nil, err
	}
	var out domain.Webhook
	err = s.update(ctx, func(tx *txn) error {
		w, err := tx.GetWebhook(partnerID)
		if err != nil {
			return err
		}
		w.Secret, w.UpdatedAt = secret, s.now()
		out = *w
		return tx.PutWebhook(w)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("webhook")
	}
	if err != nil {
		return nil, fmt.Errorf("shop: rotate webhook secret: %w", err)
	}
	s.log.Info("webhook secret rotated", "partner_id", partnerID)
	return &out, nil
}

// TestWebhook queues a webhook.test event for the partner through the same
// outbox, in order behind any event still waiting, and returns it.
// Errors: NOT_FOUND when the partner has no webhook.
func (s *Shop) TestWebhook(ctx context.Context, partnerID int64) (*domain.OutboxItem, error) {
	var it *domain.OutboxItem
	err := s.update(ctx, func(tx *txn) error {
		if err := enabledWebhook(tx, partnerID); err != nil {
			return err
		}
		now := s.now()
		it = &domain.OutboxItem{Channel: domain.ChannelWebhook, PartnerID: partnerID, Type: EventWebhookTest,
			CreatedAt: now, NextAttemptAt: now}
		return tx.AppendOutbox(it)
	})
	if err := webhookErr(err, "queue webhook test"); err != nil {
		return nil, err
	}
	return it, nil
}

// errWebhookDisabled refuses to queue events for a disabled webhook.
var errWebhookDisabled = newErr(CodeWebhookDisabled, "", "webhook_disabled",
	"your webhook is disabled after %s of failed deliveries; fix the endpoint, then re-enable it with PUT /webhook", WebhookDisableAfter)

// enabledWebhook returns nil when the partner has a webhook that is not
// disabled; store.ErrNotFound or errWebhookDisabled otherwise.
func enabledWebhook(tx store.Tx, partnerID int64) error {
	w, err := tx.GetWebhook(partnerID)
	if err != nil {
		return err
	}
	if w.DisabledAt != nil {
		return errWebhookDisabled
	}
	return nil
}

// webhookErr maps a store error of a webhook call to the shop's errors.
func webhookErr(err error, what string) error {
	var be *Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return notFound("webhook")
	case errors.As(err, &be):
		return be
	}
	return fmt.Errorf("shop: %s: %w", what, err)
}

// RedeliverWebhook queues the event of one of the partner's delivery rows
// again, with its original id, type, time and data, behind any event still
// waiting; the attempt gets a new row (RedeliveryOf = deliveryID). It is
// sent whatever the webhook's event list says, and tried once: a failed
// redelivery is not retried (redeliver again). Errors: NOT_FOUND (no such
// delivery of this partner, or no webhook), WEBHOOK_DISABLED.
func (s *Shop) RedeliverWebhook(ctx context.Context, partnerID, deliveryID int64) (*domain.OutboxItem, error) {
	var it *domain.OutboxItem
	err := s.update(ctx, func(tx *txn) error {
		d, err := tx.GetWebhookDelivery(deliveryID)
		if errors.Is(err, store.ErrNotFound) || err == nil && d.PartnerID != partnerID {
			return notFound("webhook delivery")
		}
		if err != nil {
			return err
		}
		if err := enabledWebhook(tx, partnerID); err != nil {
			return err
		}
		at := d.EventAt
		if at.IsZero() {
			at = d.At
		}
		it = &domain.OutboxItem{Channel: domain.ChannelWebhook, PartnerID: partnerID, Type: d.EventType, Order: d.Order,
			Ledger: d.Ledger, CreatedAt: at, NextAttemptAt: s.now(), EventID: d.EventID, RedeliveryOf: d.ID}
		return tx.AppendOutbox(it)
	})
	if err := webhookErr(err, "redeliver webhook event"); err != nil {
		return nil, err
	}
	s.log.Info("webhook redelivery queued", "partner_id", partnerID, "event_id", it.EventID, "delivery_id", deliveryID)
	return it, nil
}

// WebhookDeliveries pages through the partner's delivery attempts, newest
// first. Errors: VALIDATION_ERROR (limit, cursor).
func (s *Shop) WebhookDeliveries(ctx context.Context, partnerID int64, cursor string, limit int) (Page[domain.WebhookDelivery], error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return Page[domain.WebhookDelivery]{}, err
	}
	before, err := DecodeCursor(cursor)
	if err != nil {
		return Page[domain.WebhookDelivery]{}, err
	}
	var items []domain.WebhookDelivery
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.ListWebhookDeliveries(partnerID, before, limit+1)
		return err
	})
	if err != nil {
		return Page[domain.WebhookDelivery]{}, fmt.Errorf("shop: list webhook deliveries: %w", err)
	}
	return pageOf(items, limit, func(x domain.WebhookDelivery) int64 { return x.ID }), nil
}

// WebhookAttempt is the outcome of one delivery attempt, as the sender saw it.
type WebhookAttempt struct {
	StatusCode int           // 0 when no response arrived
	Err        error         // nil when delivered
	Duration   time.Duration //
}

// deliveryRow starts the delivery row of an attempt at it: the event with
// its data, so the row alone can redeliver it.
func (s *Shop) deliveryRow(it *domain.OutboxItem, attempt int, final string) *domain.WebhookDelivery {
	return &domain.WebhookDelivery{PartnerID: it.PartnerID, EventID: EventID(it), EventType: it.Type, Attempt: attempt,
		At: s.now(), Final: final, EventAt: it.CreatedAt, Order: it.Order, Ledger: it.Ledger, RedeliveryOf: it.RedeliveryOf}
}

// RecordWebhookAttempt appends the attempt to the partner's delivery log:
// delivered when a.Err is nil, otherwise retrying (SendOutbox adds the final
// failed row when it gives up).
func (s *Shop) RecordWebhookAttempt(ctx context.Context, it *domain.OutboxItem, a WebhookAttempt) error {
	d := s.deliveryRow(it, it.Attempts+1, domain.WebhookDelivered)
	d.StatusCode, d.DurationMs = a.StatusCode, a.Duration.Milliseconds()
	if a.Err != nil {
		d.Final, d.Error = domain.WebhookRetrying, clipError(a.Err.Error())
	}
	err := s.update(ctx, func(tx *txn) error { return tx.AppendWebhookDelivery(d) })
	if err != nil {
		return fmt.Errorf("shop: record webhook attempt: %w", err)
	}
	return nil
}

// clipError bounds stored error texts.
func clipError(s string) string {
	if len(s) > 500 {
		return s[:500] + "…"
	}
	return s
}

// webhookGiveUp drops a webhook event past its retry window (or a
// redelivery, which is tried once) and records the final failed row, in
// the caller's transaction.
func (s *Shop) webhookGiveUp(tx store.Tx, it *domain.OutboxItem, nerr error) error {
	if err := tx.DeleteOutbox(it.Channel, it.ID); err != nil {
		return err
	}
	d := s.deliveryRow(it, it.Attempts+1, domain.WebhookFailed)
	d.Error = clipError(fmt.Sprintf("gave up after %s of retries; last error: %v", WebhookRetryWindow, nerr))
	if it.RedeliveryOf != 0 {
		d.Error = clipError(fmt.Sprintf("redelivery failed (a redelivery is tried once; redeliver again): %v", nerr))
	}
	return tx.AppendWebhookDelivery(d)
}

// webhookExpired reports whether a failed webhook event is given up: past
// its window, or a redelivery.
func (s *Shop) webhookExpired(it *domain.OutboxItem) bool {
	return it.Channel == domain.ChannelWebhook && (it.RedeliveryOf != 0 || s.now().Sub(it.CreatedAt) >= WebhookRetryWindow)
}

// webhookOutcome keeps the partner's webhook health after an attempt, in
// the caller's transaction: a success ends a run of failures; a failure
// starts one, and one that has lasted WebhookDisableAfter disables the
// webhook — its queued events are dropped (each recorded as failed, so the
// partner can redeliver them) and the partner is told in the bot. It
// reports whether it disabled the webhook.
func (s *Shop) webhookOutcome(tx store.Tx, p *domain.Partner, it *domain.OutboxItem, nerr error) (bool, error) {
	w, err := tx.GetWebhook(it.PartnerID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil || w.DisabledAt != nil {
		return false, err
	}
	now := s.now()
	switch {
	case nerr == nil && w.FailingSince == nil:
		return false, nil
	case nerr == nil:
		w.FailingSince = nil
		return false, tx.PutWebhook(w)
	case w.FailingSince == nil:
		w.FailingSince = &now
		return false, tx.PutWebhook(w)
	case now.Sub(*w.FailingSince) < WebhookDisableAfter:
		return false, nil
	}
	reason := fmt.Sprintf("every delivery attempt since %s failed (last: %v)", w.FailingSince.Format(time.RFC3339), nerr)
	w.DisabledAt, w.DisabledReason = &now, clipError(reason)
	if err := tx.PutWebhook(w); err != nil {
		return false, err
	}
	if err := s.alertWebhookDisabled(tx, p, w.DisabledReason); err != nil {
		return false, err
	}
	// Drop the partner's queued events: the one that just failed, and every
	// one waiting behind it.
	var after int64
	for {
		items, err := tx.PendingOutbox(domain.ChannelWebhook, after, 500)
		if err != nil {
			return false, err
		}
		for i := range items {
			q := &items[i]
			after = q.ID
			if q.PartnerID != it.PartnerID {
				continue
			}
			if q.ID != it.ID {
				if err := s.webhookDropUnsent(tx, q); err != nil {
					return false, err
				}
				continue
			}
			if err := tx.DeleteOutbox(q.Channel, q.ID); err != nil {
				return false, err
			}
			d := s.deliveryRow(q, it.Attempts+1, domain.WebhookFailed)
			d.Error = clipError(fmt.Sprintf("webhook disabled after %s of failed attempts; last error: %v", WebhookDisableAfter, nerr))
			if err := tx.AppendWebhookDelivery(d); err != nil {
				return false, err
			}
		}
		if len(items) < 500 {
			break
		}
	}
	if p.TelegramChatID != 0 {
		if err := tx.AppendOutbox(&domain.OutboxItem{Channel: domain.ChannelTelegram, PartnerID: p.ID, Type: EventWebhookDisabled,
			CreatedAt: now, NextAttemptAt: now}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// webhookDropUnsent drops a queued event of a disabled webhook with a
// failed row (attempt: the attempts made so far, 0 for an event never
// sent) that the partner can redeliver once it re-enables the webhook, in
// the caller's transaction.
func (s *Shop) webhookDropUnsent(tx store.Tx, it *domain.OutboxItem) error {
	if err := tx.DeleteOutbox(it.Channel, it.ID); err != nil {
		return err
	}
	d := s.deliveryRow(it, it.Attempts, domain.WebhookFailed)
	d.Error = "not sent: the webhook was disabled; redeliver it once the endpoint works again"
	return tx.AppendWebhookDelivery(d)
}

// pruneWebhookDeliveries deletes delivery rows older than
// WebhookDeliveryRetention; it returns how many.
func (s *Shop) pruneWebhookDeliveries(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n := 0
		err := s.update(ctx, func(tx *txn) error {
			var err error
			n, err = tx.DeleteWebhookDeliveriesBefore(s.now().Add(-WebhookDeliveryRetention), 500)
			return err
		})
		total += n
		if err != nil || n < 500 {
			return total, err
		}
	}
	return total, ctx.Err()
}
