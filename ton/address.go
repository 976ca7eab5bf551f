package ton

import (
	"fmt"
	"strings"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/ton/wallet"
)

// Networks.
const (
	NetworkSandbox = "sandbox"
	NetworkTestnet = "testnet"
	NetworkMainnet = "mainnet"
)

// SubwalletBase is added to a partner id to get its top-up subwallet id, far
// from the wallets' default ids (v4: 698983191, v5: 0) so no partner address
// can equal the service wallet.
const SubwalletBase = 1_000_000

// MaxV5Partners: tonutils-go keeps only the low 16 bits of a v5r1 subwallet
// id, so a v5r1 seed has 65535 distinct partner subwallets (id 0 is the
// service wallet).
const MaxV5Partners = 65535

// PartnerSubwallet is the top-up subwallet id of a partner: SubwalletBase +
// id for v4r2; the partner id itself for v5r1, whose ids wrap at 2^16.
func (k *Keys) PartnerSubwallet(partnerID int64) (uint32, error) {
	if partnerID <= 0 {
		return 0, fmt.Errorf("ton: partner id %d: must be positive", partnerID)
	}
	if k.version == "v5r1" {
		if partnerID > MaxV5Partners {
			return 0, fmt.Errorf("ton: partner %d: a v5r1 seed has only %d distinct top-up subwallets; use wallet_version v4r2", partnerID, MaxV5Partners)
		}
		return uint32(partnerID), nil
	}
	if partnerID > 1<<32-1-SubwalletBase {
		return 0, fmt.Errorf("ton: partner id %d out of subwallet range", partnerID)
	}
	return uint32(SubwalletBase + partnerID), nil
}

// Keys derives the service wallet and the partner top-up subwallets from one
// seed. Addresses are computed locally; no network is needed.
type Keys struct {
	network string
	version string
	main    *wallet.Wallet
}

// NewKeys derives the wallet for seed (24 words) and version ("v4r2" | "v5r1").
// The sandbox uses testnet-form addresses so nobody mistakes them for mainnet.
func NewKeys(seed []string, version, network string) (*Keys, error) {
	var cfg wallet.VersionConfig
	switch version {
	case "v4r2", "":
		cfg = wallet.V4R2
	case "v5r1":
		id := int32(wallet.TestnetGlobalID)
		if network == NetworkMainnet {
			id = wallet.MainnetGlobalID
		}
		cfg = wallet.ConfigV5R1Final{NetworkGlobalID: id, Workchain: 0}
	default:
		return nil, fmt.Errorf("ton: unknown wallet version %q (want v4r2 or v5r1)", version)
	}
	w, err := wallet.FromSeed(nil, seed, cfg)
	if err != nil {
		return nil, fmt.Errorf("ton: wallet from seed: %w", err)
	}
	if version == "" {
		version = "v4r2"
	}
	return &Keys{network: network, version: version, main: w}, nil
}

// NewSeed returns a fresh 24-word seed.
func NewSeed() []string { return wallet.NewSeed() }

// Network is the network the keys format addresses for.
func (k *Keys) Network() string { return k.network }

// Wallet is the service wallet (for sending; its API is nil until bound).
func (k *Keys) Wallet() *wallet.Wallet { return k.main }

// ServiceAddress is the payment address in user-friendly non-bounceable form.
func (k *Keys) ServiceAddress() string { return k.Friendly(k.main.WalletAddress()) }

// ServiceAddressRaw is the payment address as "0:hex".
func (k *Keys) ServiceAddressRaw() string { return k.main.WalletAddress().StringRaw() }

// Subwallet returns the wallet with the given subwallet id.
func (k *Keys) Subwallet(id uint32) (*wallet.Wallet, error) { return k.main.GetSubwallet(id) }

// TopupAddress returns a partner's top-up address (friendly and raw forms).
func (k *Keys) TopupAddress(subwalletID uint32) (friendly, raw string, err error) {
	w, err := k.main.GetSubwallet(subwalletID)
	if err != nil {
		return "", "", fmt.Errorf("ton: subwallet %d: %w", subwalletID, err)
	}
	return k.Friendly(w.WalletAddress()), w.WalletAddress().StringRaw(), nil
}

// Friendly prints an address non-bounceable, testnet-flagged unless mainnet.
func (k *Keys) Friendly(a *address.Address) string {
	c := a.Copy()
	c.SetBounce(false)
	c.SetTestnetOnly(k.network != NetworkMainnet)
	return c.String()
}

// ParseAddress accepts the user-friendly (any flags) or raw "wc:hex" form.
func ParseAddress(s string) (*address.Address, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ":") {
		a, err := address.ParseRawAddr(s)
		if err != nil {
			return nil, fmt.Errorf("ton: bad raw address: %w", err)
		}
		return a, nil
	}
	a, err := address.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("ton: bad address: %w", err)
	}
	return a, nil
}

// RawAddress normalises any address form to "wc:hex" for comparisons.
func RawAddress(s string) (string, error) {
	a, err := ParseAddress(s)
	if err != nil {
		return "", err
	}
	return a.StringRaw(), nil
}
