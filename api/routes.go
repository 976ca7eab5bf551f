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
	// keyed: an order creation, which hands the Idempotency-Key to the
	// shop (kept with the order, in its transaction); the middleware then
	// reads the key only for a refusal (idempotency.go).
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
		{Route: Route{Method: post, Path: "/orders/stars", Auth: true, Summary: "Create a Stars order"}, keyed: true, handler: srv.handleCreateOrder(domain.KindStars)},
		{Route: Route{Method: post, Path: "/orders/premium", Auth: true, Summary: "Create a Premium order (3 / 6 / 12 months)"}, keyed: true, handler: srv.handleCreateOrder(domain.KindPremium)},
		{Route: Route{Method: get, Path: "/orders/{id}", Auth: true, Summary: "Get order by ID"}, handler: srv.handleGetOrder()},
		{Route: Route{Method: get, Path: "/orders", Auth: true, Summary: "List orders"}, handler: srv.handleListOrders()},
		{Route: Route{Method: get, Path: "/orders/by-memo/{memo}", Auth: true, Summary: "Find order by payment_memo"}, handler: srv.handleOrderByMemo()},
		{Route: Route{Method: get, Path: "/orders/by-reference/{ref}", Auth: true, Summary: "Find orders by your client_reference"}, handler: srv.handleOrdersByReference()},
		{Route: Route{Method: get, Path: "/orders/stats/summary", Auth: true, Summary: "Aggregate stats"}, handler: srv.handleStats()},
		{Route: Route{Method: post, Path: "/orders/{id}/cancel", Auth: true, Summary: "Cancel a pending_payment order"}, handler: srv.handleCancelOrder()},
		// Pricing
		{Route: Route{Method: get, Path: "/pricing/ton-rate", Auth: true, Summary: "Current TON/USD rate"}, handler: srv.handleRate()},
		{Route: Route{Method: get, Path: "/pricing/fee", Auth: true, Summary: "Service fees and min/max limits"}, handler: srv.handleFee()},
		{Route: Route{Method: get, Path: "/pricing/estimate/stars", Auth: true, Summary: "Estimate Stars price in TON"}, handler: srv.handleEstimate(domain.KindStars)},
		{Route: Route{Method: get, Path: "/pricing/estimate/premium", Auth: true, Summary: "Estimate Premium price in TON"}, handler: srv.handleEstimate(domain.KindPremium)},
		// Recipients
		{Route: Route{Method: get, Path: "/recipients/stars", Auth: true, Summary: "Check if a username can receive Stars"}, handler: srv.handleRecipient(domain.KindStars)},
		{Route: Route{Method: get, Path: "/recipients/premium", Auth: true, Summary: "Check if a username can receive Premium"}, handler: srv.handleRecipient(domain.KindPremium)},
		// Balance
		{Route: Route{Method: get, Path: "/balance", Auth: true, Summary: "Partner balance and top-up address"}, handler: srv.handleBalance()},
		{Route: Route{Method: get, Path: "/balance/transactions", Auth: true, Summary: "Balance transactions history"}, handler: srv.handleLedger()},
		// Webhooks (webhooks.go)
		{Route: Route{Method: http.MethodPut, Path: "/webhook", Auth: true, Summary: "Create or update your webhook (the secret is shown on creation)"}, handler: srv.handlePutWebhook()},
		{Route: Route{Method: get, Path: "/webhook", Auth: true, Summary: "Get your webhook (without its secret)"}, handler: srv.handleGetWebhook()},
		{Route: Route{Method: http.MethodDelete, Path: "/webhook", Auth: true, Summary: "Delete your webhook"}, handler: srv.handleDeleteWebhook()},
		{Route: Route{Method: post, Path: "/webhook/rotate-secret", Auth: true, Summary: "Replace the webhook signing secret (shown once)"}, handler: srv.handleRotateWebhookSecret()},
		{Route: Route{Method: get, Path: "/webhook/deliveries", Auth: true, Summary: "Webhook delivery attempts with status codes"}, handler: srv.handleWebhookDeliveries()},
		{Route: Route{Method: post, Path: "/webhook/test", Auth: true, Summary: "Send a webhook.test event"}, handler: srv.handleTestWebhook()},
		{Route: Route{Method: post, Path: "/webhook/deliveries/{id}/redeliver", Auth: true, Summary: "Send the event of a delivery again"}, handler: srv.handleRedeliverWebhook()},
		// Health and the index
		{Route: Route{Method: get, Path: "/health", Summary: "Service health probe"}, handler: srv.handleHealth()},
		{Route: Route{Method: get, Path: "/", Summary: "API index: links to the docs, the OpenAPI document and health"}, handler: srv.handleIndex()},
		// Documentation (docs.go; Swagger UI at /docs/ is registered beside the table)
		{Route: Route{Method: get, Path: "/openapi.json", Summary: "This OpenAPI document"}, handler: srv.handleOpenAPI()},
		// Sandbox mode only
		{Route: Route{Method: post, Path: "/sandbox/partners", Sandbox: true, Summary: "Create a sandbox partner and key"}, Limited: true, handler: srv.handleSandboxPartner()},
		{Route: Route{Method: post, Path: "/sandbox/transfers", Auth: true, Sandbox: true, Summary: "Land a simulated incoming TON transfer"}, handler: srv.handleSandboxTransfer()},
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
		{Route: Route{Method: get, Path: "/admin/unmatched", Summary: "List unmatched deposits"}, handler: srv.handleAdminUnmatched()},
		{Route: Route{Method: post, Path: "/admin/unmatched/{id}/assign", Summary: "Assign an unmatched deposit to an order's or a partner's balance, once"}, handler: srv.handleAdminAssign()},
		{Route: Route{Method: get, Path: "/admin/integrity", Summary: "Run the integrity check on the live store"}, handler: srv.handleAdminIntegrity()},
		{Route: Route{Method: get, Path: "/admin/backup", Summary: "Stream a consistent copy of the live store (bbolt)"}, handler: srv.handleAdminBackup()},
		{Route: Route{Method: get, Path: "/admin/partners", Summary: "List partners with balances and key status"}, handler: srv.handleAdminPartners()},
		{Route: Route{Method: post, Path: "/admin/partners/{id}/revoke-key", Summary: "Revoke a partner's active key"}, handler: srv.handleAdminRevokeKey()},
		// Parked transfers, manual deliveries, the audit log (admin_safety.go)
		{Route: Route{Method: get, Path: "/admin/parked", Summary: "List parked transfers (their processing failed)"}, handler: srv.handleAdminParked()},
		{Route: Route{Method: get, Path: "/admin/parked/{id}", Summary: "Get one parked transfer"}, handler: srv.handleAdminParkedOne()},
		{Route: Route{Method: post, Path: "/admin/parked/{id}/retry", Summary: "Run the payment rules again on a parked transfer, once"}, handler: srv.handleAdminParkedRetry()},
		{Route: Route{Method: post, Path: "/admin/parked/{id}/assign", Summary: "Assign a parked transfer to an order's or a partner's balance, once"}, handler: srv.handleAdminParkedAssign()},
		{Route: Route{Method: get, Path: "/admin/deliveries", Summary: "List orders waiting for delivery, oldest first"}, handler: srv.handleAdminDeliveries()},
		{Route: Route{Method: post, Path: "/admin/orders/{id}/mark-delivered", Summary: "Mark an order delivered by hand, once (manual provider)"}, handler: srv.handleAdminMarkDelivered()},
		{Route: Route{Method: post, Path: "/admin/orders/{id}/mark-failed", Summary: "Mark a manual delivery failed and refund the order, once"}, handler: srv.handleAdminMarkFailed()},
		{Route: Route{Method: get, Path: "/admin/audit", Summary: "List the operators' actions, oldest first"}, handler: srv.handleAdminAudit()},
		{Route: Route{Method: get, Path: "/admin/deliveries/held", Summary: "Deliveries waiting for funds or the chain, with the wallet balance against what is owed"}, handler: srv.handleAdminHeld()},
		// The wallet guard's reconciliation (admin_payer.go)
		{Route: Route{Method: get, Path: "/admin/payer", Summary: "The service wallet's seqno on chain against the payment records, and the orders an unrecorded message may have paid"}, handler: srv.handleAdminPayer()},
		{Route: Route{Method: post, Path: "/admin/payer/reconcile", Summary: "Account for wallet messages the store has no record of: complete the orders they paid, then delivery resumes"}, handler: srv.handleAdminReconcile()},
		{Route: Route{Method: post, Path: "/admin/payer/batches/{id}/release", Summary: "Release a payment batch held because something else used the service wallet, once"}, handler: srv.handleAdminReleaseBatch()},
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
