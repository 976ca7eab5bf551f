package pricing

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		name, body, want, source string
	}{
		{"coingecko simple price", `{"the-open-network":{"usd":5.43}}`, "5.43", "coingecko"},
		{"coingecko toncoin id", `{"toncoin":{"usd":3.1}}`, "3.1", "coingecko"},
		{"coingecko keeps every digit", `{"the-open-network":{"usd":5.123456789012345678}}`, "5.123456789012345678", "coingecko"},
		{"tonapi rates", `{"rates":{"TON":{"prices":{"USD":5.43,"EUR":5.01}}}}`, "5.43", "tonapi"},
		{"plain number", `{"ton_usd": 5.43}`, "5.43", "ton_usd"},
		{"plain decimal string", `{"ton_usd": "3.600"}`, "3.6", "ton_usd"},
		{"integer", `{"ton_usd": 4}`, "4", "ton_usd"},
		{"exponent is made plain", `{"ton_usd": 5.43e-1}`, "0.543", "ton_usd"},
		{"positive exponent", `{"ton_usd": 1.5E1}`, "15", "ton_usd"},
		{"trailing zeros trimmed", `{"ton_usd": 2.50}`, "2.5", "ton_usd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, src, err := ParseRate([]byte(tc.body))
			if err != nil {
				t.Fatalf("ParseRate: %v", err)
			}
			if got != tc.want || src != tc.source {
				t.Fatalf("got %q from %q, want %q from %q", got, src, tc.want, tc.source)
			}
		})
	}
}

func TestParseRateRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":            `<html>`,
		"array":               `[1,2]`,
		"unknown shape":       `{"price": 5}`,
		"zero":                `{"ton_usd": 0}`,
		"negative":            `{"ton_usd": -5.43}`,
		"absurdly high":       `{"ton_usd": 1e9}`,
		"absurdly low":        `{"ton_usd": 0.0000001}`,
		"string not a number": `{"ton_usd": "five"}`,
		"bool":                `{"ton_usd": true}`,
		"null":                `{"ton_usd": null}`,
		"coingecko no usd":    `{"the-open-network":{"eur":5}}`,
		"tonapi no TON":       `{"rates":{"BTC":{"prices":{"USD":5}}}}`,
		"tonapi prices null":  `{"rates":{"TON":{"prices":null}}}`,
		"huge exponent":       `{"ton_usd": 1e999999}`,
		"too many digits":     `{"ton_usd": 1.00000000000000000000000000000000000000000000001}`,
	} {
		t.Run(name, func(t *testing.T) {
			if v, _, err := ParseRate([]byte(body)); err == nil {
				t.Fatalf("accepted %s as %q", body, v)
			} else if !errors.Is(err, ErrBadRate) {
				t.Fatalf("error %v does not wrap ErrBadRate", err)
			}
		})
	}
}

// rateServer serves a body and status that the test can change.
type rateServer struct {
	mu     sync.Mutex
	status int
	body   string
	hits   atomic.Int64
}

func (s *rateServer) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *rateServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLiveEachShapeThroughHTTP(t *testing.T) {
	for _, body := range []string{
		`{"the-open-network":{"usd":5.43}}`,
		`{"rates":{"TON":{"prices":{"USD":5.43}}}}`,
		`{"ton_usd": 5.43}`,
	} {
		srv := &rateServer{status: 200, body: body}
		ts := httptest.NewServer(srv)
		l := NewLive(LiveOptions{URL: ts.URL, HTTPClient: ts.Client()})
		if err := l.Refresh(context.Background()); err != nil {
			t.Fatalf("%s: Refresh: %v", body, err)
		}
		r, err := l.Current(context.Background())
		if err != nil || r.TonUSD != "5.43" {
			t.Fatalf("%s: Current = %+v, %v", body, r, err)
		}
		ts.Close()
	}
}

func TestLiveStaleness(t *testing.T) {
	srv := &rateServer{status: 200, body: `{"ton_usd": 3.6}`}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	clk := &clock{t: time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC)}
	l := NewLive(LiveOptions{URL: ts.URL, HTTPClient: ts.Client(), Now: clk.Now, MaxAge: 10 * time.Minute})
	ctx := context.Background()

	if _, err := l.Current(ctx); !errors.Is(err, ErrStale) {
		t.Fatalf("no rate yet: err = %v, want ErrStale", err)
	}
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := l.Current(ctx)
	if err != nil || r.TonUSD != "3.6" || r.Source != "ton_usd" || !r.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("fresh: %+v, %v", r, err)
	}
	clk.Add(10 * time.Minute)
	if _, err := l.Current(ctx); err != nil {
		t.Fatalf("exactly MaxAge old is still usable: %v", err)
	}
	clk.Add(time.Second)
	if _, err := l.Current(ctx); !errors.Is(err, ErrStale) {
		t.Fatalf("older than MaxAge: err = %v, want ErrStale", err)
	}
}

func TestLiveFailingSourceKeepsLastGoodRateUntilStale(t *testing.T) {
	srv := &rateServer{status: 200, body: `{"rates":{"TON":{"prices":{"USD":5.43}}}}`}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	clk := &clock{t: time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC)}
	l := NewLive(LiveOptions{URL: ts.URL, HTTPClient: ts.Client(), Now: clk.Now})
	ctx := context.Background()
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, broken := range []struct {
		status int
		body   string
	}{
		{500, `oops`},
		{200, `{"rates":{"TON":{"prices":{"USD":0}}}}`},
		{200, `not json`},
		{429, `{}`},
	} {
		srv.set(broken.status, broken.body)
		clk.Add(2 * time.Minute)
		if err := l.Refresh(ctx); err == nil {
			t.Fatalf("Refresh accepted HTTP %d %q", broken.status, broken.body)
		}
		r, err := l.Current(ctx)
		if err != nil || r.TonUSD != "5.43" {
			t.Fatalf("after a failed refresh the last good rate must stay: %+v, %v", r, err)
		}
	}
	clk.Add(3 * time.Minute) // 11 minutes since the good fetch
	if _, err := l.Current(ctx); !errors.Is(err, ErrStale) {
		t.Fatalf("err = %v, want ErrStale", err)
	}
	srv.set(200, `{"ton_usd": "5.5"}`)
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Current(ctx); err != nil || r.TonUSD != "5.5" {
		t.Fatalf("recovered: %+v, %v", r, err)
	}
}

// A live rate priced into nanotons stays exact: the rate is a decimal, never a float.
func TestLiveRateIsExactForPricing(t *testing.T) {
	srv := &rateServer{status: 200, body: `{"the-open-network":{"usd":3.123456789123}}`}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	l := NewLive(LiveOptions{URL: ts.URL, HTTPClient: ts.Client()})
	if err := l.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, _ := l.Current(context.Background())
	rat, err := r.Rat()
	if err != nil {
		t.Fatal(err)
	}
	want := new(big.Rat).SetFrac64(3123456789123, 1_000_000_000_000)
	if rat.Cmp(want) != 0 {
		t.Fatalf("rate %s, want exactly %s", rat.RatString(), want.RatString())
	}
}

func TestLiveRunRefreshesAndBacksOff(t *testing.T) {
	srv := &rateServer{status: 500, body: `down`}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	l := NewLive(LiveOptions{URL: ts.URL, HTTPClient: ts.Client(), Refresh: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()

	waitFor(t, func() bool { return srv.hits.Load() >= 3 })
	if _, err := l.Current(ctx); !errors.Is(err, ErrStale) {
		t.Fatalf("source down from the start: err = %v, want ErrStale", err)
	}
	srv.set(200, `{"ton_usd": 2.25}`)
	waitFor(t, func() bool {
		r, err := l.Current(ctx)
		return err == nil && r.TonUSD == "2.25"
	})
	before := srv.hits.Load()
	waitFor(t, func() bool { return srv.hits.Load() >= before+2 }) // keeps refreshing
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v on cancel, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not stop on cancel")
	}
}

func TestNoURL(t *testing.T) {
	l := NewLive(LiveOptions{})
	if err := l.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh without URL succeeded")
	}
	if _, err := l.Current(context.Background()); !errors.Is(err, ErrStale) {
		t.Fatalf("err = %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{
		`{"the-open-network":{"usd":5.43}}`,
		`{"rates":{"TON":{"prices":{"USD":5.43}}}}`,
		`{"ton_usd": 5.43}`,
		`{"ton_usd": "1e-2"}`,
		`{"ton_usd": -1}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, src, err := ParseRate(body)
		if err != nil {
			if !errors.Is(err, ErrBadRate) {
				t.Fatalf("error %v does not wrap ErrBadRate", err)
			}
			return
		}
		if src == "" {
			t.Fatal("no source")
		}
		r, ok := new(big.Rat).SetString(v)
		if !ok || r.Sign() <= 0 {
			t.Fatalf("accepted %q which is not a positive decimal", v)
		}
		if _, err := (Rate{TonUSD: v}).Rat(); err != nil {
			t.Fatalf("Rate.Rat refuses accepted value %q: %v", v, err)
		}
	})
}

// The jump rule: a reading more than 20 % away from the rate in use is held
// (the old rate stays in use while fresh, and health shows the hold) until a
// second reading within 5 minutes confirms it; a reading back near the old
// rate drops the hold; an unconfirmed hold is replaced.
func TestLiveJumpIsHeldUntilConfirmed(t *testing.T) {
	srv := &rateServer{status: 200, body: `{"ton_usd": 4}`}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	clk := &clock{t: time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC)}
	l := NewLive(LiveOptions{URL: ts.URL + "/price?api_key=secret", HTTPClient: ts.Client(), Now: clk.Now})
	ctx := context.Background()
	read := func(body string) {
		t.Helper()
		clk.Add(time.Minute)
		srv.set(200, body)
		if err := l.Refresh(ctx); err != nil {
			t.Fatalf("Refresh %s: %v", body, err)
		}
	}
	inUse := func(want string) {
		t.Helper()
		r, err := l.Current(ctx)
		if err != nil || r.TonUSD != want {
			t.Fatalf("rate in use %+v, %v; want %s", r, err, want)
		}
	}
	held := func(want string) {
		t.Helper()
		st := l.Status()
		switch {
		case want == "" && st.Held != nil:
			t.Fatalf("held %+v, want none", st.Held)
		case want != "" && (st.Held == nil || st.Held.TonUSD != want):
			t.Fatalf("held %+v, want %s", st.Held, want)
		}
	}
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	inUse("4") // the first reading has nothing to compare with
	read(`{"ton_usd": 4.8}`)
	inUse("4.8") // +20 % exactly: a normal move
	held("")

	read(`{"ton_usd": 3.7}`) // −22.9 %
	inUse("4.8")
	held("3.7")
	st := l.Status()
	if st.Kind != "live" || st.Host != strings.TrimPrefix(ts.URL, "http://") || st.TonUSD == nil || *st.TonUSD != "4.8" ||
		st.AgeSeconds != 60 || st.Held.ChangePercent != "-22.9" || !st.Held.ConfirmBy.Equal(clk.Now().Add(5*time.Minute)) {
		t.Fatalf("status %+v held %+v", st, st.Held)
	}
	read(`{"ton_usd": 3.6}`) // within 10 % of the held 3.7, a minute later: confirmed
	inUse("3.6")
	held("")

	// A wild reading followed by a normal one: dropped, never used.
	read(`{"ton_usd": 36}`)
	inUse("3.6")
	held("36")
	read(`{"ton_usd": 3.65}`)
	inUse("3.65")
	held("")

	// Two wild readings that disagree: the second replaces the first.
	read(`{"ton_usd": 10}`)
	read(`{"ton_usd": 20}`)
	inUse("3.65")
	held("20")
	// Too late to confirm: 6 minutes after the held reading it starts a new hold.
	clk.Add(5 * time.Minute)
	read(`{"ton_usd": 20.5}`)
	held("20.5")
	inUse("3.65") // 8 minutes old: still fresh
	clk.Add(3 * time.Minute)
	if _, err := l.Current(ctx); !errors.Is(err, ErrStale) {
		t.Fatalf("held, and the rate in use is 11 minutes old: want ErrStale, got %v", err)
	}
	read(`{"ton_usd": 20}`) // confirms 20.5, 4 minutes after it
	inUse("20")
	held("")
}

// Health and errors show the rate source's host, never its path or query
// (which may carry an API key).
func TestLiveNeverShowsTheRateURLQuery(t *testing.T) {
	l := NewLive(LiveOptions{URL: "http://127.0.0.1:1/simple/price?x_cg_pro_api_key=SECRET"})
	err := l.Refresh(context.Background())
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %v", err)
	}
	_, err = l.Current(context.Background())
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("Current error %v", err)
	}
	if st := l.Status(); st.Host != "127.0.0.1:1" || st.TonUSD != nil || st.UpdatedAt != nil {
		t.Fatalf("status %+v", st)
	}
}

func TestFixedStatus(t *testing.T) {
	since := time.Now().Add(-90 * time.Second)
	st := NewFixed("3.6", since).Status()
	if st.Kind != "fixed" || st.TonUSD == nil || *st.TonUSD != "3.6" || st.Host != "" || st.Held != nil ||
		st.AgeSeconds < 89 || st.AgeSeconds > 95 || !st.UpdatedAt.Equal(since.UTC()) {
		t.Fatalf("%+v", st)
	}
}
