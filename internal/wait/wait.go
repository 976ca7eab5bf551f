// Package wait holds the two timing helpers every background loop uses:
// a context-aware sleep and capped exponential backoff.
package wait

import (
	"context"
	"time"
)

// Sleep waits d or until ctx ends; it reports false when ctx ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Backoff is min(base·2^n, max) for attempt n (0-based).
func Backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
