package shop

import (
	"regexp"
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/domain"
)

func TestMemoCipherIsABijectionOnTheCodeSpace(t *testing.T) {
	c, err := newMemoCipher([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^STARS-[0-9a-z]{6}$`)
	seen := map[uint32]int64{}
	check := func(id int64) {
		m, ok := c.memo("stars", id)
		if !ok {
			t.Fatalf("id %d: no derived memo", id)
		}
		if !format.MatchString(m) {
			t.Fatalf("id %d: memo %q has the wrong form", id, m)
		}
		back, ok := c.orderID(m)
		if !ok || back != id {
			t.Fatalf("id %d: memo %q decodes to %d, %v", id, m, back, ok)
		}
		v := c.encrypt(uint32(id))
		if prev, dup := seen[v]; dup {
			t.Fatalf("ids %d and %d share code %d", prev, id, v)
		}
		seen[v] = id
	}
	for id := int64(1); id <= 100_000; id++ {
		check(id)
	}
	for _, id := range []int64{memoSpace - 1, memoSpace - 2, 1 << 30, 1<<31 - 1} {
		check(id)
	}
	for _, id := range []int64{0, -1, memoSpace, 1 << 40} {
		if m, ok := c.memo("stars", id); ok {
			t.Errorf("id %d got memo %q, want none (outside the code space)", id, m)
		}
	}
	// Consecutive ids do not give neighbouring codes (order volume stays hidden).
	near := 0
	for id := uint32(1); id < 1000; id++ {
		if d := int64(c.encrypt(id+1)) - int64(c.encrypt(id)); d > -1000 && d < 1000 {
			near++
		}
	}
	if near > 5 {
		t.Errorf("%d of 999 consecutive ids have codes within 1000 of each other", near)
	}
	other, _ := newMemoCipher([]byte("fedcba9876543210"))
	if a, _ := c.memo("stars", 42); a == func() string { m, _ := other.memo("stars", 42); return m }() {
		t.Errorf("two keys give the same memo %q for id 42", a)
	}
	for _, bad := range []string{"STARS", "STARS-abc", "STARS-abcdefg", "STARS-ab_def", "STARS-ABCDEF"} {
		if id, ok := c.orderID(bad); ok {
			t.Errorf("orderID(%q) = %d, want no id", bad, id)
		}
	}
}

func BenchmarkMemoCipher(b *testing.B) {
	c, _ := newMemoCipher([]byte("0123456789abcdef"))
	for i := 0; b.Loop(); i++ {
		m, _ := c.memo("stars", int64(i%1_000_000+1))
		if _, ok := c.orderID(m); !ok {
			b.Fatal(m)
		}
	}
}

// FuzzMemoOrderID: any transfer comment, canonicalised as the listener does,
// decodes without panicking; a decoded id whose derived memo has the same
// kind prefix gives back exactly that memo (the permutation is a bijection).
func FuzzMemoOrderID(f *testing.F) {
	for _, s := range []string{"STARS-abc123", "PREMIUM-000000", "stars-ZZZZZZ", " STARS-1x2y3z \n", "STARS-", "-", "", "STARS-abc12", "STARS-ab\u00e9123"} {
		f.Add(s)
	}
	c, err := newMemoCipher([]byte("0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, comment string) {
		memo := CanonicalMemo(comment)
		id, ok := c.orderID(memo)
		if !ok {
			return
		}
		if id < 0 || id >= memoSpace {
			t.Fatalf("orderID(%q) = %d, outside the code space", memo, id)
		}
		kind, _, _ := strings.Cut(memo, "-")
		if id == 0 {
			return // code of id 0, never handed out
		}
		// kind is already canonical (upper case); lower-casing it and back is
		// not an identity outside ASCII ("İ" → "i̇" → "İ", a regression
		// input in testdata), so it is passed as it is.
		if back, ok := c.memo(domain.Kind(kind), id); !ok || back != memo {
			t.Fatalf("orderID(%q) = %d, whose memo is %q", memo, id, back)
		}
	})
}
