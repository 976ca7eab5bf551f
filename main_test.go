package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, os.Getenv, &out, &out); err != nil || !strings.HasPrefix(out.String(), "openmoney ") {
		t.Fatalf("version: %q, %v", out.String(), err)
	}
}

func TestBadConfigStopsStartupWithExitCode2(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"pricing.fee_percent: must be between 0 and 100": "pricing: {fee_percent: 101}\n",
		"ton.netwrok: unknown key":                       "ton: {netwrok: sandbox}\n",
		"ton.wallet_seed":                                "ton: {network: mainnet}\n",
		"ton.trusted_block": "ton: {network: testnet, trusted_block: latest, wallet_seed: '" + strings.Join(shoptest.Seed, " ") + "'}\n" +
			"fulfillment: {provider: manual}\nstore: {path: '" + filepath.Join(dir, "tb.db") + "'}\n",
	} {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		err := run(context.Background(), []string{"-config", path}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("config %q: got %v; want one line with %q and exit code 2", body, err, name)
		}
	}
}

// openmoney check exits 0 when clean, 1 with violations (one VIOLATION line
// each), 2 when it could not check (no store, store held, bad config), with
// one line saying so.
func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	db := filepath.Join(dir, "om.db")
	if err := os.WriteFile(cfg, []byte("store: {path: "+db+"}\nhttp: {listen: \"127.0.0.1:0\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(args ...string) (int, string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"check"}, args...), os.Getenv, &out, &out)
		code := 0
		var ee exitError
		switch {
		case errors.As(err, &ee):
			code = ee.code
		case err != nil:
			code = 1
		}
		return code, out.String(), err
	}
	oneLine := func(what string, err error, want string) {
		t.Helper()
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "stop") > 1 {
			t.Errorf("%s: %v; want one line with %q and the advice once", what, err, want)
		}
	}
	code, _, err := check("-config", cfg)
	if code != 2 {
		t.Fatalf("missing store: exit %d, want 2 (%v)", code, err)
	}
	oneLine("missing store", err, "no store at "+db)
	if code, _, err := check("-config", filepath.Join(dir, "nope.yaml")); code != 2 {
		t.Fatalf("missing config: exit %d (%v)", code, err)
	}

	c := startChild(t, cfg)
	code, _, err = check("-config", cfg)
	if code != 2 {
		t.Fatalf("while the service runs: exit %d, want 2 (%v)", code, err)
	}
	oneLine("held store", err, "held by the running service")
	c.stop(t)
	if code, out, err := check("-config", cfg); code != 0 || !strings.Contains(out, "OK (0 violations)") {
		t.Fatalf("after stop: exit %d %v\n%s", code, err, out)
	}

	// A balance that disagrees with its ledger: exit 1, one VIOLATION line.
	st, err := store.OpenBolt(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(context.Background(), func(tx store.Tx) error {
		id, err := tx.NextPartnerID()
		if err != nil {
			return err
		}
		// PutPartner never writes a balance; the copy's restore does, as given.
		return tx.(store.Restorer).RestorePartner(&domain.Partner{ID: id, BalanceNano: 5, TopupAddressRaw: "0:ab", TopupAddress: "x"})
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, err := check("-config", cfg)
	if code != 1 || strings.Count(out, "VIOLATION:") != 1 {
		t.Fatalf("with a violation: exit %d %v\n%s", code, err, out)
	}
	oneLine("violations", err, "integrity check failed: 1 violations")
}

// The API serves without a token, and with a token whose Bot API server is
// unreachable (the bot retries in the background; health says degraded).
func TestServesWithoutTelegramAndWithUnreachableTelegram(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		degraded    bool
	}{
		{"no token", "", false},
		{"unreachable Bot API", "telegram: {token: \"123:abc\", api_url: \"http://127.0.0.1:1\"}\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "c.yaml")
			body := "store: {path: " + filepath.Join(dir, "om.db") + "}\nhttp: {listen: \"127.0.0.1:0\"}\n" + tc.extra
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c := startChild(t, cfg)
			defer c.stop(t)
			cl := &client{http: &http.Client{Timeout: 5 * time.Second}, base: c.base}
			if code, data, err := cl.do(context.Background(), "POST", "/sandbox/partners", nil, ""); err != nil || code != 200 || data["api_key"] == nil {
				t.Fatalf("sandbox partner: %d %v %v", code, data, err)
			}
			deadline := time.Now().Add(time.Minute)
			for {
				code, data, err := cl.do(context.Background(), "GET", "/health", nil, "")
				if err != nil || code != 200 {
					t.Fatalf("health: %d %v", code, err)
				}
				if got := data["status"] == "degraded"; got == tc.degraded {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("health %v; want degraded=%v", data, tc.degraded)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// With metrics.listen and admin.token the binary serves /metrics on its own
// listener (never on the API's) and the admin routes with the token.
func TestWiringMetricsAndAdmin(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	body := "store: {path: " + filepath.Join(dir, "om.db") + "}\nhttp: {listen: \"127.0.0.1:0\"}\nmetrics: {listen: \"" + maddr + "\"}\nadmin: {token: \"0123456789abcdef0123\"}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, cfg)
	defer c.stop(t)
	cl := &client{http: &http.Client{Timeout: 5 * time.Second}, base: c.base}
	if code, _, err := cl.do(context.Background(), "POST", "/sandbox/partners", nil, ""); err != nil || code != 200 {
		t.Fatal(code, err)
	}
	admin := &client{http: cl.http, base: c.base, key: "0123456789abcdef0123"}
	if code, data, err := admin.do(context.Background(), "GET", "/admin/integrity", nil, ""); err != nil || code != 200 {
		t.Fatalf("admin integrity: %d %v %v", code, data, err)
	}
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `route="POST /api/v1/sandbox/partners",status="200"`) {
		t.Fatalf("no request counted:\n%s", b)
	}
	resp, err = http.Get(strings.TrimSuffix(c.base, "/api/v1") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("/metrics on the API listener: %d", resp.StatusCode)
	}
}
