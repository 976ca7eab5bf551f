package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
)

// TestMain lets the test binary act as the real openmoney binary in child
// processes (OPENMONEY_CHILD=1), so crash tests kill a real service.
func TestMain(m *testing.M) {
	if os.Getenv("OPENMONEY_CHILD") == "1" {
		if path := os.Getenv(simChainEnv); path != "" {
			os.Exit(simChild(path))
		}
		main()
		return
	}
	pgtest.Main(m) // runs the tests; stops a PostgreSQL server they started
}

// child is a running openmoney process.
type child struct {
	cmd    *exec.Cmd
	base   string
	done   chan error
	exited chan struct{} // closed once the process has been waited for
	// logs: the child's log lines so far (stderr), for tests that act on
	// what the service reports.
	logMu sync.Mutex
	logs  []string
}

// logged counts the child's log lines so far that contain s.
func (c *child) logged(s string) int {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	n := 0
	for _, l := range c.logs {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// waitLogged waits up to d for a log line containing s.
func (c *child) waitLogged(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for c.logged(s) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q within %s", s, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startChild(t *testing.T, cfgPath string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-config", cfgPath)
	cmd.Env = append(append(os.Environ(), "OPENMONEY_CHILD=1"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			c.logMu.Lock()
			c.logs = append(c.logs, sc.Text())
			c.logMu.Unlock()
			var line struct{ Addr string }
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line.Addr != "" {
				addr <- line.Addr
				sent = true
			}
		}
	}()
	c.exited = make(chan struct{})
	go func() { c.done <- cmd.Wait(); close(c.exited) }()
	// A test that fails before stopping its child must not leave it running.
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	select {
	case a := <-addr:
		c.base = "http://" + a + "/api/v1"
	case err := <-c.done:
		t.Fatalf("child exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not start listening")
	}
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child did not stop within 10 s of SIGTERM")
	}
}

type client struct {
	http *http.Client
	base string
	key  string
}

func (c *client) do(ctx context.Context, method, path string, body any, idem string) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, env.Data, nil
}

// acked is what the service acknowledged before it was killed.
type acked struct {
	mu                        sync.Mutex
	orders                    map[int64]int64 // order id → partner id
	payments                  map[string]int64
	topups                    map[string]int64 // tx hash → partner
	usdt                      map[string]bool  // the payments and top-ups made in USDT
	balOrders                 int
	usdtOrders, usdtBalOrders int
}

func TestCrashKillNineLosesNothing(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	if v, err := strconv.Atoi(os.Getenv("OPENMONEY_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "openmoney.db")
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("http: {listen: \"127.0.0.1:0\"}\nstore: {path: %q}\napi: {rate_limit: {per_second: 100000, burst: 100000}}\nlog: {level: info}\n", dbPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	crashCampaign(t, cfgPath, rounds, func(t *testing.T) store.Store {
		st, err := store.OpenBolt(dbPath, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestCrashKillNineLosesNothingOnPostgres is the same campaign with the
// service on PostgreSQL: one round by default (CI), more with
// OPENMONEY_CRASH_ROUNDS.
func TestCrashKillNineLosesNothingOnPostgres(t *testing.T) {
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("OPENMONEY_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	dsn := pgtest.DSN(t)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("http: {listen: \"127.0.0.1:0\"}\nstore: {driver: postgres, dsn: %q}\napi: {rate_limit: {per_second: 100000, burst: 100000}}\nlog: {level: info}\n", dsn)), 0o600); err != nil {
		t.Fatal(err)
	}
	crashCampaign(t, cfgPath, rounds, func(t *testing.T) store.Store {
		st, err := pg.Open(context.Background(), dsn, pg.Options{NoMigrate: true})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// crashCampaign runs rounds of: a service under 50 workers creating and
// paying orders, topping up and ordering from balances — in TON and in USDT
// (sandbox jetton transfers into our jetton wallets) — killed with SIGKILL
// at a random moment; restarted, it must catch up with every acknowledged
// transfer; then every acknowledged order, payment and top-up must be in
// the store (opened by open) and the integrity check must pass.
func crashCampaign(t *testing.T, cfgPath string, rounds int, open func(*testing.T) store.Store) {
	ack := &acked{orders: map[int64]int64{}, payments: map[string]int64{}, topups: map[string]int64{}, usdt: map[string]bool{}}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	totalOps := 0
	for round := 1; round <= rounds; round++ {
		c := startChild(t, cfgPath)
		anon := &client{http: hc, base: c.base}
		var partners []*client
		for i := 0; i < 5; i++ {
			code, data, err := anon.do(context.Background(), "POST", "/sandbox/partners", nil, "")
			if err != nil || code != 200 {
				t.Fatalf("sandbox partner: %d %v", code, err)
			}
			partners = append(partners, &client{http: hc, base: c.base, key: data["api_key"].(string)})
		}
		type pinfo struct {
			topup string
		}
		infos := make([]pinfo, len(partners))
		for i, p := range partners {
			_, data, err := p.do(context.Background(), "GET", "/balance", nil, "")
			if err != nil {
				t.Fatal(err)
			}
			infos[i].topup = data["topup_address"].(string)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var ops sync.Map
		var opsDone atomic.Int64
		for w := 0; w < 50; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pi := w % len(partners)
				p := partners[pi]
				for n := 0; ctx.Err() == nil; n++ {
					switch n % 6 {
					case 0: // order paid through the sandbox chain
						code, o, err := p.do(ctx, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100}, fmt.Sprintf("r%d-w%d-n%d", round, w, n))
						if err != nil || code != 200 {
							continue
						}
						id := int64(o["id"].(float64))
						ack.mu.Lock()
						ack.orders[id] = int64(pi)
						ack.mu.Unlock()
						code, tr, err := p.do(ctx, "POST", "/sandbox/transfers", map[string]any{"to_address": o["payment_address"], "amount_nanoton": o["price_nanoton"], "comment": o["payment_memo"]}, "")
						if err == nil && code == 200 {
							ack.mu.Lock()
							ack.payments[tr["tx_hash"].(string)] = id
							ack.mu.Unlock()
						}
					case 1: // top-up
						code, tr, err := p.do(ctx, "POST", "/sandbox/transfers", map[string]any{"to_address": infos[pi].topup, "amount_nanoton": "500000000"}, "")
						if err == nil && code == 200 {
							ack.mu.Lock()
							ack.topups[tr["tx_hash"].(string)] = int64(pi)
							ack.mu.Unlock()
						}
					case 2: // balance order
						code, o, err := p.do(ctx, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100, "payment_method": "balance"}, fmt.Sprintf("r%d-w%d-n%d", round, w, n))
						if err == nil && code == 200 {
							ack.mu.Lock()
							ack.orders[int64(o["id"].(float64))] = int64(pi)
							ack.balOrders++
							ack.mu.Unlock()
						}
					case 3: // USDT order paid in USDT through the sandbox chain
						code, o, err := p.do(ctx, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100, "payment_currency": "USDT"}, fmt.Sprintf("r%d-w%d-n%d", round, w, n))
						if err != nil || code != 200 {
							continue
						}
						id := int64(o["id"].(float64))
						ack.mu.Lock()
						ack.orders[id] = int64(pi)
						ack.usdtOrders++
						ack.mu.Unlock()
						code, tr, err := p.do(ctx, "POST", "/sandbox/transfers", map[string]any{"asset": "USDT", "to_address": o["payment_address"], "amount_units": o["price_usdt_units"], "comment": o["payment_memo"]}, "")
						if err == nil && code == 200 {
							ack.mu.Lock()
							ack.payments[tr["tx_hash"].(string)] = id
							ack.usdt[tr["tx_hash"].(string)] = true
							ack.mu.Unlock()
						}
					case 4: // USDT top-up
						code, tr, err := p.do(ctx, "POST", "/sandbox/transfers", map[string]any{"asset": "USDT", "to_address": infos[pi].topup, "amount_units": "2000000"}, "")
						if err == nil && code == 200 {
							ack.mu.Lock()
							ack.topups[tr["tx_hash"].(string)] = int64(pi)
							ack.usdt[tr["tx_hash"].(string)] = true
							ack.mu.Unlock()
						}
					case 5: // USDT balance order (402 while the USDT balance is short)
						code, o, err := p.do(ctx, "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100, "payment_method": "balance", "payment_currency": "USDT"}, fmt.Sprintf("r%d-w%d-n%d", round, w, n))
						if err == nil && code == 200 {
							ack.mu.Lock()
							ack.orders[int64(o["id"].(float64))] = int64(pi)
							ack.balOrders++
							ack.usdtBalOrders++
							ack.mu.Unlock()
						}
					}
					ops.Store(fmt.Sprint(w, n), true)
					opsDone.Add(1)
				}
			}()
		}
		// Kill at a random moment once every kind of operation is under way
		// (a service on PostgreSQL takes longer to warm up its pool).
		for deadline := time.Now().Add(30 * time.Second); opsDone.Load() < 300 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		c.kill(t)
		cancel()
		wg.Wait()
		n := 0
		ops.Range(func(any, any) bool { n++; return true })
		totalOps += n

		// Restart: the listener must catch up on every acknowledged transfer.
		c = startChild(t, cfgPath)
		waitCaughtUp(t, &client{http: hc, base: c.base})
		c.stop(t)
		verifyStore(t, open(t), ack)
		var out bytes.Buffer
		if err := run(context.Background(), []string{"check", "-config", cfgPath}, os.Getenv, &out, io.Discard); err != nil {
			t.Fatalf("round %d: openmoney check: %v\n%s", round, err, out.String())
		}
		t.Logf("round %d: killed after %d operations; %s", round, n, strings.TrimSpace(out.String()))
	}
	ack.mu.Lock()
	usdtPay, usdtTop := 0, 0
	for h := range ack.usdt {
		if _, ok := ack.payments[h]; ok {
			usdtPay++
		} else {
			usdtTop++
		}
	}
	if usdtPay == 0 || usdtTop == 0 || ack.usdtOrders == 0 {
		t.Errorf("the writers made %d USDT orders, %d USDT payments and %d USDT top-ups acknowledged: the campaign must include each", ack.usdtOrders, usdtPay, usdtTop)
	}
	t.Logf("crash campaign: %d rounds, %d operations, %d acknowledged orders (%d from balance; %d in USDT, %d of them from the USDT balance), %d payments (%d USDT), %d top-ups (%d USDT), 0 violations",
		rounds, totalOps, len(ack.orders), ack.balOrders, ack.usdtOrders+ack.usdtBalOrders, ack.usdtBalOrders, len(ack.payments), usdtPay, len(ack.topups), usdtTop)
	ack.mu.Unlock()
}

// waitCaughtUp sends a marker top-up to a partner of its own and waits for
// it: the sandbox chain is processed in order, so everything before it is
// processed too. (A partner with no other transfer pending: any change of its
// balance is the marker's.)
func waitCaughtUp(t *testing.T, c *client) {
	t.Helper()
	ctx := context.Background()
	anon := &client{http: c.http, base: c.base}
	code, data, err := anon.do(ctx, "POST", "/sandbox/partners", nil, "")
	if err != nil || code != 200 {
		t.Fatalf("marker partner: %d %v", code, err)
	}
	marker := &client{http: c.http, base: c.base, key: data["api_key"].(string)}
	_, bal, err := marker.do(ctx, "GET", "/balance", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	code, _, err = marker.do(ctx, "POST", "/sandbox/transfers", map[string]any{"to_address": bal["topup_address"], "amount_nanoton": "1"}, "")
	if err != nil || code != 200 {
		t.Fatalf("marker transfer: %d %v", code, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, now, err := marker.do(ctx, "GET", "/balance", nil, "")
		if err == nil && now["balance_nanoton"] == "1" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("listener did not catch up within 60 s")
}

func verifyStore(t *testing.T, st store.Store, ack *acked) {
	t.Helper()
	defer st.Close()
	ack.mu.Lock()
	defer ack.mu.Unlock()
	err := st.View(context.Background(), func(tx store.Tx) error {
		for id := range ack.orders {
			if _, err := tx.GetOrder(id); err != nil {
				t.Errorf("acknowledged order %d lost: %v", id, err)
			}
		}
		for h, id := range ack.payments {
			s, err := tx.GetSeen(h)
			if err != nil {
				t.Errorf("acknowledged payment %s never credited: %v", h, err)
				continue
			}
			if s.Kind != domain.SeenOrder || s.RefID != id {
				t.Errorf("payment %s credited to %s %d, want order %d", h, s.Kind, s.RefID, id)
			}
			if cur, _ := s.Amount(); (cur == domain.CurrencyUSDT) != ack.usdt[h] {
				t.Errorf("payment %s recorded in %s (USDT sent: %v)", h, cur, ack.usdt[h])
			}
			o, _ := tx.GetOrder(id)
			if o != nil && o.PaidAt == nil {
				t.Errorf("order %d paid in full but %s", id, o.Status)
			}
		}
		for h := range ack.topups {
			s, err := tx.GetSeen(h)
			if err != nil || s.Kind != domain.SeenLedger {
				t.Errorf("acknowledged top-up %s not credited: %v", h, err)
				continue
			}
			if cur, _ := s.Amount(); (cur == domain.CurrencyUSDT) != ack.usdt[h] {
				t.Errorf("top-up %s recorded in %s (USDT sent: %v)", h, cur, ack.usdt[h])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := shop.Check(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("integrity violations after kill -9:\n%s", strings.Join(rep.Violations, "\n"))
	}
}
