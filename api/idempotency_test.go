package api_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/ton"
)

// 30 concurrent requests with one Idempotency-Key make one order, and all
// 30 get the same bytes.
func TestConcurrentSameKeyMakesOneOrder(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	ik := uuid.NewString()
	const n = 30
	var wg sync.WaitGroup
	start := make(chan struct{})
	out := make([]*resp, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", ik)
		}()
	}
	close(start)
	wg.Wait()
	replayed := 0
	for i, r := range out {
		r.must(t, 200)
		if !bytes.Equal(r.Body, out[0].Body) {
			t.Fatalf("body %d differs:\n%s\n%s", i, r.Body, out[0].Body)
		}
		if r.Header.Get(api.HeaderReplayed) == "true" {
			replayed++
		}
	}
	if replayed != n-1 {
		t.Errorf("%d replayed answers, want %d", replayed, n-1)
	}
	if l := te.call(t, "GET", "/api/v1/orders", key, "").must(t, 200).orders(t); len(l.Items) != 1 {
		t.Fatalf("%d orders, want 1", len(l.Items))
	}
}

func TestIdempotencyRules(t *testing.T) {
	te := newEnv(t)
	_, keyA := te.Partner(t)
	_, keyB := te.Partner(t)
	ik := uuid.NewString()
	first := te.call(t, "POST", "/api/v1/orders/stars", keyA, quickstartBody, "Idempotency-Key", ik).must(t, 200)
	if first.Header.Get(api.HeaderReplayed) != "" {
		t.Error("first answer marked replayed")
	}
	again := te.call(t, "POST", "/api/v1/orders/stars", keyA, quickstartBody, "Idempotency-Key", ik).must(t, 200)
	if !bytes.Equal(again.Body, first.Body) || again.Header.Get(api.HeaderReplayed) != "true" {
		t.Fatalf("replay: %s %v", again.Body, again.Header)
	}
	if again.Header.Get("X-Request-Id") == first.Header.Get("X-Request-Id") {
		t.Error("a replay reuses the first request id")
	}
	// Same key, another body or another path: refused.
	te.call(t, "POST", "/api/v1/orders/stars", keyA, starsBody("pandus", 200, ""), "Idempotency-Key", ik).
		must(t, 422, "IDEMPOTENCY_KEY_REUSED")
	te.call(t, "POST", "/api/v1/orders/premium", keyA, quickstartBody, "Idempotency-Key", ik).
		must(t, 422, "IDEMPOTENCY_KEY_REUSED")
	// Same key, another partner: independent.
	other := te.call(t, "POST", "/api/v1/orders/stars", keyB, quickstartBody, "Idempotency-Key", ik).must(t, 200)
	if other.Header.Get(api.HeaderReplayed) != "" || other.order(t).ID == first.order(t).ID {
		t.Fatalf("another partner's key collided: %s", other.Body)
	}
	// 4xx answers are stored and replayed too.
	bad := uuid.NewString()
	r1 := te.call(t, "POST", "/api/v1/orders/stars", keyA, starsBody("pandus", 1, ""), "Idempotency-Key", bad).must(t, 422, "VALIDATION_ERROR")
	r2 := te.call(t, "POST", "/api/v1/orders/stars", keyA, starsBody("pandus", 1, ""), "Idempotency-Key", bad).must(t, 422, "VALIDATION_ERROR")
	if !bytes.Equal(r1.Body, r2.Body) || r2.Header.Get(api.HeaderReplayed) != "true" {
		t.Errorf("stored 422 not replayed")
	}
	// Cancel is idempotent as well: the replay is the first answer, not a 409.
	id := itoa(int(first.order(t).ID))
	ck := uuid.NewString()
	c1 := te.call(t, "POST", "/api/v1/orders/"+id+"/cancel", keyA, "", "Idempotency-Key", ck).must(t, 200)
	c2 := te.call(t, "POST", "/api/v1/orders/"+id+"/cancel", keyA, "", "Idempotency-Key", ck).must(t, 200)
	if !bytes.Equal(c1.Body, c2.Body) || c2.Header.Get(api.HeaderReplayed) != "true" {
		t.Errorf("cancel replay %s", c2.Body)
	}
	te.call(t, "POST", "/api/v1/orders/"+id+"/cancel", keyA, "", "Idempotency-Key", uuid.NewString()).must(t, 409, "ORDER_NOT_CANCELLABLE")
	if l := te.call(t, "GET", "/api/v1/orders", keyA, "").must(t, 200).orders(t); len(l.Items) != 1 {
		t.Fatalf("partner A has %d orders, want 1", len(l.Items))
	}
}

// A stored answer survives closing and reopening the store.
func TestReplayAfterRestart(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	ik := uuid.NewString()
	first := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", ik).must(t, 200)
	if err := te.Store.Close(); err != nil {
		t.Fatal(err)
	}

	te2 := newEnv(t, withPath(te.Path))
	again := te2.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", ik).must(t, 200)
	if !bytes.Equal(again.Body, first.Body) || again.Header.Get(api.HeaderReplayed) != "true" {
		t.Fatalf("after restart\n got %s %v\nwant %s", again.Body, again.Header, first.Body)
	}
	te2.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 300, ""), "Idempotency-Key", ik).
		must(t, 422, "IDEMPOTENCY_KEY_REUSED")
	if l := te2.call(t, "GET", "/api/v1/orders", key, "").must(t, 200).orders(t); len(l.Items) != 1 {
		t.Fatalf("%d orders after restart, want 1", len(l.Items))
	}
}

// The key is kept with the order, in its transaction: a retry answers the
// order as it was created (so a crash after the commit loses nothing), the
// same bytes even once the order is paid; another order under the key is
// refused.
func TestReplayIsTheOrderAsCreated(t *testing.T) {
	te := newEnv(t)
	p, key := te.Partner(t)
	ik := uuid.NewString()
	o, _, err := te.Shop.CreateOrder(context.Background(), p.ID, shop.OrderRequest{Kind: domain.KindStars,
		RecipientUsername: "pandus", Quantity: 100, ClientReference: ptr("invoice-42"), IdempotencyKey: ik})
	if err != nil {
		t.Fatal(err)
	}
	r := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", ik).must(t, 200)
	if r.order(t).ID != o.ID || r.Header.Get(api.HeaderReplayed) != "true" {
		t.Fatalf("retry made order %d (replayed %q), want order %d replayed", r.order(t).ID, r.Header.Get(api.HeaderReplayed), o.ID)
	}
	if _, err := te.Shop.ApplyTransfer(context.Background(), ton.Transfer{Hash: "paid-" + ik, To: o.PaymentAddress,
		AmountNano: o.PriceNano, Comment: o.PaymentMemo, Incoming: true}); err != nil {
		t.Fatal(err)
	}
	r2 := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", ik).must(t, 200)
	if !bytes.Equal(r2.Body, r.Body) || r2.Header.Get(api.HeaderReplayed) != "true" {
		t.Errorf("retry once paid: %s, want the first answer again:\n%s", r2.Body, r.Body)
	}
	te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, ""), "Idempotency-Key", ik).
		must(t, 422, "IDEMPOTENCY_KEY_REUSED")
	if l := te.call(t, "GET", "/api/v1/orders", key, "").must(t, 200).orders(t); len(l.Items) != 1 {
		t.Fatalf("%d orders, want 1", len(l.Items))
	}
}

func ptr[T any](v T) *T { return &v }
