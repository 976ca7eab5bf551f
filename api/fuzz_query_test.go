package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/theopenmoney/openmoney/api"
)

// FuzzQueryStrings sends arbitrary query strings and path segments to every
// GET route that parses them: never a 5xx, never a panic, always an envelope.
func FuzzQueryStrings(f *testing.F) {
	te := newEnv(f)
	_, key := te.Partner(f)
	for _, s := range []string{"limit=7", "limit=0", "limit=-1&cursor=abc", "status=paid&order_type=stars", "quantity=100",
		"months=3", "from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", "username=@pandus", "cursor=aWQ6MQ", "%zz", "limit=1e3"} {
		f.Add(uint8(0), s, "1")
	}
	routes := []string{"/orders", "/orders/stats/summary", "/pricing/estimate/stars", "/pricing/estimate/premium",
		"/recipients/stars", "/recipients/premium", "/balance/transactions", "/orders/%s", "/orders/by-memo/%s", "/orders/by-reference/%s"}
	f.Fuzz(func(t *testing.T, which uint8, query, segment string) {
		path := routes[int(which)%len(routes)]
		if len(path) > 2 && path[len(path)-2:] == "%s" {
			path = path[:len(path)-2] + url.PathEscape(segment)
		}
		req := httptest.NewRequest("GET", "/api/v1/orders", nil)
		req.URL.Path = "/api/v1" + path
		req.URL.RawPath = ""
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		te.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %s?%s: status %d: %s", path, query, rec.Code, rec.Body)
		}
		var e api.Envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("GET %s?%s: not an envelope: %s", path, query, rec.Body)
		}
	})
}
