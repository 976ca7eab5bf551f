package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"time"

	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
)

// loadTxSize is how many orders one loading transaction writes.
const loadTxSize = 10_000

// memoSpace is the number of 6-character base-36 memo codes; memoMul is
// coprime with it, so id → id·memoMul mod memoSpace is a bijection: every
// order gets a distinct, scattered memo (as random memos are) without retries.
const (
	memoSpace = 36 * 36 * 36 * 36 * 36 * 36
	memoMul   = 1_000_003
)

// dataset describes the loaded orders: ids 1..n, partner of id is
// partners[id % len(partners)], memo and reference derived from the id.
type dataset struct {
	partners   []int64
	serviceAdr string
	base       time.Time
	n          int64
}

func (ds *dataset) partnerOf(id int64) int64 { return ds.partners[id%int64(len(ds.partners))] }

func memoFor(id int64) string {
	v := (id * memoMul) % memoSpace
	code := strconv.FormatInt(v, 36)
	for len(code) < 6 {
		code = "0" + code
	}
	return "STARS-" + code
}

func refFor(id int64) string { return "inv-" + strconv.FormatInt(id, 10) }

// orderFor is a realistic completed (or, one in ten, expired) Stars order.
func (ds *dataset) orderFor(id int64) *store.Order {
	created := ds.base.Add(time.Duration(id) * time.Second)
	exp := created.Add(15 * time.Minute)
	stars := 50 + id%9951
	o := &store.Order{ID: id, PartnerID: ds.partnerOf(id), Status: store.StatusCompleted, Type: shop.KindStars,
		StarsAmount: stars, RecipientUsername: "user" + strconv.FormatInt(id%100_000, 10) + "_tg",
		PriceNano: stars * 4_375_000, PriceUSD: "1.575", TonUSD: "3.6", FeePercent: "5",
		PaymentMethod: shop.MethodTonMemo, PaymentCurrency: shop.CurrencyTON, PaymentAddress: ds.serviceAdr,
		PaymentMemo: memoFor(id), ExpiresAt: &exp, CreatedAt: created, ClientReference: refFor(id),
		IdempotencyKey: fmt.Sprintf("%08x-bench-4000-8000-%012x", id, id*7919)}
	if id%10 == 0 {
		o.Status = store.StatusExpired
		return o
	}
	paid := created.Add(40 * time.Second)
	done := paid.Add(3 * time.Second)
	h := sha256.Sum256([]byte(strconv.FormatInt(id, 10)))
	o.PaidAt, o.CompletedAt = &paid, &done
	o.ReceivedNano = o.PriceNano
	o.PaymentTxHashes = []string{hex.EncodeToString(h[:])}
	o.DeliveryAttempts = 1
	o.DeliveryRef = "sandbox-" + hex.EncodeToString(h[:8])
	return o
}

// load writes orders until the dataset holds upTo, loadTxSize per
// transaction through the store's Tx API (ids from NextOrderID, every index
// kept by PutOrder), drawing a progress bar.
func (ds *dataset) load(ctx context.Context, st store.Store, upTo int64, bar *progress) error {
	for ds.n < upTo {
		size := min(upTo-ds.n, loadTxSize)
		err := st.Update(ctx, func(tx store.Tx) error {
			for range size {
				id, err := tx.NextOrderID()
				if err != nil {
					return err
				}
				if err := tx.PutOrder(ds.orderFor(id)); err != nil {
					return fmt.Errorf("order %d: %w", id, err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("bench: load orders: %w", err)
		}
		ds.n += size
		bar.set(ds.n)
	}
	return nil
}

// lookupResult is the mean latency per call of each lookup.
type lookupResult struct {
	byID, byMemo, byRef, list time.Duration
}

// benchLookups times shop-level lookups (the calls the API handlers make,
// without HTTP) of random orders among the first n: by id, by memo, by
// client reference, and a 20-order list page at a random cursor. Each kind
// runs single-threaded for d, after an untimed warm-up of d.
func (ds *dataset) benchLookups(ctx context.Context, s *shop.Shop, n int64, d time.Duration) (lookupResult, error) {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	pick := func() int64 { return 1 + rng.Int64N(n) }
	run := func(name string, op func(id int64) error) (time.Duration, error) {
		// An untimed warm-up as long as the timed loop. The store is a
		// memory-mapped file written with pwrite while loading, so the first
		// touch of each of its pages by this process costs a page fault
		// that a running service pays once; at 1 M orders (~150 000 order
		// leaves) a cold loop measures mostly those (by id: 7.5 µs cold,
		// 4.8 µs once the pages have been touched, 3.5 µs at 10 k).
		for start := time.Now(); time.Since(start) < d; {
			for range 16 {
				if err := op(pick()); err != nil {
					return 0, fmt.Errorf("bench: lookup %s: %w", name, err)
				}
			}
		}
		runtime.GC() // garbage from loading or the previous kind is not this kind's cost
		var ops int64
		start := time.Now()
		for time.Since(start) < d {
			for range 64 {
				if err := op(pick()); err != nil {
					return 0, fmt.Errorf("bench: lookup %s: %w", name, err)
				}
				ops++
			}
		}
		return time.Since(start) / time.Duration(ops), nil
	}
	var r lookupResult
	var err error
	if r.byID, err = run("by id", func(id int64) error {
		_, err := s.Order(ctx, ds.partnerOf(id), id)
		return err
	}); err != nil {
		return r, err
	}
	if r.byMemo, err = run("by memo", func(id int64) error {
		o, err := s.OrderByMemo(ctx, ds.partnerOf(id), memoFor(id))
		if err == nil && o.ID != id {
			err = fmt.Errorf("memo %s gave order %d, want %d", memoFor(id), o.ID, id)
		}
		return err
	}); err != nil {
		return r, err
	}
	if r.byRef, err = run("by reference", func(id int64) error {
		os, err := s.OrdersByReference(ctx, ds.partnerOf(id), refFor(id))
		if err == nil && (len(os) != 1 || os[0].ID != id) {
			err = fmt.Errorf("reference %s gave %d orders", refFor(id), len(os))
		}
		return err
	}); err != nil {
		return r, err
	}
	if r.list, err = run("list page", func(id int64) error {
		p, err := s.ListOrders(ctx, ds.partnerOf(id), shop.OrderFilter{Limit: 20, Cursor: shop.EncodeCursor(id)})
		if err == nil && len(p.Items) == 0 && id > int64(len(ds.partners)) {
			err = fmt.Errorf("empty page before order %d", id)
		}
		return err
	}); err != nil {
		return r, err
	}
	return r, nil
}
