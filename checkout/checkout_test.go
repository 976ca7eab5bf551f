package checkout_test

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil/manual"
	"github.com/theopenmoney/openmoney/internal/tgwebapp"
	"github.com/theopenmoney/openmoney/shop"
)

var qrSrc = regexp.MustCompile(`<img id="qr" src="data:image/png;base64,([^"]+)"`)

// TestPage: the page of a sandbox order shows what is bought and for whom,
// the amount in TON and USD, the memo with its warning, the address, the
// expiry and countdown, the ton:// link as a link and as a QR code (in the
// HTML: no JavaScript needed), under a strict CSP, never cached, never
// sending a referrer.
func TestPage(t *testing.T) {
	e := newEnv(t)
	o := e.stars(t)
	if o.CheckoutURL == nil || !regexp.MustCompile(`^https://pay\.example\.com/pay/[A-Za-z0-9_-]{43}$`).MatchString(*o.CheckoutURL) {
		t.Fatalf("checkout_url %v", o.CheckoutURL)
	}
	rec := e.get(t, o.path(), "Accept-Language", "en-US,en;q=0.9")
	if rec.Code != http.StatusOK {
		t.Fatalf("page: %d %s", rec.Code, rec.Body)
	}
	h := rec.Header()
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
	} {
		if h.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, h.Get(k), want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'self' https://web.telegram.org"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(strings.Split(strings.Split(csp, "script-src")[1], ";")[0], "unsafe-inline") {
		t.Errorf("CSP allows inline or eval'd scripts: %q", csp)
	}
	if h.Get("RateLimit-Limit") == "" {
		t.Error("no RateLimit-Limit: the page is not rate limited")
	}
	body := rec.Body.String()
	for _, want := range []string{
		"100 Telegram Stars", "@pandus</b>", "0.4375</span> TON", "≈ $1.58",
		o.PaymentMemo, o.PaymentAddress, "Send the exact comment above", // memo, address, the warning
		html.EscapeString(o.PaymentLink),               // the "open in wallet" link
		"Pay before", `datetime="` + o.ExpiresAt + `"`, // expiry
		`href="` + html.EscapeString(o.PaymentLink) + `"`,
		`<html lang="en">`, "Waiting for your payment",
		"<noscript>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`<b id="countdown">1[45]:[0-5]\d left</b>`).MatchString(body) {
		t.Error("no countdown in the page")
	}
	// No inline script: only data (JSON) and the page's own file.
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		if m != `<script type="application/json" id="om-data">` && !strings.HasPrefix(m, `<script src="/assets/checkout.js?v=`) {
			t.Errorf("script element %s", m)
		}
	}
	// The QR in the HTML is the ton:// link.
	m := qrSrc.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no QR image in the page")
	}
	png, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, decodePNG(t, png)); got != o.PaymentLink {
		t.Errorf("QR says %q, want %q", got, o.PaymentLink)
	}
	// The QR route gives the same picture.
	if rec := e.get(t, o.path()+"/qr.png"); rec.Code != http.StatusOK || decodeQR(t, decodePNG(t, rec.Body.Bytes())) != o.PaymentLink {
		t.Errorf("qr.png: %d", rec.Code)
	}

	// The status the page polls.
	s := e.status(t, o, "en")
	if s.State != "waiting" || s.Link != o.PaymentLink || s.DueUnits != o.PriceNanoton || s.ExpiresIn < 880 || s.ExpiresIn > 900 || s.Final {
		t.Errorf("status %+v", s)
	}
	if s.Wallet == nil || len(s.Wallet.Messages) != 1 || s.Wallet.Network != "-3" {
		t.Fatalf("wallet request %+v", s.Wallet)
	}
	msg := s.Wallet.Messages[0]
	exp, _ := time.Parse(time.RFC3339, o.ExpiresAt)
	if msg.Address != o.PaymentAddress || msg.Amount != o.PriceNanoton || s.Wallet.ValidUntil != exp.Unix() || msg.Payload == "" {
		t.Errorf("wallet message %+v valid until %d; order %+v", msg, s.Wallet.ValidUntil, o)
	}
}

// TestPageNeverShowsPartnerData: neither the page, its status, its QR nor
// the Mini App list carries anything of the partner: name, id, key, key
// prefix, top-up address, balance, client_reference, order id.
func TestPageNeverShowsPartnerData(t *testing.T) {
	e := newEnv(t)
	o := e.stars(t)
	e.pay(t, o, 1_000_000) // a partial payment: the page then shows more
	p, err := e.Shop.Partner(ctx, e.partner.ID)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"partner name": partnerName, "client_reference": reference, "API key": e.key, "key prefix": e.key[:12],
		"top-up address": p.TopupAddress, "top-up address (raw)": p.TopupAddressRaw,
	}
	var pages []string
	for _, path := range []string{o.path(), o.path() + "?lang=id", o.path() + "/status", o.path() + "/status?lang=id"} {
		rec := e.get(t, path)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", path, rec.Code)
		}
		pages = append(pages, rec.Body.String())
	}
	for i, pg := range pages {
		for what, s := range secrets {
			if strings.Contains(pg, s) {
				t.Errorf("page %d shows the %s (%q)", i, what, s)
			}
		}
		if regexp.MustCompile(`(?i)order\s*(#|id|no\.?)\s*` + strconv.FormatInt(o.ID, 10) + `\b`).MatchString(pg) {
			t.Errorf("page %d shows the order id", i)
		}
		if strings.Contains(pg, "partner") {
			t.Errorf("page %d mentions the partner", i)
		}
	}
	// The JSON status has exactly the documented fields.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(pages[2]), &fields); err != nil {
		t.Fatal(err)
	}
	allowed := "state status title detail final currency due due_units received expires_in link qr wallet wallet_url return_url return_text"
	for k := range fields {
		if !strings.Contains(" "+allowed+" ", " "+k+" ") {
			t.Errorf("status has field %q", k)
		}
	}
}

// TestTokens: a random token, another order's token changed by one
// character, the order id and a balance order get 404 (a page, or JSON
// for the status); a balance order has no checkout_url.
func TestTokens(t *testing.T) {
	e := newEnv(t)
	a, b := e.stars(t), e.stars(t)
	if a.token() == b.token() {
		t.Fatal("two orders, one token")
	}
	if rec := e.get(t, b.path()); rec.Code != 200 || !strings.Contains(rec.Body.String(), b.PaymentMemo) || strings.Contains(rec.Body.String(), a.PaymentMemo) {
		t.Errorf("order b's page: %d, shows a's memo %v", rec.Code, strings.Contains(rec.Body.String(), a.PaymentMemo))
	}
	flip := []byte(a.token())
	flip[10] ^= 1
	for name, tok := range map[string]string{
		"random":           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"one char changed": string(flip),
		"order id":         strconv.FormatInt(a.ID, 10),
		"memo":             a.PaymentMemo,
	} {
		rec := e.get(t, "/pay/"+tok)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "Payment link not found") ||
			rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || strings.Contains(rec.Body.String(), a.PaymentMemo) {
			t.Errorf("%s token: %d %s %q", name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		rec = e.get(t, "/pay/"+tok+"/status")
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error_code":"NOT_FOUND"`) {
			t.Errorf("%s token status: %d %s", name, rec.Code, rec.Body)
		}
		if rec := e.get(t, "/pay/"+tok+"/qr.png"); rec.Code != http.StatusNotFound {
			t.Errorf("%s token qr: %d", name, rec.Code)
		}
	}
	// A balance order: no checkout_url.
	e.topup(t, 10_000_000_000)
	bal := e.create(t, `{"recipient_username":"pandus","quantity":100,"payment_method":"balance"}`)
	if bal.CheckoutURL != nil {
		t.Errorf("balance order checkout_url %q, want null", *bal.CheckoutURL)
	}
	// The token never reaches the access log.
	if strings.Contains(e.logs.String(), a.token()) || !strings.Contains(e.logs.String(), `"path":"/pay/[token]"`) {
		t.Error("the access log shows a checkout token, or no redacted /pay/ path")
	}
}

func (e *env) topup(t testing.TB, nano int64) {
	t.Helper()
	p, err := e.Shop.Partner(ctx, e.partner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Shop.ApplyTransfer(ctx, shopTransfer(p.TopupAddress, nano, "", e.Shop.Now())); err != nil {
		t.Fatal(err)
	}
}

// TestLanguages: Indonesian by ?lang=id, by Accept-Language (q-values
// honoured, "in" accepted), English otherwise; the page links both.
func TestLanguages(t *testing.T) {
	e := newEnv(t)
	o := e.stars(t)
	for _, c := range []struct {
		query, accept, want string
	}{
		{"", "", "en"},
		{"", "id-ID,id;q=0.9,en;q=0.8", "id"},
		{"", "fr-FR, en;q=0.4, id;q=0.6", "id"},
		{"", "en-GB, id;q=0.5", "en"},
		{"", "in", "id"},
		{"", "de", "en"},
		{"?lang=id", "en", "id"},
		{"?lang=en", "id", "en"},
		{"?lang=xx", "id", "id"},
	} {
		rec := e.get(t, o.path()+c.query, "Accept-Language", c.accept)
		body := rec.Body.String()
		if !strings.Contains(body, `<html lang="`+c.want+`">`) {
			t.Errorf("%q %q: not %s", c.query, c.accept, c.want)
		}
		title := map[string]string{"en": "Pay for your order", "id": "Bayar pesanan Anda"}[c.want]
		if !strings.Contains(body, title) {
			t.Errorf("%q %q: lacks %q", c.query, c.accept, title)
		}
	}
	id := e.get(t, o.path()+"?lang=id").Body.String()
	for _, want := range []string{"Menunggu pembayaran Anda", "Komentar (memo)", "Sertakan komentar di atas persis", "Buka di dompet", "untuk <b>@pandus</b>", `hreflang="en"`} {
		if !strings.Contains(id, want) {
			t.Errorf("Indonesian page lacks %q", want)
		}
	}
	if s := e.status(t, o, "id"); s.Title != "Menunggu pembayaran Anda" {
		t.Errorf("Indonesian status title %q", s.Title)
	}
}

// TestStates: the status and the page follow the order: partly paid shows
// what is due (and its link and QR), paid, completed (final), expired with
// what happens to a late payment, cancelled, refunded.
func TestStates(t *testing.T) {
	e := newEnv(t, withClock(), withProvider(manual.Provider{}))
	o := e.stars(t)
	price, _ := strconv.ParseInt(o.PriceNanoton, 10, 64)

	e.pay(t, o, 100_000_000)
	s := e.status(t, o, "en")
	due := price - 100_000_000
	if s.State != "partial" || s.DueUnits != strconv.FormatInt(due, 10) || s.Received != "0.1" ||
		!strings.Contains(s.Detail, "0.1 TON received; 0.3375 TON is still due") || s.Wallet.Messages[0].Amount != s.DueUnits {
		t.Errorf("partial: %+v", s)
	}
	wantLink := strings.Replace(o.PaymentLink, "amount="+o.PriceNanoton, "amount="+s.DueUnits, 1)
	if s.Link != wantLink {
		t.Errorf("partial link %q, want %q", s.Link, wantLink)
	}
	if rec := e.get(t, s.QR); rec.Code != 200 || decodeQR(t, decodePNG(t, rec.Body.Bytes())) != wantLink {
		t.Errorf("partial QR: %d", rec.Code)
	}
	if body := e.get(t, o.path()).Body.String(); !strings.Contains(body, "Partly paid") || !strings.Contains(body, `<code id="f-amount">0.3375</code>`) {
		t.Error("the page of a partly paid order does not show what is due")
	}

	e.pay(t, o, due)
	if s := e.status(t, o, "en"); s.State != "paid" || s.Link != "" || s.Wallet != nil || s.Final || !strings.Contains(s.Detail, "Delivering 100 Telegram Stars to @pandus") {
		t.Errorf("paid: %+v", s)
	}
	if body := e.get(t, o.path()).Body.String(); !strings.Contains(body, `<section id="pay" hidden>`) || !strings.Contains(body, "Payment received") || qrSrc.MatchString(body) {
		t.Error("the page of a paid order still offers to pay")
	}
	if _, err := e.Shop.MarkDelivered(ctx, o.ID, shop.ManualMark{By: shop.Actor{Name: "test"}, Reference: "sent"}); err != nil {
		t.Fatal(err)
	}
	if s := e.status(t, o, "en"); s.State != "completed" || !s.Final || s.Detail != "100 Telegram Stars delivered to @pandus." {
		t.Errorf("completed: %+v", s)
	}

	// Expired: what happens to a late payment is said.
	x := e.stars(t)
	e.Clock.Advance(16 * time.Minute)
	if _, err := e.Shop.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	s = e.status(t, x, "en")
	if s.State != "expired" || s.Link != "" || s.Wallet != nil || s.Final || !strings.Contains(s.Detail, "is not lost") {
		t.Errorf("expired: %+v", s)
	}
	if body := e.get(t, x.path()+"?lang=id").Body.String(); !strings.Contains(body, "Pesanan ini sudah kedaluwarsa") || !strings.Contains(body, `<section id="pay" hidden>`) {
		t.Error("the Indonesian page of an expired order")
	}

	// Cancelled by the partner.
	c := e.stars(t)
	if _, err := e.Shop.CancelOrder(ctx, e.partner.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if s := e.status(t, c, "en"); s.State != "cancelled" || !s.Final {
		t.Errorf("cancelled: %+v", s)
	}

	// Refunded: the delivery failed.
	r := e.stars(t)
	e.pay(t, r, price)
	if _, _, err := e.Shop.MarkFailed(ctx, r.ID, shop.ManualMark{By: shop.Actor{Name: "test"}, Reason: "no such user"}); err != nil {
		t.Fatal(err)
	}
	if s := e.status(t, r, "en"); s.State != "refunded" || !s.Final || !strings.Contains(s.Detail, "credited back") {
		t.Errorf("refunded: %+v", s)
	}
}

// TestManifestAndAssets: the TON Connect manifest names http.public_url
// and an icon there, readable from any origin; assets are cached for good
// under their content hash (ETag, 304), briefly otherwise; unknown ones 404.
func TestManifestAndAssets(t *testing.T) {
	e := newEnv(t)
	rec := e.get(t, "/tonconnect-manifest.json")
	var m struct{ URL, Name, IconURL string }
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || rec.Code != 200 {
		t.Fatalf("manifest %d %s", rec.Code, rec.Body)
	}
	if m.URL != "https://pay.example.com" || !strings.HasPrefix(m.IconURL, "https://pay.example.com/assets/icon.png?v=") || m.Name == "" ||
		rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("manifest %+v, headers %v", m, rec.Header())
	}
	icon := e.get(t, strings.TrimPrefix(m.IconURL, "https://pay.example.com"))
	if icon.Code != 200 || icon.Header().Get("Content-Type") != "image/png" || !strings.Contains(icon.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("icon: %d %v", icon.Code, icon.Header())
	}
	etag := icon.Header().Get("ETag")
	if rec := e.get(t, "/assets/icon.png", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", rec.Code)
	}
	if rec := e.get(t, "/assets/icon.png?v=old"); rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("stale version: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	for _, f := range []string{"tonconnect/LICENSE", "tonconnect/NOTICE", "tonconnect/tonconnect-ui.min.js", "tonconnect/wallets-v2.json", "checkout.css", "checkout.js"} {
		if rec := e.get(t, "/assets/"+f); rec.Code != 200 || rec.Body.Len() < 100 {
			t.Errorf("%s: %d, %d bytes", f, rec.Code, rec.Body.Len())
		}
	}
	for _, f := range []string{"nope.js", "../checkout.go", "tonconnect/../../checkout.go"} {
		if rec := e.get(t, "/assets/"+f); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", f, rec.Code)
		}
	}
}

// TestPageWeight: the HTML and CSS of the first render stay within 60 KB
// (the budget of docs/CHECKOUT.md); TON Connect's bundle is not part of it.
func TestPageWeight(t *testing.T) {
	e := newEnv(t)
	o := e.stars(t)
	page := e.get(t, o.path()).Body.String()
	css := e.get(t, regexp.MustCompile(`/assets/checkout\.css\?v=[0-9a-f]+`).FindString(page))
	js := e.get(t, regexp.MustCompile(`/assets/checkout\.js\?v=[0-9a-f]+`).FindString(page))
	tc := e.get(t, "/assets/tonconnect/tonconnect-ui.min.js")
	first := len(page) + css.Body.Len()
	t.Logf("first render: HTML %d B + CSS %d B = %d B (budget 61440); checkout.js %d B; TON Connect on demand: %d B",
		len(page), css.Body.Len(), first, js.Body.Len(), tc.Body.Len())
	if first > 60<<10 {
		t.Errorf("HTML+CSS of the first render is %d bytes, over 60 KB", first)
	}
	if strings.Contains(page, "tonconnect-ui.min.js\"") || strings.Contains(page, `src="/assets/tonconnect`) {
		t.Error("the page loads TON Connect up front")
	}
}

// TestRateLimit: the public routes are limited per client address: 429
// with Retry-After, as a page for pages and as JSON for the status.
func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	o := e.stars(t)
	var last int
	for i := 0; i < 200 && last != http.StatusTooManyRequests; i++ {
		last = e.get(t, o.path()+"/status").Code
	}
	if last != http.StatusTooManyRequests {
		t.Fatal("200 status requests from one address were never limited")
	}
	rec := e.get(t, o.path()+"/status")
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"error_code":"RATE_LIMITED"`) {
		t.Errorf("status when limited: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = e.get(t, o.path())
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), "Too many requests") || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("page when limited: %d %s", rec.Code, rec.Body)
	}
	// Another address is not affected.
	req := newReq(o.path(), "198.51.100.7:4000")
	if rec := serve(e, req); rec.Code != 200 {
		t.Errorf("another address: %d", rec.Code)
	}
}

// TestMiniAppOrders: orders.json answers a Telegram user's own orders when
// the launch data is signed with the bot's token and fresh; a tampered,
// stale, foreign-signed or missing one is 401.
func TestMiniAppOrders(t *testing.T) {
	e := newEnv(t)
	user, err := e.Shop.TelegramPartner(ctx, shop.TelegramUser{ID: 4242, ChatID: 4242, Name: "Ann", Language: "id"})
	if err != nil {
		t.Fatal(err)
	}
	mine, _, err := e.Shop.CreateOrder(ctx, user.ID, shop.OrderRequest{Kind: domain.KindPremium, RecipientUsername: "ann_b", Months: 3})
	if err != nil {
		t.Fatal(err)
	}
	e.stars(t) // the partner's, not the user's

	launch := func(id int64, at time.Time) url.Values {
		return url.Values{"user": {`{"id":` + strconv.FormatInt(id, 10) + `,"first_name":"Ann","language_code":"id"}`},
			"auth_date": {strconv.FormatInt(at.Unix(), 10)}, "query_id": {"AAH"}}
	}
	valid := tgwebapp.Sign(launch(4242, time.Now().Add(-time.Minute)), botToken)
	rec := e.get(t, "/app/orders.json", "Authorization", "tma "+valid)
	if rec.Code != 200 {
		t.Fatalf("valid launch data: %d %s", rec.Code, rec.Body)
	}
	var got struct {
		Data struct {
			Lang  string
			Items []struct {
				What, Recipient, Status, StatusText string
				CheckoutURL                         string `json:"checkout_url"`
				Payable                             bool
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Data.Items) != 1 || got.Data.Lang != "id" {
		t.Fatalf("orders %+v", got.Data)
	}
	it := got.Data.Items[0]
	if it.What != "Telegram Premium 3 bulan" || it.Recipient != "ann_b" || it.Status != "pending_payment" || !it.Payable ||
		it.CheckoutURL != e.Shop.CheckoutURL(mine) {
		t.Errorf("order item %+v", it)
	}
	if strings.Contains(rec.Body.String(), partnerName) || strings.Contains(rec.Body.String(), reference) {
		t.Error("the Mini App list shows another partner's data")
	}

	tampered := strings.Replace(valid, "4242", "4243", 1)
	for name, auth := range map[string]string{
		"tampered":          "tma " + tampered,
		"stale":             "tma " + tgwebapp.Sign(launch(4242, time.Now().Add(-2*time.Hour)), botToken),
		"other bot's token": "tma " + tgwebapp.Sign(launch(4242, time.Now()), "999:OTHER"),
		"missing":           "",
		"wrong scheme":      "Bearer " + valid,
		"partner key":       "Bearer " + e.key,
		"empty launch data": "tma ",
	} {
		rec := e.get(t, "/app/orders.json", "Authorization", auth)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"error_code":"UNAUTHORIZED"`) {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if strings.Contains(e.logs.String(), valid[:40]) {
		t.Error("launch data in the logs")
	}

	// The orders page itself is a shell (no user data without launch data).
	page := e.get(t, "/app/orders")
	if page.Code != 200 || !strings.Contains(page.Body.String(), `id="orders"`) || strings.Contains(page.Body.String(), "ann_b") {
		t.Errorf("orders page: %d", page.Code)
	}
}
