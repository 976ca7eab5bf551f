package shop_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

// statusChain is a chain source that only reports a status.
type statusChain struct{ st ton.Status }

func (c statusChain) Stream(ctx context.Context, _ string, _ func(context.Context, ton.Batch) error) error {
	<-ctx.Done()
	return nil
}
func (c statusChain) Status() ton.Status { return c.st }

// A listener alert (a held history gap, a recent failed verification) turns
// /health degraded even when the listener is connected and current, and the
// report carries the words the operator needs.
func TestHealthDegradedOnListenerAlert(t *testing.T) {
	now := time.Now()
	ok := ton.Status{Network: "mainnet", Connected: true, LastBlock: 9, LastBlockTime: now, LagSeconds: 1}
	env := shoptest.New(t, shoptest.Options{Chain: statusChain{ok}})
	if h := env.Shop.Health(ctx); h.Status != "ok" {
		t.Fatalf("healthy listener: %+v", h)
	}
	for _, alert := range []ton.Status{
		{Network: "mainnet", Connected: true, LastBlockTime: now, ProofFailures: 1, LastProofFailure: "x: unproven liteserver answer: block data: incorrect block",
			Alert: "a liteserver answer failed verification 5s ago and was not used: …"},
		{Network: "mainnet", Connected: true, LastBlockTime: now, HistoryGap: "account 0:ab…: transactions at and before lt 7 …",
			Alert: "account history gap held (the cursor waits before it): …"},
	} {
		env := shoptest.New(t, shoptest.Options{Chain: statusChain{alert}})
		h := env.Shop.Health(ctx)
		if h.Status != "degraded" || h.Listener.Alert == "" {
			t.Errorf("alert %q: health %s", alert.Alert, h.Status)
		}
		if !strings.Contains(h.Listener.LastProofFailure+h.Listener.HistoryGap, alert.LastProofFailure+alert.HistoryGap) {
			t.Errorf("detail lost: %+v", h.Listener)
		}
		env.Check(t)
	}
}
