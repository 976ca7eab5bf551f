package ton

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/liteclient"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

// Public liteserver configs used when ton.config_url is empty.
const (
	MainnetConfigURL = "https://ton.org/global.config.json"
	TestnetConfigURL = "https://ton.org/testnet-global.config.json"
)

// configFetchTimeout bounds the download of the global config.
const configFetchTimeout = 30 * time.Second

// DefaultConfigURL returns the public global config of network ("" for the
// sandbox, which has no liteservers).
func DefaultConfigURL(network string) string {
	switch network {
	case NetworkMainnet:
		return MainnetConfigURL
	case NetworkTestnet:
		return TestnetConfigURL
	}
	return ""
}

// Dial connects to the liteservers of network. configURL may be an http(s)
// URL or a local file path (operators behind a firewall keep a copy of the
// config); empty means the network's public config. It returns once at least
// one liteserver answers; the pool then reconnects dropped servers on its own,
// so a caller dials once and keeps the client.
//
// The client checks proofs with ProofCheckPolicyFast, is anchored at the
// config's init block, and retries timed-out queries on another liteserver.
func Dial(ctx context.Context, network, configURL string) (ChainAPI, error) {
	if configURL == "" {
		configURL = DefaultConfigURL(network)
	}
	if configURL == "" {
		return nil, fmt.Errorf("ton: dial: no liteserver config for network %q", network)
	}

	var (
		cfg *liteclient.GlobalConfig
		err error
	)
	if strings.HasPrefix(configURL, "http://") || strings.HasPrefix(configURL, "https://") {
		// The library fetches with http.DefaultClient, which never times out.
		fetchCtx, cancel := context.WithTimeout(ctx, configFetchTimeout)
		cfg, err = liteclient.GetConfigFromUrl(fetchCtx, configURL)
		cancel()
	} else {
		cfg, err = liteclient.GetConfigFromFile(strings.TrimPrefix(configURL, "file://"))
	}
	if err != nil {
		return nil, fmt.Errorf("ton: dial: load config %s: %w", configURL, err)
	}

	pool := liteclient.NewConnectionPool()
	if err := pool.AddConnectionsFromConfig(ctx, cfg); err != nil {
		// Stop the pool so its reconnect goroutines do not outlive a failed dial.
		pool.Stop()
		return nil, fmt.Errorf("ton: dial: connect to liteservers of %s: %w", network, err)
	}

	client := tonapi.NewAPIClient(pool, tonapi.ProofCheckPolicyFast)
	client.SetTrustedBlockFromConfig(cfg)
	return client.WithRetry(), nil
}
