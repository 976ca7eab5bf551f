package config

import (
	"bytes"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// seed24 is a syntactically valid 24-word seed (Validate counts words only).
var seed24 = strings.TrimSpace(strings.Repeat("abandon ", 24))

// noEnv is a getenv that sees an empty environment.
func noEnv(string) string { return "" }

// parse overlays src on the defaults.
func parse(t *testing.T, src string) (*Config, error) {
	t.Helper()
	return Parse(strings.NewReader(src))
}

// spec is the documented configuration (docs/API.md, "Running it";
// config.example.yaml), except pricing.ton_usd: the embedded default pins
// 3.6 so sandbox works offline (the documented 0
// would mean a live rate fetched from rate_url).
func spec() *Config {
	return &Config{
		HTTP:  HTTP{Listen: "127.0.0.1:8080", TrustedProxies: []string{}},
		Store: Store{Driver: "bbolt", Path: "data/openmoney.db"},
		Telegram: Telegram{Token: "", APIURL: "", Operators: []int64{},
			Alerts: Alerts{WalletMinTON: "5", UnmatchedMinTON: "0.01", Refunds: 5, RefundsWindow: 15 * time.Minute}},
		TON: TON{Network: "sandbox", WalletSeed: "", WalletVersion: "v4r2", ConfigURL: ""},
		Fulfillment: Fulfillment{
			Provider: "sandbox",
			Fragment: Fragment{BaseURL: "https://fragment.com", Hash: "", Cookies: "", Concurrency: 32},
		},
		Pricing: Pricing{
			TonUSD:     "3.6",
			USDTUSD:    "1",
			RateURL:    "",
			FeePercent: "5",
			Stars:      Stars{Min: 50, Max: 10000, USDPerStar: "0.015"},
			PremiumUSD: map[int]Decimal{3: "11.99", 6: "15.99", 12: "28.99"},
		},
		Orders: Orders{TTL: 15 * time.Minute},
		API:    API{RateLimit: RateLimit{PerSecond: 10, Burst: 20}},
		Log:    Log{Level: "info", Format: "auto"},
	}
}

func TestDefaultValidatesAndMatchesSpec(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("default does not validate: %v", err)
	}
	if want := spec(); !reflect.DeepEqual(d, want) {
		t.Fatalf("default differs from the documented one:\n got %+v\nwant %+v", d, want)
	}
	if !d.Sandbox() {
		t.Error("default is not in sandbox mode")
	}
	if d.Pricing.TonUSD.Rat().Cmp(big.NewRat(18, 5)) != 0 {
		t.Errorf("default ton_usd = %s, want 3.6 (fixed, so sandbox works offline)", d.Pricing.TonUSD)
	}
}

func TestDefaultIsFreshEachTime(t *testing.T) {
	a := Default()
	a.Pricing.PremiumUSD[3] = "1"
	a.HTTP.Listen = "changed:1"
	if b := Default(); !reflect.DeepEqual(b, spec()) {
		t.Fatal("changing one Default() changed the next")
	}
	y := DefaultYAML()
	for i := range y {
		y[i] = 'x'
	}
	if !bytes.Equal(DefaultYAML(), defaultYAML) || !reflect.DeepEqual(Default(), spec()) {
		t.Fatal("DefaultYAML returned the embedded bytes themselves")
	}
}

func TestEmptyFileIsTheDefault(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n", "---\n", "http:\n"} {
		c, err := parse(t, src)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("%q: not the default: %+v", src, c)
		}
	}
}

func TestExampleParsesValidatesAndEqualsDefault(t *testing.T) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("config.example.yaml does not validate: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("config.example.yaml differs from the default:\n got %+v\nwant %+v", c, Default())
	}
	// Parse starts from the defaults, so also read the file alone: every
	// value must be written there, not inherited.
	var alone Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&alone); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&alone, Default()) {
		t.Fatalf("config.example.yaml on its own differs from the default:\n got %+v\nwant %+v", alone, Default())
	}
}

// leafKeys lists the dotted names of every non-struct field of t.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			panic("field without a yaml name: " + f.Name)
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, leafKeys(f.Type, name)...)
		} else {
			keys = append(keys, name)
		}
	}
	return keys
}

// lookup returns the key and value nodes at a dotted path in a YAML document.
func lookup(doc *yaml.Node, path string) (key, val *yaml.Node) {
	n := doc
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for _, part := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return nil, nil
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				key, n, found = n.Content[i], n.Content[i+1], true
				break
			}
		}
		if !found {
			return nil, nil
		}
	}
	return key, n
}

func TestEveryKeyIsWrittenAndDocumented(t *testing.T) {
	secretEnv := map[string]string{
		"telegram.token":                "TELEGRAM_BOT_TOKEN",
		"ton.wallet_seed":               "TON_WALLET_SEED",
		"fulfillment.fragment.cookies":  "FRAGMENT_COOKIES",
		"fulfillment.fragment.hash":     "FRAGMENT_HASH",
		"admin.token":                   "OPENMONEY_ADMIN_TOKEN",
		"store.dsn":                     "OPENMONEY_DATABASE_URL",
		"http.listen":                   "OPENMONEY_HTTP_LISTEN",
		"pricing.ton_usd":               "rate_url",
		"pricing.premium_usd":           "12",
		"fulfillment.fragment.base_url": "http",
	}
	keys := leafKeys(reflect.TypeFor[Config](), "")
	if len(keys) != 41 { // a new key must be added to config.example.yaml and default.yaml
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for _, file := range []string{"../config.example.yaml", "default.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			kn, vn := lookup(&doc, k)
			if kn == nil {
				t.Errorf("%s: key %s missing", file, k)
				continue
			}
			if file == "default.yaml" {
				continue
			}
			comment := kn.HeadComment + kn.LineComment + vn.LineComment
			if strings.TrimSpace(comment) == "" {
				t.Errorf("%s: key %s has no comment", file, k)
			}
			if want, ok := secretEnv[k]; ok && !strings.Contains(comment, want) {
				t.Errorf("%s: comment of %s does not mention %s: %q", file, k, want, comment)
			}
		}
	}
}

func TestValidateNamesTheBadKey(t *testing.T) {
	testnet := "ton: {network: testnet, wallet_seed: '" + seed24 + "'}\n"
	manual := "fulfillment: {provider: manual}\n"
	mainnetManual := "ton: {network: mainnet, wallet_seed: '" + seed24 + "'}\n" + manual
	fragment := func(baseURL string) string {
		return testnet + "fulfillment: {provider: fragment, fragment: {base_url: '" + baseURL + "', hash: h, cookies: c}}\n"
	}
	tests := []struct {
		name, yaml string
		key        string // the error must start with key + ": "
		exact      string // if set, the whole error
	}{
		{"listen without port", "http: {listen: localhost}", "http.listen", ""},
		{"usdt master not an address", "ton: {jettons: {usdt: {master: nope}}}", "ton.jettons.usdt.master", ""},
		{"usdt_usd zero", "pricing: {usdt_usd: 0}", "pricing.usdt_usd", ""},
		{"usdt_usd negative", "pricing: {usdt_usd: -1}", "pricing.usdt_usd", ""},
		{"listen empty", "http: {listen: ''}", "http.listen", ""},
		{"listen port too big", "http: {listen: '127.0.0.1:99999'}", "http.listen", ""},
		{"listen port not a number", "http: {listen: '127.0.0.1:http'}", "http.listen", ""},
		{"public_url not a URL", "http: {public_url: 'api.example.com'}", "http.public_url", ""},
		{"operator id zero", "telegram: {operators: [0]}", "telegram.operators", ""},
		{"operator id negative", "telegram: {operators: [-100123]}", "telegram.operators", ""},
		{"operator twice", "telegram: {operators: [5, 7, 5]}", "telegram.operators", "telegram.operators: lists 5 twice"},
		{"operators and alerts valid", "telegram: {operators: [123456789, 987654321], alerts: {wallet_min_ton: 0, refunds: 0}}", "", ""},
		{"wallet_min_ton negative", "telegram: {alerts: {wallet_min_ton: -1}}", "telegram.alerts.wallet_min_ton", ""},
		{"unmatched_min_ton negative", "telegram: {alerts: {unmatched_min_ton: -0.1}}", "telegram.alerts.unmatched_min_ton", ""},
		{"refunds negative", "telegram: {alerts: {refunds: -1}}", "telegram.alerts.refunds", ""},
		{"refunds_window too short", "telegram: {alerts: {refunds_window: 10s}}", "telegram.alerts.refunds_window", ""},
		{"public_url with query", "http: {public_url: 'https://api.example.com/?x=1'}", "http.public_url", ""},
		{"public_url with credentials", "http: {public_url: 'https://u:p@api.example.com'}", "http.public_url", ""},
		{"store path empty", "store: {path: ''}", "store.path", ""},
		{"store path blank", "store: {path: '   '}", "store.path", ""},
		{"store driver unknown", "store: {driver: sqlite}", "store.driver", ""},
		{"store dsn missing for postgres", "store: {driver: postgres}", "store.dsn", ""},
		{"store dsn not postgres", "store: {driver: postgres, dsn: 'mysql://x'}", "store.dsn", ""},
		{"admin token too short", "admin: {token: short}", "admin.token", ""},
		{"metrics listen not host:port", "metrics: {listen: nine}", "metrics.listen", ""},
		{"telegram api_url not http", "telegram: {api_url: 'ftp://api.example'}", "telegram.api_url", ""},
		{"telegram api_url no host", "telegram: {api_url: 'localhost:8081'}", "telegram.api_url", ""},
		{"ton network", "ton: {network: devnet}", "ton.network", ""},
		{"ton wallet_version", "ton: {wallet_version: v3r2}", "ton.wallet_version", ""},
		{"testnet without seed", "ton: {network: testnet}", "ton.wallet_seed", ""},
		{"mainnet without seed", "ton: {network: mainnet}", "ton.wallet_seed", ""},
		{"testnet with 12 words", "ton: {network: testnet, wallet_seed: '" + strings.Repeat("abandon ", 12) + "'}", "ton.wallet_seed", ""},
		{"sandbox with 12 words", "ton: {wallet_seed: '" + strings.Repeat("abandon ", 12) + "'}", "ton.wallet_seed", ""},
		{"ton config_url ftp", "ton: {config_url: 'ftp://ton.example/global.config.json'}", "ton.config_url", ""},
		{"ton config_url http on mainnet", manual + "ton: {network: mainnet, wallet_seed: '" + seed24 + "', config_url: 'http://ton.example/global.config.json'}", "ton.config_url", ""},
		{"ton config_url http on testnet", manual + "ton: {network: testnet, wallet_seed: '" + seed24 + "', config_url: 'http://192.168.1.2/global.config.json'}", "ton.config_url", ""},
		{"ton archive_config_url", "ton: {archive_config_url: 'ftp://ton.example/archive.json'}", "ton.archive_config_url", ""},
		{"ton archive_config_url http on mainnet", manual + "ton: {network: mainnet, wallet_seed: '" + seed24 + "', archive_config_url: 'http://ton.example/archive.json'}", "ton.archive_config_url", ""},
		{"fulfillment provider", "fulfillment: {provider: courier}", "fulfillment.provider", ""},
		{"sandbox provider on mainnet", "ton: {network: mainnet, wallet_seed: '" + seed24 + "'}", "fulfillment.provider", ""},
		{"sandbox provider on testnet", "ton: {network: testnet, wallet_seed: '" + seed24 + "'}", "fulfillment.provider", ""},
		{"fragment base_url http on mainnet", "ton: {network: mainnet, wallet_seed: '" + seed24 + "'}\nfulfillment: {provider: fragment, fragment: {base_url: 'http://fragment.com', hash: h, cookies: c}}", "fulfillment.fragment.base_url", ""},
		{"sandbox on all interfaces", "http: {listen: ':8080'}", "http.listen", ""},
		{"sandbox on 0.0.0.0", "http: {listen: '0.0.0.0:8080'}", "http.listen", ""},
		{"sandbox on ::", "http: {listen: '[::]:8080'}", "http.listen", ""},
		{"sandbox on a LAN address", "http: {listen: '192.168.1.5:8080'}", "http.listen", ""},
		{"sandbox on a host name", "http: {listen: 'example.com:8080'}", "http.listen", ""},
		{"trusted proxy not a CIDR", "http: {trusted_proxies: ['10.0.0.0/8', 'proxy.local']}", "http.trusted_proxies[1]", ""},
		{"trusted proxy bad mask", "http: {trusted_proxies: ['10.0.0.0/33']}", "http.trusted_proxies[0]", ""},
		{"fragment base_url", fragment(""), "fulfillment.fragment.base_url", ""},
		{"fragment base_url not http", fragment("fragment.com"), "fulfillment.fragment.base_url", ""},
		{"fragment hash", testnet + "fulfillment: {provider: fragment, fragment: {cookies: c}}", "fulfillment.fragment.hash", ""},
		{"fragment cookies", testnet + "fulfillment: {provider: fragment, fragment: {hash: h}}", "fulfillment.fragment.cookies", ""},
		{"fragment on sandbox network", "fulfillment: {provider: fragment, fragment: {hash: h, cookies: c}}", "fulfillment.provider", ""},
		{"fragment concurrency 0", "fulfillment: {fragment: {concurrency: 0}}", "", "fulfillment.fragment.concurrency: must be between 1 and 256 (Fragment requests made at once; default 32), got 0"},
		{"fragment concurrency negative", "fulfillment: {fragment: {concurrency: -4}}", "fulfillment.fragment.concurrency", ""},
		{"fragment concurrency 257", testnet + "fulfillment: {provider: fragment, fragment: {hash: h, cookies: c, concurrency: 257}}", "fulfillment.fragment.concurrency", ""},
		{"ton_usd negative", "pricing: {ton_usd: -1}", "pricing.ton_usd", ""},
		{"ton_usd null", "pricing: {ton_usd: ~}", "", ""}, // null keeps the default: valid
		{"rate_url missing when ton_usd 0", "pricing: {ton_usd: 0}", "pricing.rate_url", ""},
		{"rate_url bad when ton_usd 0", "pricing: {ton_usd: 0, rate_url: rates}", "pricing.rate_url", ""},
		{"rate_url bad with fixed rate", "pricing: {rate_url: 'ftp://rates'}", "pricing.rate_url", ""},
		{"rate_url http on mainnet", mainnetManual + "pricing: {ton_usd: 0, rate_url: 'http://rates.example/ton'}", "pricing.rate_url", ""},
		{"rate_url http on mainnet, fixed rate", mainnetManual + "pricing: {rate_url: 'http://rates.example/ton'}", "pricing.rate_url", ""},
		{"rate_url http on testnet", testnet + manual + "pricing: {ton_usd: 0, rate_url: 'http://10.0.0.1/ton'}", "pricing.rate_url", ""},
		{"fee_percent 101", "pricing: {fee_percent: 101}", "", "pricing.fee_percent: must be between 0 and 100"},
		{"fee_percent -1", "pricing: {fee_percent: -1}", "", "pricing.fee_percent: must be between 0 and 100"},
		{"fee_percent 100.01", "pricing: {fee_percent: 100.01}", "", "pricing.fee_percent: must be between 0 and 100"},
		{"stars min 0", "pricing: {stars: {min: 0}}", "pricing.stars.min", ""},
		{"stars min negative", "pricing: {stars: {min: -50}}", "pricing.stars.min", ""},
		{"stars max below min", "pricing: {stars: {min: 50, max: 49}}", "pricing.stars.max", ""},
		{"stars max too big", "pricing: {stars: {max: 1000001}}", "pricing.stars.max", ""},
		{"usd_per_star 0", "pricing: {stars: {usd_per_star: 0}}", "pricing.stars.usd_per_star", ""},
		{"usd_per_star negative", "pricing: {stars: {usd_per_star: -0.015}}", "pricing.stars.usd_per_star", ""},
		{"premium months", "pricing: {premium_usd: {1: 4.99}}", "pricing.premium_usd", ""},
		{"premium value 0", "pricing: {premium_usd: {6: 0}}", "pricing.premium_usd.6", ""},
		{"premium value negative", "pricing: {premium_usd: {12: -1}}", "pricing.premium_usd.12", ""},
		{"premium removed", "pricing: {premium_usd: ~}", "pricing.premium_usd.3", ""},
		{"ttl too short", "orders: {ttl: 30s}", "orders.ttl", ""},
		{"ttl too long", "orders: {ttl: 169h}", "orders.ttl", ""},
		{"ttl zero", "orders: {ttl: 0s}", "orders.ttl", ""},
		{"per_second 0", "api: {rate_limit: {per_second: 0}}", "api.rate_limit.per_second", ""},
		{"per_second negative", "api: {rate_limit: {per_second: -1}}", "api.rate_limit.per_second", ""},
		{"per_second NaN", "api: {rate_limit: {per_second: .nan}}", "api.rate_limit.per_second", ""},
		{"per_second Inf", "api: {rate_limit: {per_second: .inf}}", "api.rate_limit.per_second", ""},
		{"burst 0", "api: {rate_limit: {burst: 0}}", "api.rate_limit.burst", ""},
		{"log level", "log: {level: verbose}", "log.level", ""},
		{"log format", "log: {format: xml}", "log.format", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.yaml)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = c.Validate()
			switch {
			case tt.key == "" && tt.exact == "":
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
			case err == nil:
				t.Fatal("want an error, got none")
			case tt.exact != "" && err.Error() != tt.exact:
				t.Fatalf("got %q, want exactly %q", err, tt.exact)
			case tt.key != "" && !strings.HasPrefix(err.Error(), tt.key+": "):
				t.Fatalf("got %q, want it to name %s", err, tt.key)
			case strings.Contains(err.Error(), "\n"):
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestValidateAcceptsEdges(t *testing.T) {
	for _, src := range []string{
		"http: {listen: ':8080'}\nsandbox: {allow_public_listen: true}",
		"http: {listen: '0.0.0.0:8080'}\nsandbox: {allow_public_listen: true}",
		"http: {listen: '[::1]:0'}",
		"http: {listen: 'localhost:8080'}",
		"http: {listen: '127.0.0.2:8080'}",
		"http: {listen: '0.0.0.0:8080'}\nton: {network: mainnet, wallet_seed: '" + seed24 + "'}\nfulfillment: {provider: manual}",
		"http: {trusted_proxies: ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']}",
		"ton: {config_url: 'http://ton.example/global.config.json'}",
		"ton: {network: mainnet, wallet_seed: '" + seed24 + "', config_url: 'file:///etc/openmoney/global.config.json'}\nfulfillment: {provider: manual}",
		"ton: {network: mainnet, wallet_seed: '" + seed24 + "', config_url: '/etc/openmoney/global.config.json'}\nfulfillment: {provider: manual}",
		"ton: {network: mainnet, wallet_seed: '" + seed24 + "', config_url: 'http://127.0.0.1:8000/global.config.json'}\nfulfillment: {provider: manual}",
		"ton: {network: testnet, wallet_seed: '" + seed24 + "'}\nfulfillment: {provider: manual}\npricing: {ton_usd: 0, rate_url: 'http://localhost:9000/ton'}",
		"pricing: {ton_usd: 0, rate_url: 'http://rates.example/ton'}",
		"telegram: {api_url: 'http://127.0.0.1:8081'}",
		"ton: {network: testnet, wallet_seed: '" + seed24 + "', wallet_version: v5r1}\nfulfillment: {provider: manual}",
		"ton: {network: mainnet, wallet_seed: '" + seed24 + "', config_url: 'https://ton.org/global.config.json'}\nfulfillment: {provider: manual}",
		"ton: {wallet_seed: '" + seed24 + "'}",
		"ton: {network: mainnet, wallet_seed: '" + seed24 + "'}\nfulfillment: {provider: fragment, fragment: {hash: h, cookies: c}}",
		"ton: {network: mainnet, wallet_seed: '" + seed24 + "'}\nfulfillment: {provider: manual}",
		"fulfillment: {provider: manual}",
		"pricing: {ton_usd: 0, rate_url: 'https://rates.example/ton'}",
		"pricing: {fee_percent: 0}",
		"pricing: {fee_percent: 100}",
		"pricing: {fee_percent: 2.5}",
		"pricing: {stars: {min: 1, max: 1}}",
		"pricing: {stars: {max: 1000000}}",
		"orders: {ttl: 1m}",
		"orders: {ttl: 168h}",
		"api: {rate_limit: {per_second: 0.5, burst: 1}}",
		"log: {level: debug, format: json}",
		"log: {level: error, format: text}",
	} {
		c, err := parse(t, src)
		if err != nil {
			t.Errorf("%s: parse: %v", src, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct{ name, yaml, key string }{
		{"unknown top-level", "bogus: 1", "bogus: unknown key"},
		{"unknown nested", "ton: {netwrok: x}", "ton.netwrok: unknown key"},
		{"unknown nested block", "ton:\n  network: sandbox\n  netwrok: x\n", "line 3: ton.netwrok: unknown key"},
		{"unknown in stars", "pricing: {stars: {minimum: 1}}", "pricing.stars.minimum: unknown key"},
		{"unknown in fragment", "fulfillment: {fragment: {token: x}}", "fulfillment.fragment.token: unknown key"},
		{"unknown in rate_limit", "api: {rate_limit: {rps: 5}}", "api.rate_limit.rps: unknown key"},
		{"unknown in log", "log: {colour: red}", "log.colour: unknown key"},
		{"unknown after good keys", "http: {listen: ':1'}\nstore: {path: x}\ntelegarm: {token: t}", "telegarm: unknown key"},
		{"repeated key", "http: {listen: ':1'}\nhttp: {listen: ':2'}", "http: repeated key"},
		{"listen is a list", "http: {listen: [1]}", "http.listen: must be a string"},
		{"ttl not a duration", "orders: {ttl: abc}", "orders.ttl: must be a duration"},
		{"ttl bare number", "orders: {ttl: 900}", "orders.ttl: must be a duration"},
		{"http not a mapping", "http: 8080", "http: must be a mapping"},
		{"file is a list", "- http", "must be a mapping"},
		{"ton_usd text", "pricing: {ton_usd: cheap}", "pricing.ton_usd: must be a decimal number"},
		{"ton_usd list", "pricing: {ton_usd: [1]}", "pricing.ton_usd: must be a decimal number"},
		{"fee_percent exponent", "pricing: {fee_percent: 5e0}", "pricing.fee_percent: must be a decimal number"},
		{"fee_percent hex", "pricing: {fee_percent: 0x10}", "pricing.fee_percent: must be a decimal number"},
		{"usd_per_star fraction", "pricing: {stars: {usd_per_star: 1/3}}", "pricing.stars.usd_per_star: must be a decimal number"},
		{"stars min text", "pricing: {stars: {min: many}}", "pricing.stars.min: must be a whole number"},
		{"premium months text", "pricing: {premium_usd: {three: 11.99}}", "pricing.premium_usd.three: must be a whole number"},
		{"premium value text", "pricing: {premium_usd: {3: cheap}}", "pricing.premium_usd.3: must be a decimal number"},
		{"premium not a mapping", "pricing: {premium_usd: [11.99]}", "pricing.premium_usd: must be a mapping"},
		{"per_second text", "api: {rate_limit: {per_second: fast}}", "api.rate_limit.per_second: must be a number"},
		{"burst text", "api: {rate_limit: {burst: lots}}", "api.rate_limit.burst: must be a whole number"},
		{"seed a list", "ton: {wallet_seed: [a, b]}", "ton.wallet_seed: must be a string"},
		{"trusted_proxies not a list", "http: {trusted_proxies: 10.0.0.1}", "http.trusted_proxies: must be a list"},
		{"trusted proxy a mapping", "http: {trusted_proxies: ['10.0.0.1', {a: 1}]}", "http.trusted_proxies[1]: must be a string, got a mapping"},
		{"allow_public_listen not a bool", "sandbox: {allow_public_listen: maybe}", "sandbox.allow_public_listen: must be true or false"},
		{"unknown in sandbox", "sandbox: {public: true}", "sandbox.public: unknown key"},
		{"odd key quoted", "\"a\\nb\": 1", `"a\nb": unknown key`},
		{"syntax", "http: [", "config: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.yaml)
			if err == nil {
				t.Fatal("want an error, got none")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: ") || !strings.Contains(msg, tt.key) {
				t.Fatalf("got %q, want it to contain %q", msg, tt.key)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error spans lines: %q", msg)
			}
		})
	}
}

func TestPartialFileKeepsOtherDefaults(t *testing.T) {
	c, err := parse(t, "ton: {network: testnet, wallet_seed: '"+seed24+"'}\npricing: {stars: {max: 500}}")
	if err != nil {
		t.Fatal(err)
	}
	want := spec()
	want.TON.Network, want.TON.WalletSeed = "testnet", seed24
	want.Pricing.Stars.Max = 500
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if c.Sandbox() {
		t.Error("testnet reported as sandbox")
	}
}

func TestMapsMerge(t *testing.T) {
	c, err := parse(t, "pricing: {premium_usd: {3: 10}}")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Decimal{3: "10", 6: "15.99", 12: "28.99"}
	if !reflect.DeepEqual(c.Pricing.PremiumUSD, want) {
		t.Fatalf("premium_usd = %v, want %v", c.Pricing.PremiumUSD, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// The merge must not leak into the next Parse.
	if d := Default(); !reflect.DeepEqual(d.Pricing.PremiumUSD, spec().Pricing.PremiumUSD) {
		t.Fatalf("default premium_usd changed: %v", d.Pricing.PremiumUSD)
	}
}

func TestDecimalKeepsExactText(t *testing.T) {
	tests := []struct {
		yaml string
		get  func(*Config) Decimal
		want Decimal
		rat  *big.Rat
	}{
		{"pricing: {stars: {usd_per_star: 0.015}}", func(c *Config) Decimal { return c.Pricing.Stars.USDPerStar }, "0.015", big.NewRat(15, 1000)},
		{"pricing: {ton_usd: 3.60}", func(c *Config) Decimal { return c.Pricing.TonUSD }, "3.60", big.NewRat(18, 5)},
		{"pricing: {ton_usd: 0.1}", func(c *Config) Decimal { return c.Pricing.TonUSD }, "0.1", big.NewRat(1, 10)},
		{"pricing: {fee_percent: 7}", func(c *Config) Decimal { return c.Pricing.FeePercent }, "7", big.NewRat(7, 1)},
		{"pricing: {fee_percent: '2.5'}", func(c *Config) Decimal { return c.Pricing.FeePercent }, "2.5", big.NewRat(5, 2)},
		{"pricing: {premium_usd: {3: 11.990}}", func(c *Config) Decimal { return c.Pricing.PremiumUSD[3] }, "11.990", big.NewRat(1199, 100)},
		{"pricing: {stars: {usd_per_star: 0.0000000001}}", func(c *Config) Decimal { return c.Pricing.Stars.USDPerStar }, "0.0000000001", big.NewRat(1, 10_000_000_000)},
	}
	for _, tt := range tests {
		c, err := parse(t, tt.yaml)
		if err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		got := tt.get(c)
		if got != tt.want {
			t.Errorf("%s: text %q, want %q", tt.yaml, got, tt.want)
		}
		if got.Rat().Cmp(tt.rat) != 0 {
			t.Errorf("%s: value %s, want %s", tt.yaml, got.Rat().RatString(), tt.rat.RatString())
		}
	}
	if r := Decimal("").Rat(); r.Sign() != 0 {
		t.Errorf("empty Decimal = %s, want 0", r)
	}
}

func TestLoadEmbeddedDefault(t *testing.T) {
	t.Chdir(t.TempDir())
	c, source, err := Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if source != "embedded default" {
		t.Errorf("source = %q", source)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("got %+v, want the default", c)
	}
}

func TestLoadConfigYAMLInWorkingDir(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("config.yaml", []byte("http:\n  listen: \"127.0.0.1:9090\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, source, err := Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if source != "config.yaml" {
		t.Errorf("source = %q", source)
	}
	want := spec()
	want.HTTP.Listen = "127.0.0.1:9090"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}

	// A broken ./config.yaml is an error, not a silent fallback.
	if err := os.WriteFile("config.yaml", []byte("htp: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load("", noEnv); err == nil || !strings.Contains(err.Error(), "htp") {
		t.Errorf("broken config.yaml: err = %v", err)
	}
}

func TestLoadPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// ./config.yaml is ignored when a path is given.
	if err := os.WriteFile("config.yaml", []byte("log: {level: debug}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(path, []byte("log: {level: warn}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, source, err := Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if source != path || c.Log.Level != "warn" {
		t.Errorf("source %q level %q", source, c.Log.Level)
	}

	missing := filepath.Join(dir, "missing.yaml")
	if _, _, err := Load(missing, noEnv); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: err = %v", err)
	}
	if _, _, err := Load(dir, noEnv); err == nil {
		t.Error("a directory as config: no error")
	}
}

func TestEnvOverridesSecrets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	file := `telegram: {token: file-token}
ton: {wallet_seed: file seed}
fulfillment: {fragment: {hash: file-hash, cookies: file-cookies}}
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TELEGRAM_BOT_TOKEN": "env-token",
		"TON_WALLET_SEED":    seed24,
		"FRAGMENT_COOKIES":   "stel_ssid=env",
		"FRAGMENT_HASH":      "env-hash",
		"HTTP_LISTEN":        "0.0.0.0:1", // not ours: ignored
	}
	c, _, err := Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	got := [4]string{c.Telegram.Token, c.TON.WalletSeed, c.Fulfillment.Fragment.Cookies, c.Fulfillment.Fragment.Hash}
	want := [4]string{"env-token", seed24, "stel_ssid=env", "env-hash"}
	if got != want {
		t.Errorf("env did not win: got %q, want %q", got, want)
	}
	if c.HTTP.Listen != "127.0.0.1:8080" {
		t.Errorf("listen changed by another variable: %q", c.HTTP.Listen)
	}
	// OPENMONEY_HTTP_LISTEN overrides http.listen, with or without a file.
	env["OPENMONEY_HTTP_LISTEN"] = "127.0.0.1:9999"
	for _, p := range []string{path, ""} {
		c, _, err := Load(p, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTP.Listen != "127.0.0.1:9999" {
			t.Errorf("config %q: OPENMONEY_HTTP_LISTEN ignored: %q", p, c.HTTP.Listen)
		}
	}
	delete(env, "OPENMONEY_HTTP_LISTEN")

	// Empty or unset variables leave the file's values.
	c, _, err = Load(path, func(k string) string {
		if k == "TON_WALLET_SEED" {
			return "" // set but empty
		}
		return env[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.TON.WalletSeed != "file seed" || c.Telegram.Token != "env-token" {
		t.Errorf("seed %q token %q", c.TON.WalletSeed, c.Telegram.Token)
	}
	c, _, err = Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	got = [4]string{c.Telegram.Token, c.TON.WalletSeed, c.Fulfillment.Fragment.Cookies, c.Fulfillment.Fragment.Hash}
	if want := [4]string{"file-token", "file seed", "file-cookies", "file-hash"}; got != want {
		t.Errorf("no env: got %q, want %q", got, want)
	}

	// A testnet file without a seed validates once TON_WALLET_SEED is set.
	t.Chdir(dir)
	if err := os.WriteFile("config.yaml", []byte("ton: {network: testnet}\nfulfillment: {provider: manual}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err = Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("seed from env: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("ton: {netwrok: x}"))
	f.Add([]byte("pricing: {premium_usd: {3: 10}, fee_percent: 101}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data))
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "config: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line starting with \"config: \": %q", msg)
			}
			return
		}
		if err := c.Validate(); err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("validate error spans lines: %q", err)
			}
			return
		}
		// A valid config has usable numbers.
		if c.Pricing.TonUSD.Rat().Sign() < 0 || c.Pricing.Stars.USDPerStar.Rat().Sign() <= 0 ||
			c.API.RateLimit.PerSecond <= 0 || c.Orders.TTL < time.Minute {
			t.Fatalf("validated nonsense: %+v", c)
		}
	})
}

// TestUSDTMasterUnsetEmptyOrSet: unset means the network's default (the
// embedded default leaves it unset, so sandbox has USDT on), "" turns USDT
// off, an address is used as given.
func TestUSDTMasterUnsetEmptyOrSet(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"", "DEF"},
		{"ton: {jettons: {usdt: {master: ~}}}", "DEF"},
		{"ton: {jettons: {usdt: {master: ''}}}", ""},
		{"ton: {jettons: {usdt: {master: ' EQCxE6mUtQJKFnGfaROTKOt1lZbDiiX1kCixRv7Nw2Id_sDs '}}}", "EQCxE6mUtQJKFnGfaROTKOt1lZbDiiX1kCixRv7Nw2Id_sDs"},
	} {
		cfg, err := Parse(strings.NewReader(c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := cfg.TON.Jettons.USDT.MasterOr("DEF"); got != c.want {
			t.Errorf("%q: master %q, want %q", c.yaml, got, c.want)
		}
	}
}
