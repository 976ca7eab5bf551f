// Package config loads the service configuration: YAML with unknown keys
// refused, defaults equal to the embedded sandbox default, secrets overridable
// from the environment, and Validate naming the bad key.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the embedded default configuration (sandbox, 127.0.0.1:8080).
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Decimal is an exact decimal number written in YAML as a plain number
// (0.015, 3.6); it is kept as text so no float rounding ever touches money.
type Decimal string

// plainDecimal is what a Decimal may look like: digits with an optional sign
// and fraction. big.Rat alone would also take 0x10, 0b1, 1_000 and 1/3.
var plainDecimal = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// UnmarshalYAML accepts an integer or decimal scalar.
func (d *Decimal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a decimal number, got %s", describe(n))
	}
	s := strings.TrimSpace(n.Value)
	if !plainDecimal.MatchString(s) {
		return fmt.Errorf("must be a decimal number, got %q", n.Value)
	}
	*d = Decimal(s)
	return nil
}

// Rat returns the exact value (0 for an empty Decimal).
func (d Decimal) Rat() *big.Rat {
	r, ok := new(big.Rat).SetString(string(d))
	if !ok {
		return new(big.Rat)
	}
	return r
}

// Config is the whole file. Its key names are part of the product (operators'
// files rely on them); config.example.yaml documents every one.
type Config struct {
	HTTP        HTTP        `yaml:"http"`
	Store       Store       `yaml:"store"`
	Telegram    Telegram    `yaml:"telegram"`
	TON         TON         `yaml:"ton"`
	Fulfillment Fulfillment `yaml:"fulfillment"`
	Pricing     Pricing     `yaml:"pricing"`
	Orders      Orders      `yaml:"orders"`
	API         API         `yaml:"api"`
	Log         Log         `yaml:"log"`
	Admin       Admin       `yaml:"admin"`
	Metrics     Metrics     `yaml:"metrics"`
	// SandboxOpts is the sandbox: section (Sandbox() is the mode test).
	SandboxOpts Sandbox `yaml:"sandbox"`
}

type HTTP struct {
	Listen string `yaml:"listen"`
	// PublicURL is where partners reach the service (https://api.example.com),
	// for links the service prints: the OpenAPI servers list, the docs URL.
	PublicURL string `yaml:"public_url"`
	// TrustedProxies are the CIDRs (or single IPs) of reverse proxies whose
	// X-Forwarded-For / Forwarded headers name the client; empty: the
	// connection's address is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Sandbox holds what only sandbox mode reads.
type Sandbox struct {
	// AllowPublicListen lets a sandbox listen on a non-loopback address,
	// where its unauthenticated partner route is open to anyone who can reach it.
	AllowPublicListen bool `yaml:"allow_public_listen"`
}

type Store struct {
	Driver string `yaml:"driver"` // bbolt | postgres
	Path   string `yaml:"path"`
	DSN    string `yaml:"dsn"`
}

// Admin guards the operator routes under /api/v1/admin.
type Admin struct {
	Token string `yaml:"token"`
}

// Metrics is the Prometheus endpoint, on its own listener.
type Metrics struct {
	Listen string `yaml:"listen"`
}

type Telegram struct {
	Token  string `yaml:"token"`
	APIURL string `yaml:"api_url"`
	// Operators are the Telegram user ids of the service's operators: they
	// get the alerts and may use the operator commands (docs/BOT.md).
	Operators []int64 `yaml:"operators"`
	Alerts    Alerts  `yaml:"alerts"`
}

// Alerts tune the operators' alerts (docs/OPERATIONS.md "Alerts in Telegram").
type Alerts struct {
	// WalletMinTON: alert when the service wallet holds less (0 = off).
	WalletMinTON Decimal `yaml:"wallet_min_ton"`
	// UnmatchedMinTON: unmatched deposits smaller than this raise no alert
	// (comment spam); they are still kept and listed.
	UnmatchedMinTON Decimal `yaml:"unmatched_min_ton"`
	// Refunds within RefundsWindow make a refund spike (0 = off).
	Refunds       int           `yaml:"refunds"`
	RefundsWindow time.Duration `yaml:"refunds_window"`
}

type TON struct {
	Network       string `yaml:"network"`
	WalletSeed    string `yaml:"wallet_seed"`
	WalletVersion string `yaml:"wallet_version"`
	ConfigURL     string `yaml:"config_url"`
	// TrustedBlock is the masterchain block liteserver proofs are anchored
	// at; empty means the liteserver config's validator.init_block.
	TrustedBlock string `yaml:"trusted_block"`
	// ArchiveConfigURL lists archival liteservers, asked for account history
	// the regular ones no longer keep (backfill); empty means none.
	ArchiveConfigURL string `yaml:"archive_config_url"`
	// Jettons are the jettons accepted besides TON.
	Jettons Jettons `yaml:"jettons"`
}

// Jettons lists the accepted jettons (USDT only).
type Jettons struct {
	USDT Jetton `yaml:"usdt"`
}

// Jetton is one accepted jetton. Master unset (nil) means the network's
// default master (docs/TON.md); an empty string turns the jetton off.
type Jetton struct {
	Master *string `yaml:"master"`
}

// MasterOr returns the configured master, def when unset ("" when off).
func (j Jetton) MasterOr(def string) string {
	if j.Master == nil {
		return def
	}
	return strings.TrimSpace(*j.Master)
}

type Fulfillment struct {
	Provider string   `yaml:"provider"`
	Fragment Fragment `yaml:"fragment"`
}

type Fragment struct {
	BaseURL string `yaml:"base_url"`
	Hash    string `yaml:"hash"`
	Cookies string `yaml:"cookies"`
	// Concurrency bounds the Fragment requests (search, page state, init,
	// link) made at once across deliveries (1–256, default 32): lower it
	// when Fragment answers 429 more than rarely.
	Concurrency int `yaml:"concurrency"`
}

type Pricing struct {
	TonUSD Decimal `yaml:"ton_usd"`
	// USDTUSD is the USD value of one USDT that USDT prices are computed
	// with (exact decimal; default 1).
	USDTUSD    Decimal         `yaml:"usdt_usd"`
	RateURL    string          `yaml:"rate_url"`
	FeePercent Decimal         `yaml:"fee_percent"`
	Stars      Stars           `yaml:"stars"`
	PremiumUSD map[int]Decimal `yaml:"premium_usd"`
}

type Stars struct {
	Min        int64   `yaml:"min"`
	Max        int64   `yaml:"max"`
	USDPerStar Decimal `yaml:"usd_per_star"`
}

type Orders struct {
	TTL time.Duration `yaml:"ttl"`
}

type API struct {
	RateLimit RateLimit `yaml:"rate_limit"`
}

type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // auto | text | json
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Parse(bytes.NewReader(defaultYAML))
	if err != nil {
		panic("config: embedded default is invalid: " + err.Error()) // a build defect, caught by tests
	}
	return c
}

// Parse reads YAML over the defaults; unknown keys are errors naming the key.
// Maps merge: premium_usd: {3: 10} changes only the 3-month price.
func Parse(r io.Reader) (*Config, error) {
	c := &Config{}
	if err := decode(bytes.NewReader(defaultYAML), c); err != nil {
		return nil, err
	}
	if err := decode(r, c); err != nil {
		return nil, err
	}
	return c, nil
}

func decode(r io.Reader, c *Config) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		// yaml names neither the key of a wrong-typed value nor the path of an
		// unknown key; find the first bad key ourselves, else use yaml's text.
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) == nil {
			if msg := locate(&doc, reflect.TypeFor[Config](), ""); msg != "" {
				return errors.New("config: " + msg)
			}
		}
		return fmt.Errorf("config: %s", cleanYAMLError(err))
	}
	return nil
}

// cleanYAMLError turns yaml's "line 3: field foo not found in type config.TON"
// into "line 3: unknown key foo", on one line.
func cleanYAMLError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimPrefix(s, "yaml: ")
	lines := strings.Split(s, "\n")
	for k, l := range lines {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, " not found in type "); i >= 0 {
			if j := strings.Index(l, "field "); j >= 0 && j < i {
				l = l[:j] + "unknown key " + l[j+len("field "):i]
			}
		}
		lines[k] = l
	}
	return strings.Join(lines, "; ")
}

// locate walks the YAML tree n along the Go type t (at the dotted key path)
// and describes the first key that cannot be decoded, as
// "line 3: ton.netwrok: unknown key (known: …)"; "" if it finds none.
// It descends only along the (finite) Go type, so it terminates on cyclic
// aliases, and it stops at a mapping's first bad or repeated key.
func locate(n *yaml.Node, t reflect.Type, path string) string {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return ""
		}
		return locate(n.Content[0], t, path)
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil && t.Kind() == reflect.Map {
		n = n.Alias
	}
	if t.Kind() == reflect.Map && n.Kind == yaml.MappingNode {
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
				continue
			}
			key := path + "." + keyName(k.Value)
			if msg := locate(k, t.Key(), key); msg != "" {
				return msg
			}
			if seen[k.Value] {
				return at(k, key, "repeated key")
			}
			seen[k.Value] = true
			if msg := locate(v, t.Elem(), key); msg != "" {
				return msg
			}
		}
		return ""
	}
	if t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
		for i, e := range n.Content {
			if msg := locate(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); msg != "" {
				return msg
			}
		}
		return ""
	}
	if t.Kind() != reflect.Struct {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return at(n, path, problem(n, t, err))
		}
		return ""
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return locate(n.Alias, t, path)
	}
	var names []string
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		names = append(names, name)
		fields[name] = t.Field(i).Type
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		return ""
	case n.Kind != yaml.MappingNode:
		return at(n, path, fmt.Sprintf("must be a mapping with keys %s, got %s", strings.Join(names, ", "), describe(n)))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			continue // merged mappings are left to the decoder's own message
		}
		key := keyName(k.Value)
		if path != "" {
			key = path + "." + key
		}
		ft, ok := fields[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			return at(k, key, "unknown key (known: "+strings.Join(names, ", ")+")")
		}
		if seen[k.Value] {
			return at(k, key, "repeated key")
		}
		seen[k.Value] = true
		if msg := locate(v, ft, key); msg != "" {
			return msg
		}
	}
	return ""
}

// keyName quotes a key that is not plain, so a message stays one clear line.
func keyName(k string) string {
	if k == "" || strings.ContainsFunc(k, func(r rune) bool {
		return !(r == '_' || r == '-' || r == '<' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) {
		return strconv.Quote(k)
	}
	return k
}

// at formats a problem found at node n under the dotted key path.
func at(n *yaml.Node, path, problem string) string {
	if path == "" {
		return fmt.Sprintf("line %d: %s", n.Line, problem)
	}
	return fmt.Sprintf("line %d: %s: %s", n.Line, path, problem)
}

// problem says in words what a value of type t must be.
func problem(n *yaml.Node, t reflect.Type, err error) string {
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return strings.TrimPrefix(err.Error(), "yaml: ") // its own message, e.g. Decimal's
	}
	want := ""
	switch {
	case t == reflect.TypeFor[time.Duration]():
		want = "a duration such as 15m or 1h"
	case t.Kind() == reflect.String:
		want = "a string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		want = "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		want = "a number"
	case t.Kind() == reflect.Map:
		want = "a mapping"
	case t.Kind() == reflect.Bool:
		want = "true or false"
	case t.Kind() == reflect.Slice:
		want = "a list"
	default:
		msg := cleanYAMLError(err)
		if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
			msg = rest
		}
		return msg
	}
	return "must be " + want + ", got " + describe(n)
}

// describe names a YAML value for an error message.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	default:
		return "an alias"
	}
}

// Load reads the config: path if given, else ./config.yaml if it exists,
// else the embedded default; then applies environment overrides for secrets.
// It reports which source it used.
func Load(path string, getenv func(string) string) (*Config, string, error) {
	source := path
	var data []byte
	var err error
	switch {
	case path != "":
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, path, fmt.Errorf("config: %w", err)
		}
	default:
		data, err = os.ReadFile("config.yaml")
		switch {
		case err == nil:
			source = "config.yaml"
		case errors.Is(err, os.ErrNotExist):
			data, source = defaultYAML, "embedded default"
		default:
			return nil, "config.yaml", fmt.Errorf("config: %w", err)
		}
	}
	c, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, source, err
	}
	c.ApplyEnv(getenv)
	return c, source, nil
}

// ApplyEnv overrides secrets, and the listen address, from the environment
// (non-empty values win).
func (c *Config) ApplyEnv(getenv func(string) string) {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&c.Telegram.Token, "TELEGRAM_BOT_TOKEN")
	set(&c.TON.WalletSeed, "TON_WALLET_SEED")
	set(&c.Fulfillment.Fragment.Cookies, "FRAGMENT_COOKIES")
	set(&c.Fulfillment.Fragment.Hash, "FRAGMENT_HASH")
	set(&c.Admin.Token, "OPENMONEY_ADMIN_TOKEN")
	set(&c.Store.DSN, "OPENMONEY_DATABASE_URL")
	set(&c.HTTP.Listen, "OPENMONEY_HTTP_LISTEN")
}

// Sandbox reports whether the service runs on the simulated chain.
func (c *Config) Sandbox() bool { return c.TON.Network == "sandbox" }
