package api_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
)

// benchClient is a keep-alive client with enough idle connections for
// RunParallel.
func benchClient() *http.Client {
	n := 4 * runtime.GOMAXPROCS(0)
	return &http.Client{Transport: &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
}

// benchEnv is the real handler (JSON access log to io.Discard, so its cost
// counts) behind a loopback server, with a huge rate limit.
func benchEnv(b *testing.B) (*tenv, *httptest.Server, string) {
	te := newEnv(b)
	te.h = api.NewServer(te.Shop, te.Config, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	srv := httptest.NewServer(te.h)
	b.Cleanup(srv.Close)
	_, key := te.Partner(b)
	return te, srv, key
}

func getOK(b *testing.B, c *http.Client, req *http.Request) {
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("status %d", res.StatusCode)
	}
}

// BenchmarkGetOrder: GET /orders/{id} with bearer auth and rate limiting,
// over real loopback HTTP with keep-alive clients.
func BenchmarkGetOrder(b *testing.B) {
	te, srv, key := benchEnv(b)
	p, _ := te.Shop.Authenticate(context.Background(), key)
	o, _, err := te.Shop.CreateOrder(context.Background(), p.ID, shop.OrderRequest{Kind: domain.KindStars,
		RecipientUsername: "pandus", Quantity: 100, ClientReference: ptr("invoice-42")})
	if err != nil {
		b.Fatal(err)
	}
	url := srv.URL + "/api/v1/orders/" + strconv.FormatInt(o.ID, 10)
	c := benchClient()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			getOK(b, c, req)
		}
	})
}

// BenchmarkGetOrderBaseline: a bare net/http handler writing the same bytes
// and headers over the same kind of server and client.
func BenchmarkGetOrderBaseline(b *testing.B) {
	te, srv, key := benchEnv(b)
	p, _ := te.Shop.Authenticate(context.Background(), key)
	o, _, err := te.Shop.CreateOrder(context.Background(), p.ID, shop.OrderRequest{Kind: domain.KindStars,
		RecipientUsername: "pandus", Quantity: 100, ClientReference: ptr("invoice-42")})
	if err != nil {
		b.Fatal(err)
	}
	// The exact bytes the real handler answers.
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/orders/"+strconv.FormatInt(o.ID, 10), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", api.ContentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("X-Request-Id", "00000000-0000-0000-0000-000000000000")
		h.Set("RateLimit-Limit", "1000000")
		h.Set("RateLimit-Remaining", "999999")
		h.Set("RateLimit-Reset", "0")
		w.WriteHeader(200)
		_, _ = w.Write(body)
	}))
	b.Cleanup(bare.Close)
	c := benchClient()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", bare.URL+"/api/v1/orders/1", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			getOK(b, c, req)
		}
	})
}

// BenchmarkCreateOrderDurable: POST /orders/stars, each with its own
// Idempotency-Key, committed with fsync before the answer.
func BenchmarkCreateOrderDurable(b *testing.B) {
	_, srv, key := benchEnv(b)
	c := benchClient()
	prefix := uuid.NewString()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/orders/stars", strings.NewReader(quickstartBody))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", prefix+"-"+strconv.FormatInt(n.Add(1), 10))
			getOK(b, c, req)
		}
	})
}

// BenchmarkBoltBatchBaseline: raw bbolt DB.Batch puts of one order record's
// size, from the same parallelism, on the same kind of file.
func BenchmarkBoltBatchBaseline(b *testing.B) {
	te := newEnv(b)
	p, _ := te.Partner(b)
	o, _, err := te.Shop.CreateOrder(context.Background(), p.ID, shop.OrderRequest{Kind: domain.KindStars,
		RecipientUsername: "pandus", Quantity: 100, ClientReference: ptr("invoice-42"), IdempotencyKey: uuid.NewString()})
	if err != nil {
		b.Fatal(err)
	}
	rec, _ := json.Marshal(o)
	db := te.Store.DB()
	bucket := []byte("bench")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		b.Fatal(err)
	}
	var n atomic.Uint64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := make([]byte, 8)
			binary.BigEndian.PutUint64(k, n.Add(1))
			err := db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k, rec) })
			if err != nil {
				b.Fatal(fmt.Errorf("batch: %w", err))
			}
		}
	})
	b.ReportMetric(float64(len(rec)), "record-bytes")
}
