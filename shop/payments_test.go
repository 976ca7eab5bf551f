package shop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

var ctx = context.Background()

const price100 = 437500000 // 100 stars at the default config

var hashN int

func txHash() string {
	hashN++
	return fmt.Sprintf("%064x", hashN)
}

func newOrder(t *testing.T, env *shoptest.Env, partnerID int64) *domain.Order {
	t.Helper()
	o, _, err := env.Shop.CreateOrder(ctx, partnerID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// snapshot captures everything money-related, to prove replays change nothing.
func snapshot(t *testing.T, env *shoptest.Env) string {
	t.Helper()
	var out []any
	err := env.Store.View(ctx, func(tx store.Tx) error {
		if err := tx.ForEachOrder(func(o *domain.Order) error { out = append(out, *o); return nil }); err != nil {
			return err
		}
		if err := tx.ForEachLedger(func(e *domain.LedgerEntry) error { out = append(out, *e); return nil }); err != nil {
			return err
		}
		ps, err := tx.ListPartners(0, 1000)
		out = append(out, ps)
		us, _ := tx.ListUnmatched(0, 1000)
		out = append(out, us)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func ledgerTypes(t *testing.T, env *shoptest.Env, partnerID int64) []string {
	t.Helper()
	page, err := env.Shop.Ledger(ctx, partnerID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i := len(page.Items) - 1; i >= 0; i-- {
		types = append(types, fmt.Sprintf("%s:%d", page.Items[i].Type, page.Items[i].AmountNano))
	}
	return types
}

func TestPaymentRules(t *testing.T) {
	type step struct {
		memo    bool // comment = the order's memo (else Comment used)
		comment string
		amount  int64
		topup   bool          // to the partner's top-up address
		other   string        // to this address instead
		at      time.Duration // chain time offset from order creation
		bounced bool
		out     bool // outgoing
	}
	for _, tc := range []struct {
		name       string
		before     func(env *shoptest.Env, o *domain.Order) // state change before the transfers
		steps      []step
		wantStatus domain.Status
		wantRecv   int64
		wantLedger []string
		wantUnm    int
	}{
		{name: "memo, amount = price → paid", steps: []step{{memo: true, amount: price100}},
			wantStatus: "paid", wantRecv: price100},
		{name: "memo, amount > price → paid, excess credited as overpayment", steps: []step{{memo: true, amount: price100 + 5}},
			wantStatus: "paid", wantRecv: price100, wantLedger: []string{"overpayment:5"}},
		{name: "memo, amount < price → recorded, still pending", steps: []step{{memo: true, amount: 100}},
			wantStatus: "pending_payment", wantRecv: 100},
		{name: "partials accumulate until the price is reached", steps: []step{{memo: true, amount: 400000000}, {memo: true, amount: 37500000}},
			wantStatus: "paid", wantRecv: price100},
		{name: "partials overshoot → paid plus overpayment of the excess", steps: []step{{memo: true, amount: 400000000}, {memo: true, amount: 40000000}},
			wantStatus: "paid", wantRecv: price100, wantLedger: []string{"overpayment:2500000"}},
		{name: "memo of an already paid order → whole amount late_payment", steps: []step{{memo: true, amount: price100}, {memo: true, amount: 7}},
			wantStatus: "paid", wantRecv: price100, wantLedger: []string{"late_payment:7"}},
		{name: "memo of a cancelled order → late_payment", before: func(env *shoptest.Env, o *domain.Order) {
			if _, err := env.Shop.CancelOrder(ctx, o.PartnerID, o.ID); err != nil {
				panic(err)
			}
		}, steps: []step{{memo: true, amount: price100}}, wantStatus: "cancelled", wantLedger: []string{"late_payment:437500000"}},
		{name: "memo of an expired order → late_payment", before: func(env *shoptest.Env, o *domain.Order) {
			env.Clock.Advance(16 * time.Minute)
			if _, err := env.Shop.ExpireDue(ctx); err != nil {
				panic(err)
			}
		}, steps: []step{{memo: true, amount: price100, at: 16 * time.Minute}}, wantStatus: "expired", wantLedger: []string{"late_payment:437500000"}},
		{name: "sent before expires_at by chain time but seen after expiry ran → counts as on time", before: func(env *shoptest.Env, o *domain.Order) {
			env.Clock.Advance(20 * time.Minute)
			if _, err := env.Shop.ExpireDue(ctx); err != nil {
				panic(err)
			}
		}, steps: []step{{memo: true, amount: price100, at: 14 * time.Minute}}, wantStatus: "paid", wantRecv: price100},
		{name: "sent before expires_at but seen later, expiry not yet run → on time", before: func(env *shoptest.Env, o *domain.Order) {
			env.Clock.Advance(30 * time.Minute)
		}, steps: []step{{memo: true, amount: price100, at: 14*time.Minute + 59*time.Second}}, wantStatus: "paid", wantRecv: price100},
		{name: "sent after expires_at, expiry not yet run → order expires, late_payment", before: func(env *shoptest.Env, o *domain.Order) {
			env.Clock.Advance(30 * time.Minute)
		}, steps: []step{{memo: true, amount: price100, at: 15 * time.Minute}}, wantStatus: "expired", wantLedger: []string{"late_payment:437500000"}},
		{name: "partial then expiry → partial returned to balance", steps: []step{{memo: true, amount: 100}}, before: nil,
			wantStatus: "pending_payment", wantRecv: 100},
		{name: "memo with surrounding whitespace and other case still matches", steps: []step{{comment: "  %MEMO%  ", amount: price100}},
			wantStatus: "paid", wantRecv: price100},
		{name: "to the partner's top-up address → topup", steps: []step{{topup: true, amount: 3e9, comment: "anything"}},
			wantStatus: "pending_payment", wantLedger: []string{"topup:3000000000"}},
		{name: "comment matches nothing → unmatched deposit", steps: []step{{comment: "STARS-zzzzzz", amount: 5}},
			wantStatus: "pending_payment", wantUnm: 1},
		{name: "no comment → unmatched deposit", steps: []step{{comment: "", amount: 5}}, wantStatus: "pending_payment", wantUnm: 1},
		{name: "to an address we do not own → unmatched", steps: []step{{other: "0:" + fmt.Sprintf("%064x", 99), amount: 5}},
			wantStatus: "pending_payment", wantUnm: 1},
		{name: "bounced → ignored", steps: []step{{memo: true, amount: price100, bounced: true}}, wantStatus: "pending_payment"},
		{name: "outgoing → ignored", steps: []step{{memo: true, amount: price100, out: true}}, wantStatus: "pending_payment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := shoptest.New(t, shoptest.Options{Clock: true})
			p, _ := env.Partner(t)
			created := env.Clock.Now()
			o := newOrder(t, env, p.ID)
			if tc.before != nil {
				tc.before(env, o)
			}
			var transfers []ton.Transfer
			for _, s := range tc.steps {
				tr := ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: s.amount, Comment: s.comment,
					ChainTime: created.Add(s.at), Incoming: !s.out, Bounced: s.bounced, From: p.TopupAddress}
				if s.memo {
					tr.Comment = o.PaymentMemo
				}
				if s.comment == "  %MEMO%  " {
					tr.Comment = "  " + o.PaymentMemo[:6] + "" + o.PaymentMemo[6:] + "  "
					tr.Comment = "  stars-" + o.PaymentMemo[6:] + "  "
				}
				if s.topup {
					tr.To = p.TopupAddress
				}
				if s.other != "" {
					tr.To = s.other
				}
				transfers = append(transfers, tr)
				if _, err := env.Shop.ApplyTransfer(ctx, tr); err != nil {
					t.Fatal(err)
				}
			}
			got, err := env.Shop.Order(ctx, p.ID, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus || got.ReceivedNano != tc.wantRecv {
				t.Fatalf("order %s received %d; want %s received %d", got.Status, got.ReceivedNano, tc.wantStatus, tc.wantRecv)
			}
			if lt := ledgerTypes(t, env, p.ID); !reflect.DeepEqual(lt, tc.wantLedger) {
				t.Fatalf("ledger %v; want %v", lt, tc.wantLedger)
			}
			var unm []domain.Unmatched
			_ = env.Store.View(ctx, func(tx store.Tx) error { unm, _ = tx.ListUnmatched(0, 10); return nil })
			if len(unm) != tc.wantUnm {
				t.Fatalf("%d unmatched deposits; want %d", len(unm), tc.wantUnm)
			}
			env.Check(t)
			// Replaying every transfer (one by one and as one batch) changes nothing.
			before := snapshot(t, env)
			for _, tr := range transfers {
				out, err := env.Shop.ApplyTransfer(ctx, tr)
				if err != nil || !out.Replayed {
					t.Fatalf("replay of %s: %+v, %v", tr.Hash, out, err)
				}
			}
			if _, err := env.Shop.ApplyBatch(ctx, ton.Batch{Transfers: transfers}); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, env); after != before {
				t.Fatalf("replay changed the store:\nbefore %s\nafter  %s", before, after)
			}
			env.Check(t)
		})
	}
}

func TestExpiryReturnsPartialAndCatchesUpAfterDowntime(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, _ := env.Partner(t)
	a := newOrder(t, env, p.ID)
	b := newOrder(t, env, p.ID)
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: a.PaymentAddress, AmountNano: 1000,
		Comment: a.PaymentMemo, ChainTime: env.Clock.Now(), Incoming: true}); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(14 * time.Minute)
	if n, _ := env.Shop.ExpireDue(ctx); n != 0 {
		t.Fatalf("expired %d before the deadline", n)
	}
	env.Clock.Advance(3 * time.Hour) // "downtime": the loop catches up on its first run
	if n, err := env.Shop.ExpireDue(ctx); err != nil || n != 2 {
		t.Fatalf("expired %d, %v; want 2", n, err)
	}
	for _, id := range []int64{a.ID, b.ID} {
		o, _ := env.Shop.Order(ctx, p.ID, id)
		if o.Status != "expired" {
			t.Fatalf("order %d is %s", id, o.Status)
		}
	}
	if lt := ledgerTypes(t, env, p.ID); !reflect.DeepEqual(lt, []string{"late_payment:1000"}) {
		t.Fatalf("ledger %v", lt)
	}
	env.Check(t)
}

// flaky fails its first Deliver with a transient error, then succeeds, and
// counts real deliveries.
type flaky struct {
	fulfil.Sandbox
	mu        sync.Mutex
	calls     int
	delivered map[string]int
}

func (f *flaky) Deliver(ctx context.Context, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == 1 {
		return fulfil.Result{}, errors.New("provider timeout")
	}
	if f.delivered[r.Ref] > 0 { // idempotent by reference
		return fulfil.Result{ProviderRef: r.Ref}, nil
	}
	f.delivered[r.Ref]++
	return fulfil.Result{ProviderRef: r.Ref}, nil
}

func payOrder(t *testing.T, env *shoptest.Env, o *domain.Order) {
	t.Helper()
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: o.PriceNano,
		Comment: o.PaymentMemo, ChainTime: o.CreatedAt, Incoming: true}); err != nil {
		t.Fatal(err)
	}
}

func TestDelivery(t *testing.T) {
	t.Run("_fail ends refunded with the balance restored", func(t *testing.T) {
		env := shoptest.New(t, shoptest.Options{Clock: true})
		p, _ := env.Partner(t)
		o, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus_fail", Quantity: 100})
		if err != nil {
			t.Fatal(err)
		}
		payOrder(t, env, o)
		if _, err := env.Shop.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := env.Shop.Order(ctx, p.ID, o.ID)
		// The partner sees a stable code and one sentence, never the error chain.
		want := "sandbox_forced_failure: Sandbox: delivery to a recipient name ending in _fail always fails."
		if got.Status != "refunded" || got.FailureReason != want || got.FailureReason != fulfil.ErrSandboxFailure.Reason() {
			t.Fatalf("status %s reason %q; want %q", got.Status, got.FailureReason, want)
		}
		bal, _ := env.Shop.Balance(ctx, p.ID)
		if bal.Nano != o.PriceNano {
			t.Fatalf("balance %d; want the price %d back", bal.Nano, o.PriceNano)
		}
		// Running the loop again refunds nothing more.
		env.Shop.DeliverDue(ctx)
		if lt := ledgerTypes(t, env, p.ID); len(lt) != 1 {
			t.Fatalf("ledger %v", lt)
		}
		env.Check(t)
	})
	t.Run("fails once then succeeds → one delivery", func(t *testing.T) {
		prov := &flaky{delivered: map[string]int{}}
		env := shoptest.New(t, shoptest.Options{Clock: true, Provider: prov})
		p, _ := env.Partner(t)
		o := newOrder(t, env, p.ID)
		payOrder(t, env, o)
		env.Shop.DeliverDue(ctx)
		got, _ := env.Shop.Order(ctx, p.ID, o.ID)
		if got.Status != "processing" || got.NextDeliveryAt == nil {
			t.Fatalf("after a transient failure: %s", got.Status)
		}
		env.Shop.DeliverDue(ctx) // not due yet: no call
		if prov.calls != 1 {
			t.Fatalf("%d calls before the retry time", prov.calls)
		}
		env.Clock.Advance(time.Minute)
		env.Shop.DeliverDue(ctx)
		env.Shop.DeliverDue(ctx)
		got, _ = env.Shop.Order(ctx, p.ID, o.ID)
		if got.Status != "completed" || got.CompletedAt == nil || prov.delivered["order-"+fmt.Sprint(o.ID)] != 1 || prov.calls != 2 {
			t.Fatalf("status %s, deliveries %v, calls %d", got.Status, prov.delivered, prov.calls)
		}
		env.Check(t)
	})
	t.Run("restart in the middle of processing resumes", func(t *testing.T) {
		dir := t.TempDir() + "/om.db"
		env := shoptest.New(t, shoptest.Options{Clock: true, Path: dir})
		p, _ := env.Partner(t)
		o := newOrder(t, env, p.ID)
		payOrder(t, env, o)
		// Simulate a crash after the attempt was recorded: processing, provider not called.
		err := env.Store.Update(ctx, func(tx store.Tx) error {
			cur, err := tx.GetOrder(o.ID)
			if err != nil {
				return err
			}
			cur.Status, cur.DeliveryAttempts = domain.StatusProcessing, 1
			return tx.PutOrder(cur)
		})
		if err != nil {
			t.Fatal(err)
		}
		env.Store.Close()
		prov := &flaky{delivered: map[string]int{}, calls: 1}
		env2 := shoptest.New(t, shoptest.Options{Clock: true, Path: dir, Provider: prov})
		env2.Shop.DeliverDue(ctx)
		got, _ := env2.Shop.Order(ctx, p.ID, o.ID)
		if got.Status != "completed" || prov.calls != 2 {
			t.Fatalf("after restart: %s, %d calls", got.Status, prov.calls)
		}
		env2.Check(t)
	})
}

func TestConcurrentBalanceOrdersNeverOverdraw(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: p.TopupAddress, AmountNano: 7*price100 + 1000,
		Incoming: true, ChainTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus",
				Quantity: 100, PaymentMethod: domain.MethodBalance})
			mu.Lock()
			codes[string(shop.ErrorCode(err))]++
			mu.Unlock()
			if err != nil && shop.ErrorCode(err) == "" {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if codes[""] != 7 || codes[string(shop.CodeInsufficientBalance)] != 13 {
		t.Fatalf("outcomes %v; want 7 ok and 13 INSUFFICIENT_BALANCE", codes)
	}
	bal, _ := env.Shop.Balance(ctx, p.ID)
	if bal.Nano != 1000 {
		t.Fatalf("balance %d; want 1000", bal.Nano)
	}
	env.Check(t)
}

func TestSandboxChainThroughListener(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	env.Run(t)
	p, _ := env.Partner(t)
	o := newOrder(t, env, p.ID)
	h, err := env.Shop.SandboxTransfer(ctx, p.ID, shop.SandboxTransferRequest{ToAddress: o.PaymentAddress, AmountNano: o.PriceNano, Comment: o.PaymentMemo})
	if err != nil || len(h) != 64 {
		t.Fatalf("hash %q, %v", h, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, _ := env.Shop.Order(ctx, p.ID, o.ID)
		if got.Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order still %s", got.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	env.Check(t)
}

// BenchmarkSandboxTransferToPaid measures the latency from a sandbox transfer
// being appended to the order turning paid, through the real listener loop.
func BenchmarkSandboxTransferToPaid(b *testing.B) {
	env := shoptest.New(b, shoptest.Options{})
	env.Run(b)
	p, _ := env.Partner(b)
	lat := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		o, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := env.Shop.SandboxTransfer(ctx, p.ID, shop.SandboxTransferRequest{ToAddress: o.PaymentAddress, AmountNano: o.PriceNano, Comment: o.PaymentMemo}); err != nil {
			b.Fatal(err)
		}
		for {
			got, _ := env.Shop.Order(ctx, p.ID, o.ID)
			if got.PaidAt != nil {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	shoptest.ReportLatency(b, lat)
}
