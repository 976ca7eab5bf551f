package config

import (
	"fmt"
	"maps"
	"math"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
)

// Validate checks every key and returns the first problem as
// "key: rule" (e.g. "pricing.fee_percent: must be between 0 and 100").
func (c *Config) Validate() error {
	bad := func(key, rule string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(rule, args...))
	}
	if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		return bad("http.listen", "must be host:port, got %q", c.HTTP.Listen)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return bad("http.listen", "port must be a number from 0 to 65535, got %q", c.HTTP.Listen)
	}
	if c.HTTP.PublicURL != "" {
		u, err := url.Parse(c.HTTP.PublicURL)
		if err != nil || !isHTTPURL(c.HTTP.PublicURL) || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return bad("http.public_url", "must be an http(s) URL without credentials, query or fragment, such as https://api.example.com, got %q", c.HTTP.PublicURL)
		}
	}
	for i, p := range c.HTTP.TrustedProxies {
		if _, err := ParseTrustedProxy(p); err != nil {
			return bad(fmt.Sprintf("http.trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8 or an IP address, got %q", p)
		}
	}
	switch c.Store.Driver {
	case "bbolt":
		if strings.TrimSpace(c.Store.Path) == "" {
			return bad("store.path", "must not be empty")
		}
	case "postgres":
		if u, err := url.Parse(c.Store.DSN); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return bad("store.dsn", "must be a postgres:// URL for driver postgres (or set OPENMONEY_DATABASE_URL)")
		}
	default:
		return bad("store.driver", "must be bbolt or postgres, got %q", c.Store.Driver)
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
		return bad("admin.token", "must be at least 16 characters (or empty to turn the admin routes off)")
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			return bad("metrics.listen", "must be host:port or empty, got %q", c.Metrics.Listen)
		}
	}
	if c.Telegram.APIURL != "" && !isHTTPURL(c.Telegram.APIURL) {
		return bad("telegram.api_url", "must be an http(s) URL, got %q", c.Telegram.APIURL)
	}
	seen := map[int64]bool{}
	for _, id := range c.Telegram.Operators {
		if id <= 0 {
			return bad("telegram.operators", "must be Telegram user ids (positive numbers), got %d", id)
		}
		if seen[id] {
			return bad("telegram.operators", "lists %d twice", id)
		}
		seen[id] = true
	}
	if len(c.Telegram.Operators) > 100 {
		return bad("telegram.operators", "at most 100 operators, got %d", len(c.Telegram.Operators))
	}
	a := c.Telegram.Alerts
	if a.WalletMinTON == "" || a.WalletMinTON.Rat().Sign() < 0 || a.WalletMinTON.Rat().Cmp(big.NewRat(1_000_000_000, 1)) > 0 {
		return bad("telegram.alerts.wallet_min_ton", "must be between 0 (off) and 1000000000")
	}
	if a.UnmatchedMinTON == "" || a.UnmatchedMinTON.Rat().Sign() < 0 || a.UnmatchedMinTON.Rat().Cmp(big.NewRat(1_000_000_000, 1)) > 0 {
		return bad("telegram.alerts.unmatched_min_ton", "must be between 0 and 1000000000")
	}
	if a.Refunds < 0 || a.Refunds > 100000 {
		return bad("telegram.alerts.refunds", "must be between 0 (off) and 100000, got %d", a.Refunds)
	}
	if a.RefundsWindow < time.Minute || a.RefundsWindow > 24*time.Hour {
		return bad("telegram.alerts.refunds_window", "must be between 1m and 24h, got %s", a.RefundsWindow)
	}
	switch c.TON.Network {
	case "sandbox", "testnet", "mainnet":
	default:
		return bad("ton.network", "must be sandbox, testnet or mainnet, got %q", c.TON.Network)
	}
	if c.Sandbox() && !c.SandboxOpts.AllowPublicListen && !loopbackListen(c.HTTP.Listen) {
		return bad("http.listen", "%q is not a loopback address, and sandbox mode serves unauthenticated partner creation; "+
			"listen on 127.0.0.1 or set sandbox.allow_public_listen: true", c.HTTP.Listen)
	}
	switch c.TON.WalletVersion {
	case "v4r2", "v5r1":
	default:
		return bad("ton.wallet_version", "must be v4r2 or v5r1, got %q", c.TON.WalletVersion)
	}
	if c.TON.Network != "sandbox" {
		if n := len(strings.Fields(c.TON.WalletSeed)); n != 24 {
			return bad("ton.wallet_seed", "must be 24 words for %s (or set TON_WALLET_SEED), got %d", c.TON.Network, n)
		}
	} else if s := strings.Fields(c.TON.WalletSeed); len(s) != 0 && len(s) != 24 {
		return bad("ton.wallet_seed", "must be 24 words or empty, got %d", len(s))
	}
	if u := c.TON.ConfigURL; u != "" && !c.secureURL(u) && !isLocalFile(u) {
		return bad("ton.config_url", "must be %s, or a local file (file:///path or /path), got %q", c.urlRule(), u)
	}
	if u := c.TON.ArchiveConfigURL; u != "" && !c.secureURL(u) && !isLocalFile(u) {
		return bad("ton.archive_config_url", "must be %s, or a local file (file:///path or /path), got %q", c.urlRule(), u)
	}
	if j := c.TON.Jettons.USDT.Master; j != nil && strings.TrimSpace(*j) != "" {
		if _, err := address.ParseAddr(strings.TrimSpace(*j)); err != nil {
			if _, rerr := address.ParseRawAddr(strings.TrimSpace(*j)); rerr != nil {
				return bad("ton.jettons.usdt.master", "must be a TON address (the USDT jetton master; empty turns USDT off), got %q", *j)
			}
		}
	}
	if n := c.Fulfillment.Fragment.Concurrency; n < 1 || n > 256 {
		return bad("fulfillment.fragment.concurrency", "must be between 1 and 256 (Fragment requests made at once; default 32), got %d", n)
	}
	switch c.Fulfillment.Provider {
	case "sandbox":
		if !c.Sandbox() {
			return bad("fulfillment.provider", "sandbox delivers nothing for real money and is refused on %s; set fragment or manual", c.TON.Network)
		}
	case "manual":
	case "fragment":
		f := c.Fulfillment.Fragment
		if !c.secureURL(f.BaseURL) {
			return bad("fulfillment.fragment.base_url", "must be %s, got %q", c.urlRule(), f.BaseURL)
		}
		if f.Hash == "" {
			return bad("fulfillment.fragment.hash", "required for provider fragment (or set FRAGMENT_HASH)")
		}
		if f.Cookies == "" {
			return bad("fulfillment.fragment.cookies", "required for provider fragment (or set FRAGMENT_COOKIES)")
		}
		if c.TON.Network == "sandbox" {
			return bad("fulfillment.provider", "fragment pays real TON and needs ton.network testnet or mainnet")
		}
	default:
		return bad("fulfillment.provider", "must be sandbox, fragment or manual, got %q", c.Fulfillment.Provider)
	}
	zero := new(big.Rat)
	if c.Pricing.TonUSD == "" || c.Pricing.TonUSD.Rat().Cmp(zero) < 0 {
		return bad("pricing.ton_usd", "must be 0 (live rate) or a positive number")
	}
	if c.Pricing.TonUSD.Rat().Sign() == 0 && c.Pricing.RateURL == "" {
		return bad("pricing.rate_url", "required (%s) when pricing.ton_usd is 0", c.urlRule())
	}
	if u := c.Pricing.RateURL; u != "" && !c.secureURL(u) {
		return bad("pricing.rate_url", "must be %s, got %q", c.urlRule(), u)
	}
	if u := c.Pricing.USDTUSD; u == "" || u.Rat().Sign() <= 0 {
		return bad("pricing.usdt_usd", "must be a positive number (the USD value of 1 USDT)")
	}
	if f := c.Pricing.FeePercent; f == "" || f.Rat().Sign() < 0 || f.Rat().Cmp(big.NewRat(100, 1)) > 0 {
		return bad("pricing.fee_percent", "must be between 0 and 100")
	}
	s := c.Pricing.Stars
	if s.Min < 1 {
		return bad("pricing.stars.min", "must be at least 1")
	}
	if s.Max < s.Min || s.Max > 1_000_000 {
		return bad("pricing.stars.max", "must be between pricing.stars.min and 1000000")
	}
	if s.USDPerStar == "" || s.USDPerStar.Rat().Sign() <= 0 {
		return bad("pricing.stars.usd_per_star", "must be a positive number")
	}
	for _, m := range slices.Sorted(maps.Keys(c.Pricing.PremiumUSD)) { // sorted: the same error every run
		p := c.Pricing.PremiumUSD[m]
		if m != 3 && m != 6 && m != 12 {
			return bad("pricing.premium_usd", "months must be 3, 6 or 12, got %d", m)
		}
		if p == "" || p.Rat().Sign() <= 0 {
			return bad(fmt.Sprintf("pricing.premium_usd.%d", m), "must be a positive number")
		}
	}
	for _, m := range []int{3, 6, 12} {
		if _, ok := c.Pricing.PremiumUSD[m]; !ok {
			return bad(fmt.Sprintf("pricing.premium_usd.%d", m), "missing")
		}
	}
	if c.Orders.TTL < time.Minute || c.Orders.TTL > 7*24*time.Hour {
		return bad("orders.ttl", "must be between 1m and 168h, got %s", c.Orders.TTL)
	}
	if r := c.API.RateLimit.PerSecond; !(r > 0) || math.IsInf(r, 0) { // also refuses .nan and .inf
		return bad("api.rate_limit.per_second", "must be a positive number")
	}
	if c.API.RateLimit.Burst < 1 {
		return bad("api.rate_limit.burst", "must be at least 1")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		return bad("log.format", "must be auto, text or json, got %q", c.Log.Format)
	}
	return nil
}

// secureURL reports whether s is a URL the service may fetch money-relevant
// data from (a rate, the liteserver list) or send secrets to (Fragment's
// cookies): any http(s) URL in sandbox mode; outside it https, or plain
// http only to a loopback host, whose traffic never leaves the machine.
func (c *Config) secureURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return c.Sandbox() || loopbackHost(u.Hostname())
	}
	return false
}

// urlRule says in words what secureURL accepts.
func (c *Config) urlRule() string {
	if c.Sandbox() {
		return "an http(s) URL"
	}
	return "an https URL (plain http only to a loopback host) on " + c.TON.Network
}

// isLocalFile reports whether s names a local file: file:///path or a path
// without a URL scheme (operators behind a firewall keep a copy of the
// liteserver config).
func isLocalFile(s string) bool {
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		return rest != ""
	}
	return !strings.Contains(s, "://") && strings.TrimSpace(s) != ""
}

// loopbackHost reports whether host (no port) is "localhost" or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// loopbackListen reports whether listen (host:port) binds only a loopback
// address; an empty host, 0.0.0.0 and :: bind every interface.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	return err == nil && loopbackHost(host)
}

// ParseTrustedProxy parses one http.trusted_proxies entry: a CIDR, or an IP
// address meaning just that address.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
