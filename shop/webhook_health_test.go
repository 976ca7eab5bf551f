package shop_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
)

// failingHook fails every webhook attempt, recording it like the real
// sender does, and remembers when each attempt was made. Like the real
// sender, it sends nothing for a disabled webhook (shop.ErrWebhookDisabled).
type failingHook struct {
	env *shoptest.Env
	mu  sync.Mutex
	at  map[string][]time.Time // event id → attempt times
	ok  bool                   // answer success instead
}

func (h *failingHook) Notify(ctx context.Context, p *domain.Partner, it *domain.OutboxItem) error {
	if w, err := h.env.Shop.GetWebhook(ctx, p.ID); err == nil && w.DisabledAt != nil {
		return shop.ErrWebhookDisabled
	}
	h.mu.Lock()
	if h.at == nil {
		h.at = map[string][]time.Time{}
	}
	h.at[shop.EventID(it)] = append(h.at[shop.EventID(it)], h.env.Clock.Now())
	ok := h.ok
	h.mu.Unlock()
	var err error
	if !ok {
		err = errors.New("webhook: receiver answered 500 Internal Server Error")
	}
	if rerr := h.env.Shop.RecordWebhookAttempt(ctx, it, shop.WebhookAttempt{StatusCode: 500, Err: err}); rerr != nil {
		return rerr
	}
	return err
}

// queued counts the items of a channel.
func queued(t *testing.T, env *shoptest.Env, channel domain.Channel) []domain.OutboxItem {
	t.Helper()
	var items []domain.OutboxItem
	if err := env.Store.View(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.PendingOutbox(channel, 0, 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return items
}

// The retry schedule: 17 attempts, each after the schedule's delay, over
// just over three days. Then the webhook is disabled (continuous failure
// for WebhookDisableAfter): every queued event is dropped with a failed
// row, the linked partner gets a Telegram notice, later events are not
// queued, test and redeliver answer WEBHOOK_DISABLED, and a PUT re-enables.
func TestWebhookRetryScheduleThenAutoDisableAndReenable(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, err := env.Shop.TelegramPartner(ctx, shop.TelegramUser{ID: 77, ChatID: 77})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new("https://hooks.example/h")}); err != nil {
		t.Fatal(err)
	}
	head, err := env.Shop.TestWebhook(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.TestWebhook(ctx, p.ID); err != nil { // waits behind the head
		t.Fatal(err)
	}
	h := &failingHook{env: env}
	start := env.Clock.Now()
	var total time.Duration
	for _, d := range wait.Webhook {
		total += d
	}
	if total < 72*time.Hour || len(wait.Webhook) != 16 {
		t.Fatalf("schedule: %d retries over %s, want 16 over at least 72h", len(wait.Webhook), total)
	}
	for i := 0; i <= len(wait.Webhook); i++ {
		if err := env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h); err != nil {
			t.Fatal(err)
		}
		if i < len(wait.Webhook) {
			// Not due a second early.
			env.Clock.Advance(wait.Webhook[i] - time.Second)
			if err := env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h); err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(time.Second)
		}
	}
	at := h.at[shop.EventID(head)]
	if len(at) != 17 {
		t.Fatalf("%d attempts, want 17", len(at))
	}
	for i := 1; i < len(at); i++ {
		if got, want := at[i].Sub(at[i-1]), wait.Webhook[i-1]; got != want {
			t.Errorf("attempt %d came %s after the previous, want %s", i+1, got, want)
		}
	}
	if last := at[16].Sub(start); last < shop.WebhookDisableAfter {
		t.Fatalf("last attempt after %s", last)
	}
	w, err := env.Shop.GetWebhook(ctx, p.ID)
	if err != nil || w.DisabledAt == nil || w.FailingSince == nil || !w.FailingSince.Equal(start) ||
		!strings.Contains(w.DisabledReason, "500") {
		t.Fatalf("webhook after 3 days of failures: %+v %v", w, err)
	}
	if q := queued(t, env, domain.ChannelWebhook); len(q) != 0 {
		t.Fatalf("events still queued for a disabled webhook: %+v", q)
	}
	page, err := env.Shop.WebhookDeliveries(ctx, p.ID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: the never-sent second event, then the head's final row.
	if len(page.Items) != 19 || page.Items[0].Final != domain.WebhookFailed || page.Items[0].Attempt != 0 ||
		page.Items[1].Final != domain.WebhookFailed || page.Items[1].Attempt != 17 || page.Items[1].EventID != shop.EventID(head) {
		t.Fatalf("delivery log %d rows, newest %+v %+v", len(page.Items), page.Items[0], page.Items[1])
	}
	notes := queued(t, env, domain.ChannelTelegram)
	if len(notes) != 1 || notes[0].Type != shop.EventWebhookDisabled || notes[0].PartnerID != p.ID {
		t.Fatalf("telegram notice: %+v", notes)
	}
	// Disabled: an event is not sent but recorded as a failed row (attempt
	// 0) to redeliver later; test and redeliver refused.
	o := newOrder(t, env, p.ID)
	if _, err := env.Shop.CancelOrder(ctx, p.ID, o.ID); err != nil {
		t.Fatal(err)
	}
	if err := env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h); err != nil {
		t.Fatal(err)
	}
	if q := queued(t, env, domain.ChannelWebhook); len(q) != 0 {
		t.Fatalf("still queued for a disabled webhook: %+v", q)
	}
	missed, err := env.Shop.WebhookDeliveries(ctx, p.ID, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	cancelled := missed.Items[0]
	if cancelled.EventType != shop.EventOrderCancelled || cancelled.Final != domain.WebhookFailed || cancelled.Attempt != 0 ||
		!strings.Contains(cancelled.Error, "webhook was disabled") || cancelled.Order == nil || cancelled.Order.ID != o.ID {
		t.Fatalf("the event while disabled: %+v", cancelled)
	}
	if len(h.at[cancelled.EventID]) != 0 {
		t.Fatalf("the event while disabled was sent %d times", len(h.at[cancelled.EventID]))
	}
	if _, err := env.Shop.TestWebhook(ctx, p.ID); shop.ErrorCode(err) != shop.CodeWebhookDisabled {
		t.Fatalf("test while disabled: %v", err)
	}
	if _, err := env.Shop.RedeliverWebhook(ctx, p.ID, page.Items[0].ID); shop.ErrorCode(err) != shop.CodeWebhookDisabled {
		t.Fatalf("redeliver while disabled: %v", err)
	}
	// A PUT (with nothing to change) re-enables; the missed events can be redelivered.
	w, err = env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{})
	if err != nil || w.DisabledAt != nil || w.FailingSince != nil || w.URL != "https://hooks.example/h" {
		t.Fatalf("re-enable: %+v %v", w, err)
	}
	it, err := env.Shop.RedeliverWebhook(ctx, p.ID, page.Items[1].ID)
	if err != nil || shop.EventID(it) != shop.EventID(head) || it.RedeliveryOf != page.Items[1].ID {
		t.Fatalf("redeliver: %+v %v", it, err)
	}
	h.ok = true
	if err := env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h); err != nil {
		t.Fatal(err)
	}
	page, _ = env.Shop.WebhookDeliveries(ctx, p.ID, "", 1)
	if d := page.Items[0]; d.Final != domain.WebhookDelivered || d.EventID != shop.EventID(head) || d.RedeliveryOf == 0 {
		t.Fatalf("redelivered row %+v", d)
	}
	// The event that happened while disabled, redelivered with its id.
	if _, err := env.Shop.RedeliverWebhook(ctx, p.ID, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if err := env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h); err != nil {
		t.Fatal(err)
	}
	page, _ = env.Shop.WebhookDeliveries(ctx, p.ID, "", 1)
	if d := page.Items[0]; d.Final != domain.WebhookDelivered || d.EventID != cancelled.EventID || d.RedeliveryOf != cancelled.ID ||
		len(h.at[cancelled.EventID]) != 1 {
		t.Fatalf("redelivered row of the missed event %+v", d)
	}
	env.Check(t)
}

// A success ends a run of failures: failures that do not last 3 days in a
// row never disable the webhook.
func TestWebhookSuccessResetsTheFailureRun(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, _ := env.Partner(t)
	if _, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new("https://hooks.example/h")}); err != nil {
		t.Fatal(err)
	}
	h := &failingHook{env: env}
	for day := range 5 {
		if _, err := env.Shop.TestWebhook(ctx, p.ID); err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
		h.ok = false
		for range 8 { // two days of failures
			_ = env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h)
			env.Clock.Advance(6 * time.Hour)
		}
		w, _ := env.Shop.GetWebhook(ctx, p.ID)
		if w.DisabledAt != nil || w.FailingSince == nil {
			t.Fatalf("day %d: %+v", day*2, w)
		}
		h.ok = true
		_ = env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h)
		if w, _ = env.Shop.GetWebhook(ctx, p.ID); w.FailingSince != nil {
			t.Fatalf("a success did not end the run of failures: %+v", w)
		}
	}
}

// Delivery rows older than 30 days are pruned by the housekeeping loop.
func TestWebhookDeliveriesPrunedAfter30Days(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, _ := env.Partner(t)
	it := &domain.OutboxItem{ID: 5, PartnerID: p.ID, Type: shop.EventOrderPaid}
	record := func(n int) {
		for range n {
			if err := env.Shop.RecordWebhookAttempt(ctx, it, shop.WebhookAttempt{StatusCode: 200}); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(3)
	env.Clock.Advance(20 * 24 * time.Hour)
	record(2)
	env.Clock.Advance(10*24*time.Hour + time.Second) // the first 3 are now 30 days and 1 s old
	n, err := env.Shop.PruneWebhookDeliveries(ctx)
	if err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3", n, err)
	}
	page, _ := env.Shop.WebhookDeliveries(ctx, p.ID, "", 100)
	if len(page.Items) != 2 {
		t.Fatalf("%d rows left, want 2", len(page.Items))
	}
	if n, _ := env.Shop.PruneWebhookDeliveries(ctx); n != 0 {
		t.Fatalf("pruned %d more", n)
	}
}

// One partner's long backlog (an endpoint down for days) must not hide the
// events of partners queued after it: a pass reads past the first page.
func TestOutboxBacklogDoesNotHideLaterPartners(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	a, _ := env.Partner(t)
	b, _ := env.Partner(t)
	for _, p := range []*domain.Partner{a, b} {
		if _, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new("https://hooks.example/" + p.Name)}); err != nil {
			t.Fatal(err)
		}
	}
	for range 1200 {
		if _, err := env.Shop.TestWebhook(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Shop.TestWebhook(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	n := &partnerHook{down: a.ID}
	if err := env.Shop.SendOutbox(ctx, domain.ChannelWebhook, n); err != nil {
		t.Fatal(err)
	}
	if n.sent[b.ID] != 1 || n.sent[a.ID] != 1 {
		t.Fatalf("one pass sent %v; want partner %d's event and one attempt of partner %d's head", n.sent, b.ID, a.ID)
	}
}

// partnerHook fails for one partner and counts attempts per partner.
type partnerHook struct {
	down int64
	mu   sync.Mutex
	sent map[int64]int
}

func (h *partnerHook) Notify(_ context.Context, p *domain.Partner, _ *domain.OutboxItem) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sent == nil {
		h.sent = map[int64]int{}
	}
	h.sent[p.ID]++
	if p.ID == h.down {
		return errors.New("down")
	}
	return nil
}
