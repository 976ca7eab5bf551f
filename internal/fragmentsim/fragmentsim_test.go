package fragmentsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, s *Server, srv *httptest.Server, form url.Values) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api?hash="+s.Hash(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", s.Cookies())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header.Get("Retry-After")
}

// The simulated Fragment takes its time, answers beyond its rate with 429
// and Retry-After, and remembers each request with the link it handed out.
func TestLatencyRateLimitAndRequests(t *testing.T) {
	s, err := New(Options{Address: "0:" + strings.Repeat("f1", 32), Latency: 20 * time.Millisecond, RateLimit: 1, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	start := time.Now()
	code, found, _ := call(t, s, srv, url.Values{"method": {"searchStarsRecipient"}, "query": {"alice"}})
	if code != 200 || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("search: %d after %s", code, time.Since(start))
	}
	tok := found["found"].(map[string]any)["recipient"].(string)
	_, init, _ := call(t, s, srv, url.Values{"method": {"initBuyStarsRequest"}, "recipient": {tok}, "quantity": {"100"}})
	id := init["req_id"].(string)
	_, link, _ := call(t, s, srv, url.Values{"method": {"getBuyStarsLink"}, "id": {id}, "transaction": {"1"}, "account": {`{"address":"0:ab"}`}})
	msgs := link["transaction"].(map[string]any)["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["amount"] != "387000000" {
		t.Fatalf("link %v", link)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].ReqID != id || reqs[0].Username != "alice" || reqs[0].Linked != 1 || len(reqs[0].PayloadHash) != 64 {
		t.Fatalf("requests %+v", reqs)
	}
	code, _, ra := call(t, s, srv, url.Values{"method": {"searchStarsRecipient"}, "query": {"bob"}})
	if code != http.StatusTooManyRequests || ra != "1" {
		t.Fatalf("4th call in a burst of 3 at 1/s: %d, Retry-After %q", code, ra)
	}
	if st := s.Stats(); st.Calls != 4 || st.RateLimited != 1 {
		t.Fatalf("stats %+v", st)
	}
}
