package wait

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, 2 * time.Second}, {3, 8 * time.Second}, {10, time.Minute}, {1000, time.Minute}} {
		if got := Backoff(tc.n, time.Second, time.Minute); got != tc.want {
			t.Errorf("Backoff(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestSleepStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep ignored a cancelled context")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep(1ms) reported cancellation")
	}
}

func TestExpSchedules(t *testing.T) {
	e := Exp{Base: time.Second, Max: 8 * time.Second}
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 8 * time.Second} {
		if got := e.After(n); got != want {
			t.Errorf("After(%d) = %s, want %s", n, got, want)
		}
	}
	j := Exp{Base: time.Second, Max: time.Second, Jitter: 0.2}
	for range 100 {
		if d := j.After(1); d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("jittered delay %s outside ±20%%", d)
		}
	}
	if WebhookAfter(0) != Webhook[0] || WebhookAfter(1) != Webhook[0] || WebhookAfter(100) != Webhook[len(Webhook)-1] {
		t.Errorf("WebhookAfter does not follow the table")
	}
}
