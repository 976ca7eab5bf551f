package shop_test

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// A v5r1 seed has 32767 top-up subwallets (15-bit field). Partner 32767 is
// opened; the next one is refused with a 503-class business error that names
// no internals, and the store stays consistent.
func TestV5PartnerLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "openmoney.db")
	st, err := store.OpenBolt(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Jump the partner sequence (bbolt's own bucket sequence) to just below the limit.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("partners"))
		if b == nil {
			return errors.New("no partners bucket")
		}
		return b.SetSequence(ton.MaxV5Partners - 1)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	keys, err := ton.NewKeys(shoptest.Seed, "v5r1", ton.NetworkSandbox)
	if err != nil {
		t.Fatal(err)
	}
	env := shoptest.New(t, shoptest.Options{Path: path, Keys: keys})
	p, err := env.Shop.CreatePartner(ctx, "last v5r1 partner")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != ton.MaxV5Partners || p.SubwalletID != ton.MaxV5Partners {
		t.Fatalf("partner %d subwallet %d, want both %d", p.ID, p.SubwalletID, ton.MaxV5Partners)
	}
	_, raw, _ := keys.TopupAddress(ton.MaxV5Partners)
	if p.TopupAddressRaw != raw {
		t.Fatalf("top-up %s, want %s", p.TopupAddressRaw, raw)
	}
	_, err = env.Shop.CreatePartner(ctx, "one too many")
	var se *shop.Error
	if !errors.As(err, &se) || se.Code != shop.CodeServiceUnavailable || se.Key != "partner_limit" {
		t.Fatalf("partner 32768: %v, want SERVICE_UNAVAILABLE partner_limit", err)
	}
	if want := "no new partner account can be opened"; len(se.Message) < len(want) || se.Message[:len(want)] != want {
		t.Errorf("message %q", se.Message)
	}
	_, err = env.Shop.TelegramPartner(ctx, shop.TelegramUser{ID: 777, ChatID: 777, Name: "late"})
	if shop.ErrorCode(err) != shop.CodeServiceUnavailable {
		t.Fatalf("telegram partner beyond the limit: %v", err)
	}
	env.Check(t)
}
