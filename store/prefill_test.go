package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

const seekHole = 4 // lseek SEEK_HOLE (Linux)

// firstHole is the offset of the first hole in the file at or after off
// (the file size when there is none).
func firstHole(t *testing.T, path string, off int64) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := f.Seek(off, seekHole)
	if err != nil {
		t.Fatalf("SEEK_HOLE: %v", err)
	}
	return h
}

// TestTailPrefill: while the store grows, the file stays written (no hole)
// for at least prefillLow bytes past bbolt's high-water mark, the zeros never
// reach a page bbolt uses (the tree checks clean and every value reads back
// after reopening), and a NoSync store is left to bbolt's own growth.
func TestTailPrefill(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SEEK_HOLE is checked on Linux")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := OpenBolt(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 900+i%300) }
	const writers, each = 8, 150 // ~1 MB of values over many group commits
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				i := w*each + j
				if err := s.Update(ctx, func(tx Tx) error { return tx.PutMeta(fmt.Sprintf("v%05d", i), val(i)) }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// One more commit so the filler has seen the final size.
	if err := s.Update(ctx, func(tx Tx) error { return tx.PutMeta("last", []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	var hwm int64
	if err := s.DB().View(func(tx *bolt.Tx) error { hwm = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if h := firstHole(t, path, hwm); h < hwm+prefillLow {
		t.Errorf("first hole past the high-water mark %d is at %d: want the next %d bytes written", hwm, h, prefillLow)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenBolt(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.DB().View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("bbolt check: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx Tx) error {
		for i := range writers * each {
			got, err := tx.GetMeta(fmt.Sprintf("v%05d", i))
			if err != nil || !bytes.Equal(got, val(i)) {
				return fmt.Errorf("value %d after reopen: %d bytes, %v", i, len(got), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// NoSync (bulk loading): no filler.
	ns, err := OpenBolt(filepath.Join(t.TempDir(), "n.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if ns.writes.tail != nil {
		t.Error("a NoSync store prefills its file")
	}
}
