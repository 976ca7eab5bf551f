package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

var errRollback = errors.New("roll back")

func parkedIDs(ps []domain.Parked) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// Parked transfers: ids assigned once, the record round-trips, the open
// index follows ResolvedAt, paging by id.
func testParked(t *testing.T, st store.Store) {
	var ps []*domain.Parked
	update(t, st, func(tx store.Tx) error {
		ps = nil
		for i := range 4 {
			p := &domain.Parked{TxHash: fmt.Sprintf("%064x", i+1), LT: 1<<63 + uint64(i), ChainTime: t0, From: "0:aa", To: "0:bb",
				AmountNano: 1<<63 - 1, Comment: "nul \x00 and ünïcödé", PayloadHex: "00ff", Incoming: true,
				Error: "money: 1 + 9223372036854775807 overflows", ParkedAt: t0}
			if err := tx.PutParked(p); err != nil {
				return err
			}
			if p.ID == 0 {
				t.Errorf("PutParked did not assign an id")
			}
			ps = append(ps, p)
		}
		return nil
	})
	for i := 1; i < len(ps); i++ {
		if ps[i].ID <= ps[i-1].ID {
			t.Fatalf("parked ids not increasing: %d then %d", ps[i-1].ID, ps[i].ID)
		}
	}
	// resolve the second, record a failed retry on the third
	ps[1].ResolvedAt, ps[1].Resolution, ps[1].ResolvedKind, ps[1].ResolvedRefID = at(time.Hour), domain.ParkedAssigned, domain.SeenLedger, 42
	ps[2].FailedAttempts, ps[2].LastAttemptError = 1, "still overflows"
	update(t, st, func(tx store.Tx) error {
		if err := tx.PutParked(ps[1]); err != nil {
			return err
		}
		return tx.PutParked(ps[2])
	})
	view(t, st, func(tx store.Tx) error {
		for _, want := range ps {
			got, err := tx.GetParked(want.ID)
			if err != nil {
				return err
			}
			same(t, "GetParked", got, want)
		}
		_, err := tx.GetParked(ps[3].ID + 100)
		wantNotFound(t, "GetParked missing", err)
		all, err := tx.ListParked(0, 10, false)
		if err != nil {
			return err
		}
		sameIDs(t, "ListParked all", parkedIDs(all), []int64{ps[0].ID, ps[1].ID, ps[2].ID, ps[3].ID})
		for i := range all {
			same(t, "ListParked row", &all[i], ps[i])
		}
		open, err := tx.ListParked(0, 10, true)
		if err != nil {
			return err
		}
		sameIDs(t, "ListParked open", parkedIDs(open), []int64{ps[0].ID, ps[2].ID, ps[3].ID})
		same(t, "ListParked open row", &open[1], ps[2])
		page, err := tx.ListParked(ps[0].ID, 1, true)
		if err != nil {
			return err
		}
		sameIDs(t, "ListParked open after the first, 1", parkedIDs(page), []int64{ps[2].ID})
		page, err = tx.ListParked(ps[0].ID, 2, false)
		if err != nil {
			return err
		}
		sameIDs(t, "ListParked after the first, 2", parkedIDs(page), []int64{ps[1].ID, ps[2].ID})
		return nil
	})
	// a rolled-back resolution leaves it open
	ps[3].ResolvedAt, ps[3].Resolution = at(2*time.Hour), domain.ParkedRetried
	if err := st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.PutParked(ps[3]); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatalf("rolled-back update: %v", err)
	}
	view(t, st, func(tx store.Tx) error {
		open, err := tx.ListParked(0, 10, true)
		if err != nil {
			return err
		}
		sameIDs(t, "ListParked open after a rollback", parkedIDs(open), []int64{ps[0].ID, ps[2].ID, ps[3].ID})
		got, err := tx.GetParked(ps[3].ID)
		if err != nil {
			return err
		}
		if !got.Open() {
			t.Errorf("rolled-back resolution persisted: %+v", got)
		}
		return nil
	})
}

// The audit log: ids increase in commit order, also under concurrent
// appends, rows round-trip, paging ascending.
func testAudit(t *testing.T, st store.Store) {
	view(t, st, func(tx store.Tx) error {
		as, err := tx.ListAudit(0, 10)
		if err != nil || len(as) != 0 {
			t.Errorf("empty ListAudit = %v, %v", as, err)
		}
		return nil
	})
	first := &domain.AuditEntry{At: t0, Actor: "alice", Remote: "192.0.2.1", Action: "order.mark_delivered", OrderID: 7,
		PartnerID: 3, LedgerID: 0, Detail: "fragment tx 9c1e… ünïcödé"}
	update(t, st, func(tx store.Tx) error { return tx.AppendAudit(first) })
	if first.ID == 0 {
		t.Fatal("AppendAudit did not assign an id")
	}
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &domain.AuditEntry{At: t0, Actor: "bob", Action: "parked.retry", ParkedID: int64(i + 1)}
			if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.AppendAudit(a) }); err != nil {
				t.Errorf("append %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	view(t, st, func(tx store.Tx) error {
		all, err := tx.ListAudit(0, 100)
		if err != nil {
			return err
		}
		if len(all) != n+1 {
			t.Fatalf("ListAudit = %d rows, want %d", len(all), n+1)
		}
		same(t, "first audit row", &all[0], first)
		seen := map[int64]bool{}
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Errorf("audit ids not ascending: %d then %d", all[i-1].ID, all[i].ID)
			}
			seen[all[i].ParkedID] = true
		}
		if len(seen) != n {
			t.Errorf("concurrent appends: %d distinct rows of %d", len(seen), n)
		}
		page, err := tx.ListAudit(all[2].ID, 3)
		if err != nil {
			return err
		}
		if len(page) != 3 || page[0].ID != all[3].ID || page[2].ID != all[5].ID {
			t.Errorf("ListAudit(after row 3, 3) = %+v", page)
		}
		return nil
	})
}
