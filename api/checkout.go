package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/checkout"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop"
)

// The checkout pages (package checkout: /pay/<token>, its status and QR,
// /assets/…, /tonconnect-manifest.json and the Mini App under /app/) are
// served by this handler beside the partner API, under the same outer
// middleware (request id, access log, recovery) but with their own answers
// (HTML pages, not envelopes) and their own per-client-IP limit, generous
// enough for a page that polls and for many customers behind one carrier
// NAT. No route of theirs takes a partner key.
const (
	pageBurst     = 120 // requests a client address may make at once
	pagePerSecond = 4   // … then 4 per second
)

// newPages builds the checkout pages with the page limit.
func (srv *server) newPages(cfg *config.Config) (*checkout.Pages, error) {
	return checkout.New(checkout.Deps{Shop: srv.shop, Config: cfg, Log: srv.log,
		Allow: func(w http.ResponseWriter, r *http.Request) (bool, time.Duration) {
			res := srv.pageLimit.take(limitKey(infoFrom(r.Context()).clientIP))
			setLimitHeaders(w, res)
			return res.ok, time.Duration(res.retryAfter) * time.Second
		}})
}

// registerPages adds the checkout routes to mux; their answers pass the
// mux guard untouched (pageRoute).
func (srv *server) registerPages(mux *http.ServeMux) {
	if srv.pages == nil {
		return
	}
	for _, rt := range srv.pages.Routes() {
		mux.Handle(rt.Pattern, srv.pageRoute(rt.Pattern, rt.Handler))
	}
}

// pageRoute records the route for the logs and marks the request as a page,
// so the mux guard lets its non-JSON errors (404 and 429 pages, 304) through.
func (srv *server) pageRoute(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := infoFrom(r.Context())
		ri.route, ri.page = pattern, true
		next.ServeHTTP(w, r)
	})
}

// redactCheckoutToken hides the token of a /pay/<token>… path in the logs:
// it is the credential of a customer's payment page.
func redactCheckoutToken(p string) string {
	rest, ok := strings.CutPrefix(p, shop.CheckoutPath)
	if !ok || rest == "" {
		return p
	}
	_, tail, found := strings.Cut(rest, "/")
	if found {
		return shop.CheckoutPath + "[token]/" + tail
	}
	return shop.CheckoutPath + "[token]"
}
