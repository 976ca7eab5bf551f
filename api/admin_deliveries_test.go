package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/ton"
)

// GET /admin/deliveries pages by id with next_cursor: walked 5 at a time
// while other orders are paid and some waiting ones are marked delivered,
// every order waiting throughout the walk is listed exactly once, no order
// twice, in ascending id order; a walk after that lists exactly the orders
// still waiting.
func TestAdminDeliveriesPagesEachOrderOnce(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken), withManual())
	p, _ := te.Partner(t)
	var hashes atomic.Int64
	pay := func() (int64, error) {
		o, _, err := te.Shop.CreateOrder(t.Context(), p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
		if err != nil {
			return 0, err
		}
		_, err = te.Shop.ApplyTransfer(t.Context(), ton.Transfer{Hash: fmt.Sprintf("%064x", hashes.Add(1)), To: o.PaymentAddress,
			AmountNano: o.PriceNano, Comment: o.PaymentMemo, ChainTime: o.CreatedAt, Incoming: true})
		return o.ID, err
	}
	var waiting []int64
	for i := range 23 {
		id, err := pay()
		if err != nil {
			t.Fatal(err)
		}
		waiting = append(waiting, id)
		if i%4 == 0 { // an unpaid order between them, never listed
			if _, _, err := te.Shop.CreateOrder(t.Context(), p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// While the operator pages: 20 more orders are paid, and every third
	// of the first ones is marked delivered.
	var mu sync.Mutex
	var paidMeanwhile, marked []int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 20 {
			id, err := pay()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			paidMeanwhile = append(paidMeanwhile, id)
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < len(waiting); i += 3 {
			if _, err := te.Shop.MarkDelivered(t.Context(), waiting[i], shop.ManualMark{By: shop.Actor{Name: "ops"}}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			marked = append(marked, waiting[i])
			mu.Unlock()
		}
	}()
	walk := func() []int64 {
		var ids []int64
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("more than 100 pages of 5")
			}
			var page listJSON[adminOrderJSON]
			te.call(t, "GET", "/api/v1/admin/deliveries?limit=5&cursor="+url.QueryEscape(cursor), adminToken, "").must(t, 200).data(t, &page)
			for _, it := range page.Items {
				if n := len(ids); n > 0 && it.Order.ID <= ids[n-1] {
					t.Fatalf("order %d listed after %d", it.Order.ID, ids[n-1])
				}
				if it.Order.Status != "paid" && it.Order.Status != "processing" {
					t.Fatalf("order %d is %s, listed as waiting", it.Order.ID, it.Order.Status)
				}
				ids = append(ids, it.Order.ID)
			}
			if len(page.Items) > 5 || (page.NextCursor == nil) != (len(page.Items) < 5) {
				t.Fatalf("a page of %d items, next_cursor %v", len(page.Items), page.NextCursor)
			}
			if page.NextCursor == nil {
				return ids
			}
			cursor = *page.NextCursor
			time.Sleep(time.Millisecond) // let the writers interleave
		}
	}
	seen := walk()
	wg.Wait()
	if t.Failed() {
		return
	}
	all := append(slices.Clone(waiting), paidMeanwhile...)
	for _, id := range seen {
		if !slices.Contains(all, id) {
			t.Fatalf("listed order %d, which was never paid", id)
		}
	}
	for _, id := range waiting {
		if !slices.Contains(marked, id) && !slices.Contains(seen, id) {
			t.Fatalf("order %d waited throughout the walk and was not listed (listed %v)", id, seen)
		}
	}
	var still []int64
	for _, id := range all {
		if !slices.Contains(marked, id) {
			still = append(still, id)
		}
	}
	slices.Sort(still)
	if got := walk(); !slices.Equal(got, still) {
		t.Fatalf("a walk after the writes listed %v, want %v", got, still)
	}
	te.call(t, "GET", "/api/v1/admin/deliveries?cursor=bogus", adminToken, "").must(t, 422, "VALIDATION_ERROR")
}
