package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestGroupCommit: concurrent Updates share transactions; a failing or
// panicking function gets its own error (or panic) back while every other
// call in its group is committed exactly once; Close commits what is queued
// and later Updates are refused.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	s, err := OpenBolt(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	errBusiness := errors.New("business rule")
	const n = 400
	var wg sync.WaitGroup
	results := make([]error, n)
	panics := make([]any, n)
	runs := make([]int, n) // how often each function ran (may be > 1)
	var runsMu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			results[i] = s.Update(ctx, func(tx Tx) error {
				runsMu.Lock()
				runs[i]++
				runsMu.Unlock()
				if err := tx.PutMeta(fmt.Sprintf("k%03d", i), []byte{byte(i)}); err != nil {
					return err
				}
				switch {
				case i%50 == 7:
					return fmt.Errorf("call %d: %w", i, errBusiness) // its write must not survive
				case i%97 == 5:
					panic(fmt.Sprintf("call %d panics", i))
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i := range n {
		_ = s.View(ctx, func(tx Tx) error {
			v, err := tx.GetMeta(fmt.Sprintf("k%03d", i))
			switch {
			case i%50 == 7:
				if !errors.Is(results[i], errBusiness) || err == nil {
					t.Errorf("call %d: err %v, value %v %v; want its own error and no write", i, results[i], v, err)
				}
			case i%97 == 5:
				if panics[i] == nil || err == nil {
					t.Errorf("call %d: panic %v, value %v %v; want the panic at the caller and no write", i, panics[i], v, err)
				}
			default:
				if results[i] != nil || panics[i] != nil || err != nil || len(v) != 1 || v[0] != byte(i) {
					t.Errorf("call %d: err %v panic %v, value %v %v; want committed", i, results[i], panics[i], v, err)
				}
			}
			if runs[i] < 1 {
				t.Errorf("call %d never ran", i)
			}
			return nil
		})
	}

	// Acknowledged calls are on disk after Close and a reopen; after Close
	// Update is refused.
	var queued sync.WaitGroup
	qerr := make([]error, 50)
	for i := range 50 {
		queued.Add(1)
		go func() {
			defer queued.Done()
			qerr[i] = s.Update(ctx, func(tx Tx) error { return tx.PutMeta(fmt.Sprintf("q%02d", i), []byte("x")) })
		}()
	}
	queued.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx Tx) error { return nil }); err == nil {
		t.Error("Update after Close succeeded")
	}
	s, err = OpenBolt(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 50 {
		if qerr[i] != nil {
			t.Errorf("queued call %d: %v", i, qerr[i])
			continue
		}
		if err := s.View(ctx, func(tx Tx) error { _, err := tx.GetMeta(fmt.Sprintf("q%02d", i)); return err }); err != nil {
			t.Errorf("queued call %d acknowledged but not on disk after reopening: %v", i, err)
		}
	}
}

// TestUpdateOnReadOnlyStore: a read-only open refuses writes.
func TestUpdateOnReadOnlyStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s, err := OpenBolt(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err := OpenBolt(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Update(context.Background(), func(tx Tx) error { return nil }); err == nil {
		t.Error("Update on a read-only store succeeded")
	}
}
