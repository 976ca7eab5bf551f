package shop

import (
	"context"
	"io"

	"github.com/theopenmoney/openmoney/store"
)

// Backup streams a consistent copy of the whole store while the service
// keeps running (store.Snapshotter: bbolt's read-transaction copy): begin is
// called with the copy's size and returns where to write it. Errors:
// NOT_FOUND when the store cannot stream itself (PostgreSQL: use pg_dump).
func (s *Shop) Backup(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error) {
	snap, ok := s.st.(store.Snapshotter)
	if !ok {
		return 0, newErr(CodeNotFound, "", "backup_unsupported",
			"this store cannot stream a backup: back PostgreSQL up with pg_dump (docs/DEPLOY.md, \"Backups\")")
	}
	return snap.Snapshot(ctx, begin)
}
