package shop_test

import (
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/shop"
)

// ValidReturnURL's rules, outside and inside sandbox mode: https anywhere,
// http only to a loopback host or in the sandbox; never a script, data or
// relative URL, userinfo, whitespace, non-ASCII or more than 2048 bytes.
func TestValidReturnURL(t *testing.T) {
	max := "https://shop.example/" + strings.Repeat("x", shop.MaxReturnURL-len("https://shop.example/"))
	for _, tc := range []struct {
		url          string
		live, sandbx bool // accepted outside / inside sandbox mode
	}{
		{"https://shop.example/thanks?o=42#top", true, true},
		{"HTTPS://SHOP.EXAMPLE/", true, true},
		{"https://shop.example:8443/", true, true},
		{"https://[2001:db8::1]/", true, true},
		{"https://xn--shp-sna.example/", true, true},
		{max, true, true},
		{max + "x", false, false},
		{"http://localhost/", true, true},
		{"http://app.localhost:3000/", true, true},
		{"http://127.0.0.1:8080/done", true, true},
		{"http://127.9.9.9/", true, true},
		{"http://[::1]/", true, true},
		{"http://localhost.evil.example/", false, true},
		{"http://127.0.0.1.nip.io/", false, true},
		{"http://shop.example/", false, true},
		{"javascript:alert(1)", false, false},
		{"JavaScript://shop.example/%0aalert(1)", false, false},
		{"data:text/html,x", false, false},
		{"vbscript:x", false, false},
		{"ftp://shop.example/", false, false},
		{"ws://shop.example/", false, false},
		{"/thanks", false, false},
		{"//shop.example/thanks", false, false},
		{"shop.example/thanks", false, false},
		{"https:shop.example", false, false},
		{"https://", false, false},
		{"https:///x", false, false},
		{"https://:443/", false, false},
		{"https://user@shop.example/", false, false},
		{"https://user:pw@shop.example/", false, false},
		{"https://:pw@shop.example/", false, false},
		{"https://shop.example/a b", false, false},
		{"https://shop.example/\t", false, false},
		{"https://shop.example/\x00", false, false},
		{"https://shop.example/\x7f", false, false},
		{"https://shöp.example/", false, false},
		{"https://evil.example\\@shop.example/", false, false},
		{"https://shop.example:port/", false, false},
		{"", false, false},
	} {
		for _, mode := range []struct {
			sandbox, want bool
		}{{false, tc.live}, {true, tc.sandbx}} {
			err := shop.ValidReturnURL(tc.url, mode.sandbox)
			if (err == nil) != mode.want {
				t.Errorf("%q (sandbox %v): %v, want accepted %v", tc.url, mode.sandbox, err, mode.want)
				continue
			}
			if err != nil && (shop.ErrorCode(err) != shop.CodeValidation || !strings.HasPrefix(err.Error(), "return_url")) {
				t.Errorf("%q: %v (code %s) does not name return_url as a validation error", tc.url, err, shop.ErrorCode(err))
			}
		}
	}
}
