package store

import (
	"context"
	stdjson "encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	bolt "go.etcd.io/bbolt"
)

// TestRecordsReadableAcrossCodecs: records are JSON written by segmentio's
// encoder since 2026-11-25 and by encoding/json before. A store written by
// the earlier binary must read back exactly, and what the store writes now
// must decode with encoding/json to the same values (other tools, exports).
func TestRecordsReadableAcrossCodecs(t *testing.T) {
	ctx := context.Background()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 4, 16, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	exp := now.Add(30 * time.Minute)
	old := domain.Order{ID: 7, PartnerID: 3, Status: domain.StatusCompleted, Type: "stars", StarsAmount: 100, RecipientUsername: "pandus",
		PriceNano: 437500000, PriceUSD: "1.575", TonUSD: "3.6", FeePercent: "5", PaymentMethod: "ton_memo", PaymentCurrency: "TON",
		PaymentAddress: "0QB_2hgiLMfGAiDHTkFZ1CrYfa1AGNoiDsH-lkDw4lN70Qr4", PaymentMemo: "STARS-abc123", ExpiresAt: &exp,
		CreatedAt: now, PaidAt: &now, CompletedAt: &exp, ReceivedNano: 437500007, ClientReference: `<ref "é€">`,
		PaymentTxHashes: []string{"aa", "bb"}, DeliveryAttempts: 2, DeliveryRef: "order-7", IdempotencyKey: "k\u2028"}
	raw, err := stdjson.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	// As the earlier binary left it: encoding/json bytes under the id.
	if err := s.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(bOrders).Put(i64(old.ID), raw) }); err != nil {
		t.Fatal(err)
	}
	idem := domain.IdemRecord{PartnerID: 3, Key: "k1", Fingerprint: "fp", OrderID: 7, Status: 200, Body: []byte("{\"ok\":true}\n\x00\xff"), CreatedAt: now}
	rawIdem, _ := stdjson.Marshal(idem)
	if err := s.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(bIdem).Put(idemKey(3, "k1"), rawIdem) }); err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx Tx) error {
		got, err := tx.GetOrder(7)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(normal(*got), normal(old)) {
			t.Errorf("order written by encoding/json reads back as\n%+v\nwant\n%+v", *got, old)
		}
		gi, err := tx.GetIdem(3, "k1")
		if err != nil {
			return err
		}
		if string(gi.Body) != string(idem.Body) || gi.OrderID != 7 || !gi.CreatedAt.Equal(now) {
			t.Errorf("idempotency record reads back as %+v", gi)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// And what the store writes now, read by encoding/json.
	o2 := old
	o2.ID = 8
	if err := s.Update(ctx, func(tx Tx) error { return tx.CreateOrder(&o2) }); err != nil {
		t.Fatal(err)
	}
	var data []byte
	_ = s.DB().View(func(tx *bolt.Tx) error { data = append(data, tx.Bucket(bOrders).Get(i64(8))...); return nil })
	var back domain.Order
	if err := stdjson.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normal(back), normal(o2)) {
		t.Errorf("stored record read by encoding/json:\n%+v\nwant\n%+v", back, o2)
	}
}

// normal puts times in UTC (JSON keeps the instant and the offset; the
// location pointer differs) so records compare by value.
func normal(o domain.Order) domain.Order {
	fix := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	o.CreatedAt = o.CreatedAt.UTC()
	o.ExpiresAt, o.PaidAt, o.CompletedAt, o.NextDeliveryAt, o.RefundedAt = fix(o.ExpiresAt), fix(o.PaidAt), fix(o.CompletedAt), fix(o.NextDeliveryAt), fix(o.RefundedAt)
	return o
}
