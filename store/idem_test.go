package store

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	bolt "go.etcd.io/bbolt"
)

// TestIdemBodyApart: a long response body is kept as the value of the
// record's time-index entry, not in the randomly keyed record; a short one
// stays inline; the TTL sweep removes both entries.
func TestIdemBodyApart(t *testing.T) {
	ctx := context.Background()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "i.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	long := bytes.Repeat([]byte("x"), 900)
	err = s.Update(ctx, func(tx Tx) error {
		if err := tx.PutIdem(&domain.IdemRecord{PartnerID: 5, Key: "long", Fingerprint: "fp", Status: 200, Body: long, CreatedAt: at}); err != nil {
			return err
		}
		return tx.PutIdem(&domain.IdemRecord{PartnerID: 5, Key: "short", Fingerprint: "fp", Status: 200, Body: []byte(`{}`), CreatedAt: at})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.DB().View(func(tx *bolt.Tx) error {
		rec := tx.Bucket(bIdem).Get(idemKey(5, "long"))
		if bytes.Contains(rec, []byte("xxxxxxxx")) || len(rec) > 300 {
			t.Errorf("long record holds its body (%d bytes): %s", len(rec), rec)
		}
		if got := tx.Bucket(bIdemTime).Get(idemTimeKey(at, idemKey(5, "long"))); !bytes.Equal(got, long) {
			t.Errorf("time entry holds %d bytes, want the 900-byte body", len(got))
		}
		if got := tx.Bucket(bIdemTime).Get(idemTimeKey(at, idemKey(5, "short"))); len(got) != 0 {
			t.Errorf("short body also stored apart: %q", got)
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
