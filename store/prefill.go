package store

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Tail prefill. bbolt grows its file with ftruncate, so the pages past its
// high-water mark are holes: a commit that writes new pages there makes the
// filesystem allocate blocks, and its fdatasync must then also commit that
// metadata (on ext4 a journal commit: measured here, fdatasync of 20 new
// pages 314 µs against 157 µs for 20 pages already written). A store that
// grows with every order pays that on nearly every commit. The committer
// therefore keeps the file written with zeros for prefillLow to
// prefillLow+prefillChunk bytes past the high-water mark — the way databases
// preallocate their logs — so commits overwrite blocks that already exist.
// bbolt's grow sees a file already large enough and skips its own
// truncate and fsync. The zeros are flushed by the next commit's fdatasync
// (one chunk every ~40 commits at full load).
const (
	prefillLow   = 4 << 20
	prefillChunk = 1 << 20
)

// tailFiller writes the zeros. It runs only on the committer goroutine and
// writes only past the high-water mark read inside a read-write
// transaction, so no bbolt page can be under it while it writes.
type tailFiller struct {
	db     *bolt.DB
	f      *os.File
	filled int64 // the zeros end here (0: nothing written yet)
	hwm    int64 // high-water mark seen by the last group transaction
	zeros  []byte
	failed error // set once a fill fails; then bbolt grows the file itself
}

func newTailFiller(db *bolt.DB) (*tailFiller, error) {
	f, err := os.OpenFile(db.Path(), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("store: open for prefill: %w", err)
	}
	return &tailFiller{db: db, f: f}, nil
}

// seen records the high-water mark of a transaction (its size before it
// allocates anything).
func (t *tailFiller) seen(tx *bolt.Tx) {
	if t != nil {
		t.hwm = tx.Size()
	}
}

// maybeFill writes the next chunk of zeros when fewer than prefillLow bytes
// past the last seen high-water mark are written. A failure (a full disk)
// stops prefilling and is returned once; bbolt then grows the file as it
// would without us, and fails on its own if it must.
func (t *tailFiller) maybeFill() error {
	if t == nil || t.failed != nil || t.filled-t.hwm >= prefillLow {
		return nil
	}
	tx, err := t.db.Begin(true) // the writer lock: no commit runs meanwhile
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t.hwm = tx.Size()
	start := max(t.filled, t.hwm)
	if t.zeros == nil {
		t.zeros = make([]byte, prefillChunk)
	}
	if _, err := t.f.WriteAt(t.zeros, start); err != nil {
		t.failed = fmt.Errorf("store: prefill the file past %d bytes: %w", start, err)
		return t.failed
	}
	t.filled = start + prefillChunk
	return nil
}

func (t *tailFiller) close() error {
	if t == nil {
		return nil
	}
	return t.f.Close()
}
