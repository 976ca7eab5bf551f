package shop

import (
	"context"
	"net/netip"
)

// SetWebhookLookup replaces the save-time DNS resolver of webhook hosts
// until the returned restore is called (tests only).
func SetWebhookLookup(f func(ctx context.Context, host string) ([]netip.Addr, error)) (restore func()) {
	old := lookupHost
	lookupHost = f
	return func() { lookupHost = old }
}
