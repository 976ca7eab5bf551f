package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// maxNano is the overflow transfer of issue 15: max int64 nanotons.
const maxNano = "9223372036854775807"

// The poison transfer, against the real binary: the overflow
// transfer to a paid partner's top-up address is parked while another
// partner's exact payment completes within 2 s, through the sandbox chain
// and the listener loop; health says degraded; an operator assigns one and
// retries another, each exactly once under 8 concurrent calls; a restart
// replays nothing; openmoney check passes and counts them.
func TestPoisonTransferParkedWhileOthersPay(t *testing.T) {
	const token = "0123456789abcdef0123"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	body := "store: {path: " + filepath.Join(dir, "om.db") + "}\nhttp: {listen: \"127.0.0.1:0\"}\nadmin: {token: \"" + token + "\"}\n" +
		"api: {rate_limit: {per_second: 100000, burst: 100000}}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := startChild(t, cfg)
	t.Cleanup(func() { _ = c.cmd.Process.Kill() }) // on failure; a stopped child is gone already
	hc := &http.Client{Timeout: 5 * time.Second}
	anon := &client{http: hc, base: c.base}
	admin := &client{http: hc, base: c.base, key: token}
	must := func(cl *client, method, path string, body any, want int) map[string]any {
		t.Helper()
		code, data, err := cl.do(ctx, method, path, body, "")
		if err != nil || code != want {
			t.Fatalf("%s %s: %d %v %v, want %d", method, path, code, data, err, want)
		}
		return data
	}
	partner := func() (*client, int64, string) {
		t.Helper()
		data := must(anon, "POST", "/sandbox/partners", nil, 200)
		p := &client{http: hc, base: c.base, key: data["api_key"].(string)}
		b := must(p, "GET", "/balance", nil, 200)
		return p, int64(data["partner_id"].(float64)), b["topup_address"].(string)
	}
	send := func(p *client, to, nano, comment string) {
		t.Helper()
		must(p, "POST", "/sandbox/transfers", map[string]any{"to_address": to, "amount_nanoton": nano, "comment": comment}, 200)
	}
	waitBalance := func(p *client, want string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for must(p, "GET", "/balance", nil, 200)["balance_nanoton"] != want {
			if time.Now().After(deadline) {
				t.Fatalf("balance never reached %s", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	parked := func(query string) []any {
		return must(admin, "GET", "/admin/parked"+query, nil, 200)["items"].([]any)
	}

	// A paid partner, then the overflow transfer to its top-up address.
	a, _, aTopup := partner()
	send(a, aTopup, "1000000000", "")
	waitBalance(a, "1000000000")
	send(a, aTopup, maxNano, "")

	// Another partner's exact payment completes within 2 s.
	b, _, _ := partner()
	o := must(b, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100}, 200)
	id := fmt.Sprint(int64(o["id"].(float64)))
	start := time.Now()
	send(b, o["payment_address"].(string), o["price_nanoton"].(string), o["payment_memo"].(string))
	for must(b, "GET", "/orders/"+id, nil, 200)["status"] != "completed" {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the other partner's exact payment did not complete within 2 s behind a poison transfer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("exact payment completed %v after the transfer, behind the poison one", time.Since(start).Round(time.Millisecond))

	items := parked("?status=open")
	if len(items) != 1 {
		t.Fatalf("parked: %v", items)
	}
	p1 := items[0].(map[string]any)
	if p1["amount_nanoton"] != maxNano || !strings.Contains(p1["error"].(string), "overflows") {
		t.Fatalf("parked record %v", p1)
	}
	h := must(anon, "GET", "/health", nil, 200)
	if h["status"] != "degraded" || h["payments"].(map[string]any)["parked_transfers"] != float64(1) {
		t.Fatalf("health %v", h)
	}
	waitBalance(a, "1000000000") // nothing of the poison credited

	// Concurrent operators: 8 assignments of the parked transfer to a
	// partner whose balance can take it; exactly one wins.
	cPartner, cID, _ := partner()
	hammer := func(path string, body any) {
		t.Helper()
		var wg sync.WaitGroup
		codes := make([]int, 8)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, err := admin.do(ctx, "POST", path, body, "")
				if err != nil {
					t.Error(err)
				}
				codes[i] = code
			}()
		}
		wg.Wait()
		ok, conflict := 0, 0
		for _, code := range codes {
			switch code {
			case 200:
				ok++
			case 409:
				conflict++
			}
		}
		if ok != 1 || conflict != 7 {
			t.Fatalf("%s: answers %v, want one 200 and seven 409", path, codes)
		}
	}
	hammer(fmt.Sprintf("/admin/parked/%d/assign", int64(p1["id"].(float64))), map[string]any{"partner_id": cID, "operator": "ops"})
	waitBalance(cPartner, maxNano)

	// A second poison transfer, retried once its cause is gone: the partner
	// spends its whole balance, so the same credit now fits.
	d, _, dTopup := partner()
	send(d, dTopup, "437500000", "") // exactly 100 stars
	waitBalance(d, "437500000")
	send(d, dTopup, maxNano, "")
	var p2 map[string]any
	deadline := time.Now().Add(time.Minute)
	for p2 == nil {
		if items := parked("?status=open"); len(items) == 1 {
			p2 = items[0].(map[string]any)
		} else if time.Now().After(deadline) {
			t.Fatal("the second poison transfer was not parked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p2id := int64(p2["id"].(float64))
	if code, _, _ := admin.do(ctx, "POST", fmt.Sprintf("/admin/parked/%d/retry", p2id), nil, ""); code != 409 {
		t.Fatalf("retry while it still overflows: %d", code)
	}
	must(d, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100, "payment_method": "balance"}, 200)
	hammer(fmt.Sprintf("/admin/parked/%d/retry", p2id), map[string]any{"operator": "ops"})
	waitBalance(d, maxNano)
	if n := len(parked("?status=open")); n != 0 {
		t.Fatalf("%d still parked", n)
	}
	if h := must(anon, "GET", "/health", nil, 200); h["status"] != "ok" {
		t.Fatalf("health after resolving: %v", h)
	}
	audit := must(admin, "GET", "/admin/audit", nil, 200)["items"].([]any)
	if len(audit) != 3 { // the refused retry, the assignment, the retry
		t.Fatalf("audit %v", audit)
	}

	// A restart replays the chain from the cursor: nothing is parked or
	// credited again.
	c.stop(t)
	c = startChild(t, cfg)
	anon.base, admin.base, a.base, d.base = c.base, c.base, c.base, c.base
	waitCaughtUp(t, a)
	if n := len(parked("")); n != 2 {
		t.Fatalf("%d parked records after a restart, want the 2 resolved ones", n)
	}
	waitBalance(d, maxNano)
	c.stop(t)

	var out bytes.Buffer
	if err := run(ctx, []string{"check", "-config", cfg}, os.Getenv, &out, &out); err != nil {
		t.Fatalf("openmoney check: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "2 parked transfers (2 resolved)") || !strings.Contains(out.String(), "OK") {
		t.Fatalf("check output:\n%s", out.String())
	}
	t.Log(strings.TrimSpace(out.String()))
}
