package fragment

import (
	"strings"
	"testing"
	"time"
)

// Payloads in the shapes Fragment uses: base64url without padding with the
// Ref# split over two cells, standard base64 with padding, and a non-comment
// cell (a jetton transfer, as for USDT payments).
const (
	payloadStars   = "te6ccgEBAgEAKgABRAAAAAA1MDAgVGVsZWdyYW0gU3RhcnMgCgpSZWYjazNKOXgBAAYyUWE"
	payloadPremium = "te6cckEBAQEAMAAAXAAAAABUZWxlZ3JhbSBQcmVtaXVtIGZvciA2IG1vbnRocyAKClJlZiNaejgxUHHirgbX"
	payloadJetton  = "te6ccgEBAQEAEQAAHQ-KfqUAAAAAAAAAByA-iA"
)

func TestDecodePayload(t *testing.T) {
	for _, tc := range []struct{ in, comment string }{
		{payloadStars, "500 Telegram Stars \n\nRef#k3J9x2Qa"},
		{payloadPremium, "Telegram Premium for 6 months \n\nRef#Zz81Pq"},
		{payloadJetton, ""},
		{"  " + payloadStars + "==\n", "500 Telegram Stars \n\nRef#k3J9x2Qa"},
	} {
		c, err := decodePayload(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := payloadComment(c); got != tc.comment {
			t.Errorf("comment %q, want %q", got, tc.comment)
		}
	}
	// The url and std alphabets decode to the same cell.
	std := strings.NewReplacer("-", "+", "_", "/").Replace(payloadJetton)
	a, _ := decodePayload(payloadJetton)
	b, err := decodePayload(std)
	if err != nil || string(a.Hash()) != string(b.Hash()) {
		t.Fatalf("std alphabet: %v", err)
	}
	for _, bad := range []string{"", "!!!not-base64!!!", "aGVsbG8", strings.Repeat("A", maxPayloadChars+1)} {
		if _, err := decodePayload(bad); err == nil {
			t.Errorf("accepted payload %q", bad)
		}
	}
}

func TestDecodeResponseShapes(t *testing.T) {
	r, err := decodeResponse([]byte(`{"ok":true,"found":{"myself":false,"recipient":"tok==","name":"Alice","photo":"<img src=\"x\">"}}`))
	if err != nil || r.Found == nil || r.Found.Recipient != "tok==" || r.HasError || r.OK == nil || !*r.OK {
		t.Fatalf("search: %+v, %v", r, err)
	}
	r, _ = decodeResponse([]byte(`{"error":"No Telegram users found."}`))
	if !r.HasError || r.Error != "No Telegram users found." || classifyError(r.Error) != kindRecipient {
		t.Fatalf("error: %+v", r)
	}
	r, _ = decodeResponse([]byte(`{"error":{"error":"Session expired"}}`))
	if classifyError(r.Error) != kindSession {
		t.Fatalf("nested error: %+v", r)
	}
	r, _ = decodeResponse([]byte(`{"req_id":12345,"amount":"1,234.5","need_ton":0}`))
	if r.ReqID != "12345" || r.Amount != "1234.5" || r.NeedTON {
		t.Fatalf("init: %+v", r)
	}
	if n, ok := tonToNano(r.Amount); !ok || n != 1_234_500_000_000 {
		t.Fatalf("amount %d %v", n, ok)
	}
	r, _ = decodeResponse([]byte(`{"need_verify":true}`))
	if !r.NeedVerify {
		t.Fatal("need_verify")
	}
	r, _ = decodeResponse([]byte(`{"error":null,"ok":true}`))
	if r.HasError {
		t.Fatal("null error counted")
	}
	for _, bad := range []string{``, `<html>`, `[1]`, `"x"`, `null`, `{`} {
		if _, err := decodeResponse([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseLink(t *testing.T) {
	valid := time.Now().Add(5 * time.Minute).Unix()
	body := `{"ok":true,"transaction":{"validUntil":` + itoa(valid) + `,"from":"0:ab","messages":[{"address":"` + fakeDest +
		`","amount":"1935000000","payload":"` + payloadStars + `"}]},"confirm_method":"confirmReq","confirm_params":{"id":"req1"}}`
	r, err := decodeResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseLink(r)
	if err != nil {
		t.Fatal(err)
	}
	if o.To != fakeDest || o.AmountNano != 1_935_000_000 || o.Payload != payloadStars || o.ValidUntil.Unix() != valid ||
		o.Confirm == nil || o.Confirm.Method != "confirmReq" || o.Confirm.Params["id"] != "req1" {
		t.Fatalf("offer %+v", o)
	}
	// validUntil as a string, and in milliseconds.
	r, _ = decodeResponse([]byte(strings.Replace(body, `"validUntil":`+itoa(valid), `"validUntil":"`+itoa(valid*1000)+`"`, 1)))
	if o, err := parseLink(r); err != nil || o.ValidUntil.Unix() != valid {
		t.Fatalf("ms validUntil: %+v %v", o, err)
	}

	for name, mutate := range map[string]func(string) string{
		"amount in TON (the 1e9 bug)": func(s string) string { return strings.Replace(s, `"1935000000"`, `"1.935"`, 1) },
		"negative amount":             func(s string) string { return strings.Replace(s, `"1935000000"`, `"-5"`, 1) },
		"zero amount":                 func(s string) string { return strings.Replace(s, `"1935000000"`, `"0"`, 1) },
		"huge amount":                 func(s string) string { return strings.Replace(s, `"1935000000"`, `"99999999999999999999"`, 1) },
		"no payload":                  func(s string) string { return strings.Replace(s, payloadStars, "", 1) },
		"no validUntil":               func(s string) string { return strings.Replace(s, `"validUntil":`+itoa(valid)+`,`, ``, 1) },
		"two messages": func(s string) string {
			return strings.Replace(s, `"messages":[{`, `"messages":[{"address":"x","amount":"1","payload":"`+payloadStars+`"},{`, 1)
		},
		"no transaction": func(string) string { return `{"ok":true}` },
		"no address":     func(s string) string { return strings.Replace(s, fakeDest, "", 1) },
	} {
		r, err := decodeResponse([]byte(mutate(body)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := parseLink(r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// confirm_method must look like a method name.
	r, _ = decodeResponse([]byte(strings.Replace(body, `"confirmReq"`, `"../evil?x=1"`, 1)))
	if o, _ := parseLink(r); o.Confirm != nil {
		t.Fatal("odd confirm_method kept")
	}
}

func itoa(n int64) string { return formatInt(n) }

func TestClassifyError(t *testing.T) {
	for text, want := range map[string]errKind{
		"Session expired":                             kindSession,
		"AUTH_SESSION_EXPIRED":                        kindSession,
		"Access denied":                               kindSession,
		"Bad request":                                 kindBadHash,
		"No Telegram users found.":                    kindRecipient,
		"Please enter a username assigned to a user.": kindRecipient,
		"You can't gift Telegram Stars to this account at this moment.": kindRecipient,
		"This account is already subscribed to Telegram Premium.":       kindRecipient,
		"Price was changed":                  kindOther,
		"Something odd":                      kindOther,
		"Too many requests, try again later": kindTransient,
	} {
		if got := classifyError(text); got != want {
			t.Errorf("%q → %d, want %d", text, got, want)
		}
	}
}

func TestNormalizeCookies(t *testing.T) {
	for in, want := range map[string]string{
		"stel_ssid=a; stel_dt=-240":          "stel_ssid=a; stel_dt=-240",
		"Cookie: stel_ssid=a;stel_dt=-240\n": "stel_ssid=a; stel_dt=-240",
		"stel_ssid=a\nstel_token=b\r\n":      "stel_ssid=a; stel_token=b",
		"  ":                                 "",
	} {
		if got := normalizeCookies(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// FuzzDecodeResponse feeds arbitrary answers through everything that reads
// Fragment's JSON before money moves: it must never panic, and whatever
// parseLink accepts must be payable as is.
func FuzzDecodeResponse(f *testing.F) {
	valid := time.Now().Add(time.Hour).Unix()
	seeds := []string{
		`{"ok":true,"found":{"myself":false,"recipient":"AbC","name":"Alice","photo":"<img>"}}`,
		`{"error":"No Telegram users found."}`,
		`{"error":{"error":"Session expired"}}`,
		`{"req_id":"r1","myself":false,"to_bot":false,"amount":"0.3251"}`,
		`{"ok":true,"transaction":{"validUntil":` + itoa(valid) + `,"from":"0:ab","messages":[{"address":"` + fakeDest + `","amount":"1935000000","payload":"` + payloadStars + `"}]}}`,
		`{"ok":true,"transaction":{"validUntil":"1","messages":[{"address":1,"amount":1.5,"payload":"` + payloadJetton + `"}]},"confirm_method":"confirmReq","confirm_params":{"id":7}}`,
		`{"need_verify":1}`,
		`{"transaction":{"messages":[null,{},[]]}}`,
		`{"found":[],"req_id":{},"transaction":"x"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeResponse(body)
		if err != nil {
			return
		}
		_ = classifyError(r.Error)
		if r.Tx != nil {
			for _, m := range r.Tx.Messages {
				_, _ = decodePayload(m.Payload)
				_, _ = parseNano(m.Amount)
			}
		}
		_, _ = tonToNano(r.Amount)
		o, err := parseLink(r)
		if err != nil {
			return
		}
		if o.AmountNano <= 0 || o.To == "" {
			t.Fatalf("accepted unpayable offer %+v", o)
		}
		c, err := decodePayload(o.Payload)
		if err != nil || c == nil {
			t.Fatalf("accepted offer with bad payload: %v", err)
		}
		_ = payloadComment(c)
	})
}

// FuzzSafeFromBOC: BOC bytes straight from the wire never crash the process
// (tonutils-go allocates by declared counts; safeFromBOC checks them first).
func FuzzSafeFromBOC(f *testing.F) {
	for _, p := range []string{payloadStars, payloadJetton} {
		c, _ := decodePayload(p)
		f.Add(c.ToBOCWithFlags(false))
		f.Add(c.ToBOC())
	}
	f.Add([]byte{0xb5, 0xee, 0x9c, 0x72, 0x04, 0x00, 0x00, 0x74, 0x3e, 0x29, 0xfa, 0x94, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := safeFromBOC(raw)
		if err == nil {
			_ = payloadComment(c)
			_ = c.Hash()
		}
	})
}
