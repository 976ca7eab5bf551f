package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/webhook"
)

// notSandbox builds the shop outside sandbox mode.
func notSandbox() envOpt {
	return func(_ *config.Config, o *shoptest.Options) { o.NotSandbox = true }
}

type webhookJSON struct {
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Secret         *string  `json:"secret"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
	Status         string   `json:"status"`
	DisabledAt     *string  `json:"disabled_at"`
	DisabledReason *string  `json:"disabled_reason"`
	FailingSince   *string  `json:"failing_since"`
}

func (r *resp) webhook(tb testing.TB) webhookJSON {
	tb.Helper()
	var w webhookJSON
	dec := json.NewDecoder(strings.NewReader(string(r.Env.Data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		tb.Fatalf("webhook %s: %v", r.Env.Data, err)
	}
	return w
}

func TestWebhookRoutes(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	const base = "/api/v1/webhook"
	te.call(t, "GET", base, key, "").must(t, 404, "NOT_FOUND")
	te.call(t, "DELETE", base, key, "").must(t, 404, "NOT_FOUND")
	te.call(t, "POST", base+"/rotate-secret", key, "").must(t, 404, "NOT_FOUND")
	te.call(t, "POST", base+"/test", key, "").must(t, 404, "NOT_FOUND")
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		te.call(t, m, base, "", "").must(t, 401, "UNAUTHORIZED")
	}

	// Create: the url is required, the secret is shown once.
	if e := te.call(t, "PUT", base, key, `{"events":["order.paid"]}`).must(t, 422, "VALIDATION_ERROR"); !strings.Contains(e.Env.ErrorMessage, "url") {
		t.Errorf("create without url: %q", e.Env.ErrorMessage)
	}
	w := te.call(t, "PUT", base, key, `{"url":"https://hooks.example/om"}`).must(t, 200).webhook(t)
	if w.Secret == nil || !strings.HasPrefix(*w.Secret, "whsec_") || w.URL != "https://hooks.example/om" || len(w.Events) != 6 ||
		w.Status != "enabled" || w.DisabledAt != nil || w.FailingSince != nil {
		t.Fatalf("create %+v", w)
	}
	secret := *w.Secret
	got := te.call(t, "GET", base, key, "").must(t, 200)
	if gw := got.webhook(t); gw.Secret != nil || gw.URL != w.URL || gw.CreatedAt == "" {
		t.Fatalf("get %+v", gw)
	}
	if strings.Contains(string(got.Body), secret) {
		t.Fatal("GET shows the secret")
	}
	// Update: same secret, not shown.
	u := te.call(t, "PUT", base, key, `{"url":"https://hooks.example/v2","events":["order.completed","order.paid"]}`).must(t, 200).webhook(t)
	if u.Secret != nil || u.URL != "https://hooks.example/v2" || strings.Join(u.Events, ",") != "order.paid,order.completed" {
		t.Fatalf("update %+v", u)
	}
	// A PUT keeps the fields it is not given.
	u = te.call(t, "PUT", base, key, `{"url":"https://hooks.example/v3"}`).must(t, 200).webhook(t)
	if u.URL != "https://hooks.example/v3" || strings.Join(u.Events, ",") != "order.paid,order.completed" {
		t.Fatalf("url only: %+v", u)
	}
	u = te.call(t, "PUT", base, key, `{"events":["balance.topup"]}`).must(t, 200).webhook(t)
	if u.URL != "https://hooks.example/v3" || strings.Join(u.Events, ",") != "balance.topup" {
		t.Fatalf("events only: %+v", u)
	}
	u = te.call(t, "PUT", base, key, `{"url":null,"events":null}`).must(t, 200).webhook(t)
	if u.URL != "https://hooks.example/v3" || strings.Join(u.Events, ",") != "balance.topup" {
		t.Fatalf("nulls: %+v", u)
	}
	// Rotate: a new secret, shown once.
	r := te.call(t, "POST", base+"/rotate-secret", key, "").must(t, 200).webhook(t)
	if r.Secret == nil || *r.Secret == secret || !strings.HasPrefix(*r.Secret, "whsec_") {
		t.Fatalf("rotate %+v", r)
	}
	// Validation.
	for body, field := range map[string]string{
		`{"url":""}`:                                         "url",
		`{"url":"ftp://x.example/"}`:                         "url",
		`{"url":"https://x.example/","events":[]}`:           "events",
		`{"url":"https://x.example/","events":["nope"]}`:     "events",
		`{"url":"https://x.example/","secret":"mine"}`:       "secret",
		`{"url":"https://x.example/","events":"order.paid"}`: "events",
	} {
		e := te.call(t, "PUT", base, key, body).must(t, 422, "VALIDATION_ERROR")
		if !strings.Contains(e.Env.ErrorMessage, field) {
			t.Errorf("%s: message %q does not name %s", body, e.Env.ErrorMessage, field)
		}
	}
	// An empty list: the message tells what omitting does on an update (keeps the list).
	if e := te.call(t, "PUT", base, key, `{"events":[]}`).must(t, 422, "VALIDATION_ERROR"); !strings.Contains(e.Env.ErrorMessage, "omit it to keep the current list") ||
		strings.Contains(e.Env.ErrorMessage, "omit it for all") {
		t.Errorf("events: [] message %q", e.Env.ErrorMessage)
	}
	// Test event, then delete.
	var tv struct {
		EventID   string `json:"event_id"`
		Type      string `json:"type"`
		Status    string `json:"status"`
		CreatedAt string `json:"created_at"`
	}
	te.call(t, "POST", base+"/test", key, "").must(t, 200).data(t, &tv)
	if !strings.HasPrefix(tv.EventID, "evt_") || tv.Type != "webhook.test" || tv.Status != "queued" {
		t.Fatalf("test %+v", tv)
	}
	te.call(t, "DELETE", base, key, "").must(t, 200)
	te.call(t, "GET", base, key, "").must(t, 404, "NOT_FOUND")
}

func TestWebhookURLRulesThroughTheAPI(t *testing.T) {
	te := newEnv(t, notSandbox())
	_, key := te.Partner(t)
	for _, u := range []string{"http://hooks.example/h", "https://127.0.0.1/h", "https://169.254.169.254/", "https://localhost/h"} {
		te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"`+u+`"}`).must(t, 422, "VALIDATION_ERROR")
	}
	te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"https://203.0.113.9/h"}`).must(t, 200)

	sb := newEnv(t)
	_, key = sb.Partner(t)
	sb.call(t, "PUT", "/api/v1/webhook", key, `{"url":"http://127.0.0.1:9000/h"}`).must(t, 200)
}

func TestWebhookDeliveriesRoute(t *testing.T) {
	te := newEnv(t)
	p, key := te.Partner(t)
	var n atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer rc.Close()
	te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"`+rc.URL+`"}`).must(t, 200)
	te.call(t, "POST", "/api/v1/webhook/test", key, "").must(t, 200)
	sender := webhook.NewSender(te.Shop, webhook.Options{})
	if err := te.Shop.SendOutbox(context.Background(), domain.ChannelWebhook, sender); err != nil {
		t.Fatal(err)
	}
	type deliveryJSON struct {
		ID         int64   `json:"id"`
		EventID    string  `json:"event_id"`
		EventType  string  `json:"event_type"`
		Attempt    int     `json:"attempt"`
		Status     string  `json:"status"`
		StatusCode *int    `json:"status_code"`
		Error      *string `json:"error"`
		DurationMs int64   `json:"duration_ms"`
		CreatedAt  string  `json:"created_at"`
	}
	var l listJSON[deliveryJSON]
	te.call(t, "GET", "/api/v1/webhook/deliveries", key, "").must(t, 200).data(t, &l)
	if len(l.Items) != 1 || l.Items[0].StatusCode == nil || *l.Items[0].StatusCode != 503 || l.Items[0].Status != "retrying" ||
		l.Items[0].Error == nil || l.Items[0].EventType != "webhook.test" || l.Items[0].Attempt != 1 {
		t.Fatalf("deliveries %+v", l)
	}
	eventually(t, "the retry", func() bool {
		_ = te.Shop.SendOutbox(context.Background(), domain.ChannelWebhook, sender)
		return n.Load() >= 2
	})
	l = listJSON[deliveryJSON]{}
	te.call(t, "GET", "/api/v1/webhook/deliveries?limit=1", key, "").must(t, 200).data(t, &l)
	if len(l.Items) != 1 || *l.Items[0].StatusCode != 200 || l.Items[0].Status != "delivered" || l.Items[0].Attempt != 2 || l.NextCursor == nil {
		t.Fatalf("page 1 %+v", l)
	}
	l2 := listJSON[deliveryJSON]{}
	te.call(t, "GET", "/api/v1/webhook/deliveries?limit=1&cursor="+*l.NextCursor, key, "").must(t, 200).data(t, &l2)
	if len(l2.Items) != 1 || l2.Items[0].Attempt != 1 || l2.NextCursor != nil {
		t.Fatalf("page 2 %+v", l2)
	}
	te.call(t, "GET", "/api/v1/webhook/deliveries?limit=0", key, "").must(t, 422, "VALIDATION_ERROR")
	// Another partner sees none of them.
	_, other := te.Partner(t)
	l = listJSON[deliveryJSON]{}
	te.call(t, "GET", "/api/v1/webhook/deliveries", other, "").must(t, 200).data(t, &l)
	if len(l.Items) != 0 {
		t.Fatalf("other partner sees %+v", l.Items)
	}
	_ = p
}

func TestRotateSecretReplaysWithIdempotencyKey(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"https://hooks.example/h"}`).must(t, 200)
	a := te.call(t, "POST", "/api/v1/webhook/rotate-secret", key, "", "Idempotency-Key", "rot-1").must(t, 200)
	b := te.call(t, "POST", "/api/v1/webhook/rotate-secret", key, "", "Idempotency-Key", "rot-1").must(t, 200)
	if string(a.Body) != string(b.Body) || b.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay\n%s\n%s", a.Body, b.Body)
	}
}

// A real delivery body and real delivery rows match the schemas of
// openapi.json (WebhookEvent, WebhookDelivery).
func TestWebhookPayloadsMatchOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	te := newEnv(t)
	_, key := te.Partner(t)
	bodies := make(chan []byte, 4)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer rc.Close()
	te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"`+rc.URL+`"}`).must(t, 200)
	o := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody).must(t, 200).order(t)
	te.call(t, "POST", "/api/v1/orders/"+itoa(int(o.ID))+"/cancel", key, "").must(t, 200)
	sender := webhook.NewSender(te.Shop, webhook.Options{})
	if err := te.Shop.SendOutbox(context.Background(), domain.ChannelWebhook, sender); err != nil {
		t.Fatal(err)
	}
	visit := func(schema string, raw []byte) {
		t.Helper()
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		if err := doc.Components.Schemas[schema].Value.VisitJSON(v); err != nil {
			t.Errorf("%s does not match %s: %v", raw, schema, err)
		}
	}
	visit("WebhookEvent", <-bodies)
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	te.call(t, "GET", "/api/v1/webhook/deliveries", key, "").must(t, 200).data(t, &l)
	if len(l.Items) != 1 {
		t.Fatalf("%d deliveries", len(l.Items))
	}
	visit("WebhookDelivery", l.Items[0])
}

// deliveryRow is one item of GET /webhook/deliveries.
type deliveryRow struct {
	ID           int64   `json:"id"`
	EventID      string  `json:"event_id"`
	EventType    string  `json:"event_type"`
	Attempt      int     `json:"attempt"`
	Status       string  `json:"status"`
	StatusCode   *int    `json:"status_code"`
	Error        *string `json:"error"`
	RedeliveryOf *int64  `json:"redelivery_of"`
}

func deliveries(t *testing.T, te *tenv, key string) []deliveryRow {
	t.Helper()
	var l listJSON[deliveryRow]
	te.call(t, "GET", "/api/v1/webhook/deliveries?limit=100", key, "").must(t, 200).data(t, &l)
	return l.Items
}

// POST /webhook/deliveries/{id}/redeliver sends the same event (id, type,
// created_at, data) again, logged as a new attempt row pointing at the one
// it was asked for; a failed redelivery is tried once.
func TestWebhookRedeliverRoute(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	_, other := te.Partner(t)
	var fail atomic.Bool
	bodies := make(chan []byte, 8)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		if fail.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"`+rc.URL+`","events":["order.cancelled"]}`).must(t, 200)
	o := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody).must(t, 200).order(t)
	te.call(t, "POST", "/api/v1/orders/"+itoa(int(o.ID))+"/cancel", key, "").must(t, 200)
	sender := webhook.NewSender(te.Shop, webhook.Options{})
	send := func() {
		t.Helper()
		if err := te.Shop.SendOutbox(context.Background(), domain.ChannelWebhook, sender); err != nil {
			t.Fatal(err)
		}
	}
	send()
	first := <-bodies
	ds := deliveries(t, te, key)
	if len(ds) != 1 || ds[0].Status != "delivered" || ds[0].RedeliveryOf != nil {
		t.Fatalf("deliveries %+v", ds)
	}
	orig := ds[0]
	path := "/api/v1/webhook/deliveries/" + itoa(int(orig.ID)) + "/redeliver"

	te.call(t, "POST", path, "", "").must(t, 401, "UNAUTHORIZED")
	te.call(t, "POST", path, other, "").must(t, 404, "NOT_FOUND") // not this partner's delivery
	te.call(t, "POST", "/api/v1/webhook/deliveries/999999/redeliver", key, "").must(t, 404, "NOT_FOUND")
	te.call(t, "POST", "/api/v1/webhook/deliveries/x/redeliver", key, "").must(t, 422, "VALIDATION_ERROR")
	te.call(t, "GET", path, key, "").must(t, 405, "METHOD_NOT_ALLOWED")

	// The webhook no longer lists order.cancelled: a redelivery goes anyway.
	te.call(t, "PUT", "/api/v1/webhook", key, `{"events":["order.paid"]}`).must(t, 200)
	var q struct {
		EventID string `json:"event_id"`
		Type    string `json:"type"`
		Status  string `json:"status"`
	}
	te.call(t, "POST", path, key, "").must(t, 200).data(t, &q)
	if q.EventID != orig.EventID || q.Type != "order.cancelled" || q.Status != "queued" {
		t.Fatalf("redeliver answered %+v", q)
	}
	send()
	if again := <-bodies; string(again) != string(first) {
		t.Fatalf("redelivered body differs:\n%s\n%s", first, again)
	}
	ds = deliveries(t, te, key)
	if len(ds) != 2 || ds[0].EventID != orig.EventID || ds[0].Status != "delivered" || ds[0].Attempt != 1 ||
		ds[0].RedeliveryOf == nil || *ds[0].RedeliveryOf != orig.ID {
		t.Fatalf("after redelivery %+v", ds)
	}

	// A failing redelivery is tried once and logged as failed.
	fail.Store(true)
	te.call(t, "POST", path, key, "").must(t, 200)
	send()
	<-bodies
	send() // nothing left to send
	ds = deliveries(t, te, key)
	if len(ds) != 4 || ds[0].Status != "failed" || ds[1].Status != "retrying" || *ds[1].StatusCode != 502 ||
		!strings.Contains(*ds[0].Error, "redeliver again") {
		t.Fatalf("failed redelivery %+v", ds[:2])
	}
	select {
	case b := <-bodies:
		t.Fatalf("a failed redelivery was retried: %s", b)
	default:
	}
}

// A webhook whose every attempt fails for 3 days is disabled: GET /webhook
// says so, events are not sent but logged as failed rows (attempt 0), test
// and redeliver answer 409 WEBHOOK_DISABLED; a PUT re-enables it and the
// missed event can be redelivered.
func TestWebhookDisabledAndReenabledThroughTheAPI(t *testing.T) {
	te := newEnv(t, withClock())
	_, key := te.Partner(t)
	var calls atomic.Int32
	var ok atomic.Bool
	got := make(chan string, 4)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if ok.Load() {
			got <- r.Header.Get(webhook.EventIDHeader) + " " + r.Header.Get(webhook.EventTypeHeader)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer rc.Close()
	te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"`+rc.URL+`"}`).must(t, 200)
	te.call(t, "POST", "/api/v1/webhook/test", key, "").must(t, 200)
	te.call(t, "POST", "/api/v1/webhook/test", key, "").must(t, 200)
	sender := webhook.NewSender(te.Shop, webhook.Options{})
	for range 40 {
		if err := te.Shop.SendOutbox(context.Background(), domain.ChannelWebhook, sender); err != nil {
			t.Fatal(err)
		}
		te.Clock.Advance(6 * time.Hour)
	}
	w := te.call(t, "GET", "/api/v1/webhook", key, "").must(t, 200).webhook(t)
	if w.Status != "disabled" || w.DisabledAt == nil || w.DisabledReason == nil || w.FailingSince == nil {
		t.Fatalf("after 3 days of failures: %+v", w)
	}
	n := calls.Load()
	if n < 10 || n > 17 {
		t.Errorf("%d attempts before disabling, want the schedule's (at most 17)", n)
	}
	te.call(t, "POST", "/api/v1/webhook/test", key, "").must(t, 409, "WEBHOOK_DISABLED")
	ds := deliveries(t, te, key)
	if ds[0].Status != "failed" || ds[1].Status != "failed" {
		t.Fatalf("both queued events end failed: %+v", ds[:2])
	}
	te.call(t, "POST", "/api/v1/webhook/deliveries/"+itoa(int(ds[0].ID))+"/redeliver", key, "").must(t, 409, "WEBHOOK_DISABLED")

	// An event while disabled: not sent, logged as failed, attempt 0.
	o := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, "")).must(t, 200).order(t)
	te.call(t, "POST", "/api/v1/orders/"+itoa(int(o.ID))+"/cancel", key, "").must(t, 200)
	if err := te.Shop.SendOutbox(context.Background(), domain.ChannelWebhook, sender); err != nil {
		t.Fatal(err)
	}
	missed := deliveries(t, te, key)[0]
	if missed.EventType != "order.cancelled" || missed.Status != "failed" || missed.Attempt != 0 || missed.Error == nil ||
		!strings.Contains(*missed.Error, "webhook was disabled") || calls.Load() != n {
		t.Fatalf("the event while disabled: %+v (%d calls, %d before)", missed, calls.Load(), n)
	}

	w = te.call(t, "PUT", "/api/v1/webhook", key, `{}`).must(t, 200).webhook(t)
	if w.Status != "enabled" || w.DisabledAt != nil || w.FailingSince != nil || len(w.Events) != 6 {
		t.Fatalf("re-enabled %+v", w)
	}
	te.call(t, "POST", "/api/v1/webhook/deliveries/"+itoa(int(ds[0].ID))+"/redeliver", key, "").must(t, 200)
	te.call(t, "POST", "/api/v1/webhook/deliveries/"+itoa(int(missed.ID))+"/redeliver", key, "").must(t, 200)
	ok.Store(true)
	if err := te.Shop.SendOutbox(context.Background(), domain.ChannelWebhook, sender); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d redeliveries arrived, want 2", len(got))
	}
	if first, second := <-got, <-got; first != ds[0].EventID+" webhook.test" || second != missed.EventID+" order.cancelled" {
		t.Fatalf("redelivered %q then %q", first, second)
	}
}
