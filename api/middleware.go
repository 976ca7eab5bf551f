package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/theopenmoney/openmoney/shop"
)

// reqInfo is what the middleware learns about a request as it goes down the
// chain (route, partner), for the access log and error logs. One goroutine
// owns it.
type reqInfo struct {
	id        string
	clientIP  netip.Addr // see clientip.go
	route     string
	partnerID int64 // 0 until authenticated
	// idemKey is the Idempotency-Key of an order creation (a keyed route),
	// which the handler hands to the shop.
	idemKey string
	// replayed: the shop answered an order creation with the order the key
	// made before (Idempotent-Replayed).
	replayed bool
	// page: a checkout page route answers (checkout.go); the mux guard
	// passes its answers through.
	page bool
}

type ctxKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(ctxKey{}).(*reqInfo)
	if ri == nil {
		return &reqInfo{}
	}
	return ri
}

func requestIDFrom(ctx context.Context) string { return infoFrom(ctx).id }
func routeFrom(ctx context.Context) string     { return infoFrom(ctx).route }

// partnerID returns the authenticated partner's id (0 on routes without auth).
func partnerID(ctx context.Context) int64 { return infoFrom(ctx).partnerID }

// saneRequestID accepts an incoming X-Request-Id of 1–128 characters of
// [A-Za-z0-9._:-]; anything else is replaced by a fresh UUID.
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// requestID is the outermost middleware: it names the request (X-Request-Id
// on every response), puts the request info in the context, and bounds the
// body to MaxBodyBytes.
func (srv *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", id)
		ri := &reqInfo{id: id, clientIP: srv.clientIP(r)}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		// The server's own writer: over the limit it also closes the connection.
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// readBody reads a request's body whole (at most MaxBodyBytes: beyond, the
// route's own read fails with 413) before any route runs, so every route
// and middleware reads it from memory
// and the server's ReadTimeout bounds how long headers and body take to
// arrive: a client that trickles its body or never sends it is cut off when
// it passes (the connection is closed without an answer, which such a
// client would not read). Once the body is in, net/http clears the read
// deadline itself, so a handler that works longer than ReadTimeout keeps
// its context and is bounded by WriteTimeout instead.
func (srv *server) readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // > 0, or -1: chunked
			body, err := io.ReadAll(r.Body)
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					// The route answers 413 where it reads the body, after auth
					// and the rate limit, as it always did.
					r.Body = failedBody{err}
					next.ServeHTTP(w, r)
					return
				}
				ri := infoFrom(r.Context())
				srv.log.LogAttrs(r.Context(), slog.LevelInfo, "request body not received in time; connection closed",
					slog.String("request_id", ri.id), slog.String("method", r.Method),
					slog.String("path", logPath(r.URL.Path)), slog.String("client_ip", ri.clientIP.String()),
					slog.String("err", err.Error()))
				panic(http.ErrAbortHandler)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		next.ServeHTTP(w, r)
	})
}

// failedBody is a request body whose every read fails with err.
type failedBody struct{ err error }

func (b failedBody) Read([]byte) (int, error) { return 0, b.err }
func (b failedBody) Close() error             { return nil }

// longWrite lets a route run and write for up to d from its start, past
// the server's WriteTimeout (main.go, "HTTP limits"): the integrity check
// over a large store. A route that streams for long (a backup) does the
// same, or moves its deadline on as it writes, with
// http.NewResponseController(w).SetWriteDeadline: the controller reaches
// the connection through the access log's and the mux guard's writers
// (they Unwrap).
// Under httptest there is no deadline to move, and nothing to do.
func longWrite(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	n, err := sw.ResponseWriter.Write(p)
	sw.bytes += n
	return n, err
}

func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// accessLog writes one line per request: request id, client IP, method,
// route pattern, path (never the query), status, size, duration, partner
// id. Keys are never logged.
func (srv *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		ri := infoFrom(r.Context())
		pid := ri.partnerID
		took := time.Since(start)
		if srv.observer != nil {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			srv.observer.ObserveRequest(ri.route, status, took)
		}
		srv.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("request_id", ri.id),
			slog.String("client_ip", ri.clientIP.String()),
			slog.String("method", r.Method),
			slog.String("route", ri.route),
			slog.String("path", logPath(r.URL.Path)),
			slog.Int("status", sw.status),
			slog.Int("bytes", sw.bytes),
			slog.Duration("duration", took),
			slog.Int64("partner_id", pid))
	})
}

// logPath is the path as logged: a segment that looks like a secret (a
// partner key, a webhook secret), pasted into a URL by mistake, is redacted,
// whatever its letter case (OSK_…, Whsec_…).
func logPath(p string) string {
	p = redactCheckoutToken(p)
	if !secretLike(p) {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if secretLike(s) {
			segs[i] = "[redacted]"
		}
	}
	return strings.Join(segs, "/")
}

// secretLike reports whether s holds a key or webhook secret prefix, in any case.
func secretLike(s string) bool {
	l := strings.ToLower(s) // no copy when s has no upper-case letter
	return strings.Contains(l, shop.KeyPrefix) || strings.Contains(l, "whsec_")
}

// recoverer turns a panic into a logged 500 INTERNAL_ERROR envelope
// carrying the request id (when nothing was written yet).
func (srv *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			srv.log.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("request_id", requestIDFrom(r.Context())),
				slog.String("route", routeFrom(r.Context())),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				return // the response has started; the client sees it cut short
			}
			writeCode(w, CodeInternal, "internal error; quote request id "+requestIDFrom(r.Context())+" to support")
		}()
		next.ServeHTTP(w, r)
	})
}

// guardWriter replaces what the ServeMux writes itself (its plain-text 404
// and 405, and its path-cleaning redirects) with envelopes. Everything our
// handlers write is JSON and passes through.
type guardWriter struct {
	http.ResponseWriter
	r        *http.Request
	swallow  bool
	answered bool
}

func (gw *guardWriter) WriteHeader(code int) {
	if gw.answered {
		return
	}
	gw.answered = true
	if code < 300 || gw.Header().Get("Content-Type") == ContentType || infoFrom(gw.r.Context()).page {
		gw.ResponseWriter.WriteHeader(code)
		return
	}
	gw.swallow = true
	h := gw.Header()
	h.Del("Location")
	h.Del("X-Content-Type-Options")
	if code == http.StatusMethodNotAllowed {
		writeCode(gw.ResponseWriter, CodeMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; allowed: %s",
			gw.r.Method, clip(gw.r.URL.Path), h.Get("Allow")))
		return
	}
	writeCode(gw.ResponseWriter, shop.CodeNotFound, fmt.Sprintf("no route %s %s; the routes are listed at %s", gw.r.Method, clip(gw.r.URL.Path), DocsPath))
}

func (gw *guardWriter) Write(p []byte) (int, error) {
	if !gw.answered {
		gw.WriteHeader(http.StatusOK)
	}
	if gw.swallow {
		return len(p), nil
	}
	return gw.ResponseWriter.Write(p)
}

func (gw *guardWriter) Unwrap() http.ResponseWriter { return gw.ResponseWriter }

func (srv *server) muxGuard(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&guardWriter{ResponseWriter: w, r: r}, r)
	})
}

// routeInfo records the matched route for the logs.
func (srv *server) routeInfo(rt Route, next http.Handler) http.Handler {
	pattern := rt.Pattern()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).route = pattern
		next.ServeHTTP(w, r)
	})
}

// authenticate requires Authorization: Bearer osk_… naming a live key. A
// failure (no, malformed, unknown or revoked key) is logged and spends one
// of the client IP's failed-authentication tokens; an address without
// tokens gets 429 on every authenticated route until one refills, whatever
// key it sends (server.go, authFail*).
func (srv *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if srv.authBlocked(w, r) {
			return
		}
		h := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(h, " ")
		if h == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			msg, reason := "missing Authorization header; send Authorization: Bearer osk_…", "missing"
			if h != "" {
				msg, reason = "malformed Authorization header; send Authorization: Bearer osk_…", "malformed"
			}
			srv.authFailed(w, r, "partner", reason, &shop.Error{Code: shop.CodeUnauthorized, Field: "Authorization", Message: msg})
			return
		}
		id, err := srv.shop.AuthenticateKey(r.Context(), strings.TrimSpace(token))
		if err != nil {
			if shop.ErrorCode(err) == shop.CodeUnauthorized {
				srv.authFailed(w, r, "partner", "unknown or revoked key", err)
				return
			}
			srv.writeError(w, r, err)
			return
		}
		infoFrom(r.Context()).partnerID = id
		next.ServeHTTP(w, r)
	})
}

// authBlocked answers 429 when the client IP has no failed-authentication
// tokens left, and reports whether it did.
func (srv *server) authBlocked(w http.ResponseWriter, r *http.Request) bool {
	res := srv.authFails.peek(limitKey(infoFrom(r.Context()).clientIP))
	if res.ok {
		return false
	}
	setLimitHeaders(w, res)
	writeCode(w, CodeRateLimited, fmt.Sprintf("too many failed authentications from your address (%d, then one per %s); retry after %d s",
		res.limit, everyText(float64(srv.authFails.rate)), res.retryAfter))
	return true
}

// authFailed counts and logs a failed authentication (never the token) and
// answers err (401).
func (srv *server) authFailed(w http.ResponseWriter, r *http.Request, who, reason string, err error) {
	ri := infoFrom(r.Context())
	res := srv.authFails.take(limitKey(ri.clientIP))
	level := slog.LevelInfo
	if who == "admin" {
		level = slog.LevelWarn
	}
	srv.log.LogAttrs(r.Context(), level, who+" authentication failed",
		slog.String("request_id", ri.id), slog.String("client_ip", ri.clientIP.String()),
		slog.String("route", ri.route), slog.String("reason", reason))
	if res.ok && res.remaining == 0 {
		srv.log.LogAttrs(r.Context(), slog.LevelWarn, "too many failed authentications from one address; refusing it until its limit refills",
			slog.String("client_ip", ri.clientIP.String()), slog.Int("failures", res.limit),
			slog.Int("retry_after_seconds", ceilSeconds(1/float64(srv.authFails.rate))))
	}
	srv.writeError(w, r, err)
}

// everyText says how often one token of rate refills ("10s", "200ms").
func everyText(rate float64) string {
	return time.Duration(float64(time.Second) / rate).String()
}

// setLimitHeaders sets the RateLimit-* headers of one limiter decision (and
// Retry-After when it refused).
func setLimitHeaders(w http.ResponseWriter, res limitResult) {
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(res.limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(res.remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(res.reset))
	if !res.ok {
		h.Set("Retry-After", strconv.Itoa(res.retryAfter))
	}
}

// rateLimit applies the per-key limit (per client IP on unauthenticated
// routes) and sets the RateLimit-* headers; 429 RATE_LIMITED with
// Retry-After when exceeded.
func (srv *server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := limitKey(infoFrom(r.Context()).clientIP)
		if id := partnerID(r.Context()); id != 0 {
			key = "p:" + strconv.FormatInt(id, 10)
		}
		if limited(w, srv.limiters, key, "rate limit") {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// adminLimit limits every admin request per client IP (server.go, admin*).
func (srv *server) adminLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limited(w, srv.admin, limitKey(infoFrom(r.Context()).clientIP), "admin rate limit") {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limited takes a token of key from ls, sets the RateLimit-* headers, and
// answers 429 RATE_LIMITED (what names the limit) when there is none.
func limited(w http.ResponseWriter, ls *limiters, key, what string) bool {
	res := ls.take(key)
	setLimitHeaders(w, res)
	if !res.ok {
		writeCode(w, CodeRateLimited, fmt.Sprintf("%s exceeded (%d requests, refilled at %s per second); retry after %d s",
			what, res.limit, strconv.FormatFloat(float64(ls.rate), 'f', -1, 64), res.retryAfter))
	}
	return !res.ok
}

// requireJSON answers 415 UNSUPPORTED_MEDIA_TYPE to a request whose body is
// not declared JSON. Accepted: Content-Type application/json, bare or with
// the parameter charset=utf-8 (any case). Refused: a missing header, any
// other type, another charset, and application/*+json too (those name
// other semantics, such as merge-patch, than the API implements). A
// request without a body needs no Content-Type.
func (srv *server) requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && !jsonContentType(r.Header.Values("Content-Type")) {
			got := "no Content-Type header"
			if v := r.Header.Values("Content-Type"); len(v) > 0 {
				got = "Content-Type " + strconv.Quote(clip(strings.Join(v, ", ")))
			}
			srv.writeError(w, r, &shop.Error{Code: CodeUnsupportedMediaType, Field: "Content-Type",
				Message: "Content-Type must be application/json (charset=utf-8 optional); the request has " + got})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func jsonContentType(vals []string) bool {
	if len(vals) != 1 {
		return false
	}
	if vals[0] == "application/json" || vals[0] == ContentType {
		return true
	}
	mt, params, err := mime.ParseMediaType(vals[0])
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}
