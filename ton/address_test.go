package ton

import (
	"strings"
	"testing"
)

// A fixed 24-word test seed (never funded; for address derivation only).
var testSeed = strings.Fields("birth pattern then forest walnut then phrase walnut fan pumpkin pattern then cluster blossom verify then forest velvet pond fiction pattern collect then then")

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
		km, err := NewKeys(testSeed, v, NetworkMainnet)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(km.ServiceAddress(), "UQ") {
			t.Errorf("%s mainnet address %q: want UQ…", v, km.ServiceAddress())
		}
		if k.ServiceAddressRaw() != km.ServiceAddressRaw() && v == "v4r2" {
			t.Errorf("v4r2 raw address differs between networks")
		}
		seen := map[string]bool{k.ServiceAddressRaw(): true}
		for _, pid := range []int64{1, 2, 3, 4, 5, 48576, 65535} {
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
	k5, _ := NewKeys(testSeed, "v5r1", NetworkSandbox)
	if _, err := k5.PartnerSubwallet(MaxV5Partners + 1); err == nil {
		t.Fatal("v5r1 must refuse a partner id whose subwallet would wrap onto another address")
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
		k, err := NewKeys(testSeed, tc.version, tc.network)
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := k.PartnerSubwallet(1)
		p1, _, _ := k.TopupAddress(sub)
		if k.ServiceAddress() != tc.service || k.ServiceAddressRaw() != tc.raw || p1 != tc.partner1 {
			t.Errorf("%s %s: service %s (%s), partner 1 %s", tc.version, tc.network, k.ServiceAddress(), k.ServiceAddressRaw(), p1)
		}
	}
}
