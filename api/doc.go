// Package api is the partner REST API over net/http (Go 1.22 patterns under
// /api/v1): it decodes requests, calls the shop, and encodes the answers in
// the envelope every answer uses ({ok, data} or {ok, error_code,
// error_message, data: null}). No business rule lives here. routes.go lists
// every route and says which middleware it gets; NewServer builds the one
// http.Handler that main serves and the tests drive.
//
// Every request passes, outermost first: request id (X-Request-Id, a sane
// incoming one kept, else a UUID; the client IP, clientip.go; the body
// bounded to 64 KiB), access log (one line: request id, client IP, method,
// route pattern, path without query and with key-like segments redacted in
// any letter case, status, bytes, duration, partner id — never a key),
// panic recovery (500 INTERNAL_ERROR carrying the request id), the body read
// whole under the server's read deadline (readBody: 413 over the limit, the
// connection closed when it does not arrive in time), and a guard that
// turns the ServeMux's own plain-text 404/405 and path-cleaning redirects
// into envelopes. Authenticated routes add bearer auth (shop.Authenticate;
// failures counted per client IP) and the per-key rate limit; routes that
// take a body add the Content-Type check; authenticated POSTs add
// idempotency (idempotency.go). Admin routes add the per-IP admin limit and
// the admin token (admin.go).
//
// The API describes itself: openapi.json (OpenAPI 3.0.3, kept by hand and
// embedded) is served at GET /api/v1/openapi.json and Swagger UI, embedded
// too (no CDN), at /docs/ (docs.go). openapi_test.go holds the document to
// Routes(), AdminRoutes() and the Go views, and validates real responses
// against it with kin-openapi.
//
// Decisions where the partner contract (the public page) is silent:
//   - Successful calls answer 200, order creation included (as the page shows).
//   - Times are RFC 3339 UTC to the second ("2026-04-16T12:15:00Z"), null
//     until reached. TON amounts are exact JSON numbers rendered from
//     nanotons; price_usd, ton_usd and fee_percent are exact decimals too.
//   - payment_address, payment_memo, payment_link, checkout_url and
//     expires_at are null on balance orders; stars_amount appears only on
//     stars orders and premium_months only on premium orders.
//   - checkout_url is the order's hosted payment page (package checkout,
//     docs/CHECKOUT.md), served by this handler outside /api/v1 (/pay/…,
//     /assets/…, /tonconnect-manifest.json, /app/…) with its own answers
//     (HTML pages, 404 and 429 pages that pass the mux guard), its own
//     per-IP limit (checkout.go) and the token redacted in the access log.
//   - Request bodies: one JSON object; field names are matched exactly (case
//     included), unknown and repeated fields are refused, and so is anything
//     after the object. Unknown query parameters are ignored.
//   - A request with a body must send Content-Type: application/json, with
//     at most the parameter charset=utf-8 (any case): otherwise 415
//     UNSUPPORTED_MEDIA_TYPE naming the header (a code beside the contract's
//     error table). application/*+json is refused too: merge-patch and the like
//     mean other semantics than the API implements. A request without a body
//     (a POST …/cancel, rotate-secret) needs no Content-Type. The check runs
//     before idempotency, so a 415 is never the answer stored under a key.
//   - Text must be valid Unicode: a string field holding invalid UTF-8
//     bytes or a \u escape of an unpaired surrogate is 422 VALIDATION_ERROR
//     naming the (top-level) field, never rewritten to U+FFFD (decode.go,
//     FuzzDecodeBody).
//   - limit is 1–100 when given (limit=0 is refused), default 20.
//   - GET /orders/by-reference/{ref} answers every order of the partner
//     carrying ref, paged like GET /orders (newest first, limit, cursor);
//     when none does, items is empty (200): it is a list.
//   - expires_in (optional, seconds, 60–86400) on order creation sets this
//     ton_memo order's expires_at instead of orders.ttl, like Crypto Pay's
//     invoices; 422 naming expires_in outside the range or on a balance order.
//   - return_url (optional) on order creation: where the checkout page links
//     the customer back to once the order is settled (Stripe's success_url,
//     Crypto Pay's paid_btn_url); an absolute https URL (http in sandbox
//     mode or to a loopback host), ≤ 2048 bytes of printable ASCII, no
//     userinfo (shop.ValidReturnURL); 422 naming return_url otherwise or on
//     a balance order. null in order views when absent.
//   - POST /orders/{id}/cancel takes no body (or {}).
//   - The rate limit is a token bucket per partner (one key = one partner):
//     RateLimit-Limit is the burst, RateLimit-Remaining the whole tokens
//     left, RateLimit-Reset the seconds until the bucket is full again, and
//     Retry-After on 429 the seconds until the next request is allowed. All
//     authenticated routes share the bucket; GET /health is not limited; the
//     unauthenticated POST /sandbox/partners is limited per client IP.
//   - Failed authentication (no, malformed, unknown or revoked key; a wrong
//     admin token) is limited per client IP: 10 at once, then one per 10 s.
//     An address out of failures gets 429 RATE_LIMITED (Retry-After) on
//     every authenticated and admin route, whatever it sends, until a
//     failure refills; a partner behind the same address as a client stuck
//     on a revoked key is refused too (the message says why). Every admin
//     request is limited per client IP (60 at once, 10 per second). IPv6
//     clients are counted per /64. Failures are logged (reason, client IP,
//     route; never the token), admin ones at WARN.
//   - The client IP is the TCP peer, or — only when the peer is one of
//     http.trusted_proxies — the rightmost address of X-Forwarded-For (else
//     Forwarded's for=) that is not a trusted proxy (clientip.go).
//   - failure_reason (refunded orders) is "<code>: <sentence>": a stable
//     code of fulfil.Failures() and one short sentence; the provider's error
//     chain is logged, never shown. A single string keeps the contract's
//     field; the code is everything before the first ": ".
//   - Idempotency-Key applies to authenticated POSTs (orders, cancel, sandbox
//     transfers). It is optional; when sent it must be one header of 1–255
//     printable ASCII characters. 4xx answers are stored and replayed like
//     2xx; 5xx, 401, 413 and 429 are not (they happen before, or are not, a
//     final answer).
//   - GET /health answers 200 with status ok or degraded, without auth.
//   - Sandbox routes are not registered outside sandbox mode, so they are
//     404 NOT_FOUND there like any unknown path.
package api
