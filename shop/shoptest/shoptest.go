// Package shoptest builds a real shop over a temporary bbolt file, the
// sandbox chain, the sandbox provider and a fixed rate, for tests of the
// packages above the shop (api, bot) and of the shop itself.
package shoptest

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// Seed is a fixed test seed (never funded).
var Seed = strings.Fields("birth pattern then forest walnut then phrase walnut fan pumpkin pattern then cluster blossom verify then forest velvet pond fiction pattern collect then then")

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the current time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Env is a test shop and its parts.
type Env struct {
	Shop    *shop.Shop
	Store   *store.Bolt
	Sandbox *ton.Sandbox
	Keys    *ton.Keys
	Config  *config.Config
	Clock   *Clock // nil when Options.Clock was false
	Path    string
}

// Options tune the test shop.
type Options struct {
	Config   *config.Config // default: config.Default()
	Provider shop.Provider  // default: fulfil.Sandbox{}
	Clock    bool           // inject a settable clock starting 2026-04-16T12:00:00Z
	Path     string         // bbolt file; default: a new temp file
	// Store is the bbolt store to use (Path is then ignored), shared with
	// a part built before the shop (the Fragment provider's records).
	Store    *store.Bolt
	Observer shop.Observer // default: none
	// NotSandbox builds the shop without sandbox mode (SandboxMode false:
	// https-only public webhooks, no sandbox routes); the chain is still
	// the simulated one.
	NotSandbox bool
	// Keys replaces the shared v4r2 test keys (e.g. a v5r1 seed).
	Keys *ton.Keys
	// Chain replaces the sandbox chain as the shop's source of transfers
	// and listener status (the sandbox routes still use the sandbox).
	Chain ton.Source
	// Wallet reads the service wallet's balance (default: none, as in sandbox mode).
	Wallet shop.WalletBalance
}

var keysOnce sync.Once
var keys *ton.Keys

// New builds the environment; the store is closed at test cleanup.
func New(tb testing.TB, opt Options) *Env {
	tb.Helper()
	cfg := opt.Config
	if cfg == nil {
		cfg = config.Default()
	}
	path := opt.Path
	if path == "" {
		path = filepath.Join(tb.TempDir(), "openmoney.db")
	}
	st := opt.Store
	var err error
	if st == nil {
		if st, err = store.OpenBolt(path, store.Options{}); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
	}
	keysOnce.Do(func() {
		keys, err = ton.NewKeys(Seed, "v4r2", ton.NetworkSandbox)
	})
	if err != nil || keys == nil {
		tb.Fatal("keys: ", err)
	}
	k := keys
	if opt.Keys != nil {
		k = opt.Keys
	}
	env := &Env{Store: st, Keys: k, Config: cfg, Path: path}
	now := time.Now
	if opt.Clock {
		env.Clock = NewClock(time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC))
		now = env.Clock.Now
	}
	env.Sandbox = ton.NewSandbox(store.SandboxLog{Store: st}, now)
	prov := opt.Provider
	if prov == nil {
		prov = fulfil.Sandbox{}
	}
	sandbox := env.Sandbox
	if opt.NotSandbox {
		sandbox = nil
	}
	var chain ton.Source = env.Sandbox
	if opt.Chain != nil {
		chain = opt.Chain
	}
	s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: k, Chain: chain, Sandbox: sandbox,
		Provider: prov, Rates: pricing.NewFixed(string(cfg.Pricing.TonUSD), now()), Now: now, Version: "test", Observer: opt.Observer,
		Wallet: opt.Wallet})
	if err != nil {
		tb.Fatal(err)
	}
	env.Shop = s
	return env
}

// Run starts the shop's background loops until the test ends.
func (e *Env) Run(tb testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	local := make(chan struct{})
	go func() { defer close(done); _ = e.Shop.Run(ctx) }()
	go func() { defer close(local); _ = e.Shop.RunLocal(ctx) }()
	tb.Cleanup(func() { cancel(); <-done; <-local })
}

// Partner creates a partner with a key.
func (e *Env) Partner(tb testing.TB) (*domain.Partner, string) {
	tb.Helper()
	p, err := e.Shop.CreatePartner(context.Background(), "test partner")
	if err != nil {
		tb.Fatal(err)
	}
	k, err := e.Shop.IssueKey(context.Background(), p.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return p, k.Key
}

// Check runs the integrity check and fails the test on any violation.
func (e *Env) Check(tb testing.TB) {
	tb.Helper()
	rep, err := shop.Check(context.Background(), e.Store)
	if err != nil {
		tb.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		tb.Fatalf("integrity check: %d violations:\n%s", len(rep.Violations), strings.Join(rep.Violations, "\n"))
	}
}

// ReportLatency reports p50 and p99 of lat as benchmark metrics.
func ReportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := append([]time.Duration(nil), lat...)
	slices.Sort(s)
	b.ReportMetric(float64(s[len(s)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(s[(len(s)*99)/100].Microseconds()), "p99-µs")
}

// LogBuffer is an io.Writer safe for concurrent use, for tests that collect a
// logger's lines and assert what they never contain (keys, tokens, secrets).
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
