package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// benchConfig is the embedded sandbox default with the store of kind at loc
// (a bbolt file or a PostgreSQL DSN), an ephemeral loopback port and a rate
// limit no benchmark reaches.
func benchConfig(kind, loc string) *config.Config {
	cfg := config.Default()
	cfg.Store.Driver = kind
	if kind == storePostgres {
		cfg.Store.DSN = loc
	} else {
		cfg.Store.Path = loc
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.API.RateLimit = config.RateLimit{PerSecond: 1e9, Burst: 1_000_000_000}
	return cfg
}

// accessLogger is the API's logger in the bench: JSON, as in production, but
// to io.Discard so the encoding cost counts and the terminal stays quiet.
func accessLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// openShop opens cfg's store (openStore; bulk for loading) and wires a
// sandbox shop the way main does: sandbox chain, sandbox provider, fixed
// rate, seed kept in the store.
func openShop(ctx context.Context, cfg *config.Config, bulk bool, log *slog.Logger) (store.Store, *shop.Shop, error) {
	loc := cfg.Store.Path
	if cfg.Store.Driver == storePostgres {
		loc = cfg.Store.DSN
	}
	st, err := openStore(ctx, cfg.Store.Driver, loc, bulk)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: open store: %w", err)
	}
	s, err := newShop(ctx, cfg, st, log)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, s, nil
}

func newShop(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*shop.Shop, error) {
	seed, err := shop.SandboxSeed(ctx, st) // main's, so a restarted service derives the same addresses
	if err != nil {
		return nil, fmt.Errorf("bench: wallet seed: %w", err)
	}
	keys, err := ton.NewKeys(seed, cfg.TON.WalletVersion, cfg.TON.Network)
	if err != nil {
		return nil, fmt.Errorf("bench: keys: %w", err)
	}
	sb := ton.NewSandbox(store.SandboxLog{Store: st}, nil)
	s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: keys, Chain: sb, Sandbox: sb,
		Provider: fulfil.Sandbox{}, Rates: pricing.NewFixed(string(cfg.Pricing.TonUSD), time.Now()),
		Log: log, Version: "bench"})
	if err != nil {
		return nil, fmt.Errorf("bench: shop: %w", err)
	}
	return s, nil
}

// service is the API served over real loopback HTTP, optionally with the
// shop's background loops running.
type service struct {
	shop    *shop.Shop
	srv     *http.Server
	url     string
	cancel  context.CancelFunc
	runDone chan struct{}
}

// startService serves api.NewServer on 127.0.0.1:0 and, when run is set,
// runs shop.Run until close.
func startService(ctx context.Context, s *shop.Shop, cfg *config.Config, run bool) (*service, error) {
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	sv := &service{shop: s, url: "http://" + ln.Addr().String() + api.BasePath, runDone: make(chan struct{})}
	sv.srv = &http.Server{Handler: api.NewServer(s, cfg, accessLogger()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = sv.srv.Serve(ln) }()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sv.cancel = cancel
	if run {
		go func() { defer close(sv.runDone); _ = s.Run(runCtx) }()
	} else {
		close(sv.runDone)
	}
	return sv, nil
}

// close stops the HTTP server and the background loops.
func (sv *service) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := sv.srv.Shutdown(ctx)
	sv.cancel()
	<-sv.runDone
	if err != nil {
		return fmt.Errorf("bench: shutdown: %w", err)
	}
	return nil
}

// newPartner creates a partner and issues its API key.
func newPartner(ctx context.Context, s *shop.Shop, name string) (*domain.Partner, string, error) {
	p, err := s.CreatePartner(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("bench: partner: %w", err)
	}
	k, err := s.IssueKey(ctx, p.ID)
	if err != nil {
		return nil, "", fmt.Errorf("bench: key: %w", err)
	}
	return p, k.Key, nil
}
