package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
	"github.com/theopenmoney/openmoney/view"
	"github.com/theopenmoney/openmoney/webhook"
)

var ctx = context.Background()

// hit is one request the receiver got.
type hit struct {
	Path   string
	Header http.Header
	Body   []byte
	Event  webhook.Event
	Status int // what the receiver answered
}

// receiver is an httptest webhook endpoint; answer decides each reply
// (n counts requests from 1).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	answer func(n int, ev webhook.Event, w http.ResponseWriter) int
}

func newReceiver(t *testing.T, answer func(n int, ev webhook.Event, w http.ResponseWriter) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body is not an event: %s", body)
		}
		rc.mu.Lock()
		n := len(rc.hits) + 1
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(n, ev, w)
		}
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Event: ev, Status: status})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// delivered lists the event ids the receiver accepted (2xx), in arrival order.
func (rc *receiver) delivered() []string {
	var out []string
	for _, h := range rc.all() {
		if h.Status/100 == 2 {
			out = append(out, h.Event.ID)
		}
	}
	return out
}

type env struct {
	*shoptest.Env
	sender *webhook.Sender
	logs   *shoptest.LogBuffer
}

func newEnv(t *testing.T, opt shoptest.Options) *env {
	t.Helper()
	opt.Clock = true
	e := shoptest.New(t, opt)
	logs := &shoptest.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &env{Env: e, logs: logs,
		sender: webhook.NewSender(e.Shop, webhook.Options{Now: e.Clock.Now, Timeout: 5 * time.Second, Log: log})}
}

// send runs one pass of the webhook outbox.
func (e *env) send(t *testing.T) {
	t.Helper()
	if err := e.Shop.SendOutbox(ctx, domain.ChannelWebhook, e.sender); err != nil {
		t.Fatal(err)
	}
}

func (e *env) pending(t *testing.T) []domain.OutboxItem {
	t.Helper()
	var items []domain.OutboxItem
	err := e.Store.View(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.PendingOutbox(domain.ChannelWebhook, 0, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func (e *env) deliveries(t *testing.T, partnerID int64) []domain.WebhookDelivery {
	t.Helper()
	page, err := e.Shop.WebhookDeliveries(ctx, partnerID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

func (e *env) hook(t *testing.T, partnerID int64, url string, events []string) *domain.Webhook {
	t.Helper()
	w, err := e.Shop.SetWebhook(ctx, partnerID, shop.WebhookUpdate{URL: new(url), Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (e *env) test(t *testing.T, partnerID int64) string {
	t.Helper()
	it, err := e.Shop.TestWebhook(ctx, partnerID)
	if err != nil {
		t.Fatal(err)
	}
	return shop.EventID(it)
}

var hashN int

// pay lands a transfer paying order o in full.
func (e *env) pay(t *testing.T, o *domain.Order) {
	t.Helper()
	hashN++
	_, err := e.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: fmt.Sprintf("%064x", 1000+hashN), To: o.PaymentAddress,
		AmountNano: o.PriceNano, Comment: o.PaymentMemo, ChainTime: e.Clock.Now(), Incoming: true, From: "0:" + strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) order(t *testing.T, partnerID int64) *domain.Order {
	t.Helper()
	o, _, err := e.Shop.CreateOrder(ctx, partnerID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDeliveryIsSignedAndVerifiesWithTheDocSnippet(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	rc := newReceiver(t, nil)
	p, _ := e.Partner(t)
	w := e.hook(t, p.ID, rc.URL+"/hooks?x=1", nil)
	if !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) < len("whsec_")+40 {
		t.Fatalf("secret %q", w.Secret)
	}
	o := e.order(t, p.ID)
	e.pay(t, o)
	e.send(t)
	hits := rc.all()
	if len(hits) != 1 {
		t.Fatalf("%d requests, want 1", len(hits))
	}
	h := hits[0]
	sig := h.Header.Get(webhook.SignatureHeader)
	if err := webhook.VerifySignature(w.Secret, sig, h.Body, e.Clock.Now()); err != nil {
		t.Fatalf("signature %q does not verify: %v", sig, err)
	}
	for name, bad := range map[string]func() error{
		"tampered body": func() error {
			return webhook.VerifySignature(w.Secret, sig, append([]byte(" "), h.Body...), e.Clock.Now())
		},
		"other secret": func() error { return webhook.VerifySignature("whsec_other", sig, h.Body, e.Clock.Now()) },
		"replayed 6 minutes later": func() error {
			return webhook.VerifySignature(w.Secret, sig, h.Body, e.Clock.Now().Add(6*time.Minute))
		},
		"no header": func() error { return webhook.VerifySignature(w.Secret, "", h.Body, e.Clock.Now()) },
	} {
		if bad() == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if ct := h.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if ua := h.Header.Get("User-Agent"); !strings.HasPrefix(ua, "OpenMoney-Webhooks/") {
		t.Errorf("User-Agent %q", ua)
	}
	ev := h.Event
	if ev.Type != shop.EventOrderPaid || !strings.HasPrefix(ev.ID, "evt_") || h.Header.Get(webhook.EventIDHeader) != ev.ID ||
		ev.CreatedAt != e.Clock.Now().Format(time.RFC3339) {
		t.Errorf("event %+v", ev)
	}
	// data is the order exactly as GET /orders/{id} renders it.
	cur, err := e.Shop.Order(ctx, p.ID, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(view.OrderOf(cur, e.Shop.CheckoutURL(cur)))
	var raw struct{ Data json.RawMessage }
	if err := json.Unmarshal(h.Body, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw.Data) != string(want) {
		t.Errorf("data\n got %s\nwant %s", raw.Data, want)
	}
	if u := e.Shop.CheckoutURL(cur); u == "" || !strings.Contains(string(raw.Data), `"checkout_url":"`+u+`"`) {
		t.Errorf("data lacks the checkout_url %q: %s", u, raw.Data)
	}
	if !strings.Contains(string(raw.Data), `"return_url":null`) {
		t.Errorf("data of an order without a return URL lacks \"return_url\":null: %s", raw.Data)
	}
	if strings.Contains(string(h.Body), w.Secret) {
		t.Error("secret in the body")
	}
	if logs := e.logs.String(); !strings.Contains(logs, "webhook delivered") || strings.Contains(logs, w.Secret) ||
		strings.Contains(logs, "x=1") {
		t.Errorf("sender log (must show the delivery, never the secret nor the URL's query):\n%s", logs)
	}
	if n := len(e.pending(t)); n != 0 {
		t.Errorf("%d items still queued", n)
	}
}

func TestBalanceTopupDataIsTheLedgerRow(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	rc := newReceiver(t, nil)
	p, _ := e.Partner(t)
	e.hook(t, p.ID, rc.URL, []string{shop.EventBalanceTopup})
	o := e.order(t, p.ID)
	e.pay(t, o) // order.paid: not subscribed, not queued
	_, err := e.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: fmt.Sprintf("%064x", 77), To: p.TopupAddress, AmountNano: 3e9,
		ChainTime: e.Clock.Now(), Incoming: true, From: "0:" + strings.Repeat("cd", 32)})
	if err != nil {
		t.Fatal(err)
	}
	e.send(t)
	hits := rc.all()
	if len(hits) != 1 || hits[0].Event.Type != shop.EventBalanceTopup {
		t.Fatalf("hits %+v", hits)
	}
	page, err := e.Shop.Ledger(ctx, p.ID, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(view.LedgerOf(&page.Items[0]))
	var raw struct{ Data json.RawMessage }
	_ = json.Unmarshal(hits[0].Body, &raw)
	if string(raw.Data) != string(want) {
		t.Errorf("data\n got %s\nwant %s", raw.Data, want)
	}
}

func TestReceiverFailingThreeTimesGetsTheEventOnce(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	rc := newReceiver(t, func(n int, _ webhook.Event, _ http.ResponseWriter) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	p, _ := e.Partner(t)
	e.hook(t, p.ID, rc.URL, nil)
	id := e.test(t, p.ID)
	for attempt := 1; attempt <= 6; attempt++ {
		e.send(t)
		e.send(t) // not due again yet: backoff, no request
		e.Clock.Advance(time.Hour)
	}
	hits := rc.all()
	if len(hits) != 4 {
		t.Fatalf("%d requests, want 4 (3 failures, 1 success)", len(hits))
	}
	for _, h := range hits {
		if h.Event.ID != id {
			t.Errorf("event id %s, want %s on every attempt", h.Event.ID, id)
		}
	}
	if got := rc.delivered(); len(got) != 1 {
		t.Fatalf("delivered %v, want once", got)
	}
	ds := e.deliveries(t, p.ID) // newest first
	var got []string
	for i := len(ds) - 1; i >= 0; i-- {
		got = append(got, fmt.Sprintf("%d:%d:%s", ds[i].Attempt, ds[i].StatusCode, ds[i].Final))
	}
	want := "[1:500:retrying 2:500:retrying 3:500:retrying 4:204:delivered]"
	if fmt.Sprint(got) != want {
		t.Fatalf("deliveries %v, want %s", got, want)
	}
	if n := len(e.pending(t)); n != 0 {
		t.Errorf("%d items still queued", n)
	}
}

func TestRetryScheduleAndRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	rc := newReceiver(t, func(n int, _ webhook.Event, w http.ResponseWriter) int {
		if n == 3 {
			w.Header().Set("Retry-After", "120")
			return http.StatusTooManyRequests
		}
		return http.StatusBadGateway
	})
	p, _ := e.Partner(t)
	e.hook(t, p.ID, rc.URL, nil)
	e.test(t, p.ID)
	var waits []time.Duration
	for range 4 {
		e.send(t)
		it := e.pending(t)[0]
		waits = append(waits, it.NextAttemptAt.Sub(e.Clock.Now()))
		e.Clock.Advance(it.NextAttemptAt.Sub(e.Clock.Now()))
	}
	sch := wait.Webhook
	if want := fmt.Sprint([]time.Duration{sch[0], sch[1], 2 * time.Minute, sch[3]}); fmt.Sprint(waits) != want {
		t.Fatalf("waits %v, want %s", waits, want)
	}
}

// An event is given up after 3 days of retries even when the webhook as a
// whole is not disabled (its own failures started later: it waited behind
// an event that went through in the end).
func TestGivesUpAfter3Days(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	var mu sync.Mutex
	ok := map[string]bool{}
	down := true
	rc := newReceiver(t, func(_ int, ev webhook.Event, _ http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		if !down || ok[ev.ID] {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	p, _ := e.Partner(t)
	e.hook(t, p.ID, rc.URL, nil)
	first := e.test(t, p.ID)
	second := e.test(t, p.ID)
	e.send(t)
	e.Clock.Advance(48 * time.Hour)
	e.send(t) // the first still fails; the second waits behind it
	mu.Lock()
	ok[first] = true
	mu.Unlock()
	e.Clock.Advance(time.Hour)
	e.send(t) // the first goes through; the second fails from now on
	e.Clock.Advance(20 * time.Hour)
	e.send(t) // 69 h old: still within the window, retried later
	if n := len(e.pending(t)); n != 1 {
		t.Fatalf("queued %d after 69 h, want 1", n)
	}
	e.Clock.Advance(4 * time.Hour)
	e.send(t) // past 72 h and failing again: failed for good
	if n := len(e.pending(t)); n != 0 {
		t.Fatalf("queued %d after 73 h, want 0", n)
	}
	ds := e.deliveries(t, p.ID)
	if ds[0].Final != domain.WebhookFailed || ds[0].EventID != second || !strings.Contains(ds[0].Error, "gave up after 72h0m0s") {
		t.Fatalf("last delivery row %+v", ds[0])
	}
	if w, err := e.Shop.GetWebhook(ctx, p.ID); err != nil || w.DisabledAt != nil {
		t.Fatalf("24 h of failures disabled the webhook: %+v %v", w, err)
	}
	// The next event is not held up by the failed one.
	mu.Lock()
	down = false
	mu.Unlock()
	next := e.test(t, p.ID)
	e.send(t)
	if got := rc.delivered(); fmt.Sprint(got) != "["+first+" "+next+"]" {
		t.Fatalf("delivered %v, want [%s %s]", got, first, next)
	}
}

func TestOrderIsKeptPerPartner(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	var mu sync.Mutex
	failed := map[string]bool{}
	rc := newReceiver(t, func(_ int, ev webhook.Event, _ http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		// The first attempt of every event fails.
		if !failed[ev.ID] {
			failed[ev.ID] = true
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	p1, _ := e.Partner(t)
	p2, _ := e.Partner(t)
	e.hook(t, p1.ID, rc.URL+"/p1", nil)
	e.hook(t, p2.ID, rc.URL+"/p2", nil)
	var want1, want2 []string
	for range 3 {
		o := e.order(t, p1.ID)
		e.pay(t, o) // order.paid
		if _, err := e.Shop.CancelOrder(ctx, p1.ID, e.order(t, p1.ID).ID); err != nil {
			t.Fatal(err)
		}
		want2 = append(want2, e.test(t, p2.ID))
	}
	for _, it := range e.pending(t) {
		if it.PartnerID == p1.ID {
			want1 = append(want1, shop.EventID(&it))
		}
	}
	if len(want1) != 6 {
		t.Fatalf("partner 1 has %d queued events, want 6", len(want1))
	}
	e.send(t)
	// One attempt per partner: each partner's head failed, the rest waits.
	if n := len(rc.all()); n != 2 {
		t.Fatalf("%d requests on the first pass, want 2", n)
	}
	for range 20 {
		e.Clock.Advance(time.Hour)
		e.send(t)
	}
	var got1, got2 []string
	for _, h := range rc.all() {
		if h.Status != http.StatusOK {
			continue
		}
		if h.Path == "/p2" {
			got2 = append(got2, h.Event.ID)
		} else {
			got1 = append(got1, h.Event.ID)
		}
	}
	if fmt.Sprint(got1) != fmt.Sprint(want1) || fmt.Sprint(got2) != fmt.Sprint(want2) {
		t.Fatalf("partner 1 got %v want %v\npartner 2 got %v want %v", got1, want1, got2, want2)
	}
}

func TestRestartSendsUndeliveredEvents(t *testing.T) {
	path := t.TempDir() + "/openmoney.db"
	rc := newReceiver(t, nil)
	first := shoptest.New(t, shoptest.Options{Path: path})
	p, _ := first.Partner(t)
	if _, err := first.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new(rc.URL)}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for range 3 {
		it, err := first.Shop.TestWebhook(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, shop.EventID(it))
	}
	// The first process dies before sending anything.
	if err := first.Store.Close(); err != nil {
		t.Fatal(err)
	}
	second := shoptest.New(t, shoptest.Options{Path: path})
	second.Shop.RegisterNotifier(domain.ChannelWebhook, webhook.NewSender(second.Shop, webhook.Options{}))
	second.Run(t)
	deadline := time.Now().Add(time.Minute)
	for len(rc.delivered()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := rc.delivered(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after restart delivered %v, want %v", got, want)
	}
}

func TestSSRFTargetIsRefusedAtConnectTime(t *testing.T) {
	e := newEnv(t, shoptest.Options{NotSandbox: true})
	rc := newReceiver(t, nil)
	p, _ := e.Partner(t)
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	for _, target := range []string{"https://127.0.0.1:" + port, "https://localhost:" + port} {
		// Saving refuses such targets outside sandbox mode...
		if _, err := e.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new(target)}); shop.ErrorCode(err) != shop.CodeValidation {
			t.Fatalf("save %s: %v, want VALIDATION_ERROR", target, err)
		}
		// ...and a host that resolved to a public address when saved but to
		// loopback now (DNS rebinding) is refused when connecting.
		err := e.Store.Update(ctx, func(tx store.Tx) error {
			return tx.PutWebhook(&domain.Webhook{PartnerID: p.ID, URL: target, Events: shop.WebhookEvents, Secret: "whsec_x"})
		})
		if err != nil {
			t.Fatal(err)
		}
		it, err := e.Shop.TestWebhook(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		nerr := e.sender.Notify(ctx, p, it)
		if !errors.Is(nerr, webhook.ErrBlockedAddress) {
			t.Fatalf("%s: Notify = %v, want ErrBlockedAddress", target, nerr)
		}
		if err := e.Store.Update(ctx, func(tx store.Tx) error { return tx.DeleteOutbox(it.Channel, it.ID) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rc.all()); n != 0 {
		t.Fatalf("receiver got %d requests", n)
	}
	ds := e.deliveries(t, p.ID)
	if len(ds) != 2 || ds[0].StatusCode != 0 || !strings.Contains(ds[0].Error, "not public") {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestNoRedirectsFollowed(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	target := newReceiver(t, nil)
	rc := newReceiver(t, func(_ int, _ webhook.Event, w http.ResponseWriter) int {
		w.Header().Set("Location", target.URL)
		return http.StatusTemporaryRedirect
	})
	p, _ := e.Partner(t)
	e.hook(t, p.ID, rc.URL, nil)
	e.test(t, p.ID)
	e.send(t)
	if len(target.all()) != 0 {
		t.Fatal("redirect followed")
	}
	if ds := e.deliveries(t, p.ID); len(ds) != 1 || ds[0].StatusCode != 307 || ds[0].Final != domain.WebhookRetrying {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestDeletedWebhookDropsQueuedEvents(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	rc := newReceiver(t, nil)
	p, _ := e.Partner(t)
	e.hook(t, p.ID, rc.URL, nil)
	e.test(t, p.ID)
	if err := e.Shop.DeleteWebhook(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	e.send(t)
	if len(rc.all()) != 0 || len(e.pending(t)) != 0 {
		t.Fatalf("hits %d, queued %d", len(rc.all()), len(e.pending(t)))
	}
}

// The running service: an order paid on the sandbox chain reaches the
// receiver as order.paid then order.completed, signed, through the loops.
func TestRunningServiceDeliversOrderEvents(t *testing.T) {
	e := shoptest.New(t, shoptest.Options{})
	rc := newReceiver(t, nil)
	p, _ := e.Partner(t)
	w, err := e.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new(rc.URL)})
	if err != nil {
		t.Fatal(err)
	}
	e.Shop.RegisterNotifier(domain.ChannelWebhook, webhook.NewSender(e.Shop, webhook.Options{}))
	e.Run(t)
	o, _, err := e.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Sandbox.Append(ctx, ton.Transfer{To: o.PaymentAddress, AmountNano: o.PriceNano, Comment: o.PaymentMemo,
		Incoming: true, From: "0:" + strings.Repeat("ef", 32)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(rc.delivered()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var types []string
	for _, h := range rc.all() {
		types = append(types, h.Event.Type)
		if err := webhook.VerifySignature(w.Secret, h.Header.Get(webhook.SignatureHeader), h.Body, time.Now()); err != nil {
			t.Errorf("%s: %v", h.Event.ID, err)
		}
	}
	if fmt.Sprint(types) != "[order.paid order.completed]" {
		t.Fatalf("events %v, want [order.paid order.completed]", types)
	}
	e.Check(t)
}

// An order's return_url rides in its webhook events' data as created.
func TestWebhookDataCarriesTheReturnURL(t *testing.T) {
	e := newEnv(t, shoptest.Options{})
	rc := newReceiver(t, nil)
	p, _ := e.Partner(t)
	e.hook(t, p.ID, rc.URL+"/hooks", nil)
	ret := "https://shop.example/orders/42?paid=1&x=%22"
	o, _, err := e.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100, ReturnURL: &ret})
	if err != nil {
		t.Fatal(err)
	}
	e.pay(t, o)
	e.send(t)
	hits := rc.all()
	if len(hits) != 1 {
		t.Fatalf("%d requests, want 1", len(hits))
	}
	var body struct {
		Data struct {
			ID        int64   `json:"id"`
			Status    string  `json:"status"`
			ReturnURL *string `json:"return_url"`
		} `json:"data"`
	}
	if err := json.Unmarshal(hits[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if d := body.Data; d.ID != o.ID || d.Status != "paid" || d.ReturnURL == nil || *d.ReturnURL != ret {
		t.Fatalf("data %+v (return_url %v), want order %d paid with return_url %s: %s", d, d.ReturnURL, o.ID, ret, hits[0].Body)
	}
}
