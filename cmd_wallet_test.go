package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/ton"
)

// wallet new prints a fresh 24-word mnemonic with the warning to keep it
// offline, and the service addresses those words give (both versions, both
// networks), exactly as the service derives them from ton.wallet_seed.
func TestWalletNew(t *testing.T) {
	gen := func() string {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"wallet", "new"}, os.Getenv, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	out := gen()
	if !strings.Contains(out, "keep them offline") || !strings.Contains(out, "stored nowhere") {
		t.Errorf("no offline-storage warning:\n%s", out)
	}
	m := regexp.MustCompile(`TON_WALLET_SEED \(or ton.wallet_seed\):\n  ([a-z ]+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no seed line:\n%s", out)
	}
	seed := strings.Fields(m[1])
	if len(seed) != 24 {
		t.Fatalf("%d words", len(seed))
	}
	for i, w := range seed { // the numbered grid says the same words
		if !regexp.MustCompile(`\b` + itoa(i+1) + ` ` + w + `\b`).MatchString(out) {
			t.Errorf("word %d %q not in the grid", i+1, w)
		}
	}
	seen := map[string]bool{}
	for _, v := range []string{"v4r2", "v5r1"} {
		for _, n := range []string{ton.NetworkTestnet, ton.NetworkMainnet} {
			k, err := ton.NewKeys(seed, v, n)
			if err != nil {
				t.Fatal(err)
			}
			line := "  " + v + " " + strings.Repeat(" ", 5-len(v)) + n + strings.Repeat(" ", 8-len(n)) + " " + k.ServiceAddress() + "  (raw " + k.ServiceAddressRaw() + ")"
			if !strings.Contains(out, line) {
				t.Errorf("missing %q in:\n%s", line, out)
			}
			seen[k.ServiceAddress()] = true
			prefix := "0Q"
			if n == ton.NetworkMainnet {
				prefix = "UQ"
			}
			if !strings.HasPrefix(k.ServiceAddress(), prefix) {
				t.Errorf("%s %s address %s is not in the %s… form", v, n, k.ServiceAddress(), prefix)
			}
		}
	}
	if len(seen) != 4 {
		t.Errorf("%d distinct addresses, want 4", len(seen))
	}
	if again := gen(); again == out {
		t.Error("two runs printed the same wallet")
	}
	var ee exitError
	if err := run(context.Background(), []string{"wallet"}, os.Getenv, io.Discard, io.Discard); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("wallet without new: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
