package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/shop"
)

// return_url: optional on creation; an absolute https URL (http in sandbox
// mode or to a loopback host) of printable ASCII, ≤ 2048 bytes, without
// userinfo; anything else is 422 naming return_url. Stored with the order and
// answered by every order route (null when absent).
func TestOrderReturnURLValidation(t *testing.T) {
	long := "https://shop.example/" + strings.Repeat("a", shop.MaxReturnURL-len("https://shop.example/"))
	for _, tc := range []struct {
		name, body string
		sandbox    bool // the env's mode
		want       string
	}{
		{name: "missing", body: starsBody("pandus", 100, ""), want: "null"},
		{name: "null", body: starsBody("pandus", 100, `"return_url":null`), want: "null"},
		{name: "https", body: starsBody("pandus", 100, `"return_url":"https://shop.example/thanks?order=42#done"`), want: `"https://shop.example/thanks?order=42#done"`},
		{name: "https upper-case scheme", body: starsBody("pandus", 100, `"return_url":"HTTPS://shop.example/"`), want: `"HTTPS://shop.example/"`},
		{name: "2048 bytes", body: starsBody("pandus", 100, `"return_url":"`+long+`"`), want: `"` + long + `"`},
		{name: "http localhost", body: starsBody("pandus", 100, `"return_url":"http://localhost:3000/done"`), want: `"http://localhost:3000/done"`},
		{name: "http 127.0.0.1", body: starsBody("pandus", 100, `"return_url":"http://127.0.0.1/done"`), want: `"http://127.0.0.1/done"`},
		{name: "http [::1]", body: starsBody("pandus", 100, `"return_url":"http://[::1]:8080/"`), want: `"http://[::1]:8080/"`},
		{name: "http in sandbox", sandbox: true, body: starsBody("pandus", 100, `"return_url":"http://shop.example/"`), want: `"http://shop.example/"`},
		{name: "premium https", body: `{"recipient_username":"pandus","months":3,"return_url":"https://shop.example/p"}`, want: `"https://shop.example/p"`},

		{name: "javascript", body: starsBody("pandus", 100, `"return_url":"javascript:alert(1)"`)},
		{name: "javascript slashes", body: starsBody("pandus", 100, `"return_url":"javascript://shop.example/%0aalert(1)"`)},
		{name: "data", body: starsBody("pandus", 100, `"return_url":"data:text/html,<b>x</b>"`)},
		{name: "ftp", body: starsBody("pandus", 100, `"return_url":"ftp://shop.example/file"`)},
		{name: "relative", body: starsBody("pandus", 100, `"return_url":"/thanks"`)},
		{name: "scheme-relative", body: starsBody("pandus", 100, `"return_url":"//shop.example/thanks"`)},
		{name: "no host", body: starsBody("pandus", 100, `"return_url":"https:///thanks"`)},
		{name: "opaque", body: starsBody("pandus", 100, `"return_url":"https:shop.example"`)},
		{name: "too long", body: starsBody("pandus", 100, `"return_url":"`+long+`x"`)},
		{name: "userinfo", body: starsBody("pandus", 100, `"return_url":"https://user:pw@shop.example/"`)},
		{name: "user only", body: starsBody("pandus", 100, `"return_url":"https://evil.example@shop.example/"`)},
		{name: "http outside sandbox", body: starsBody("pandus", 100, `"return_url":"http://shop.example/"`)},
		{name: "space", body: starsBody("pandus", 100, `"return_url":"https://shop.example/a b"`)},
		{name: "newline", body: starsBody("pandus", 100, `"return_url":"https://shop.example/\n"`)},
		{name: "non-ASCII", body: starsBody("pandus", 100, `"return_url":"https://shöp.example/"`)},
		{name: "backslash", body: starsBody("pandus", 100, `"return_url":"https://evil.example\\@shop.example/"`)},
		{name: "empty", body: starsBody("pandus", 100, `"return_url":""`)},
		{name: "number", body: starsBody("pandus", 100, `"return_url":42`)},
		{name: "balance order", sandbox: true, body: starsBody("pandus", 100, `"payment_method":"balance","return_url":"https://shop.example/"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var te *tenv
			if tc.sandbox {
				te = newEnv(t)
			} else {
				te = newEnv(t, notSandbox())
			}
			_, key := te.Partner(t)
			r := te.call(t, "POST", "/api/v1/orders/stars", key, tc.body)
			if strings.Contains(tc.body, `"months"`) {
				r = te.call(t, "POST", "/api/v1/orders/premium", key, tc.body)
			}
			if tc.want == "" {
				r.must(t, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
				if !strings.HasPrefix(r.Env.ErrorMessage, "return_url") {
					t.Errorf("message %q does not name return_url", r.Env.ErrorMessage)
				}
				return
			}
			r.must(t, http.StatusOK)
			if got := string(r.fields(t)["return_url"]); got != tc.want {
				t.Fatalf("return_url %s, want %s", got, tc.want)
			}
			// The same on every read.
			id := itoa(int(r.order(t).ID))
			for _, path := range []string{"/api/v1/orders/" + id, "/api/v1/orders"} {
				g := te.call(t, "GET", path, key, "").must(t, http.StatusOK)
				var raw json.RawMessage = g.Env.Data
				if path == "/api/v1/orders" {
					var l struct{ Items []json.RawMessage }
					if err := json.Unmarshal(g.Env.Data, &l); err != nil || len(l.Items) != 1 {
						t.Fatalf("list %s: %v", g.Env.Data, err)
					}
					raw = l.Items[0]
				}
				var f map[string]json.RawMessage
				if err := json.Unmarshal(raw, &f); err != nil {
					t.Fatal(err)
				}
				if got := string(f["return_url"]); got != tc.want {
					t.Errorf("%s: return_url %s, want %s", path, got, tc.want)
				}
			}
		})
	}
}

// The return URL belongs to the order's Idempotency-Key fingerprint: the
// same key with another return_url is another order (422
// IDEMPOTENCY_KEY_REUSED), with the same one the first answer again.
func TestOrderReturnURLIdempotency(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	body := starsBody("pandus", 100, `"return_url":"https://shop.example/a"`)
	first := te.call(t, "POST", "/api/v1/orders/stars", key, body, "Idempotency-Key", "ret-1").must(t, http.StatusOK).order(t)
	again := te.call(t, "POST", "/api/v1/orders/stars", key, body, "Idempotency-Key", "ret-1").must(t, http.StatusOK).order(t)
	if again.ID != first.ID || again.ReturnURL == nil || *again.ReturnURL != "https://shop.example/a" {
		t.Fatalf("replay %+v, first %+v", again, first)
	}
	te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, `"return_url":"https://shop.example/b"`), "Idempotency-Key", "ret-1").
		must(t, 422, "IDEMPOTENCY_KEY_REUSED")
	te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, ""), "Idempotency-Key", "ret-1").
		must(t, 422, "IDEMPOTENCY_KEY_REUSED")
}
