package fragment

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/metrics"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
)

// Look-up failures show at once in /health (fragment_payments:
// last_lookup_error and since when every pass fails), turn it degraded
// with an alert once they have lasted LookupAlertAfter, and clear when a
// pass succeeds; the metrics count batches sent, their payments and the
// failed passes.
func TestLookupFailuresShowInHealthAndMetrics(t *testing.T) {
	_, srv := newFakeFragment(t)
	payer := newFakePayer()
	payer.pending = 1 << 30 // sent; not settled
	st := testStore(t)
	m := metrics.New()
	var ahead atomic.Int64 // the provider's clock runs ahead of the real one by this
	p := newTestProvider(t, srv.URL, payer, func(o *Options) {
		o.Records, o.Observer, o.ConfirmTimeout = shop.PayerRecords{Store: st}, m, 50*time.Millisecond
		o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	env := shoptest.New(t, shoptest.Options{Clock: true, Provider: p, Store: st.(*store.Bolt)})
	env.Shop.RegisterHealth("fragment_payments", p.PaymentsHealth)
	m.WatchPayments(func() (int, int) {
		_, v := p.PaymentsHealth()
		s := v.(PaymentsStatus)
		return s.OpenBatches, s.InFlight
	})
	partner, _ := env.Partner(t)
	o, _, err := env.Shop.CreateOrder(bg, partner.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := payAndDeliver(t, env, o); got.Status != domain.StatusProcessing {
		t.Fatalf("order %s, want processing (payment in flight)", got.Status)
	}
	health := func() (string, PaymentsStatus) {
		h := env.Shop.Health(bg)
		return h.Status, h.Components["fragment_payments"].(PaymentsStatus)
	}
	if status, ps := health(); status != "ok" || ps.OpenBatches != 1 || ps.InFlight != 1 || ps.LastLookupError != "" {
		t.Fatalf("before failures: %s %+v", status, ps)
	}

	payer.mu.Lock()
	payer.lookErr = 1 << 30
	payer.mu.Unlock()
	waitFor(t, "a failed look-up in health", func() bool { _, ps := health(); return ps.FailingSince != nil })
	status, ps := health()
	if status != "ok" || !strings.Contains(ps.LastLookupError, "liteserver timeout") || ps.LastLookupErrorAt == nil || ps.Alert != "" {
		t.Fatalf("failing for less than %s: %s %+v; want ok with the error shown", LookupAlertAfter, status, ps)
	}
	ahead.Store(int64(LookupAlertAfter + time.Second))
	waitFor(t, "the alert", func() bool { s, _ := health(); return s == "degraded" })
	if _, ps := health(); !strings.Contains(ps.Alert, "looking the payment batches up has failed since") || !strings.Contains(ps.Alert, "liteserver timeout") {
		t.Fatalf("alert %q", ps.Alert)
	}
	got, _ := scrape(t, m)
	if got["openmoney_fragment_lookup_failures_total"] < 1 || got["openmoney_fragment_batches_sent_total"] != 1 ||
		got["openmoney_fragment_payments_per_batch_sum"] != 1 || got["openmoney_fragment_open_batches"] != 1 ||
		got["openmoney_fragment_payments_in_flight"] != 1 {
		t.Fatalf("metrics while failing: %v", got)
	}

	payer.mu.Lock()
	payer.lookErr, payer.pending = 0, 0
	payer.mu.Unlock()
	waitFor(t, "recovery", func() bool { s, ps := health(); return s == "ok" && ps.FailingSince == nil && ps.OpenBatches == 0 })
	if _, ps := health(); ps.LastLookupError == "" {
		t.Fatal("the last error is forgotten after recovery; want it kept with its time")
	}
	got, _ = scrape(t, m)
	if got["openmoney_fragment_open_batches"] != 0 || got["openmoney_fragment_payments_in_flight"] != 0 {
		t.Fatalf("metrics after settling: %v", got)
	}
}

// scrape reads the metrics' counters and gauges by name, and each
// histogram's _sum and _count.
func scrape(t *testing.T, m *metrics.Metrics) (map[string]float64, error) {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, mm := range f.GetMetric() {
			switch {
			case mm.GetCounter() != nil:
				out[f.GetName()] += mm.GetCounter().GetValue()
			case mm.GetGauge() != nil:
				out[f.GetName()] += mm.GetGauge().GetValue()
			case mm.GetHistogram() != nil:
				out[f.GetName()+"_sum"] += mm.GetHistogram().GetSampleSum()
				out[f.GetName()+"_count"] += float64(mm.GetHistogram().GetSampleCount())
			}
		}
	}
	return out, nil
}
