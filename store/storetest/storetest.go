// Package storetest is the storage contract: one suite of tests every
// store.Store implementation must pass (bbolt in package store, PostgreSQL in
// store/pg). It pins down what shop relies on — not-found and unique-clash
// errors, index maintenance as an order's status changes, newest-first
// paging, queues, idempotency expiry, outbox order, the sandbox log,
// rollback, and balance debits that never overdraw under concurrency.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Opener returns a fresh, empty store; the test closes it (and the opener
// may register its own cleanup).
type Opener func(t *testing.T) store.Store

// Run runs the whole contract against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"meta", testMeta},
		{"partners", testPartners},
		{"api keys", testAPIKeys},
		{"orders and indexes", testOrders},
		{"order paging newest first", testOrderPaging},
		{"orders by reference", testReference},
		{"orders by reference: more than a page, each once", testReferencePaging},
		{"expiry and delivery queues follow status", testQueues},
		{"due deliveries: the longest due first, not-due ones never read", testDueDeliveries},
		{"delivery queue pages by id", testDeliveryQueuePaging},
		{"created and changed in one transaction", testSameTxRewrite},
		{"ledger", testLedger},
		{"ledger rows move their own currency's balance", testLedgerCurrencies},
		{"seen tx hashes", testSeen},
		{"unmatched deposits", testUnmatched},
		{"parked transfers and their open index", testParked},
		{"audit log", testAudit},
		{"payer batches, their messages and the open index", testPayer},
		{"payer outcomes: written only over pending, a second writer refused", testPayerSettledIsFinal},
		{"idempotency records and TTL deletion", testIdem},
		{"outbox per channel", testOutbox},
		{"webhooks", testWebhooks},
		{"sandbox chain log", testSandbox},
		{"rollback on error leaves nothing", testRollback},
		{"view is read-only snapshot of committed state", testView},
		{"concurrent debits never overdraw", testConcurrentDebits},
		{"create with an idempotency key: a taken key refused, an old one deleted", testCreateIdem},
		{"read without a snapshot", testRead},
		{"write locks what it reads by key", testWriteLocks},
		{"concurrent orders: ids increase per partner, memos unique", testConcurrentOrders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() { st.Close() })
			tc.fn(t, st)
		})
	}
}

// t0 has microseconds: what every store keeps of a time (PostgreSQL's
// timestamptz).
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)

func at(d time.Duration) *time.Time { v := t0.Add(d); return &v }

func update(t *testing.T, st store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := st.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, st store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := st.View(context.Background(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// same compares records by their JSON form (what both backends store).
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func orderIDs(os []domain.Order) []int64 {
	ids := []int64{}
	for _, o := range os {
		ids = append(ids, o.ID)
	}
	return ids
}

func outboxIDs(its []domain.OutboxItem) []int64 {
	ids := []int64{}
	for _, it := range its {
		ids = append(ids, it.ID)
	}
	return ids
}

func sameIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if got == nil {
		got = []int64{}
	}
	if want == nil {
		want = []int64{}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: ids %v, want %v", what, got, want)
	}
}

func testMeta(t *testing.T, st store.Store) {
	view(t, st, func(tx store.Tx) error {
		_, err := tx.GetMeta("missing")
		wantNotFound(t, "GetMeta missing", err)
		return nil
	})
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutMeta("seed", []byte("one two")); err != nil {
			return err
		}
		if err := tx.PutMeta("cursor", []byte{0, 1, 2}); err != nil {
			return err
		}
		return tx.PutMeta("seed", []byte("three"))
	})
	view(t, st, func(tx store.Tx) error {
		for k, want := range map[string]string{"seed": "three", "cursor": "\x00\x01\x02"} {
			v, err := tx.GetMeta(k)
			if err != nil || string(v) != want {
				t.Errorf("GetMeta(%q) = %q, %v; want %q", k, v, err, want)
			}
		}
		return nil
	})
}

func testPartners(t *testing.T, st store.Store) {
	var ps []*domain.Partner
	update(t, st, func(tx store.Tx) error {
		ps = nil
		var last int64
		for i := range 5 {
			id, err := tx.NextPartnerID()
			if err != nil {
				return err
			}
			if id <= last {
				t.Errorf("NextPartnerID %d after %d: not increasing", id, last)
			}
			last = id
			p := &domain.Partner{ID: id, CreatedAt: t0, Name: fmt.Sprintf("p%d", i), SubwalletID: uint32(i),
				TopupAddressRaw: fmt.Sprintf("0:%064x", i+1), TopupAddress: fmt.Sprintf("UQ%d", i)}
			if i%2 == 0 {
				p.TelegramUserID = int64(1000 + i)
				p.TelegramChatID = int64(2000 + i)
			}
			if err := tx.PutPartner(p); err != nil {
				return err
			}
			ps = append(ps, p)
		}
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		for _, p := range ps {
			got, err := tx.GetPartner(p.ID)
			if err != nil {
				t.Fatalf("GetPartner(%d): %v", p.ID, err)
			}
			same(t, "GetPartner", got, p)
			got, err = tx.PartnerByTopupAddress(p.TopupAddressRaw)
			if err != nil || got.ID != p.ID {
				t.Errorf("PartnerByTopupAddress(%s) = %v, %v", p.TopupAddressRaw, got, err)
			}
			if p.TelegramUserID != 0 {
				got, err = tx.PartnerByTelegram(p.TelegramUserID)
				if err != nil || got.ID != p.ID {
					t.Errorf("PartnerByTelegram(%d) = %v, %v", p.TelegramUserID, got, err)
				}
			}
		}
		_, err := tx.GetPartner(ps[4].ID + 100)
		wantNotFound(t, "GetPartner missing", err)
		_, err = tx.PartnerByTelegram(1001)
		wantNotFound(t, "PartnerByTelegram missing", err)
		_, err = tx.PartnerByTopupAddress("0:ff")
		wantNotFound(t, "PartnerByTopupAddress missing", err)

		all, err := tx.ListPartners(0, 100)
		if err != nil {
			return err
		}
		if len(all) != 5 {
			t.Fatalf("ListPartners(0) = %d partners, want 5", len(all))
		}
		for i := range all {
			same(t, "ListPartners row", &all[i], ps[i])
		}
		page, err := tx.ListPartners(ps[1].ID, 2)
		if err != nil {
			return err
		}
		if len(page) != 2 || page[0].ID != ps[2].ID || page[1].ID != ps[3].ID {
			t.Errorf("ListPartners(after %d, 2) = %v", ps[1].ID, page)
		}
		page, err = tx.ListPartners(ps[4].ID, 10)
		if err != nil || len(page) != 0 {
			t.Errorf("ListPartners(after last) = %v, %v; want none", page, err)
		}
		return nil
	})
	// An update rewrites the record and keeps the indexes; the balance and
	// the ledger count are AppendLedger's alone: a stale or made-up value in
	// a PutPartner does not overwrite them.
	update(t, st, func(tx store.Tx) error {
		p, err := tx.GetPartner(ps[0].ID)
		if err != nil {
			return err
		}
		if err := tx.AppendLedger(&domain.LedgerEntry{PartnerID: p.ID, Type: domain.LedgerTopup, AmountNano: 42, CreatedAt: t0}); err != nil {
			return err
		}
		p.Name = "renamed"
		p.BalanceNano, p.LedgerCount = 7, 99 // stale and wrong: ignored
		return tx.PutPartner(p)
	})
	view(t, st, func(tx store.Tx) error {
		p, err := tx.PartnerByTelegram(ps[0].TelegramUserID)
		if err != nil || p.Name != "renamed" || p.BalanceNano != 42 || p.LedgerCount != 1 {
			t.Errorf("after update: %+v, %v; want renamed, balance 42 from one ledger row", p, err)
		}
		return nil
	})
	// Another partner cannot take a telegram user or top-up address.
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutPartner(&domain.Partner{ID: ps[4].ID + 1, CreatedAt: t0, TelegramUserID: ps[0].TelegramUserID})
	})
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("second partner with telegram user %d: err = %v, want ErrExists", ps[0].TelegramUserID, err)
	}
	err = st.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutPartner(&domain.Partner{ID: ps[4].ID + 1, CreatedAt: t0, TopupAddressRaw: ps[1].TopupAddressRaw})
	})
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("second partner with top-up address %s: err = %v, want ErrExists", ps[1].TopupAddressRaw, err)
	}
}

func testAPIKeys(t *testing.T, st store.Store) {
	k := &domain.APIKey{Hash: "aa11", PartnerID: 1, Prefix: "osk_test_ab", CreatedAt: t0}
	update(t, st, func(tx store.Tx) error { return tx.PutAPIKey(k, true) })
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutAPIKey(&domain.APIKey{Hash: "aa11", PartnerID: 2, CreatedAt: t0}, true)
	})
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("new key with a taken hash: err = %v, want ErrExists", err)
	}
	// The clash is reported without spoiling the transaction.
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutAPIKey(&domain.APIKey{Hash: "aa11", PartnerID: 2}, true); !errors.Is(err, store.ErrExists) {
			t.Errorf("clash in tx: %v", err)
		}
		return tx.PutAPIKey(&domain.APIKey{Hash: "bb22", PartnerID: 2, Prefix: "osk_test_cd", CreatedAt: t0}, true)
	})
	revoked := *k
	revoked.RevokedAt = at(time.Hour)
	revoked.LastUsedAt = at(time.Minute)
	update(t, st, func(tx store.Tx) error { return tx.PutAPIKey(&revoked, false) })
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetAPIKey("aa11")
		if err != nil {
			return err
		}
		same(t, "revoked key", got, &revoked)
		if got, err := tx.GetAPIKey("bb22"); err != nil || got.PartnerID != 2 {
			t.Errorf("GetAPIKey(bb22) = %v, %v", got, err)
		}
		_, err = tx.GetAPIKey("cc33")
		wantNotFound(t, "GetAPIKey missing", err)
		return nil
	})
}

func newOrder(tx store.Tx, partnerID int64, status domain.Status, typ domain.Kind, memo, ref string) (*domain.Order, error) {
	id, err := tx.NextOrderID()
	if err != nil {
		return nil, err
	}
	o := &domain.Order{ID: id, PartnerID: partnerID, Status: status, Type: typ, StarsAmount: 50,
		RecipientUsername: "durov", PriceNano: 1e9, PriceUSD: "1.50", TonUSD: "3.1", FeePercent: "5",
		PaymentMethod: "ton_memo", PaymentCurrency: "TON", PaymentMemo: memo, ClientReference: ref,
		CreatedAt: t0.Add(time.Duration(id) * time.Second), PaymentTxHashes: []string{"h1"}}
	if status == domain.StatusPendingPayment {
		o.ExpiresAt = at(time.Duration(id) * time.Minute)
	}
	if ref != "" { // orders with a reference carry a return URL too; the others none
		o.ReturnURL = "https://shop.example/orders/" + ref + "?paid=1&x=%22"
	}
	return o, tx.CreateOrder(o)
}

func testOrders(t *testing.T, st store.Store) {
	var o *domain.Order
	update(t, st, func(tx store.Tx) error {
		var err error
		o, err = newOrder(tx, 7, domain.StatusPendingPayment, "stars", "ST-ABC", "ref-1")
		return err
	})
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetOrder(o.ID)
		if err != nil {
			return err
		}
		same(t, "GetOrder", got, o)
		_, err = tx.GetOrder(o.ID + 1000)
		wantNotFound(t, "GetOrder missing", err)
		return nil
	})
	// Status changes rewrite the record; partner and reference indexes stay.
	update(t, st, func(tx store.Tx) error {
		got, err := tx.GetOrder(o.ID)
		if err != nil {
			return err
		}
		got.Status = domain.StatusCompleted
		got.ReceivedNano = 1e9
		got.CompletedAt = at(time.Hour)
		*o = *got
		return tx.PutOrder(got)
	})
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetOrder(o.ID)
		if err != nil {
			return err
		}
		same(t, "order after update", got, o)
		list, err := tx.ListOrders(7, store.OrderQuery{Limit: 10})
		if err != nil {
			return err
		}
		sameIDs(t, "ListOrders after update", orderIDs(list), []int64{o.ID})
		refs, err := tx.OrdersByReference(7, "ref-1", 0, 10)
		if err != nil {
			return err
		}
		sameIDs(t, "OrdersByReference after update", orderIDs(refs), []int64{o.ID})
		n := 0
		err = tx.ForEachOrder(func(*domain.Order) error { n++; return nil })
		if err != nil || n != 1 {
			t.Errorf("ForEachOrder: %d orders, %v", n, err)
		}
		return nil
	})
}

func testOrderPaging(t *testing.T, st store.Store) {
	want := map[int64][]int64{} // partner → ids, oldest first
	update(t, st, func(tx store.Tx) error {
		clear(want)
		for i := range 12 {
			partner := int64(1 + i%2) // interleave two partners
			status, typ := domain.StatusCompleted, domain.KindStars
			if i%3 == 0 {
				status = domain.StatusPendingPayment
			}
			if i%4 == 0 {
				typ = domain.KindPremium
			}
			o, err := newOrder(tx, partner, status, typ, fmt.Sprintf("M-%d", i), "")
			if err != nil {
				return err
			}
			want[partner] = append(want[partner], o.ID)
		}
		return nil
	})
	rev := func(ids []int64) []int64 {
		out := make([]int64, len(ids))
		for i, id := range ids {
			out[len(ids)-1-i] = id
		}
		return out
	}
	view(t, st, func(tx store.Tx) error {
		p1 := rev(want[1]) // newest first
		all, err := tx.ListOrders(1, store.OrderQuery{Limit: 100})
		if err != nil {
			return err
		}
		sameIDs(t, "ListOrders all", orderIDs(all), p1)
		// Page through with BeforeID.
		var paged []int64
		before := int64(0)
		for {
			page, err := tx.ListOrders(1, store.OrderQuery{Limit: 4, BeforeID: before})
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, orderIDs(page)...)
			before = page[len(page)-1].ID
		}
		sameIDs(t, "ListOrders paged by BeforeID", paged, p1)
		// BeforeID of an id that belongs to the other partner still works.
		page, err := tx.ListOrders(1, store.OrderQuery{Limit: 100, BeforeID: want[2][3]})
		if err != nil {
			return err
		}
		for _, o := range page {
			if o.ID >= want[2][3] || o.PartnerID != 1 {
				t.Errorf("ListOrders(BeforeID %d) returned order %d of partner %d", want[2][3], o.ID, o.PartnerID)
			}
		}
		// Filters.
		pend, err := tx.ListOrders(1, store.OrderQuery{Limit: 100, Status: domain.StatusPendingPayment})
		if err != nil {
			return err
		}
		for _, o := range pend {
			if o.Status != domain.StatusPendingPayment || o.PartnerID != 1 {
				t.Errorf("status filter returned %+v", o)
			}
		}
		prem, err := tx.ListOrders(1, store.OrderQuery{Limit: 1, Type: "premium"})
		if err != nil {
			return err
		}
		if len(prem) != 1 || prem[0].Type != "premium" || prem[0].PartnerID != 1 || prem[0].ID != want[1][4] {
			t.Errorf("type filter with limit 1 returned %v", prem)
		}
		none, err := tx.ListOrders(3, store.OrderQuery{Limit: 10})
		if err != nil || len(none) != 0 {
			t.Errorf("ListOrders of partner without orders = %v, %v", none, err)
		}
		// ForEachPartnerOrder: newest first, stops when fn says so.
		var walked []int64
		err = tx.ForEachPartnerOrder(2, func(o *domain.Order) bool {
			walked = append(walked, o.ID)
			return len(walked) < 3
		})
		if err != nil {
			return err
		}
		sameIDs(t, "ForEachPartnerOrder stopped after 3", walked, rev(want[2])[:3])
		walked = nil
		if err := tx.ForEachPartnerOrder(2, func(o *domain.Order) bool { walked = append(walked, o.ID); return true }); err != nil {
			return err
		}
		sameIDs(t, "ForEachPartnerOrder all", walked, rev(want[2]))
		return nil
	})
}

func testReference(t *testing.T, st store.Store) {
	var ids []int64
	update(t, st, func(tx store.Tx) error {
		ids = nil
		for _, c := range []struct {
			partner int64
			ref     string
		}{{1, "inv-1"}, {1, "inv-10"}, {2, "inv-1"}, {1, "inv-1"}, {1, ""}, {1, "inv"}} {
			o, err := newOrder(tx, c.partner, domain.StatusPaid, "stars", "", c.ref)
			if err != nil {
				return err
			}
			ids = append(ids, o.ID)
		}
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		got, err := tx.OrdersByReference(1, "inv-1", 0, 10)
		if err != nil {
			return err
		}
		sameIDs(t, "OrdersByReference(1, inv-1): exact match, this partner, newest first", orderIDs(got), []int64{ids[3], ids[0]})
		got, err = tx.OrdersByReference(1, "inv-1", 0, 1)
		if err != nil {
			return err
		}
		sameIDs(t, "OrdersByReference limit 1", orderIDs(got), []int64{ids[3]})
		got, err = tx.OrdersByReference(1, "inv-1", ids[3], 10)
		if err != nil {
			return err
		}
		sameIDs(t, "OrdersByReference below the newest", orderIDs(got), []int64{ids[0]})
		got, err = tx.OrdersByReference(1, "inv-1", ids[0], 10)
		if err != nil || len(got) != 0 {
			t.Errorf("OrdersByReference below the oldest = %v, %v", orderIDs(got), err)
		}
		got, err = tx.OrdersByReference(2, "inv-1", 0, 10)
		if err != nil {
			return err
		}
		sameIDs(t, "OrdersByReference(2, inv-1)", orderIDs(got), []int64{ids[2]})
		got, err = tx.OrdersByReference(1, "inv", 0, 10)
		if err != nil {
			return err
		}
		sameIDs(t, "OrdersByReference(1, inv): not a prefix match", orderIDs(got), []int64{ids[5]})
		got, err = tx.OrdersByReference(1, "nope", 0, 10)
		if err != nil || len(got) != 0 {
			t.Errorf("OrdersByReference unknown = %v, %v", got, err)
		}
		return nil
	})
}

// testReferencePaging: more orders than a page carry one reference, among
// other references and other partners' orders; paging by id < cursor, newest
// first, lists each exactly once.
func testReferencePaging(t *testing.T, st store.Store) {
	var want []int64
	update(t, st, func(tx store.Tx) error {
		for i := range 250 {
			partner, ref := int64(1), "batch-7"
			switch i % 5 {
			case 1:
				ref = "batch-70" // a longer reference sharing the prefix
			case 3:
				partner = 2
			}
			o, err := newOrder(tx, partner, domain.StatusPaid, "stars", "", ref)
			if err != nil {
				return err
			}
			if partner == 1 && ref == "batch-7" {
				want = append(want, o.ID)
			}
		}
		return nil
	})
	slices.Reverse(want) // newest first
	var got []int64
	before := int64(0)
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatalf("paging does not end: %d ids so far", len(got))
		}
		var items []domain.Order
		view(t, st, func(tx store.Tx) error {
			var err error
			items, err = tx.OrdersByReference(1, "batch-7", before, 40)
			return err
		})
		for _, o := range items {
			if o.PartnerID != 1 || o.ClientReference != "batch-7" {
				t.Fatalf("order %d of partner %d, reference %q on the page", o.ID, o.PartnerID, o.ClientReference)
			}
			got = append(got, o.ID)
		}
		if len(items) < 40 {
			break
		}
		before = items[len(items)-1].ID
	}
	if len(want) != 150 {
		t.Fatalf("made %d orders with the reference, want 150", len(want))
	}
	sameIDs(t, "OrdersByReference paged 40 at a time", got, want)
}

// testSameTxRewrite: an order written twice in the transaction that
// created it (a balance order is created, then paid), and an idempotency
// record found absent, written, then replaced in one transaction, leave the
// indexes as if each had been written once in its final state.
func testSameTxRewrite(t *testing.T, st store.Store) {
	var o *domain.Order
	update(t, st, func(tx store.Tx) error {
		var err error
		if o, err = newOrder(tx, 4, domain.StatusPendingPayment, "stars", "RW-A", "rw-ref"); err != nil {
			return err
		}
		o.Status, o.ExpiresAt = domain.StatusPaid, nil
		if err := tx.PutOrder(o); err != nil {
			return err
		}
		if _, err := tx.GetIdem(4, "rw"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("GetIdem before: %v", err)
		}
		if err := tx.PutIdem(&domain.IdemRecord{PartnerID: 4, Key: "rw", Fingerprint: "f", OrderID: o.ID, CreatedAt: t0}); err != nil {
			return err
		}
		return tx.PutIdem(&domain.IdemRecord{PartnerID: 4, Key: "rw", Fingerprint: "f", OrderID: o.ID, Status: 200, Body: longBody(3), CreatedAt: t0.Add(time.Second)})
	})
	view(t, st, func(tx store.Tx) error {
		due, err := tx.DueExpiries(t0.Add(48*time.Hour), 10)
		if err != nil {
			return err
		}
		sameIDs(t, "expiry queue after create+pay in one tx", due, nil)
		dq, err := tx.DeliveryQueue(0, 10)
		if err != nil {
			return err
		}
		sameIDs(t, "delivery queue after create+pay in one tx", dq, []int64{o.ID})
		refs, err := tx.OrdersByReference(4, "rw-ref", 0, 10)
		if err != nil {
			return err
		}
		sameIDs(t, "reference index", orderIDs(refs), []int64{o.ID})
		rec, err := tx.GetIdem(4, "rw")
		if err != nil || rec.Status != 200 || !bytes.Equal(rec.Body, longBody(3)) {
			t.Errorf("GetIdem after replace in one tx = %+v, %v", rec, err)
		}
		return nil
	})
	// The replaced record's first time entry is gone: one sweep past both
	// times deletes exactly one record.
	n := sweepIdem(t, st, t0.Add(time.Hour), 10)
	if n != 1 {
		t.Errorf("sweep deleted %d idempotency entries, want 1 (the record replaced in its own tx)", n)
	}
}

func testQueues(t *testing.T, st store.Store) {
	var a, b, c, d *domain.Order
	update(t, st, func(tx store.Tx) error {
		var err error
		if a, err = newOrder(tx, 1, domain.StatusPendingPayment, "stars", "Q-A", ""); err != nil {
			return err
		}
		if b, err = newOrder(tx, 1, domain.StatusPendingPayment, "stars", "Q-B", ""); err != nil {
			return err
		}
		if c, err = newOrder(tx, 1, domain.StatusPaid, "stars", "", ""); err != nil {
			return err
		}
		d, err = newOrder(tx, 1, domain.StatusPendingPayment, "stars", "Q-D", "")
		return err
	})
	// a expires first; make b expire before a to prove ordering is by time, not id.
	update(t, st, func(tx store.Tx) error {
		b.ExpiresAt = at(-time.Hour)
		return tx.PutOrder(b)
	})
	due := func(now time.Time, limit int) []int64 {
		var ids []int64
		view(t, st, func(tx store.Tx) error {
			var err error
			ids, err = tx.DueExpiries(now, limit)
			return err
		})
		return ids
	}
	delivery := func() []int64 {
		var ids []int64
		view(t, st, func(tx store.Tx) error {
			var err error
			ids, err = tx.DeliveryQueue(0, 100)
			return err
		})
		return ids
	}
	sameIDs(t, "due long ago", due(t0.Add(-2*time.Hour), 10), nil)
	sameIDs(t, "due at b's expiry (inclusive)", due(*b.ExpiresAt, 10), []int64{b.ID})
	sameIDs(t, "due later, by time", due(t0.Add(24*time.Hour), 10), []int64{b.ID, a.ID, d.ID})
	sameIDs(t, "due with limit", due(t0.Add(24*time.Hour), 2), []int64{b.ID, a.ID})
	sameIDs(t, "delivery queue", delivery(), []int64{c.ID})

	// a gets paid: leaves the expiry queue, joins the delivery queue.
	update(t, st, func(tx store.Tx) error {
		a.Status = domain.StatusPaid
		a.PaidAt = at(time.Second)
		return tx.PutOrder(a)
	})
	sameIDs(t, "due after a paid", due(t0.Add(24*time.Hour), 10), []int64{b.ID, d.ID})
	sameIDs(t, "delivery after a paid (id order)", delivery(), []int64{a.ID, c.ID})
	// a processing stays; c completes and leaves; b expires; d's expiry moves.
	update(t, st, func(tx store.Tx) error {
		a.Status = domain.StatusProcessing
		if err := tx.PutOrder(a); err != nil {
			return err
		}
		c.Status = domain.StatusCompleted
		if err := tx.PutOrder(c); err != nil {
			return err
		}
		b.Status = domain.StatusExpired
		if err := tx.PutOrder(b); err != nil {
			return err
		}
		d.ExpiresAt = at(48 * time.Hour)
		return tx.PutOrder(d)
	})
	sameIDs(t, "due after changes", due(t0.Add(24*time.Hour), 10), nil)
	sameIDs(t, "due after d's new expiry", due(t0.Add(48*time.Hour), 10), []int64{d.ID})
	sameIDs(t, "delivery after changes", delivery(), []int64{a.ID})
	update(t, st, func(tx store.Tx) error {
		a.Status = domain.StatusFailed
		if err := tx.PutOrder(a); err != nil {
			return err
		}
		d.Status = domain.StatusCancelled
		return tx.PutOrder(d)
	})
	sameIDs(t, "delivery after a failed", delivery(), nil)
	sameIDs(t, "due after d cancelled", due(t0.Add(100*time.Hour), 10), nil)
}

// testDueDeliveries: the delivery loop's queue is ordered by
// Order.DeliveryDueAt (next_delivery_at, else paid_at, else created_at),
// ties by id; it follows every write that moves an order's due time or
// takes it out of paid/processing, and returns nothing that is not due.
func testDueDeliveries(t *testing.T, st store.Store) {
	// Orders by role: fresh (paid, never tried), old (paid earlier, higher
	// id), backoff (processing, next attempt in an hour), retry (processing,
	// next attempt passed), bare (paid, no paid_at), tieA/tieB (same due
	// time), pending (not awaiting delivery).
	var fresh, old, backoff, retry, bare, tieA, tieB, pending *domain.Order
	update(t, st, func(tx store.Tx) error {
		mk := func(status domain.Status, set func(*domain.Order)) (*domain.Order, error) {
			o, err := newOrder(tx, 3, status, "stars", "", "")
			if err != nil {
				return nil, err
			}
			o.CreatedAt = t0
			set(o)
			return o, tx.PutOrder(o)
		}
		var err error
		if fresh, err = mk(domain.StatusPaid, func(o *domain.Order) { o.PaidAt = at(10 * time.Second) }); err != nil {
			return err
		}
		if old, err = mk(domain.StatusPaid, func(o *domain.Order) { o.PaidAt = at(5 * time.Second) }); err != nil {
			return err
		}
		if backoff, err = mk(domain.StatusProcessing, func(o *domain.Order) {
			o.PaidAt, o.NextDeliveryAt = at(time.Second), at(time.Hour)
		}); err != nil {
			return err
		}
		if retry, err = mk(domain.StatusProcessing, func(o *domain.Order) {
			o.PaidAt, o.NextDeliveryAt = at(time.Second), at(2*time.Second)
		}); err != nil {
			return err
		}
		if bare, err = mk(domain.StatusPaid, func(o *domain.Order) { o.CreatedAt = t0.Add(7 * time.Second) }); err != nil {
			return err
		}
		if tieB, err = mk(domain.StatusPaid, func(o *domain.Order) { o.PaidAt = at(20 * time.Second) }); err != nil {
			return err
		}
		if tieA, err = mk(domain.StatusProcessing, func(o *domain.Order) {
			o.PaidAt, o.NextDeliveryAt = at(time.Second), at(20*time.Second)
		}); err != nil {
			return err
		}
		pending, err = mk(domain.StatusPendingPayment, func(o *domain.Order) {})
		return err
	})
	due := func(now time.Time, limit int) []int64 {
		var ids []int64
		view(t, st, func(tx store.Tx) error {
			var err error
			ids, err = tx.DueDeliveries(now, limit)
			return err
		})
		return ids
	}
	// tieB has the lower id: same due time, id order.
	tie := []int64{tieB.ID, tieA.ID}
	if tieA.ID < tieB.ID {
		tie = []int64{tieA.ID, tieB.ID}
	}
	sameIDs(t, "nothing due before t0", due(t0, 10), nil)
	sameIDs(t, "due at old's paid_at (inclusive)", due(*old.PaidAt, 10), []int64{retry.ID, old.ID})
	sameIDs(t, "due by due time, not id", due(t0.Add(30*time.Second), 10),
		append([]int64{retry.ID, old.ID, bare.ID, fresh.ID}, tie...))
	sameIDs(t, "due with limit", due(t0.Add(30*time.Second), 2), []int64{retry.ID, old.ID})
	sameIDs(t, "backoff due after its next attempt", due(t0.Add(2*time.Hour), 10),
		append(append([]int64{retry.ID, old.ID, bare.ID, fresh.ID}, tie...), backoff.ID))

	// backoff is rescheduled to before everything; retry backs off; fresh
	// completes; tieA is refunded; pending gets paid.
	update(t, st, func(tx store.Tx) error {
		backoff.NextDeliveryAt = at(500 * time.Millisecond)
		retry.NextDeliveryAt = at(3 * time.Hour)
		fresh.Status, fresh.CompletedAt = domain.StatusCompleted, at(11*time.Second)
		tieA.Status, tieA.NextDeliveryAt = domain.StatusRefunded, nil
		pending.Status, pending.ExpiresAt, pending.PaidAt = domain.StatusPaid, nil, at(6*time.Second)
		for _, o := range []*domain.Order{backoff, retry, fresh, tieA, pending} {
			if err := tx.PutOrder(o); err != nil {
				return err
			}
		}
		return nil
	})
	sameIDs(t, "due after the changes", due(t0.Add(time.Hour), 10),
		[]int64{backoff.ID, old.ID, pending.ID, bare.ID, tieB.ID})
	sameIDs(t, "each once, far ahead", due(t0.Add(100*time.Hour), 10),
		[]int64{backoff.ID, old.ID, pending.ID, bare.ID, tieB.ID, retry.ID})

	// 600 orders backing off ahead (in id order) of one new paid order: the
	// new one is the only one due, read without the others.
	update(t, st, func(tx store.Tx) error {
		for _, o := range []*domain.Order{backoff, old, pending, bare, tieB, retry} {
			o.Status, o.CompletedAt, o.NextDeliveryAt = domain.StatusCompleted, at(time.Minute), nil
			if err := tx.PutOrder(o); err != nil {
				return err
			}
		}
		for range 600 {
			o, err := newOrder(tx, 3, domain.StatusProcessing, "stars", "", "")
			if err != nil {
				return err
			}
			o.PaidAt, o.NextDeliveryAt = at(time.Minute), at(2*time.Hour)
			if err := tx.PutOrder(o); err != nil {
				return err
			}
		}
		return nil
	})
	var newest *domain.Order
	update(t, st, func(tx store.Tx) error {
		var err error
		if newest, err = newOrder(tx, 3, domain.StatusPaid, "stars", "", ""); err != nil {
			return err
		}
		newest.PaidAt = at(time.Hour)
		return tx.PutOrder(newest)
	})
	sameIDs(t, "behind 600 backing off", due(t0.Add(time.Hour), 500), []int64{newest.ID})
	if n := len(due(t0.Add(3*time.Hour), 1000)); n != 601 {
		t.Errorf("due once all are due: %d orders, want 601", n)
	}
}

// testDeliveryQueuePaging: the operators' list of orders awaiting delivery
// pages by id (afterID), each order once.
func testDeliveryQueuePaging(t *testing.T, st store.Store) {
	var want []int64
	update(t, st, func(tx store.Tx) error {
		for i := range 25 {
			status := domain.StatusPaid
			switch i % 5 {
			case 1:
				status = domain.StatusProcessing
			case 2:
				status = domain.StatusCompleted
			case 3:
				status = domain.StatusPendingPayment
			}
			o, err := newOrder(tx, 2, status, "stars", "", "")
			if err != nil {
				return err
			}
			if status == domain.StatusPaid || status == domain.StatusProcessing {
				want = append(want, o.ID)
			}
		}
		return nil
	})
	var got []int64
	var after int64
	for range 20 {
		var page []int64
		view(t, st, func(tx store.Tx) error {
			var err error
			page, err = tx.DeliveryQueue(after, 4)
			return err
		})
		got = append(got, page...)
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1]
	}
	sameIDs(t, "DeliveryQueue paged 4 at a time", got, want)
	view(t, st, func(tx store.Tx) error {
		last, err := tx.DeliveryQueue(want[len(want)-1], 10)
		sameIDs(t, "after the last", last, nil)
		return err
	})
}

func testLedger(t *testing.T, st store.Store) {
	var rows []domain.LedgerEntry
	update(t, st, func(tx store.Tx) error {
		for _, id := range []int64{1, 2} {
			if err := tx.PutPartner(&domain.Partner{ID: id, CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, st, func(tx store.Tx) error {
		rows = nil
		var last int64
		bal := map[int64]int64{}
		for i := range 7 {
			pid := int64(1 + i%2)
			e := &domain.LedgerEntry{PartnerID: pid, Type: domain.LedgerTopup, AmountNano: int64(i+1) * 1e9,
				TxHash: fmt.Sprintf("h%d", i), CreatedAt: t0, OrderID: int64(i)}
			if err := tx.AppendLedger(e); err != nil {
				return err
			}
			if e.ID <= last {
				t.Errorf("AppendLedger id %d after %d", e.ID, last)
			}
			bal[pid] += e.AmountNano
			if e.BalanceAfterNano != bal[pid] {
				t.Errorf("AppendLedger balance after %d, want the running sum %d", e.BalanceAfterNano, bal[pid])
			}
			last = e.ID
			rows = append(rows, *e)
		}
		// A debit beyond the balance is refused and writes nothing; so is a
		// row for a partner that does not exist.
		if err := tx.AppendLedger(&domain.LedgerEntry{PartnerID: 1, Type: domain.LedgerOrderPayment, AmountNano: -bal[1] - 1, CreatedAt: t0}); !errors.Is(err, store.ErrOverdraw) {
			t.Errorf("overdraw: err = %v, want ErrOverdraw", err)
		}
		if err := tx.AppendLedger(&domain.LedgerEntry{PartnerID: 3, Type: domain.LedgerTopup, AmountNano: 1, CreatedAt: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ledger row of a missing partner: err = %v, want ErrNotFound", err)
		}
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		p, err := tx.GetPartner(1)
		if err != nil || p.BalanceNano != 16e9 || p.LedgerCount != 4 {
			t.Errorf("partner 1 after its rows: %+v, %v; want balance 16 TON, 4 rows", p, err)
		}
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetLedger(rows[3].ID)
		if err != nil {
			return err
		}
		same(t, "GetLedger", got, &rows[3])
		_, err = tx.GetLedger(rows[6].ID + 100)
		wantNotFound(t, "GetLedger missing", err)
		var p1 []int64 // partner 1, newest first
		for i := len(rows) - 1; i >= 0; i-- {
			if rows[i].PartnerID == 1 {
				p1 = append(p1, rows[i].ID)
			}
		}
		ids := func(es []domain.LedgerEntry) []int64 {
			out := []int64{}
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		all, err := tx.ListLedger(1, 0, 100)
		if err != nil {
			return err
		}
		sameIDs(t, "ListLedger newest first", ids(all), p1)
		page, err := tx.ListLedger(1, p1[1], 100)
		if err != nil {
			return err
		}
		sameIDs(t, "ListLedger before", ids(page), p1[2:])
		page, err = tx.ListLedger(1, 0, 2)
		if err != nil {
			return err
		}
		sameIDs(t, "ListLedger limit", ids(page), p1[:2])
		page, err = tx.ListLedger(3, 0, 10)
		if err != nil || len(page) != 0 {
			t.Errorf("ListLedger of partner without rows = %v, %v", page, err)
		}
		n := 0
		err = tx.ForEachLedger(func(e *domain.LedgerEntry) error {
			n++
			return nil
		})
		if err != nil || n != len(rows) {
			t.Errorf("ForEachLedger: %d rows, %v", n, err)
		}
		stop := errors.New("stop")
		if err := tx.ForEachLedger(func(*domain.LedgerEntry) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("ForEachLedger does not pass fn's error: %v", err)
		}
		return nil
	})
}

func testSeen(t *testing.T, st store.Store) {
	view(t, st, func(tx store.Tx) error {
		_, err := tx.GetSeen("abc")
		wantNotFound(t, "GetSeen missing", err)
		return nil
	})
	s := &domain.SeenTx{Hash: "abc", Kind: domain.SeenOrder, RefID: 5, AmountNano: 10, SeenAt: t0}
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutSeen(s); err != nil {
			return err
		}
		return tx.PutSeen(&domain.SeenTx{Hash: "def", Kind: domain.SeenIgnored, SeenAt: t0})
	})
	s.ExtraLedgerID = 9
	update(t, st, func(tx store.Tx) error { return tx.PutSeen(s) })
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetSeen("abc")
		if err != nil {
			return err
		}
		same(t, "GetSeen after rewrite", got, s)
		hashes := map[string]bool{}
		if err := tx.ForEachSeen(func(s *domain.SeenTx) error { hashes[s.Hash] = true; return nil }); err != nil {
			return err
		}
		if len(hashes) != 2 || !hashes["abc"] || !hashes["def"] {
			t.Errorf("ForEachSeen saw %v", hashes)
		}
		return nil
	})
}

func testUnmatched(t *testing.T, st store.Store) {
	var us []*domain.Unmatched
	update(t, st, func(tx store.Tx) error {
		us = nil
		for i := range 3 {
			u := &domain.Unmatched{TxHash: fmt.Sprintf("u%d", i), LT: 1<<63 + uint64(i), ChainTime: t0, From: "0:aa", To: "0:bb",
				AmountNano: 5, Comment: "nul \x00 byte and ünïcödé", PayloadHex: "00ff", SeenAt: t0}
			if err := tx.PutUnmatched(u); err != nil {
				return err
			}
			if u.ID == 0 {
				t.Errorf("PutUnmatched did not assign an id")
			}
			us = append(us, u)
		}
		return nil
	})
	us[1].AssignedAt = at(time.Hour)
	us[1].AssignedLedgerID = 77
	update(t, st, func(tx store.Tx) error { return tx.PutUnmatched(us[1]) })
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetUnmatched(us[1].ID)
		if err != nil {
			return err
		}
		same(t, "GetUnmatched after assign (id kept)", got, us[1])
		_, err = tx.GetUnmatched(us[2].ID + 100)
		wantNotFound(t, "GetUnmatched missing", err)
		list, err := tx.ListUnmatched(0, 10)
		if err != nil {
			return err
		}
		if len(list) != 3 {
			t.Fatalf("ListUnmatched = %d rows", len(list))
		}
		for i := range list {
			same(t, "ListUnmatched row", &list[i], us[i])
		}
		list, err = tx.ListUnmatched(us[0].ID, 1)
		if err != nil || len(list) != 1 || list[0].ID != us[1].ID {
			t.Errorf("ListUnmatched(after first, 1) = %v, %v", list, err)
		}
		return nil
	})
}

// sweepIdem runs DeleteIdemBefore(before, limit) in its own transaction and
// returns how many records it deleted.
func sweepIdem(t *testing.T, st store.Store, before time.Time, limit int) int {
	t.Helper()
	var n int
	update(t, st, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteIdemBefore(before, limit)
		return err
	})
	return n
}

// longBody is a response body the size of a created order's answer.
func longBody(n int) []byte {
	return []byte(`{"id":` + strings.Repeat(strconv.Itoa(n), 700) + `,"note":"\u2028 é"}` + "\n")
}

func testIdem(t *testing.T, st store.Store) {
	view(t, st, func(tx store.Tx) error {
		_, err := tx.GetIdem(1, "k")
		wantNotFound(t, "GetIdem missing", err)
		return nil
	})
	update(t, st, func(tx store.Tx) error {
		for i, r := range []domain.IdemRecord{
			{PartnerID: 1, Key: "a", Fingerprint: "f1", CreatedAt: t0},
			{PartnerID: 2, Key: "a", Fingerprint: "f2", CreatedAt: t0.Add(time.Minute), OrderID: 3},
			{PartnerID: 1, Key: "b", Fingerprint: "f3", CreatedAt: t0.Add(2 * time.Minute), Status: 201, Body: []byte(`{"ok":true}`)},
			{PartnerID: 1, Key: "c", Fingerprint: "f4", CreatedAt: t0.Add(3 * time.Minute)},
			{PartnerID: 3, Key: "long", Fingerprint: "f5", CreatedAt: t0.Add(4 * time.Minute), OrderID: 9, Status: 200, Body: longBody(1)},
		} {
			if err := tx.PutIdem(&r); err != nil {
				return fmt.Errorf("PutIdem %d: %w", i, err)
			}
		}
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetIdem(1, "b")
		if err != nil {
			return err
		}
		if got.Status != 201 || string(got.Body) != `{"ok":true}` || got.Fingerprint != "f3" || !got.CreatedAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("GetIdem(1, b) = %+v", got)
		}
		got, err = tx.GetIdem(2, "a")
		if err != nil || got.OrderID != 3 {
			t.Errorf("GetIdem(2, a): keys are scoped per partner: %+v, %v", got, err)
		}
		got, err = tx.GetIdem(3, "long")
		if err != nil || got.OrderID != 9 || got.Status != 200 || !bytes.Equal(got.Body, longBody(1)) || !got.CreatedAt.Equal(t0.Add(4*time.Minute)) {
			t.Errorf("GetIdem(3, long) = %+v, %v (a full response body)", got, err)
		}
		return nil
	})
	// Replacing a record with a long body (the answer saved after the order)
	// keeps only the new body; a later sweep takes it.
	update(t, st, func(tx store.Tx) error {
		return tx.PutIdem(&domain.IdemRecord{PartnerID: 3, Key: "long", Fingerprint: "f5", CreatedAt: t0.Add(4 * time.Minute), OrderID: 9, Status: 201, Body: longBody(2)})
	})
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetIdem(3, "long")
		if err != nil || got.Status != 201 || !bytes.Equal(got.Body, longBody(2)) {
			t.Errorf("GetIdem(3, long) after replacing = %+v, %v", got, err)
		}
		return nil
	})
	// Re-putting (1, a) with a later time moves it in the TTL index.
	update(t, st, func(tx store.Tx) error {
		return tx.PutIdem(&domain.IdemRecord{PartnerID: 1, Key: "a", Fingerprint: "f1", CreatedAt: t0.Add(10 * time.Minute), Status: 200})
	})
	n := sweepIdem(t, st, t0.Add(3*time.Minute), 1)
	if n != 1 {
		t.Errorf("DeleteIdemBefore limit 1 deleted %d", n)
	}
	view(t, st, func(tx store.Tx) error {
		_, err := tx.GetIdem(2, "a")
		wantNotFound(t, "oldest record deleted first", err)
		if _, err := tx.GetIdem(1, "b"); err != nil {
			t.Errorf("GetIdem(1, b) before second pass: %v", err)
		}
		return nil
	})
	n = sweepIdem(t, st, t0.Add(3*time.Minute), 100)
	if n != 1 {
		t.Errorf("second DeleteIdemBefore deleted %d, want 1 (created_at == before is kept)", n)
	}
	view(t, st, func(tx store.Tx) error {
		_, err := tx.GetIdem(1, "b")
		wantNotFound(t, "(1, b) deleted", err)
		for _, k := range []string{"a", "c"} {
			if _, err := tx.GetIdem(1, k); err != nil {
				t.Errorf("GetIdem(1, %s) kept: %v", k, err)
			}
		}
		return nil
	})
	n = sweepIdem(t, st, t0.Add(5*time.Minute), 100)
	if n != 2 {
		t.Errorf("third DeleteIdemBefore deleted %d, want 2 ((1, c) and (3, long))", n)
	}
	view(t, st, func(tx store.Tx) error {
		_, err := tx.GetIdem(3, "long")
		wantNotFound(t, "(3, long) deleted", err)
		return nil
	})
}

func testOutbox(t *testing.T, st store.Store) {
	var items []*domain.OutboxItem
	update(t, st, func(tx store.Tx) error {
		items = nil
		for i := range 6 {
			ch := domain.ChannelTelegram
			if i%2 == 1 {
				ch = domain.ChannelWebhook
			}
			it := &domain.OutboxItem{Channel: ch, PartnerID: 1, Type: "order.paid", CreatedAt: t0, NextAttemptAt: t0,
				Order: &domain.Order{ID: int64(i), Status: domain.StatusPaid}}
			if err := tx.AppendOutbox(it); err != nil {
				return err
			}
			items = append(items, it)
		}
		return nil
	})
	pending := func(ch domain.Channel, limit int) []int64 {
		var ids []int64
		view(t, st, func(tx store.Tx) error {
			its, err := tx.PendingOutbox(ch, 0, limit)
			for _, it := range its {
				if it.Channel != ch {
					t.Errorf("PendingOutbox(%s) returned an item of %s", ch, it.Channel)
				}
				ids = append(ids, it.ID)
			}
			return err
		})
		return ids
	}
	sameIDs(t, "telegram pending", pending(domain.ChannelTelegram, 10), []int64{items[0].ID, items[2].ID, items[4].ID})
	sameIDs(t, "webhook pending limit 2", pending(domain.ChannelWebhook, 2), []int64{items[1].ID, items[3].ID})
	// Paging: after an id (not necessarily one of the channel's own).
	view(t, st, func(tx store.Tx) error {
		for _, after := range []int64{items[1].ID, items[2].ID} {
			its, err := tx.PendingOutbox(domain.ChannelWebhook, after, 10)
			if err != nil {
				return err
			}
			sameIDs(t, fmt.Sprintf("webhook pending after %d", after), outboxIDs(its), []int64{items[3].ID, items[5].ID})
		}
		its, err := tx.PendingOutbox(domain.ChannelWebhook, items[5].ID, 10)
		if len(its) != 0 {
			t.Errorf("pending after the last id: %d items", len(its))
		}
		return err
	})
	items[0].Attempts = 3
	items[0].LastError = "timeout"
	items[0].NextAttemptAt = t0.Add(time.Minute)
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutOutbox(items[0]); err != nil {
			return err
		}
		if err := tx.DeleteOutbox(domain.ChannelTelegram, items[2].ID); err != nil {
			return err
		}
		// Deleting an id on the wrong channel removes nothing.
		return tx.DeleteOutbox(domain.ChannelTelegram, items[3].ID)
	})
	sameIDs(t, "telegram after delete", pending(domain.ChannelTelegram, 10), []int64{items[0].ID, items[4].ID})
	sameIDs(t, "webhook untouched", pending(domain.ChannelWebhook, 10), []int64{items[1].ID, items[3].ID, items[5].ID})
	view(t, st, func(tx store.Tx) error {
		its, err := tx.PendingOutbox(domain.ChannelTelegram, 0, 1)
		if err != nil {
			return err
		}
		same(t, "outbox item after PutOutbox", &its[0], items[0])
		return nil
	})
}

func testWebhooks(t *testing.T, st store.Store) {
	update(t, st, func(tx store.Tx) error {
		_, err := tx.GetWebhook(1)
		wantNotFound(t, "GetWebhook missing", err)
		wantNotFound(t, "DeleteWebhook missing", tx.DeleteWebhook(1))
		return nil
	})
	w := &domain.Webhook{PartnerID: 1, URL: "https://example.com/hook", Events: []string{"order.paid"}, Secret: "whsec_x", CreatedAt: t0, UpdatedAt: t0}
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutWebhook(w); err != nil {
			return err
		}
		return tx.PutWebhook(&domain.Webhook{PartnerID: 2, URL: "https://b.example/h", Events: []string{"order.completed"}, Secret: "s", CreatedAt: t0})
	})
	w.URL = "https://example.com/v2"
	w.UpdatedAt = t0.Add(time.Hour)
	w.FailingSince, w.DisabledAt, w.DisabledReason = at(time.Minute), at(72*time.Hour), "every attempt failed for 72h"
	update(t, st, func(tx store.Tx) error { return tx.PutWebhook(w) })
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetWebhook(1)
		if err != nil {
			return err
		}
		same(t, "GetWebhook after replace", got, w)
		return nil
	})
	var ds []domain.WebhookDelivery
	update(t, st, func(tx store.Tx) error {
		ds = nil
		var last int64
		for i := range 5 {
			d := &domain.WebhookDelivery{PartnerID: int64(1 + i%2), EventID: fmt.Sprintf("evt_%d", i), EventType: "order.paid",
				Attempt: 1, At: t0, StatusCode: 500, Error: "boom", DurationMs: 12, Final: "retrying"}
			if err := tx.AppendWebhookDelivery(d); err != nil {
				return err
			}
			if d.ID <= last {
				t.Errorf("AppendWebhookDelivery id %d after %d", d.ID, last)
			}
			last = d.ID
			ds = append(ds, *d)
		}
		return tx.DeleteWebhook(1)
	})
	view(t, st, func(tx store.Tx) error {
		_, err := tx.GetWebhook(1)
		wantNotFound(t, "GetWebhook after delete", err)
		if _, err := tx.GetWebhook(2); err != nil {
			t.Errorf("other partner's webhook: %v", err)
		}
		got, err := tx.ListWebhookDeliveries(1, 0, 10)
		if err != nil {
			return err
		}
		if len(got) != 3 {
			t.Fatalf("deliveries kept after delete: %d, want 3", len(got))
		}
		same(t, "newest delivery", &got[0], &ds[4])
		if got[1].ID != ds[2].ID || got[2].ID != ds[0].ID {
			t.Errorf("deliveries not newest first: %v", got)
		}
		page, err := tx.ListWebhookDeliveries(1, ds[4].ID, 1)
		if err != nil || len(page) != 1 || page[0].ID != ds[2].ID {
			t.Errorf("ListWebhookDeliveries(before %d, 1) = %v, %v", ds[4].ID, page, err)
		}
		got1, err := tx.GetWebhookDelivery(ds[3].ID)
		if err != nil {
			return err
		}
		same(t, "GetWebhookDelivery", got1, &ds[3])
		_, err = tx.GetWebhookDelivery(ds[4].ID + 1000)
		wantNotFound(t, "GetWebhookDelivery missing", err)
		return nil
	})
	testWebhookPrune(t, st, ds)
}

// testWebhookPrune: deliveries carry their event for redelivery, and the
// oldest are deleted by time, lowest ids first, indexes included.
func testWebhookPrune(t *testing.T, st store.Store, old []domain.WebhookDelivery) {
	var fresh []domain.WebhookDelivery
	update(t, st, func(tx store.Tx) error {
		fresh = nil
		for i := range 4 {
			d := &domain.WebhookDelivery{PartnerID: int64(1 + i%2), EventID: fmt.Sprintf("evt_%d", 10+i), EventType: "order.paid",
				Attempt: 1, At: t0.Add(time.Duration(i+1) * time.Hour), Final: "delivered", EventAt: t0, RedeliveryOf: old[0].ID,
				Order: &domain.Order{ID: int64(10 + i), Status: domain.StatusPaid, CreatedAt: t0}}
			if err := tx.AppendWebhookDelivery(d); err != nil {
				return err
			}
			fresh = append(fresh, *d)
		}
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		got, err := tx.GetWebhookDelivery(fresh[0].ID)
		if err != nil {
			return err
		}
		same(t, "delivery with its event", got, &fresh[0])
		return nil
	})
	prune := func(before time.Time, limit int) int {
		var n int
		update(t, st, func(tx store.Tx) error {
			var err error
			n, err = tx.DeleteWebhookDeliveriesBefore(before, limit)
			return err
		})
		return n
	}
	if n := prune(t0, 10); n != 0 {
		t.Errorf("pruned %d rows before the oldest", n)
	}
	if n := prune(t0.Add(2*time.Hour), 3); n != 3 {
		t.Errorf("pruned %d with limit 3, want 3", n)
	}
	// The 5 old rows (at t0) and fresh[0] (t0+1h) are older than t0+2h.
	if n := prune(t0.Add(2*time.Hour), 100); n != 3 {
		t.Errorf("pruned %d, want the remaining 3", n)
	}
	view(t, st, func(tx store.Tx) error {
		for _, d := range append(old, fresh[0]) {
			_, err := tx.GetWebhookDelivery(d.ID)
			wantNotFound(t, fmt.Sprintf("pruned delivery %d", d.ID), err)
		}
		for pid, want := range map[int64][]int64{1: {fresh[2].ID}, 2: {fresh[3].ID, fresh[1].ID}} {
			got, err := tx.ListWebhookDeliveries(pid, 0, 10)
			if err != nil {
				return err
			}
			ids := []int64{}
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			sameIDs(t, fmt.Sprintf("partner %d deliveries after pruning", pid), ids, want)
		}
		return nil
	})
}

func testSandbox(t *testing.T, st store.Store) {
	var seqs []uint64
	update(t, st, func(tx store.Tx) error {
		seqs = nil
		for i := range 5 {
			s, err := tx.AppendSandboxTx([]byte(fmt.Sprintf(`{"n":%d}`, i)))
			if err != nil {
				return err
			}
			if len(seqs) > 0 && s <= seqs[len(seqs)-1] {
				t.Errorf("AppendSandboxTx seq %d after %d", s, seqs[len(seqs)-1])
			}
			seqs = append(seqs, s)
		}
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		all, err := tx.SandboxTxAfter(0, 100)
		if err != nil {
			return err
		}
		if len(all) != 5 {
			t.Fatalf("SandboxTxAfter(0) = %d", len(all))
		}
		for i, r := range all {
			if r.Seq != seqs[i] || string(r.Data) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Errorf("row %d = %d %s", i, r.Seq, r.Data)
			}
		}
		page, err := tx.SandboxTxAfter(seqs[1], 2)
		if err != nil || len(page) != 2 || page[0].Seq != seqs[2] || page[1].Seq != seqs[3] {
			t.Errorf("SandboxTxAfter(%d, 2) = %v, %v", seqs[1], page, err)
		}
		page, err = tx.SandboxTxAfter(seqs[4], 10)
		if err != nil || len(page) != 0 {
			t.Errorf("SandboxTxAfter(last) = %v, %v", page, err)
		}
		return nil
	})
}

func testRollback(t *testing.T, st store.Store) {
	boom := errors.New("boom")
	var pid, oid, lid int64
	err := st.Update(context.Background(), func(tx store.Tx) error {
		var err error
		if pid, err = tx.NextPartnerID(); err != nil {
			return err
		}
		if err := tx.PutPartner(&domain.Partner{ID: pid, TelegramUserID: 99, TopupAddressRaw: "0:99", BalanceNano: 5}); err != nil {
			return err
		}
		if err := tx.PutMeta("k", []byte("v")); err != nil {
			return err
		}
		if err := tx.PutAPIKey(&domain.APIKey{Hash: "h", PartnerID: pid}, true); err != nil {
			return err
		}
		o, err := newOrder(tx, pid, domain.StatusPendingPayment, "stars", "RB-1", "r")
		if err != nil {
			return err
		}
		oid = o.ID
		e := &domain.LedgerEntry{PartnerID: pid, Type: domain.LedgerTopup, AmountNano: 5, BalanceAfterNano: 5}
		if err := tx.AppendLedger(e); err != nil {
			return err
		}
		lid = e.ID
		if err := tx.PutSeen(&domain.SeenTx{Hash: "rb", Kind: domain.SeenLedger}); err != nil {
			return err
		}
		if err := tx.PutIdem(&domain.IdemRecord{PartnerID: pid, Key: "k", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.AppendOutbox(&domain.OutboxItem{Channel: domain.ChannelTelegram, PartnerID: pid}); err != nil {
			return err
		}
		if err := tx.PutUnmatched(&domain.Unmatched{TxHash: "x"}); err != nil {
			return err
		}
		if _, err := tx.AppendSandboxTx([]byte("x")); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	view(t, st, func(tx store.Tx) error {
		_, err := tx.GetPartner(pid)
		wantNotFound(t, "partner", err)
		_, err = tx.PartnerByTelegram(99)
		wantNotFound(t, "partner by telegram", err)
		_, err = tx.PartnerByTopupAddress("0:99")
		wantNotFound(t, "partner by address", err)
		_, err = tx.GetMeta("k")
		wantNotFound(t, "meta", err)
		_, err = tx.GetAPIKey("h")
		wantNotFound(t, "api key", err)
		_, err = tx.GetOrder(oid)
		wantNotFound(t, "order", err)
		_, err = tx.GetLedger(lid)
		wantNotFound(t, "ledger", err)
		_, err = tx.GetSeen("rb")
		wantNotFound(t, "seen", err)
		_, err = tx.GetIdem(pid, "k")
		wantNotFound(t, "idem", err)
		if ids, _ := tx.DueExpiries(t0.Add(1000*time.Hour), 10); len(ids) != 0 {
			t.Errorf("expiry queue: %v", ids)
		}
		if its, _ := tx.PendingOutbox(domain.ChannelTelegram, 0, 10); len(its) != 0 {
			t.Errorf("outbox: %v", its)
		}
		if us, _ := tx.ListUnmatched(0, 10); len(us) != 0 {
			t.Errorf("unmatched: %v", us)
		}
		if sb, _ := tx.SandboxTxAfter(0, 10); len(sb) != 0 {
			t.Errorf("sandbox: %v", sb)
		}
		if os, _ := tx.ListOrders(pid, store.OrderQuery{Limit: 10}); len(os) != 0 {
			t.Errorf("orders by partner: %v", os)
		}
		if os, _ := tx.OrdersByReference(pid, "r", 0, 10); len(os) != 0 {
			t.Errorf("orders by reference: %v", os)
		}
		return nil
	})
	// The memo of the rolled-back order is free again.
	update(t, st, func(tx store.Tx) error {
		_, err := newOrder(tx, 1, domain.StatusPendingPayment, "stars", "RB-1", "")
		return err
	})
}

func testView(t *testing.T, st store.Store) {
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutMeta("a", []byte("1")); err != nil {
			return err
		}
		v, err := tx.GetMeta("a") // a transaction sees its own writes
		if err != nil || string(v) != "1" {
			t.Errorf("read own write: %q, %v", v, err)
		}
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		v, err := tx.GetMeta("a")
		if err != nil || string(v) != "1" {
			t.Errorf("view after commit: %q, %v", v, err)
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.Update(ctx, func(store.Tx) error { return nil }); err == nil {
		t.Errorf("Update with a cancelled context succeeded")
	}
}

// testConcurrentDebits: 20 goroutines each try to debit 1 TON from a
// partner holding 10 TON, the way shop does: AppendLedger's conditional
// debit, half of them in Create transactions and half in Update ones.
// Exactly 10 succeed; the balance never goes negative and equals the ledger.
func testConcurrentDebits(t *testing.T, st store.Store) {
	const pid = 1
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutPartner(&domain.Partner{ID: pid, CreatedAt: t0}); err != nil {
			return err
		}
		return tx.AppendLedger(&domain.LedgerEntry{PartnerID: pid, Type: domain.LedgerTopup, AmountNano: 10e9, CreatedAt: t0})
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := st.Write
			if i%2 == 1 {
				run = st.Update
			}
			err := run(context.Background(), func(tx store.Tx) error {
				return tx.AppendLedger(&domain.LedgerEntry{PartnerID: pid, Type: domain.LedgerOrderPayment,
					AmountNano: -1e9, CreatedAt: t0})
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrOverdraw):
				refused++
			default:
				t.Errorf("debit: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 10 || refused != 10 {
		t.Errorf("debits: %d ok, %d refused; want 10 and 10", ok, refused)
	}
	view(t, st, func(tx store.Tx) error {
		p, err := tx.GetPartner(pid)
		if err != nil {
			return err
		}
		if p.BalanceNano != 0 || p.LedgerCount != 11 {
			t.Errorf("partner after debits: balance %d, ledger count %d", p.BalanceNano, p.LedgerCount)
		}
		// Ledger rows in id order reproduce every balance_after.
		rows, err := tx.ListLedger(pid, 0, 100)
		if err != nil {
			return err
		}
		var sum int64
		for i := len(rows) - 1; i >= 0; i-- {
			sum += rows[i].AmountNano
			if sum != rows[i].BalanceAfterNano || sum < 0 {
				t.Errorf("ledger %d: running sum %d, balance_after %d", rows[i].ID, sum, rows[i].BalanceAfterNano)
			}
		}
		if len(rows) != 11 || sum != 0 {
			t.Errorf("ledger: %d rows summing to %d", len(rows), sum)
		}
		return nil
	})
}

// testCreateIdem: CreateIdem refuses a taken key, and a Create whose key is
// taken leaves nothing of its other writes; DeleteIdem removes a record
// only if it is older than asked.
func testCreateIdem(t *testing.T, st store.Store) {
	ctx := context.Background()
	create := func(key string, created time.Time) (int64, error) {
		var id int64
		err := st.Write(ctx, func(tx store.Tx) error {
			var err error
			if id, err = tx.NextOrderID(); err != nil {
				return err
			}
			o := &domain.Order{ID: id, PartnerID: 1, Status: domain.StatusPendingPayment, Type: "stars",
				PaymentMethod: "ton_memo", PaymentMemo: "I-" + strconv.FormatInt(id, 10), CreatedAt: created, IdempotencyKey: key}
			if err := tx.CreateOrder(o); err != nil {
				return err
			}
			return tx.CreateIdem(&domain.IdemRecord{PartnerID: 1, Key: key, Fingerprint: "fp", OrderID: id,
				Status: 200, Body: []byte(`{"id":` + strconv.FormatInt(id, 10) + `}`), CreatedAt: created})
		})
		return id, err
	}
	first, err := create("k", t0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := create("k", t0.Add(time.Minute))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("taken key: err = %v, want ErrExists", err)
	}
	view(t, st, func(tx store.Tx) error {
		r, err := tx.GetIdem(1, "k")
		if err != nil || r.OrderID != first || string(r.Body) != `{"id":`+strconv.FormatInt(first, 10)+`}` {
			t.Errorf("record after a refused create: %+v, %v; want the first order's", r, err)
		}
		_, err = tx.GetOrder(second)
		wantNotFound(t, "order of the refused create", err)
		list, err := tx.ListOrders(1, store.OrderQuery{Limit: 10})
		if err != nil || len(list) != 1 {
			t.Errorf("orders after a refused create: %d, %v; want 1", len(list), err)
		}
		return nil
	})
	// DeleteIdem: not a record created at or after t; an older one.
	for _, c := range []struct {
		before time.Time
		want   bool
	}{{t0, false}, {t0.Add(time.Second), true}, {t0.Add(time.Hour), false}} {
		var deleted bool
		update(t, st, func(tx store.Tx) error {
			var err error
			deleted, err = tx.DeleteIdem(1, "k", c.before)
			return err
		})
		if deleted != c.want {
			t.Errorf("DeleteIdem(before %v) = %v, want %v", c.before.Sub(t0), deleted, c.want)
		}
	}
	third, err := create("k", t0.Add(48*time.Hour))
	if err != nil {
		t.Fatalf("key free again: %v", err)
	}
	view(t, st, func(tx store.Tx) error {
		r, err := tx.GetIdem(1, "k")
		if err != nil || r.OrderID != third || !r.CreatedAt.Equal(t0.Add(48*time.Hour)) {
			t.Errorf("record after the old one was deleted: %+v, %v", r, err)
		}
		return nil
	})
	// Concurrent creations with one key: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := create("race", t0.Add(time.Duration(i)*time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrExists):
				t.Errorf("racing create: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d racing creations with one key succeeded, want 1", wins)
	}
}

// testWriteLocks: Write transactions that read an order or an unmatched
// deposit by key and write it back lose no update to each other; a
// transfer hash is claimed once (CreateSeen).
func testWriteLocks(t *testing.T, st store.Store) {
	ctx := context.Background()
	var oid, uid int64
	update(t, st, func(tx store.Tx) error {
		o, err := newOrder(tx, 1, domain.StatusPendingPayment, "stars", "L-1", "")
		if err != nil {
			return err
		}
		oid = o.ID
		u := &domain.Unmatched{TxHash: "l", ChainTime: t0, SeenAt: t0}
		if err := tx.PutUnmatched(u); err != nil {
			return err
		}
		uid = u.ID
		return nil
	})
	const n = 16
	var wg sync.WaitGroup
	var claimed atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.Write(ctx, func(tx store.Tx) error {
				o, err := tx.GetOrder(oid)
				if err != nil {
					return err
				}
				o.DeliveryAttempts++
				if err := tx.PutOrder(o); err != nil {
					return err
				}
				u, err := tx.GetUnmatched(uid)
				if err != nil {
					return err
				}
				u.AmountNano++
				return tx.PutUnmatched(u)
			})
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
			err = st.Write(ctx, func(tx store.Tx) error {
				return tx.CreateSeen(&domain.SeenTx{Hash: "claimed", Kind: domain.SeenIgnored, SeenAt: t0})
			})
			switch {
			case err == nil:
				claimed.Add(1)
			case !errors.Is(err, store.ErrExists):
				t.Errorf("claim %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	view(t, st, func(tx store.Tx) error {
		o, err := tx.GetOrder(oid)
		if err != nil || o.DeliveryAttempts != n {
			t.Errorf("order after %d increments: %+v, %v", n, o, err)
		}
		u, err := tx.GetUnmatched(uid)
		if err != nil || u.AmountNano != n {
			t.Errorf("deposit after %d increments: %+v, %v", n, u, err)
		}
		return nil
	})
	if claimed.Load() != 1 {
		t.Errorf("hash claimed %d times, want once", claimed.Load())
	}
}

// testRead: Read sees committed data, like View.
func testRead(t *testing.T, st store.Store) {
	update(t, st, func(tx store.Tx) error { return tx.PutMeta("r", []byte("1")) })
	if err := st.Read(context.Background(), func(tx store.Tx) error {
		v, err := tx.GetMeta("r")
		if err != nil || string(v) != "1" {
			t.Errorf("Read GetMeta = %q, %v", v, err)
		}
		_, err = tx.GetMeta("none")
		wantNotFound(t, "Read GetMeta missing", err)
		v, err = tx.GetMeta("r") // a second read after a miss
		if err != nil || string(v) != "1" {
			t.Errorf("second read = %q, %v", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// testConcurrentOrders: goroutines create orders for two partners at once
// (as API instances do); each partner's orders come back newest first by id
// with nothing missing, and every memo maps to its order.
func testConcurrentOrders(t *testing.T, st store.Store) {
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.Write(context.Background(), func(tx store.Tx) error {
				_, err := newOrder(tx, int64(1+i%2), domain.StatusPendingPayment, "stars", fmt.Sprintf("C-%d", i), "")
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("create order: %v", err)
		}
	}
	view(t, st, func(tx store.Tx) error {
		total := 0
		for _, p := range []int64{1, 2} {
			os, err := tx.ListOrders(p, store.OrderQuery{Limit: 100})
			if err != nil {
				return err
			}
			total += len(os)
			for i := 1; i < len(os); i++ {
				if os[i].ID >= os[i-1].ID {
					t.Errorf("partner %d orders not newest first: %d then %d", p, os[i-1].ID, os[i].ID)
				}
			}
		}
		if total != 40 {
			t.Errorf("orders listed: %d, want 40", total)
		}
		return nil
	})
}

// testLedgerCurrencies: a USDT row moves the USDT balance only, a TON row
// the TON balance only; each is refused alone when it would overdraw its
// own balance; PutPartner keeps both balances; every field reads back.
func testLedgerCurrencies(t *testing.T, st store.Store) {
	update(t, st, func(tx store.Tx) error {
		return tx.PutPartner(&domain.Partner{ID: 1, CreatedAt: t0, TopupAddressRaw: "0:ab", USDTWallet: "0:cd", USDTMaster: "0:ef"})
	})
	var ton, usdt domain.LedgerEntry
	update(t, st, func(tx store.Tx) error {
		ton = domain.LedgerEntry{PartnerID: 1, Type: domain.LedgerTopup, Currency: domain.CurrencyTON, AmountNano: 5e9, TxHash: "a", CreatedAt: t0}
		if err := tx.AppendLedger(&ton); err != nil {
			return err
		}
		usdt = domain.LedgerEntry{PartnerID: 1, Type: domain.LedgerTopup, Currency: domain.CurrencyUSDT, AmountUSDT: 7_000_000, TxHash: "b", CreatedAt: t0}
		if err := tx.AppendLedger(&usdt); err != nil {
			return err
		}
		if usdt.BalanceAfterUSDT != 7_000_000 || usdt.BalanceAfterNano != 0 || ton.BalanceAfterNano != 5e9 || ton.BalanceAfterUSDT != 0 {
			t.Errorf("balances after: TON row %+v, USDT row %+v", ton, usdt)
		}
		// 6 USDT would overdraw nothing in TON terms, 8 USDT overdraws USDT.
		if err := tx.AppendLedger(&domain.LedgerEntry{PartnerID: 1, Type: domain.LedgerOrderPayment, Currency: domain.CurrencyUSDT, AmountUSDT: -8_000_000, CreatedAt: t0}); !errors.Is(err, store.ErrOverdraw) {
			t.Errorf("USDT overdraw: %v, want ErrOverdraw", err)
		}
		if err := tx.AppendLedger(&domain.LedgerEntry{PartnerID: 1, Type: domain.LedgerOrderPayment, Currency: domain.CurrencyTON, AmountNano: -6e9, CreatedAt: t0}); !errors.Is(err, store.ErrOverdraw) {
			t.Errorf("TON overdraw: %v, want ErrOverdraw", err)
		}
		return nil
	})
	update(t, st, func(tx store.Tx) error {
		p, err := tx.GetPartner(1)
		if err != nil {
			return err
		}
		p.Name = "renamed"
		p.BalanceNano, p.BalanceUSDT = 0, 0 // PutPartner must not write balances
		return tx.PutPartner(p)
	})
	view(t, st, func(tx store.Tx) error {
		p, err := tx.GetPartner(1)
		if err != nil || p.BalanceNano != 5e9 || p.BalanceUSDT != 7_000_000 || p.Name != "renamed" ||
			p.USDTWallet != "0:cd" || p.USDTMaster != "0:ef" || p.LedgerCount != 2 {
			t.Errorf("partner after rows and a PutPartner: %+v, %v", p, err)
		}
		got, err := tx.GetLedger(usdt.ID)
		if err != nil {
			return err
		}
		same(t, "USDT row", got, &usdt)
		return nil
	})
	// orders, seen and unmatched keep their USDT fields
	var orderID int64
	update(t, st, func(tx store.Tx) error {
		o, err := newOrder(tx, 1, domain.StatusPendingPayment, "stars", "STARS-usdt01", "")
		if err != nil {
			return err
		}
		orderID = o.ID
		o.PaymentCurrency, o.PriceUSDT, o.ReceivedUSDT, o.UsdtUSD, o.USDTMaster = domain.CurrencyUSDT, 1_575_000, 500_000, "1", "kQmaster"
		if err := tx.PutOrder(o); err != nil {
			return err
		}
		if err := tx.CreateSeen(&domain.SeenTx{Hash: "s1", Kind: domain.SeenOrder, RefID: o.ID, Currency: domain.CurrencyUSDT, AmountUSDT: 500_000, SeenAt: t0}); err != nil {
			return err
		}
		return tx.PutUnmatched(&domain.Unmatched{TxHash: "u1", ChainTime: t0, To: "0:ab", Currency: domain.CurrencyUSDT, AmountUSDT: 9, SeenAt: t0})
	})
	view(t, st, func(tx store.Tx) error {
		o, err := tx.GetOrder(orderID)
		if err != nil || o.PriceUSDT != 1_575_000 || o.ReceivedUSDT != 500_000 || o.UsdtUSD != "1" || o.USDTMaster != "kQmaster" {
			t.Errorf("USDT order fields: %+v %v", o, err)
		}
		s, err := tx.GetSeen("s1")
		if err != nil || s.Currency != domain.CurrencyUSDT || s.AmountUSDT != 500_000 {
			t.Errorf("USDT seen: %+v %v", s, err)
		}
		us, err := tx.ListUnmatched(0, 10)
		if err != nil || len(us) != 1 || us[0].Currency != domain.CurrencyUSDT || us[0].AmountUSDT != 9 {
			t.Errorf("USDT unmatched: %+v %v", us, err)
		}
		return nil
	})
}
