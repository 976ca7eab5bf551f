package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testAdminToken = "backup-test-admin-token-0123456789"

// Backup under write load, then restore: `openmoney backup` copies the
// live store while 16 clients create and pay orders; the copy verifies;
// restored into a fresh directory the service starts on it, `openmoney
// check` finds 0 violations, and every order acknowledged before the
// backup started is there.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "live", "openmoney.db")
	cfgPath := filepath.Join(dir, "config.yaml")
	writeConfig := func(path, dbPath string) {
		t.Helper()
		cfg := fmt.Sprintf("http: {listen: \"127.0.0.1:0\"}\nstore: {path: %q}\nadmin: {token: %q}\n"+
			"api: {rate_limit: {per_second: 100000, burst: 100000}}\n", dbPath, testAdminToken)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(cfgPath, db)
	c := startChild(t, cfgPath)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	anon := &client{http: hc, base: c.base}
	_, data, err := anon.do(context.Background(), "POST", "/sandbox/partners", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	p := &client{http: hc, base: c.base, key: data["api_key"].(string)}

	// The load: orders created and paid on the sandbox chain, each
	// acknowledgement recorded with the time it arrived.
	type ack struct {
		id int64
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				code, o, err := p.do(ctx, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100}, fmt.Sprintf("w%d-n%d", w, n))
				if err != nil || code != 200 {
					continue
				}
				mu.Lock()
				acks = append(acks, ack{int64(o["id"].(float64)), time.Now()})
				mu.Unlock()
				if n%2 == 0 {
					_, _, _ = p.do(ctx, "POST", "/sandbox/transfers", map[string]any{"to_address": o["payment_address"],
						"amount_nanoton": o["price_nanoton"], "comment": o["payment_memo"]}, "")
				}
			}
		}()
	}
	count := func(before time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range acks {
			if a.at.Before(before) {
				n++
			}
		}
		return n
	}
	time.Sleep(time.Second)
	started := time.Now()
	backup := filepath.Join(dir, "backups", "openmoney-backup.db")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	// http.listen is port 0 here: tell backup where the service listens.
	url := strings.TrimSuffix(c.base, "/api/v1")
	err = run(context.Background(), []string{"backup", "-to", backup, "-config", cfgPath, "-url", url}, os.Getenv, &out, io.Discard)
	finished := time.Now()
	time.Sleep(300 * time.Millisecond) // the load goes on after the backup too
	stopLoad()
	wg.Wait()
	if err != nil {
		t.Fatalf("backup under load: %v\n%s", err, out.String())
	}
	during := count(finished) - count(started)
	if count(started) == 0 || count(time.Now()) == count(started) {
		t.Fatalf("no load around the backup: %d orders before it, %d during, %d in all", count(started), during, count(time.Now()))
	}
	c.stop(t)
	m := regexp.MustCompile(`(\d+) bytes .*\n.*\(last order id (\d+)\).*OK \(0 violations\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("backup output does not name the size and the last order id:\n%s", out.String())
	}
	size, _ := strconv.ParseInt(m[1], 10, 64)
	lastID, _ := strconv.ParseInt(m[2], 10, 64)
	if fi, err := os.Stat(backup); err != nil || fi.Size() != size {
		t.Fatalf("backup file %v, printed size %d", err, size)
	}
	if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(backup), ".*.tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	// Restore into a fresh directory and start on it.
	restored := filepath.Join(dir, "restored", "openmoney.db")
	cfg2 := filepath.Join(dir, "restored.yaml")
	writeConfig(cfg2, restored)
	out.Reset()
	if err := run(context.Background(), []string{"restore", "-from", backup, "-config", cfg2}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"check", "-config", cfg2}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("check of the restored store: %v\n%s", err, out.String())
	}
	c = startChild(t, cfg2)
	rp := &client{http: hc, base: c.base, key: p.key}
	mu.Lock()
	var before []int64
	var maxBefore int64
	for _, a := range acks {
		if a.at.Before(started) {
			before = append(before, a.id)
			maxBefore = max(maxBefore, a.id)
		}
	}
	mu.Unlock()
	for _, id := range before {
		code, o, err := rp.do(context.Background(), "GET", "/orders/"+strconv.FormatInt(id, 10), nil, "")
		if err != nil || code != 200 || int64(o["id"].(float64)) != id {
			t.Fatalf("order %d, acknowledged before the backup started, is missing from the restore: %d %v", id, code, err)
		}
	}
	if lastID < maxBefore {
		t.Errorf("last order id %d is older than order %d acknowledged before the backup", lastID, maxBefore)
	}
	// The restored service works. Its new orders never reuse an id (or a
	// memo) handed out after the backup: ids continue past a gap.
	code, o, err := rp.do(context.Background(), "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100}, "after-restore")
	if err != nil || code != 200 || int64(o["id"].(float64)) <= lastID+restoreIDGap {
		t.Fatalf("new order on the restored store: %d %v %v (last id in the backup %d)", code, o, err, lastID)
	}
	mu.Lock()
	for _, a := range acks {
		if a.id == int64(o["id"].(float64)) {
			t.Errorf("order id %d handed out again after the restore", a.id)
		}
	}
	mu.Unlock()
	c.stop(t)
	out.Reset()
	if err := run(context.Background(), []string{"check", "-config", cfg2}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("check after running on the restore: %v\n%s", err, out.String())
	}
	t.Logf("%d orders acknowledged before the backup, %d during it; %s", len(before), during, strings.TrimSpace(out.String()))
}

// With the service stopped, backup copies the file itself; without the
// admin token a running service's store cannot be copied (one line saying
// what to do); a PostgreSQL store is pointed to pg_dump; a missing -to is
// a usage error.
func TestBackupOfflineAndRefusals(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "openmoney.db")
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("http: {listen: \"127.0.0.1:0\"}\nstore: {path: %q}\n", db)), 0o600); err != nil {
		t.Fatal(err)
	}
	code := func(err error) int {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if err != nil {
			return 1
		}
		return 0
	}
	noToken := func(k string) string {
		if k == "OPENMONEY_ADMIN_TOKEN" {
			return ""
		}
		return os.Getenv(k)
	}
	backup := filepath.Join(dir, "b.db")
	if err := run(context.Background(), []string{"backup", "-config", cfg}, noToken, io.Discard, io.Discard); code(err) != 2 {
		t.Fatalf("no -to: %v", err)
	}
	if err := run(context.Background(), []string{"backup", "-to", backup, "-config", cfg}, noToken, io.Discard, io.Discard); code(err) != 2 || !strings.Contains(err.Error(), "no store") {
		t.Fatalf("no store yet: %v", err)
	}
	c := startChild(t, cfg)
	err := run(context.Background(), []string{"backup", "-to", backup, "-config", cfg}, noToken, io.Discard, io.Discard)
	if code(err) != 2 || !strings.Contains(err.Error(), "admin token") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("running service, no token: %v", err)
	}
	c.stop(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"backup", "-to", backup, "-config", cfg}, noToken, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "service stopped") || !strings.Contains(out.String(), "OK (0 violations)") {
		t.Fatalf("offline backup: %v\n%s", err, out.String())
	}
	// Again over the same file: replaced atomically.
	if err := run(context.Background(), []string{"backup", "-to", backup, "-config", cfg}, noToken, io.Discard, io.Discard); err != nil {
		t.Fatalf("second backup over the first: %v", err)
	}
	// Restore over the existing store: it is kept beside; refused while held.
	out.Reset()
	if err := run(context.Background(), []string{"restore", "-from", backup, "-config", cfg}, noToken, &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "kept as "+db+".before-restore-") {
		t.Fatalf("restore over a store: %v\n%s", err, out.String())
	}
	if kept, _ := filepath.Glob(db + ".before-restore-*"); len(kept) != 1 {
		t.Fatalf("the replaced store was not kept: %v", kept)
	}
	c = startChild(t, cfg)
	if err := run(context.Background(), []string{"restore", "-from", backup, "-config", cfg}, noToken, io.Discard, io.Discard); code(err) != 2 || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("restore while the service runs: %v", err)
	}
	c.stop(t)
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), []byte("not a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"restore", "-from", filepath.Join(dir, "junk.db"), "-config", cfg}, noToken, io.Discard, io.Discard); code(err) != 1 {
		t.Fatalf("restore of a file that is no store: %v", err)
	}
	pgCfg := filepath.Join(dir, "pg.yaml")
	if err := os.WriteFile(pgCfg, []byte("store: {driver: postgres, dsn: \"postgres://u@127.0.0.1:1/x\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"backup", "-to", backup, "-config", pgCfg}, noToken, io.Discard, io.Discard)
	if code(err) != 2 || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "docs/DEPLOY.md") {
		t.Fatalf("postgres: %v", err)
	}
}

func TestServiceURL(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		":9000":          "http://127.0.0.1:9000",
		"[::]:8080":      "http://[::1]:8080",
		"10.0.0.5:80":    "http://10.0.0.5:80",
	} {
		if got := serviceURL(listen); got != want {
			t.Errorf("serviceURL(%q) = %q, want %q", listen, got, want)
		}
	}
}
