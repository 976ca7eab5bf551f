package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	route     string
	partnerID int64 // 0 until authenticated
	// idemKey and idemFP are set for a POST carrying an Idempotency-Key;
	// order creation hands them to the shop.
	idemKey, idemFP string
	// idemFresh: the middleware found no record for idemKey just now.
	idemFresh bool
	// idemStored: the handler's reply was stored with the key already.
	idemStored bool
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
		ri := &reqInfo{id: id}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		// The server's own writer: over the limit it also closes the connection.
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
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

// accessLog writes one line per request: request id, method, route
// pattern, path (never the query), status, size, duration, partner id.
// Keys are never logged.
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
// partner key, a webhook secret), pasted into a URL by mistake, is redacted.
func logPath(p string) string {
	if !strings.Contains(p, shop.KeyPrefix) && !strings.Contains(p, "whsec_") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.Contains(s, shop.KeyPrefix) || strings.Contains(s, "whsec_") {
			segs[i] = "[redacted]"
		}
	}
	return strings.Join(segs, "/")
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
	if code < 300 || gw.Header().Get("Content-Type") == ContentType {
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

// authenticate requires Authorization: Bearer osk_… naming a live key.
func (srv *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(h, " ")
		if h == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			msg := "missing Authorization header; send Authorization: Bearer osk_…"
			if h != "" {
				msg = "malformed Authorization header; send Authorization: Bearer osk_…"
			}
			srv.writeError(w, r, &shop.Error{Code: shop.CodeUnauthorized, Field: "Authorization", Message: msg})
			return
		}
		id, err := srv.shop.AuthenticateKey(r.Context(), strings.TrimSpace(token))
		if err != nil {
			srv.writeError(w, r, err)
			return
		}
		infoFrom(r.Context()).partnerID = id
		next.ServeHTTP(w, r)
	})
}

// rateLimit applies the per-key limit (per client IP on unauthenticated
// routes) and sets the RateLimit-* headers; 429 RATE_LIMITED with
// Retry-After when exceeded.
func (srv *server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key string
		if id := partnerID(r.Context()); id != 0 {
			key = "p:" + strconv.FormatInt(id, 10)
		} else {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			key = "ip:" + host
		}
		res := srv.limiters.take(key)
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(res.limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(res.remaining))
		h.Set("RateLimit-Reset", strconv.Itoa(res.reset))
		if !res.ok {
			h.Set("Retry-After", strconv.Itoa(res.retryAfter))
			writeCode(w, CodeRateLimited, fmt.Sprintf("rate limit exceeded (%d requests, refilled at %s per second); retry after %d s",
				res.limit, strconv.FormatFloat(float64(srv.limiters.rate), 'f', -1, 64), res.retryAfter))
			return
		}
		next.ServeHTTP(w, r)
	})
}
