package checkout_test

import (
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil/manual"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
)

// returnURL needs escaping in an attribute: quotes, angle brackets, &.
const returnURL = `https://shop.example/done?a=1&b="><script>alert(1)</script>`

var returnLink = regexp.MustCompile(`<p id="return" class="return"( hidden)?><a id="return-link" class="btn primary" rel="noopener"(?: href="([^"]*)")?>([^<]*)</a></p>`)

// returnOn reads the page's link back to the shop: shown, its href
// (unescaped) and its text.
func returnOn(t *testing.T, page string) (shown bool, href, text string) {
	t.Helper()
	m := returnLink.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no return link element on the page")
	}
	return m[1] == "", html.UnescapeString(m[2]), html.UnescapeString(m[3])
}

func (e *env) withReturn(t *testing.T) orderJSON {
	t.Helper()
	return e.create(t, `{"recipient_username":"pandus","quantity":100,"return_url":`+strconv.Quote(returnURL)+`}`)
}

// sameURL: href leads where u does (the page may percent-encode what a
// browser would encode anyway).
func sameURL(t *testing.T, href, u string) bool {
	t.Helper()
	a, err1 := url.Parse(href)
	b, err2 := url.Parse(u)
	if err1 != nil || err2 != nil {
		t.Fatalf("parse %q %q: %v %v", href, u, err1, err2)
	}
	return a.Scheme == b.Scheme && a.Host == b.Host && a.Path == b.Path && a.Query().Encode() == b.Query().Encode()
}

// TestReturnLink: the page links back to the order's return_url ("Return to
// the shop") once it is paid or completed, "Back to the shop" once expired,
// cancelled or refunded; never while payment is awaited, never without a
// return_url; escaped, rel="noopener", in both languages; the live status
// carries it for the script.
func TestReturnLink(t *testing.T) {
	e := newEnv(t, withClock(), withProvider(manual.Provider{}))
	check := func(name string, o orderJSON, lang, wantText string) {
		t.Helper()
		page := e.get(t, o.path()+"?lang="+lang).Body.String()
		s := e.status(t, o, lang)
		shown, href, text := returnOn(t, page)
		if wantText == "" {
			if shown || href != "" || strings.Contains(page, "shop.example") || s.ReturnURL != "" || s.ReturnText != "" {
				t.Errorf("%s: a return link while none is due: shown %v href %q, status %q %q", name, shown, href, s.ReturnURL, s.ReturnText)
			}
			return
		}
		if !shown || text != wantText || !sameURL(t, href, returnURL) {
			t.Errorf("%s: return link shown %v, %q → %q; want %q → %q", name, shown, text, href, wantText, returnURL)
		}
		if strings.Contains(page, "<script>alert") || strings.Contains(page, `"><script`) {
			t.Errorf("%s: the return URL is not escaped on the page", name)
		}
		if s.ReturnURL != returnURL || s.ReturnText != wantText {
			t.Errorf("%s: status return %q %q, want %q %q", name, s.ReturnURL, s.ReturnText, returnURL, wantText)
		}
	}

	o := e.withReturn(t)
	price, _ := strconv.ParseInt(o.PriceNanoton, 10, 64)
	check("waiting", o, "en", "")
	e.pay(t, o, 100_000_000)
	check("partial", o, "en", "")
	e.pay(t, o, price-100_000_000)
	check("paid", o, "en", "Return to the shop")
	check("paid (id)", o, "id", "Kembali ke toko")
	if _, err := e.Shop.MarkDelivered(ctx, o.ID, shop.ManualMark{By: shop.Actor{Name: "test"}, Reference: "sent"}); err != nil {
		t.Fatal(err)
	}
	check("completed", o, "en", "Return to the shop")
	check("completed (id)", o, "id", "Kembali ke toko")

	x := e.withReturn(t)
	e.Clock.Advance(16 * time.Minute)
	if _, err := e.Shop.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	check("expired", x, "en", "Back to the shop")
	check("expired (id)", x, "id", "Kembali ke halaman toko")

	c := e.withReturn(t)
	if _, err := e.Shop.CancelOrder(ctx, e.partner.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	check("cancelled", c, "en", "Back to the shop")

	r := e.withReturn(t)
	e.pay(t, r, price)
	if _, _, err := e.Shop.MarkFailed(ctx, r.ID, shop.ManualMark{By: shop.Actor{Name: "test"}, Reason: "no such user"}); err != nil {
		t.Fatal(err)
	}
	check("refunded", r, "en", "Back to the shop")

	// Without a return_url no link, whatever the state.
	n := e.stars(t)
	e.pay(t, n, price)
	check("paid without return_url", n, "en", "")
}

// A stored return URL that validation would refuse (a javascript: URL
// written past the API) never becomes a link: the page checks it again
// (and html/template's URL filter would defuse it; checkout.js accepts
// only http(s) too).
func TestReturnLinkEscapesAStoredJavascriptURL(t *testing.T) {
	e := newEnv(t)
	o := e.withReturn(t)
	e.pay(t, o, 10_000_000_000)
	err := e.Store.Update(ctx, func(tx store.Tx) error {
		got, err := tx.GetOrder(o.ID)
		if err != nil {
			return err
		}
		got.ReturnURL = "javascript:alert(document.domain)"
		return tx.PutOrder(got)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Shop.Order(ctx, e.partner.ID, o.ID)
	if err != nil || got.Status != domain.StatusPaid {
		t.Fatalf("order %+v %v", got, err)
	}
	page := e.get(t, o.path()).Body.String()
	shown, href, _ := returnOn(t, page)
	if shown || strings.Contains(page, "javascript:") || href != "" {
		t.Errorf("javascript: URL on the page: shown %v, href %q", shown, href)
	}
}
