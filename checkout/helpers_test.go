package checkout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

var ctx = context.Background()

// botToken is the Telegram bot token of the tests (the Mini App's key).
const botToken = "123456:TEST-token-never-logged"

// partnerName and reference are partner data the page must never show.
const (
	partnerName = "Acme Secret Reseller Ltd"
	reference   = "invoice-SECRET-4711"
)

// env is a shop over a temp bbolt file and the API handler (which mounts
// the checkout pages) over it, with one partner and its key.
type env struct {
	*shoptest.Env
	h       http.Handler
	logs    *shoptest.LogBuffer
	partner *domain.Partner
	key     string
}

type opt func(*config.Config, *shoptest.Options)

func withClock() opt { return func(_ *config.Config, o *shoptest.Options) { o.Clock = true } }

func withPublicURL(u string) opt {
	return func(c *config.Config, _ *shoptest.Options) { c.HTTP.PublicURL = u }
}

func withProvider(p shop.Provider) opt {
	return func(_ *config.Config, o *shoptest.Options) { o.Provider = p }
}

func newEnv(t testing.TB, opts ...opt) *env {
	t.Helper()
	cfg := config.Default()
	cfg.API.RateLimit = config.RateLimit{PerSecond: 1e6, Burst: 1_000_000}
	cfg.Telegram.Token = botToken
	cfg.HTTP.PublicURL = "https://pay.example.com"
	so := shoptest.Options{}
	for _, o := range opts {
		o(cfg, &so)
	}
	so.Config = cfg
	se := shoptest.New(t, so)
	lb := &shoptest.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &env{Env: se, h: api.NewServer(se.Shop, cfg, log), logs: lb}
	p, err := se.Shop.CreatePartner(ctx, partnerName)
	if err != nil {
		t.Fatal(err)
	}
	k, err := se.Shop.IssueKey(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.partner, e.key = p, k.Key
	return e
}

// orderJSON is the API's order object, the fields the tests read.
type orderJSON struct {
	ID             int64   `json:"id"`
	Status         string  `json:"status"`
	PriceTON       string  `json:"-"`
	PriceNanoton   string  `json:"price_nanoton"`
	PaymentAddress string  `json:"payment_address"`
	PaymentMemo    string  `json:"payment_memo"`
	PaymentLink    string  `json:"payment_link"`
	CheckoutURL    *string `json:"checkout_url"`
	ExpiresAt      string  `json:"expires_at"`
}

// path is the checkout URL's path (the tests call the handler directly).
func (o orderJSON) path() string {
	u, err := url.Parse(*o.CheckoutURL)
	if err != nil {
		panic(err)
	}
	return u.Path
}

func (o orderJSON) token() string { return strings.TrimPrefix(o.path(), "/pay/") }

// create makes an order through the partner API.
func (e *env) create(t testing.TB, body string) orderJSON {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/orders/stars", strings.NewReader(body))
	if strings.Contains(body, `"months"`) {
		req = httptest.NewRequest(http.MethodPost, "/api/v1/orders/premium", strings.NewReader(body))
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("create order: %d %s", rec.Code, rec.Body)
	}
	var env struct{ Data orderJSON }
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatal(err)
	}
	return env.Data
}

func (e *env) stars(t testing.TB) orderJSON {
	return e.create(t, `{"recipient_username":"pandus","quantity":100,"client_reference":"`+reference+`"}`)
}

// get sends a GET through the handler; hdr is name, value, name, value…
func (e *env) get(t testing.TB, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// pay lands a sandbox transfer to the order's address with its memo.
func (e *env) pay(t testing.TB, o orderJSON, nano int64) {
	t.Helper()
	if _, err := e.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: hash(), To: o.PaymentAddress, AmountNano: nano,
		Comment: o.PaymentMemo, Incoming: true, ChainTime: e.Shop.Now()}); err != nil {
		t.Fatal(err)
	}
}

var hashN int

func hash() string {
	hashN++
	return fmt.Sprintf("%064x", 0xc0ffee00+hashN)
}

// statusJSON is GET /pay/{token}/status.
type statusJSON struct {
	State     string      `json:"state"`
	Status    string      `json:"status"`
	Title     string      `json:"title"`
	Detail    string      `json:"detail"`
	Final     bool        `json:"final"`
	Currency  string      `json:"currency"`
	Due       string      `json:"due"`
	DueUnits  string      `json:"due_units"`
	Received  string      `json:"received"`
	ExpiresIn int64       `json:"expires_in"`
	Link      string      `json:"link"`
	QR        string      `json:"qr"`
	Wallet    *walletJSON `json:"wallet"`
	WalletURL string      `json:"wallet_url"`
	// The link back to the partner's shop: "" until settled.
	ReturnURL  string `json:"return_url"`
	ReturnText string `json:"return_text"`
}

// walletJSON is a TON Connect request (status.wallet, POST …/wallet).
type walletJSON struct {
	ValidUntil int64  `json:"validUntil"`
	Network    string `json:"network"`
	Messages   []struct {
		Address, Amount, Payload string
	} `json:"messages"`
}

func (e *env) status(t testing.TB, o orderJSON, lang string) statusJSON {
	t.Helper()
	rec := e.get(t, o.path()+"/status?lang="+lang)
	if rec.Code != http.StatusOK {
		t.Fatalf("status: %d %s", rec.Code, rec.Body)
	}
	var s statusJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// decodeQR reads the QR code in a picture.
func decodeQR(t testing.TB, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no QR code found: %v", err)
	}
	return res.GetText()
}

// decodePNG decodes PNG bytes.
func decodePNG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func shopTransfer(to string, nano int64, comment string, at time.Time) ton.Transfer {
	return ton.Transfer{Hash: hash(), To: to, AmountNano: nano, Comment: comment, Incoming: true, ChainTime: at}
}

func newReq(path, remote string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = remote
	return req
}

func serve(e *env, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}
