package api_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestAccessLogCarriesNoSecrets sends requests carrying a partner key, the
// admin token, a webhook-style secret and cookies (in headers, bodies, query
// strings and paths) through the handler with the JSON slog handler, and
// proves the log has one line per request with request id, route pattern,
// status, duration and partner id, and none of the secrets.
func TestAccessLogCarriesNoSecrets(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken))
	p, key := te.Partner(t)
	const whsec = "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	const cookie = "session=sess_5ecret-cookie-value; stel_token=tok_5ecret"
	upperKey, mixedWhsec := strings.ToUpper(key), "WhSec_"+whsec[len("whsec_"):]
	secrets := []string{key, key[len("osk_"):], adminToken, whsec, "sess_5ecret-cookie-value", "tok_5ecret",
		upperKey, upperKey[len("OSK_"):], mixedWhsec}

	type req struct {
		method, path, key, body string
		h                       []string
		route                   string
		status                  int
		partner                 int64
	}
	reqs := []req{
		{"GET", "/api/v1/balance", key, "", []string{"Cookie", cookie, "OpenMoney-Signature", "t=1,v1=" + whsec},
			"GET /api/v1/balance", http.StatusOK, p.ID},
		{"POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, `"client_reference":"`+whsec+`"`),
			[]string{"Cookie", cookie, "Idempotency-Key", whsec}, "POST /api/v1/orders/stars", http.StatusOK, p.ID},
		{"GET", "/api/v1/orders?cursor=" + key + "&secret=" + whsec, key, "", nil, "GET /api/v1/orders", http.StatusUnprocessableEntity, p.ID},
		{"GET", "/api/v1/balance", key + "x", "", []string{"X-Webhook-Secret", whsec}, "GET /api/v1/balance", http.StatusUnauthorized, 0},
		{"GET", "/api/v1/orders/by-memo/" + key, key, "", nil, "GET /api/v1/orders/by-memo/{memo}", http.StatusNotFound, p.ID},
		// redaction ignores letter case
		{"GET", "/api/v1/orders/by-memo/" + upperKey, key, "", nil, "GET /api/v1/orders/by-memo/{memo}", http.StatusNotFound, p.ID},
		{"GET", "/api/v1/orders/by-reference/" + mixedWhsec, key, "", nil, "GET /api/v1/orders/by-reference/{ref}", http.StatusOK, p.ID},
		{"GET", "/api/v1/" + whsec, "", "", []string{"Cookie", cookie}, "", http.StatusNotFound, 0},
		{"POST", "/api/v1/sandbox/partners", "", `{"name":"` + whsec + `"}`, []string{"Cookie", cookie}, "POST /api/v1/sandbox/partners", http.StatusOK, 0},
		{"GET", "/api/v1/admin/partners", adminToken, "", []string{"Cookie", cookie}, "GET /api/v1/admin/partners", http.StatusOK, 0},
		{"GET", "/api/v1/admin/integrity", adminToken + "-wrong", "", nil, "GET /api/v1/admin/integrity", http.StatusUnauthorized, 0},
	}
	for _, rq := range reqs {
		r := te.call(t, rq.method, rq.path, rq.key, rq.body, rq.h...)
		if r.Code != rq.status {
			t.Fatalf("%s %s: %s", rq.method, rq.path, r)
		}
	}

	logs := te.log.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the secret %q", s)
		}
	}
	for _, word := range []string{"Cookie", "cookie", "Authorization", "Bearer"} {
		if strings.Contains(logs, word) {
			t.Errorf("the log mentions %q", word)
		}
	}

	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %s", sc.Text())
		}
		if m["msg"] == "http request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != len(reqs) {
		t.Fatalf("%d access lines for %d requests:\n%s", len(lines), len(reqs), logs)
	}
	for i, l := range lines {
		rq := reqs[i]
		if id, _ := l["request_id"].(string); id == "" {
			t.Errorf("line %d: no request_id: %v", i, l)
		}
		if l["route"] != rq.route || l["status"] != float64(rq.status) || l["partner_id"] != float64(rq.partner) || l["method"] != rq.method {
			t.Errorf("line %d (%s %s): %v", i, rq.method, rq.path, l)
		}
		if l["client_ip"] != "192.0.2.1" {
			t.Errorf("line %d: client_ip %v", i, l["client_ip"])
		}
		if _, ok := l["duration"].(float64); !ok {
			t.Errorf("line %d: no duration: %v", i, l)
		}
		if path, _ := l["path"].(string); strings.Contains(path, "?") {
			t.Errorf("line %d: query logged: %v", i, l)
		}
	}
	if t.Failed() {
		t.Log(logs)
	}
}
