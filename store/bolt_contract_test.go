package store_test

import (
	"path/filepath"
	"testing"

	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/storetest"
)

func TestBoltContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		st, err := store.OpenBolt(filepath.Join(t.TempDir(), "test.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestBoltCopy(t *testing.T) {
	open := func() store.Store {
		st, err := store.OpenBolt(filepath.Join(t.TempDir(), "test.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	storetest.RunCopy(t, open(), open())
}
