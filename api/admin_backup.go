package api

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// backupMinRate is the slowest copy GET /admin/backup waits for: its write
// deadline is the copy's size at this rate plus a minute. The server's own
// WriteTimeout would cut a large copy; a stalled client must not hold the
// store's read transaction for ever either (see store.Bolt.Snapshot).
const backupMinRate = 1 << 20 // bytes per second

// backupDeadline is how long a copy of size bytes may take.
func backupDeadline(size int64) time.Duration {
	return time.Minute + time.Duration(size/backupMinRate)*time.Second
}

// handleAdminBackup is GET /admin/backup: a consistent copy of the whole
// store, streamed as it is written (application/octet-stream with its
// Content-Length), while the service keeps running. `openmoney backup`
// calls it and verifies the copy. A copy cut short by an error is cut at the
// connection, so the client never takes a partial file for a whole one.
func (srv *server) handleAdminBackup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		started := false
		n, err := srv.shop.Backup(r.Context(), func(size int64) (io.Writer, error) {
			// Per request, through every wrapper's Unwrap: the server's
			// WriteTimeout is for JSON answers, not for this.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(backupDeadline(size)))
			h := w.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", strconv.FormatInt(size, 10))
			h.Set("Content-Disposition", `attachment; filename="openmoney-backup.db"`)
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
			return w, nil
		})
		switch {
		case err != nil && !started:
			srv.writeError(w, r, err)
		case err != nil:
			srv.log.Error("backup stream cut short", "request_id", requestIDFrom(r.Context()), "bytes", n, "err", err)
			panic(http.ErrAbortHandler) // cut the connection: the client sees a short body
		default:
			srv.log.Info("backup streamed", "request_id", requestIDFrom(r.Context()), "bytes", n, "duration", time.Since(start))
		}
	})
}
