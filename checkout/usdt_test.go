package checkout_test

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/jetton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/shop/shoptest"
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
	tr := shoptest.USDTTransfer(t, o.PaymentAddress, "0:"+strings.Repeat("5a", 32), units, o.PaymentMemo, e.Shop.Now())
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
		s.Link != wantLink || s.Wallet != nil || s.WalletURL != o.path()+"/wallet" {
		t.Errorf("USDT status %+v", s)
	}
	e.checkPayerRequest(t, o, s.WalletURL, 1_575_000)

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
	e.checkPayerRequest(t, o, s.WalletURL, 1_075_000)

	e.payUSDT(t, o, 1_075_000)
	if s := e.status(t, o, "en"); s.State != "paid" && s.State != "completed" || s.Link != "" || s.Received != "1.575" || s.WalletURL != "" {
		t.Errorf("paid USDT status %+v", s)
	}
	// Nothing is due any more: no request; a TON order has its request in
	// the status and none here.
	if rec := e.post(t, o.path()+"/wallet", `{"address":"`+payerFriendly(t)+`"}`); rec.Code != http.StatusConflict {
		t.Errorf("wallet request of a paid order: %d %s", rec.Code, rec.Body)
	}
	if rec := e.post(t, e.stars(t).path()+"/wallet", `{"address":"`+payerFriendly(t)+`"}`); rec.Code != http.StatusConflict {
		t.Errorf("wallet request of a TON order: %d %s", rec.Code, rec.Body)
	}
	e.Check(t)
}

// payerRaw is a payer's wallet (raw); payerFriendly its user-friendly form.
const payerRaw = "0:" + "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b"

func payerFriendly(t testing.TB) string {
	a, err := ton.ParseAddress(payerRaw)
	if err != nil {
		t.Fatal(err)
	}
	a.SetTestnetOnly(true)
	return a.String()
}

// post sends a JSON POST through the handler.
func (e *env) post(t testing.TB, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// checkPayerRequest: the TON Connect request of a USDT order for a payer
// (raw and user-friendly address alike) is one message to the payer's own
// USDT jetton wallet (bounceable) with 0.05 TON attached, carrying a TEP-74
// transfer (read back with tonutils-go's TLB type) of the units due to our
// owner address, leftover TON to the payer, forward_ton_amount 1 nanoton
// and the memo as the forward payload's comment; bad addresses get 422.
// (The same body runs on the real TEP-74 and USD₮ contracts in
// ton/jetton_crosscheck_test.go, scenario "built".)
func (e *env) checkPayerRequest(t *testing.T, o orderJSON, url string, due int64) {
	t.Helper()
	wantWallet, err := ton.SandboxJettonWallet(ton.TestnetUSDTMaster, payerRaw)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := ton.RawAddress(o.PaymentAddress)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{payerRaw, payerFriendly(t)} {
		rec := e.post(t, url, `{"address":"`+addr+`"}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", url, rec.Code, rec.Body)
		}
		var w walletJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &w); err != nil {
			t.Fatal(err)
		}
		exp, _ := time.Parse(time.RFC3339, o.ExpiresAt)
		if len(w.Messages) != 1 || w.Network != "-3" || w.ValidUntil != exp.Unix() {
			t.Fatalf("payer request %+v", w)
		}
		m := w.Messages[0]
		to, err := address.ParseAddr(m.Address)
		if err != nil || to.StringRaw() != wantWallet || !to.IsBounceable() || !to.IsTestnetOnly() || m.Amount != strconv.Itoa(ton.JettonPayAttachNano) {
			t.Errorf("message to %s (%v) of %s; want the payer's jetton wallet %s, bounceable, with %d", m.Address, err, m.Amount, wantWallet, ton.JettonPayAttachNano)
		}
		boc, err := base64.StdEncoding.DecodeString(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		c, err := cell.FromBOC(boc)
		if err != nil {
			t.Fatal(err)
		}
		var p jetton.TransferPayload
		if err := tlb.LoadFromCell(&p, c.BeginParse()); err != nil {
			t.Fatalf("payload is not a TEP-74 transfer: %v", err)
		}
		memo := ""
		if p.ForwardPayload != nil {
			sl := p.ForwardPayload.BeginParse()
			if op, err := sl.LoadUInt(32); err == nil && op == 0 {
				memo, _ = sl.LoadStringSnake()
			}
		}
		if p.Amount.Nano().Int64() != due || p.Destination.StringRaw() != owner || p.ResponseDestination.StringRaw() != payerRaw ||
			p.ForwardTONAmount.Nano().Int64() != 1 || p.CustomPayload != nil || memo != o.PaymentMemo {
			t.Errorf("transfer body: %d units to %s, response %s, forward %s, memo %q; want %d to %s with memo %s",
				p.Amount.Nano().Int64(), p.Destination.StringRaw(), p.ResponseDestination.StringRaw(), p.ForwardTONAmount.Nano(), memo, due, owner, o.PaymentMemo)
		}
	}
	for _, body := range []string{`{"address":"nope"}`, `{"address":""}`, `{}`, `not json`, `{"address":"` + payerRaw + `","x":1}`,
		`{"address":"-1:` + strings.Repeat("4b", 32) + `"}`} {
		if rec := e.post(t, url, body); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "VALIDATION_ERROR") {
			t.Errorf("POST %s %s: %d %s, want 422", url, body, rec.Code, rec.Body)
		}
	}
}
