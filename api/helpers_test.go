package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// tenv is a shop over a temp bbolt file and the API handler over it.
type tenv struct {
	*shoptest.Env
	h   http.Handler
	log *shoptest.LogBuffer
}

type envOpt func(*config.Config, *shoptest.Options)

// withRate sets api.rate_limit.
func withRate(perSecond float64, burst int) envOpt {
	return func(c *config.Config, _ *shoptest.Options) {
		c.API.RateLimit = config.RateLimit{PerSecond: perSecond, Burst: burst}
	}
}

// withClock injects the settable clock (2026-04-16T12:00:00Z).
func withClock() envOpt { return func(_ *config.Config, o *shoptest.Options) { o.Clock = true } }

// withPath reopens an existing store file.
func withPath(p string) envOpt { return func(_ *config.Config, o *shoptest.Options) { o.Path = p } }

// newEnv builds the environment; unless told otherwise the rate limit is
// high enough never to interfere.
func newEnv(tb testing.TB, opts ...envOpt) *tenv {
	tb.Helper()
	cfg := config.Default()
	cfg.API.RateLimit = config.RateLimit{PerSecond: 1e6, Burst: 1_000_000}
	var so shoptest.Options
	for _, o := range opts {
		o(cfg, &so)
	}
	so.Config = cfg
	env := shoptest.New(tb, so)
	lb := &shoptest.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &tenv{Env: env, h: api.NewServer(env.Shop, cfg, log), log: lb}
}

// resp is one answer, its envelope decoded.
type resp struct {
	Code   int
	Header http.Header
	Body   []byte
	Env    api.Envelope
}

// data decodes the envelope's data into v.
func (r *resp) data(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Env.Data, v); err != nil {
		tb.Fatalf("data %s: %v", r.Env.Data, err)
	}
}

// fields decodes data as an object of raw values.
func (r *resp) fields(tb testing.TB) map[string]json.RawMessage {
	tb.Helper()
	var m map[string]json.RawMessage
	r.data(tb, &m)
	return m
}

func (r *resp) String() string { return http.StatusText(r.Code) + " " + string(r.Body) }

// newRequest builds a test request: key "" sends no Authorization; h is
// header name/value pairs. A body is sent as application/json unless h
// names a Content-Type; the pseudo-header "RemoteAddr" sets the client
// address (default 192.0.2.1:1234).
func newRequest(method, path, key, body string, h ...string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.1:1234"
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	ownType := false
	for i := 0; i+1 < len(h); i += 2 {
		ownType = ownType || http.CanonicalHeaderKey(h[i]) == "Content-Type"
	}
	if body != "" && !ownType {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(h); i += 2 {
		if h[i] == "RemoteAddr" {
			req.RemoteAddr = h[i+1]
			continue
		}
		req.Header.Add(h[i], h[i+1])
	}
	return req
}

// call sends one request through the handler. key "" sends no Authorization.
func (te *tenv) call(tb testing.TB, method, path, key, body string, h ...string) *resp {
	tb.Helper()
	req := newRequest(method, path, key, body, h...)
	rec := httptest.NewRecorder()
	te.h.ServeHTTP(rec, req)
	return parse(tb, rec.Code, rec.Header(), rec.Body.Bytes())
}

func parse(tb testing.TB, code int, h http.Header, body []byte) *resp {
	tb.Helper()
	r := &resp{Code: code, Header: h, Body: body}
	if ct := h.Get("Content-Type"); ct != api.ContentType {
		tb.Fatalf("Content-Type %q, body %s", ct, body)
	}
	if h.Get("X-Request-Id") == "" {
		tb.Fatalf("no X-Request-Id: %s", body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r.Env); err != nil {
		tb.Fatalf("not an envelope (%v): %s", err, body)
	}
	if r.Env.OK != (code < 400) {
		tb.Fatalf("ok=%v with status %d: %s", r.Env.OK, code, body)
	}
	if !r.Env.OK && (r.Env.ErrorCode == "" || r.Env.ErrorMessage == "" || string(r.Env.Data) != "null") {
		tb.Fatalf("bad error envelope: %s", body)
	}
	if !r.Env.OK && api.StatusFor(shopCode(r.Env.ErrorCode)) != code {
		tb.Fatalf("error_code %s with status %d", r.Env.ErrorCode, code)
	}
	return r
}

// must asserts the status (and for errors the code).
func (r *resp) must(tb testing.TB, code int, errCode ...string) *resp {
	tb.Helper()
	if r.Code != code {
		tb.Fatalf("status %d, want %d: %s", r.Code, code, r.Body)
	}
	if len(errCode) > 0 && r.Env.ErrorCode != errCode[0] {
		tb.Fatalf("error_code %s, want %s: %s", r.Env.ErrorCode, errCode[0], r.Body)
	}
	return r
}

// quickstartBody is the page's request body, verbatim.
const quickstartBody = `{
"recipient_username": "pandus",
"quantity": 100,
"payment_method": "ton_memo",
"payment_currency": "TON",
"client_reference": "invoice-42"
}`

// starsBody is a valid stars order body.
func starsBody(user string, qty int, extra string) string {
	b := `{"recipient_username":"` + user + `","quantity":` + itoa(qty)
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

func itoa(n int) string { return strconv.Itoa(n) }

func shopCode(s string) shop.Code { return shop.Code(s) }

// orderJSON is the order object as a client reads it.
type orderJSON struct {
	ID                      int64        `json:"id"`
	Status                  string       `json:"status"`
	OrderType               string       `json:"order_type"`
	StarsAmount             *int64       `json:"stars_amount"`
	PremiumMonths           *int         `json:"premium_months"`
	RecipientUsername       string       `json:"recipient_username"`
	PriceTON                json.Number  `json:"price_ton"`
	PriceNanoton            string       `json:"price_nanoton"`
	PriceUSD                json.Number  `json:"price_usd"`
	PaymentMethod           string       `json:"payment_method"`
	PaymentCurrency         string       `json:"payment_currency"`
	PaymentAddress          *string      `json:"payment_address"`
	PaymentMemo             *string      `json:"payment_memo"`
	PaymentLink             *string      `json:"payment_link"`
	CheckoutURL             *string      `json:"checkout_url"`
	ReturnURL               *string      `json:"return_url"`
	ExpiresAt               *string      `json:"expires_at"`
	CreatedAt               string       `json:"created_at"`
	PaidAt                  *string      `json:"paid_at"`
	CompletedAt             *string      `json:"completed_at"`
	AmountReceivedTON       json.Number  `json:"amount_received_ton"`
	AmountReceivedNanoton   string       `json:"amount_received_nanoton"`
	PriceUSDT               *json.Number `json:"price_usdt"`
	PriceUSDTUnits          *string      `json:"price_usdt_units"`
	AmountReceivedUSDT      *json.Number `json:"amount_received_usdt"`
	AmountReceivedUSDTUnits *string      `json:"amount_received_usdt_units"`
	UsdtUSD                 *json.Number `json:"usdt_usd"`
	ClientReference         *string      `json:"client_reference"`
	FailureReason           *string      `json:"failure_reason"`
}

func (r *resp) order(tb testing.TB) orderJSON {
	tb.Helper()
	var o orderJSON
	dec := json.NewDecoder(bytes.NewReader(r.Env.Data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		tb.Fatalf("order %s: %v", r.Env.Data, err)
	}
	return o
}

type listJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func (r *resp) orders(tb testing.TB) listJSON[orderJSON] {
	tb.Helper()
	var l listJSON[orderJSON]
	r.data(tb, &l)
	return l
}

// eventually polls fn until it is true or a minute passes (the deadline
// only matters when something is broken).
func eventually(tb testing.TB, what string, fn func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !fn() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
