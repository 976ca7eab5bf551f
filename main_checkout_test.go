package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/config"
)

// An unset http.public_url outside sandbox is warned about at start (the
// checkout links would point at the listen address); in sandbox, or with
// a public URL, there is no warning.
func TestUnsetPublicURLOutsideSandboxWarns(t *testing.T) {
	for _, tc := range []struct {
		network, publicURL string
		warn               bool
	}{
		{"mainnet", "", true},
		{"testnet", "", true},
		{"sandbox", "", false},
		{"mainnet", "https://api.example.com", false},
	} {
		cfg := config.Default()
		cfg.TON.Network, cfg.HTTP.PublicURL = tc.network, tc.publicURL
		var buf bytes.Buffer
		warnPublicURL(cfg, "http://127.0.0.1:8080", slog.New(slog.NewJSONHandler(&buf, nil)))
		warned := strings.Contains(buf.String(), `"level":"WARN"`) &&
			strings.Contains(buf.String(), "http.public_url is unset on "+tc.network+": every order's checkout_url points at http://127.0.0.1:8080")
		if warned != tc.warn {
			t.Errorf("%s %q: warned %v, log %s", tc.network, tc.publicURL, warned, buf.String())
		}
	}
}
