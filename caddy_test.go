package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The reverse-proxy example end to end: deploy/Caddyfile (its site served
// over plain HTTP on loopback: no certificates here) in front of the
// service with http.trusted_proxies set to Caddy's address. The per-IP limit
// of the unauthenticated sandbox route (a burst of 1) must see each real
// client — two source addresses, 127.0.0.2 and 127.0.0.3 — never Caddy's
// own address, and never an X-Forwarded-For a client wrote itself; sent
// straight to the service (not a trusted proxy), such a header is ignored.
func TestCaddyPassesTheClientAddress(t *testing.T) {
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy not installed (apt-get install caddy); deploy/deploy_test.go checks the Caddyfile's properties")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "c.yaml")
	cfg := fmt.Sprintf("http: {listen: \"127.0.0.1:0\", trusted_proxies: [\"127.0.0.1/32\"]}\nstore: {path: %q}\n"+
		"api: {rate_limit: {per_second: 0.001, burst: 1}}\n", filepath.Join(dir, "om.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, cfgPath)
	defer c.stop(t)
	upstream := strings.TrimSuffix(strings.TrimPrefix(c.base, "http://"), "/api/v1")

	// The example, with only what a machine without the internet needs changed.
	example, err := os.ReadFile("deploy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := ln.Addr().String()
	ln.Close()
	local := string(example)
	for old, repl := range map[string]string{
		"api.example.com {":                               "http://" + front + " {",
		"reverse_proxy 127.0.0.1:8080":                    "reverse_proxy " + upstream,
		"email ops@example.com":                           "admin off",
		"output file /var/log/caddy/openmoney-access.log": "output discard",
	} {
		if !strings.Contains(local, old) {
			t.Fatalf("deploy/Caddyfile no longer has %q", old)
		}
		local = strings.Replace(local, old, repl, 1)
	}
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	var clog strings.Builder
	cmd.Stdout, cmd.Stderr = &clog, &clog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	from := func(src string) *http.Client {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	}
	post := func(client *http.Client, base, xff string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/api/v1/sandbox/partners", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
			req.Header.Set("Forwarded", "for="+xff)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST via %s: %v\ncaddy: %s", base, err, clog.String())
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	viaCaddy := "http://" + front
	deadline := time.Now().Add(20 * time.Second)
	for { // until Caddy answers (the health route is not rate limited)
		resp, err := from("127.0.0.1").Get(viaCaddy + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not start: %v\n%s", err, clog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	a, b := from("127.0.0.2"), from("127.0.0.3")
	if got := post(a, viaCaddy, "6.6.6.6"); got != 200 {
		t.Fatalf("first request of client A through Caddy: %d", got)
	}
	if got := post(a, viaCaddy, "7.7.7.7"); got != 429 {
		t.Errorf("client A again, claiming another address: %d, want 429 (Caddy replaces the header)", got)
	}
	if got := post(b, viaCaddy, ""); got != 200 {
		t.Errorf("client B through Caddy: %d, want 200 (its own address, not Caddy's)", got)
	}
	direct := strings.TrimSuffix(c.base, "/api/v1")
	if got := post(a, direct, "8.8.8.8"); got != 429 {
		t.Errorf("client A straight to the service with a forged X-Forwarded-For: %d, want 429 (not a trusted proxy)", got)
	}
	// The operator routes are closed at the proxy.
	resp, err := a.Get(viaCaddy + "/api/v1/admin/integrity")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("admin route through Caddy: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
