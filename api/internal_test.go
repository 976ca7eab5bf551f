package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/view"
)

// testServer is the real handler plus test-only routes:
// GET /test/panic (no auth), POST /test/panic and POST /test/slow (auth,
// so idempotent). /test/slow blocks until release is closed.
type testServer struct {
	h       http.Handler
	key     string
	release chan struct{}
	entered chan struct{}
	runs    int
	mu      sync.Mutex
}

func newTestServer(t *testing.T, wait time.Duration) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.API.RateLimit = config.RateLimit{PerSecond: 1e6, Burst: 1_000_000}
	env := shoptest.New(t, shoptest.Options{Config: cfg})
	_, key := env.Partner(t)
	ts := &testServer{key: key, release: make(chan struct{}), entered: make(chan struct{}, 10)}
	panics := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.runs++
		ts.mu.Unlock()
		ts.entered <- struct{}{}
		<-ts.release
		writeBody(w, http.StatusOK, []byte(`{"ok":true,"data":{"slow":true}}`+"\n"))
	})
	extra := []routeDef{
		{Route: Route{Method: "GET", Path: "/test/panic"}, handler: panics},
		{Route: Route{Method: "POST", Path: "/test/panic", Auth: true}, handler: panics},
		{Route: Route{Method: "POST", Path: "/test/slow", Auth: true}, handler: slow},
	}
	ts.h = newServer(env.Shop, cfg, nil, extra, func(s *server) { s.idemWait = wait })
	return ts
}

func (ts *testServer) do(method, path, body string, h ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ts.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	return rec
}

func envelopeOf(t *testing.T, rec *httptest.ResponseRecorder) Envelope {
	t.Helper()
	var e Envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if rec.Header().Get("Content-Type") != ContentType {
		t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
	}
	return e
}

func TestPanicRecovery(t *testing.T) {
	ts := newTestServer(t, time.Second)
	rec := ts.do("GET", "/api/v1/test/panic", "")
	e := envelopeOf(t, rec)
	id := rec.Header().Get("X-Request-Id")
	if rec.Code != 500 || e.ErrorCode != "INTERNAL_ERROR" || id == "" || !strings.Contains(e.ErrorMessage, id) {
		t.Fatalf("panic answered %d %s (request id %q)", rec.Code, rec.Body, id)
	}
	if strings.Contains(e.ErrorMessage, "boom") {
		t.Error("internals leaked into the message")
	}
	// A panic under an Idempotency-Key stores nothing: the retry runs again.
	for range 2 {
		rec = ts.do("POST", "/api/v1/test/panic", "{}", "Idempotency-Key", "k1")
		if rec.Code != 500 || rec.Header().Get(HeaderReplayed) != "" {
			t.Fatalf("idempotent panic: %d %v", rec.Code, rec.Header())
		}
	}
}

// While a request is in flight: the same key with another body is refused
// at once; with the same body it waits, and past the wait it is 409.
func TestIdempotencyInFlight(t *testing.T) {
	ts := newTestServer(t, 150*time.Millisecond)
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- ts.do("POST", "/api/v1/test/slow", `{"a":1}`, "Idempotency-Key", "k") }()
	<-ts.entered

	rec := ts.do("POST", "/api/v1/test/slow", `{"a":2}`, "Idempotency-Key", "k")
	if e := envelopeOf(t, rec); rec.Code != 422 || e.ErrorCode != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("other body in flight: %d %s", rec.Code, rec.Body)
	}
	rec = ts.do("POST", "/api/v1/test/slow", `{"a":1}`, "Idempotency-Key", "k")
	if e := envelopeOf(t, rec); rec.Code != 409 || e.ErrorCode != "IDEMPOTENCY_IN_PROGRESS" {
		t.Fatalf("same body past the wait: %d %s", rec.Code, rec.Body)
	}
	// A waiter that is still waiting when the first finishes gets its answer.
	waiter := make(chan *httptest.ResponseRecorder)
	go func() { waiter <- ts.do("POST", "/api/v1/test/slow", `{"a":1}`, "Idempotency-Key", "k") }()
	time.Sleep(30 * time.Millisecond)
	close(ts.release)
	r1, r2 := <-first, <-waiter
	if r1.Code != 200 || r2.Code != 200 || r1.Body.String() != r2.Body.String() || r2.Header().Get(HeaderReplayed) != "true" {
		t.Fatalf("first %d %s, waiter %d %s %v", r1.Code, r1.Body, r2.Code, r2.Body, r2.Header())
	}
	r3 := ts.do("POST", "/api/v1/test/slow", `{"a":1}`, "Idempotency-Key", "k")
	ts.mu.Lock()
	runs := ts.runs
	ts.mu.Unlock()
	if r3.Code != 200 || r3.Header().Get(HeaderReplayed) != "true" || runs != 1 {
		t.Fatalf("later retry %d %v, runs %d", r3.Code, r3.Header(), runs)
	}
}

func TestLimiterTableIsBounded(t *testing.T) {
	now := time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC)
	l := newLimiters(10, 20, func() time.Time { return now })
	for i := range 1000 {
		l.take("p:" + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
	}
	if l.size() != 1000 {
		t.Fatalf("size %d", l.size())
	}
	now = now.Add(2 * sweepEvery) // every bucket refilled: all forgettable
	l.take("fresh")
	if l.size() != 1 {
		t.Fatalf("idle buckets kept: %d", l.size())
	}
}

func TestDecodeBodyNamesTheProblem(t *testing.T) {
	type body struct {
		Amount *int64           `json:"amount"`
		Name   *string          `json:"name"`
		Extra  *json.RawMessage `json:"extra"`
	}
	for in, want := range map[string]string{
		`{"name":"a","extra":{"name":1,"x":[{"amount":2}]},"name":"b"}`: `"name" appears more than once`,
		`{"extra":{"name":"}\"{,"},"\u006eame":"a","name":"b"}`:         `"name" appears more than once`,
		`{"extra":["a,\"b",{"c":1}],"Amount":1}`:                        `unknown field "Amount"`,
		`{"amount":"1"}`:                                                "amount must be an integer, got string",
		`{"name":1}`:                                                    "name must be a string, got number",
		`{"nmae":"x"}`:                                                  `unknown field "nmae"`,
		`{"NAME":"x"}`:                                                  `unknown field "NAME"`,
		`{"name":"a","name":"b"}`:                                       `"name" appears more than once`,
		`{"amount":1}{}`:                                                "more data",
		`"text"`:                                                        "must be a JSON object, got a string",
		`{"amount":1,}`:                                                 "not valid JSON",
		"   ":                                                           "empty",
	} {
		var b body
		err := DecodeBody([]byte(in), &b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want …%s…", in, err, want)
		}
	}
	var b body
	if err := DecodeBody([]byte(" {\"amount\": 7, \"name\": null}\n"), &b); err != nil || *b.Amount != 7 || b.Name != nil {
		t.Errorf("valid body: %v %+v", err, b)
	}
	// Keys inside nested values and strings are not top-level keys.
	b = body{}
	in := `{"extra":{"name":1,"amount":{"name":"x"},"s":"\"name\":"},"name":"n\"}","amount":3}`
	if err := DecodeBody([]byte(in), &b); err != nil || *b.Amount != 3 || *b.Name != `n"}` {
		t.Errorf("nested keys: %v %+v", err, b)
	}
}

// TestSuccessBodyMatchesEncodingJSON: answers rendered with the fast encoder
// are byte-for-byte what encoding/json writes (HTML-escaped <>&, unicode,
// times, nulls), so replays and clients see one format.
func TestSuccessBodyMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 4, 16, 12, 0, 0, 123456789, time.UTC)
	later := now.Add(30 * time.Minute)
	for _, o := range []domain.Order{
		{ID: 1, PartnerID: 2, Status: "pending_payment", Type: "stars", StarsAmount: 100, RecipientUsername: "pandus",
			PriceNano: 437500000, PriceUSD: "1.575", TonUSD: "3.6", FeePercent: "5", PaymentMethod: "ton_memo",
			PaymentCurrency: "TON", PaymentAddress: "0QB_2hgiLMfGAiDHTkFZ1CrYfa1AGNoiDsH-lkDw4lN70Qr4",
			PaymentMemo: "STARS-abc123", ExpiresAt: &later, CreatedAt: now, ClientReference: `<a href="x">&é€😀</a>`},
		{ID: 2, Status: "completed", Type: "premium", PremiumMonths: 12, CreatedAt: now, PaidAt: &now, CompletedAt: &later,
			PaymentTxHashes: []string{"ab", "cd"}, FailureReason: "line\nbreak\t\u2028"},
	} {
		got, err := successBody(view.OrderOf(&o, ""))
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(okBody{OK: true, Data: view.OrderOf(&o, "")})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(append(want, '\n')) {
			t.Errorf("order %d:\nfast %s\nstd  %s", o.ID, got, want)
		}
	}
}
