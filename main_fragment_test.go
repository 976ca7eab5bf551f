package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/internal/fragmentsim"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/ton"
)

// The Fragment session an operator sends with /fragment reaches the real
// Fragment provider as main wires it (fragment.New whose Session asks the
// shop): with the configured session expired, fragment.com (simulated,
// over HTTP) refuses the provider; once the session is set the way the
// bot's /fragment sets it, the provider's check and its next request carry
// the new cookies and hash and are answered; cleared, the configured
// session is used again. The bot's half (the command, the deleted
// message, nothing echoed) is bot's TestOperatorFragmentNeverEchoed.
func TestOperatorFragmentSessionReachesTheProvider(t *testing.T) {
	fs, err := fragmentsim.New(fragmentsim.Options{Latency: time.Millisecond,
		Address: address.NewAddress(0, 0, bytes.Repeat([]byte{0xf1}, 32)).String()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string // the Cookie header and api hash of each call to /api
	fsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api" {
			mu.Lock()
			seen = append(seen, r.Header.Get("Cookie")+" | hash="+r.URL.Query().Get("hash"))
			mu.Unlock()
		}
		fs.ServeHTTP(w, r)
	}))
	defer fsrv.Close()
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return ""
		}
		return seen[len(seen)-1]
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	const staleCookies, staleHash = "stel_ssid=expired; stel_token=old", "00aa11bb22cc33dd44"
	cfgText := fmt.Sprintf(`http: {listen: "127.0.0.1:0"}
store: {path: %q}
ton: {network: testnet, wallet_version: v5r1, wallet_seed: %q}
fulfillment: {provider: fragment, fragment: {base_url: %q, hash: %q, cookies: %q}}
`, filepath.Join(dir, "openmoney.db"), strings.Join(ton.NewSeed(), " "), fsrv.URL, staleHash, staleCookies)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := loadConfig(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ctx := context.Background()
	// No chain given: the liteserver client dials on first use, and nothing
	// here pays, so it never does.
	a, err := build(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.store.Close()
	defer a.payments.Close()

	// The configured session is expired: Fragment refuses it.
	if _, err := a.shop.CheckRecipient(ctx, domain.KindStars, "pandus"); shop.ErrorCode(err) != shop.CodeServiceUnavailable {
		t.Fatalf("recipient check with the expired session: %v", err)
	}
	if got := last(); !strings.Contains(got, "stel_ssid=expired") || !strings.Contains(got, "hash="+staleHash) {
		t.Fatalf("the provider sent %q, want the configured session", got)
	}

	// What the bot's /fragment does with the operator's message.
	res, err := a.shop.SetFragmentSession(ctx, fs.Cookies()+"\nhash="+fs.Hash(), shop.Actor{Name: "@anna_ops (telegram 2001)"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Checked || res.CheckErr != "" {
		t.Fatalf("the provider's check of the new session: %+v", res)
	}
	if got, want := last(), fs.Cookies()+" | hash="+fs.Hash(); got != want {
		t.Fatalf("the check sent %q, want %q", got, want)
	}
	rc, err := a.shop.CheckRecipient(ctx, domain.KindStars, "pandus")
	if err != nil || !rc.CanReceive {
		t.Fatalf("recipient check with the operator's session: %+v %v", rc, err)
	}
	if got := last(); !strings.Contains(got, "stel_ssid=sim-session") || !strings.Contains(got, "hash="+fs.Hash()) {
		t.Fatalf("the next request sent %q, want the operator's session", got)
	}
	if err := a.payments.Available(); err != nil {
		t.Fatalf("the provider still refuses new orders: %v", err)
	}

	// Cleared: the configured (expired) session again.
	if err := a.shop.ClearFragmentSession(ctx, shop.Actor{Name: "@anna_ops (telegram 2001)"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.shop.CheckRecipient(ctx, domain.KindStars, "durov_friend"); shop.ErrorCode(err) != shop.CodeServiceUnavailable {
		t.Fatalf("recipient check after clear: %v", err) // another name: an answer is cached for a while
	}
	if got := last(); !strings.Contains(got, "stel_ssid=expired") {
		t.Fatalf("after clear the provider sent %q", got)
	}
	if strings.Contains(logs.String(), "sim-session") || strings.Contains(logs.String(), fs.Hash()) {
		t.Error("the operator's session reached the log")
	}
}
