package shop_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// usdt100 is 100 stars in USDT units at the default config: 1.5 USD + 5 %
// fee = 1.575 USD at pricing.usdt_usd 1.
const usdt100 = 1_575_000

const payerAddr = "0:" + "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

// usdtTransfer is what the listener reports for units of USDT arriving in
// owner's USDT jetton wallet with memo (built and decoded by the ton
// package's own code, as in the sandbox chain).
func usdtTransfer(t *testing.T, owner string, units int64, memo string, at time.Time) ton.Transfer {
	t.Helper()
	return shoptest.USDTTransfer(t, owner, payerAddr, units, memo, at)
}

func usdtOrder(t *testing.T, env *shoptest.Env, partnerID int64, method domain.Method) (*domain.Order, error) {
	t.Helper()
	o, _, err := env.Shop.CreateOrder(ctx, partnerID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus",
		Quantity: 100, PaymentCurrency: domain.CurrencyUSDT, PaymentMethod: method})
	return o, err
}

// ledgerRows lists a partner's ledger rows oldest first as type:currency:amount.
func ledgerRows(t *testing.T, env *shoptest.Env, partnerID int64) []string {
	t.Helper()
	page, err := env.Shop.Ledger(ctx, partnerID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(page.Items) - 1; i >= 0; i-- {
		cur, amount, _ := page.Items[i].Amount()
		out = append(out, fmt.Sprintf("%s:%s:%d", page.Items[i].Type, cur, amount))
	}
	return out
}

func TestUSDTOrderIsPricedAndLinked(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, _ := env.Partner(t)
	o, err := usdtOrder(t, env, p.ID, domain.MethodTonMemo)
	if err != nil {
		t.Fatal(err)
	}
	if o.PaymentCurrency != "USDT" || o.PriceUSDT != usdt100 || o.UsdtUSD != "1" || o.PriceUSD != "1.575" || o.PriceNano != price100 {
		t.Fatalf("USDT order: %+v", o)
	}
	if o.PaymentAddress != env.Shop.ServiceAddress() {
		t.Errorf("payment_address %s, want the service wallet's owner address %s", o.PaymentAddress, env.Shop.ServiceAddress())
	}
	want := "ton://transfer/" + env.Shop.ServiceAddress() + "?jetton=" + ton.TestnetUSDTMaster + "&amount=1575000&text=" + o.PaymentMemo
	if got := o.PaymentLink(); got != want {
		t.Errorf("payment link\n got %s\nwant %s", got, want)
	}
	// A rate that does not divide: 1.575 / 0.999 = 1.576576576… → 1.576577 (rounded up to a unit).
	cfg := config.Default()
	cfg.Pricing.USDTUSD = "0.999"
	env2 := shoptest.New(t, shoptest.Options{Config: cfg})
	q, err := env2.Shop.Estimate(ctx, domain.KindStars, 100)
	if err != nil || q.PriceUSDT != 1_576_577 || q.UsdtUSD != "0.999" {
		t.Errorf("estimate at usdt_usd 0.999: %+v %v", q, err)
	}
	// Currency validation.
	if _, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100, PaymentCurrency: "EUR"}); err == nil ||
		!strings.Contains(err.Error(), "payment_currency must be TON or USDT") {
		t.Errorf("EUR: %v", err)
	}
	off := config.Default()
	empty := ""
	off.TON.Jettons.USDT.Master = &empty
	envOff := shoptest.New(t, shoptest.Options{Config: off})
	po, _ := envOff.Partner(t)
	if _, err := usdtOrder(t, envOff, po.ID, domain.MethodTonMemo); err == nil || !strings.Contains(err.Error(), "USDT is not accepted") {
		t.Errorf("USDT off: %v", err)
	}
	if envOff.Shop.USDTEnabled() || !env.Shop.USDTEnabled() {
		t.Errorf("USDTEnabled: off %v, default %v", envOff.Shop.USDTEnabled(), env.Shop.USDTEnabled())
	}
}

// TestUSDTPaymentRules is the payment-rules table in USDT units: each case
// ends with the integrity check OK, and replaying its transfers (one by one
// and as one batch) changes nothing.
func TestUSDTPaymentRules(t *testing.T) {
	type step struct {
		units  int64
		ton    int64 // a TON transfer of this many nanotons instead
		topup  bool
		at     time.Duration
		notice bool // a fake jetton's transfer_notification with the memo
		failed bool // our jetton wallet's transaction failed (bounced)
		master string
	}
	for _, tc := range []struct {
		name       string
		tonOrder   bool // the order is priced in TON
		before     func(env *shoptest.Env, o *domain.Order)
		steps      []step
		wantStatus domain.Status
		wantRecv   int64 // in the order's currency
		wantLedger []string
		wantUnm    int
	}{
		{name: "exact → paid", steps: []step{{units: usdt100}}, wantStatus: "paid", wantRecv: usdt100},
		{name: "partial + partial → paid", steps: []step{{units: 1_000_000}, {units: 575_000}}, wantStatus: "paid", wantRecv: usdt100},
		{name: "partial only → still pending", steps: []step{{units: 1}}, wantStatus: "pending_payment", wantRecv: 1},
		{name: "over → paid, the excess to the USDT balance", steps: []step{{units: 2_000_000}},
			wantStatus: "paid", wantRecv: usdt100, wantLedger: []string{"overpayment:USDT:425000"}},
		{name: "partials overshoot → paid + overpayment", steps: []step{{units: 1_500_000}, {units: 100_000}},
			wantStatus: "paid", wantRecv: usdt100, wantLedger: []string{"overpayment:USDT:25000"}},
		{name: "after paid → late_payment in USDT", steps: []step{{units: usdt100}, {units: 7}},
			wantStatus: "paid", wantRecv: usdt100, wantLedger: []string{"late_payment:USDT:7"}},
		{name: "late after expiry → the whole amount to the USDT balance", before: func(env *shoptest.Env, o *domain.Order) {
			env.Clock.Advance(16 * time.Minute)
			if _, err := env.Shop.ExpireDue(ctx); err != nil {
				panic(err)
			}
		}, steps: []step{{units: usdt100, at: 16 * time.Minute}}, wantStatus: "expired", wantLedger: []string{"late_payment:USDT:1575000"}},
		{name: "sent before expiry by chain time, seen after → on time", before: func(env *shoptest.Env, o *domain.Order) {
			env.Clock.Advance(20 * time.Minute)
			if _, err := env.Shop.ExpireDue(ctx); err != nil {
				panic(err)
			}
		}, steps: []step{{units: usdt100, at: 14 * time.Minute}}, wantStatus: "paid", wantRecv: usdt100},
		{name: "partial then expiry → the partial back to the USDT balance", steps: []step{{units: 500_000}}, before: nil,
			wantStatus: "pending_payment", wantRecv: 500_000},
		{name: "USDT to a TON order → USDT balance, the order unchanged", tonOrder: true, steps: []step{{units: usdt100}},
			wantStatus: "pending_payment", wantLedger: []string{"wrong_currency:USDT:1575000"}},
		{name: "TON to a USDT order → TON balance, the order unchanged", steps: []step{{ton: price100}},
			wantStatus: "pending_payment", wantLedger: []string{"wrong_currency:TON:437500000"}},
		{name: "USDT to the top-up address → USDT top-up", steps: []step{{units: 3_000_000, topup: true}},
			wantStatus: "pending_payment", wantLedger: []string{"topup:USDT:3000000"}},
		{name: "a fake jetton's notification with the memo → ignored", steps: []step{{units: usdt100, notice: true}},
			wantStatus: "pending_payment"},
		{name: "our jetton wallet's transaction failed → ignored", steps: []step{{units: usdt100, failed: true}},
			wantStatus: "pending_payment"},
		{name: "a jetton of another master → ignored", steps: []step{{units: usdt100, master: ton.MainnetUSDTMaster}},
			wantStatus: "pending_payment"},
		{name: "memo of no order → unmatched, in USDT", steps: []step{{units: 9, master: "nomemo"}},
			wantStatus: "pending_payment", wantUnm: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := shoptest.New(t, shoptest.Options{Clock: true})
			p, _ := env.Partner(t)
			created := env.Clock.Now()
			var o *domain.Order
			var err error
			if tc.tonOrder {
				o = newOrder(t, env, p.ID)
			} else if o, err = usdtOrder(t, env, p.ID, domain.MethodTonMemo); err != nil {
				t.Fatal(err)
			}
			if tc.before != nil {
				tc.before(env, o)
			}
			var transfers []ton.Transfer
			for _, s := range tc.steps {
				to := o.PaymentAddress
				if s.topup {
					to = p.TopupAddress
				}
				var tr ton.Transfer
				switch {
				case s.ton > 0:
					tr = ton.Transfer{Hash: txHash(), To: to, AmountNano: s.ton, Comment: o.PaymentMemo,
						ChainTime: created.Add(s.at), Incoming: true, From: payerAddr}
				case s.notice:
					raw, _ := ton.RawAddress(to)
					tr, err = ton.SandboxJettonNotice(raw, payerAddr, payerAddr, s.units, 50_000_000, o.PaymentMemo)
					if err != nil {
						t.Fatal(err)
					}
					tr.Hash, tr.ChainTime = txHash(), created.Add(s.at)
				default:
					memo := o.PaymentMemo
					if s.master == "nomemo" {
						memo = "STARS-zzzzzz"
					}
					tr = usdtTransfer(t, to, s.units, memo, created.Add(s.at))
					tr.Bounced = s.failed
					if s.master != "" && s.master != "nomemo" {
						tr.Jetton.Master = s.master
					}
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
			recv := got.ReceivedUSDT
			if tc.tonOrder {
				recv = got.ReceivedNano
			}
			if got.Status != tc.wantStatus || recv != tc.wantRecv {
				t.Fatalf("order %s received %d; want %s received %d", got.Status, recv, tc.wantStatus, tc.wantRecv)
			}
			if !tc.tonOrder && got.ReceivedNano != 0 {
				t.Fatalf("USDT order received %d nanotons", got.ReceivedNano)
			}
			if lt := ledgerRows(t, env, p.ID); !reflect.DeepEqual(lt, tc.wantLedger) {
				t.Fatalf("ledger %v; want %v", lt, tc.wantLedger)
			}
			var unm []domain.Unmatched
			_ = env.Store.View(ctx, func(tx store.Tx) error { unm, _ = tx.ListUnmatched(0, 10); return nil })
			if len(unm) != tc.wantUnm {
				t.Fatalf("%d unmatched deposits; want %d", len(unm), tc.wantUnm)
			}
			if tc.wantUnm == 1 && (unm[0].Currency != "USDT" || unm[0].AmountUSDT != 9 || unm[0].AmountNano != 0) {
				t.Fatalf("unmatched USDT deposit: %+v", unm[0])
			}
			env.Check(t)
			before := snapshot(t, env)
			for _, tr := range transfers {
				if out, err := env.Shop.ApplyTransfer(ctx, tr); err != nil || !out.Replayed {
					t.Fatalf("replay of %s: %+v, %v", tr.Hash, out, err)
				}
			}
			if _, err := env.Shop.ApplyBatch(ctx, ton.Batch{Transfers: transfers}); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, env); after != before {
				t.Fatalf("replay changed the store")
			}
			// Expiry returns an unpaid order's partial payment in its currency.
			env.Clock.Advance(time.Hour)
			if _, err := env.Shop.ExpireDue(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.name == "partial then expiry → the partial back to the USDT balance" {
				if lt := ledgerRows(t, env, p.ID); !reflect.DeepEqual(lt, []string{"late_payment:USDT:500000"}) {
					t.Fatalf("after expiry: ledger %v", lt)
				}
			}
			env.Check(t)
		})
	}
}

// TestUSDTBalanceOrders: a USDT balance order debits the USDT balance
// (402 when short, whatever the TON balance), atomically under concurrency;
// a refunded USDT order returns its USDT price.
func TestUSDTBalanceOrders(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, _ := env.Partner(t)
	// TON balance of 100 TON does not pay a USDT order.
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: p.TopupAddress, AmountNano: 100e9, Incoming: true, ChainTime: env.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	_, err := usdtOrder(t, env, p.ID, domain.MethodBalance)
	var be *shop.Error
	if !errors.As(err, &be) || be.Code != shop.CodeInsufficientBalance || !strings.Contains(be.Message, "0 USDT") {
		t.Fatalf("USDT balance order with 0 USDT: %v", err)
	}
	// 5 USDT: three orders of 1.575 fit (4.725), the fourth does not —
	// even when eight race for it.
	if _, err := env.Shop.ApplyTransfer(ctx, usdtTransfer(t, p.TopupAddress, 5_000_000, "", env.Clock.Now())); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, short := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := usdtOrder(t, env, p.ID, domain.MethodBalance)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && o.Status == "paid" && o.PriceUSDT == usdt100:
				ok++
			case errors.As(err, &be) && be.Code == shop.CodeInsufficientBalance:
				short++
			default:
				t.Errorf("balance order: %+v %v", o, err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || short != 5 {
		t.Fatalf("8 concurrent USDT balance orders on 5 USDT: %d paid, %d × 402; want 3 and 5", ok, short)
	}
	bal, _ := env.Shop.Balance(ctx, p.ID)
	if bal.USDT != 5_000_000-3*usdt100 || bal.Nano != 100e9 {
		t.Fatalf("balances after: %+v", bal)
	}
	env.Check(t)

	// A USDT order whose delivery fails is refunded in USDT.
	if _, err := env.Shop.ApplyTransfer(ctx, usdtTransfer(t, p.TopupAddress, 2_000_000, "", env.Clock.Now())); err != nil {
		t.Fatal(err)
	}
	o, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus_fail",
		Quantity: 100, PaymentCurrency: domain.CurrencyUSDT, PaymentMethod: domain.MethodBalance})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := env.Shop.Balance(ctx, p.ID)
	for range 3 {
		if _, err := env.Shop.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := env.Shop.Order(ctx, p.ID, o.ID)
	after, _ := env.Shop.Balance(ctx, p.ID)
	if got.Status != "refunded" || after.USDT != before.USDT+usdt100 || after.Nano != before.Nano {
		t.Fatalf("refund of a USDT order: %s, USDT %d → %d, TON %d → %d", got.Status, before.USDT, after.USDT, before.Nano, after.Nano)
	}
	env.Check(t)
}

// Unmatched USDT deposits are judged against their own floor (0.01 USDT),
// not the TON one: a 3 USDT deposit is open for the operator, a 1-unit one
// is comment spam.
func TestUnmatchedUSDTDepositsFloor(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	for _, units := range []int64{3_000_000, 1} {
		if _, err := env.Shop.ApplyTransfer(ctx, usdtTransfer(t, env.Shop.ServiceAddress(), units, "STARS-zzzzzz", env.Clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	d, err := env.Shop.OpenUnmatched(ctx, 10)
	if err != nil || d.Open != 1 || d.Small != 1 || len(d.Items) != 1 || d.Items[0].AmountUSDT != 3_000_000 {
		t.Fatalf("open deposits %+v %v", d, err)
	}
	if cur, amount := d.Items[0].Amount(); shop.FormatAmount(cur, amount) != "3 USDT" {
		t.Fatalf("amount %s %d", cur, amount)
	}
	env.Check(t)
}
