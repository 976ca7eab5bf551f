// Command openmoney is The Open Money service: the partner REST API, the
// Telegram bot, the TON payment listener and delivery, over one store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/bench"
	"github.com/theopenmoney/openmoney/bot"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/fulfil/fragment"
	"github.com/theopenmoney/openmoney/fulfil/manual"
	"github.com/theopenmoney/openmoney/metrics"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/ton"
	"github.com/theopenmoney/openmoney/webhook"
)

// version is the module version from the build info (version.go): what
// /health, the start-up line and the webhook User-Agent show.
var version = readBuildInfo().Version

// gcPercent is the garbage collector's target when GOGC is not set: the
// live heap is small (orders live in the store's mmap), so at Go's default
// the collector runs far more often than the heap needs. The measured gain
// and how to override it: docs/OPERATIONS.md "Runtime and store tuning".
const gcPercent = 400

// procsPerCPU is how many Go schedulers (GOMAXPROCS) run per CPU when
// GOMAXPROCS is not set: the durable writer spends most of its time in
// fdatasync, and with spare Ps it resumes at once instead of queueing
// behind the requests the previous commit released. Measured gain and
// override: docs/OPERATIONS.md.
const procsPerCPU = 2

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(procsPerCPU * runtime.GOMAXPROCS(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code := 1
		var ee exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(os.Stderr, "openmoney:", err)
		os.Exit(code)
	}
}

// exitError carries a process exit code (2 = bad configuration or usage).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

const usage = `usage:
  openmoney [-config FILE]           run the service (API, bot, TON listener, delivery)
  openmoney version                  print the version
  openmoney check [-config FILE]     verify the store's money invariants (read-only)
  openmoney wallet new               a fresh 24-word service wallet and its addresses (store it offline)
  openmoney ton-check [-config FILE] connect to testnet/mainnet: wallet, balance, seqno, cursor, lag
  openmoney sweep [-config FILE] [-dry-run=false] [-reserve NANO]
                                     move top-up wallet balances to the service wallet (dry run by default)
  openmoney migrate [-config FILE]   apply pending PostgreSQL schema migrations (store.driver postgres)
  openmoney import -from FILE [-config FILE]
                                     copy a bbolt store into the configured, empty PostgreSQL store
  openmoney export -to FILE [-config FILE]
                                     copy the configured store into a new bbolt file
  openmoney backup -to FILE [-config FILE] [-url URL]
                                     a verified copy of the bbolt store, taken live (service running,
                                     admin token needed) or from the stopped service's file
  openmoney restore -from FILE [-config FILE]
                                     put a verified backup in place of the stopped service's store
  openmoney bench [-orders N] [-duration D] [-json] [-quick]
                                     measure the service against baselines on this machine (see docs/PERFORMANCE.md)
`

// Limits of the API's HTTP server (docs/OPERATIONS.md, "HTTP limits"). A
// request's headers and body must arrive within httpReadTimeout (the API
// reads every body whole before routing it); after that a handler is
// bounded by httpWriteTimeout, and a route that runs or streams for longer
// moves its own write deadline (api's longWrite, http.ResponseController).
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 15 * time.Second
	httpWriteTimeout      = 60 * time.Second
	httpIdleTimeout       = 60 * time.Second
	httpMaxHeaderBytes    = 16 << 10
)

// newHTTPServer is the API's http.Server with the limits above.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
	}
}

// run is main without the process: tests call it exactly as main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, getenv, stdout, stderr, nil)
}

// runWith is run with the chain the service reads and pays through
// replaced by chain when not nil (testnet and mainnet: otherwise the
// liteservers of ton.config_url); the crash tests run the service over a
// simulated chain this way.
func runWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, chain chainAPI) error {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, readBuildInfo())
			return nil
		case "check":
			return runCheck(ctx, args[1:], getenv, stdout, stderr)
		case "ton-check":
			return runTonCheck(ctx, args[1:], getenv, stdout, stderr)
		case "sweep":
			return runSweep(ctx, args[1:], getenv, stdout, stderr)
		case "migrate":
			return runMigrate(ctx, args[1:], getenv, stdout, stderr)
		case "import":
			return runImport(ctx, args[1:], getenv, stdout, stderr)
		case "export":
			return runExport(ctx, args[1:], getenv, stdout, stderr)
		case "wallet":
			return runWallet(ctx, args[1:], stdout, stderr)
		case "backup":
			return runBackup(ctx, args[1:], getenv, stdout, stderr)
		case "restore":
			return runRestore(ctx, args[1:], getenv, stdout, stderr)
		case "bench":
			return bench.Main(ctx, args[1:], stdout, stderr)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	fs := flag.NewFlagSet("openmoney", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default ./config.yaml, else the embedded sandbox default)")
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	if fs.NArg() > 0 {
		return exitError{2, fmt.Errorf("unknown command %q\n%s", fs.Arg(0), usage)}
	}
	cfg, source, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	return serve(ctx, cfg, source, log, stdout, chain)
}

func loadConfig(path string, getenv func(string) string) (*config.Config, string, error) {
	cfg, source, err := config.Load(path, getenv)
	if err != nil {
		return nil, source, exitError{2, err}
	}
	if err := cfg.Validate(); err != nil {
		return nil, source, exitError{2, fmt.Errorf("config %s: %w", source, err)}
	}
	return cfg, source, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// app is the wired service.
type app struct {
	cfg   *config.Config
	store store.Store
	shop  *shop.Shop
	bot   *bot.Bot
	// metrics is nil when metrics.listen is empty.
	metrics *metrics.Metrics
	// payments is the Fragment provider, whose payments on their way /health shows.
	payments *fragment.Provider
	// background runs beside the shop's loops until shutdown, on every
	// instance (rate refresh, provider probe).
	background []func(context.Context) error
	// leader runs beside the shop's loops on the instance that runs them
	// (with PostgreSQL, the leader): the Fragment payments, which sign the
	// wallet's messages and record their outcomes.
	leader []func(context.Context) error
}

// build opens the store and wires every part from the config; chain, when
// not nil, replaces the liteservers.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger, chain chainAPI) (*app, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, store: st}
	ok := false
	defer func() {
		if !ok {
			st.Close()
		}
	}()
	seed, err := walletSeed(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	keys, err := ton.NewKeys(seed, cfg.TON.WalletVersion, cfg.TON.Network)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics.Listen != "" {
		a.metrics = metrics.New()
	}
	var listener *ton.Listener
	deps := shop.Deps{Config: cfg, Store: st, Keys: keys, Log: log, Version: version}
	if cfg.Sandbox() {
		sb := ton.NewSandbox(store.SandboxLog{Store: st}, nil)
		deps.Chain, deps.Sandbox = sb, sb
	} else {
		if _, err := ton.ParseBlockID(cfg.TON.TrustedBlock); cfg.TON.TrustedBlock != "" && err != nil {
			return nil, exitError{2, fmt.Errorf("ton.trusted_block: %w", err)}
		}
		if chain == nil {
			chain = &chainClient{cfg: ton.DialConfig{Network: cfg.TON.Network, ConfigURL: cfg.TON.ConfigURL, TrustedBlock: cfg.TON.TrustedBlock}}
		}
		opts := ton.ListenerOptions{Network: cfg.TON.Network, Log: log,
			Watched: []string{keys.ServiceAddressRaw()}, Dial: chain.dial}
		var archive func(context.Context) (ton.TxLister, error) // the payer's history reads
		if cfg.TON.ArchiveConfigURL != "" {
			arch := &chainClient{cfg: ton.DialConfig{Network: cfg.TON.Network, ConfigURL: cfg.TON.ArchiveConfigURL, TrustedBlock: cfg.TON.TrustedBlock}}
			opts.Archive = arch.dial
			archive = func(ctx context.Context) (ton.TxLister, error) { return arch.dial(ctx) }
		}
		listener = ton.NewListener(opts)
		deps.Chain = listener
		deps.Wallet = walletBalance{c: chain, addr: keys.Wallet().WalletAddress()}
		deps.Jettons = chainJettons{c: chain}
		if cfg.Fulfillment.Provider == "fragment" {
			payer, err := fragment.NewWalletPayer(keys.Wallet(), chain, fragment.WalletPayerOptions{
				Testnet: cfg.TON.Network == ton.NetworkTestnet, Log: log, Archive: archive})
			if err != nil {
				return nil, fmt.Errorf("fragment payer: %w", err)
			}
			f := cfg.Fulfillment.Fragment
			// An operator's /fragment replaces the session at runtime: the
			// provider asks the shop (built below, before any request) each time.
			session := func() (string, string) {
				if a.shop == nil {
					return "", ""
				}
				return a.shop.FragmentSession()
			}
			var observer fragment.Observer
			if a.metrics != nil {
				observer = a.metrics
			}
			prov, err := fragment.New(fragment.Options{BaseURL: f.BaseURL, Hash: f.Hash, Cookies: f.Cookies, Session: session, Concurrency: f.Concurrency,
				Wallet: payer, Records: shop.PayerRecords{Store: st}, Log: log, Observer: observer})
			if err != nil {
				return nil, exitError{2, fmt.Errorf("fulfillment.fragment: %w", err)}
			}
			deps.Provider = prov
			a.payments = prov
			a.background = append(a.background, func(ctx context.Context) error { return prov.Run(ctx, time.Minute) })
			a.leader = append(a.leader, prov.RunPayments)
		}
	}
	if cfg.Fulfillment.Provider == "manual" {
		deps.Provider = manual.Provider{} // an operator delivers: docs/OPERATIONS.md
	}
	if deps.Provider == nil {
		if cfg.Fulfillment.Provider != "sandbox" { // config.Validate refuses sandbox outside sandbox mode
			return nil, exitError{2, fmt.Errorf("fulfillment.provider: %s is not available in this build", cfg.Fulfillment.Provider)}
		}
		deps.Provider = fulfil.Sandbox{}
	}
	rates, refresh := rateSource(cfg, log)
	deps.Rates = rates
	if refresh != nil {
		a.background = append(a.background, refresh)
	}
	if a.metrics != nil {
		a.metrics.WatchListener(deps.Chain.Status)
		deps.Observer = a.metrics
	}
	a.shop, err = shop.New(deps)
	if err != nil {
		return nil, err
	}
	if err := a.shop.LoadFragmentSession(ctx); err != nil {
		log.Warn("the Fragment session an operator set cannot be used; using the configured one", "err", err)
	}
	if a.payments != nil {
		a.shop.RegisterHealth("fragment_payments", a.payments.PaymentsHealth)
	}
	if a.metrics != nil {
		a.metrics.WatchParked(a.shop.ParkedCount)
		a.metrics.WatchHolds(a.shop.HeldDeliveries)
		if a.payments != nil {
			a.metrics.WatchPayments(func() (int, int) {
				_, v := a.payments.PaymentsHealth()
				st := v.(fragment.PaymentsStatus)
				return st.OpenBatches, st.InFlight
			})
		}
		a.metrics.WatchFloat(a.shop.TONFloat)
	}
	a.shop.RegisterNotifier(domain.ChannelWebhook, webhook.NewSender(a.shop, webhook.Options{Log: log}))
	warnPublicURL(cfg, a.shop.PublicURL(), log)
	if listener != nil {
		addrs, err := a.shop.WatchedAddresses(ctx)
		if err != nil {
			return nil, err
		}
		listener.Watch(addrs...)
	}
	if n := len(cfg.Telegram.Operators); n > 0 && cfg.Telegram.Token == "" {
		log.Warn("telegram.operators is set but the bot is off (no telegram.token): operators get no alerts", "operators", n)
	}
	if cfg.Telegram.Token != "" {
		a.bot, err = bot.New(bot.Options{Token: cfg.Telegram.Token, APIURL: cfg.Telegram.APIURL, Shop: a.shop, Log: log})
		if err != nil {
			return nil, fmt.Errorf("telegram: %w", err)
		}
	}
	ok = true
	return a, nil
}

// warnPublicURL warns at start when real money runs without
// http.public_url: checkout links (link, the URL they get instead) would
// point at the listen address, out of customers' reach.
func warnPublicURL(cfg *config.Config, link string, log *slog.Logger) {
	if cfg.Sandbox() || cfg.HTTP.PublicURL != "" {
		return
	}
	log.Warn(fmt.Sprintf("http.public_url is unset on %s: every order's checkout_url points at %s, which customers cannot reach; "+
		"set http.public_url to the https address of this service (docs/CHECKOUT.md)", cfg.TON.Network, link),
		"key", "http.public_url", "network", cfg.TON.Network)
}

// rateSource is the TON/USD rate: fixed (pricing.ton_usd > 0) or live from
// pricing.rate_url with its refresh loop. A fixed rate outside sandbox is
// allowed but warned about at start: prices then ignore the market.
func rateSource(cfg *config.Config, log *slog.Logger) (shop.Rates, func(context.Context) error) {
	if cfg.Pricing.TonUSD.Rat().Sign() > 0 {
		if !cfg.Sandbox() {
			log.Warn(fmt.Sprintf("pricing.ton_usd is fixed at %s USD on %s: prices will not follow the market; "+
				"set pricing.ton_usd: 0 and pricing.rate_url for a live rate", cfg.Pricing.TonUSD, cfg.TON.Network),
				"key", "pricing.ton_usd", "ton_usd", string(cfg.Pricing.TonUSD), "network", cfg.TON.Network)
		}
		return pricing.NewFixed(string(cfg.Pricing.TonUSD), time.Now()), nil
	}
	live := pricing.NewLive(pricing.LiveOptions{URL: cfg.Pricing.RateURL, Log: log})
	return live, live.Run
}

// walletSeed is the configured seed, or in sandbox mode a seed generated once
// and kept in the store, so sandbox addresses are stable across restarts.
func walletSeed(ctx context.Context, cfg *config.Config, st store.Store) ([]string, error) {
	if s := splitSeed(cfg.TON.WalletSeed); len(s) > 0 {
		return s, nil
	}
	if !cfg.Sandbox() {
		return nil, exitError{2, errors.New("ton.wallet_seed: required for " + cfg.TON.Network)}
	}
	return shop.SandboxSeed(ctx, st)
}

func splitSeed(s string) []string { return strings.Fields(s) }

func serve(ctx context.Context, cfg *config.Config, source string, log *slog.Logger, stdout io.Writer, chain chainAPI) error {
	a, err := build(ctx, cfg, log, chain)
	if err != nil {
		return err
	}
	defer a.store.Close()
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return exitError{2, fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)}
	}
	var apiOpts []api.Option
	if a.metrics != nil {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			ln.Close()
			return exitError{2, fmt.Errorf("metrics.listen %s: %w", cfg.Metrics.Listen, err)}
		}
		apiOpts = append(apiOpts, api.WithObserver(a.metrics))
		a.background = append(a.background, func(ctx context.Context) error {
			return metrics.Serve(ctx, mln, a.metrics.Handler(), log)
		})
	}
	srv := newHTTPServer(api.NewServer(a.shop, cfg, log, apiOpts...))
	mode := "sandbox mode: simulated TON chain, no real money"
	if !cfg.Sandbox() {
		mode = cfg.TON.Network + " mode: real TON"
	}
	docs := "http://" + ln.Addr().String() + api.DocsPath
	if cfg.HTTP.PublicURL != "" {
		docs = strings.TrimSuffix(cfg.HTTP.PublicURL, "/") + api.DocsPath
	}
	log.Info(fmt.Sprintf("openmoney listening on http://%s (%s); API docs at %s", ln.Addr(), mode, docs),
		"addr", ln.Addr().String(), "docs", docs, "network", cfg.TON.Network, "config", source, "store", storeName(cfg),
		"bot", a.bot != nil, "version", version)

	bgCtx, cancelBg := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBg()
	var wg sync.WaitGroup
	// The shop's loops (listener, expiry, delivery, outbox, housekeeping),
	// the Fragment payments and bot polling run on one instance only: with
	// PostgreSQL, the one holding the leader lock (docs/SCALING.md).
	leaderWork := func(ctx context.Context) error {
		var lwg sync.WaitGroup
		lwg.Add(1)
		go func() { defer lwg.Done(); _ = a.shop.Run(ctx) }()
		for _, fn := range a.leader {
			lwg.Add(1)
			go func() {
				defer lwg.Done()
				if err := fn(ctx); err != nil && ctx.Err() == nil {
					log.Error("leader task stopped", "err", err)
				}
			}()
		}
		if a.bot != nil {
			lwg.Add(1)
			go func() {
				defer lwg.Done()
				if err := a.bot.Run(ctx); err != nil && ctx.Err() == nil {
					log.Error("telegram bot stopped", "err", err)
				}
			}()
		}
		lwg.Wait()
		return nil
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.shop.RunLocal(bgCtx) }()
	if cfg.Store.Driver == "postgres" {
		leader := pg.NewLeader(cfg.Store.DSN)
		leader.Log = log
		a.shop.RegisterHealth("leader", func() (bool, any) { return true, map[string]bool{"leader": leader.IsLeader()} })
		go func() { defer wg.Done(); _ = leader.Run(bgCtx, leaderWork) }()
	} else {
		go func() { defer wg.Done(); _ = leaderWork(bgCtx) }()
	}
	for _, fn := range a.background {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(bgCtx); err != nil && bgCtx.Err() == nil {
				log.Error("background task stopped", "err", err)
			}
		}()
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		cancelBg()
		wg.Wait()
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down: finishing in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	cancelBg()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// runCheck: openmoney check [-config FILE] — the integrity check on a
// stopped service's store. Exit 0: OK; 1: violations (one VIOLATION line
// each); 2: the check could not run (config, store missing, held or
// unreadable), one line saying what to do.
func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return exitError{2, err}
	}
	cfg, _, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	var st store.Store
	if cfg.Store.Driver == "postgres" {
		st, err = openStoreReadOnly(ctx, cfg)
	} else {
		st, err = store.OpenBolt(cfg.Store.Path, store.Options{ReadOnly: true, LockTimeout: 2 * time.Second})
	}
	switch {
	case errors.Is(err, store.ErrLocked):
		return exitError{2, fmt.Errorf("cannot check: the store %s is held by the running service; stop it, or check it live with GET /api/v1/admin/integrity", cfg.Store.Path)}
	case errors.Is(err, os.ErrNotExist):
		return exitError{2, fmt.Errorf("cannot check: no store at %s (check store.path)", cfg.Store.Path)}
	case err != nil:
		return exitError{2, fmt.Errorf("cannot check: %w", err)}
	}
	defer st.Close()
	rep, err := shop.Check(ctx, st)
	if err != nil {
		return exitError{2, fmt.Errorf("cannot check: %w", err)}
	}
	fmt.Fprintf(stdout, "store %s: %d partners, %d orders, %d ledger rows (TON %d, USDT %d; each currency's balances checked against its own rows), %d chain transfers seen, %d unmatched deposits, %d parked transfers (%d resolved), %d Fragment payment batches (%d payments)\n",
		storeName(cfg), rep.Partners, rep.Orders, rep.LedgerRows, rep.LedgerRowsIn[domain.CurrencyTON], rep.LedgerRowsIn[domain.CurrencyUSDT],
		rep.SeenTx, rep.Unmatched, rep.Parked+rep.ParkedResolved, rep.ParkedResolved, rep.PayerBatches, rep.PayerMessages)
	if rep.Parked > 0 {
		fmt.Fprintf(stdout, "%d parked transfers wait for the operator (neither lost nor credited): GET /api/v1/admin/parked\n", rep.Parked)
	}
	if len(rep.Violations) > 0 {
		for _, v := range rep.Violations {
			fmt.Fprintln(stdout, "VIOLATION:", v)
		}
		return exitError{1, fmt.Errorf("integrity check failed: %d violations", len(rep.Violations))}
	}
	fmt.Fprintln(stdout, "integrity check: OK (0 violations)")
	return nil
}
