package shop_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

var tokenFormat = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// TestCheckoutTokenUnguessable: a token is 43 base64url characters (32
// bytes: 16 hiding the order id, a 128-bit tag), keyed by a 32-byte secret
// drawn from crypto/rand per store and kept in its meta; tokens of
// consecutive orders share nothing, and the same order id in another store
// has another token.
func TestCheckoutTokenUnguessable(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	seen := map[string]bool{}
	var prev []byte
	for range 20 {
		o := newOrder(t, env, p.ID)
		tok := env.Shop.CheckoutToken(o)
		if !tokenFormat.MatchString(tok) || len(tok) != shop.CheckoutTokenLen {
			t.Fatalf("token %q: want 43 base64url characters", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q decodes to %d bytes (%v), want 32 (256 bits, 128 of them the tag)", tok, len(raw), err)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
		if prev != nil {
			same := 0
			for i := range raw {
				if raw[i] == prev[i] {
					same++
				}
			}
			if same > 6 { // 32 random bytes agree in 1/8 of a byte on average
				t.Errorf("tokens of consecutive orders agree in %d of 32 bytes", same)
			}
		}
		prev = raw
		if got := env.Shop.CheckoutURL(o); got != "http://127.0.0.1:8080/pay/"+tok {
			t.Errorf("CheckoutURL = %q", got)
		}
	}

	// The secret: 32 bytes in the store's meta, not all zero, stable across a
	// new Shop over the same store.
	var secret []byte
	if err := env.Store.View(ctx, func(tx store.Tx) error {
		var err error
		secret, err = tx.GetMeta("checkout_key")
		return err
	}); err != nil || len(secret) != 32 || bytes.Equal(secret, make([]byte, 32)) {
		t.Fatalf("stored checkout secret: %x (%v), want 32 random bytes", secret, err)
	}
	first := newOrderIn(t, env, p.ID, 1)
	again, err := shop.New(shop.Deps{Config: env.Config, Store: env.Store, Keys: env.Keys, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed(string(env.Config.Pricing.TonUSD), time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := env.Shop.CheckoutToken(first), again.CheckoutToken(first); a != b {
		t.Errorf("a new Shop over the same store gives order 1 token %q, was %q", b, a)
	}

	// Another store: another secret, so another token for the same order id.
	other := shoptest.New(t, shoptest.Options{})
	op, _ := other.Partner(t)
	o1 := newOrderIn(t, other, op.ID, 1)
	if env.Shop.CheckoutToken(first) == other.Shop.CheckoutToken(o1) {
		t.Error("two stores give order 1 the same token: the secret is not per store")
	}
}

// newOrderIn returns order id of env (creating orders until it exists).
func newOrderIn(t *testing.T, env *shoptest.Env, partnerID, id int64) *domain.Order {
	t.Helper()
	for {
		var o *domain.Order
		err := env.Store.View(ctx, func(tx store.Tx) error {
			var err error
			o, err = tx.GetOrder(id)
			return err
		})
		if err == nil {
			return o
		}
		newOrder(t, env, partnerID)
	}
}

// TestCheckoutSecretSource: the secret is read whole from the source it is
// given (crypto/rand.Reader in the service); a short or failing source is an
// error, never a weaker secret.
func TestCheckoutSecretSource(t *testing.T) {
	a, err := shop.CheckoutSecret(rand.Reader)
	if err != nil || len(a) != 32 {
		t.Fatalf("secret %x, %v", a, err)
	}
	b, _ := shop.CheckoutSecret(rand.Reader)
	if bytes.Equal(a, b) {
		t.Error("two secrets from crypto/rand are equal")
	}
	if _, err := shop.CheckoutSecret(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("a 31-byte source gave a secret")
	}
	if _, err := shop.CheckoutSecret(failing{}); err == nil {
		t.Error("a failing source gave a secret")
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// TestCheckoutTokenLookup: a token finds its order only; another order's
// token finds that other order; another store's token, a random token,
// every one-character change, the order id, a truncated or extended token
// and the token of a balance order are NOT_FOUND.
func TestCheckoutTokenLookup(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	a, b := newOrder(t, env, p.ID), newOrder(t, env, p.ID)
	ta, tb := env.Shop.CheckoutToken(a), env.Shop.CheckoutToken(b)
	for tok, want := range map[string]int64{ta: a.ID, tb: b.ID} {
		got, err := env.Shop.OrderByCheckoutToken(ctx, tok)
		if err != nil || got.ID != want {
			t.Fatalf("token %s: %v, %v; want order %d", tok, got, err, want)
		}
	}

	other := shoptest.New(t, shoptest.Options{})
	op, _ := other.Partner(t)
	foreign := other.Shop.CheckoutToken(newOrder(t, other, op.ID)) // same id as a in the other store

	random := func() string {
		var r [32]byte
		_, _ = rand.Read(r[:])
		return base64.RawURLEncoding.EncodeToString(r[:])
	}
	bad := map[string]string{
		"another store's token for the same id": foreign,
		"random 32 bytes":                       random(),
		"the order id":                          strconv.FormatInt(a.ID, 10),
		"empty":                                 "",
		"truncated":                             ta[:42],
		"extended":                              ta + "A",
		"padded":                                ta + "=",
		"the memo":                              a.PaymentMemo,
	}
	for i := range ta {
		c := byte('A')
		if ta[i] == 'A' {
			c = 'B'
		}
		bad["char "+strconv.Itoa(i)+" changed"] = ta[:i] + string(c) + ta[i+1:]
	}
	for name, tok := range bad {
		if o, err := env.Shop.OrderByCheckoutToken(ctx, tok); shop.ErrorCode(err) != shop.CodeNotFound {
			t.Errorf("%s (%q): %v, %v; want NOT_FOUND", name, tok, o, err)
		}
	}

	// A balance order has no checkout page: no token, and the token its id
	// would have is refused.
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: p.TopupAddress, AmountNano: 10_000_000_000, Incoming: true}); err != nil {
		t.Fatal(err)
	}
	bal, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100,
		PaymentMethod: domain.MethodBalance})
	if err != nil {
		t.Fatal(err)
	}
	if u := env.Shop.CheckoutURL(bal); u != "" {
		t.Errorf("balance order checkout URL %q, want none", u)
	}
	forged, err := shop.ForgeCheckoutToken(ctx, env.Shop, bal.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := env.Shop.OrderByCheckoutToken(ctx, forged); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Errorf("token of balance order %d: %v, %v; want NOT_FOUND", bal.ID, o, err)
	}
	missing, _ := shop.ForgeCheckoutToken(ctx, env.Shop, 1_000_000)
	if o, err := env.Shop.OrderByCheckoutToken(ctx, missing); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Errorf("token of a missing order: %v, %v; want NOT_FOUND", o, err)
	}
}

// TestPublicURL: http.public_url when set (trailing slash dropped), else
// the listen address, a wildcard host read as localhost.
func TestPublicURL(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		":8080":          "http://localhost:8080",
		"0.0.0.0:9000":   "http://localhost:9000",
		"[::]:9000":      "http://localhost:9000",
		"[::1]:9000":     "http://[::1]:9000",
		"example:80":     "http://example:80",
	} {
		if got := shop.ListenURL(listen); got != want {
			t.Errorf("listen %q: %q, want %q", listen, got, want)
		}
	}
	cfg := config.Default()
	cfg.HTTP.PublicURL = "https://pay.example.com/"
	env := shoptest.New(t, shoptest.Options{Config: cfg})
	if got := env.Shop.PublicURL(); got != "https://pay.example.com" {
		t.Errorf("PublicURL = %q", got)
	}
	p, _ := env.Partner(t)
	o := newOrder(t, env, p.ID)
	if u := env.Shop.CheckoutURL(o); !strings.HasPrefix(u, "https://pay.example.com/pay/") || len(u) != len("https://pay.example.com/pay/")+43 {
		t.Errorf("CheckoutURL = %q", u)
	}
}

// TestWalletRequest: one message to the payment address for what is due
// (the price, then the rest after a partial payment), the memo's comment
// cell as payload, valid until the order expires; nothing once paid.
func TestWalletRequest(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	o := newOrder(t, env, p.ID)
	req, err := env.Shop.WalletRequestFor(o)
	if err != nil || req == nil {
		t.Fatal(req, err)
	}
	if req.Address != o.PaymentAddress || req.AmountNano != o.PriceNano || !req.ValidUntil.Equal(*o.ExpiresAt) || req.ChainID != "-3" {
		t.Errorf("request %+v for order %+v", req, o)
	}
	if shop.DueLink(o) != o.PaymentLink() {
		t.Errorf("due link %q, payment link %q", shop.DueLink(o), o.PaymentLink())
	}
	raw, err := base64.StdEncoding.DecodeString(req.Payload)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cell.FromBOC(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := c.BeginParse()
	if op := s.MustLoadUInt(32); op != 0 {
		t.Errorf("payload op %d, want 0 (text comment)", op)
	}
	if text, err := s.LoadStringSnake(); err != nil || text != o.PaymentMemo {
		t.Errorf("payload comment %q (%v), want %q", text, err, o.PaymentMemo)
	}

	// A partial payment: the rest is due.
	part := o.PriceNano / 4
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: part,
		Comment: o.PaymentMemo, Incoming: true, ChainTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	o, _ = env.Shop.OrderByCheckoutToken(ctx, env.Shop.CheckoutToken(o))
	if shop.AmountDue(o) != o.PriceNano-part {
		t.Errorf("due %d after %d of %d", shop.AmountDue(o), part, o.PriceNano)
	}
	if req, _ := env.Shop.WalletRequestFor(o); req == nil || req.AmountNano != o.PriceNano-part {
		t.Errorf("request after a partial payment: %+v", req)
	}
	if want := "ton://transfer/" + o.PaymentAddress + "?amount=" + strconv.FormatInt(o.PriceNano-part, 10) + "&text=" + o.PaymentMemo; shop.DueLink(o) != want {
		t.Errorf("due link %q, want %q", shop.DueLink(o), want)
	}
	// Paid: nothing due, no request.
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: o.PriceNano,
		Comment: o.PaymentMemo, Incoming: true, ChainTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	o, _ = env.Shop.OrderByCheckoutToken(ctx, env.Shop.CheckoutToken(o))
	if req, err := env.Shop.WalletRequestFor(o); req != nil || err != nil || shop.AmountDue(o) != 0 || shop.DueLink(o) != "" {
		t.Errorf("paid order (%s): request %+v, %v, due %d", o.Status, req, err, shop.AmountDue(o))
	}
}

// TestTelegramOrders: a bot user's orders, newest first; none for a user
// who never used the bot.
func TestTelegramOrders(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, err := env.Shop.TelegramPartner(ctx, shop.TelegramUser{ID: 4242, ChatID: 4242, Name: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := newOrder(t, env, p.ID), newOrder(t, env, p.ID)
	stranger, _ := env.Partner(t)
	newOrder(t, env, stranger.ID)
	got, err := env.Shop.TelegramOrders(ctx, 4242, 10)
	if err != nil || len(got) != 2 || got[0].ID != b.ID || got[1].ID != a.ID {
		t.Fatalf("orders of user 4242: %v, %v; want %d, %d", got, err, b.ID, a.ID)
	}
	if got, err := env.Shop.TelegramOrders(ctx, 99, 10); err != nil || len(got) != 0 {
		t.Errorf("orders of an unknown user: %v, %v", got, err)
	}
}

func BenchmarkCheckoutURL(b *testing.B) {
	env := shoptest.New(b, shoptest.Options{})
	p, _ := env.Partner(b)
	o, _, err := env.Shop.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = env.Shop.CheckoutURL(o)
	}
}
