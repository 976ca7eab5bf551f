package metrics_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/metrics"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

// scrape reads the exposition text into name{labels} → value.
func scrape(t *testing.T, h http.Handler) (map[string]float64, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out, body
}

type world struct {
	env *shoptest.Env
	m   *metrics.Metrics
	h   http.Handler
}

// newWorld wires metrics exactly as main should: the shop's Observer, the
// api's WithObserver, and the listener gauges from the chain source.
func newWorld(t *testing.T, cfg *config.Config) *world {
	m := metrics.New()
	env := shoptest.New(t, shoptest.Options{Config: cfg, Observer: m})
	m.WatchListener(env.Sandbox.Status)
	return &world{env: env, m: m, h: api.NewServer(env.Shop, cfg, nil, api.WithObserver(m))}
}

func (w *world) call(t *testing.T, method, path, key, body string) (int, json.RawMessage) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.7:1000"
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &env)
	return rec.Code, env.Data
}

func TestScrapeAfterPaidOrder(t *testing.T) {
	cfg := config.Default()
	w := newWorld(t, cfg)
	w.env.Run(t)

	code, data := w.call(t, "POST", "/api/v1/sandbox/partners", "", "")
	var sp struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(data, &sp); code != 200 || err != nil || sp.APIKey == "" {
		t.Fatalf("sandbox partner: %d %s", code, data)
	}
	code, data = w.call(t, "POST", "/api/v1/orders/stars", sp.APIKey, `{"recipient_username":"pandus","quantity":100}`)
	var o struct {
		ID             int64  `json:"id"`
		PaymentAddress string `json:"payment_address"`
		PaymentMemo    string `json:"payment_memo"`
		PriceNanoton   string `json:"price_nanoton"`
	}
	if err := json.Unmarshal(data, &o); code != 200 || err != nil {
		t.Fatalf("order: %d %s", code, data)
	}
	code, data = w.call(t, "POST", "/api/v1/sandbox/transfers", sp.APIKey,
		fmt.Sprintf(`{"to_address":%q,"amount_nanoton":%q,"comment":%q}`, o.PaymentAddress, o.PriceNanoton, o.PaymentMemo))
	if code != 200 {
		t.Fatalf("transfer: %d %s", code, data)
	}
	// Metrics are reported just after each commit: wait for the last one.
	deadline := time.Now().Add(time.Minute)
	for {
		got, _ := scrape(t, w.m.Handler())
		if got[`openmoney_delivery_outcomes_total{outcome="completed"}`] == 1 {
			break
		}
		if time.Now().After(deadline) {
			o, err := w.env.Shop.Order(context.Background(), 1, o.ID)
			t.Fatalf("delivery not counted; order %+v %v", o, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, _ := w.env.Shop.Order(context.Background(), 1, o.ID); got.Status != domain.StatusCompleted {
		t.Fatalf("order %s", got.Status)
	}
	w.call(t, "GET", "/api/v1/nope", "", "")

	got, body := scrape(t, w.m.Handler())
	price, _ := strconv.ParseFloat(o.PriceNanoton, 64)
	for name, want := range map[string]float64{
		`openmoney_http_requests_total{route="POST /api/v1/orders/stars",status="200"}`:      1,
		`openmoney_http_requests_total{route="POST /api/v1/sandbox/transfers",status="200"}`: 1,
		`openmoney_http_requests_total{route="other",status="404"}`:                          1,
		`openmoney_http_request_duration_seconds_count{route="POST /api/v1/orders/stars"}`:   1,
		`openmoney_orders_transitions_total{from="new",to="pending_payment"}`:                1,
		`openmoney_orders_transitions_total{from="pending_payment",to="paid"}`:               1,
		`openmoney_orders_transitions_total{from="paid",to="processing"}`:                    1,
		`openmoney_orders_transitions_total{from="processing",to="completed"}`:               1,
		`openmoney_ton_received_nanotons_total`:                                              price,
		`openmoney_ton_received_transfers_total`:                                             1,
		`openmoney_delivery_outcomes_total{outcome="completed"}`:                             1,
		`openmoney_delivery_outcomes_total{outcome="retry"}`:                                 0,
		`openmoney_listener_connected`:                                                       1,
		`openmoney_listener_proof_failures_total`:                                            0,
		`openmoney_listener_history_gap`:                                                     0,
		`openmoney_webhook_deliveries_total{outcome="sent"}`:                                 0,
		`openmoney_telegram_send_errors_total`:                                               0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	// no partner data in any label
	for _, secret := range []string{sp.APIKey, sp.APIKey[4:12], "pandus", o.PaymentMemo, o.PaymentAddress, "partner_id"} {
		if strings.Contains(body, secret) {
			t.Errorf("scrape contains %q", secret)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestRateLimitedCounted(t *testing.T) {
	cfg := config.Default()
	cfg.API.RateLimit = config.RateLimit{PerSecond: 0.001, Burst: 2}
	w := newWorld(t, cfg)
	p, err := w.env.Shop.CreatePartner(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	k, err := w.env.Shop.IssueKey(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		w.call(t, "GET", "/api/v1/balance", k.Key, "")
	}
	got, _ := scrape(t, w.m.Handler())
	if v := got[`openmoney_http_rate_limited_total{route="GET /api/v1/balance"}`]; v != 3 {
		t.Fatalf("rate limited %v, want 3", v)
	}
	if v := got[`openmoney_http_requests_total{route="GET /api/v1/balance",status="429"}`]; v != 3 {
		t.Fatalf("429s %v, want 3", v)
	}
}

// notifier fails its first send.
type notifier struct{ n int }

func (f *notifier) Notify(context.Context, *domain.Partner, *domain.OutboxItem) error {
	f.n++
	if f.n == 1 {
		return fmt.Errorf("telegram down")
	}
	return nil
}

func TestNotificationOutcomes(t *testing.T) {
	m := metrics.New()
	env := shoptest.New(t, shoptest.Options{Observer: m})
	env.Shop.RegisterNotifier(domain.ChannelTelegram, &notifier{})
	p, err := env.Shop.TelegramPartner(context.Background(), shop.TelegramUser{ID: 7, ChatID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.ApplyTransfer(context.Background(), tonTopup(p.TopupAddress)); err != nil {
		t.Fatal(err)
	}
	env.Run(t) // the outbox loop sends balance.topup: one error, then sent (after 1 s backoff)
	deadline := time.Now().Add(time.Minute)
	for {
		got, _ := scrape(t, m.Handler())
		if got[`openmoney_notifications_total{channel="telegram",outcome="sent"}`] == 1 {
			if got[`openmoney_telegram_send_errors_total`] != 1 || got[`openmoney_notifications_total{channel="telegram",outcome="error"}`] != 1 {
				t.Fatalf("errors %v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not sent: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServeOnItsOwnListener(t *testing.T) {
	m := metrics.New()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, ln, m.Handler(), nil) }()
	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "openmoney_http_requests_total") && !strings.Contains(string(b), "go_goroutines") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(base + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("other paths: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not stop")
	}
}

func tonTopup(to string) ton.Transfer {
	return ton.Transfer{Hash: strings.Repeat("ab", 32), To: to, AmountNano: 2_000_000_000, ChainTime: time.Now(), Incoming: true}
}

// A poison transfer is counted once and shows in the gauge until an
// operator resolves it; its money counts as received only then.
func TestParkedTransfers(t *testing.T) {
	m := metrics.New()
	env := shoptest.New(t, shoptest.Options{Observer: m})
	m.WatchParked(env.Shop.ParkedCount)
	ctx := context.Background()
	p, _ := env.Partner(t)
	q, _ := env.Partner(t)
	if _, err := env.Shop.ApplyTransfer(ctx, tonTopup(p.TopupAddress)); err != nil {
		t.Fatal(err)
	}
	poison := ton.Transfer{Hash: strings.Repeat("cd", 32), To: p.TopupAddress, AmountNano: math.MaxInt64, ChainTime: time.Now(), Incoming: true}
	for range 2 { // the replay counts nothing
		if _, err := env.Shop.ApplyTransfer(ctx, poison); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := scrape(t, m.Handler())
	if got["openmoney_payments_parked_transfers"] != 1 || got["openmoney_payments_parked_total"] != 1 ||
		got["openmoney_ton_received_transfers_total"] != 1 {
		t.Fatalf("after parking: %v", got)
	}
	out, err := env.Shop.ApplyTransfer(ctx, poison)
	if err != nil || out.Kind != "parked" {
		t.Fatalf("%+v %v", out, err)
	}
	if _, err := env.Shop.AssignParked(ctx, out.ParkedID, shop.AssignTarget{PartnerID: q.ID}); err != nil {
		t.Fatal(err)
	}
	got, _ = scrape(t, m.Handler())
	if got["openmoney_payments_parked_transfers"] != 0 || got["openmoney_payments_parked_total"] != 1 ||
		got["openmoney_ton_received_transfers_total"] != 2 {
		t.Fatalf("after assigning: %v", got)
	}
}

// The listener's verification failures and a held history gap are scraped
// from its Status.
func TestListenerProofAndGapMetrics(t *testing.T) {
	m := metrics.New()
	st := ton.Status{Connected: true, ProofFailures: 3, HistoryGap: "account 0:ab: transactions at and before lt 7"}
	m.WatchListener(func() ton.Status { return st })
	got, _ := scrape(t, m.Handler())
	if got["openmoney_listener_proof_failures_total"] != 3 || got["openmoney_listener_history_gap"] != 1 {
		t.Fatalf("proof failures %v, gap %v", got["openmoney_listener_proof_failures_total"], got["openmoney_listener_history_gap"])
	}
	st.HistoryGap = ""
	if got, _ := scrape(t, m.Handler()); got["openmoney_listener_history_gap"] != 0 {
		t.Fatal("gap gauge stays up after the gap is read")
	}
}

// The TON float gauges show the shop's last reading, -1 without one; USDT
// received counts in its own counter, TON's stays as it was.
func TestTONFloatAndUSDTReceived(t *testing.T) {
	m := metrics.New()
	var f *shop.TONFloat
	m.WatchFloat(func() *shop.TONFloat { return f })
	got, _ := scrape(t, m.Handler())
	if got["openmoney_ton_float_nanotons"] != -1 || got["openmoney_ton_owed_delivery_nanotons"] != -1 || got["openmoney_ton_float_shortfall_nanotons"] != -1 {
		t.Fatalf("without a reading: %v", got)
	}
	f = &shop.TONFloat{WalletNano: 10e9, OwedDeliveryNano: 41_666_666_667, OwedOrders: 1, ShortfallNano: 31_666_666_667}
	got, _ = scrape(t, m.Handler())
	if got["openmoney_ton_float_nanotons"] != 10e9 || got["openmoney_ton_owed_delivery_nanotons"] != 41_666_666_667 ||
		got["openmoney_ton_float_shortfall_nanotons"] != 31_666_666_667 {
		t.Fatalf("float gauges: %v", got)
	}
	m.Received(domain.CurrencyUSDT, 1_575_000)
	m.Received(domain.CurrencyTON, 5e8)
	got, _ = scrape(t, m.Handler())
	if got["openmoney_ton_received_usdt_units_total"] != 1_575_000 || got["openmoney_ton_received_nanotons_total"] != 5e8 ||
		got["openmoney_ton_received_transfers_total"] != 2 {
		t.Fatalf("received: %v", got)
	}
}
