package pg_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
)

// instances are n shops over one database, each with its own pool and its
// own API server, as n processes of the service.
type instances struct {
	stores []*pg.Store
	shops  []*shop.Shop
	urls   []string
}

func newInstances(t *testing.T, n int) *instances {
	t.Helper()
	dsn := pgtest.DSN(t)
	cfg := config.Default()
	cfg.API.RateLimit = config.RateLimit{PerSecond: 1e6, Burst: 1_000_000}
	in := &instances{}
	for range n {
		st, err := pg.Open(context.Background(), dsn, pg.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s, _ := newShop(t, st)
		srv := httptest.NewServer(api.NewServer(s, cfg, slog.New(slog.DiscardHandler)))
		t.Cleanup(srv.Close)
		in.stores, in.shops, in.urls = append(in.stores, st), append(in.shops, s), append(in.urls, srv.URL)
	}
	return in
}

// listPage is GET /orders through instance i.
func (in *instances) listPage(t *testing.T, i int, key, cursor string) (ids []int64, next string) {
	t.Helper()
	url := in.urls[i] + api.BasePath + "/orders?limit=7"
	if cursor != "" {
		url += "&cursor=" + cursor
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var env struct {
		Data struct {
			Items []struct {
				ID int64 `json:"id"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		} `json:"data"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &env) != nil {
		t.Fatalf("list through instance %d: %d %s", i, res.StatusCode, body)
	}
	for _, it := range env.Data.Items {
		ids = append(ids, it.ID)
	}
	if env.Data.NextCursor != nil {
		next = *env.Data.NextCursor
	}
	return ids, next
}

// TestPagingWhileOrdersArriveOnThreeInstances is the API's paging test
// (250 orders paged newest first with limit 7 while more arrive) on
// PostgreSQL with three instances: the 250 are created through all three
// at once (ids taken without a lock, so they commit out of id order), each
// page is read through the next instance, and new orders keep arriving
// through all of them. Besides, orders whose ids were taken before the
// first page but that commit while it is paged (held open) appear at most
// once. Every order committed before the first page appears exactly once,
// newest first.
func TestPagingWhileOrdersArriveOnThreeInstances(t *testing.T) {
	ctx := context.Background()
	in := newInstances(t, 3)
	p, err := in.shops[0].CreatePartner(ctx, "pager")
	if err != nil {
		t.Fatal(err)
	}
	key, err := in.shops[1].IssueKey(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := in.shops[2].CreatePartner(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	create := func(i int, pid int64) int64 {
		o, _, err := in.shops[i%3].CreateOrder(ctx, pid, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
		if err != nil {
			t.Error(err)
			return 0
		}
		return o.ID
	}
	// Late committers: ids taken before the 250, committed while the list is
	// paged, after the pages above them and before the pages below them.
	release := make(chan struct{})
	lateIDs := make(chan int64, 6)
	var late sync.WaitGroup
	for i := range 6 {
		late.Add(1)
		taken := make(chan struct{})
		go func() {
			defer late.Done()
			err := in.stores[i%3].Write(ctx, func(tx store.Tx) error {
				id, err := tx.NextOrderID()
				if err != nil {
					return err
				}
				close(taken)
				<-release
				now := time.Now().UTC().Truncate(time.Microsecond)
				lateIDs <- id
				return tx.CreateOrder(&domain.Order{ID: id, PartnerID: p.ID, Status: domain.StatusPendingPayment,
					Type: "stars", StarsAmount: 100, RecipientUsername: "pandus", PaymentMethod: "ton_memo",
					PaymentCurrency: "TON", PaymentMemo: fmt.Sprintf("LATE-%d", id), CreatedAt: now})
			})
			if err != nil {
				t.Error(err)
			}
		}()
		<-taken
	}

	var mu sync.Mutex
	var ids []int64
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				id := create(w+i, p.ID)
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
				if (w+i)%5 == 0 {
					create(w+i+1, other.ID)
				}
			}
		}()
	}
	wg.Wait()
	slices.Sort(ids)
	slices.Reverse(ids)

	var seen []int64
	// Orders created while the list is paged commit after the first page:
	// each appears at most once. Their ids are not always above the cursor:
	// under load an id comes from the instance's id cache (taken by an
	// earlier commit, up to 100 ms before), so one may fall below it.
	during := map[int64]bool{}
	cursor, pages := "", 0
	for {
		page, next := in.listPage(t, pages%3, key.Key, cursor)
		pages++
		seen = append(seen, page...)
		during[create(pages, p.ID)] = true
		create(pages+1, other.ID)
		if pages == 10 {
			close(release) // the late ones commit now, below the cursor
			late.Wait()
		}
		if next == "" {
			break
		}
		if len(page) != 7 {
			t.Fatalf("page %d has %d items and a next_cursor", pages, len(page))
		}
		cursor = next
	}
	close(lateIDs)
	for id := range lateIDs {
		during[id] = true
	}
	var originals []int64
	times := map[int64]int{}
	for i, id := range seen {
		times[id]++
		if times[id] > 1 {
			t.Fatalf("order %d seen twice", id)
		}
		if i > 0 && id >= seen[i-1] {
			t.Fatalf("not newest first: %d after %d", id, seen[i-1])
		}
		if !during[id] {
			originals = append(originals, id)
		}
	}
	if !slices.Equal(originals, ids) {
		t.Fatalf("paging saw %d of the 250 orders committed before it (%v…)", len(originals), originals[:min(10, len(originals))])
	}
	t.Logf("%d pages through 3 instances; %d of the %d orders committed while paging were seen (at most once each)",
		pages, len(seen)-len(originals), len(during))
}
