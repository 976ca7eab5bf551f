package shop_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

func TestWebhookURLRules(t *testing.T) {
	restore := shop.SetWebhookLookup(func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "internal.example":
			return []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("10.0.0.5")}, nil
		case "hooks.example":
			return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil
		}
		return nil, errors.New("no such host")
	})
	defer restore()
	for _, tc := range []struct {
		name    string
		sandbox bool
		url     string
		ok      bool
	}{
		{"https public IP → ok", false, "https://203.0.113.10/hook?token=abc", true},
		{"https name resolving to public → ok", false, "https://hooks.example/h", true},
		{"name that does not resolve yet → ok (checked at connect time)", false, "https://not-yet.example/h", true},
		{"http outside sandbox → refused", false, "http://203.0.113.10/hook", false},
		{"http in sandbox → ok", true, "http://127.0.0.1:9000/hook", true},
		{"loopback in sandbox → ok", true, "https://localhost/hook", true},
		{"ftp → refused", true, "ftp://203.0.113.10/hook", false},
		{"relative → refused", true, "/hook", false},
		{"empty → refused", true, "", false},
		{"credentials → refused", false, "https://user:pw@203.0.113.10/", false},
		{"fragment → refused", false, "https://203.0.113.10/#x", false},
		{"over 2048 chars → refused", true, "https://hooks.example/" + strings.Repeat("a", 2048), false},
		{"loopback v4 → refused", false, "https://127.0.0.1/h", false},
		{"loopback v6 → refused", false, "https://[::1]/h", false},
		{"v4-mapped loopback → refused", false, "https://[::ffff:127.0.0.1]/h", false},
		{"localhost name → refused", false, "https://localhost:8443/h", false},
		{"private 10/8 → refused", false, "https://10.1.2.3/h", false},
		{"private 192.168/16 → refused", false, "https://192.168.1.1/h", false},
		{"link-local metadata → refused", false, "https://169.254.169.254/latest/meta-data", false},
		{"unspecified → refused", false, "https://0.0.0.0/h", false},
		{"CGNAT → refused", false, "https://100.64.1.1/h", false},
		{"ULA v6 → refused", false, "https://[fd00::1]/h", false},
		{"NAT64 of a private v4 → refused", false, "https://[64:ff9b::a00:1]/h", false},
		{"NAT64 of a public v4 → ok", false, "https://[64:ff9b::cb00:710a]/h", true},
		{"benchmarking 198.18/15 → refused", false, "https://198.18.0.1/h", false},
		{"broadcast → refused", false, "https://255.255.255.255/h", false},
		{"public v6 → ok", false, "https://[2001:4860:4860::8888]/h", true},
		{"name resolving to a private address → refused", false, "https://internal.example/h", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := shoptest.New(t, shoptest.Options{NotSandbox: !tc.sandbox})
			p, _ := env.Partner(t)
			w, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new(tc.url)})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if w.URL != tc.url {
					t.Fatalf("url %q, want %q", w.URL, tc.url)
				}
				return
			}
			var be *shop.Error
			if !errors.As(err, &be) || be.Code != shop.CodeValidation || be.Field != "url" {
				t.Fatalf("err %v, want VALIDATION_ERROR on url", err)
			}
		})
	}
}

func TestWebhookEventsRules(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	const u = "https://hooks.example/h"
	w, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new(u)})
	if err != nil || !slices.Equal(w.Events, shop.WebhookEvents) {
		t.Fatalf("default events %v, %v", w, err)
	}
	w, err = env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new(u), Events: []string{"balance.topup", "order.paid", "order.paid"}})
	if err != nil || fmt.Sprint(w.Events) != "[order.paid balance.topup]" {
		t.Fatalf("events %v, %v", w, err)
	}
	for _, bad := range [][]string{{}, {"order.shipped"}, {"order.paid", "webhook.test"}} {
		var be *shop.Error
		if _, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new(u), Events: bad}); !errors.As(err, &be) || be.Field != "events" {
			t.Errorf("events %q: %v, want VALIDATION_ERROR on events", bad, err)
		}
	}
}

func TestWebhookSecretShownOnlyOnCreateAndRotate(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	if _, err := env.Shop.GetWebhook(ctx, p.ID); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("get before create: %v", err)
	}
	for name, call := range map[string]func() error{
		"rotate": func() error { _, err := env.Shop.RotateWebhookSecret(ctx, p.ID); return err },
		"delete": func() error { return env.Shop.DeleteWebhook(ctx, p.ID) },
		"test":   func() error { _, err := env.Shop.TestWebhook(ctx, p.ID); return err },
	} {
		if err := call(); shop.ErrorCode(err) != shop.CodeNotFound {
			t.Errorf("%s without webhook: %v, want NOT_FOUND", name, err)
		}
	}
	created, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new("https://a.example/1")})
	if err != nil || !strings.HasPrefix(created.Secret, shop.WebhookSecretPrefix) {
		t.Fatalf("create: %+v %v", created, err)
	}
	updated, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new("https://a.example/2")})
	if err != nil || updated.Secret != "" || updated.URL != "https://a.example/2" || !updated.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("update: %+v %v", updated, err)
	}
	got, err := env.Shop.GetWebhook(ctx, p.ID)
	if err != nil || got.Secret != "" {
		t.Fatalf("get: %+v %v", got, err)
	}
	target, _ := env.Shop.WebhookTarget(ctx, p.ID)
	if target.Secret != created.Secret {
		t.Fatal("update changed the secret")
	}
	rotated, err := env.Shop.RotateWebhookSecret(ctx, p.ID)
	if err != nil || !strings.HasPrefix(rotated.Secret, shop.WebhookSecretPrefix) || rotated.Secret == created.Secret {
		t.Fatalf("rotate: %+v %v", rotated, err)
	}
	if target, _ = env.Shop.WebhookTarget(ctx, p.ID); target.Secret != rotated.Secret {
		t.Fatal("rotation not stored")
	}
	if err := env.Shop.DeleteWebhook(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.GetWebhook(ctx, p.ID); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("get after delete: %v", err)
	}
}

// webhookQueue lists the types queued on the webhook channel.
func webhookQueue(t *testing.T, env *shoptest.Env) []string {
	t.Helper()
	var types []string
	err := env.Store.View(ctx, func(tx store.Tx) error {
		items, err := tx.PendingOutbox(domain.ChannelWebhook, 0, 100)
		for _, it := range items {
			types = append(types, it.Type)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return types
}

func TestWebhookEventsQueuedOnlyWhenSubscribed(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{Clock: true})
	p, _ := env.Partner(t)
	pay := func(o *domain.Order) {
		t.Helper()
		if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: o.PriceNano,
			Comment: o.PaymentMemo, ChainTime: env.Clock.Now(), Incoming: true, From: p.TopupAddress}); err != nil {
			t.Fatal(err)
		}
	}
	pay(newOrder(t, env, p.ID)) // no webhook: nothing queued
	if q := webhookQueue(t, env); len(q) != 0 {
		t.Fatalf("queued without a webhook: %v", q)
	}
	if _, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new("https://a.example/h"), Events: []string{shop.EventOrderCancelled}}); err != nil {
		t.Fatal(err)
	}
	pay(newOrder(t, env, p.ID)) // order.paid: not subscribed
	if _, err := env.Shop.CancelOrder(ctx, p.ID, newOrder(t, env, p.ID).ID); err != nil {
		t.Fatal(err)
	}
	if q := webhookQueue(t, env); fmt.Sprint(q) != "[order.cancelled]" {
		t.Fatalf("queued %v, want [order.cancelled]", q)
	}
	env.Check(t)
}

func TestWebhookDeliveriesPaging(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	it := &domain.OutboxItem{ID: 9, PartnerID: p.ID, Type: shop.EventOrderPaid}
	for i := range 5 {
		it.Attempts = i
		if err := env.Shop.RecordWebhookAttempt(ctx, it, shop.WebhookAttempt{StatusCode: 500 + i, Err: errors.New("boom")}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := env.Shop.WebhookDeliveries(ctx, p.ID, "", 3)
	if err != nil || len(page.Items) != 3 || page.NextCursor == "" || page.Items[0].Attempt != 5 || page.Items[0].EventID != "evt_9" {
		t.Fatalf("page 1 %+v %v", page, err)
	}
	page, err = env.Shop.WebhookDeliveries(ctx, p.ID, page.NextCursor, 3)
	if err != nil || len(page.Items) != 2 || page.NextCursor != "" || page.Items[1].StatusCode != 500 {
		t.Fatalf("page 2 %+v %v", page, err)
	}
	if _, err := env.Shop.WebhookDeliveries(ctx, p.ID, "bogus", 3); shop.ErrorCode(err) != shop.CodeValidation {
		t.Fatalf("bad cursor: %v", err)
	}
}
