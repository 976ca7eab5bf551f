package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/view"
	"github.com/theopenmoney/openmoney/webhook"
)

// loadOpenAPI loads the embedded document and validates it (examples
// included) with kin-openapi.
func loadOpenAPI(tb testing.TB) *openapi3.T {
	tb.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		tb.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		tb.Fatalf("openapi.json is not valid: %v", err)
	}
	return doc
}

// docOps lists the document's operations as "METHOD /path".
func docOps(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	var servers []string
	for _, s := range doc.Servers {
		servers = append(servers, s.URL)
	}
	// The serving instance first, so "Try it out" never hits production by default.
	if !slices.Equal(servers, []string{api.BasePath}) { // http.public_url is added when served
		t.Errorf("servers %v", servers)
	}
	bearer := doc.Components.SecuritySchemes["bearerAuth"]
	if bearer == nil || bearer.Value.Type != "http" || bearer.Value.Scheme != "bearer" {
		t.Fatalf("bearerAuth security scheme %+v", bearer)
	}
	for _, h := range []string{"X-Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After",
		"Idempotent-Replayed", "WWW-Authenticate", "Allow"} {
		if doc.Components.Headers[h] == nil {
			t.Errorf("header %s is not documented", h)
		}
	}
	if p := doc.Components.Parameters["IdempotencyKey"]; p == nil || p.Value.Name != api.HeaderIdempotencyKey || p.Value.In != "header" {
		t.Errorf("Idempotency-Key parameter %+v", p)
	}

	// Every error code of the table is documented, and every documented
	// error response only names codes whose status is that response's.
	errSchema := doc.Components.Schemas["Error"].Value.Properties["error_code"].Value
	var codes []string
	for _, c := range errSchema.Enum {
		codes = append(codes, c.(string))
		if api.StatusFor(shop.Code(c.(string))) == 0 {
			t.Errorf("documented error code %s is unknown to StatusFor", c)
		}
	}
	for _, c := range allErrorCodes {
		if !slices.Contains(codes, string(c)) {
			t.Errorf("error code %s is not documented", c)
		}
	}
	checkResp := func(where, status string, rr *openapi3.ResponseRef) {
		mt := rr.Value.Content.Get("application/json")
		if where == "GET /admin/backup" && status == "200" { // the store file itself
			mt = rr.Value.Content.Get("application/octet-stream")
		}
		if mt == nil || mt.Schema == nil {
			t.Errorf("%s %s: no JSON schema", where, status)
			return
		}
		if status < "400" {
			return
		}
		ec := mt.Schema.Value.Properties["error_code"]
		if ec == nil || len(ec.Value.Enum) == 0 {
			t.Errorf("%s %s: no error_code enum", where, status)
			return
		}
		for _, c := range ec.Value.Enum {
			if got := api.StatusFor(shop.Code(c.(string))); itoa(got) != status {
				t.Errorf("%s: %s documented under %s but StatusFor says %d", where, c, status, got)
			}
		}
		if rr.Value.Headers["X-Request-Id"] == nil {
			t.Errorf("%s %s: no X-Request-Id header", where, status)
		}
	}
	for name, rr := range doc.Components.Responses {
		for _, c := range rr.Value.Content.Get("application/json").Schema.Value.Properties["error_code"].Value.Enum {
			checkResp("components.responses."+name, itoa(api.StatusFor(shop.Code(c.(string)))), rr)
		}
	}
	for name, op := range docOps(doc) {
		if op.OperationID == "" || len(op.Tags) != 1 || op.Summary == "" {
			t.Errorf("%s: operationId %q tags %v summary %q", name, op.OperationID, op.Tags, op.Summary)
		}
		for status, rr := range op.Responses.Map() {
			checkResp(name, status, rr)
			if rr.Value.Headers["X-Request-Id"] == nil {
				t.Errorf("%s %s: no X-Request-Id header", name, status)
			}
		}
	}
}

// allErrorCodes is the API's error table.
var allErrorCodes = []shop.Code{shop.CodeUnauthorized, shop.CodeInsufficientBalance, shop.CodeNotFound,
	api.CodeMethodNotAllowed, shop.CodeOrderNotCancellable, shop.CodeIdempotencyInProgress, api.CodePayloadTooLarge,
	shop.CodeValidation, shop.CodeIdempotencyReused, shop.CodeRecipientNotFound, api.CodeRateLimited, api.CodeInternal,
	shop.CodeServiceUnavailable, api.CodeUnsupportedMediaType}

// The drift test: every route of api.Routes() is documented, with its
// summary, security and rate-limit headers, and every documented operation
// is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := docOps(doc)
	seen := map[string]bool{}
	admin := map[string]bool{}
	routes := api.Routes()
	for _, r := range api.AdminRoutes() {
		admin[r.Method+" "+r.Path] = true
		routes = append(routes, r)
	}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		seen[key] = true
		op := ops[key]
		if op == nil {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		if op.Summary != r.Summary {
			t.Errorf("%s: summary %q, routes.go says %q", key, op.Summary, r.Summary)
		}
		var schemes []string
		if op.Security != nil {
			for _, req := range *op.Security {
				for name := range req {
					schemes = append(schemes, name)
				}
			}
		}
		want := []string{}
		switch {
		case admin[key]:
			want = []string{"adminToken"}
		case r.Auth:
			want = []string{"bearerAuth"}
		}
		if op.Security == nil || !slices.Equal(append([]string{}, schemes...), want) {
			t.Errorf("%s: documented security %v, want %v", key, schemes, want)
		}
		if admin[key] != slices.Contains(op.Tags, "Admin") {
			t.Errorf("%s: admin %v, tags %v", key, admin[key], op.Tags)
		}
		ok := op.Responses.Status(200)
		if ok == nil {
			t.Errorf("%s: no 200 response", key)
			continue
		}
		if r.Auth {
			if op.Responses.Status(401) == nil || op.Responses.Status(429) == nil {
				t.Errorf("%s: an authenticated route must document 401 and 429", key)
			}
			// Every answer after the rate limiter carries the headers: all
			// but 401 (auth runs first), 405 (the mux answers) and a sandbox
			// route's 404 (absent outside sandbox mode).
			for status, rr := range op.Responses.Map() {
				exempt := status == "401" || status == "405" || r.Sandbox && status == "404"
				if !exempt && rr.Value.Headers["RateLimit-Limit"] == nil {
					t.Errorf("%s: %s lacks the RateLimit headers", key, status)
				}
			}
		}
		if op.Responses.Status(405) == nil {
			t.Errorf("%s: 405 is not documented", key)
		}
		if (r.Method == http.MethodPost || r.Method == http.MethodPut) && op.Responses.Status(415) == nil {
			t.Errorf("%s: a route that takes a body must document 415", key)
		}
		if admin[key] && (op.Responses.Status(401) == nil || op.Responses.Status(429) == nil) {
			t.Errorf("%s: an admin route must document 401 and 429 (limited per client IP)", key)
		}
		if r.Auth && r.Method == http.MethodPost {
			if !hasParam(op, api.HeaderIdempotencyKey) || ok.Value.Headers[api.HeaderReplayed] == nil {
				t.Errorf("%s: an authenticated POST must document Idempotency-Key and Idempotent-Replayed", key)
			}
		}
		if r.Sandbox != slices.Contains(op.Tags, "Sandbox") {
			t.Errorf("%s: sandbox %v, tags %v", key, r.Sandbox, op.Tags)
		}
	}
	for key := range ops {
		if !seen[key] {
			t.Errorf("openapi.json documents %s, which is not a route", key)
		}
	}
}

// Every failure_reason code a provider can return is documented.
func TestOpenAPIDocumentsFailureCodes(t *testing.T) {
	doc := loadOpenAPI(t)
	fr := doc.Components.Schemas["Order"].Value.Properties["failure_reason"].Value
	for _, f := range fulfil.Failures() {
		if !strings.Contains(fr.Description, f.Code) {
			t.Errorf("failure code %s is not in Order.failure_reason's description", f.Code)
		}
		if err := fr.VisitJSON(f.Reason()); err != nil {
			t.Errorf("%s: %v", f.Reason(), err)
		}
	}
	if fr.VisitJSON("fulfil: permanent failure\nsandbox: boom") == nil {
		t.Error("the schema admits an error chain")
	}
}

func hasParam(op *openapi3.Operation, name string) bool {
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.Name == name {
			return true
		}
	}
	return false
}

// oaCheck validates real exchanges against the document.
type oaCheck struct {
	doc     *openapi3.T
	router  routers.Router
	covered map[string]bool // "METHOD /path STATUS"
}

func newOACheck(tb testing.TB) *oaCheck {
	tb.Helper()
	doc := loadOpenAPI(tb)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return &oaCheck{doc: doc, router: router, covered: map[string]bool{}}
}

// call sends a request through te's handler like tenv.call, then validates
// the response (headers, status, body) against the operation the document
// routes it to; a 2xx exchange has its request validated too.
func (c *oaCheck) call(t *testing.T, te *tenv, method, path, key, body string, h ...string) *resp {
	t.Helper()
	build := func() *http.Request { return newRequest(method, path, key, body, h...) }
	rec := httptest.NewRecorder()
	te.h.ServeHTTP(rec, build())
	var r *resp
	if strings.HasSuffix(path, "/openapi.json") || strings.HasSuffix(path, "/admin/backup") && rec.Code == 200 { // a document or a file, not an envelope
		r = &resp{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes(), Env: api.Envelope{OK: rec.Code < 400}}
	} else {
		r = parse(t, rec.Code, rec.Header(), rec.Body.Bytes())
	}

	req := build()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s: not in openapi.json (%v); answered %s", method, path, err, r)
		return r
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if r.Code < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s %s: the request the server accepted does not validate: %v", method, path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.Code, Header: r.Header,
		Body: io.NopCloser(bytes.NewReader(r.Body)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s %s → %d does not match openapi.json: %v\nbody: %s", method, path, r.Code, err, r.Body)
	}
	c.covered[route.Method+" "+route.Path+" "+itoa(r.Code)] = true
	return r
}

// unrouted checks an answer to a path or method the document does not
// have: the router agrees, and the body matches the documented component.
func (c *oaCheck) unrouted(t *testing.T, te *tenv, method, path, key string, want error, component string) {
	t.Helper()
	r := te.call(t, method, path, key, "")
	req := httptest.NewRequest(method, path, nil)
	if _, _, err := c.router.FindRoute(req); !errors.Is(err, want) {
		t.Errorf("%s %s: router says %v, want %v", method, path, err, want)
	}
	resp := c.doc.Components.Responses[component].Value
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatal(err)
	}
	if err := resp.Content.Get("application/json").Schema.Value.VisitJSON(v); err != nil {
		t.Errorf("%s %s → %d does not match %s: %v", method, path, r.Code, component, err)
	}
	for name, hr := range resp.Headers {
		if hr.Value.Required && r.Header.Get(name) == "" {
			t.Errorf("%s %s → %d lacks header %s", method, path, r.Code, name)
		}
	}
}

// partnerID is the id of the first partner of an admin partner list.
func (r *resp) partnerID(tb testing.TB) int64 {
	tb.Helper()
	var l listJSON[struct {
		ID int64 `json:"id"`
	}]
	r.data(tb, &l)
	if len(l.Items) == 0 {
		tb.Fatal("no partners")
	}
	return l.Items[0].ID
}

// downProvider is the sandbox provider, unavailable.
type downProvider struct{ fulfil.Sandbox }

func (downProvider) Available() error { return fulfil.ErrUnavailable }

// poorProvider is the sandbox provider with a service wallet too poor to pay.
type poorProvider struct{ fulfil.Sandbox }

func (poorProvider) Deliver(context.Context, fulfil.Request, fulfil.SaveFunc) (fulfil.Result, error) {
	return fulfil.Result{}, &fulfil.Hold{Reason: fulfil.HoldFunds, BalanceNano: 1000, NeedNano: 500_000_000, Detail: "too poor"}
}

// displacedProvider holds every delivery as wallet_used_elsewhere and
// reports the batch set as displaced.
type displacedProvider struct {
	fulfil.Sandbox
	mu    sync.Mutex
	batch int64
}

func (*displacedProvider) Deliver(context.Context, fulfil.Request, fulfil.SaveFunc) (fulfil.Result, error) {
	return fulfil.Result{}, &fulfil.Hold{Reason: fulfil.HoldWalletElsewhere, Detail: "seqno 5 taken"}
}

func (p *displacedProvider) set(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batch = id
}

func (p *displacedProvider) DisplacedBatches() map[int64]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.batch == 0 {
		return map[int64]string{}
	}
	return map[int64]string{p.batch: "seqno 5 taken by tx 9c1e…"}
}

func (*displacedProvider) Reread(context.Context, int64, []int64) error { return nil }

// Real responses of the handler, validated against openapi.json: every
// documented operation is exercised with a 200 and the error statuses
// partners meet.
func TestOpenAPIResponsesMatchTheHandler(t *testing.T) {
	c := newOACheck(t)
	const adminToken = "test-admin-token"
	te := newEnv(t, func(cfg *config.Config, _ *shoptest.Options) { cfg.Admin.Token = adminToken })
	te.Run(t)
	_, key := te.Partner(t)
	idem := func() []string { return []string{"Idempotency-Key", uuid.NewString()} }

	// Orders: the page's quickstart, replayed, key reused.
	k := uuid.NewString()
	o := c.call(t, te, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", k).must(t, 200).order(t)
	rp := c.call(t, te, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", k).must(t, 200)
	if rp.Header.Get(api.HeaderReplayed) != "true" {
		t.Errorf("replay without %s", api.HeaderReplayed)
	}
	c.call(t, te, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 200, ""), "Idempotency-Key", k).must(t, 422, "IDEMPOTENCY_KEY_REUSED")
	prem := c.call(t, te, "POST", "/api/v1/orders/premium", key,
		`{"recipient_username":"@pandus","months":3,"client_reference":"invoice-43"}`, idem()...).must(t, 200).order(t)
	c.call(t, te, "POST", "/api/v1/orders/premium", key, `{"recipient_username":"pandus","months":4}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 10, "")).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/orders/stars", key, `{"recipient_username":"pandus","quantity":100,"Quantity":1}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/orders/stars", key, `not json`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/orders/stars", key, starsBody("nobody_missing", 100, "")).must(t, 422, "RECIPIENT_NOT_FOUND")
	c.call(t, te, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, `"payment_method":"balance"`)).must(t, 402, "INSUFFICIENT_BALANCE")
	big := `{"recipient_username":"pandus","quantity":100,"client_reference":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`
	c.call(t, te, "POST", "/api/v1/orders/stars", key, big).must(t, 413, "PAYLOAD_TOO_LARGE")
	c.call(t, te, "POST", "/api/v1/orders/stars", key, big, idem()...).must(t, 413, "PAYLOAD_TOO_LARGE")
	c.call(t, te, "POST", "/api/v1/orders/stars", "", quickstartBody).must(t, 401, "UNAUTHORIZED")
	c.call(t, te, "POST", "/api/v1/orders/stars", key, quickstartBody, "Content-Type", "text/plain").must(t, 415, "UNSUPPORTED_MEDIA_TYPE")
	c.call(t, te, "PUT", "/api/v1/webhook", key, `{"url":"https://example.com/h"}`, "Content-Type", "text/plain").must(t, 415, "UNSUPPORTED_MEDIA_TYPE")
	c.call(t, te, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", "").must(t, 422, "VALIDATION_ERROR")

	// Pay the quickstart order (overpaid) through the sandbox chain; a
	// _fail recipient is refunded: completed, refunded, ledger rows.
	id := itoa(int(o.ID))
	c.call(t, te, "POST", "/api/v1/sandbox/transfers", key,
		`{"to_address":"`+*o.PaymentAddress+`","amount_nanoton":"537500000","comment":"`+*o.PaymentMemo+`"}`, idem()...).must(t, 200)
	c.call(t, te, "POST", "/api/v1/sandbox/transfers", key, `{"to_address":"nowhere","amount_ton":1}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/sandbox/transfers", "", `{"to_address":"nowhere","amount_ton":1}`).must(t, 401, "UNAUTHORIZED")
	eventually(t, "order completed", func() bool {
		return te.call(t, "GET", "/api/v1/orders/"+id, key, "").must(t, 200).order(t).Status == "completed"
	})
	fail := c.call(t, te, "POST", "/api/v1/orders/stars", key, starsBody("unlucky_fail", 50, `"client_reference":"invoice-44"`)).must(t, 200).order(t)
	c.call(t, te, "POST", "/api/v1/sandbox/transfers", key,
		`{"to_address":"`+*fail.PaymentAddress+`","amount_nanoton":"`+fail.PriceNanoton+`","comment":"`+*fail.PaymentMemo+`"}`).must(t, 200)
	eventually(t, "order refunded", func() bool {
		return te.call(t, "GET", "/api/v1/orders/"+itoa(int(fail.ID)), key, "").must(t, 200).order(t).Status == "refunded"
	})
	var b struct {
		TopupAddress string `json:"topup_address"`
	}
	c.call(t, te, "GET", "/api/v1/balance", key, "").must(t, 200).data(t, &b)
	c.call(t, te, "POST", "/api/v1/sandbox/transfers", key, `{"to_address":"`+b.TopupAddress+`","amount_ton":1}`).must(t, 200)
	eventually(t, "top-up credited", func() bool { return len(te.ledger(t, key)) == 3 })
	bal := c.call(t, te, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 50, `"payment_method":"balance"`), idem()...).must(t, 200).order(t)
	if bal.PaymentAddress != nil || bal.ExpiresAt != nil || bal.CheckoutURL != nil {
		t.Errorf("balance order %+v", bal)
	}

	// USDT (on in the sandbox default), as a second partner: a USDT order
	// (its USDT fields set) partly paid, a FAKE_USDT transfer, the rest; a
	// USDT top-up, a USDT balance order (402 when short), the balance and
	// ledger rows in USDT — every answer against the document.
	_, ukey := te.Partner(t)
	uo := c.call(t, te, "POST", "/api/v1/orders/stars", ukey, starsBody("pandus", 100, `"payment_currency":"USDT"`), idem()...).must(t, 200).order(t)
	if uo.PaymentCurrency != "USDT" || uo.PriceUSDTUnits == nil || *uo.PriceUSDTUnits != "1575000" || uo.UsdtUSD == nil ||
		uo.PaymentLink == nil || !strings.Contains(*uo.PaymentLink, "?jetton=") {
		t.Fatalf("USDT order %+v", uo)
	}
	usdtTransfer := func(asset, to, units, memo string) {
		t.Helper()
		c.call(t, te, "POST", "/api/v1/sandbox/transfers", ukey,
			`{"asset":"`+asset+`","to_address":"`+to+`","amount_units":"`+units+`","comment":"`+memo+`"}`, idem()...).must(t, 200)
	}
	usdtTransfer("USDT", *uo.PaymentAddress, "575000", *uo.PaymentMemo)
	usdtTransfer("FAKE_USDT", *uo.PaymentAddress, "1000000", *uo.PaymentMemo)
	eventually(t, "USDT order partly paid", func() bool {
		g := c.call(t, te, "GET", "/api/v1/orders/"+itoa(int(uo.ID)), ukey, "").must(t, 200).order(t)
		return g.AmountReceivedUSDTUnits != nil && *g.AmountReceivedUSDTUnits == "575000"
	})
	usdtTransfer("USDT", *uo.PaymentAddress, "1000000", *uo.PaymentMemo)
	eventually(t, "USDT order completed", func() bool {
		return c.call(t, te, "GET", "/api/v1/orders/"+itoa(int(uo.ID)), ukey, "").must(t, 200).order(t).Status == "completed"
	})
	c.call(t, te, "POST", "/api/v1/sandbox/transfers", ukey, `{"asset":"USDT","to_address":"`+*uo.PaymentAddress+`","amount_units":"0"}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/sandbox/transfers", ukey, `{"asset":"DOGE","to_address":"`+*uo.PaymentAddress+`","amount_units":"1"}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/orders/stars", ukey, starsBody("pandus", 100, `"payment_method":"balance","payment_currency":"USDT"`)).must(t, 402, "INSUFFICIENT_BALANCE")
	var ub struct {
		TopupAddress string `json:"topup_address"`
	}
	c.call(t, te, "GET", "/api/v1/balance", ukey, "").must(t, 200).data(t, &ub)
	usdtTransfer("USDT", ub.TopupAddress, "2000000", "")
	eventually(t, "USDT top-up credited", func() bool { return len(te.ledger(t, ukey)) == 1 })
	ubo := c.call(t, te, "POST", "/api/v1/orders/stars", ukey, starsBody("pandus", 100, `"payment_method":"balance","payment_currency":"USDT"`), idem()...).must(t, 200).order(t)
	if ubo.PaymentCurrency != "USDT" || ubo.PaymentAddress != nil {
		t.Errorf("USDT balance order %+v", ubo)
	}
	c.call(t, te, "GET", "/api/v1/balance", ukey, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/balance/transactions", ukey, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders?limit=10", ukey, "").must(t, 200)

	for _, id := range []int64{o.ID, prem.ID, fail.ID, bal.ID} {
		c.call(t, te, "GET", "/api/v1/orders/"+itoa(int(id)), key, "").must(t, 200)
	}
	c.call(t, te, "GET", "/api/v1/orders/999999", key, "").must(t, 404, "NOT_FOUND")
	c.call(t, te, "GET", "/api/v1/orders/abc", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/orders/1", "osk_not_a_key", "").must(t, 401, "UNAUTHORIZED")
	c.call(t, te, "GET", "/api/v1/orders", key, "").must(t, 200)
	page := c.call(t, te, "GET", "/api/v1/orders?order_type=stars&limit=1", key, "").must(t, 200).orders(t)
	if page.NextCursor == nil {
		t.Fatal("no next_cursor")
	}
	c.call(t, te, "GET", "/api/v1/orders?limit=1&cursor="+*page.NextCursor, key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders?status=completed", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders?limit=0", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/orders/by-memo/"+*o.PaymentMemo, key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders/by-memo/STARS-zzzzzz", key, "").must(t, 404, "NOT_FOUND")
	c.call(t, te, "GET", "/api/v1/orders/by-reference/invoice-42", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders/by-reference/nothing", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders/by-reference/invoice-42?limit=1&cursor="+*page.NextCursor, key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders/by-reference/invoice-42?limit=0", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/orders/by-reference/invoice-42?cursor=bogus", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/orders/by-reference/"+strings.Repeat("r", 129), key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/orders/stats/summary", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders/stats/summary?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/orders/stats/summary?from=2100-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", key, "").must(t, 422, "VALIDATION_ERROR")

	// Cancel: the premium order, then again (409), then a paid one (409).
	c.call(t, te, "POST", "/api/v1/orders/"+itoa(int(prem.ID))+"/cancel", key, "", idem()...).must(t, 200)
	c.call(t, te, "POST", "/api/v1/orders/"+itoa(int(prem.ID))+"/cancel", key, "{}").must(t, 409, "ORDER_NOT_CANCELLABLE")
	c.call(t, te, "POST", "/api/v1/orders/"+id+"/cancel", key, "", idem()...).must(t, 409, "ORDER_NOT_CANCELLABLE")
	c.call(t, te, "POST", "/api/v1/orders/999999/cancel", key, "").must(t, 404, "NOT_FOUND")
	c.call(t, te, "POST", "/api/v1/orders/"+id+"/cancel", key, `{"reason":"x"}`).must(t, 422, "VALIDATION_ERROR")

	// Pricing, recipients, balance, health.
	c.call(t, te, "GET", "/api/v1/pricing/ton-rate", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/pricing/fee", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/pricing/estimate/stars?quantity=100", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/pricing/estimate/stars?quantity=1", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/pricing/estimate/stars", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/pricing/estimate/premium?months=6", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/pricing/estimate/premium?months=5", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/recipients/stars?username=pandus", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/recipients/premium?username=@someone_missing", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/recipients/premium?username=x", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/balance", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/balance", "", "").must(t, 401, "UNAUTHORIZED")
	c.call(t, te, "GET", "/api/v1/balance/transactions", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/balance/transactions?limit=1", key, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/balance/transactions?cursor=bogus", key, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/health", "", "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/", "", "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/openapi.json", "", "").must(t, 200)

	// Sandbox partners (no auth).
	c.call(t, te, "POST", "/api/v1/sandbox/partners", "", "").must(t, 200)
	c.call(t, te, "POST", "/api/v1/sandbox/partners", "", `{"name":"acme"}`).must(t, 200)
	c.call(t, te, "POST", "/api/v1/sandbox/partners", "", `{"name":"`+strings.Repeat("n", 65)+`"}`).must(t, 422, "VALIDATION_ERROR")

	// Webhooks.
	c.call(t, te, "GET", "/api/v1/webhook", key, "").must(t, 404, "NOT_FOUND")
	c.call(t, te, "POST", "/api/v1/webhook/test", key, "").must(t, 404, "NOT_FOUND")
	c.call(t, te, "PUT", "/api/v1/webhook", key, `{"url":"ftp://example.com/x"}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "PUT", "/api/v1/webhook", key, `{"url":"http://127.0.0.1:9/hook"}`).must(t, 200)
	c.call(t, te, "PUT", "/api/v1/webhook", key, `{"url":"http://127.0.0.1:9/hook","events":["order.paid","balance.topup"]}`).must(t, 200)
	c.call(t, te, "PUT", "/api/v1/webhook", key, `{"url":"http://127.0.0.1:9/hook","events":["order.shipped"]}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/webhook", key, "").must(t, 200)
	c.call(t, te, "POST", "/api/v1/webhook/rotate-secret", key, "", idem()...).must(t, 200)
	c.call(t, te, "POST", "/api/v1/webhook/test", key, "{}", idem()...).must(t, 200)
	if err := te.Shop.SendOutbox(context.Background(), domain.ChannelWebhook, webhook.NewSender(te.Shop, webhook.Options{})); err != nil {
		t.Fatal(err)
	}
	var dl struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	c.call(t, te, "GET", "/api/v1/webhook/deliveries", key, "").must(t, 200).data(t, &dl)
	c.call(t, te, "GET", "/api/v1/webhook/deliveries?limit=101", key, "").must(t, 422, "VALIDATION_ERROR")
	if len(dl.Items) == 0 {
		t.Fatal("no delivery row to redeliver")
	}
	c.call(t, te, "POST", "/api/v1/webhook/deliveries/"+itoa(int(dl.Items[0].ID))+"/redeliver", key, "", idem()...).must(t, 200)
	c.call(t, te, "POST", "/api/v1/webhook/deliveries/99999/redeliver", key, "", idem()...).must(t, 404, "NOT_FOUND")
	c.call(t, te, "DELETE", "/api/v1/webhook", key, "").must(t, 200)
	c.call(t, te, "DELETE", "/api/v1/webhook", key, "").must(t, 404, "NOT_FOUND")
	c.call(t, te, "DELETE", "/api/v1/webhook", "", "").must(t, 401, "UNAUTHORIZED")

	// Operator routes: an unmatched deposit assigned once, partners, a key revoked.
	c.call(t, te, "POST", "/api/v1/sandbox/transfers", key,
		`{"to_address":"`+te.Shop.ServiceAddress()+`","amount_ton":0.5,"comment":"matches nothing"}`).must(t, 200)
	var um listJSON[struct {
		ID int64 `json:"id"`
	}]
	polls := 0
	eventually(t, "unmatched deposit", func() bool {
		polls++ // each poll from its own address: admin requests are limited per client IP
		c.call(t, te, "GET", "/api/v1/admin/unmatched", adminToken, "", "RemoteAddr", "[2001:db8:"+strconv.FormatInt(int64(polls), 16)+"::1]:1").must(t, 200).data(t, &um)
		return len(um.Items) > 0
	})
	c.call(t, te, "GET", "/api/v1/admin/unmatched?limit=0", adminToken, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/admin/backup", adminToken, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/admin/unmatched", key, "").must(t, 401, "UNAUTHORIZED")
	assign := "/api/v1/admin/unmatched/" + itoa(int(um.Items[0].ID)) + "/assign"
	pid := itoa(int(te.call(t, "GET", "/api/v1/admin/partners", adminToken, "").must(t, 200).partnerID(t)))
	c.call(t, te, "POST", assign, adminToken, `{"partner_id":`+pid+`,"order_id":1}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", assign, adminToken, `{"partner_id":`+pid+`}`).must(t, 200)
	c.call(t, te, "POST", assign, adminToken, `{"partner_id":`+pid+`}`).must(t, 409, "ALREADY_ASSIGNED")
	c.call(t, te, "POST", "/api/v1/admin/unmatched/999999/assign", adminToken, `{"partner_id":`+pid+`}`).must(t, 404, "NOT_FOUND")
	c.call(t, te, "GET", "/api/v1/admin/unmatched", adminToken, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/admin/integrity", adminToken, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/admin/partners?limit=1", adminToken, "").must(t, 200)
	_, victim := te.Partner(t)
	te.call(t, "GET", "/api/v1/balance", victim, "").must(t, 200)
	var ps listJSON[struct {
		ID int64 `json:"id"`
	}]
	c.call(t, te, "GET", "/api/v1/admin/partners?limit=500", adminToken, "").must(t, 200).data(t, &ps)
	vid := itoa(int(ps.Items[len(ps.Items)-1].ID))
	c.call(t, te, "POST", "/api/v1/admin/partners/"+vid+"/revoke-key", adminToken, "").must(t, 200)
	c.call(t, te, "POST", "/api/v1/admin/partners/"+vid+"/revoke-key", adminToken, "").must(t, 404, "NOT_FOUND")
	c.call(t, te, "POST", "/api/v1/admin/partners/x/revoke-key", adminToken, "").must(t, 422, "VALIDATION_ERROR")
	te.call(t, "GET", "/api/v1/balance", victim, "").must(t, 401, "UNAUTHORIZED")
	adminSafetyExchanges(t, c, te, adminToken) // parked transfers, manual deliveries, the audit log
	for i := 0; c.call(t, te, "GET", "/api/v1/admin/partners", adminToken, "", "RemoteAddr", "198.51.100.77:1").Code != 429; i++ {
		if i > 500 {
			t.Fatal("admin requests from one address are not limited")
		}
	}

	// Unknown paths and wrong methods: not in the document either.
	c.unrouted(t, te, "GET", "/api/v1/nope", key, routers.ErrPathNotFound, "NotFoundNoLimit")
	c.unrouted(t, te, "GET", "/api/v1/orders/1/refund", key, routers.ErrPathNotFound, "NotFoundNoLimit")
	c.unrouted(t, te, "DELETE", "/api/v1/orders/1", key, routers.ErrMethodNotAllowed, "MethodNotAllowed")
	c.unrouted(t, te, "PUT", "/api/v1/balance", key, routers.ErrMethodNotAllowed, "MethodNotAllowed")

	// 429, with its headers.
	rl := newEnv(t, withRate(0.5, 1))
	_, rkey := rl.Partner(t)
	c.call(t, rl, "GET", "/api/v1/balance", rkey, "").must(t, 200)
	c.call(t, rl, "GET", "/api/v1/balance", rkey, "").must(t, 429, "RATE_LIMITED")
	c.call(t, rl, "POST", "/api/v1/orders/stars", rkey, quickstartBody, idem()...).must(t, 429, "RATE_LIMITED")
	c.call(t, rl, "POST", "/api/v1/sandbox/partners", "", "").must(t, 200)
	c.call(t, rl, "POST", "/api/v1/sandbox/partners", "", "").must(t, 429, "RATE_LIMITED")
	// 429 for an address out of failed authentications.
	for range 10 {
		rl.call(t, "GET", "/api/v1/orders", "osk_"+strings.Repeat("z", 40), "", "RemoteAddr", "198.51.100.99:1").must(t, 401)
	}
	c.call(t, rl, "GET", "/api/v1/orders", rkey, "", "RemoteAddr", "198.51.100.99:1").must(t, 429, "RATE_LIMITED")
	c.call(t, rl, "POST", "/api/v1/orders/stars", rkey, quickstartBody, "RemoteAddr", "198.51.100.99:1").must(t, 429, "RATE_LIMITED")

	// 503 and a degraded health: the fulfilment provider is down.
	down := newEnv(t, func(_ *config.Config, o *shoptest.Options) { o.Provider = downProvider{} })
	_, dkey := down.Partner(t)
	c.call(t, down, "POST", "/api/v1/orders/stars", dkey, quickstartBody).must(t, 503, "SERVICE_UNAVAILABLE")
	var h struct {
		Status string `json:"status"`
	}
	c.call(t, down, "GET", "/api/v1/health", "", "").must(t, 200).data(t, &h)
	if h.Status != "degraded" {
		t.Errorf("health with the provider down: %q", h.Status)
	}

	// A delivery held for funds: health degraded with the summary, the
	// admin report with the order and what is owed.
	poor := newEnv(t, func(cfg *config.Config, o *shoptest.Options) {
		cfg.Admin.Token = adminToken
		o.Provider = poorProvider{}
	})
	poor.Run(t)
	_, pkey := poor.Partner(t)
	po := c.call(t, poor, "POST", "/api/v1/orders/stars", pkey, quickstartBody).must(t, 200).order(t)
	c.call(t, poor, "POST", "/api/v1/sandbox/transfers", pkey,
		`{"to_address":"`+*po.PaymentAddress+`","amount_nanoton":"`+po.PriceNanoton+`","comment":"`+*po.PaymentMemo+`"}`).must(t, 200)
	eventually(t, "delivery held", func() bool { return poor.Shop.HeldDeliveries() != nil })
	var ph struct {
		Status string `json:"status"`
		Held   *struct {
			Shortfall string `json:"shortfall_nanoton"`
		} `json:"deliveries_held"`
	}
	c.call(t, poor, "GET", "/api/v1/health", "", "").must(t, 200).data(t, &ph)
	if ph.Status != "degraded" || ph.Held == nil || ph.Held.Shortfall != "499999000" {
		t.Errorf("health with a held delivery: %+v", ph)
	}
	var rep struct {
		Held []struct {
			OrderID int64 `json:"order_id"`
		} `json:"held"`
		Owed string `json:"owed_orders_nanoton"`
	}
	c.call(t, poor, "GET", "/api/v1/admin/deliveries/held", adminToken, "").must(t, 200).data(t, &rep)
	if len(rep.Held) != 1 || rep.Held[0].OrderID != po.ID || rep.Owed != po.PriceNanoton {
		t.Errorf("held report %+v", rep)
	}
	c.call(t, poor, "GET", "/api/v1/admin/deliveries/held", pkey, "").must(t, 401, "UNAUTHORIZED")

	// Deliveries held for the wallet's unrecorded messages, reconciled.
	payerExchanges(t, c, adminToken)
	// A payment batch held because something else used the service wallet,
	// released by the operator: the order it paid completes.
	disp := &displacedProvider{}
	de := newEnv(t, func(cfg *config.Config, o *shoptest.Options) {
		cfg.Admin.Token = adminToken
		o.Provider = disp
	})
	de.Run(t)
	_, dk := de.Partner(t)
	dor := c.call(t, de, "POST", "/api/v1/orders/stars", dk, quickstartBody).must(t, 200).order(t)
	c.call(t, de, "POST", "/api/v1/sandbox/transfers", dk,
		`{"to_address":"`+*dor.PaymentAddress+`","amount_nanoton":"`+dor.PriceNanoton+`","comment":"`+*dor.PaymentMemo+`"}`).must(t, 200)
	eventually(t, "delivery held", func() bool { return de.Shop.HeldDeliveries() != nil })
	batch := &domain.PayerBatch{Wallet: de.Keys.ServiceAddressRaw(), Seqno: 5, CreatedAt: time.Now(), Messages: 1}
	if err := de.Store.Update(context.Background(), func(tx store.Tx) error {
		batch.ID = 0
		if err := tx.PutPayerBatch(batch); err != nil {
			return err
		}
		return tx.PutPayerMessage(&domain.PayerMessage{BatchID: batch.ID, OrderID: dor.ID, Kind: domain.KindStars, ReqID: "req1"})
	}); err != nil {
		t.Fatal(err)
	}
	release := "/api/v1/admin/payer/batches/" + strconv.FormatInt(batch.ID, 10) + "/release"
	c.call(t, de, "POST", release, adminToken, `{"delivered_orders":[`+strconv.FormatInt(dor.ID, 10)+`],"note":"seen"}`).must(t, 409, "NOT_RECONCILABLE")
	disp.set(batch.ID)
	c.call(t, de, "POST", release, adminToken, `{"note":"seen"}`).must(t, 422, "VALIDATION_ERROR")
	var rel struct {
		Delivered []int64 `json:"delivered"`
	}
	c.call(t, de, "POST", release, adminToken, `{"delivered_orders":[`+strconv.FormatInt(dor.ID, 10)+`],"note":"tx 9c1e… at seqno 5 was our old staging box; stopped"}`).
		must(t, 200).data(t, &rel)
	if len(rel.Delivered) != 1 || rel.Delivered[0] != dor.ID {
		t.Errorf("release %+v", rel)
	}
	if got, _ := de.Shop.OperatorOrder(context.Background(), dor.ID); got == nil || got.Status != domain.StatusCompleted {
		t.Errorf("released order: %+v", got)
	}

	// Outside sandbox mode the sandbox routes answer 404 (documented).
	cfg := config.Default()
	cfg.TON.Network = "testnet"
	s, err := shop.New(shop.Deps{Config: cfg, Store: te.Store, Keys: te.Keys, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed("3.6", time.Now()), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	live := &tenv{Env: te.Env, h: api.NewServer(s, cfg, nil), log: te.log}
	c.call(t, live, "POST", "/api/v1/sandbox/partners", "", "").must(t, 404, "NOT_FOUND")
	c.call(t, live, "POST", "/api/v1/sandbox/transfers", key, `{"to_address":"x","amount_nanoton":"1"}`).must(t, 404, "NOT_FOUND")

	// Every documented operation was answered 200 at least once.
	for name := range docOps(c.doc) {
		if !c.covered[name+" 200"] {
			t.Errorf("no 200 of %s was validated", name)
		}
	}
	var got []string
	for k := range c.covered {
		got = append(got, k)
	}
	sort.Strings(got)
	t.Logf("validated %d (operation, status) pairs:\n%s", len(got), strings.Join(got, "\n"))
}

// The document and Swagger UI are served from the binary, without auth.
func TestOpenAPIAndSwaggerUIServed(t *testing.T) {
	te := newEnv(t)
	get := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		te.h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		if rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", method, path)
		}
		return rec
	}
	rec := get("GET", "/api/v1/openapi.json")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != api.ContentType || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("openapi.json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	rec = get("GET", "/docs")
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/docs/" {
		t.Fatalf("/docs: %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	parse(t, rec.Code, rec.Header(), rec.Body.Bytes())

	rec = get("GET", "/docs/")
	page := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("/docs/: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, asset := range []struct{ path, ctype string }{
		{"/docs/swagger-ui.css", "text/css"},
		{"/docs/swagger-ui-bundle.js", "text/javascript"},
		{"/docs/swagger-ui-standalone-preset.js", "text/javascript"},
		{"/docs/init.js", "text/javascript"},
		{"/docs/favicon-32x32.png", "image/png"},
	} {
		if !strings.Contains(page, `"`+asset.path+`"`) {
			t.Errorf("index.html does not load %s", asset.path)
		}
		rec := get("GET", asset.path)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), asset.ctype) || rec.Body.Len() < 100 {
			t.Errorf("%s: %d %q %d bytes", asset.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
		}
	}
	if rec := get("GET", "/docs/LICENSE"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Apache License") {
		t.Errorf("/docs/LICENSE: %d", rec.Code)
	}
	initJS := get("GET", "/docs/init.js").Body.String()
	if !strings.Contains(initJS, `"/api/v1/openapi.json"`) {
		t.Error("init.js does not point at /api/v1/openapi.json")
	}
	// Offline: our own files load nothing from elsewhere.
	for _, s := range []string{page, initJS} {
		if strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "//cdn") {
			t.Errorf("docs reference another host:\n%s", s)
		}
	}
	// Anything else under /docs/ is an envelope 404; other methods 405.
	for _, p := range []string{"/docs/nope.js", "/docs/index.css", "/docs/swaggerui/LICENSE", "/docs/../api/v1/health", "/docs/a/b"} {
		rec := get("GET", p)
		parse(t, rec.Code, rec.Header(), rec.Body.Bytes()).must(t, 404, "NOT_FOUND")
	}
	rec = get("POST", "/docs/")
	parse(t, rec.Code, rec.Header(), rec.Body.Bytes()).must(t, 405, "METHOD_NOT_ALLOWED")
	rec = get("POST", "/api/v1/openapi.json")
	parse(t, rec.Code, rec.Header(), rec.Body.Bytes()).must(t, 405, "METHOD_NOT_ALLOWED")
}

// The schemas follow the Go views field by field: the same JSON names,
// required exactly when always present (no omitempty), nullable exactly
// when a pointer is rendered as null.
func TestOpenAPISchemasMatchViews(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, v := range map[string]any{
		"Order": view.Order{}, "LedgerEntry": view.Ledger{}, "Balance": api.BalanceView{}, "Rate": api.RateView{},
		"Estimate": api.EstimateView{}, "Fee": api.FeeView{}, "Stats": api.StatsView{}, "Recipient": api.RecipientView{},
		"Health": shop.Health{}, "SandboxPartner": api.SandboxPartnerView{}, "SandboxTransfer": api.SandboxTransferView{},
		"Webhook": api.WebhookView{}, "WebhookDelivery": api.WebhookDeliveryView{}, "WebhookTest": api.WebhookTestView{},
		"WebhookDeleted": api.WebhookDeletedView{}, "UnmatchedDeposit": api.UnmatchedView{}, "Assignment": api.AssignView{},
		"Integrity": api.IntegrityView{}, "AdminPartner": api.AdminPartnerView{}, "Revoked": api.RevokedView{},
		"ParkedTransfer": api.ParkedView{}, "ParkedResolution": api.ParkedResolutionView{}, "AdminOrder": api.AdminOrderView{},
		"AuditEntry":  api.AuditView{},
		"HoldSummary": shop.HoldSummary{}, "HeldDelivery": shop.HeldDelivery{}, "HeldReport": shop.HeldReport{},
	} {
		sr := doc.Components.Schemas[name]
		if sr == nil {
			t.Errorf("schema %s is missing", name)
			continue
		}
		checkSchemaFields(t, name, sr.Value, reflect.TypeOf(v))
	}
}

func checkSchemaFields(t *testing.T, where string, s *openapi3.Schema, typ reflect.Type) {
	t.Helper()
	if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
		t.Errorf("%s: additionalProperties must be false", where)
	}
	var names []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		names = append(names, tag)
		p := s.Properties[tag]
		if p == nil {
			t.Errorf("%s.%s: not in the schema", where, tag)
			continue
		}
		omit := strings.Contains(opts, "omitempty")
		if got := slices.Contains(s.Required, tag); got == omit {
			t.Errorf("%s.%s: required %v, but omitempty is %v", where, tag, got, omit)
		}
		ptr := f.Type.Kind() == reflect.Pointer
		if nullable := p.Value.Nullable; nullable != (ptr && !omit) {
			t.Errorf("%s.%s: nullable %v, Go type %s omitempty %v", where, tag, nullable, f.Type, omit)
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() && len(p.Value.Properties) > 0 {
			checkSchemaFields(t, where+"."+tag, p.Value, ft)
		}
	}
	for prop := range s.Properties {
		if !slices.Contains(names, prop) {
			t.Errorf("%s.%s: documented, but the Go view has no such field", where, prop)
		}
	}
}

// Real webhook deliveries match the callback documented on PUT /webhook:
// the body schema (WebhookEvent, data being the order, the ledger row or
// the test message) and the headers.
func TestOpenAPIWebhookDeliveriesMatchCallback(t *testing.T) {
	doc := loadOpenAPI(t)
	cb := doc.Paths.Value("/webhook").Put.Callbacks["event"].Value.Value("{$request.body#/url}").Post
	schema := cb.RequestBody.Value.Content.Get("application/json").Schema.Value

	type delivery struct {
		h    http.Header
		body []byte
	}
	got := make(chan delivery, 100)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
	}))
	defer recv.Close()

	te := newEnv(t)
	te.Shop.RegisterNotifier(domain.ChannelWebhook, webhook.NewSender(te.Shop, webhook.Options{}))
	te.Run(t)
	_, key := te.Partner(t)
	te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"`+recv.URL+`/hook"}`).must(t, 200)
	te.call(t, "POST", "/api/v1/webhook/test", key, "").must(t, 200)
	o := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody).must(t, 200).order(t)
	te.call(t, "POST", "/api/v1/sandbox/transfers", key,
		`{"to_address":"`+*o.PaymentAddress+`","amount_nanoton":"`+o.PriceNanoton+`","comment":"`+*o.PaymentMemo+`"}`).must(t, 200)
	c := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 50, "")).must(t, 200).order(t)
	te.call(t, "POST", "/api/v1/orders/"+itoa(int(c.ID))+"/cancel", key, "").must(t, 200)
	var b struct {
		TopupAddress string `json:"topup_address"`
	}
	te.call(t, "GET", "/api/v1/balance", key, "").must(t, 200).data(t, &b)
	te.call(t, "POST", "/api/v1/sandbox/transfers", key, `{"to_address":"`+b.TopupAddress+`","amount_ton":1}`).must(t, 200)

	want := []string{"webhook.test", "order.paid", "order.completed", "order.cancelled", "balance.topup"}
	seen := map[string]bool{}
	timeout := time.After(time.Minute) // only a broken delivery waits this long
	for len(seen) < len(want) {
		select {
		case d := <-got:
			var v any
			if err := json.Unmarshal(d.body, &v); err != nil {
				t.Fatalf("delivery body %s: %v", d.body, err)
			}
			if err := schema.VisitJSON(v); err != nil {
				t.Errorf("delivery does not match WebhookEvent: %v\n%s", err, d.body)
			}
			for _, p := range cb.Parameters {
				hv := d.h.Get(p.Value.Name)
				if p.Value.Required && hv == "" {
					t.Errorf("delivery lacks header %s", p.Value.Name)
				} else if err := p.Value.Schema.Value.VisitJSON(hv); err != nil {
					t.Errorf("header %s: %v", p.Value.Name, err)
				}
			}
			typ, _ := v.(map[string]any)["type"].(string)
			seen[typ] = true
		case <-timeout:
			t.Fatalf("deliveries seen %v, want %v", seen, want)
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no %s delivery", w)
		}
	}
}

// The served document is the embedded one tailored to the server: servers
// from http.public_url, operator paths only with admin routes on, sandbox
// paths only in sandbox mode; each variant is a valid document and keeps
// the embedded order of paths.
func TestServedOpenAPIFollowsTheConfig(t *testing.T) {
	served := func(te *tenv) *openapi3.T {
		t.Helper()
		rec := httptest.NewRecorder()
		te.h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(rec.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
			t.Fatalf("served document is not valid: %v", err)
		}
		var order struct {
			Paths json.RawMessage `json:"paths"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &order)
		last := -1
		for _, p := range []string{"/orders/stars", "/webhook", "/health", "/openapi.json"} {
			i := strings.Index(string(order.Paths), `"`+p+`"`)
			if i < last {
				t.Errorf("path %s moved", p)
			}
			last = i
		}
		return doc
	}
	check := func(name string, doc *openapi3.T, servers []string, admin, sandbox bool) {
		t.Helper()
		var got []string
		for _, s := range doc.Servers {
			got = append(got, s.URL)
		}
		if !slices.Equal(got, servers) {
			t.Errorf("%s: servers %v, want %v", name, got, servers)
		}
		if (doc.Paths.Value("/admin/integrity") != nil) != admin || (doc.Components.SecuritySchemes["adminToken"] != nil) != admin {
			t.Errorf("%s: admin paths present = %v, want %v", name, doc.Paths.Value("/admin/integrity") != nil, admin)
		}
		if (doc.Paths.Value("/sandbox/transfers") != nil) != sandbox {
			t.Errorf("%s: sandbox paths present = %v, want %v", name, !sandbox, sandbox)
		}
		for _, tag := range doc.Tags {
			if tag.Name == "Admin" && !admin || tag.Name == "Sandbox" && !sandbox {
				t.Errorf("%s: tag %s listed", name, tag.Name)
			}
		}
		if doc.Paths.Value("/orders/stars") == nil {
			t.Errorf("%s: partner paths missing", name)
		}
	}
	check("default", served(newEnv(t)), []string{api.BasePath}, false, true)
	withAdmin := newEnv(t, func(cfg *config.Config, _ *shoptest.Options) {
		cfg.Admin.Token = "test-admin-token-0123456789"
		cfg.HTTP.PublicURL = "https://api.example.com/"
	})
	check("admin and public_url", served(withAdmin), []string{api.BasePath, "https://api.example.com/api/v1"}, true, true)
	live := newEnv(t, notSandbox())
	check("outside sandbox", served(live), []string{api.BasePath}, false, false)
}
