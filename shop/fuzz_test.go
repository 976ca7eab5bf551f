package shop_test

import (
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/shop"
)

// FuzzNormalizeUsername: any input either fails with a VALIDATION_ERROR
// naming the field, or yields a valid Telegram username that normalises to
// itself.
func FuzzNormalizeUsername(f *testing.F) {
	for _, s := range []string{"pandus", "@pandus", " @Pandus_1 ", "1abc", "ab", "@", "pan dus", "пандус", strings.Repeat("a", 33)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		u, err := shop.NormalizeUsername("recipient_username", in)
		if err != nil {
			var e *shop.Error
			if shop.ErrorCode(err) != shop.CodeValidation || !strings.Contains(err.Error(), "recipient_username") {
				t.Fatalf("%q: error %v (%T %v) does not name the field", in, err, err, e)
			}
			return
		}
		if len(u) < 5 || len(u) > 32 {
			t.Fatalf("%q → %q: bad length", in, u)
		}
		if again, err := shop.NormalizeUsername("recipient_username", u); err != nil || again != u {
			t.Fatalf("%q → %q not stable: %q, %v", in, u, again, err)
		}
	})
}

// FuzzCanonicalMemo: canonicalisation is idempotent and never lets two
// different generated memos collide (generated memos are fixed points).
func FuzzCanonicalMemo(f *testing.F) {
	for _, s := range []string{"STARS-a1b2c3", " stars-A1B2C3 ", "PREMIUM-k3j9x2", "", "-", "x-y-z", "\tSTARS-abc\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c := shop.CanonicalMemo(in)
		if shop.CanonicalMemo(c) != c {
			t.Fatalf("not idempotent: %q → %q → %q", in, c, shop.CanonicalMemo(c))
		}
		if strings.TrimSpace(c) != c {
			t.Fatalf("%q keeps surrounding space", c)
		}
	})
}
