package shop_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// The integrity check holds each currency to its own rows: a row that moves
// USDT but carries nanotons, or a USDT refund of a TON order, written
// straight into the store, is a violation naming the currencies; with a TON
// and a USDT top-up it counts one row of each and finds nothing.
func TestCheckVerifiesEachCurrencySeparately(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  func(p *domain.Partner, tonOrder *domain.Order) *domain.LedgerEntry
		want string
	}{
		{"a USDT row carrying nanotons", func(p *domain.Partner, _ *domain.Order) *domain.LedgerEntry {
			return &domain.LedgerEntry{PartnerID: p.ID, Type: domain.LedgerAdjustment, Currency: domain.CurrencyUSDT, AmountUSDT: 5, AmountNano: 7}
		}, "a USDT row carries amounts of the other currency"},
		{"a USDT refund of a TON order", func(p *domain.Partner, o *domain.Order) *domain.LedgerEntry {
			return &domain.LedgerEntry{PartnerID: p.ID, Type: domain.LedgerRefund, Currency: domain.CurrencyUSDT, AmountUSDT: usdt100, OrderID: o.ID}
		}, "USDT refund row for order %d paid in TON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := shoptest.New(t, shoptest.Options{Clock: true})
			p, _ := env.Partner(t)
			if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: p.TopupAddress, AmountNano: 1e9, Incoming: true, ChainTime: env.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Shop.ApplyTransfer(ctx, usdtTransfer(t, p.TopupAddress, 2_000_000, "", env.Clock.Now())); err != nil {
				t.Fatal(err)
			}
			o := newOrder(t, env, p.ID)
			rep, err := shop.Check(ctx, env.Store)
			if err != nil || len(rep.Violations) != 0 || rep.LedgerRowsIn[domain.CurrencyTON] != 1 || rep.LedgerRowsIn[domain.CurrencyUSDT] != 1 {
				t.Fatalf("before: %+v %v", rep, err)
			}
			e := tc.row(p, o)
			e.CreatedAt = time.Now()
			if err := env.Store.Update(ctx, func(tx store.Tx) error { return tx.AppendLedger(e) }); err != nil {
				t.Fatal(err)
			}
			rep, err = shop.Check(ctx, env.Store)
			got := strings.Join(rep.Violations, "\n")
			want := strings.Replace(tc.want, "%d", strconv.FormatInt(o.ID, 10), 1)
			if err != nil || !strings.Contains(got, want) || strings.Contains(got, "TON balance") {
				t.Fatalf("violations %q, want one containing %q and the TON balance clean", got, want)
			}
		})
	}
}
