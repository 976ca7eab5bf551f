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
