package api

import (
	"net/http"

	"github.com/theopenmoney/openmoney/domain"
)

// Route is one API route: its method and its Go 1.22 path pattern under
// BasePath. Routes lists them all, for docs and drift tests.
type Route struct {
	Method  string // GET, POST, PUT or DELETE
	Path    string // pattern under BasePath, e.g. "/orders/{id}"
	Auth    bool   // requires Authorization: Bearer osk_… (and is rate limited per key)
	Sandbox bool   // served only when ton.network is sandbox (404 NOT_FOUND otherwise)
	Summary string
}

// Pattern is the ServeMux pattern: "GET /api/v1/orders/{id}". The index
// "/" matches /api/v1/ alone, not the subtree.
func (r Route) Pattern() string {
	if r.Path == "/" {
		return r.Method + " " + BasePath + "/{$}"
	}
	return r.Method + " " + BasePath + r.Path
}

// routeDef is a Route with its handler.
type routeDef struct {
	Route
	// Limited rate-limits an unauthenticated route per client IP.
	Limited bool
	// keyed: the handler inserts the Idempotency-Key with what it creates,
	// in one transaction, and reports a taken key (order creation); the
	// middleware then reads the key only when it was taken.
	keyed   bool
	handler http.Handler
}

// routes is the one page listing every route and its middleware: Auth
// routes get bearer auth and the per-key rate limit, and authenticated POSTs
// the Idempotency-Key handling (see server.wrap).
func (srv *server) routes() []routeDef {
	const get, post = http.MethodGet, http.MethodPost
	return []routeDef{
		// Orders
		{Route: Route{post, "/orders/stars", true, false, "Create a Stars order"}, keyed: true, handler: srv.handleCreateOrder(domain.KindStars)},
		{Route: Route{post, "/orders/premium", true, false, "Create a Premium order (3 / 6 / 12 months)"}, keyed: true, handler: srv.handleCreateOrder(domain.KindPremium)},
		{Route: Route{get, "/orders/{id}", true, false, "Get order by ID"}, handler: srv.handleGetOrder()},
		{Route: Route{get, "/orders", true, false, "List orders"}, handler: srv.handleListOrders()},
		{Route: Route{get, "/orders/by-memo/{memo}", true, false, "Find order by payment_memo"}, handler: srv.handleOrderByMemo()},
		{Route: Route{get, "/orders/by-reference/{ref}", true, false, "Find orders by your client_reference"}, handler: srv.handleOrdersByReference()},
		{Route: Route{get, "/orders/stats/summary", true, false, "Aggregate stats"}, handler: srv.handleStats()},
		{Route: Route{post, "/orders/{id}/cancel", true, false, "Cancel a pending_payment order"}, handler: srv.handleCancelOrder()},
		// Pricing
		{Route: Route{get, "/pricing/ton-rate", true, false, "Current TON/USD rate"}, handler: srv.handleRate()},
		{Route: Route{get, "/pricing/fee", true, false, "Service fees and min/max limits"}, handler: srv.handleFee()},
		{Route: Route{get, "/pricing/estimate/stars", true, false, "Estimate Stars price in TON"}, handler: srv.handleEstimate(domain.KindStars)},
		{Route: Route{get, "/pricing/estimate/premium", true, false, "Estimate Premium price in TON"}, handler: srv.handleEstimate(domain.KindPremium)},
		// Recipients
		{Route: Route{get, "/recipients/stars", true, false, "Check if a username can receive Stars"}, handler: srv.handleRecipient(domain.KindStars)},
		{Route: Route{get, "/recipients/premium", true, false, "Check if a username can receive Premium"}, handler: srv.handleRecipient(domain.KindPremium)},
		// Balance
		{Route: Route{get, "/balance", true, false, "Partner balance and top-up address"}, handler: srv.handleBalance()},
		{Route: Route{get, "/balance/transactions", true, false, "Balance transactions history"}, handler: srv.handleLedger()},
		// Webhooks (webhooks.go)
		{Route: Route{http.MethodPut, "/webhook", true, false, "Create or update your webhook (the secret is shown on creation)"}, handler: srv.handlePutWebhook()},
		{Route: Route{get, "/webhook", true, false, "Get your webhook (without its secret)"}, handler: srv.handleGetWebhook()},
		{Route: Route{http.MethodDelete, "/webhook", true, false, "Delete your webhook"}, handler: srv.handleDeleteWebhook()},
		{Route: Route{post, "/webhook/rotate-secret", true, false, "Replace the webhook signing secret (shown once)"}, handler: srv.handleRotateWebhookSecret()},
		{Route: Route{get, "/webhook/deliveries", true, false, "Webhook delivery attempts with status codes"}, handler: srv.handleWebhookDeliveries()},
		{Route: Route{post, "/webhook/test", true, false, "Send a webhook.test event"}, handler: srv.handleTestWebhook()},
		{Route: Route{post, "/webhook/deliveries/{id}/redeliver", true, false, "Send the event of a delivery again"}, handler: srv.handleRedeliverWebhook()},
		// Health and the index
		{Route: Route{get, "/health", false, false, "Service health probe"}, handler: srv.handleHealth()},
		{Route: Route{get, "/", false, false, "API index: links to the docs, the OpenAPI document and health"}, handler: srv.handleIndex()},
		// Documentation (docs.go; Swagger UI at /docs/ is registered beside the table)
		{Route: Route{get, "/openapi.json", false, false, "This OpenAPI document"}, handler: srv.handleOpenAPI()},
		// Sandbox mode only
		{Route: Route{post, "/sandbox/partners", false, true, "Create a sandbox partner and key"}, Limited: true, handler: srv.handleSandboxPartner()},
		{Route: Route{post, "/sandbox/transfers", true, true, "Land a simulated incoming TON transfer"}, handler: srv.handleSandboxTransfer()},
	}
}

// adminRoutes are the operator's routes: registered only when admin.token
// is set, each behind adminAuth (Authorization: Bearer <admin.token>) and
// the per-IP admin limit (wrapAdmin), not rate limited per key, not
// idempotency-keyed, and not part of the partner API (Routes leaves them
// out; AdminRoutes lists them).
func (srv *server) adminRoutes() []routeDef {
	const get, post = http.MethodGet, http.MethodPost
	return []routeDef{
		{Route: Route{get, "/admin/unmatched", false, false, "List unmatched deposits"}, handler: srv.handleAdminUnmatched()},
		{Route: Route{post, "/admin/unmatched/{id}/assign", false, false, "Assign an unmatched deposit to an order's or a partner's balance, once"}, handler: srv.handleAdminAssign()},
		{Route: Route{get, "/admin/integrity", false, false, "Run the integrity check on the live store"}, handler: srv.handleAdminIntegrity()},
		{Route: Route{get, "/admin/backup", false, false, "Stream a consistent copy of the live store (bbolt)"}, handler: srv.handleAdminBackup()},
		{Route: Route{get, "/admin/partners", false, false, "List partners with balances and key status"}, handler: srv.handleAdminPartners()},
		{Route: Route{post, "/admin/partners/{id}/revoke-key", false, false, "Revoke a partner's active key"}, handler: srv.handleAdminRevokeKey()},
		// Parked transfers, manual deliveries, the audit log (admin_safety.go)
		{Route: Route{get, "/admin/parked", false, false, "List parked transfers (their processing failed)"}, handler: srv.handleAdminParked()},
		{Route: Route{get, "/admin/parked/{id}", false, false, "Get one parked transfer"}, handler: srv.handleAdminParkedOne()},
		{Route: Route{post, "/admin/parked/{id}/retry", false, false, "Run the payment rules again on a parked transfer, once"}, handler: srv.handleAdminParkedRetry()},
		{Route: Route{post, "/admin/parked/{id}/assign", false, false, "Assign a parked transfer to an order's or a partner's balance, once"}, handler: srv.handleAdminParkedAssign()},
		{Route: Route{get, "/admin/deliveries", false, false, "List orders waiting for delivery, oldest first"}, handler: srv.handleAdminDeliveries()},
		{Route: Route{post, "/admin/orders/{id}/mark-delivered", false, false, "Mark an order delivered by hand, once (manual provider)"}, handler: srv.handleAdminMarkDelivered()},
		{Route: Route{post, "/admin/orders/{id}/mark-failed", false, false, "Mark a manual delivery failed and refund the order, once"}, handler: srv.handleAdminMarkFailed()},
		{Route: Route{get, "/admin/audit", false, false, "List the operators' actions, oldest first"}, handler: srv.handleAdminAudit()},
		{Route: Route{get, "/admin/deliveries/held", false, false, "Deliveries waiting for funds or the chain, with the wallet balance against what is owed"}, handler: srv.handleAdminHeld()},
	}
}

// wrap applies the per-route middleware: auth, rate limit, the JSON
// Content-Type check of bodies, idempotency.
func (srv *server) wrap(rt routeDef) http.Handler {
	h := rt.handler
	if rt.Auth && rt.Method == http.MethodPost {
		h = srv.idempotency(h, rt.keyed)
	}
	if takesBody(rt.Method) {
		h = srv.requireJSON(h) // before idempotency: a 415 is never stored under the key
	}
	if rt.Auth {
		h = srv.rateLimit(h)
		h = srv.authenticate(h)
	} else if rt.Limited {
		h = srv.rateLimit(h)
	}
	return srv.routeInfo(rt.Route, h)
}

// wrapAdmin applies the admin routes' middleware: the per-IP admin limit,
// the admin token (failures counted and logged), the JSON Content-Type check.
func (srv *server) wrapAdmin(rt routeDef) http.Handler {
	h := rt.handler
	if takesBody(rt.Method) {
		h = srv.requireJSON(h)
	}
	h = srv.adminAuth(h)
	h = srv.adminLimit(h)
	return srv.routeInfo(rt.Route, h)
}

// takesBody reports whether requests of method may carry a JSON body.
func takesBody(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
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
