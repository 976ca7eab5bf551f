package checkout_test

import (
	"encoding/base64"
	"html"
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/ton"
)

// usdtStars is 100 Stars paid in USDT (1.575 USDT at the default config).
func (e *env) usdtStars(t testing.TB) orderJSON {
	return e.create(t, `{"recipient_username":"pandus","quantity":100,"payment_currency":"USDT"}`)
}

// payUSDT lands units of USDT in the order address's USDT jetton wallet
// with the order's memo, as the listener reports it (built by the ton
// package's own code, as in the sandbox chain).
func (e *env) payUSDT(t testing.TB, o orderJSON, units int64) {
	t.Helper()
	owner, err := ton.RawAddress(o.PaymentAddress)
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := ton.SandboxJettonWallet(ton.TestnetUSDTMaster, owner)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ton.SandboxJettonTransfer(ton.JettonWallet{Asset: ton.AssetUSDT, Master: ton.TestnetUSDTMaster, Owner: owner, Wallet: wallet},
		"0:"+strings.Repeat("5a", 32), units, o.PaymentMemo)
	if err != nil {
		t.Fatal(err)
	}
	tr.Hash, tr.ChainTime = hash(), e.Shop.Now()
	if _, err := e.Shop.ApplyTransfer(ctx, tr); err != nil {
		t.Fatal(err)
	}
}

// TestUSDTOrderPage: a USDT order's page shows the exact USDT amount (and
// USD), the jetton transfer link and its QR, the memo and the USD₮-only
// warning naming the master; no TON Connect request (docs/CHECKOUT.md);
// the live status counts in USDT units, the amount still due after a
// partial payment included.
func TestUSDTOrderPage(t *testing.T) {
	e := newEnv(t)
	o := e.usdtStars(t)
	master := e.Shop.USDTMaster()
	wantLink := "ton://transfer/" + o.PaymentAddress + "?jetton=" + master + "&amount=1575000&text=" + o.PaymentMemo
	if o.PaymentLink != wantLink {
		t.Fatalf("payment_link %q, want %q", o.PaymentLink, wantLink)
	}
	rec := e.get(t, o.path())
	if rec.Code != 200 {
		t.Fatalf("page: %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<span id="price">1.575</span> USDT`, "≈ $1.58", `<code id="f-amount">1.575</code> USDT`,
		o.PaymentMemo, o.PaymentAddress, "Send the exact comment above",
		`href="` + html.EscapeString(wantLink) + `"`,
		`<p id="usdt-warn" class="warn">Send USD₮ on TON only`, `<code class="addr">` + master + `</code>`,
		"Send 1.575 USDT with the comment " + o.PaymentMemo,
		`<button id="tc" class="btn primary" type="button" hidden>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("USDT page lacks %q", want)
		}
	}
	if strings.Contains(body, "> TON</p>") || strings.Contains(body, "</code> TON") {
		t.Error("the USDT page shows a TON amount")
	}
	m := qrSrc.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no QR image in the page")
	}
	png, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, decodePNG(t, png)); got != wantLink {
		t.Errorf("QR says %q, want %q", got, wantLink)
	}

	s := e.status(t, o, "en")
	if s.State != "waiting" || s.Currency != "USDT" || s.Due != "1.575" || s.DueUnits != "1575000" || s.Received != "0" ||
		s.Link != wantLink || s.Wallet != nil {
		t.Errorf("USDT status %+v", s)
	}

	// 0.5 USDT arrives: 1.075 USDT is due, the link and the QR say so.
	e.payUSDT(t, o, 500_000)
	s = e.status(t, o, "en")
	dueLink := strings.Replace(wantLink, "amount=1575000", "amount=1075000", 1)
	if s.State != "partial" || s.Due != "1.075" || s.DueUnits != "1075000" || s.Received != "0.5" || s.Link != dueLink ||
		!strings.Contains(s.Detail, "0.5 USDT received; 1.075 USDT is still due") || s.Wallet != nil {
		t.Errorf("partial USDT status %+v", s)
	}
	if rec := e.get(t, s.QR); rec.Code != 200 || decodeQR(t, decodePNG(t, rec.Body.Bytes())) != dueLink {
		t.Errorf("partial USDT QR: %d", rec.Code)
	}
	if body := e.get(t, o.path()).Body.String(); !strings.Contains(body, `<code id="f-amount">1.075</code> USDT`) {
		t.Error("the page of a partly paid USDT order does not show what is due")
	}
	if id := e.status(t, o, "id"); !strings.Contains(id.Detail, "0.5 USDT diterima; kurang 1.075 USDT") {
		t.Errorf("Indonesian partial detail %q", id.Detail)
	}

	e.payUSDT(t, o, 1_075_000)
	if s := e.status(t, o, "en"); s.State != "paid" && s.State != "completed" || s.Link != "" || s.Received != "1.575" {
		t.Errorf("paid USDT status %+v", s)
	}
	e.Check(t)
}
