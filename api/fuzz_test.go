package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/theopenmoney/openmoney/api"
)

// FuzzCreateStarsOrder sends arbitrary bodies (and Idempotency-Keys) to
// POST /orders/stars through the whole handler: never a 5xx, never a panic
// (the recoverer would turn one into a 500), always an envelope. Seeds live
// in testdata/fuzz/FuzzCreateStarsOrder.
func FuzzCreateStarsOrder(f *testing.F) {
	te := newEnv(f)
	_, key := te.Partner(f)
	f.Fuzz(func(t *testing.T, body []byte, idemKey string) {
		req := httptest.NewRequest("POST", "/api/v1/orders/stars", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if idemKey != "" {
			req.Header["Idempotency-Key"] = []string{idemKey}
		}
		rec := httptest.NewRecorder()
		te.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		var e api.Envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("not an envelope: %s", rec.Body)
		}
		switch {
		case rec.Code == http.StatusOK && e.OK && len(e.Data) > 0 && e.Data[0] == '{':
		case rec.Code >= 400 && !e.OK && e.ErrorCode != "" && e.ErrorMessage != "" && string(e.Data) == "null":
		default:
			t.Fatalf("status %d with %s", rec.Code, rec.Body)
		}
	})
}
