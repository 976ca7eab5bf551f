package api

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// deadlineServer serves the real handler, plus test routes, on a real
// http.Server with short timeouts.
func deadlineServer(t *testing.T, readTimeout, writeTimeout time.Duration, extra []routeDef) *httptest.Server {
	t.Helper()
	cfg := config.Default()
	env := shoptest.New(t, shoptest.Options{Config: cfg})
	ts := httptest.NewUnstartedServer(newServer(env.Shop, cfg, nil, extra, nil))
	ts.Config.ReadTimeout, ts.Config.WriteTimeout = readTimeout, writeTimeout
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// Once the body is in, the read deadline is cleared: a handler working
// past ReadTimeout keeps its context (net/http would cancel it when the
// deadline passed under its background read) and answers normally.
func TestSlowHandlerOutlivesReadTimeout(t *testing.T) {
	ctxErr := make(chan error, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(700 * time.Millisecond):
		}
		ctxErr <- r.Context().Err()
		writeBody(w, http.StatusOK, []byte(`{"ok":true,"data":`+string(body)+"}\n"))
	})
	ts := deadlineServer(t, 200*time.Millisecond, 5*time.Second,
		[]routeDef{{Route: Route{Method: "POST", Path: "/test/slow"}, handler: slow}})
	resp, err := http.Post(ts.URL+"/api/v1/test/slow", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := <-ctxErr; err != nil {
		t.Fatalf("the handler's context ended after ReadTimeout: %v", err)
	}
	if resp.StatusCode != 200 || string(b) != `{"ok":true,"data":{"a":1}}`+"\n" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// longWrite moves the write deadline through the middleware's writers: a
// route may answer after WriteTimeout; a route without it is cut.
func TestLongWritePassesWriteTimeout(t *testing.T) {
	late := func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(600 * time.Millisecond)
		writeBody(w, http.StatusOK, []byte(`{"ok":true,"data":"late"}`+"\n"))
	}
	ts := deadlineServer(t, time.Second, 200*time.Millisecond, []routeDef{
		{Route: Route{Method: "GET", Path: "/test/long"}, handler: longWrite(5*time.Second, http.HandlerFunc(late))},
		{Route: Route{Method: "GET", Path: "/test/cut"}, handler: http.HandlerFunc(late)},
	})
	resp, err := http.Get(ts.URL + "/api/v1/test/long")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "late") {
		t.Fatalf("long write: %d %s", resp.StatusCode, b)
	}
	if resp, err := http.Get(ts.URL + "/api/v1/test/cut"); err == nil {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("past WriteTimeout without longWrite the answer still arrived: %d %s", resp.StatusCode, b)
		}
	}
}

// A client that sends its headers and then trickles (or never sends) the
// body is cut when ReadTimeout passes: the connection is closed, the handler
// never runs.
func TestSlowBodyIsCutAtReadTimeout(t *testing.T) {
	ran := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { ran <- struct{}{} })
	ts := deadlineServer(t, 300*time.Millisecond, 5*time.Second,
		[]routeDef{{Route: Route{Method: "POST", Path: "/test/body"}, handler: h}})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, err = conn.Write([]byte("POST /api/v1/test/body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":"))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn) // until the server closes
	took := time.Since(start)
	if err != nil || len(got) != 0 {
		t.Fatalf("read %q, %v; want the connection closed without an answer", got, err)
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("cut after %s, want about 300 ms", took)
	}
	select {
	case <-ran:
		t.Fatal("the handler ran without its body")
	default:
	}
}

func TestClientIPRules(t *testing.T) {
	srv := &server{}
	for _, p := range []string{"10.0.0.0/8", "::1", "fd00::/8"} {
		pfx, err := config.ParseTrustedProxy(p)
		if err != nil {
			t.Fatal(err)
		}
		srv.trusted = append(srv.trusted, pfx)
	}
	for _, tc := range []struct {
		name, remote, want string
		h                  []string
	}{
		{"plain peer", "203.0.113.5:1234", "203.0.113.5", nil},
		{"untrusted peer, header ignored", "203.0.113.5:1234", "203.0.113.5", []string{"X-Forwarded-For", "1.1.1.1"}},
		{"trusted peer, no header", "10.0.0.1:80", "10.0.0.1", nil},
		{"trusted peer, XFF", "10.0.0.1:80", "198.51.100.1", []string{"X-Forwarded-For", "198.51.100.1"}},
		{"rightmost untrusted", "10.0.0.1:80", "198.51.100.2", []string{"X-Forwarded-For", "6.6.6.6, 198.51.100.2, 10.0.0.7"}},
		{"XFF over several headers", "10.0.0.1:80", "198.51.100.3", []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "198.51.100.3"}},
		{"all trusted", "10.0.0.1:80", "10.0.0.9", []string{"X-Forwarded-For", "10.0.0.9, 10.0.0.8"}},
		{"garbage behind trusted", "10.0.0.1:80", "10.0.0.8", []string{"X-Forwarded-For", "nonsense, 10.0.0.8"}},
		{"XFF wins over Forwarded", "10.0.0.1:80", "198.51.100.4", []string{"Forwarded", "for=6.6.6.6", "X-Forwarded-For", "198.51.100.4"}},
		{"Forwarded", "10.0.0.1:80", "198.51.100.5", []string{"Forwarded", "for=6.6.6.6, for=198.51.100.5;proto=https;by=10.0.0.1"}},
		{"Forwarded IPv6 with port", "[::1]:80", "2001:db8::17", []string{"Forwarded", `For="[2001:db8::17]:4711"`}},
		{"Forwarded unknown", "10.0.0.1:80", "10.0.0.1", []string{"Forwarded", "for=unknown"}},
		{"XFF with port", "10.0.0.1:80", "198.51.100.6", []string{"X-Forwarded-For", "198.51.100.6:5555"}},
		{"mapped IPv4 peer", "[::ffff:10.0.0.1]:80", "198.51.100.7", []string{"X-Forwarded-For", "198.51.100.7"}},
		{"IPv6 peer", "[2001:db8::1]:443", "2001:db8::1", nil},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for i := 0; i+1 < len(tc.h); i += 2 {
			r.Header.Add(tc.h[i], tc.h[i+1])
		}
		if got := srv.clientIP(r); got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
	for ip, want := range map[string]string{
		"192.0.2.1": "ip:192.0.2.1", "2001:db8:1:2:3:4:5:6": "ip:2001:db8:1:2::/64", "::ffff:192.0.2.1": "ip:192.0.2.1",
	} {
		if got := limitKey(netip.MustParseAddr(ip)); got != want {
			t.Errorf("limitKey(%s) = %s, want %s", ip, got, want)
		}
	}
}
