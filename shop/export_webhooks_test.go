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

// PruneWebhookDeliveries runs the housekeeping loop's pruning of old
// webhook delivery rows once.
func (s *Shop) PruneWebhookDeliveries(ctx context.Context) (int, error) {
	return s.pruneWebhookDeliveries(ctx)
}
