package money

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFormatTON(t *testing.T) {
	for _, tc := range []struct {
		nano int64
		want string
	}{
		{0, "0"}, {437500000, "0.4375"}, {2_000_000_000, "2"}, {1, "0.000000001"},
		{418000000, "0.418"}, {-1500000000, "-1.5"}, {math.MaxInt64, "9223372036.854775807"},
		{math.MinInt64, "-9223372036.854775808"},
	} {
		if got := FormatTON(tc.nano); got != tc.want {
			t.Errorf("FormatTON(%d) = %q, want %q", tc.nano, got, tc.want)
		}
	}
}

func TestParseTON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0.4375", 437500000, true}, {"2", 2e9, true}, {"0.000000001", 1, true},
		{"9223372036.854775807", math.MaxInt64, true}, {"9223372036.854775808", 0, false},
		{"1.0000000001", 0, false}, {"-1", 0, false}, {"1e3", 0, false}, {"", 0, false},
		{".5", 0, false}, {"5.", 0, false}, {"abc", 0, false}, {"99999999999999999999", 0, false},
	} {
		got, err := ParseTON(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTON(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && FormatTON(got) != trimZeros(tc.in) {
			t.Errorf("round trip %q → %q", tc.in, FormatTON(got))
		}
	}
}

func trimZeros(s string) string { return s }

func TestAddOverflow(t *testing.T) {
	if _, err := Add(math.MaxInt64, 1); err == nil {
		t.Fatal("want overflow")
	}
	if v, err := Add(5, -7); err != nil || v != -2 {
		t.Fatalf("Add(5,-7) = %d, %v", v, err)
	}
}

func FuzzParseTON(f *testing.F) {
	for _, s := range []string{"0.4375", "1", "9223372036.854775807", "1.", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseTON(s)
		if err != nil {
			return
		}
		back, err := ParseTON(FormatTON(n))
		if err != nil || back != n {
			t.Fatalf("round trip %q: %d → %q → %d (%v)", s, n, FormatTON(n), back, err)
		}
	})
}

// TestFormatTONRoundTrip: every formatted amount parses back to itself, and
// agrees with the plain fixed-point rendering.
func TestFormatTONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 100_000 {
		n := r.Int64N(math.MaxInt64)
		if i%3 == 0 {
			n %= 10 * NanoPerTON
		}
		s := FormatTON(n)
		back, err := ParseTON(s)
		if err != nil || back != n {
			t.Fatalf("FormatTON(%d) = %q, parses to %d, %v", n, s, back, err)
		}
		want := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%d.%09d", n/NanoPerTON, n%NanoPerTON), "0"), ".")
		if s != want {
			t.Fatalf("FormatTON(%d) = %q, want %q", n, s, want)
		}
	}
}

func TestFormatUSDT(t *testing.T) {
	for units, want := range map[int64]string{0: "0", 1: "0.000001", 1_500_000: "1.5", 12_345_678: "12.345678",
		-2_000_000: "-2", 10_000_000_000: "10000", math.MinInt64: "-9223372036854.775808"} {
		if got := FormatUSDT(units); got != want {
			t.Errorf("FormatUSDT(%d) = %q, want %q", units, got, want)
		}
	}
	if Format("USDT", 2_500_000) != "2.5" || Format("TON", 2_500_000_000) != "2.5" {
		t.Errorf("Format by currency")
	}
}
