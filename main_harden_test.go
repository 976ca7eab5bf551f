package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/pricing"
)

var testSeed = strings.TrimSpace(strings.Repeat("abandon ", 24))

// A configuration that would take real money unsafely stops start-up, as
// main runs it: exit code 2 and one line naming the key.
func TestUnsafeStartExits2NamingTheKey(t *testing.T) {
	dir := t.TempDir()
	mainnet := "ton: {network: mainnet, wallet_seed: '" + testSeed + "'}\n"
	for _, tc := range []struct{ name, body, key string }{
		{"mainnet with the sandbox provider", mainnet, "fulfillment.provider: sandbox"},
		{"testnet with the sandbox provider", "ton: {network: testnet, wallet_seed: '" + testSeed + "'}\nfulfillment: {provider: sandbox}\n", "fulfillment.provider: sandbox"},
		{"plain http rate on mainnet", mainnet + "fulfillment: {provider: manual}\npricing: {ton_usd: 0, rate_url: 'http://rates.example/ton'}\n", "pricing.rate_url: must be an https URL"},
		{"plain http liteserver config on mainnet", "ton: {network: mainnet, wallet_seed: '" + testSeed + "', config_url: 'http://ton.example/global.config.json'}\nfulfillment: {provider: manual}\n", "ton.config_url: must be an https URL"},
		{"sandbox on every interface", "http: {listen: '0.0.0.0:0'}\n", "http.listen: \"0.0.0.0:0\" is not a loopback address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"-config", path}, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
			var ee exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tc.key) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v (stderr %q); want one line with %q and exit code 2", err, stderr.String(), tc.key)
			}
			if stderr.Len() != 0 {
				t.Fatalf("something started: %s", stderr.String())
			}
		})
	}
}

// A fixed rate outside sandbox is allowed but warned about at start; in
// sandbox, and with a live rate, there is no warning.
func TestFixedRateOutsideSandboxWarns(t *testing.T) {
	for _, tc := range []struct {
		network, tonUSD string
		warn, live      bool
	}{
		{"mainnet", "3.6", true, false},
		{"testnet", "2.5", true, false},
		{"sandbox", "3.6", false, false},
		{"mainnet", "0", false, true},
	} {
		cfg := config.Default()
		cfg.TON.Network, cfg.Pricing.TonUSD, cfg.Pricing.RateURL = tc.network, config.Decimal(tc.tonUSD), "https://rates.example/ton"
		var buf bytes.Buffer
		rates, refresh := rateSource(cfg, slog.New(slog.NewJSONHandler(&buf, nil)))
		warned := strings.Contains(buf.String(), `"level":"WARN"`) &&
			strings.Contains(buf.String(), "pricing.ton_usd is fixed at "+tc.tonUSD+" USD on "+tc.network)
		if warned != tc.warn {
			t.Errorf("%s %s: warned %v, log %s", tc.network, tc.tonUSD, warned, buf.String())
		}
		if _, isLive := rates.(*pricing.Live); isLive != tc.live || (refresh != nil) != tc.live {
			t.Errorf("%s %s: source %T", tc.network, tc.tonUSD, rates)
		}
	}
}

func TestHTTPServerLimits(t *testing.T) {
	srv := newHTTPServer(nil)
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 15*time.Second || srv.WriteTimeout != 60*time.Second ||
		srv.IdleTimeout != 60*time.Second || srv.MaxHeaderBytes != 16<<10 {
		t.Fatalf("limits %v %v %v %v %d differ from docs/OPERATIONS.md", srv.ReadHeaderTimeout, srv.ReadTimeout,
			srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	if srv.MaxHeaderBytes > 64<<10 || srv.ReadTimeout < srv.ReadHeaderTimeout {
		t.Fatal("limits out of their bounds")
	}
}

// The running binary cuts a client that sends its headers and then
// trickles (one byte a second) or withholds its body, within the
// documented ReadTimeout (15 s); headers over 16 KiB get 431.
func TestSlowBodyClientIsCut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("store: {path: "+filepath.Join(dir, "om.db")+"}\nhttp: {listen: \"127.0.0.1:0\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, cfg)
	addr := strings.TrimSuffix(strings.TrimPrefix(c.base, "http://"), "/api/v1")
	head := "POST /api/v1/orders/stars HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer osk_x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"

	var wg sync.WaitGroup
	for _, trickle := range []bool{false, true} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			start := time.Now()
			if _, err := conn.Write([]byte(head)); err != nil {
				t.Error(err)
				return
			}
			if trickle {
				go func() {
					for range 60 {
						time.Sleep(time.Second)
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}()
			}
			_ = conn.SetReadDeadline(time.Now().Add(httpReadTimeout + 15*time.Second))
			got, err := io.ReadAll(conn)
			took := time.Since(start)
			if err != nil || len(got) != 0 {
				t.Errorf("trickle %v: read %q, %v; want the connection closed", trickle, got, err)
			}
			if took < httpReadTimeout-time.Second || took > httpReadTimeout+5*time.Second {
				t.Errorf("trickle %v: cut after %s, want about %s", trickle, took, httpReadTimeout)
			}
		}()
	}
	// Oversized headers, meanwhile.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 24<<10) + "\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.HasPrefix(string(b), "HTTP/1.1 431 ") {
		t.Errorf("24 KiB of headers: %.60q", b)
	}
	wg.Wait()
	c.stop(t)
	// The cut requests changed no money: openmoney check on the stopped store.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", cfg}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("openmoney check: %v\n%s", err, out.String())
	}
}
