package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
)

// GET /admin/backup streams a store file that opens as is, holds what was
// committed, and passes the integrity check; it needs the admin token.
func TestAdminBackupStreamsAConsistentStore(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken))
	_, key := te.Partner(t)
	o := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody).must(t, 200).order(t)

	te.call(t, "GET", "/api/v1/admin/backup", "", "").must(t, 401, "UNAUTHORIZED")
	te.call(t, "GET", "/api/v1/admin/backup", key, "").must(t, 401, "UNAUTHORIZED")
	te.call(t, "POST", "/api/v1/admin/backup", adminToken, "").must(t, 405, "METHOD_NOT_ALLOWED")
	rec := httptest.NewRecorder()
	te.h.ServeHTTP(rec, newRequest("GET", "/api/v1/admin/backup", adminToken, ""))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/octet-stream" ||
		rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) || rec.Header().Get("X-Request-Id") == "" {
		t.Fatalf("backup: %d %q length %q, body %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Length"), rec.Body.Len())
	}
	st := openCopy(t, rec.Body.Bytes())
	rep, err := shop.Check(context.Background(), st)
	if err != nil || len(rep.Violations) != 0 || rep.LastOrderID != o.ID || rep.Partners != 1 {
		t.Fatalf("the copy: %+v %v", rep, err)
	}
}

// openCopy writes a streamed copy to a file and opens it as a store.
func openCopy(t *testing.T, body []byte) *store.Bolt {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the copy does not open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A copy that takes longer than the server's WriteTimeout (a slow reader,
// a large store) is not cut: the route sets its own write deadline.
func TestAdminBackupOutlastsTheServerWriteTimeout(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken))
	pad := make([]byte, 64<<10)
	if err := te.Store.Update(context.Background(), func(tx store.Tx) error {
		for i := range 160 { // ~10 MB of incompressible padding
			rand.Read(pad)
			if err := tx.PutMeta(fmt.Sprintf("test-pad-%03d", i), pad); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const writeTimeout = 300 * time.Millisecond
	srv := httptest.NewUnstartedServer(te.h)
	srv.Config.WriteTimeout = writeTimeout
	srv.Start()
	defer srv.Close()
	// A small receive buffer and a slow reader keep the server's writes
	// blocked well past its WriteTimeout.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		if err != nil {
			return err
		}
		return serr
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %s and %d bytes: %v", time.Since(start), body.Len(), err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	took := time.Since(start)
	if strconv.Itoa(body.Len()) != resp.Header.Get("Content-Length") || body.Len() < 10<<20 {
		t.Fatalf("got %d bytes, Content-Length %s", body.Len(), resp.Header.Get("Content-Length"))
	}
	if took < 2*writeTimeout {
		t.Fatalf("the copy took %s: too fast to outlast the %s WriteTimeout, the test proves nothing", took, writeTimeout)
	}
	openCopy(t, body.Bytes())
	t.Logf("%d bytes in %s past a %s WriteTimeout", body.Len(), took, writeTimeout)
}

// A store that cannot stream itself (PostgreSQL) answers 404 naming pg_dump.
func TestAdminBackupRefusedWithoutSnapshots(t *testing.T) {
	te := newEnv(t)
	cfg := config.Default()
	cfg.Admin.Token = adminToken
	s, err := shop.New(shop.Deps{Config: cfg, Store: noSnapshot{te.Store}, Keys: te.Keys, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed("3.6", time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	pg := &tenv{Env: te.Env, h: api.NewServer(s, cfg, nil), log: te.log}
	e := pg.call(t, "GET", "/api/v1/admin/backup", adminToken, "").must(t, 404, "NOT_FOUND")
	if !strings.Contains(e.Env.ErrorMessage, "pg_dump") {
		t.Errorf("message %q does not say pg_dump", e.Env.ErrorMessage)
	}
}

// noSnapshot hides the store's Snapshot method, as PostgreSQL has none.
type noSnapshot struct{ store.Store }
