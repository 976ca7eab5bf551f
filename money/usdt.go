package money

import (
	"strconv"
	"strings"
)

// UnitsPerUSDT is 10^6: USDT on TON has 6 decimals (1 USDT = 1e6 units).
const UnitsPerUSDT = 1_000_000

// FormatUSDT renders USDT units as a decimal USDT string with every
// significant digit and no trailing zeros: 1500000 → "1.5", 1 → "0.000001".
func FormatUSDT(units int64) string {
	neg := units < 0
	u := uint64(units)
	if neg {
		u = uint64(-(units + 1)) + 1
	}
	s := strconv.FormatUint(u/UnitsPerUSDT, 10)
	if frac := u % UnitsPerUSDT; frac != 0 {
		f := strconv.FormatUint(frac+UnitsPerUSDT, 10)[1:] // six zero-padded digits
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Format renders an amount of currency ("TON" in nanotons, "USDT" in USDT
// units) as its decimal figure.
func Format(currency string, amount int64) string {
	if currency == "USDT" {
		return FormatUSDT(amount)
	}
	return FormatTON(amount)
}
