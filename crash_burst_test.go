package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/internal/fragmentsim"
	"github.com/theopenmoney/openmoney/internal/simchain"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// simChainEnv names the simulated chain file a child service runs over
// (testnet config, the chain replacing the liteservers). simHolesEnv (a
// duration) makes its liteservers lack the history from before the service
// started for that long: the payer must hold, never conclude, what it cannot
// read.
const (
	simChainEnv = "OPENMONEY_SIMCHAIN"
	simHolesEnv = "OPENMONEY_SIMCHAIN_HOLES"
)

// simService is the simulated chain as the service's chain source.
type simService struct {
	*simchain.Chain
	start, holesUntil time.Time
}

func (s simService) dial(context.Context) (ton.ChainAPI, error) { return s, nil }

// ListTransactions serves, until holesUntil, only the transactions made
// since start: older pages answer tonutils-go's ErrNoTransactionsWereFound,
// as a liteserver lacking the history does.
func (s simService) ListTransactions(ctx context.Context, a *address.Address, num uint32, lt uint64, hash []byte) ([]*tlb.Transaction, error) {
	txs, err := s.Chain.ListTransactions(ctx, a, num, lt, hash)
	if err != nil || !time.Now().Before(s.holesUntil) {
		return txs, err
	}
	i := len(txs)
	for i > 0 && int64(txs[i-1].Now) > s.start.Unix() { // the second it started in counts as before
		i--
	}
	if i == len(txs) {
		return nil, tonapi.ErrNoTransactionsWereFound
	}
	return txs[i:], nil
}

// simChild runs the service (main's run, with the process's arguments and
// signals) over the simulated chain at path, and returns the exit code.
func simChild(path string) int {
	chain, err := simchain.Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "openmoney:", err)
		return 1
	}
	defer chain.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc := simService{Chain: chain, start: time.Now()}
	if d, err := time.ParseDuration(os.Getenv(simHolesEnv)); err == nil {
		svc.holesUntil = svc.start.Add(d)
	}
	if err := runWith(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, svc); err != nil {
		fmt.Fprintln(os.Stderr, "openmoney:", err)
		return 1
	}
	return 0
}

// Fragment's two payment addresses on the simulated chain: one takes
// payments, one refuses them (bounces).
var (
	crashTaker   = address.NewAddress(0, 0, bytes.Repeat([]byte{0xf1}, 32))
	crashRefuser = address.NewAddress(0, 0, bytes.Repeat([]byte{0xb0}, 32))
	crashPayer   = address.NewAddress(0, 0, bytes.Repeat([]byte{0xc5}, 32))
)

// TestCrashDuringABurstPaysEachOrderOnce is the delivery crash campaign: the
// real service (a child process) delivers bursts of paid orders through the
// Fragment provider, batching payments in v5r1 wallet messages, over the
// simulated chain (200 ms blocks) and the simulated Fragment, both living in
// this process and outliving the service. In every round it is killed with
// SIGKILL at a moment chosen from what it has done (its first wallet
// message sent, its first order completed, or at random), restarted, and
// left to finish.
// Then: every acknowledged order is completed or refunded; each order's
// Fragment payment left the wallet exactly once (taken: completed; refused:
// refunded) or never (refunded); each refund was made exactly once; no
// Fragment request was paid twice; `openmoney check` finds no violation.
// Long form: OPENMONEY_BURST_CRASH_ROUNDS=20 OPENMONEY_BURST_ORDERS=300.
func TestCrashDuringABurstPaysEachOrderOnce(t *testing.T) {
	rounds, orders := 2, 40
	if testing.Short() {
		rounds, orders = 1, 30
	}
	if v, err := strconv.Atoi(os.Getenv("OPENMONEY_BURST_CRASH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := strconv.Atoi(os.Getenv("OPENMONEY_BURST_ORDERS")); err == nil && v > 0 {
		orders = v
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "openmoney.db")
	w := newBurstWorld(t, dir, 200*time.Millisecond, fmt.Sprintf("{path: %q}", dbPath))
	var all []int64
	for round := 1; round <= rounds; round++ {
		c := w.start(t)
		api := w.client(c)
		ids := w.burst(t, c, api, round, orders)
		all = append(all, ids...)
		// The kill moment comes from what the service has done: right
		// after its first wallet message left (round 1, 4, …: payments on
		// chain, none settled), right after its first order completed
		// (round 2, 5, …: mid-confirmation), or at a random moment of the
		// burst (round 3, 6, …; a burst takes about 20 ms an order).
		start := time.Now()
		var moment string
		switch round % 3 {
		case 1:
			c.waitLogged(t, "fragment: payment batch sent", time.Minute)
			moment = "the first payment batch sent"
		case 2:
			waitAnyCompleted(t, api, ids, time.Minute)
			moment = "the first order completed"
		default:
			time.Sleep(time.Duration(rand.IntN(1000+20*orders)) * time.Millisecond)
			moment = "a random moment"
		}
		c.kill(t)
		done := finalCount(t, dbPath, ids)
		t.Logf("round %d: killed %s after %d payments (%s), %d of %d orders finished", round, time.Since(start).Round(time.Millisecond), orders, moment, done, orders)

		// After the kill right after a batch was sent, the restart runs
		// over liteservers lacking the history from before it for 10 s:
		// a batch that ran meanwhile is held, never paid again.
		var holes []string
		if round%3 == 1 {
			holes = []string{simHolesEnv + "=10s"}
		}
		c = w.start(t, holes...)
		api.base = c.base
		w.waitFinal(t, c, api, ids, round)
		c.stop(t)
		if len(holes) > 0 {
			t.Logf("round %d: restarted over liteservers without the history before it for 10 s: %d payment batch(es) held meanwhile",
				round, c.logged("payment batch held"))
		}
	}
	st, err := store.OpenBolt(dbPath, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	completed, refunded := w.verify(t, st, all)
	st.Close()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", w.cfgPath}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("openmoney check: %v\n%s", err, out.String())
	}
	t.Logf("burst crash campaign: %d rounds of %d orders, one kill -9 each: %d completed, %d refunded, every payment on chain once, %s",
		rounds, orders, completed, refunded, strings.TrimSpace(out.String()))
}

// burstWorld is what the burst tests run the service in: a simulated
// chain (with the service's v5r1 wallet funded and Fragment's two payment
// addresses, one refusing payments) and a simulated Fragment (200 ms a
// call, 10 % of recipients paid through the refusing address), both in this
// process and outliving the service; a testnet config over them with the
// Fragment provider; a partner key.
type burstWorld struct {
	keys      *ton.Keys
	chain     *simchain.Chain
	chainPath string
	fs        *fragmentsim.Server
	cfgPath   string
	key       string
	hc        *http.Client
	users     map[int64]string // order id → recipient
}

func newBurstWorld(t *testing.T, dir string, block time.Duration, storeYAML string) *burstWorld {
	t.Helper()
	w := &burstWorld{users: map[int64]string{},
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	var seed []string
	seed, w.keys, w.chainPath, w.chain = simWallet(t, dir, block, simchain.Account{Address: crashRefuser.StringRaw(), Balance: 1e9, Bounce: true})
	var err error
	w.fs, err = fragmentsim.New(fragmentsim.Options{Latency: 200 * time.Millisecond, RateLimit: 1000,
		Address: crashTaker.String(), BounceAddress: crashRefuser.String(), BounceShare: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	fsrv := httptest.NewServer(w.fs)
	t.Cleanup(fsrv.Close)
	w.cfgPath = filepath.Join(dir, "config.yaml")
	cfgText := fmt.Sprintf(`http: {listen: "127.0.0.1:0"}
store: %s
ton: {network: testnet, wallet_version: v5r1, wallet_seed: %q}
fulfillment: {provider: fragment, fragment: {base_url: %q, hash: %q, cookies: %q}}
api: {rate_limit: {per_second: 100000, burst: 100000}}
log: {level: info}
`, storeYAML, strings.Join(seed, " "), fsrv.URL, w.fs.Hash(), w.fs.Cookies())
	if err := os.WriteFile(w.cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	w.key = crashPartner(t, w.cfgPath)
	return w
}

// simWallet creates a v5r1 service wallet holding 1 000 000 TON on a new
// simulated chain in dir (a block every block), with Fragment's taking
// address and the accounts more; the chain is closed when the test ends.
func simWallet(t *testing.T, dir string, block time.Duration, more ...simchain.Account) (seed []string, keys *ton.Keys, chainPath string, chain *simchain.Chain) {
	t.Helper()
	seed = ton.NewSeed()
	keys, err := ton.NewKeys(seed, "v5r1", ton.NetworkTestnet)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := simchain.WalletGenesis(keys.Wallet(), 1_000_000*1e9)
	if err != nil {
		t.Fatal(err)
	}
	chainPath = filepath.Join(dir, "chain")
	accounts := append([]simchain.Account{gen, {Address: crashTaker.StringRaw(), Balance: 1e9}}, more...)
	if err := simchain.Create(chainPath, simchain.Config{BlockInterval: block, Accounts: accounts}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if chain, err = simchain.Open(chainPath, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	return seed, keys, chainPath, chain
}

// start runs the service (a child process) over the world.
func (w *burstWorld) start(t *testing.T, env ...string) *child {
	t.Helper()
	return startChild(t, w.cfgPath, append([]string{simChainEnv + "=" + w.chainPath}, env...)...)
}

func (w *burstWorld) client(c *child) *client { return &client{http: w.hc, base: c.base, key: w.key} }

// burst creates n orders through api and has every customer pay at once.
func (w *burstWorld) burst(t *testing.T, c *child, api *client, round, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	var transfers []simchain.Transfer
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			user := fmt.Sprintf("r%d_u%d", round, i)
			code, o, err := api.do(context.Background(), "POST", "/orders/stars", map[string]any{"recipient_username": user, "quantity": 50 + i%50}, "k-"+user)
			if err != nil || code != 200 {
				t.Errorf("order %s: %d %v", user, code, err)
				return
			}
			amount, _ := strconv.ParseInt(o["price_nanoton"].(string), 10, 64)
			mu.Lock()
			ids[i] = int64(o["id"].(float64))
			w.users[ids[i]] = user
			transfers = append(transfers, simchain.Transfer{From: crashPayer.StringRaw(), To: o["payment_address"].(string),
				AmountNano: amount, Body: simchain.Comment(o["payment_memo"].(string))})
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		c.kill(t)
		t.FailNow()
	}
	if err := w.chain.Send(transfers...); err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitFinal waits up to 2 minutes for every order of ids to be completed
// or refunded.
func (w *burstWorld) waitFinal(t *testing.T, c *child, api *client, ids []int64, round int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !allFinal(t, api, ids) {
		if time.Now().After(deadline) {
			c.kill(t)
			t.Fatalf("round %d: orders not finished within 2 min", round)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *burstWorld) verify(t *testing.T, st store.Store, ids []int64) (completed, refunded int) {
	t.Helper()
	return verifyBurst(t, st, w.chain, w.keys.ServiceAddressRaw(), w.fs, ids, w.users)
}

// crashPartner creates a partner with a key in the configured store before
// the service first starts (testnet partners come from the bot).
func crashPartner(t *testing.T, cfgPath string) string {
	t.Helper()
	cfg, _, err := config.Load(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := ton.NewKeys(strings.Fields(cfg.TON.WalletSeed), cfg.TON.WalletVersion, cfg.TON.Network)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: keys, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed(string(cfg.Pricing.TonUSD), time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreatePartner(context.Background(), "burst")
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.IssueKey(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	return k.Key
}

// finalCount reads how many of ids are completed or refunded (the service
// is down).
func finalCount(t *testing.T, dbPath string, ids []int64) int {
	t.Helper()
	st, err := store.OpenBolt(dbPath, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	_ = st.View(context.Background(), func(tx store.Tx) error {
		for _, id := range ids {
			if o, err := tx.GetOrder(id); err == nil && (o.Status == domain.StatusCompleted || o.Status == domain.StatusRefunded) {
				n++
			}
		}
		return nil
	})
	return n
}

// waitAnyCompleted polls until one of ids is completed.
func waitAnyCompleted(t *testing.T, api *client, ids []int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, id := range ids {
			code, o, err := api.do(context.Background(), "GET", "/orders/"+strconv.FormatInt(id, 10), nil, "")
			if err == nil && code == 200 && o["status"] == "completed" {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no order completed within %s", d)
}

func allFinal(t *testing.T, api *client, ids []int64) bool {
	t.Helper()
	for _, id := range ids {
		code, o, err := api.do(context.Background(), "GET", "/orders/"+strconv.FormatInt(id, 10), nil, "")
		if err != nil || code != 200 {
			return false
		}
		if s := o["status"]; s != "completed" && s != "refunded" {
			return false
		}
	}
	return true
}

// verifyBurst checks every order against the chain and the ledger.
func verifyBurst(t *testing.T, st store.Store, chain *simchain.Chain, wallet string, fs *fragmentsim.Server, ids []int64, users map[int64]string) (completed, refunded int) {
	t.Helper()
	txs, err := chain.Transactions(wallet)
	if err != nil {
		t.Fatal(err)
	}
	taken, refused := map[string]int{}, map[string]int{}
	for _, tx := range txs {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn || tx.IO.Out == nil {
			continue
		}
		list, err := tx.IO.Out.ToSlice()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			im := m.AsInternal()
			h := hex.EncodeToString(im.Body.Hash())
			if im.DstAddr.Equals(crashRefuser) {
				refused[h]++
			} else {
				taken[h]++
			}
		}
	}
	type count struct{ taken, refused int }
	byUser := map[string]count{}
	for _, r := range fs.Requests() {
		n := taken[r.PayloadHash] + refused[r.PayloadHash]
		if n > 1 {
			t.Errorf("Fragment request %s (%s) paid %d times", r.ReqID, r.Username, n)
		}
		c := byUser[r.Username]
		c.taken += taken[r.PayloadHash]
		c.refused += refused[r.PayloadHash]
		byUser[r.Username] = c
	}
	refunds := map[int64]int{}
	err = st.View(context.Background(), func(tx store.Tx) error {
		if err := tx.ForEachLedger(func(e *domain.LedgerEntry) error {
			if e.Type == domain.LedgerRefund {
				refunds[e.OrderID]++
			}
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			o, err := tx.GetOrder(id)
			if err != nil {
				t.Errorf("acknowledged order %d lost: %v", id, err)
				continue
			}
			c := byUser[users[id]]
			switch o.Status {
			case domain.StatusCompleted:
				completed++
				if c.taken != 1 || c.refused != 0 || refunds[id] != 0 {
					t.Errorf("order %d completed with %d payments taken, %d refused, %d refunds; want 1, 0, 0", id, c.taken, c.refused, refunds[id])
				}
			case domain.StatusRefunded:
				refunded++
				if c.taken != 0 || c.refused > 1 || refunds[id] != 1 {
					t.Errorf("order %d refunded with %d payments taken, %d refused, %d refunds; want 0, at most 1, 1 (%s)", id, c.taken, c.refused, refunds[id], o.FailureReason)
				}
			default:
				t.Errorf("order %d is %s", id, o.Status)
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
		t.Fatalf("integrity violations:\n%s", strings.Join(rep.Violations, "\n"))
	}
	return completed, refunded
}
