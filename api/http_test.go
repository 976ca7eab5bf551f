package api_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
)

func TestUnknownPathsAndMethodsAreEnvelopes(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	for _, path := range []string{"/api/v1/nope", "/api/v2/orders", "/api/v1/orders/1/refund",
		"/api/v1//orders", "/api/v1/orders/../balance", "/favicon.ico"} {
		r := te.call(t, "GET", path, key, "").must(t, 404, "NOT_FOUND")
		if r.Header.Get("Location") != "" {
			t.Errorf("%s: redirect leaked", path)
		}
	}
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/api/v1/orders/1", "GET, HEAD"},
		{"PUT", "/api/v1/balance", "GET, HEAD"},
		{"POST", "/api/v1/health", "GET, HEAD"},
		{"GET", "/api/v1/orders/1/cancel", "POST"},
		{"GET", "/api/v1/sandbox/partners", "POST"},
	} {
		r := te.call(t, c.method, c.path, key, "").must(t, 405, "METHOD_NOT_ALLOWED")
		if r.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, r.Header.Get("Allow"), c.allow)
		}
		if !strings.Contains(r.Env.ErrorMessage, c.method) {
			t.Errorf("405 message %q", r.Env.ErrorMessage)
		}
	}
}

func TestRoutesListsEveryRoute(t *testing.T) {
	var got []string
	for _, r := range api.Routes() {
		got = append(got, r.Method+" "+r.Path)
		if want := r.Method + " /api/v1" + r.Path; r.Path == "/" && r.Pattern() != want+"{$}" || r.Path != "/" && r.Pattern() != want {
			t.Errorf("pattern %q", r.Pattern())
		}
	}
	want := []string{"POST /orders/stars", "POST /orders/premium", "GET /orders/{id}", "GET /orders",
		"GET /orders/by-memo/{memo}", "GET /orders/by-reference/{ref}", "GET /orders/stats/summary",
		"POST /orders/{id}/cancel", "GET /pricing/ton-rate", "GET /pricing/fee", "GET /pricing/estimate/stars",
		"GET /pricing/estimate/premium", "GET /recipients/stars", "GET /recipients/premium", "GET /balance",
		"GET /balance/transactions", "PUT /webhook", "GET /webhook", "DELETE /webhook", "POST /webhook/rotate-secret",
		"GET /webhook/deliveries", "POST /webhook/test", "POST /webhook/deliveries/{id}/redeliver", "GET /health", "GET /", "GET /openapi.json", "POST /sandbox/partners", "POST /sandbox/transfers"}
	if !slices.Equal(got, want) {
		t.Fatalf("routes\n got %v\nwant %v", got, want)
	}
}

// After the burst: 429 with the RateLimit headers and Retry-After; another
// key is not affected.
func TestRateLimitPerKey(t *testing.T) {
	te := newEnv(t, withRate(0.5, 5))
	_, keyA := te.Partner(t)
	_, keyB := te.Partner(t)
	for i := range 5 {
		r := te.call(t, "GET", "/api/v1/balance", keyA, "").must(t, 200)
		if r.Header.Get("RateLimit-Limit") != "5" || r.Header.Get("RateLimit-Remaining") != strconv.Itoa(4-i) {
			t.Errorf("request %d: limit %q remaining %q", i, r.Header.Get("RateLimit-Limit"), r.Header.Get("RateLimit-Remaining"))
		}
	}
	r := te.call(t, "GET", "/api/v1/balance", keyA, "").must(t, 429, "RATE_LIMITED")
	if r.Header.Get("Retry-After") != "2" || r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Limit") != "5" {
		t.Errorf("429 headers %v", r.Header)
	}
	if reset, _ := strconv.Atoi(r.Header.Get("RateLimit-Reset")); reset < 9 || reset > 10 {
		t.Errorf("RateLimit-Reset %q", r.Header.Get("RateLimit-Reset"))
	}
	// Every rate-limited route shares the key's bucket, POSTs included.
	te.call(t, "POST", "/api/v1/orders/stars", keyA, starsBody("pandus", 100, "")).must(t, 429, "RATE_LIMITED")
	te.call(t, "GET", "/api/v1/balance", keyB, "").must(t, 200)
	te.call(t, "GET", "/api/v1/health", "", "").must(t, 200)
}

// Sandbox routes do not exist outside sandbox mode.
func TestSandboxRoutesOnlyInSandbox(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	cfg := config.Default()
	cfg.TON.Network = "testnet"
	s, err := shop.New(shop.Deps{Config: cfg, Store: te.Store, Keys: te.Keys, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed("3.6", time.Now()), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	live := &tenv{Env: te.Env, h: api.NewServer(s, cfg, nil), log: te.log}
	live.call(t, "POST", "/api/v1/sandbox/partners", "", "").must(t, 404, "NOT_FOUND")
	live.call(t, "POST", "/api/v1/sandbox/transfers", key, `{"to_address":"x","amount_nanoton":"1"}`).must(t, 404, "NOT_FOUND")
	live.call(t, "GET", "/api/v1/balance", key, "").must(t, 200)

	// In sandbox mode: a partner and key without Telegram, usable at once.
	r := te.call(t, "POST", "/api/v1/sandbox/partners", "", "").must(t, 200)
	var pv struct {
		PartnerID int64  `json:"partner_id"`
		APIKey    string `json:"api_key"`
	}
	r.data(t, &pv)
	if pv.PartnerID <= 0 || !strings.HasPrefix(pv.APIKey, "osk_") {
		t.Fatalf("sandbox partner %s", r.Body)
	}
	te.call(t, "GET", "/api/v1/balance", pv.APIKey, "").must(t, 200)
	te.call(t, "POST", "/api/v1/sandbox/partners", "", `{"name":"acme"}`).must(t, 200)
	te.call(t, "POST", "/api/v1/sandbox/partners", "", `{"nme":"acme"}`).must(t, 422, "VALIDATION_ERROR")
	if strings.Contains(te.log.String(), pv.APIKey) {
		t.Error("a new key reached the log")
	}
}

// GET / redirects to the docs; GET /api/v1 (with or without the slash)
// answers an index of links, and every link it gives answers 200.
func TestRootRedirectAndIndex(t *testing.T) {
	te := newEnv(t)
	r := te.call(t, "GET", "/", "", "").must(t, http.StatusFound)
	if r.Header.Get("Location") != "/docs/" {
		t.Fatalf("/: Location %q", r.Header.Get("Location"))
	}
	for _, path := range []string{"/api/v1", "/api/v1/"} {
		var ix struct {
			Name, Version, Docs, OpenAPI, Health string
			Sandbox                              bool
		}
		te.call(t, "GET", path, "", "").must(t, 200).data(t, &ix)
		if ix.Docs != "/docs/" || ix.OpenAPI != "/api/v1/openapi.json" || ix.Health != "/api/v1/health" || !ix.Sandbox || ix.Version == "" {
			t.Fatalf("%s: %+v", path, ix)
		}
		for _, link := range []string{ix.Docs, ix.OpenAPI, ix.Health} {
			rec := httptest.NewRecorder()
			te.h.ServeHTTP(rec, httptest.NewRequest("GET", link, nil))
			if rec.Code != 200 {
				t.Errorf("index link %s: %d", link, rec.Code)
			}
		}
	}
	te.call(t, "POST", "/api/v1", "", "").must(t, 405, "METHOD_NOT_ALLOWED")
	if e := te.call(t, "GET", "/api/v1/nope", "", "").must(t, 404, "NOT_FOUND"); !strings.Contains(e.Env.ErrorMessage, "/docs/") {
		t.Errorf("404 message %q does not point at the docs", e.Env.ErrorMessage)
	}
}
