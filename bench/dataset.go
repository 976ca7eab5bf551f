package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
)

// loadTxSize is how many orders one loading transaction writes.
const loadTxSize = 10_000

// dataset describes the loaded orders: ids 1..n, partner of id is
// partners[id % len(partners)], memo and reference derived from the id.
type dataset struct {
	memo       func(id int64) string // the order's payment memo (the shop's)
	partners   []int64
	serviceAdr string
	base       time.Time
	n          int64
}

func (ds *dataset) partnerOf(id int64) int64 { return ds.partners[id%int64(len(ds.partners))] }

func refFor(id int64) string { return "inv-" + strconv.FormatInt(id, 10) }

// orderFor is a realistic completed (or, one in ten, expired) Stars order.
func (ds *dataset) orderFor(id int64) *domain.Order {
	created := ds.base.Add(time.Duration(id) * time.Second)
	exp := created.Add(15 * time.Minute)
	stars := 50 + id%9951
	o := &domain.Order{ID: id, PartnerID: ds.partnerOf(id), Status: domain.StatusCompleted, Type: domain.KindStars,
		StarsAmount: stars, RecipientUsername: "user" + strconv.FormatInt(id%100_000, 10) + "_tg",
		PriceNano: stars * 4_375_000, PriceUSD: "1.575", TonUSD: "3.6", FeePercent: "5",
		PaymentMethod: domain.MethodTonMemo, PaymentCurrency: domain.CurrencyTON, PaymentAddress: ds.serviceAdr,
		PaymentMemo: ds.memo(id), ExpiresAt: &exp, CreatedAt: created, ClientReference: refFor(id),
		IdempotencyKey: fmt.Sprintf("%08x-bench-4000-8000-%012x", id, id*7919)}
	if id%10 == 0 {
		o.Status = domain.StatusExpired
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
// kept by CreateOrder), drawing a progress bar.
func (ds *dataset) load(ctx context.Context, st store.Store, upTo int64, bar *progress) error {
	for ds.n < upTo {
		size := min(upTo-ds.n, loadTxSize)
		err := st.Update(ctx, func(tx store.Tx) error {
			for range size {
				id, err := tx.NextOrderID()
				if err != nil {
					return err
				}
				if err := tx.CreateOrder(ds.orderFor(id)); err != nil {
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

func (r *lookupResult) set(kind int, d time.Duration) {
	*[]*time.Duration{&r.byID, &r.byMemo, &r.byRef, &r.list}[kind] = d
}

// lookupKinds are the timed lookups, in lookupResult's order: by id, by
// memo, by client reference, and a 20-order list page at a random cursor
// (shop-level calls: what the API handlers call, without HTTP).
var lookupKinds = []string{"by id", "by memo", "by reference", "list page"}

// lookup returns the call of kind for order id.
func (ds *dataset) lookup(ctx context.Context, s *shop.Shop, kind int) func(id int64) error {
	switch kind {
	case 0:
		return func(id int64) error {
			_, err := s.Order(ctx, ds.partnerOf(id), id)
			return err
		}
	case 1:
		return func(id int64) error {
			o, err := s.OrderByMemo(ctx, ds.partnerOf(id), ds.memo(id))
			if err == nil && o.ID != id {
				err = fmt.Errorf("memo %s gave order %d, want %d", ds.memo(id), o.ID, id)
			}
			return err
		}
	case 2:
		return func(id int64) error {
			p, err := s.OrdersByReference(ctx, ds.partnerOf(id), refFor(id), "", 0)
			if err == nil && (len(p.Items) != 1 || p.Items[0].ID != id) {
				err = fmt.Errorf("reference %s gave %d orders", refFor(id), len(p.Items))
			}
			return err
		}
	case 3:
		return func(id int64) error {
			p, err := s.ListOrders(ctx, ds.partnerOf(id), shop.OrderFilter{Limit: 20, Cursor: shop.EncodeCursor(id)})
			if err == nil && len(p.Items) == 0 && id > int64(len(ds.partners)) {
				err = fmt.Errorf("empty page before order %d", id)
			}
			return err
		}
	}
	return nil // rawGetKind: the caller supplies it
}

// timeLoop calls op on random orders among the first n for d, single
// goroutine, and returns the mean time per call. Warm-up loops pass timed
// false: the store is a memory-mapped file written with pwrite while
// loading, so the first touch of each of its pages by this process costs a
// page fault that a running service pays once; at 1 M orders (~250 000
// order leaves) a cold loop measures mostly those.
func timeLoop(rng *rand.Rand, n int64, d time.Duration, timed bool, name string, op func(id int64) error) (time.Duration, error) {
	if timed {
		runtime.GC() // garbage from loading or the previous loop is not this one's cost
	}
	var ops int64
	start := time.Now()
	for time.Since(start) < d {
		for range 64 {
			id := 1 + rng.Int64N(n)
			if err := op(id); err != nil {
				return 0, fmt.Errorf("bench: lookup %s: %w", name, err)
			}
			ops++
		}
	}
	return time.Since(start) / time.Duration(ops), nil
}

// benchLookups times each kind on one store: an untimed warm-up of d, then
// d timed.
func (ds *dataset) benchLookups(ctx context.Context, s *shop.Shop, n int64, d time.Duration) (lookupResult, error) {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var r lookupResult
	for kind, name := range lookupKinds {
		op := ds.lookup(ctx, s, kind)
		if _, err := timeLoop(rng, n, d, false, name, op); err != nil {
			return r, err
		}
		t, err := timeLoop(rng, n, d, true, name, op)
		if err != nil {
			return r, err
		}
		r.set(kind, t)
	}
	return r, nil
}

// lookupRounds is how often the big and the small store are timed, in
// alternating order, for each kind; the rows compare the medians (see
// httpRounds: the machine drifts).
const lookupRounds = 3

// sizedShop is a shop over a loaded dataset of n orders.
type sizedShop struct {
	ds  *dataset
	s   *shop.Shop
	n   int64
	raw *store.Bolt // the shop's store when it is bbolt
}

// rawGetKind is the extra kind compareLookups times on bbolt stores: the
// raw bbolt read of the order record alone (no transaction wrapper, decode
// or checks), to show how the storage itself scales from 10 k to N.
const rawGetKind = -1

// compareLookups times each kind on big and small: an untimed warm-up of d
// on each, then lookupRounds alternating rounds of d/lookupRounds on each.
// It returns the medians and a note with every round, and with the raw
// bbolt read's medians when both stores are bbolt.
func compareLookups(ctx context.Context, big, small sizedShop, d time.Duration) (b, sm lookupResult, note string, err error) {
	var notes []string
	kinds := []int{0, 1, 2, 3}
	if big.raw != nil && small.raw != nil {
		kinds = append(kinds, rawGetKind)
	}
	for _, kind := range kinds {
		name := "raw bbolt get by id"
		if kind != rawGetKind {
			name = lookupKinds[kind]
		}
		var times [2][]time.Duration
		sides := [2]sizedShop{big, small}
		var ops [2]func(int64) error
		var rngs [2]*rand.Rand
		for i, side := range sides {
			ops[i] = side.ds.lookup(ctx, side.s, kind)
			if kind == rawGetKind {
				raw := side.raw
				ops[i] = func(id int64) error { _, err := raw.RawOrderSize(id); return err }
			}
			rngs[i] = rand.New(rand.NewPCG(uint64(kind), uint64(side.n)))
			if _, err := timeLoop(rngs[i], side.n, d, false, name, ops[i]); err != nil {
				return b, sm, "", err
			}
		}
		for r := range lookupRounds {
			for j := range 2 {
				i := j ^ (r % 2) // big first on even rounds
				t, err := timeLoop(rngs[i], sides[i].n, d/lookupRounds, true, name, ops[i])
				if err != nil {
					return b, sm, "", err
				}
				times[i] = append(times[i], t)
			}
		}
		if kind == rawGetKind {
			bm, smm := medianDuration(times[0]), medianDuration(times[1])
			notes = append(notes, fmt.Sprintf("%s %s vs %s (medians %.2f vs %.2f µs, ratio %.2f: the storage's own scaling, which our constant per-call work dilutes)",
				name, usList(times[0]), usList(times[1]), us(bm), us(smm), float64(bm)/float64(smm)))
			continue
		}
		b.set(kind, medianDuration(times[0]))
		sm.set(kind, medianDuration(times[1]))
		notes = append(notes, fmt.Sprintf("%s %s vs %s", name, usList(times[0]), usList(times[1])))
	}
	return b, sm, "per round, µs (" + kilo(int(big.n)) + " vs " + kilo(int(small.n)) + "): " + strings.Join(notes, "; "), nil
}

func medianDuration(ds []time.Duration) time.Duration {
	fs := make([]float64, len(ds))
	for i, d := range ds {
		fs[i] = float64(d)
	}
	return time.Duration(median(fs))
}

func usList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.FormatFloat(us(d), 'f', 2, 64)
	}
	return strings.Join(parts, "/")
}
