package metrics_test

import (
	"testing"

	"github.com/theopenmoney/openmoney/fulfil/fragment"
	"github.com/theopenmoney/openmoney/metrics"
)

// The Fragment provider reports to the metrics as its Observer.
var _ fragment.Observer = (*metrics.Metrics)(nil)

// The Fragment payment metrics: open batches and payments in flight read
// at each scrape; batches sent, payments per batch and failed look-up
// passes as they happen.
func TestFragmentPaymentMetrics(t *testing.T) {
	m := metrics.New()
	open, inFlight := 0, 0
	m.WatchPayments(func() (int, int) { return open, inFlight })
	got, _ := scrape(t, m.Handler())
	for _, name := range []string{"openmoney_fragment_open_batches", "openmoney_fragment_payments_in_flight",
		"openmoney_fragment_batches_sent_total", "openmoney_fragment_lookup_failures_total", "openmoney_fragment_payments_per_batch_count"} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Fatalf("%s = %v (present %v), want 0 from the start", name, v, ok)
		}
	}
	open, inFlight = 2, 259
	m.PaymentBatchSent(255)
	m.PaymentBatchSent(4)
	m.PaymentBatchSent(1)
	m.PaymentLookupFailed()
	m.PaymentLookupFailed()
	got, _ = scrape(t, m.Handler())
	for name, want := range map[string]float64{
		"openmoney_fragment_open_batches":                        2,
		"openmoney_fragment_payments_in_flight":                  259,
		"openmoney_fragment_batches_sent_total":                  3,
		"openmoney_fragment_lookup_failures_total":               2,
		"openmoney_fragment_payments_per_batch_count":            3,
		"openmoney_fragment_payments_per_batch_sum":              260,
		`openmoney_fragment_payments_per_batch_bucket{le="1"}`:   1,
		`openmoney_fragment_payments_per_batch_bucket{le="4"}`:   2,
		`openmoney_fragment_payments_per_batch_bucket{le="128"}`: 2,
		`openmoney_fragment_payments_per_batch_bucket{le="255"}`: 3,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
