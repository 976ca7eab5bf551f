package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// logLines returns the JSON log lines whose msg is msg.
func logLines(t *testing.T, te *tenv, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(te.log.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %s", sc.Text())
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// 200 bad keys from one address: the first 10 are answered 401, every
// later one 429 with Retry-After, and while refused even a valid key from
// that address is refused; another address is unaffected. Each failure is
// logged without the key; the block once, at WARN.
func TestFailedAuthLimitedPerIP(t *testing.T) {
	te := newEnv(t)
	p, key := te.Partner(t)
	const attacker, other = "RemoteAddr", "198.51.100.7:40000"
	var got401, got429 int
	start := time.Now()
	for i := range 200 {
		bad := "osk_" + strings.Repeat("x", 40) + strconv.Itoa(i)
		r := te.call(t, "GET", "/api/v1/balance", bad, "", attacker, "203.0.113.9:5000")
		switch r.Code {
		case http.StatusUnauthorized:
			got401++
			if got429 > 0 {
				t.Fatalf("attempt %d: 401 after a 429", i)
			}
		case http.StatusTooManyRequests:
			got429++
			r.must(t, 429, "RATE_LIMITED")
			if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 10 {
				t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
			}
			if r.Header.Get("RateLimit-Limit") != "10" || r.Header.Get("RateLimit-Remaining") != "0" {
				t.Fatalf("headers %v", r.Header)
			}
		default:
			t.Fatalf("attempt %d: %s", i, r)
		}
	}
	// 10 at once, then one more per 10 s the loop took.
	if refills := int(time.Since(start) / (10 * time.Second)); got401 < 10 || got401 > 10+refills || got401+got429 != 200 {
		t.Fatalf("%d × 401, %d × 429; want 10 (+%d refilled) and the rest", got401, got429, refills)
	}
	// Refused whatever the key, on every authenticated route, POSTs included.
	te.call(t, "GET", "/api/v1/balance", key, "", attacker, "203.0.113.9:5001").must(t, 429, "RATE_LIMITED")
	te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody, attacker, "203.0.113.9:5001").must(t, 429, "RATE_LIMITED")
	// Another address: its own failures are answered 401, a good key 200.
	te.call(t, "GET", "/api/v1/balance", "osk_"+strings.Repeat("y", 40), "", attacker, other).must(t, 401, "UNAUTHORIZED")
	te.call(t, "GET", "/api/v1/balance", key, "", attacker, other).must(t, 200)
	// An IPv6 client is limited by its /64: another address of the same /64 is refused too.
	for range 10 {
		te.call(t, "GET", "/api/v1/balance", "", "", attacker, "[2001:db8:1:2::1]:443").must(t, 401)
	}
	te.call(t, "GET", "/api/v1/balance", key, "", attacker, "[2001:db8:1:2::ffff]:443").must(t, 429, "RATE_LIMITED")
	te.call(t, "GET", "/api/v1/balance", key, "", attacker, "[2001:db8:1:3::1]:443").must(t, 200)

	// A revoked key is a failure like an unknown one.
	if err := te.Shop.RevokeKey(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	te.call(t, "GET", "/api/v1/balance", key, "", attacker, "198.51.100.8:1").must(t, 401, "UNAUTHORIZED")

	fails := logLines(t, te, "partner authentication failed")
	if len(fails) != got401+1+10+1 {
		t.Errorf("%d failures logged, want %d (refused attempts are not failures)", len(fails), got401+12)
	}
	if fails[0]["client_ip"] != "203.0.113.9" || fails[0]["route"] != "GET /api/v1/balance" || fails[0]["reason"] != "unknown or revoked key" {
		t.Errorf("failure line %v", fails[0])
	}
	blocked := logLines(t, te, "too many failed authentications from one address; refusing it until its limit refills")
	if len(blocked) != 2 || blocked[0]["client_ip"] != "203.0.113.9" || blocked[0]["level"] != "WARN" {
		t.Errorf("block lines %v", blocked)
	}
	if strings.Contains(te.log.String(), strings.Repeat("x", 40)) || strings.Contains(te.log.String(), key) {
		t.Error("a key reached the log")
	}
	te.Check(t) // the refused requests changed no money
}

// Every admin request is limited per client IP (60 at once, 10/s), and a
// failed admin login is logged at WARN without the token and counts as a
// failed authentication.
func TestAdminLimitedPerIPAndFailuresLogged(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken))
	const ip = "RemoteAddr"
	// The first 60 pass (the burst); then, as fast as the loop goes, 429s
	// (a few may pass as the bucket refills at 10/s).
	n429 := 0
	for i := range 300 {
		r := te.call(t, "GET", "/api/v1/admin/partners", adminToken, "", ip, "192.0.2.50:1")
		switch {
		case r.Code == 200:
		case r.Code == 429 && i >= 60:
			n429++
			r.must(t, 429, "RATE_LIMITED")
			if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Limit") != "60" {
				t.Fatalf("headers %v", r.Header)
			}
		default:
			t.Fatalf("request %d: %s", i+1, r)
		}
	}
	if n429 == 0 {
		t.Fatal("300 admin requests from one address, none refused")
	}
	te.call(t, "GET", "/api/v1/admin/partners", adminToken, "", ip, "192.0.2.51:1").must(t, 200)

	for _, h := range [][]string{
		{"Authorization", "Bearer wrong-admin-token-123"},
		{"Authorization", "Basic " + adminToken},
		nil,
	} {
		te.call(t, "GET", "/api/v1/admin/integrity", "", "", append(h, ip, "192.0.2.52:1")...).must(t, 401, "UNAUTHORIZED")
	}
	lines := logLines(t, te, "admin authentication failed")
	if len(lines) != 3 {
		t.Fatalf("%d admin failures logged, want 3:\n%s", len(lines), te.log.String())
	}
	for i, reason := range []string{"wrong token", "malformed", "missing"} {
		l := lines[i]
		if l["level"] != "WARN" || l["client_ip"] != "192.0.2.52" || l["route"] != "GET /api/v1/admin/integrity" || l["reason"] != reason {
			t.Errorf("line %d: %v", i, l)
		}
	}
	if s := te.log.String(); strings.Contains(s, adminToken) || strings.Contains(s, "wrong-admin-token-123") {
		t.Error("a token reached the log")
	}
	// Admin failures and partner failures share the address's budget.
	for range 7 {
		te.call(t, "GET", "/api/v1/balance", "", "", ip, "192.0.2.52:1").must(t, 401)
	}
	te.call(t, "GET", "/api/v1/admin/integrity", adminToken, "", ip, "192.0.2.52:1").must(t, 429, "RATE_LIMITED")
}

// Behind a trusted proxy, X-Forwarded-For names the client, so one client's
// failures do not block the others; from any other peer the header is
// ignored, so a client cannot pick its address.
func TestClientIPFromTrustedProxyOnly(t *testing.T) {
	te := newEnv(t, func(c *config.Config, _ *shoptest.Options) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8"} })
	_, key := te.Partner(t)
	for range 10 {
		te.call(t, "GET", "/api/v1/balance", "", "", "RemoteAddr", "10.1.2.3:80",
			"X-Forwarded-For", "6.6.6.6, 198.51.100.20").must(t, 401)
	}
	// the same proxy, another client: fine; the blocked client: refused
	te.call(t, "GET", "/api/v1/balance", key, "", "RemoteAddr", "10.1.2.3:80", "X-Forwarded-For", "198.51.100.21").must(t, 200)
	te.call(t, "GET", "/api/v1/balance", key, "", "RemoteAddr", "10.1.2.3:80", "X-Forwarded-For", "198.51.100.20").must(t, 429)
	// a client cannot escape by prepending addresses: the proxy appended the real one
	te.call(t, "GET", "/api/v1/balance", key, "", "RemoteAddr", "10.9.9.9:80", "X-Forwarded-For", "1.2.3.4, 198.51.100.20").must(t, 429)
	// an untrusted peer's header is ignored: it is limited as itself
	for range 10 {
		te.call(t, "GET", "/api/v1/balance", "", "", "RemoteAddr", "198.51.100.30:1", "X-Forwarded-For", uuid.NewString()[:8]).must(t, 401)
	}
	te.call(t, "GET", "/api/v1/balance", key, "", "RemoteAddr", "198.51.100.30:1", "X-Forwarded-For", "198.51.100.31").must(t, 429)
	lines := logLines(t, te, "http request")
	if last := lines[len(lines)-1]; last["client_ip"] != "198.51.100.30" {
		t.Errorf("access line %v", last)
	}
}

// A body must be declared JSON: 415 UNSUPPORTED_MEDIA_TYPE naming the
// header otherwise; application/json with or without charset=utf-8 (any
// case) is accepted; a request without a body needs no Content-Type; a 415
// is never stored under an Idempotency-Key.
func TestRequestBodyMustBeJSON(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	body := starsBody("pandus", 100, "")
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1",
		"application/merge-patch+json", "application/jsonx", "multipart/form-data; boundary=x", "json", ""} {
		r := te.call(t, "POST", "/api/v1/orders/stars", key, body, "Content-Type", ct).must(t, 415, "UNSUPPORTED_MEDIA_TYPE")
		if !strings.Contains(r.Env.ErrorMessage, "Content-Type") {
			t.Errorf("%q: message %q does not name the header", ct, r.Env.ErrorMessage)
		}
	}
	// No Content-Type header at all.
	req := httptest.NewRequest("POST", "/api/v1/orders/stars", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	te.h.ServeHTTP(rec, req)
	if r := parse(t, rec.Code, rec.Header(), rec.Body.Bytes()); r.Code != 415 || !strings.Contains(r.Env.ErrorMessage, "no Content-Type header") {
		t.Fatalf("no Content-Type: %s", r)
	}
	// Two Content-Type headers.
	te.call(t, "POST", "/api/v1/orders/stars", key, body, "Content-Type", "application/json", "Content-Type", "application/json").
		must(t, 415, "UNSUPPORTED_MEDIA_TYPE")
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON;Charset=\"UTF-8\""} {
		te.call(t, "POST", "/api/v1/orders/stars", key, body, "Content-Type", ct).must(t, 200)
	}
	// Other routes with bodies: PUT, unauthenticated POST, admin POST.
	te.call(t, "PUT", "/api/v1/webhook", key, `{"url":"https://example.com/h"}`, "Content-Type", "text/plain").must(t, 415, "UNSUPPORTED_MEDIA_TYPE")
	te.call(t, "POST", "/api/v1/sandbox/partners", "", `{"name":"x"}`, "Content-Type", "text/plain").must(t, 415, "UNSUPPORTED_MEDIA_TYPE")
	// Without a body no Content-Type is needed.
	o := te.call(t, "POST", "/api/v1/orders/stars", key, body).must(t, 200).order(t)
	te.call(t, "POST", "/api/v1/orders/"+itoa(int(o.ID))+"/cancel", key, "").must(t, 200)
	te.call(t, "POST", "/api/v1/sandbox/partners", "", "").must(t, 200)
	// A 415 is not the answer stored under the key: the corrected retry creates the order.
	idem := uuid.NewString()
	te.call(t, "POST", "/api/v1/orders/stars", key, body, "Content-Type", "text/plain", "Idempotency-Key", idem).must(t, 415)
	r := te.call(t, "POST", "/api/v1/orders/stars", key, body, "Idempotency-Key", idem).must(t, 200)
	if r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the corrected retry was a replay")
	}
}

// Text that is not valid UTF-8 (raw bytes, or an escaped lone surrogate) in
// any string field is 422 naming that field, never rewritten to U+FFFD;
// a valid escaped surrogate pair is text like any other.
func TestInvalidUTF8IsRefusedNamingTheField(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	for _, tc := range []struct{ path, body, field string }{
		{"/api/v1/orders/stars", "{\"recipient_username\":\"pandus\",\"quantity\":100,\"client_reference\":\"inv\xff42\"}", "client_reference"},
		{"/api/v1/orders/stars", `{"recipient_username":"pandus","quantity":100,"client_reference":"inv\udc0042"}`, "client_reference"},
		{"/api/v1/orders/stars", `{"recipient_username":"pandus","quantity":100,"client_reference":"inv\ud83d"}`, "client_reference"},
		{"/api/v1/orders/stars", `{"recipient_username":"pand\uD800us","quantity":100}`, "recipient_username"},
		{"/api/v1/orders/premium", "{\"recipient_username\":\"\xc3\",\"months\":3}", "recipient_username"},
		{"/api/v1/orders/stars", "{\"recipient_username\":\"pandus\",\"quantity\":100,\"payment_method\":\"ton_memo\xe2\x82\"}", "payment_method"},
		{"/api/v1/sandbox/transfers", "{\"to_address\":\"x\",\"amount_ton\":1,\"comment\":\"\xf0\x9f\x98\"}", "comment"},
	} {
		r := te.call(t, "POST", tc.path, key, tc.body).must(t, 422, "VALIDATION_ERROR")
		if !strings.HasPrefix(r.Env.ErrorMessage, tc.field+" must be valid UTF-8") {
			t.Errorf("%q: message %q, want it to name %s", tc.body, r.Env.ErrorMessage, tc.field)
		}
	}
	r := te.call(t, "PUT", "/api/v1/webhook", key, "{\"url\":\"https://example.com/h\",\"events\":[\"order.paid\",\"order.paid\xff\"]}").must(t, 422)
	if !strings.HasPrefix(r.Env.ErrorMessage, "events must be valid UTF-8") {
		t.Errorf("webhook events: %q", r.Env.ErrorMessage)
	}
	// A surrogate pair is a valid character; escaped or raw, it is kept as sent.
	o := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, `"client_reference":"inv-\ud83d\ude00"`)).must(t, 200).order(t)
	if o.ClientReference == nil || *o.ClientReference != "inv-😀" {
		t.Fatalf("client_reference %v", o.ClientReference)
	}
	te.call(t, "GET", "/api/v1/orders/by-reference/inv-😀", key, "").must(t, 200)
	te.call(t, "GET", "/api/v1/orders/by-reference/inv%FF", key, "").must(t, 422, "VALIDATION_ERROR")
}

// /health shows where the rate comes from (here the fixed sandbox rate).
func TestHealthShowsRateSource(t *testing.T) {
	te := newEnv(t)
	var h struct {
		Rate       string `json:"rate"`
		RateSource struct {
			Kind       string  `json:"kind"`
			TonUSD     *string `json:"ton_usd"`
			UpdatedAt  *string `json:"updated_at"`
			AgeSeconds *int64  `json:"age_seconds"`
			Held       any     `json:"held"`
		} `json:"rate_source"`
	}
	te.call(t, "GET", "/api/v1/health", "", "").must(t, 200).data(t, &h)
	rs := h.RateSource
	if h.Rate != "ok" || rs.Kind != "fixed" || rs.TonUSD == nil || *rs.TonUSD != "3.6" || rs.UpdatedAt == nil ||
		rs.AgeSeconds == nil || *rs.AgeSeconds < 0 || rs.Held != nil {
		t.Fatalf("health rate %+v", h)
	}
}
