package checkout_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil/manual"
	"github.com/theopenmoney/openmoney/internal/tgwebapp"
	"github.com/theopenmoney/openmoney/internal/tonjs"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/ton"
)

// RequireBrowserEnv, when set, turns a missing Chromium into a failure
// (.ci/run installs Debian's chromium and sets it).
const RequireBrowserEnv = "OPENMONEY_TEST_REQUIRE_BROWSER"

// ScreenshotsEnv, when set to 1, has the browser test write the docs'
// screenshots (docs/checkout-*.png).
const ScreenshotsEnv = "OPENMONEY_SCREENSHOTS"

// chromium finds Debian's chromium, or skips (fails under RequireBrowserEnv).
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv(RequireBrowserEnv) != "" {
		t.Fatalf("%s is set but no chromium is installed (apt-get install -y chromium)", RequireBrowserEnv)
	}
	t.Skipf("no chromium (apt-get install -y chromium; set %s=1 to make this a failure)", RequireBrowserEnv)
	return ""
}

// browser starts one headless Chromium for the test, offline: every host
// but this machine's loopback fails to resolve, so a page that reached for
// a CDN, or a wallet icon or bridge, could not.
func browser(t *testing.T, path string) context.Context {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab opens a new tab of the browser, closed at the end of the test.
func tab(t *testing.T, b context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(b)
	t.Cleanup(cancel)
	ctx, cancelTime := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTime)
	return ctx
}

// viewports of the screenshots.
type viewport struct {
	w, h  int64
	scale float64
	mob   bool
}

var (
	desktop = viewport{1280, 900, 1, false}
	mobile  = viewport{390, 844, 2, true}
)

func (v viewport) set(t *testing.T, ctx context.Context) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(v.scale)}
	if v.mob {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.w, v.h, opts...)); err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, ctx context.Context, what string, acts ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, acts...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is true in the page.
func waitJS(t *testing.T, ctx context.Context, what, js string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, js, err, text)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return eval[string](t, ctx, `document.querySelector(`+strconv.Quote(sel)+`).textContent`)
}

// screenshot takes a full-page PNG, and keeps it as docs/<name> when
// OPENMONEY_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if os.Getenv(ScreenshotsEnv) == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return png
}

// browserEnv is the service on a real loopback port (its public URL), with
// the manual provider (so "paid" lasts until the test marks it delivered),
// a fixed clock, and the shop's loops (the sandbox chain's listener) on.
func browserEnv(t *testing.T) (*env, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	e := newEnv(t, withClock(), withProvider(manual.Provider{}), withPublicURL(base))
	e.Run(t)
	srv := httptest.NewUnstartedServer(e.h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return e, base
}

// transfer lands a sandbox transfer through the partner API, as the
// README's tour does.
func (e *env) transfer(t *testing.T, base string, o orderJSON, nano int64) {
	t.Helper()
	body := `{"to_address":"` + o.PaymentAddress + `","amount_nanoton":"` + strconv.FormatInt(nano, 10) + `","comment":"` + o.PaymentMemo + `"}`
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/sandbox/transfers", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/sandbox/transfers: %d", resp.StatusCode)
	}
}

// transferUSDT lands a sandbox USDT transfer (units of USDT into the order
// address's jetton wallet) through the partner API.
func (e *env) transferUSDT(t *testing.T, base string, o orderJSON, units int64) {
	t.Helper()
	body := `{"asset":"USDT","to_address":"` + o.PaymentAddress + `","amount_units":"` + strconv.FormatInt(units, 10) + `","comment":"` + o.PaymentMemo + `"}`
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/sandbox/transfers", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/sandbox/transfers (USDT): %d", resp.StatusCode)
	}
}

// TestCheckoutInBrowser runs the checkout page in real headless Chromium:
// what it shows and its QR code (decoded from a screenshot), the live
// status without reload after sandbox transfers (partly paid, paid,
// completed), expired, English and Indonesian, JavaScript off, TON Connect
// with an injected wallet, and the Mini App's launch-data check.
func TestCheckoutInBrowser(t *testing.T) {
	chrome := chromium(t)
	e, base := browserEnv(t)
	b := browser(t, chrome)
	price := int64(437_500_000)

	t.Run("page, QR, paid then completed without reload", func(t *testing.T) {
		o := e.stars(t)
		ctx := tab(t, b)
		desktop.set(t, ctx)
		do(t, ctx, "open", chromedp.Navigate(*o.CheckoutURL))
		waitJS(t, ctx, "the page", `document.body.dataset.state === "waiting" && !!document.querySelector("#tc:not([hidden])")`, 10*time.Second)
		body := text(t, ctx, "main")
		for _, want := range []string{"100 Telegram Stars", "@pandus", "0.4375 TON", "≈ $1.58", o.PaymentMemo, o.PaymentAddress,
			"Waiting for your payment", "Pay before", "15:00 left", "Send the exact comment above", "Pay with a TON wallet", "Open in wallet"} {
			if !strings.Contains(body, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		if strings.Contains(body, partnerName) || strings.Contains(body, reference) {
			t.Error("the page shows partner data")
		}
		if href := eval[string](t, ctx, `document.getElementById("open").href`); href != o.PaymentLink {
			t.Errorf("open in wallet: %q, want %q", href, o.PaymentLink)
		}
		png := screenshot(t, ctx, "checkout-desktop.png")
		if got := decodeQR(t, decodePNG(t, png)); got != o.PaymentLink {
			t.Errorf("the QR in the screenshot says %q, want the payment link %q", got, o.PaymentLink)
		}
		// The countdown runs.
		waitJS(t, ctx, "the countdown", `document.getElementById("countdown").textContent !== "15:00 left"`, 5*time.Second)
		// TON Connect's bundle is not loaded until asked for.
		if eval[bool](t, ctx, `performance.getEntriesByType("resource").some(function (r) { return r.name.indexOf("tonconnect") >= 0 })`) {
			t.Error("the TON Connect bundle loaded without a click")
		}

		do(t, ctx, "mark", chromedp.Evaluate[chromedp.Void](`window.__noReload = 42`))
		e.transfer(t, base, o, price)
		waitJS(t, ctx, "paid", `document.body.dataset.state === "paid"`, 20*time.Second)
		if got := text(t, ctx, "#status"); !strings.Contains(got, "Payment received") || !strings.Contains(got, "Delivering 100 Telegram Stars to @pandus") {
			t.Errorf("paid status %q", got)
		}
		if eval[bool](t, ctx, `!document.getElementById("pay").hidden`) {
			t.Error("a paid order still offers to pay")
		}
		if _, err := e.Shop.MarkDelivered(ctx, o.ID, shop.ManualMark{By: shop.Actor{Name: "browser-test"}}); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, "completed", `document.body.dataset.state === "completed"`, 20*time.Second)
		if got := text(t, ctx, "#status"); !strings.Contains(got, "Done") || !strings.Contains(got, "100 Telegram Stars delivered to @pandus.") {
			t.Errorf("completed status %q", got)
		}
		if eval[int](t, ctx, `window.__noReload || 0`) != 42 {
			t.Error("the page reloaded")
		}
	})

	t.Run("the link back to the shop appears once paid, without reload", func(t *testing.T) {
		o := e.withReturn(t)
		ctx := tab(t, b)
		desktop.set(t, ctx)
		do(t, ctx, "open", chromedp.Navigate(*o.CheckoutURL))
		waitJS(t, ctx, "the page", `document.body.dataset.state === "waiting"`, 10*time.Second)
		if eval[bool](t, ctx, `!document.getElementById("return").hidden || document.getElementById("return-link").hasAttribute("href")`) {
			t.Error("a return link before payment")
		}
		do(t, ctx, "mark", chromedp.Evaluate[chromedp.Void](`window.__noReload = 43`))
		e.transfer(t, base, o, price)
		waitJS(t, ctx, "the return link", `document.body.dataset.state === "paid" && !document.getElementById("return").hidden`, 20*time.Second)
		if got := eval[string](t, ctx, `document.getElementById("return-link").getAttribute("href")`); got != returnURL {
			t.Errorf("return link href %q, want %q", got, returnURL)
		}
		if got := eval[string](t, ctx, `document.getElementById("return-link").rel + " | " + document.getElementById("return-link").textContent`); got != "noopener | Return to the shop" {
			t.Errorf("return link %q", got)
		}
		if eval[int](t, ctx, `document.querySelectorAll("script").length`) != 2 {
			t.Error("the return URL added a script element")
		}
		if eval[int](t, ctx, `window.__noReload || 0`) != 43 {
			t.Error("the page reloaded")
		}
	})

	t.Run("English on a phone", func(t *testing.T) {
		o := e.stars(t)
		ctx := tab(t, b)
		mobile.set(t, ctx)
		do(t, ctx, "open", chromedp.Navigate(*o.CheckoutURL))
		waitJS(t, ctx, "the page", `document.body.dataset.state === "waiting" && !document.getElementById("tc").hidden`, 10*time.Second)
		png := screenshot(t, ctx, "checkout-mobile.png")
		if got := decodeQR(t, decodePNG(t, png)); got != o.PaymentLink {
			t.Errorf("mobile screenshot QR %q, want %q", got, o.PaymentLink)
		}
		// Copy puts the memo on the clipboard's way (the button says so).
		do(t, ctx, "copy", chromedp.Click(chromedp.CSS(`button[data-copy="f-memo"]`)))
		waitJS(t, ctx, "copied", `document.querySelector('button[data-copy="f-memo"]').textContent === "Copied"`, 5*time.Second)
	})

	t.Run("Indonesian, partly paid shows what is due", func(t *testing.T) {
		o := e.stars(t)
		ctx := tab(t, b)
		mobile.set(t, ctx)
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}}); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "open", chromedp.Navigate(*o.CheckoutURL))
		waitJS(t, ctx, "the page", `document.documentElement.lang === "id" && document.body.dataset.state === "waiting"`, 10*time.Second)
		body := text(t, ctx, "main")
		for _, want := range []string{"Bayar pesanan Anda", "untuk @pandus", "Menunggu pembayaran Anda", "Komentar (memo)", "Salin", "Bayar dengan dompet TON"} {
			if !strings.Contains(body, want) {
				t.Errorf("the Indonesian page lacks %q", want)
			}
		}
		do(t, ctx, "mark", chromedp.Evaluate[chromedp.Void](`window.__noReload = 7`))
		e.transfer(t, base, o, 100_000_000)
		waitJS(t, ctx, "partly paid", `document.body.dataset.state === "partial"`, 20*time.Second)
		if got := text(t, ctx, "#status"); !strings.Contains(got, "Dibayar sebagian") || !strings.Contains(got, "0.1 TON diterima; kurang 0.3375 TON") {
			t.Errorf("partial status %q", got)
		}
		if got := text(t, ctx, "#f-amount"); got != "0.3375" {
			t.Errorf("amount to send %q, want 0.3375", got)
		}
		due := strings.Replace(o.PaymentLink, "amount="+o.PriceNanoton, "amount=337500000", 1)
		waitJS(t, ctx, "the QR of what is due", `document.getElementById("qr").complete && document.getElementById("qr").src.indexOf("amount=337500000") > 0`, 10*time.Second)
		png := screenshot(t, ctx, "checkout-mobile-id-partial.png")
		if got := decodeQR(t, decodePNG(t, png)); got != due {
			t.Errorf("partial QR %q, want %q", got, due)
		}
		if eval[string](t, ctx, `document.getElementById("open").href`) != due {
			t.Error("open in wallet does not ask for what is due")
		}
		if eval[int](t, ctx, `window.__noReload || 0`) != 7 {
			t.Error("the page reloaded")
		}
	})

	t.Run("USDT: the amount, the jetton link and its QR, partly paid then paid live", func(t *testing.T) {
		o := e.usdtStars(t)
		ctx := tab(t, b)
		desktop.set(t, ctx)
		do(t, ctx, "open", chromedp.Navigate(*o.CheckoutURL))
		waitJS(t, ctx, "the page", `document.body.dataset.state === "waiting" && document.getElementById("qr").complete`, 10*time.Second)
		body := text(t, ctx, "main")
		for _, want := range []string{"1.575 USDT", "≈ $1.58", o.PaymentMemo, o.PaymentAddress, "Send the exact comment above",
			"Send USD₮ on TON only", e.Shop.USDTMaster(), "Send 1.575 USDT with the comment " + o.PaymentMemo} {
			if !strings.Contains(body, want) {
				t.Errorf("the USDT page lacks %q", want)
			}
		}
		if !strings.Contains(o.PaymentLink, "?jetton=") {
			t.Fatalf("payment_link %q is not a jetton transfer", o.PaymentLink)
		}
		if href := eval[string](t, ctx, `document.getElementById("open").href`); href != o.PaymentLink {
			t.Errorf("open in wallet: %q, want %q", href, o.PaymentLink)
		}
		// TON Connect is offered (its request is built once a wallet is
		// connected: the subtest "TON Connect for a USDT order").
		if eval[bool](t, ctx, `document.getElementById("tc").hidden`) {
			t.Error("no TON Connect button for a USDT order")
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeQR(t, decodePNG(t, png)); got != o.PaymentLink {
			t.Errorf("the QR in the screenshot says %q, want the jetton link %q", got, o.PaymentLink)
		}

		do(t, ctx, "mark", chromedp.Evaluate[chromedp.Void](`window.__noReload = 9`))
		e.transferUSDT(t, base, o, 575_000)
		waitJS(t, ctx, "partly paid", `document.body.dataset.state === "partial"`, 20*time.Second)
		if got := text(t, ctx, "#status"); !strings.Contains(got, "0.575 USDT received; 1 USDT is still due") {
			t.Errorf("partial USDT status %q", got)
		}
		if got := text(t, ctx, "#f-amount"); got != "1" {
			t.Errorf("USDT amount to send %q, want 1", got)
		}
		due := strings.Replace(o.PaymentLink, "amount=1575000", "amount=1000000", 1)
		waitJS(t, ctx, "the QR of what is due", `document.getElementById("qr").complete && document.getElementById("qr").src.indexOf("amount=1000000") > 0`, 10*time.Second)
		if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
			t.Fatal(err)
		}
		if got := decodeQR(t, decodePNG(t, png)); got != due {
			t.Errorf("partial USDT QR %q, want %q", got, due)
		}
		e.transferUSDT(t, base, o, 1_000_000)
		waitJS(t, ctx, "paid", `document.body.dataset.state === "paid"`, 20*time.Second)
		if eval[int](t, ctx, `window.__noReload || 0`) != 9 {
			t.Error("the page reloaded")
		}
	})

	t.Run("without JavaScript", func(t *testing.T) {
		o := e.stars(t)
		ctx := tab(t, b)
		desktop.set(t, ctx)
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "open", chromedp.Navigate(*o.CheckoutURL))
		do(t, ctx, "loaded", chromedp.WaitVisible(chromedp.ID("qr")))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeQR(t, decodePNG(t, png)); got != o.PaymentLink {
			t.Errorf("QR without JavaScript: %q", got)
		}
		html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{o.PaymentMemo, "0.4375", o.PaymentAddress, `id="tc" class="btn primary" type="button" hidden`} {
			if !strings.Contains(html, want) {
				t.Errorf("without JavaScript the page lacks %q", want)
			}
		}
	})

	t.Run("TON Connect with an injected wallet", func(t *testing.T) {
		payWithWallet(t, e, b, base, true)
	})

	t.Run("TON Connect from the wallet list", func(t *testing.T) {
		payWithWallet(t, e, b, base, false)
	})

	t.Run("TON Connect for a USDT order", func(t *testing.T) {
		payWithWalletIn(t, e, b, base, true, true)
	})

	t.Run("Mini App launch data", func(t *testing.T) {
		user, err := e.Shop.TelegramPartner(ctx, shop.TelegramUser{ID: 777, ChatID: 777, Name: "Budi", Language: "id"})
		if err != nil {
			t.Fatal(err)
		}
		mine, _, err := e.Shop.CreateOrder(ctx, user.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "budi_santoso", Quantity: 250})
		if err != nil {
			t.Fatal(err)
		}
		theme := `{"bg_color":"#17212b","secondary_bg_color":"#0e1621","text_color":"#f5f5f5","hint_color":"#708499","link_color":"#6ab3f3","button_color":"#5288c1","button_text_color":"#ffffff"}`
		launch := func(authDate time.Time) string {
			return tgwebapp.Sign(url.Values{"user": {`{"id":777,"first_name":"Budi","username":"budi_santoso","language_code":"id"}`},
				"auth_date": {strconv.FormatInt(authDate.Unix(), 10)}, "query_id": {"AAE"}}, botToken)
		}
		open := func(t *testing.T, path, initData string) context.Context {
			ctx := tab(t, b)
			mobile.set(t, ctx)
			frag := "#tgWebAppData=" + url.QueryEscape(initData) + "&tgWebAppVersion=8.0&tgWebAppPlatform=android&tgWebAppThemeParams=" + url.QueryEscape(theme)
			do(t, ctx, "open", chromedp.Navigate(base+path+frag))
			return ctx
		}
		valid := launch(time.Now().Add(-time.Minute))
		ctx := open(t, "/app/orders", valid) // in English by Accept-Language; Budi's Telegram speaks Indonesian
		waitJS(t, ctx, "the orders", `document.documentElement.lang === "id" && document.getElementById("orders").dataset.status === "200"`, 10*time.Second)
		list := text(t, ctx, "#orders")
		if !strings.Contains(list, "250 Telegram Stars · @budi_santoso") || !strings.Contains(list, "menunggu pembayaran") || !strings.Contains(list, "Bayar") || strings.Contains(list, "pandus") {
			t.Errorf("the Mini App's orders: %q", list)
		}
		if bg := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(14, 22, 33)" {
			t.Errorf("the Mini App is not themed from Telegram's colours: body background %s", bg)
		}
		if href := eval[string](t, ctx, `document.querySelector("#orders a").href`); href != e.Shop.CheckoutURL(mine)+"?lang=id" {
			t.Errorf("order link %q", href)
		}
		screenshot(t, ctx, "checkout-miniapp-orders.png")

		// The checkout page inside the Mini App: themed, with a way back to the list.
		pctx := open(t, strings.TrimPrefix(e.Shop.CheckoutURL(mine), base), valid)
		waitJS(t, pctx, "the page in the Mini App", `document.documentElement.lang === "id" && document.documentElement.classList.contains("tg") && !document.getElementById("tg-orders").hidden`, 10*time.Second)
		screenshot(t, pctx, "checkout-miniapp-pay.png")

		for name, data := range map[string]string{
			"tampered": strings.Replace(valid, "budi_santoso", "someone_else", 1),
			"stale":    launch(time.Now().Add(-2 * time.Hour)),
			"foreign":  tgwebapp.Sign(url.Values{"user": {`{"id":777}`}, "auth_date": {strconv.FormatInt(time.Now().Unix(), 10)}}, "42:OTHER-BOT"),
		} {
			ctx := open(t, "/app/orders", data)
			waitJS(t, ctx, name+" refused", `document.getElementById("orders").dataset.status === "401"`, 10*time.Second)
			if got := text(t, ctx, "#orders"); strings.Contains(got, "budi_santoso") || !strings.Contains(got, "Telegram") {
				t.Errorf("%s launch data: %q", name, got)
			}
		}
	})

	t.Run("expired", func(t *testing.T) {
		o := e.stars(t)
		e.Clock.Advance(16 * time.Minute)
		if _, err := e.Shop.ExpireDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx := tab(t, b)
		mobile.set(t, ctx)
		do(t, ctx, "open", chromedp.Navigate(*o.CheckoutURL+"?lang=en"))
		waitJS(t, ctx, "expired", `document.body.dataset.state === "expired"`, 10*time.Second)
		if got := text(t, ctx, "#status"); !strings.Contains(got, "This order has expired") || !strings.Contains(got, "is not lost") {
			t.Errorf("expired status %q", got)
		}
		if eval[bool](t, ctx, `!document.getElementById("pay").hidden || !!document.getElementById("qr")`) {
			t.Error("an expired order still offers to pay")
		}
	})
}

// payWithWallet opens a new order's page with a TON Connect wallet
// injected (embedded: the page runs in the wallet's own browser and TON
// Connect connects at once; else the customer picks it from the wallet
// list), clicks Pay, and checks the one sendTransaction the wallet gets
// against the order, its payload decoded by @ton/core.
func payWithWallet(t *testing.T, e *env, b context.Context, base string, embedded bool) {
	payWithWalletIn(t, e, b, base, embedded, false)
}

// payWithWalletIn is payWithWallet for a TON order, or with usdt for a USDT
// order: the page then asks the server for the request of the connected
// wallet, one message to its own USDT jetton wallet carrying a TEP-74
// transfer to us with the memo, which @ton/core reads back.
func payWithWalletIn(t *testing.T, e *env, b context.Context, base string, embedded, usdt bool) {
	tonjs.Need(t)
	o := e.stars(t)
	if usdt {
		o = e.usdtStars(t)
	}
	ctx := tab(t, b)
	if embedded { // a wallet's in-app browser, on a phone
		mobile.set(t, ctx)
	} else { // a wallet's browser extension (Tonkeeper's injects window.tonkeeper)
		desktop.set(t, ctx)
	}
	wallet, err := os.ReadFile("testdata/injected-wallet.js")
	if err != nil {
		t.Fatal(err)
	}
	stateInit := base64.StdEncoding.EncodeToString(cell.BeginCell().MustStoreUInt(7, 8).EndCell().ToBOC())
	walletRaw := "0:" + strings.Repeat("ab", 32)
	js := strings.NewReplacer("__WALLET_RAW__", walletRaw, "__WALLET_PUBKEY__", strings.Repeat("cd", 32),
		"__WALLET_STATE_INIT__", stateInit, "__WALLET_EMBEDDED__", strconv.FormatBool(embedded)).Replace(string(wallet))
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open", chromedp.Navigate(*o.CheckoutURL))
	waitJS(t, ctx, "the page", `!document.getElementById("tc").hidden && !!window.__omWallet`, 10*time.Second)
	do(t, ctx, "pay", chromedp.Click(chromedp.ID("tc")))
	if !embedded {
		waitJS(t, ctx, "the wallet list", `!!document.querySelector("tc-root") && document.querySelector("tc-root").innerText.indexOf("Tonkeeper") >= 0`, 20*time.Second)
		time.Sleep(300 * time.Millisecond) // the window's opening transition
		screenshot(t, ctx, "checkout-tonconnect.png")
		do(t, ctx, "pick Tonkeeper", chromedp.Evaluate[chromedp.Void](`(function () {
			var all = document.querySelectorAll("tc-root button[data-tc-wallet-item]");
			for (var i = 0; i < all.length; i++) {
				if (all[i].innerText.trim().indexOf("Tonkeeper") === 0) { all[i].click(); return; }
			}
			throw new Error("no Tonkeeper in the wallet list");
		})()`))
		// Tonkeeper's page in the window: a QR code for its phone app, and
		// its browser extension, which is the wallet injected here.
		waitJS(t, ctx, "Tonkeeper's page", `document.querySelector("tc-root").innerText.indexOf("Browser Extension") >= 0`, 10*time.Second)
		do(t, ctx, "pick the extension", chromedp.Evaluate[chromedp.Void](`(function () {
			var all = document.querySelectorAll("tc-root button");
			for (var i = 0; i < all.length; i++) {
				if (all[i].innerText.trim() === "Browser Extension") { all[i].click(); return; }
			}
			throw new Error("no Browser Extension button");
		})()`))
	}
	waitJS(t, ctx, "a sendTransaction", `window.__omWallet.sends.length > 0`, 30*time.Second)
	waitJS(t, ctx, "the page's note", `document.getElementById("tc-note").textContent.indexOf("Sent.") === 0`, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // nothing more may come
	var rec struct {
		Connects []struct {
			ProtocolVersion int `json:"protocolVersion"`
			Message         struct {
				ManifestURL string `json:"manifestUrl"`
				Items       []struct{ Name, Network string }
			}
		}
		Sends []struct {
			Method string
			Params []string
			ID     string
		}
	}
	raw := eval[[]byte](t, ctx, `window.__omWallet`)
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if len(rec.Connects) != 1 || rec.Connects[0].Message.ManifestURL != base+"/tonconnect-manifest.json" {
		t.Errorf("connects %+v", rec.Connects)
	}
	if len(rec.Sends) != 1 || rec.Sends[0].Method != "sendTransaction" || len(rec.Sends[0].Params) != 1 {
		t.Fatalf("the wallet got %d requests, want one sendTransaction: %s", len(rec.Sends), raw)
	}
	var tx struct {
		ValidUntil int64  `json:"valid_until"`
		Network    string `json:"network"`
		From       string `json:"from"`
		Messages   []struct {
			Address string `json:"address"`
			Amount  string `json:"amount"`
			Payload string `json:"payload"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(rec.Sends[0].Params[0]), &tx); err != nil {
		t.Fatal(err)
	}
	exp, _ := time.Parse(time.RFC3339, o.ExpiresAt)
	if len(tx.Messages) != 1 || tx.ValidUntil != exp.Unix() || tx.Network != "-3" {
		t.Fatalf("sendTransaction %s", rec.Sends[0].Params[0])
	}
	m := tx.Messages[0]
	if !usdt && (m.Address != o.PaymentAddress || m.Amount != o.PriceNanoton) {
		t.Errorf("message to %s of %s, want %s of %s", m.Address, m.Amount, o.PaymentAddress, o.PriceNanoton)
	}
	// What a wallet reads in it, decoded by @ton/core.
	var got struct {
		Messages []struct {
			Raw, Amount, Comment, AddressError, PayloadError string
			Op                                               int64
			Bounceable, TestOnly                             bool
			Units, Destination, Response, ForwardTon         string
			CustomPayload                                    bool
		}
	}
	tonjs.Run(t, map[string]any{"op": "tonconnect", "messages": tx.Messages}, &got)
	if len(got.Messages) != 1 {
		t.Fatalf("@ton/core: %+v", got)
	}
	g := got.Messages[0]
	serviceRaw := e.Keys.ServiceAddressRaw()
	if usdt {
		payerJetton, err := ton.SandboxJettonWallet(ton.TestnetUSDTMaster, walletRaw)
		if err != nil {
			t.Fatal(err)
		}
		if g.AddressError != "" || g.PayloadError != "" || g.Op != ton.OpJettonTransfer || g.Raw != payerJetton || !g.Bounceable || !g.TestOnly ||
			g.Amount != strconv.Itoa(ton.JettonPayAttachNano) || g.Units != "1575000" || g.Destination != serviceRaw ||
			g.Response != walletRaw || g.ForwardTon != "1" || g.CustomPayload || g.Comment != o.PaymentMemo {
			t.Errorf("@ton/core reads %+v; want a jetton transfer of 1575000 units to %s with comment %s, sent to the payer's jetton wallet %s (bounceable, testnet) with %d nanotons",
				g, serviceRaw, o.PaymentMemo, payerJetton, ton.JettonPayAttachNano)
		}
	} else if g.AddressError != "" || g.PayloadError != "" || g.Op != 0 || g.Comment != o.PaymentMemo || g.Amount != o.PriceNanoton ||
		g.Bounceable || !g.TestOnly || g.Raw != serviceRaw {
		t.Errorf("@ton/core reads %+v; want comment %s, %s nanotons to %s (non-bounceable, testnet)", g, o.PaymentMemo, o.PriceNanoton, serviceRaw)
	}
	if v := eval[[]string](t, ctx, `window.__cspViolations`); len(v) > 0 {
		t.Errorf("Content-Security-Policy violations: %v", v)
	}
	if !eval[bool](t, ctx, `performance.getEntriesByType("resource").some(function (r) { return r.name.indexOf("tonconnect-ui.min.js") >= 0 })`) {
		t.Error("the TON Connect bundle did not load on the click")
	}
}
