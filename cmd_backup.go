package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
)

// runBackup: openmoney backup -to FILE [-config FILE] [-url URL] — a
// consistent copy of the bbolt store, taken while the service runs (through
// its admin route GET /api/v1/admin/backup) or from the file when it is
// stopped. The copy goes to a temporary file beside FILE, is fsync'd and
// verified with the integrity check, and only then renamed over FILE, so
// FILE is always a whole, checked store (an older backup stays until the
// new one is good). Exit 0: done; 1: the copy failed or does not verify;
// 2: usage or configuration.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var to, baseURL string
	cfg, err := storeFlags("backup", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the backup file to write (replaced atomically once the new copy verifies)")
		fs.StringVar(&baseURL, "url", "", "the running service's base URL (default: from http.listen, e.g. http://127.0.0.1:8080)")
	})
	if err != nil {
		return err
	}
	if to == "" {
		return exitError{2, errors.New("backup needs -to FILE")}
	}
	if cfg.Store.Driver == "postgres" {
		return exitError{2, errors.New("backup copies bbolt stores; this one is PostgreSQL: back it up with pg_dump (docs/DEPLOY.md, \"Backups\")")}
	}
	start := time.Now()
	tmp, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".*.tmp")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	defer tmp.Close()
	pw := &progressWriter{w: tmp, out: stderr, every: 2 * time.Second, last: time.Now()}
	var source string
	if baseURL == "" {
		source, err = backupFromFile(ctx, cfg, pw)
		if errors.Is(err, store.ErrLocked) { // the service holds it: ask the service
			baseURL = serviceURL(cfg.HTTP.Listen)
			err = nil
		}
	}
	if baseURL != "" && err == nil {
		source, err = backupFromService(ctx, baseURL, cfg.Admin.Token, pw)
	}
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup: fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	rep, err := verifyBackup(ctx, tmp.Name())
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), to); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup %s: %d bytes (%.1f MiB) from %s in %s\n", to, pw.n, float64(pw.n)/(1<<20), source,
		time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "holds %d partners, %d orders (last order id %d), %d ledger rows, %d chain transfers seen; integrity check: OK (0 violations)\n",
		rep.Partners, rep.Orders, rep.LastOrderID, rep.LedgerRows, rep.SeenTx)
	return nil
}

// backupFromFile copies a store the service does not hold (it is stopped);
// store.ErrLocked when it does.
func backupFromFile(ctx context.Context, cfg *config.Config, w io.Writer) (string, error) {
	st, err := store.OpenBolt(cfg.Store.Path, store.Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return "", err
	}
	if errors.Is(err, os.ErrNotExist) {
		return "", exitError{2, fmt.Errorf("backup: no store at %s (check store.path)", cfg.Store.Path)}
	}
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	defer st.Close()
	if _, err := st.Snapshot(ctx, func(int64) (io.Writer, error) { return w, nil }); err != nil {
		return "", fmt.Errorf("backup: copy %s: %w", cfg.Store.Path, err)
	}
	return cfg.Store.Path + " (service stopped)", nil
}

// backupFromService streams the copy from the running service's admin route.
func backupFromService(ctx context.Context, baseURL, token string, w io.Writer) (string, error) {
	if token == "" {
		return "", exitError{2, errors.New("backup: the service is running and holds the store; give this command its admin token (admin.token or OPENMONEY_ADMIN_TOKEN, the service's own) to copy it live")}
	}
	u := strings.TrimSuffix(baseURL, "/") + api.BasePath + "/admin/backup"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", exitError{2, fmt.Errorf("backup: -url: %w", err)}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("backup: the store is held by a running service, but %s does not answer: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var env api.Envelope
		msg := resp.Status
		if b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10)); jsonEnvelope(b, &env) && env.ErrorMessage != "" {
			msg = resp.Status + ": " + env.ErrorMessage
		}
		if resp.StatusCode == http.StatusNotFound && env.ErrorCode == string(shop.CodeNotFound) && !strings.Contains(msg, "pg_dump") {
			msg += " (are the admin routes on? set admin.token on the service)"
		}
		return "", fmt.Errorf("backup: %s answered %s", u, msg)
	}
	want, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if pw, ok := w.(*progressWriter); ok {
		pw.total = want
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return "", fmt.Errorf("backup: the copy broke off after %d bytes: %w", n, err)
	}
	if want > 0 && n != want {
		return "", fmt.Errorf("backup: the copy broke off after %d of %d bytes", n, want)
	}
	return u, nil
}

// verifyBackup opens the copy and runs the integrity check on it.
func verifyBackup(ctx context.Context, path string) (shop.Report, error) {
	st, err := store.OpenBolt(path, store.Options{ReadOnly: true})
	if err != nil {
		return shop.Report{}, fmt.Errorf("backup: the copy does not open as a store: %w", err)
	}
	defer st.Close()
	rep, err := shop.Check(ctx, st)
	if err != nil {
		return rep, fmt.Errorf("backup: checking the copy: %w", err)
	}
	if len(rep.Violations) > 0 {
		return rep, fmt.Errorf("backup: the copy has %d integrity violations (the live store has them too: run GET /api/v1/admin/integrity); first: %s",
			len(rep.Violations), rep.Violations[0])
	}
	return rep, nil
}

// serviceURL is the base URL of the service listening on listen (a
// wildcard host is reached on loopback).
func serviceURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// syncDir fsyncs a directory, so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// progressWriter counts bytes and reports progress now and then.
type progressWriter struct {
	w     io.Writer
	out   io.Writer
	n     int64
	total int64 // 0 when unknown
	every time.Duration
	last  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if time.Since(p.last) >= p.every {
		p.last = time.Now()
		if p.total > 0 {
			fmt.Fprintf(p.out, "backup: %.1f of %.1f MiB (%d%%)\n", float64(p.n)/(1<<20), float64(p.total)/(1<<20), p.n*100/p.total)
		} else {
			fmt.Fprintf(p.out, "backup: %.1f MiB\n", float64(p.n)/(1<<20))
		}
	}
	return n, err
}

// jsonEnvelope decodes an API error envelope; false when b is not one.
func jsonEnvelope(b []byte, env *api.Envelope) bool { return json.Unmarshal(b, env) == nil }

// After a restore, ids continue this far past the backup's (see
// store.Bolt.SkipIDs): far more orders and events than a service takes
// between two backups, and partner ids well inside v5r1's 65535 subwallets.
const (
	restoreIDGap      = 1_000_000
	restorePartnerGap = 1_000
)

// runRestore: openmoney restore -from FILE [-config FILE] — put a backup in
// place of the configured bbolt store, with the service stopped. The backup
// is verified first; the store it replaces is kept beside it; ids continue
// past a gap, so an order, memo, top-up address or event id handed out
// after the backup was taken is never handed out again (a late payment for
// a lost order then lands as an unmatched deposit, never on a new order).
func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var from string
	cfg, err := storeFlags("restore", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "the backup file to restore")
	})
	if err != nil {
		return err
	}
	if from == "" {
		return exitError{2, errors.New("restore needs -from FILE")}
	}
	if cfg.Store.Driver == "postgres" {
		return exitError{2, errors.New("restore puts bbolt backups in place; this store is PostgreSQL: restore it with pg_restore (docs/DEPLOY.md, \"Backups\")")}
	}
	rep, err := verifyBackup(ctx, from)
	if err != nil {
		return err
	}
	path := cfg.Store.Path
	if st, err := store.OpenBolt(path, store.Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond}); err == nil {
		st.Close()
	} else if errors.Is(err, store.ErrLocked) {
		return exitError{2, fmt.Errorf("restore: the store %s is held by the running service; stop it first", path)}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.restore")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	src, err := os.Open(from)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("restore: %w", err)
	}
	_, err = io.Copy(tmp, src)
	src.Close()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore: copy %s: %w", from, err)
	}
	st, err := store.OpenBolt(tmp.Name(), store.Options{})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	err = st.SkipIDs(restoreIDGap, restorePartnerGap)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore: advance the id sequences: %w", err)
	}
	kept := ""
	if _, err := os.Stat(path); err == nil {
		kept = path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, kept); err != nil {
			return fmt.Errorf("restore: keep the current store: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s: %d partners, %d orders (last order id %d); integrity check: OK (0 violations)\n",
		from, path, rep.Partners, rep.Orders, rep.LastOrderID)
	fmt.Fprintf(stdout, "new order ids continue after %d, partner ids after a gap of %d: nothing handed out after the backup is handed out again\n",
		rep.LastOrderID+restoreIDGap, restorePartnerGap)
	if kept != "" {
		fmt.Fprintf(stdout, "the store it replaced is kept as %s\n", kept)
	}
	if cfg.Fulfillment.Provider == "fragment" {
		fmt.Fprint(stdout, restorePayerWarning)
	}
	return nil
}

// restorePayerWarning: the Fragment payments the service wallet sent after
// the backup was taken are not in it (docs/OPERATIONS.md, "Unrecorded wallet payments").
const restorePayerWarning = `warning: Fragment payments the service wallet sent after this backup was taken are not in it; their orders look paid and not delivered.
  At start the service compares the wallet's seqno on chain with its payment records: if the wallet ran messages the store does not know,
  nothing is paid (deliveries held: wallet_unrecorded, an operator alert) until you reconcile them — GET /api/v1/admin/payer lists the
  seqnos and the candidate orders; mark the ones those messages paid with POST /api/v1/admin/payer/reconcile (docs/OPERATIONS.md, "Unrecorded wallet payments").
`
