package ton

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// A fixed 24-word test seed (never funded; for address derivation only).
var testSeed = strings.Fields("birth pattern then forest walnut then phrase walnut fan pumpkin pattern then cluster blossom verify then forest velvet pond fiction pattern collect then then")

var (
	keysMu    sync.Mutex
	keysCache = map[string]*Keys{}
)

// testKeys is NewKeys(testSeed, version, network), derived once per test
// binary (the seed's key derivation is slow, above all under -race). Keys
// are read-only, so tests may share them.
func testKeys(t testing.TB, version, network string) *Keys {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k := keysCache[version+"/"+network]; k != nil {
		return k
	}
	k, err := NewKeys(testSeed, version, network)
	if err != nil {
		t.Fatal(err)
	}
	keysCache[version+"/"+network] = k
	return k
}

func TestKeysAddressesStableAndDistinct(t *testing.T) {
	for _, v := range []string{"v4r2", "v5r1"} {
		k, err := NewKeys(testSeed, v, NetworkSandbox)
		if err != nil {
			t.Fatal(err)
		}
		svc := k.ServiceAddress()
		if !strings.HasPrefix(svc, "0Q") {
			t.Errorf("%s sandbox service address %q: want testnet non-bounceable 0Q…", v, svc)
		}
		km := testKeys(t, v, NetworkMainnet)
		if !strings.HasPrefix(km.ServiceAddress(), "UQ") {
			t.Errorf("%s mainnet address %q: want UQ…", v, km.ServiceAddress())
		}
		if k.ServiceAddressRaw() != km.ServiceAddressRaw() && v == "v4r2" {
			t.Errorf("v4r2 raw address differs between networks")
		}
		seen := map[string]bool{k.ServiceAddressRaw(): true}
		pids := []int64{1, 2, 3, 4, 5, 32767}
		if v == "v4r2" {
			pids = append(pids, 32768, 48576, 65535, 65536, 1<<32-1-SubwalletBase)
		}
		for _, pid := range pids {
			id, err := k.PartnerSubwallet(pid)
			if err != nil {
				t.Fatal(err)
			}
			f, raw, err := k.TopupAddress(id)
			if err != nil {
				t.Fatal(err)
			}
			if seen[raw] {
				t.Fatalf("%s subwallet %d repeats an address", v, id)
			}
			seen[raw] = true
			f2, raw2, _ := k.TopupAddress(id)
			if f != f2 || raw != raw2 {
				t.Fatalf("subwallet %d not stable", id)
			}
			back, err := RawAddress(f)
			if err != nil || back != raw {
				t.Fatalf("RawAddress(%q) = %q, %v; want %q", f, back, err, raw)
			}
		}
	}
}

// TestV5SubwalletWithin15Bits: the v5r1 wallet id has 15 bits for the
// subwallet number, so partner ids above 32767 are refused with the typed
// error the shop words for the operator; v4r2 goes on to 2^32-1-SubwalletBase.
func TestV5SubwalletWithin15Bits(t *testing.T) {
	k5 := testKeys(t, "v5r1", NetworkMainnet)
	if MaxV5Partners != 32767 {
		t.Fatalf("MaxV5Partners = %d, want 32767", MaxV5Partners)
	}
	if id, err := k5.PartnerSubwallet(32767); err != nil || id != 32767 {
		t.Fatalf("v5r1 partner 32767 = %d, %v", id, err)
	}
	for _, pid := range []int64{32768, 48576, 65535, 65536, 1 << 40} {
		_, err := k5.PartnerSubwallet(pid)
		var re *SubwalletRangeError
		if !errors.Is(err, ErrSubwalletRange) || !errors.As(err, &re) || re.PartnerID != pid || re.Max != 32767 {
			t.Fatalf("v5r1 partner %d: err %v, want a SubwalletRangeError with max 32767", pid, err)
		}
		if !strings.Contains(err.Error(), "15 bits") || !strings.Contains(err.Error(), "v4r2") {
			t.Errorf("message %q should say why (15 bits) and what has no limit (v4r2)", err)
		}
	}
	for _, id := range []uint32{32768, 65535} {
		if _, _, err := k5.TopupAddress(id); !errors.Is(err, ErrSubwalletRange) {
			t.Errorf("v5r1 TopupAddress(%d) = %v, want ErrSubwalletRange", id, err)
		}
	}
	k4 := testKeys(t, "v4r2", NetworkMainnet)
	if _, err := k4.PartnerSubwallet(1<<32 - SubwalletBase); !errors.Is(err, ErrSubwalletRange) {
		t.Errorf("v4r2 beyond 32 bits: %v, want ErrSubwalletRange", err)
	}
	if _, err := k4.PartnerSubwallet(0); err == nil || errors.Is(err, ErrSubwalletRange) {
		t.Errorf("partner 0: %v, want a plain error", err)
	}
}

// TestDocumentedAddresses pins the addresses of the test seed as printed in
// docs/TON.md: service wallet (friendly, raw) and partner 1's top-up address.
func TestDocumentedAddresses(t *testing.T) {
	for _, tc := range []struct{ version, network, service, raw, partner1 string }{
		{"v4r2", NetworkTestnet, "0QB_2hgiLMfGAiDHTkFZ1CrYfa1AGNoiDsH-lkDw4lN70Qr4", "0:7fda18222cc7c60220c74e4159d42ad87dad4018da220ec1fe9640f0e2537bd1", "0QBwWpdBVSQ_WTOHTQ6RgcPudeBaFOpSx-vewYF0ZXBIqpw9"},
		{"v4r2", NetworkMainnet, "UQB_2hgiLMfGAiDHTkFZ1CrYfa1AGNoiDsH-lkDw4lN70bFy", "0:7fda18222cc7c60220c74e4159d42ad87dad4018da220ec1fe9640f0e2537bd1", "UQBwWpdBVSQ_WTOHTQ6RgcPudeBaFOpSx-vewYF0ZXBIqie3"},
		{"v5r1", NetworkTestnet, "0QCIBxo-cHCQD924U-EU10deRrdoSCvHNzmLLQ4Cj9CKxh8z", "0:88071a3e7070900fddb853e114d7475e46b768482bc737398b2d0e028fd08ac6", "0QAgO1DyM2EM9ygmM2o61EiUXYP-kckg55m58a2-M-WSaK15"},
		{"v5r1", NetworkMainnet, "UQC0zbFSFUC7RgsznB66lMOAmfbK7OlLYZmsgenXIfyF-8yf", "0:b4cdb1521540bb460b339c1eba94c38099f6caece94b6199ac81e9d721fc85fb", "UQClWYTZwn27khrGPTzuOvuwKm-b5Rvz0pbcaQieljmOlNu1"},
	} {
		k := testKeys(t, tc.version, tc.network)
		sub, _ := k.PartnerSubwallet(1)
		p1, _, _ := k.TopupAddress(sub)
		if k.ServiceAddress() != tc.service || k.ServiceAddressRaw() != tc.raw || p1 != tc.partner1 {
			t.Errorf("%s %s: service %s (%s), partner 1 %s", tc.version, tc.network, k.ServiceAddress(), k.ServiceAddressRaw(), p1)
		}
	}
}
