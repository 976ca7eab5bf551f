package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	fastjson "github.com/segmentio/encoding/json"

	"github.com/theopenmoney/openmoney/shop"
)

// ContentType of every response.
const ContentType = "application/json; charset=utf-8"

// Codes the HTTP layer adds to shop's (the error table of openapi.json's info).
const (
	CodeMethodNotAllowed shop.Code = "METHOD_NOT_ALLOWED"
	CodePayloadTooLarge  shop.Code = "PAYLOAD_TOO_LARGE"
	CodeRateLimited      shop.Code = "RATE_LIMITED"
	// CodeUnsupportedMediaType (415): a request body not declared
	// Content-Type: application/json.
	CodeUnsupportedMediaType shop.Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeInternal             shop.Code = "INTERNAL_ERROR"
)

// Envelope is the shape of every response body, for clients and tests that
// read them: {"ok":true,"data":…} or {"ok":false,"error_code":…,
// "error_message":…,"data":null}.
type Envelope struct {
	OK           bool            `json:"ok"`
	ErrorCode    string          `json:"error_code,omitempty"`
	ErrorMessage string          `json:"error_message,omitempty"`
	Data         json.RawMessage `json:"data"`
}

type okBody struct {
	OK   bool `json:"ok"`
	Data any  `json:"data"`
}

type errBody struct {
	OK           bool      `json:"ok"`
	ErrorCode    shop.Code `json:"error_code"`
	ErrorMessage string    `json:"error_message"`
	Data         *struct{} `json:"data"`
}

// StatusFor maps an error code to its HTTP status (the table in
// openapi.json's info); 0 for a code the table does not know.
func StatusFor(code shop.Code) int {
	switch code {
	case shop.CodeUnauthorized:
		return http.StatusUnauthorized
	case shop.CodeInsufficientBalance:
		return http.StatusPaymentRequired
	case shop.CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case shop.CodeOrderNotCancellable, shop.CodeIdempotencyInProgress, shop.CodeAlreadyAssigned, shop.CodeWebhookDisabled,
		shop.CodeAlreadyResolved, shop.CodeTransferRefused, shop.CodeNotAwaitingDelivery, shop.CodeNotReconcilable:
		return http.StatusConflict
	case CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case shop.CodeValidation, shop.CodeIdempotencyReused, shop.CodeRecipientNotFound:
		return http.StatusUnprocessableEntity
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeInternal:
		return http.StatusInternalServerError
	case shop.CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	}
	return 0
}

// errorBody renders an error envelope.
func errorBody(code shop.Code, msg string) []byte {
	b, err := json.Marshal(errBody{ErrorCode: code, ErrorMessage: msg})
	if err != nil { // cannot happen: two strings
		return []byte(`{"ok":false,"error_code":"INTERNAL_ERROR","error_message":"internal error","data":null}`)
	}
	return append(b, '\n')
}

// successBody renders a success envelope around data, with segmentio's
// encoder: the same bytes as encoding/json (the OpenAPI and golden-answer
// tests compare them) in about a third of the CPU, on every answer.
func successBody(data any) ([]byte, error) {
	b, err := fastjson.Marshal(okBody{OK: true, Data: data})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeBody writes a complete JSON response.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeCode writes an error envelope with the status of code.
func writeCode(w http.ResponseWriter, code shop.Code, msg string) {
	writeBody(w, StatusFor(code), errorBody(code, msg))
}

// writeOK writes {"ok":true,"data":data} with status 200 (marked replayed
// when the shop answered with what the request's Idempotency-Key made).
func (srv *server) writeOK(w http.ResponseWriter, r *http.Request, data any) {
	if infoFrom(r.Context()).replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	body, err := successBody(data)
	if err != nil {
		srv.writeError(w, r, err)
		return
	}
	writeBody(w, http.StatusOK, body)
}

// writeError answers err: a shop.Error with a known code as its status and
// envelope, an oversized body as 413, anything else as 500 INTERNAL_ERROR
// carrying the request id (the error itself is logged, never shown).
func (srv *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var be *shop.Error
	if errors.As(err, &be) {
		if status := StatusFor(be.Code); status != 0 {
			if be.Code == shop.CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="openmoney"`)
			}
			writeBody(w, status, errorBody(be.Code, be.Message))
			return
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeCode(w, CodePayloadTooLarge, "request body is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes")
		return
	}
	srv.internalError(w, r, err)
}

// internalError logs err with the request id and answers 500.
func (srv *server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	id := requestIDFrom(ctx)
	level := slog.LevelError
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		level = slog.LevelInfo // the client went away mid-request
	}
	srv.log.LogAttrs(ctx, level, "internal error", slog.String("request_id", id),
		slog.String("route", routeFrom(ctx)), slog.Any("err", err))
	writeCode(w, CodeInternal, "internal error; quote request id "+id+" to support")
}
