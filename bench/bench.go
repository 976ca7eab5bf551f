// Package bench is the `openmoney bench` command: it starts the service
// in-process on a temporary store in sandbox mode and measures it against
// baselines taken on the same machine in the same run (a bare net/http
// handler, raw bbolt batch puts, the same lookups at 10 k orders), printing
// a table of ratios and their targets, or JSON with -json. With -store
// postgres the service's stores are fresh schemas on a PostgreSQL server
// (-dsn); the baselines stay the same.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg/pgserver"
)

// smallSet is the order count of the reference lookup measurement.
const smallSet = 10_000

// benchPartners is how many partners the loaded orders are spread over.
const benchPartners = 97

// options are the parsed flags.
type options struct {
	orders   int
	duration time.Duration
	json     bool
	quick    bool
	workers  int
	rate     int
	keep     bool
	store    string // storeBolt | storePostgres
	dsn      string // PostgreSQL server for storePostgres
	profile  string // directory for CPU profiles of the measured HTTP phases
	child    restartArgs
	// burst rows: orders in the v5r1 and v4r2 bursts (0 skips one), the
	// block interval, and whether only they run
	burst, burstV4 int
	block          time.Duration
	deliveryOnly   bool
}

// Main runs `openmoney bench` with args (the arguments after "bench").
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.orders, "orders", 1_000_000, "orders in the store for the lookup, restart and memory rows (postgres: 200000)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per side of each HTTP row, in 3 alternating rounds (and the payment stream; lookups: D/2 warm-up + D/2 timed per kind and store)")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.BoolVar(&o.quick, "quick", false, "smoke test: -orders 20000 -duration 1s -burst 40 -burst-v4r2 4 -block 500ms unless given")
	fs.IntVar(&o.workers, "workers", 64, "concurrent HTTP clients (keep-alive connections) and baseline goroutines")
	fs.IntVar(&o.rate, "rate", 100, "sandbox payments per second in the payment-latency stream")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary stores (directory, PostgreSQL schemas) and print where they are")
	fs.StringVar(&o.store, "store", storeBolt, "store the service runs on: bbolt or postgres (baselines are the same either way)")
	fs.StringVar(&o.dsn, "dsn", "", "PostgreSQL server for -store postgres, a schema per store is created in it and dropped (default $"+dsnEnv+"; empty: start a throwaway server from the installed binaries)")
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the first round of each measured HTTP phase (get-ours.pprof, get-base.pprof, post-ours.pprof, post-base-<delay>.pprof) into this directory")
	fs.IntVar(&o.burst, "burst", 1000, "paid orders in the v5r1 burst-delivery rows (0: skip)")
	fs.IntVar(&o.burstV4, "burst-v4r2", 1000, "paid orders in the v4r2 burst-delivery row (0: skip; 4 payments a block: about 0.8 s per order)")
	fs.DurationVar(&o.block, "block", 5*time.Second, "block interval of the simulated chain in the burst rows")
	fs.BoolVar(&o.deliveryOnly, "delivery-only", false, "run only the burst-delivery rows")
	fs.StringVar(&o.child.Store, "restart-store", storeBolt, "internal")
	fs.StringVar(&o.child.Path, "restart-child", "", "internal: run as the restarted service over this store")
	fs.StringVar(&o.child.Key, "restart-key", "", "internal")
	fs.Int64Var(&o.child.Order, "restart-order", 0, "internal")
	fs.Int64Var(&o.child.Stride, "restart-stride", 1, "internal")
	fs.Int64Var(&o.child.MaxID, "restart-max", 1, "internal")
	fs.IntVar(&o.child.Lookups, "restart-lookups", 0, "internal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	if o.child.Path != "" {
		if o.child.Path == "-" {
			o.child.Path = os.Getenv(childDSNEnv)
		}
		r, err := restartChild(ctx, o.child)
		if err != nil {
			return err
		}
		return writeJSONLine(stdout, r)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["dsn"] {
		o.dsn = os.Getenv(dsnEnv) // not the flag's default: -h would print a password
	}
	switch o.store {
	case storeBolt:
	case storePostgres:
		if !set["orders"] {
			o.orders = pgDefaultOrders
		}
	default:
		return fmt.Errorf("bench: -store must be %s or %s, not %q", storeBolt, storePostgres, o.store)
	}
	if o.quick {
		if !set["orders"] {
			o.orders = 20_000
		}
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["burst"] {
			o.burst = 40
		}
		if !set["burst-v4r2"] {
			o.burstV4 = 4
		}
		if !set["block"] {
			o.block = 500 * time.Millisecond
		}
	}
	if o.burst < 0 || o.burstV4 < 0 || o.block <= 0 {
		return errors.New("bench: -burst and -burst-v4r2 must not be negative, -block must be positive")
	}
	if o.orders <= smallSet {
		return fmt.Errorf("bench: -orders must be more than %d (the reference lookup set)", smallSet)
	}
	if o.duration <= 0 || o.workers <= 0 || o.rate <= 0 {
		return errors.New("bench: -duration, -workers and -rate must be positive")
	}
	rep, err := run(ctx, o, stderr)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(stdout, rep)
	}
	return writeTable(stdout, rep)
}

// writeJSONLine writes v as one line of JSON (the child's answer).
func writeJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// run performs every measurement and builds the report.
func run(ctx context.Context, o options, stderr io.Writer) (*Report, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	started := time.Now()
	var srv *pgserver.Server
	if o.store == storePostgres && o.dsn == "" {
		log.Info("starting a throwaway PostgreSQL server (fsync and synchronous commit on, pg_stat_statements loaded)")
		var err error
		srv, err = pgserver.Start(pgserver.Options{Durable: true, Settings: map[string]string{
			"shared_buffers": "256MB", "shared_preload_libraries": "pg_stat_statements"}})
		if err != nil {
			return nil, fmt.Errorf("bench: -store postgres without -dsn starts its own server, which failed (install the PostgreSQL server package, or pass -dsn): %w", err)
		}
		defer srv.Stop()
		o.dsn = srv.DSN
	}
	ss, err := newStores(o.store, o.dsn, o.keep && srv == nil, log)
	if err != nil {
		return nil, err
	}
	defer ss.cleanup()
	rep := &Report{Store: o.store, Orders: o.orders, Duration: o.duration.String(), Workers: o.workers, CPUs: runtime.NumCPU(), MaxProcs: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), StartedAt: started.UTC().Truncate(time.Second)}
	if o.store == storePostgres {
		note, err := ss.serverNote(ctx, srv != nil)
		if err != nil {
			return nil, err
		}
		rep.Notes = append(rep.Notes, note)
	}

	if !o.deliveryOnly {
		if o.store == storePostgres {
			if err := runServicePG(ctx, o, ss, newPGProbe(ctx, o.dsn, srv), log, rep); err != nil {
				return nil, err
			}
		} else if err := runService(ctx, o, ss, log, rep); err != nil {
			return nil, err
		}
		if err := runDataset(ctx, o, ss, log, rep, stderr); err != nil {
			return nil, err
		}
	}
	if err := runDelivery(ctx, o, ss, log, rep); err != nil {
		return nil, err
	}
	rep.AllPass = true
	for _, r := range rep.Rows {
		rep.AllPass = rep.AllPass && r.Pass
	}
	rep.Elapsed = time.Since(started).Round(100 * time.Millisecond).String()
	return rep, nil
}

// runService measures the HTTP rows and the payment latency on a fresh
// store with the service and its background loops running.
func runService(ctx context.Context, o options, ss *stores, log *slog.Logger, rep *Report) error {
	loc, err := ss.create(ctx, "service")
	if err != nil {
		return err
	}
	cfg := benchConfig(o.store, loc)
	st, s, err := openShop(ctx, cfg, false, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	sv, err := startService(ctx, s, cfg, true)
	if err != nil {
		return err
	}
	defer sv.close()
	p, key, err := newPartner(ctx, s, "bench")
	if err != nil {
		return err
	}
	ref := "invoice-42"
	ord, _, err := s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus",
		Quantity: 100, ClientReference: &ref})
	if err != nil {
		return fmt.Errorf("bench: order: %w", err)
	}

	log.Info("measuring GET /orders/{id} against a bare handler", "workers", o.workers, "duration", o.duration)
	ours, base, rounds, err := benchGetOrder(ctx, sv, key, ord.ID, o.workers, o.duration, profiler(o.profile))
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows, newRow("GET /orders/{id}", "req/s", ours, base, target{"ratio", ">=", 0.6},
		"auth + rate limit + store read + JSON + access log (JSON to io.Discard) vs a bare handler writing the same headers and bytes; loopback, keep-alive; "+rounds))

	log.Info("measuring durable POST /orders/stars against raw bbolt DB.Batch puts", "workers", o.workers, "duration", o.duration)
	ours, base, size, baseNote, err := benchCreateOrder(ctx, sv, p.ID, key, ss.dir, o.workers, o.duration, profiler(o.profile))
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows, newRow("POST /orders/stars durable", "orders/s", ours, base, target{"ratio", ">=", 0.5},
		"each with its own Idempotency-Key, fsync before the answer (group commit), vs raw bbolt DB.Batch puts of a "+strconv.Itoa(size)+
			"-byte record (the stored order's size) from the same number of goroutines, fsync on, credited with its best batch delay ("+baseNote+")"))

	log.Info("measuring sandbox transfer → paid latency", "rate", o.rate, "duration", o.duration)
	lat, err := benchPayments(ctx, s, []int64{p.ID}, o.rate, o.duration)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("%d payments at %d/s, shop-level SandboxTransfer then polling the order (every 1 ms, then every tenth of the time waited, at most 20 ms); background loops running", len(lat), o.rate)
	rep.Rows = append(rep.Rows,
		newRow("transfer → paid p50", "ms", ms(quantile(lat, 0.5)), 0, target{"ours", "<=", 1000}, ""),
		newRow("transfer → paid p99", "ms", ms(quantile(lat, 0.99)), 0, target{"ours", "<=", 1000}, note))
	return nil
}

// loadedStore is a store holding a bench dataset, with its shop.
type loadedStore struct {
	st     store.Store
	s      *shop.Shop
	ds     *dataset
	loc    string
	key    string // partner 0's API key
	closed bool
}

// openDataset creates a store named name with the bench partners and no
// orders yet. Loading skips fsync (see flush); reads are unaffected.
func openDataset(ctx context.Context, o options, ss *stores, name string) (*loadedStore, error) {
	loc, err := ss.create(ctx, name)
	if err != nil {
		return nil, err
	}
	st, s, err := openShop(ctx, benchConfig(o.store, loc), true, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	ls := &loadedStore{st: st, s: s, loc: loc,
		ds: &dataset{serviceAdr: s.ServiceAddress(), base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if _, err := s.Memo(ctx, domain.KindStars, 1); err != nil { // the store's memo key, before the orders
		ls.close()
		return nil, err
	}
	ls.ds.memo = func(id int64) string {
		m, _ := s.Memo(ctx, domain.KindStars, id) // the key is cached: no store access
		return m
	}
	for i := range benchPartners {
		p, k, err := newPartner(ctx, s, "bench partner "+strconv.Itoa(i))
		if err != nil {
			ls.close()
			return nil, err
		}
		ls.ds.partners = append(ls.ds.partners, p.ID)
		if i == 0 {
			ls.key = k
		}
	}
	return ls, nil
}

// load fills the store up to n orders and flushes it: loading skips fsync,
// so the kernel would otherwise still be writing the pages back while the
// lookups run (a gigabyte at 1 M orders: CPU and disk taken from the timed
// loop, and only at the big size), which a running service, fsyncing every
// commit, never sees.
func (ls *loadedStore) load(ctx context.Context, n int64, bar *progress) error {
	bar.resume(ls.ds.n)
	if err := ls.ds.load(ctx, ls.st, n, bar); err != nil {
		return err
	}
	bar.pause()
	if err := flushStore(ctx, ls.st); err != nil {
		return fmt.Errorf("bench: flush %d orders: %w", n, err)
	}
	return nil
}

func (ls *loadedStore) close() error {
	if ls == nil || ls.closed {
		return nil
	}
	ls.closed = true
	return ls.st.Close()
}

// runDataset loads the small set (10 k orders) and the big one (N, with a
// stop at N/10 for a note) into two stores, times the lookups on both in
// alternating rounds, then restarts the service over the big one.
func runDataset(ctx context.Context, o options, ss *stores, log *slog.Logger, rep *Report, stderr io.Writer) error {
	small, err := openDataset(ctx, o, ss, "small")
	if err != nil {
		return err
	}
	defer small.close()
	big, err := openDataset(ctx, o, ss, "orders")
	if err != nil {
		return err
	}
	defer big.close()
	if err := small.load(ctx, smallSet, newProgress(stderr, "loading the small set", smallSet)); err != nil {
		return err
	}
	bar := newProgress(stderr, "loading orders", int64(o.orders))
	lookDur := max(o.duration/2, 200*time.Millisecond)
	// A middle size, when it fits, shows where the cost steps up: once the
	// order pages outgrow the CPU caches it stays flat up to N.
	var mid *lookupResult
	if midSet := int64(o.orders) / 10; midSet >= 10*smallSet {
		if err := big.load(ctx, midSet, bar); err != nil {
			return err
		}
		log.Info("timing lookups", "orders", midSet)
		m, err := big.ds.benchLookups(ctx, big.s, midSet, lookDur)
		if err != nil {
			return err
		}
		mid = &m
	}
	if err := big.load(ctx, int64(o.orders), bar); err != nil {
		return err
	}
	log.Info("timing lookups in alternating rounds", "orders", o.orders, "against", smallSet, "rounds", lookupRounds)
	rawOf := func(st store.Store) *store.Bolt { b, _ := st.(*store.Bolt); return b }
	bigR, smallR, roundsNote, err := compareLookups(ctx, sizedShop{big.ds, big.s, int64(o.orders), rawOf(big.st)},
		sizedShop{small.ds, small.s, smallSet, rawOf(small.st)}, lookDur)
	if err != nil {
		return err
	}
	label := func(what string) string { return what + " " + kilo(o.orders) + "/10k" }
	lookupTarget := target{"ratio", "<=", 1.5}
	rep.Rows = append(rep.Rows,
		newRow(label("order by id"), "µs", us(bigR.byID), us(smallR.byID), lookupTarget, ""),
		newRow(label("order by memo"), "µs", us(bigR.byMemo), us(smallR.byMemo), lookupTarget, ""),
		newRow(label("orders by reference"), "µs", us(bigR.byRef), us(smallR.byRef), lookupTarget, ""),
		newRow(label("list page of 20"), "µs", us(bigR.list), us(smallR.list), lookupTarget,
			fmt.Sprintf("shop-level calls (what the handlers call, no HTTP), single goroutine, random orders; the %s-order and the 10k-order store (baseline) each warmed up for D/2 untimed, then timed in %d alternating rounds of D/%d, medians compared; %s",
				kilo(o.orders), lookupRounds, 2*lookupRounds, roundsNote)))
	if mid != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("lookups at %s orders: by id %.2f µs, by memo %.2f µs, by reference %.2f µs, list page %.1f µs",
			kilo(o.orders/10), us(mid.byID), us(mid.byMemo), us(mid.byRef), us(mid.list)))
	}

	fileSize := storeSize(ctx, big.st, big.loc)
	if err := big.close(); err != nil {
		return fmt.Errorf("bench: close store: %w", err)
	}
	if err := small.close(); err != nil {
		return fmt.Errorf("bench: close store: %w", err)
	}
	log.Info("restarting the service over the loaded store", "orders", o.orders, "size_mb", fileSize>>20)
	// The first order of partner index 0 is id len(partners) (ids ≡ 0 mod len).
	r, err := runRestartChild(ctx, restartArgs{Store: o.store, Path: big.loc, Key: big.key, Order: int64(len(big.ds.partners)),
		Stride: int64(len(big.ds.partners)), MaxID: int64(o.orders), Lookups: 200}, stderr)
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows,
		newRow("restart to first GET", "ms", ms(time.Duration(r.RestartNS)), 0, target{"ours", "<=", 2000},
			fmt.Sprintf("%s, build the shop, serve HTTP, first GET answered (%s)", openWhat(o.store, fileSize), r.Mode)),
		newRow("resident memory after restart", "MB", float64(r.RSSBytes)/(1<<20), 0, target{"ours", "<=", 100},
			fmt.Sprintf("VmRSS after the first GET and %d more (%s)", r.Lookups, r.Mode)))
	return nil
}

// openWhat says what the restart opens.
func openWhat(kind string, size int64) string {
	if kind == storePostgres {
		return fmt.Sprintf("open a new pool to the %d MB schema (migrations checked)", size>>20)
	}
	return fmt.Sprintf("open the %d MB store", size>>20)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func kilo(n int) string {
	switch {
	case n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
