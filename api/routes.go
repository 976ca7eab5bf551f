package api

import (
	"net/http"

	"github.com/theopenmoney/openmoney/shop"
)

// Route is one API route: its method and its Go 1.22 path pattern under
// BasePath. Routes lists them all, for docs and drift tests.
type Route struct {
	Method  string // GET or POST
	Path    string // pattern under BasePath, e.g. "/orders/{id}"
	Auth    bool   // requires Authorization: Bearer osk_… (and is rate limited per key)
	Sandbox bool   // served only when ton.network is sandbox (404 NOT_FOUND otherwise)
	Summary string
}

// Pattern is the ServeMux pattern: "GET /api/v1/orders/{id}".
func (r Route) Pattern() string { return r.Method + " " + BasePath + r.Path }

// routeDef is a Route with its handler.
type routeDef struct {
	Route
	// Limited rate-limits an unauthenticated route per client IP.
	Limited bool
	handler http.Handler
}

// routes is the one page listing every route and its middleware: Auth
// routes get bearer auth and the per-key rate limit, and authenticated POSTs
// the Idempotency-Key handling (see server.wrap).
func (srv *server) routes() []routeDef {
	const get, post = http.MethodGet, http.MethodPost
	return []routeDef{
		// Orders
		{Route: Route{post, "/orders/stars", true, false, "Create a Stars order"}, handler: srv.handleCreateOrder(shop.KindStars)},
		{Route: Route{post, "/orders/premium", true, false, "Create a Premium order (3 / 6 / 12 months)"}, handler: srv.handleCreateOrder(shop.KindPremium)},
		{Route: Route{get, "/orders/{id}", true, false, "Get order by ID"}, handler: srv.handleGetOrder()},
		{Route: Route{get, "/orders", true, false, "List orders"}, handler: srv.handleListOrders()},
		{Route: Route{get, "/orders/by-memo/{memo}", true, false, "Find order by payment_memo"}, handler: srv.handleOrderByMemo()},
		{Route: Route{get, "/orders/by-reference/{ref}", true, false, "Find orders by your client_reference"}, handler: srv.handleOrdersByReference()},
		{Route: Route{get, "/orders/stats/summary", true, false, "Aggregate stats"}, handler: srv.handleStats()},
		{Route: Route{post, "/orders/{id}/cancel", true, false, "Cancel a pending_payment order"}, handler: srv.handleCancelOrder()},
		// Pricing
		{Route: Route{get, "/pricing/ton-rate", true, false, "Current TON/USD rate"}, handler: srv.handleRate()},
		{Route: Route{get, "/pricing/fee", true, false, "Service fees and min/max limits"}, handler: srv.handleFee()},
		{Route: Route{get, "/pricing/estimate/stars", true, false, "Estimate Stars price in TON"}, handler: srv.handleEstimate(shop.KindStars)},
		{Route: Route{get, "/pricing/estimate/premium", true, false, "Estimate Premium price in TON"}, handler: srv.handleEstimate(shop.KindPremium)},
		// Recipients
		{Route: Route{get, "/recipients/stars", true, false, "Check if a username can receive Stars"}, handler: srv.handleRecipient(shop.KindStars)},
		{Route: Route{get, "/recipients/premium", true, false, "Check if a username can receive Premium"}, handler: srv.handleRecipient(shop.KindPremium)},
		// Balance
		{Route: Route{get, "/balance", true, false, "Partner balance and top-up address"}, handler: srv.handleBalance()},
		{Route: Route{get, "/balance/transactions", true, false, "Balance transactions history"}, handler: srv.handleLedger()},
		// Health
		{Route: Route{get, "/health", false, false, "Service health probe"}, handler: srv.handleHealth()},
		// Sandbox mode only
		{Route: Route{post, "/sandbox/partners", false, true, "Create a sandbox partner and key"}, Limited: true, handler: srv.handleSandboxPartner()},
		{Route: Route{post, "/sandbox/transfers", true, true, "Land a simulated incoming TON transfer"}, handler: srv.handleSandboxTransfer()},
	}
}

// wrap applies the per-route middleware: auth, rate limit, idempotency.
func (srv *server) wrap(rt routeDef) http.Handler {
	h := rt.handler
	if rt.Auth && rt.Method == http.MethodPost {
		h = srv.idempotency(h)
	}
	if rt.Auth {
		h = srv.rateLimit(h)
		h = srv.authenticate(h)
	} else if rt.Limited {
		h = srv.rateLimit(h)
	}
	return srv.routeInfo(rt.Route, h)
}

// Routes lists every route the API can serve (sandbox routes included).
func Routes() []Route {
	defs := (&server{}).routes()
	out := make([]Route, len(defs))
	for i, d := range defs {
		out[i] = d.Route
	}
	return out
}
