package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/theopenmoney/openmoney/shop"
)

// FuzzDecodeBody: for every request body type, any body is either decoded
// or refused with a 422 VALIDATION_ERROR (never a panic, never another
// error); a decoded body's keys are the struct's, each once; and no
// accepted body decodes to a U+FFFD it did not send itself: text that is
// not valid Unicode is refused, never replaced. Seeds: the bodies below.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"recipient_username":"pandus","quantity":100,"payment_method":"ton_memo","payment_currency":"TON","client_reference":"invoice-42"}`,
		`{"recipient_username":"@Pan_dus","months":3,"client_reference":null}`,
		` {"quantity":1e2} `, `{"quantity":100.0}`, `{"quantity":-0}`, `{"quantity":9223372036854775808}`,
		`{"Quantity":1}`, `{"quantity":1,"quantity":2}`, `{"quantit\u0079":1}`, `{"quantity":1,"quantit\u0079":2}`, `{"recipient_username":"\ud800"}`, `{"recipient_username":"a\u0000b"}`,
		`{"recipient_username":"é\u00e9\\/"}`, "{\"recipient_username\":\"\xff\"}", `{"months":"3"}`, `{"months":3}{}`,
		`{"to_address":"EQ","amount_ton":1.5,"comment":"STARS-ABC"}`, `{"amount_ton":null}`, `{"amount_ton": [1, {"a":2}] }`,
		`{"order_id":7}`, `{"partner_id":null}`, `{"url":"https://x","events":["order.paid"]}`, `{"events":null}`,
		`{"name":"x"}`, `[]`, `null`, `{}`, `{"a":{}}`, `{"quantity":true}`, "{\"quantity\":1}\n\t ",
		`{"client_reference":"\ud83d\ude00"}`, `{"client_reference":"\udc00"}`, `{"client_reference":"\ud83d\u0041"}`,
		"{\"client_reference\":\"\xef\xbf\xbd\"}", `{"events":["\ud800"]}`, `{"comment":"\\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	types := []func() any{
		func() any { return new(starsOrderBody) }, func() any { return new(premiumOrderBody) },
		func() any { return new(sandboxTransferBody) }, func() any { return new(assignBody) },
		func() any { return new(webhookBody) }, func() any { return new(sandboxPartnerBody) },
		func() any { return new(struct{}) },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mk := range types {
			v := mk()
			err := DecodeBody(body, v)
			var se *shop.Error
			if err != nil {
				if !errors.As(err, &se) || se.Code != shop.CodeValidation {
					t.Fatalf("%T: %q refused with %v, want a 422 VALIDATION_ERROR", v, body, err)
				}
				continue
			}
			out, _ := json.Marshal(v)
			if bytes.Contains(out, []byte("\ufffd")) && !bytes.Contains(body, []byte("\ufffd")) &&
				!bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) {
				t.Fatalf("%T: %q decoded with a replacement character: %s", v, body, out)
			}
		}
	})
}
