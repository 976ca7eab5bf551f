package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUSDTSandboxTour is the black-box sandbox tour in USDT, against the
// real binary on the embedded default config (sandbox, USDT on): a USDT
// order paid with POST /sandbox/transfers {"asset":"USDT"} completes; a
// FAKE_USDT transfer with another order's memo changes nothing (order,
// balances and ledger as before); a USDT top-up and a USDT balance order
// (402 when short); a TON payment to a USDT order lands on the TON balance;
// openmoney check passes with rows in both currencies.
func TestUSDTSandboxTour(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "c.yaml")
	body := "store: {path: " + filepath.Join(dir, "om.db") + "}\nhttp: {listen: \"127.0.0.1:0\"}\n" +
		"api: {rate_limit: {per_second: 100000, burst: 100000}}\n"
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := startChild(t, cfgPath)
	hc := &http.Client{Timeout: 5 * time.Second}
	anon := &client{http: hc, base: c.base}
	must := func(cl *client, method, path string, body any, want int) map[string]any {
		t.Helper()
		code, data, err := cl.do(ctx, method, path, body, "")
		if err != nil || code != want {
			t.Fatalf("%s %s %v: %d %v %v, want %d", method, path, body, code, data, err, want)
		}
		return data
	}
	p := &client{http: hc, base: c.base, key: must(anon, "POST", "/sandbox/partners", nil, 200)["api_key"].(string)}
	order := func(currency, method string) map[string]any {
		t.Helper()
		return must(p, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100,
			"payment_method": method, "payment_currency": currency}, 200)
	}
	get := func(id any) map[string]any {
		t.Helper()
		return must(p, "GET", "/orders/"+jsonNum(id), nil, 200)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// A USDT order: priced in USDT units, paid at the service's owner
	// address, with the jetton transfer link.
	o := order("USDT", "ton_memo")
	if o["payment_currency"] != "USDT" || o["price_usdt_units"] != "1575000" || jsonNum(o["price_usdt"]) != "1.575" ||
		!strings.HasPrefix(o["payment_link"].(string), "ton://transfer/"+o["payment_address"].(string)+"?jetton=kQD0GKBM8ZbryVk2aESmzfU6b9b_8era_IkvBSELujFZPsyy&amount=1575000&text=") {
		t.Fatalf("USDT order: %v", o)
	}
	// A FAKE_USDT notification with a second order's memo pays nothing.
	o2 := order("USDT", "ton_memo")
	balBefore := must(p, "GET", "/balance", nil, 200)
	fake := must(p, "POST", "/sandbox/transfers", map[string]any{"asset": "FAKE_USDT", "to_address": o2["payment_address"],
		"amount_units": o2["price_usdt_units"], "comment": o2["payment_memo"]}, 200)
	// The real payment of the first order.
	must(p, "POST", "/sandbox/transfers", map[string]any{"asset": "USDT", "to_address": o["payment_address"],
		"amount_units": o["price_usdt_units"], "comment": o["payment_memo"]}, 200)
	waitFor("the USDT order completed", func() bool { return get(o["id"])["status"] == "completed" })
	done := get(o["id"])
	if done["amount_received_usdt_units"] != "1575000" || done["amount_received_nanoton"] != "0" {
		t.Errorf("completed USDT order: %v", done)
	}
	// The fake was processed before the real payment (the chain is in
	// order): order 2 unchanged, balances and ledger untouched.
	if g := get(o2["id"]); g["status"] != "pending_payment" || g["amount_received_usdt_units"] != "0" {
		t.Errorf("order after a FAKE_USDT notification with its memo: %v (tx %v)", g, fake["tx_hash"])
	}
	if b := must(p, "GET", "/balance", nil, 200); b["balance_usdt_units"] != balBefore["balance_usdt_units"] || b["balance_nanoton"] != balBefore["balance_nanoton"] {
		t.Errorf("balance changed by a FAKE_USDT transfer: %v → %v", balBefore, b)
	}
	if rows := ledger(t, p); len(rows) != 0 {
		t.Errorf("ledger after a fake notification and an exact payment: %v", rows)
	}

	// USDT top-up, USDT balance order (402 when short), TON to a USDT order.
	topup := must(p, "GET", "/balance", nil, 200)["topup_address"].(string)
	code, _, _ := p.do(ctx, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100,
		"payment_method": "balance", "payment_currency": "USDT"}, "")
	if code != 402 {
		t.Errorf("USDT balance order on an empty USDT balance: %d, want 402", code)
	}
	must(p, "POST", "/sandbox/transfers", map[string]any{"asset": "USDT", "to_address": topup, "amount_units": "2000000"}, 200)
	waitFor("the USDT top-up", func() bool { return must(p, "GET", "/balance", nil, 200)["balance_usdt_units"] == "2000000" })
	bo := order("USDT", "balance")
	if bo["status"] != "paid" && bo["status"] != "processing" && bo["status"] != "completed" {
		t.Errorf("USDT balance order: %v", bo)
	}
	must(p, "POST", "/sandbox/transfers", map[string]any{"to_address": o2["payment_address"], "amount_nanoton": o2["price_nanoton"],
		"comment": o2["payment_memo"]}, 200)
	waitFor("TON for a USDT order on the TON balance", func() bool {
		return must(p, "GET", "/balance", nil, 200)["balance_nanoton"] == o2["price_nanoton"]
	})
	if g := get(o2["id"]); g["status"] != "pending_payment" {
		t.Errorf("a USDT order paid in TON changed: %v", g)
	}
	b := must(p, "GET", "/balance", nil, 200)
	if b["balance_usdt_units"] != "425000" || jsonNum(b["balance_usdt"]) != "0.425" {
		t.Errorf("balance after the USDT balance order: %v", b)
	}
	want := []string{"topup USDT 2000000", "order_payment USDT -1575000", "wrong_currency TON " + o2["price_nanoton"].(string)}
	if rows := ledger(t, p); strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("ledger %v, want %v", rows, want)
	}
	c.stop(t)
	var out bytes.Buffer
	if err := run(ctx, []string{"check", "-config", cfgPath}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("openmoney check: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "(TON 1, USDT 2;") {
		t.Errorf("check: %s", out.String())
	}
}

// ledger lists the partner's rows oldest first as "type currency amount".
func ledger(t *testing.T, p *client) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", p.base+"/balance/transactions", nil)
	req.Header.Set("Authorization", "Bearer "+p.key)
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			Items []struct {
				Type        string  `json:"type"`
				Currency    string  `json:"currency"`
				Nanoton     *string `json:"amount_nanoton"`
				USDTUnits   *string `json:"amount_usdt_units"`
				AmountUSDT  any     `json:"amount_usdt"`
				BalanceNano *string `json:"balance_after_nanoton"`
			} `json:"items"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(env.Data.Items) - 1; i >= 0; i-- {
		e := env.Data.Items[i]
		amount := e.Nanoton
		if e.Currency == "USDT" {
			amount = e.USDTUnits
			if e.Nanoton != nil || e.BalanceNano != nil {
				t.Errorf("USDT row with TON fields: %+v", e)
			}
		}
		if amount == nil {
			t.Fatalf("row without its amount: %+v", e)
		}
		out = append(out, e.Type+" "+e.Currency+" "+*amount)
	}
	return out
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
