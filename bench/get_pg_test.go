package bench

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
)

// BenchmarkGetOrderHandlerPG is GET /orders/{id} through the real handler
// (access log encoded to io.Discard) on a PostgreSQL store, without the
// network between client and handler: the CPU and allocations of the
// service's side of the request, store round trip included; cpu-µs/op is
// this process's CPU time per request (PostgreSQL's own is not in it).
//
//	go test -run '^$' -bench GetOrderHandlerPG -benchtime 3s ./bench/
func BenchmarkGetOrderHandlerPG(b *testing.B) {
	ctx := context.Background()
	cfg := benchConfig(storePostgres, pgtest.DSN(b))
	st, s, err := openShop(ctx, cfg, false, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	p, key, err := newPartner(ctx, s, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ref := "invoice-42"
	o, _, err := s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus",
		Quantity: 100, ClientReference: &ref})
	if err != nil {
		b.Fatal(err)
	}
	h := api.NewServer(s, cfg, accessLogger())
	req := httptest.NewRequest(http.MethodGet, api.BasePath+"/orders/"+strconv.FormatInt(o.ID, 10), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	b.ReportAllocs()
	before := selfCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((selfCPU()-before).Microseconds())/float64(b.N), "cpu-µs/op")
}
