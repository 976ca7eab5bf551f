package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// RequireTourEnv, when set, turns missing curl or jq into a failure
// (.ci/run installs them and sets it).
const RequireTourEnv = "OPENMONEY_TEST_REQUIRE_TOUR"

// readmeTour is the shell block of the README's "A curl tour (sandbox)".
func readmeTour(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## A curl tour (sandbox)\n")
	if !ok {
		t.Fatal(`README.md has no "## A curl tour (sandbox)" section`)
	}
	_, rest, ok = strings.Cut(rest, "\n```sh\n")
	if !ok {
		t.Fatal("the tour has no ```sh block")
	}
	script, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatal("the tour's ```sh block is not closed")
	}
	return script
}

// TestREADMETour runs the README's curl tour, as written, with bash, curl
// and jq against the real binary on the embedded default config (sandbox,
// USDT on): only the base URL is the child's, and the last step (go run .
// check after stopping the service) runs in-process after stopping it.
// Then it checks where the tour leaves the orders, the balances in both
// currencies and the ledger.
func TestREADMETour(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv(RequireTourEnv) != "" {
				t.Fatalf("%s is set but %s is not installed", RequireTourEnv, tool)
			}
			t.Skipf("no %s (apt-get install curl jq; set %s=1 to make this a failure)", tool, RequireTourEnv)
		}
	}
	script := readmeTour(t)
	const baseLine, checkLine = "B=http://127.0.0.1:8080/api/v1\n", "\ngo run . check"
	if !strings.HasPrefix(script, baseLine) || !strings.HasSuffix(script, checkLine) {
		t.Fatalf("the tour must start with %q and end with %q:\n%s", baseLine, checkLine, script)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "c.yaml")
	cfg := "store: {path: " + filepath.Join(dir, "om.db") + "}\nhttp: {listen: \"127.0.0.1:0\"}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, cfgPath)

	// uuidgen is in uuid-runtime, not always installed: the kernel's
	// random UUID stands in for it.
	prelude := "set -euo pipefail\ncommand -v uuidgen >/dev/null || uuidgen() { cat /proc/sys/kernel/random/uuid; }\n"
	body := "B=" + c.base + "\n" + strings.TrimSuffix(strings.TrimPrefix(script, baseLine), checkLine) +
		"\nprintf 'TOUR_KEY=%s\\n' \"$KEY\"\n"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", prelude+body)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the tour failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if testing.Verbose() {
		t.Logf("tour output:\n%s", out)
	}
	key := regexp.MustCompile(`TOUR_KEY=(osk_\S+)`).FindStringSubmatch(out)
	if key == nil {
		t.Fatalf("no key from the tour:\n%s", out)
	}
	// What the tour printed along the way: the USDT order priced, untouched
	// by the fake jetton, then paid; the USDT top-up and balance order.
	for _, want := range []string{
		`"price_usdt": 1.575`, `"price_usdt_units": "1575000"`, `"payment_link": "ton://transfer/`, `?jetton=`,
		"{\n  \"status\": \"pending_payment\",\n  \"amount_received_usdt_units\": \"0\"\n}",
		"\",\n  \"amount_received_usdt\": 1.575,", // paid, delivering or completed a second later
		`"balance_usdt": 2,`, `{"type":"topup","currency":"USDT","amount_ton":null,"amount_usdt":2}`,
		`{"type":"order_payment","currency":"USDT","amount_ton":null,"amount_usdt":-1.575}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the tour's output lacks %q", want)
		}
	}

	// Where the tour leaves the service.
	p := &client{http: &http.Client{Timeout: 5 * time.Second}, base: c.base, key: key[1]}
	code, bal, err := p.do(ctx, "GET", "/balance", nil, "")
	if err != nil || code != 200 {
		t.Fatalf("GET /balance: %d %v", code, err)
	}
	// 5 TON − 3.497083334 (3 months of Premium); 2 USDT − 1.575 (100 Stars).
	if bal["balance_nanoton"] != "1502916666" || bal["balance_usdt_units"] != "425000" {
		t.Errorf("balance after the tour: %v", bal)
	}
	want := []string{"topup TON 5000000000", "order_payment TON -3497083334", "topup USDT 2000000", "order_payment USDT -1575000"}
	if rows := ledger(t, p); strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("ledger %v, want %v", rows, want)
	}
	// Four orders: TON stars and USDT stars paid by transfers, TON premium
	// and USDT stars from the balance; the sandbox delivers them all (the
	// last one was "paid" when the tour printed it).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/orders?limit=100", nil)
		req.Header.Set("Authorization", "Bearer "+key[1])
		resp, err := p.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		list, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		n := strings.Count(string(list), `"status":"completed"`)
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d completed orders after the tour, want 4: %s", n, list)
		}
	}

	// Step 8: stop the service, then openmoney check.
	c.stop(t)
	var chk bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", cfgPath}, os.Getenv, &chk, io.Discard); err != nil {
		t.Fatalf("openmoney check after the tour: %v\n%s", err, chk.String())
	}
}
