package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
)

// Idempotency (the contract: docs/API.md "Idempotency", openapi.json's
// IdempotencyKey parameter), for every authenticated POST:
//
//   - Idempotency-Key: 1–255 printable ASCII characters, scoped to the partner.
//   - Order creation (a keyed route) hands the key to the shop, which keeps
//     it with the order, in the order's transaction: the same key and the
//     same order answer that order as it was created (Idempotent-Replayed),
//     another order is 422 IDEMPOTENCY_KEY_REUSED, and concurrent identical
//     requests create one order. A refusal (4xx) is stored and replayed like
//     any other route's answer.
//   - Any other route: the fingerprint of a request is sha256(method, path,
//     body); a stored answer (shop.IdemLookup) with the same fingerprint is
//     replayed byte for byte with Idempotent-Replayed: true, another
//     fingerprint is 422 IDEMPOTENCY_KEY_REUSED. In this process, a second
//     identical request while the first is in flight waits for it (up to
//     idemWait, then 409 IDEMPOTENCY_IN_PROGRESS) and replays its answer; a
//     different body is 422 at once.
//   - Answers below 500 are stored with shop.IdemSave before the request
//     leaves; 5xx are not stored, so a retry runs again.

// HeaderIdempotencyKey and HeaderReplayed name the idempotency headers.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
)

type flightKey struct {
	partner int64
	key     string
}

// flight is one request in progress under a (partner, key). Its result
// fields are written before done is closed and only read after.
type flight struct {
	fp   string
	done chan struct{}
	// replayable: status/body are the request's final answer, which a waiter
	// with the same fingerprint may replay.
	replayable bool
	status     int
	body       []byte
}

// flights is the in-process table of requests in progress.
type flights struct {
	mu sync.Mutex
	m  map[flightKey]*flight
}

func newFlights() *flights { return &flights{m: map[flightKey]*flight{}} }

// join returns the flight of k, creating it (leader = true) when none runs.
func (fs *flights) join(k flightKey, fp string) (f *flight, leader bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[k]; f != nil {
		return f, false
	}
	f = &flight{fp: fp, done: make(chan struct{})}
	fs.m[k] = f
	return f, true
}

// land ends the flight and wakes its waiters.
func (fs *flights) land(k flightKey, f *flight) {
	fs.mu.Lock()
	if fs.m[k] == f {
		delete(fs.m, k)
	}
	fs.mu.Unlock()
	close(f.done)
}

// ValidIdempotencyKey reports whether k is 1–255 printable ASCII characters.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// Fingerprint identifies a request for idempotency: hex sha256 of method,
// path and body.
func Fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

var errKeyReused = &shop.Error{Code: shop.CodeIdempotencyReused, Field: HeaderIdempotencyKey,
	Message: "this Idempotency-Key was already used with a different request (method, path or body); use a new key for a new request"}

func (srv *server) idempotency(next http.Handler, keyed bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values(HeaderIdempotencyKey)
		if len(vals) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if len(vals) > 1 || !ValidIdempotencyKey(vals[0]) {
			srv.writeError(w, r, invalid(HeaderIdempotencyKey,
				"Idempotency-Key must be one header of 1-255 printable ASCII characters (a UUID is ideal)"))
			return
		}
		key := vals[0]
		if keyed {
			srv.keyedOrder(w, r, next, key)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if !errors.As(err, &mbe) {
				err = invalid("body", "request body could not be read: %v", err)
			}
			srv.writeError(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		fp := Fingerprint(r.Method, r.URL.Path, body)
		ctx := r.Context()
		fk := flightKey{partner: partnerID(ctx), key: key}

		var timeout <-chan time.Time // started by the first wait
		for {
			f, leader := srv.flights.join(fk, fp)
			if leader {
				srv.lead(w, r, next, fk, f, key, fp)
				return
			}
			if f.fp != fp {
				srv.writeError(w, r, errKeyReused)
				return
			}
			if timeout == nil {
				t := time.NewTimer(srv.idemWait)
				defer t.Stop()
				timeout = t.C
			}
			select {
			case <-f.done:
				if f.replayable {
					replay(w, f.status, f.body)
					return
				}
				// The first request ended without a storable answer (5xx,
				// refused): run this one in its own right.
			case <-timeout:
				srv.writeError(w, r, &shop.Error{Code: shop.CodeIdempotencyInProgress, Field: HeaderIdempotencyKey,
					Message: "a request with this Idempotency-Key is still being processed; retry shortly"})
				return
			case <-ctx.Done():
				srv.writeError(w, r, ctx.Err())
				return
			}
		}
	})
}

// keyedOrder runs an order creation under its key: the shop answers for an
// order the key made. A refusal (4xx) is answered from the key when it
// holds something already, else stored under it.
func (srv *server) keyedOrder(w http.ResponseWriter, r *http.Request, next http.Handler, key string) {
	ctx := r.Context()
	ri := infoFrom(ctx)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		srv.writeError(w, r, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ri.idemKey = key
	bw := &bufferWriter{header: http.Header{}}
	next.ServeHTTP(bw, r)
	if bw.status < 400 || bw.status >= 500 {
		send(w, bw.status, bw)
		return
	}
	// Refused: the key's answer when it holds one (an order made with
	// another request, a stored refusal), else this one, stored.
	fp := Fingerprint(r.Method, r.URL.Path, body)
	rec, err := srv.shop.IdemLookup(ctx, ri.partnerID, key)
	switch {
	case err != nil:
		srv.writeError(w, r, err)
	case rec == nil:
		srv.store(ctx, ri.partnerID, key, fp, bw)
		send(w, bw.status, bw)
	case rec.Fingerprint != fp:
		srv.writeError(w, r, errKeyReused)
	default:
		replay(w, rec.Status, rec.Body)
	}
}

// lead runs the request as the flight's leader: the key's stored answer
// when it has one, else the handler's, stored.
func (srv *server) lead(w http.ResponseWriter, r *http.Request, next http.Handler, fk flightKey, f *flight, key, fp string) {
	defer srv.flights.land(fk, f) // also on panic: waiters then run on their own
	ctx := r.Context()
	rec, err := srv.shop.IdemLookup(ctx, fk.partner, key)
	if err != nil {
		srv.writeError(w, r, err)
		return
	}
	if rec != nil {
		if rec.Fingerprint != fp {
			srv.writeError(w, r, errKeyReused)
			return
		}
		f.status, f.body, f.replayable = rec.Status, rec.Body, true
		replay(w, rec.Status, rec.Body)
		return
	}
	bw := &bufferWriter{header: http.Header{}}
	next.ServeHTTP(bw, r)
	srv.answer(w, r, f, fk, key, fp, bw)
}

// answer stores the handler's final answer under the key (unless it is a
// 5xx) and sends it.
func (srv *server) answer(w http.ResponseWriter, r *http.Request, f *flight, fk flightKey, key, fp string, bw *bufferWriter) {
	status := bw.status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 500 && srv.store(r.Context(), fk.partner, key, fp, bw) {
		f.status, f.body, f.replayable = status, bw.buf.Bytes(), true
	}
	send(w, status, bw)
}

// store keeps an answer under the key (not a 5xx); it reports whether the
// key now holds it.
func (srv *server) store(ctx context.Context, partner int64, key, fp string, bw *bufferWriter) bool {
	if bw.status >= 500 {
		return false
	}
	err := srv.shop.IdemSave(context.WithoutCancel(ctx), domain.IdemRecord{PartnerID: partner, Key: key,
		Fingerprint: fp, Status: bw.status, Body: bw.buf.Bytes()})
	if err != nil {
		// The answer stands; a retry runs again.
		ri := infoFrom(ctx)
		srv.log.LogAttrs(ctx, slog.LevelError, "idempotency: store response",
			slog.String("request_id", ri.id), slog.String("route", ri.route), slog.Any("err", err))
		return false
	}
	return true
}

// send writes a buffered answer.
func send(w http.ResponseWriter, status int, bw *bufferWriter) {
	if status == 0 {
		status = http.StatusOK
	}
	for k, v := range bw.header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(bw.buf.Bytes())
}

// replay writes a stored response again.
func replay(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set(HeaderReplayed, "true")
	writeBody(w, status, body)
}

// bufferWriter holds a handler's response until it is stored.
type bufferWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}
