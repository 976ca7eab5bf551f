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

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/webhook"
)

// notSandbox builds the shop outside sandbox mode.
func notSandbox() envOpt {
	return func(_ *config.Config, o *shoptest.Options) { o.NotSandbox = true }
}

type webhookJSON struct {
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    *string  `json:"secret"`
	CreatedAt string   `json:"created_at"`
	UpdatedAt string   `json:"updated_at"`
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

	// Create: the secret is shown once.
	w := te.call(t, "PUT", base, key, `{"url":"https://hooks.example/om"}`).must(t, 200).webhook(t)
	if w.Secret == nil || !strings.HasPrefix(*w.Secret, "whsec_") || w.URL != "https://hooks.example/om" || len(w.Events) != 6 {
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
	// Rotate: a new secret, shown once.
	r := te.call(t, "POST", base+"/rotate-secret", key, "").must(t, 200).webhook(t)
	if r.Secret == nil || *r.Secret == secret || !strings.HasPrefix(*r.Secret, "whsec_") {
		t.Fatalf("rotate %+v", r)
	}
	// Validation.
	for body, field := range map[string]string{
		`{}`:                         "url",
		`{"url":"ftp://x.example/"}`: "url",
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
	if err := te.Shop.SendOutbox(context.Background(), shop.ChannelWebhook, sender); err != nil {
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
		_ = te.Shop.SendOutbox(context.Background(), shop.ChannelWebhook, sender)
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
	if err := te.Shop.SendOutbox(context.Background(), shop.ChannelWebhook, sender); err != nil {
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
