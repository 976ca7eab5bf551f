// Package money holds the only conversions between integer nanotons and the
// decimal TON figures shown at the edge (JSON, bot texts). Arithmetic never
// leaves integers; these helpers are exact.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// NanoPerTON is 10^9: 1 TON = 1e9 nanotons.
const NanoPerTON = 1_000_000_000

// ErrInvalid is returned for a decimal that is not a valid non-negative TON amount.
var ErrInvalid = errors.New("invalid TON amount")

// FormatTON renders nanotons as a decimal TON string with every significant
// digit and no trailing zeros: 437500000 → "0.4375", 2e9 → "2".
func FormatTON(nano int64) string {
	neg := nano < 0
	u := uint64(nano)
	if neg {
		u = uint64(-(nano + 1)) + 1 // safe for math.MinInt64
	}
	whole := u / NanoPerTON
	frac := u % NanoPerTON
	var buf [32]byte
	b := buf[:0]
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, whole, 10)
	if frac != 0 {
		b = append(b, '.')
		start := len(b)
		b = strconv.AppendUint(b, frac+NanoPerTON, 10)[:start+10] // 1xxxxxxxxx: nine zero-padded digits after the 1
		copy(b[start:], b[start+1:])
		b = b[:start+9]
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return string(b)
}

// ParseTON parses a non-negative decimal TON amount with at most 9 decimals
// ("0.4375", "12", "1e-3" is refused) into nanotons, with overflow checks.
func ParseTON(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, ErrInvalid
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || len(frac) > 9 {
		return 0, ErrInvalid
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, ErrInvalid
		}
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > math.MaxInt64/NanoPerTON {
		return 0, ErrInvalid
	}
	frac += strings.Repeat("0", 9-len(frac))
	f, err := strconv.ParseUint(frac, 10, 64)
	if err != nil {
		return 0, ErrInvalid
	}
	total := w*NanoPerTON + f
	if total > math.MaxInt64 {
		return 0, ErrInvalid
	}
	return int64(total), nil
}

// ParseNano parses a decimal string of nanotons ("437500000").
func ParseNano(s string) (int64, error) {
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, ErrInvalid
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, ErrInvalid
	}
	return n, nil
}

// Add returns a+b or an error when the sum would overflow int64.
func Add(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, fmt.Errorf("money: %d + %d overflows", a, b)
	}
	return a + b, nil
}

// Decimal prints a rational exactly when it has a finite decimal expansion
// (every price here does: its denominators are powers of 2 and 5), otherwise
// rounded to 12 places; trailing zeros dropped.
func Decimal(r *big.Rat) string {
	for digits := 0; digits <= 30; digits++ {
		scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)))
		if scaled.IsInt() {
			return trimDecimal(r.FloatString(digits))
		}
	}
	return trimDecimal(r.FloatString(12))
}

func trimDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
