package store

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/theopenmoney/openmoney/domain"
)

// TestIdemLayout: a record is one entry under partner|key, answer included,
// and one entry of the time index; the TTL sweep removes both.
func TestIdemLayout(t *testing.T) {
	ctx := context.Background()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "i.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	body := bytes.Repeat([]byte("x"), 900)
	err = s.Update(ctx, func(tx Tx) error {
		return tx.PutIdem(&domain.IdemRecord{PartnerID: 5, Key: "k", Fingerprint: "fp", Status: 422, Body: body, CreatedAt: at})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx Tx) error {
		r, err := tx.GetIdem(5, "k")
		if err != nil || r.Status != 422 || !bytes.Equal(r.Body, body) || !r.CreatedAt.Equal(at) {
			t.Errorf("GetIdem = %+v, %v", r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.DB().View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bIdemTime).Stats().KeyN; n != 1 || tx.Bucket(bIdemTime).Get(idemTimeKey(at, idemKey(5, "k"))) == nil {
			t.Errorf("time index: %d entries, want the record's", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx Tx) error { _, err := tx.DeleteIdemBefore(at.Add(time.Second), 10); return err })
	if err != nil {
		t.Fatal(err)
	}
	err = s.DB().View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bIdem).Stats().KeyN + tx.Bucket(bIdemTime).Stats().KeyN; n != 0 {
			t.Errorf("%d idempotency entries left after the sweep", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
