package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
)

func TestWebhookRecords(t *testing.T) {
	st, err := OpenBolt(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC)
	err = st.Update(ctx, func(tx Tx) error {
		if _, err := tx.GetWebhook(1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
		if err := tx.DeleteWebhook(1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete missing: %v", err)
		}
		if err := tx.PutWebhook(&domain.Webhook{PartnerID: 1, URL: "https://a.example/h", Events: []string{"order.paid"},
			Secret: "whsec_x", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		for i := range 5 {
			for _, p := range []int64{1, 2} {
				d := &domain.WebhookDelivery{PartnerID: p, EventID: "evt_1", EventType: "order.paid", Attempt: i + 1, At: now,
					StatusCode: 500, Final: domain.WebhookRetrying}
				if err := tx.AppendWebhookDelivery(d); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx Tx) error {
		w, err := tx.GetWebhook(1)
		if err != nil || w.URL != "https://a.example/h" || w.Secret != "whsec_x" || len(w.Events) != 1 {
			t.Fatalf("webhook %+v %v", w, err)
		}
		page, err := tx.ListWebhookDeliveries(1, 0, 3)
		if err != nil || len(page) != 3 || page[0].Attempt != 5 || page[2].Attempt != 3 {
			t.Fatalf("page 1 %+v %v", page, err)
		}
		rest, err := tx.ListWebhookDeliveries(1, page[2].ID, 10)
		if err != nil || len(rest) != 2 || rest[0].Attempt != 2 || rest[1].Attempt != 1 {
			t.Fatalf("page 2 %+v %v", rest, err)
		}
		for _, d := range append(page, rest...) {
			if d.PartnerID != 1 {
				t.Fatalf("other partner's row %+v", d)
			}
		}
		if none, err := tx.ListWebhookDeliveries(3, 0, 10); err != nil || len(none) != 0 {
			t.Fatalf("partner 3 %+v %v", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx Tx) error { return tx.DeleteWebhook(1) }); err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx Tx) error {
		_, err := tx.GetWebhook(1)
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
