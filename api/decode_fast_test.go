package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeFast holds the decoding fast path to encoding/json: for every
// request body type, a body segmentio's decoder accepts must be accepted by
// the encoding/json path too, into an equal value, and the key check after
// each must give the same answer (nil or the same 422). A body the fast path
// refuses is decoded by the encoding/json path alone, so refusing more is
// always safe. And no body the encoding/json path accepts decodes to a
// U+FFFD the body did not send itself: text that is not valid Unicode is
// refused, never replaced. Seeds: the bodies below and
// testdata/fuzz/FuzzDecodeFast.
func FuzzDecodeFast(f *testing.F) {
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
			// Whatever the slow path accepts holds no U+FFFD the body did not send.
			if v := mk(); slowDecode(body, v) == nil {
				out, _ := json.Marshal(v)
				if bytes.Contains(out, []byte("\ufffd")) && !bytes.Contains(body, []byte("\ufffd")) &&
					!bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) {
					t.Fatalf("%T: %q decoded with a replacement character: %s", v, body, out)
				}
			}
			fast := mk()
			if !fastDecode(body, fast) {
				continue
			}
			slow := mk()
			if err := slowDecode(body, slow); err != nil {
				t.Fatalf("%T: fast path accepted %q, encoding/json refuses it: %v", fast, body, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%T: %q decodes as\n%+v (fast)\n%+v (encoding/json)", fast, body, fast, slow)
			}
			fe, se := checkKeys(body, fast, true), checkKeys(body, slow, false)
			if (fe == nil) != (se == nil) || (fe != nil && fe.Error() != se.Error()) {
				t.Fatalf("%T: %q key check: %v (fast) vs %v (encoding/json)", fast, body, fe, se)
			}
		}
	})
}
