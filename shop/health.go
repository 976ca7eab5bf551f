package shop

import (
	"context"
	"time"

	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// Health is the service's health report.
type Health struct {
	Status   string     `json:"status"` // ok | degraded
	Version  string     `json:"version"`
	Network  string     `json:"network"`
	Store    string     `json:"store"`
	Listener ton.Status `json:"ton_listener"`
	Provider string     `json:"fulfillment"`
	Rate     string     `json:"rate"`
	// RateSource says where the TON/USD rate comes from (fixed or live, the
	// live source's host), its age, and a live jump held for confirmation.
	RateSource *pricing.Status `json:"rate_source,omitempty"`
	Payments   PaymentsHealth  `json:"payments"`
	// DeliveriesHeld: paid orders waiting on the service wallet's funds or
	// on the chain view (holds.go); the status is degraded while any is.
	DeliveriesHeld *HoldSummary `json:"deliveries_held,omitempty"`
	// TONFloat: the service wallet's TON against what the paid orders
	// awaiting delivery will cost at Fragment (float.go), as last read;
	// absent without a wallet reader (sandbox). Degraded while short.
	TONFloat   *TONFloat      `json:"ton_float,omitempty"`
	Components map[string]any `json:"components,omitempty"`
}

// MaxListenerLag beyond which the listener counts as degraded.
const MaxListenerLag = 60 * time.Second

// Health checks the store, the listener, parked transfers, the provider,
// the rate and any registered component (the bot).
func (s *Shop) Health(ctx context.Context) Health {
	h := Health{Status: "ok", Version: s.version, Network: s.cfg.TON.Network, Store: "ok", Provider: "ok", Rate: "ok"}
	if err := s.st.View(ctx, func(tx store.Tx) error { _, err := tx.GetMeta("probe"); _ = err; return nil }); err != nil {
		h.Store, h.Status = "error: "+err.Error(), "degraded"
	}
	if s.chain != nil {
		h.Listener = s.chain.Status()
		if !h.Listener.Connected || h.Listener.Error != "" || h.Listener.LagSeconds > MaxListenerLag.Seconds() || h.Listener.Alert != "" {
			h.Status = "degraded"
		}
	}
	// Parked transfers wait for the operator; a failing listener credits nothing.
	if n, err := s.ParkedCount(ctx); err != nil {
		h.Store, h.Status = "error: "+err.Error(), "degraded"
	} else if h.Payments.ParkedTransfers = n; n > 0 {
		h.Status = "degraded"
	}
	if !s.listenerHealth(&h.Payments) {
		h.Status = "degraded"
	}
	if err := s.provider.Available(); err != nil {
		h.Provider, h.Status = "unavailable: "+err.Error(), "degraded"
	}
	if _, err := s.rates.Current(ctx); err != nil {
		h.Rate, h.Status = "unavailable: "+err.Error(), "degraded"
	}
	if rs, ok := s.rates.(interface{ Status() pricing.Status }); ok {
		st := rs.Status()
		h.RateSource = &st
	}
	if h.DeliveriesHeld = s.HeldDeliveries(); h.DeliveriesHeld != nil {
		h.Status = "degraded"
	}
	if h.TONFloat = s.TONFloat(); h.TONFloat != nil && h.TONFloat.ShortfallNano > 0 {
		h.Status = "degraded"
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	for name, fn := range s.healthChecks {
		ok, detail := fn()
		if h.Components == nil {
			h.Components = map[string]any{}
		}
		h.Components[name] = detail
		if !ok {
			h.Status = "degraded"
		}
	}
	return h
}
