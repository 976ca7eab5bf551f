package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/theopenmoney/openmoney/checkout"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop"
)

// BasePath prefixes every route.
const BasePath = "/api/v1"

// MaxBodyBytes bounds request bodies (413 PAYLOAD_TOO_LARGE beyond it).
const MaxBodyBytes = 64 << 10

// idemWait bounds how long a request waits for an identical one with the same
// Idempotency-Key that is still in flight (then 409 IDEMPOTENCY_IN_PROGRESS).
const idemWait = 10 * time.Second

// Per-client-IP limits (docs/OPERATIONS.md, "Rate limits"): failed
// authentications (a bad, revoked or missing partner key or admin token)
// and every admin request. An address out of failures gets 429 on every
// authenticated route, whatever key it sends, until a token refills.
const (
	authFailBurst     = 10  // failed authentications an address may make at once
	authFailPerSecond = 0.1 // … then one more every 10 s
	adminBurst        = 60  // admin requests an address may make at once
	adminPerSecond    = 10  // … then 10 per second
)

// server holds what the handlers and middleware share. It is built once by
// NewServer and only read afterwards (its parts synchronise themselves).
type server struct {
	shop     *shop.Shop
	log      *slog.Logger
	limiters *limiters
	// authFails counts failed authentications per client IP; admin limits
	// every admin request per client IP.
	authFails, admin *limiters
	// trusted are http.trusted_proxies (clientip.go).
	trusted  []netip.Prefix
	flights  *flights
	idemWait time.Duration
	// adminToken guards /admin/… (admin.go); empty: those routes are absent.
	adminToken string
	observer   Observer // nil: no metrics
	// openapi is the document GET /openapi.json serves (servedOpenAPI).
	openapi []byte
	// pages are the checkout pages (checkout.go), limited per client IP by
	// pageLimit; nil only if the embedded pages are broken (logged).
	pages     *checkout.Pages
	pageLimit *limiters
}

// Observer is told about every finished request, for metrics: the route
// pattern ("GET /api/v1/orders/{id}", "" when no route matched), the status
// written and the time taken. It must be cheap and safe for concurrent use.
type Observer interface {
	ObserveRequest(route string, status int, d time.Duration)
}

// Option adjusts NewServer.
type Option func(*server)

// WithObserver reports every request to o (see metrics.Metrics).
func WithObserver(o Observer) Option { return func(srv *server) { srv.observer = o } }

// NewServer returns the API as one http.Handler, exactly as main serves it.
func NewServer(s *shop.Shop, cfg *config.Config, log *slog.Logger, opts ...Option) http.Handler {
	return newServer(s, cfg, log, nil, func(srv *server) {
		for _, o := range opts {
			o(srv)
		}
	})
}

// newServer builds the handler; extra routes (tests only) are added to the
// table with the same middleware, and tweak (tests only) may adjust the
// server before it is used.
func newServer(s *shop.Shop, cfg *config.Config, log *slog.Logger, extra []routeDef, tweak func(*server)) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &server{
		shop:       s,
		log:        log,
		limiters:   newLimiters(cfg.API.RateLimit.PerSecond, cfg.API.RateLimit.Burst, time.Now),
		authFails:  newLimiters(authFailPerSecond, authFailBurst, time.Now),
		admin:      newLimiters(adminPerSecond, adminBurst, time.Now),
		flights:    newFlights(),
		idemWait:   idemWait,
		adminToken: cfg.Admin.Token,
	}
	doc, err := servedOpenAPI(openapiJSON, cfg.HTTP.PublicURL, cfg.Admin.Token != "", s.SandboxMode())
	if err != nil { // the embedded document is checked by tests; serve it as is
		log.Error("openapi: cannot tailor the document; serving it as embedded", "err", err)
		doc = openapiJSON
	}
	srv.openapi = doc
	for _, p := range cfg.HTTP.TrustedProxies {
		if pfx, err := config.ParseTrustedProxy(p); err == nil { // config.Validate refuses the others
			srv.trusted = append(srv.trusted, pfx)
		}
	}
	srv.pageLimit = newLimiters(pagePerSecond, pageBurst, time.Now)
	if srv.pages, err = srv.newPages(cfg); err != nil { // the embedded pages are checked by tests
		log.Error("checkout: pages unavailable", "err", err)
	}
	if tweak != nil {
		tweak(srv)
	}
	return srv.handler(extra)
}

// handler registers the routes on a ServeMux and wraps it in the outer
// middleware every request passes: request id, access log, recovery, the
// body read whole under the server's read deadline, and the guard that
// turns the mux's own 404/405 into envelopes.
func (srv *server) handler(extra []routeDef) http.Handler {
	mux := http.NewServeMux()
	sandbox := srv.shop.SandboxMode()
	for _, rt := range append(srv.routes(), extra...) {
		if rt.Sandbox && !sandbox {
			continue // absent: the mux guard answers 404 NOT_FOUND
		}
		mux.Handle(rt.Pattern(), srv.wrap(rt))
	}
	if srv.adminToken != "" { // no token: absent, the mux guard answers 404
		for _, rt := range srv.adminRoutes() {
			mux.Handle(rt.Pattern(), srv.wrapAdmin(rt))
		}
	}
	srv.registerDocs(mux)  // Swagger UI at /docs/ (docs.go)
	srv.registerPages(mux) // checkout pages and the Mini App (checkout.go)
	var h http.Handler = mux
	h = srv.muxGuard(h)
	h = srv.readBody(h)
	h = srv.recoverer(h)
	h = srv.accessLog(h)
	h = srv.requestID(h)
	return h
}
