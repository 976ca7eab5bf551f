package store

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/theopenmoney/openmoney/domain"
)

// A snapshot taken while writers commit is a store file as of one moment:
// it opens, and holds a prefix of the committed orders with no gap.
func TestSnapshotWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenBolt(filepath.Join(dir, "live.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var committed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Update(ctx, func(tx Tx) error {
					id, err := tx.NextOrderID()
					if err != nil {
						return err
					}
					return tx.CreateOrder(&domain.Order{ID: id, PartnerID: 1, Status: domain.StatusCompleted, PaymentMethod: "balance"})
				})
				if err != nil {
					t.Error(err)
					return
				}
				committed.Add(1)
			}
		}()
	}
	for committed.Load() < 50 {
		runtime.Gosched()
	}
	var buf bytes.Buffer
	var size int64
	n, err := s.Snapshot(ctx, func(sz int64) (io.Writer, error) { size = sz; return &buf, nil })
	close(stop)
	wg.Wait()
	if err != nil || n != size || int64(buf.Len()) != size {
		t.Fatalf("snapshot: %d bytes, size %d, buffer %d: %v", n, size, buf.Len(), err)
	}
	path := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := OpenBolt(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var ids []int64
	if err := cp.View(ctx, func(tx Tx) error {
		return tx.ForEachOrder(func(o *domain.Order) error { ids = append(ids, o.ID); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("the copy has a gap: order %d at position %d", id, i)
		}
	}
	if len(ids) < 50 || int64(len(ids)) > committed.Load() {
		t.Fatalf("the copy holds %d orders of %d committed", len(ids), committed.Load())
	}
	// A cancelled context stops a copy.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Snapshot(cctx, func(int64) (io.Writer, error) { return io.Discard, nil }); err == nil {
		t.Fatal("snapshot with a cancelled context succeeded")
	}
}

// SkipIDs moves every externally visible id sequence past a gap.
func TestSkipIDs(t *testing.T) {
	ctx := context.Background()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A ledger row needs its partner.
	if err := s.Update(ctx, func(tx Tx) error { return tx.PutPartner(&domain.Partner{ID: 1}) }); err != nil {
		t.Fatal(err)
	}
	next := func() (order, partner, event, ledger int64) {
		if err := s.Update(ctx, func(tx Tx) error {
			var err error
			if order, err = tx.NextOrderID(); err != nil {
				return err
			}
			if partner, err = tx.NextPartnerID(); err != nil {
				return err
			}
			it := &domain.OutboxItem{Channel: domain.ChannelWebhook, PartnerID: 1}
			if err := tx.AppendOutbox(it); err != nil {
				return err
			}
			e := &domain.LedgerEntry{PartnerID: 1}
			if err := tx.AppendLedger(e); err != nil {
				return err
			}
			event, ledger = it.ID, e.ID
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return
	}
	o, p, e, l := next()
	if err := s.SkipIDs(1000, 10); err != nil {
		t.Fatal(err)
	}
	o2, p2, e2, l2 := next()
	if o2 != o+1001 || p2 != p+11 || e2 != e+1001 || l2 != l+1001 {
		t.Fatalf("after SkipIDs(1000, 10): order %d→%d partner %d→%d event %d→%d ledger %d→%d", o, o2, p, p2, e, e2, l, l2)
	}
}
