package ton

import (
	"errors"
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

// MaxV5Partners is the largest partner id a v5r1 seed can serve. The v5r1
// wallet id holds the subwallet number in 15 bits (wallet-contract-v5's
// wallet_id layout; @ton/ton refuses 32768 and above). tonutils-go ORs 16
// bits into that field, so a number from 32768 up would set a bit of the
// wallet-version byte and give an address no standard wallet can derive or
// recover. Partner n's v5r1 subwallet is n itself (0 is the service wallet),
// so partners 1…32767 fit; v4r2's subwallet id is a full 32-bit field and
// has no such limit.
const MaxV5Partners = 1<<15 - 1

// ErrSubwalletRange is returned (wrapped in a *SubwalletRangeError) when a
// partner id has no standard top-up subwallet for the seed's wallet version.
var ErrSubwalletRange = errors.New("ton: partner id outside the wallet version's subwallet range")

// SubwalletRangeError names the partner id and the version's limit.
type SubwalletRangeError struct {
	Version   string
	PartnerID int64
	Max       int64
}

func (e *SubwalletRangeError) Error() string {
	if e.Version == "v5r1" {
		return fmt.Sprintf("ton: partner %d: a v5r1 wallet id has 15 bits for the subwallet number, so a v5r1 seed serves partners 1…%d only; a seed with wallet_version v4r2 has no such limit", e.PartnerID, e.Max)
	}
	return fmt.Sprintf("ton: partner id %d out of the %s subwallet range (at most %d)", e.PartnerID, e.Version, e.Max)
}

// Is makes errors.Is(err, ErrSubwalletRange) hold.
func (e *SubwalletRangeError) Is(target error) bool { return target == ErrSubwalletRange }

// PartnerSubwallet is the top-up subwallet id of a partner: SubwalletBase +
// id for v4r2; the partner id itself for v5r1 (at most MaxV5Partners). An id
// out of range is a *SubwalletRangeError (errors.Is ErrSubwalletRange).
func (k *Keys) PartnerSubwallet(partnerID int64) (uint32, error) {
	if partnerID <= 0 {
		return 0, fmt.Errorf("ton: partner id %d: must be positive", partnerID)
	}
	if k.version == "v5r1" {
		if partnerID > MaxV5Partners {
			return 0, &SubwalletRangeError{Version: k.version, PartnerID: partnerID, Max: MaxV5Partners}
		}
		return uint32(partnerID), nil
	}
	if limit := int64(1<<32 - 1 - SubwalletBase); partnerID > limit {
		return 0, &SubwalletRangeError{Version: k.version, PartnerID: partnerID, Max: limit}
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

// Subwallet returns the wallet with the given subwallet id; for v5r1 only
// ids within 15 bits (see MaxV5Partners).
func (k *Keys) Subwallet(id uint32) (*wallet.Wallet, error) {
	if k.version == "v5r1" && id > MaxV5Partners {
		return nil, fmt.Errorf("ton: v5r1 subwallet %d: %w (at most %d)", id, ErrSubwalletRange, MaxV5Partners)
	}
	return k.main.GetSubwallet(id)
}

// TopupAddress returns a partner's top-up address (friendly and raw forms).
func (k *Keys) TopupAddress(subwalletID uint32) (friendly, raw string, err error) {
	w, err := k.Subwallet(subwalletID)
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
