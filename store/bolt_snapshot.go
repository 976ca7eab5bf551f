package store

import (
	"bytes"
	"context"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Snapshotter is a store that can stream a consistent copy of itself while
// it keeps serving (bbolt). PostgreSQL is backed up with its own tools
// (pg_dump), not through the service.
type Snapshotter interface {
	// Snapshot writes a copy of the whole store as of one moment: begin is
	// called first with the copy's size and returns where to write it.
	// It returns the bytes written.
	Snapshot(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error)
}

var _ Snapshotter = (*Bolt)(nil)

// Snapshot streams the bbolt file as of one read transaction (bbolt's
// Tx.WriteTo): a valid store file, every commit before it and none after,
// while writers go on committing. A long copy holds that read
// transaction: pages freed meanwhile are reused only after it, and a
// writer that must grow the memory map waits for it, so stream to a
// local, fast destination.
func (s *Bolt) Snapshot(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	w, err := begin(tx.Size())
	if err != nil {
		return 0, err
	}
	return tx.WriteTo(ctxWriter{ctx: ctx, w: w})
}

// ctxWriter stops a copy when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// SkipIDs advances the id sequences of a store restored from a backup, so
// nothing handed out after the backup was taken is handed out again: order
// ids (and the memos derived from them), outbox event ids (evt_…, which
// receivers dedupe by), ledger, unmatched-deposit and webhook-delivery ids
// by gap, partner ids (and the top-up addresses derived from them) by
// partnerGap. Run it on a store no service holds.
func (s *Bolt) SkipIDs(gap, partnerGap uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bOrders, bOutbox, bLedger, bUnmatched, bWhDeliveries, bPartners} {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			step := gap
			if bytes.Equal(name, bPartners) {
				step = partnerGap
			}
			if err := b.SetSequence(b.Sequence() + step); err != nil {
				return err
			}
		}
		return nil
	})
}
