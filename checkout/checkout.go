// Package checkout is the hosted payment page of every ton_memo order
// (<http.public_url>/pay/<token>) and the Telegram Mini App around it:
// server-rendered HTML embedded in the binary, no CDN, English and
// Indonesian, live status by polling, and TON Connect (@tonconnect/ui,
// vendored under assets/tonconnect) loaded only when the customer asks to
// pay with a wallet. docs/CHECKOUT.md is the guide; the api package mounts
// these routes beside the partner API.
//
// The page shows one order and nothing of the partner who created it: what
// is bought and for whom, the amount, the service's payment address and
// the memo. No API key ever reaches it: the token in the URL is its only
// credential (shop/checkout.go).
package checkout

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
)

//go:embed templates assets
var files embed.FS

// Paths outside the partner API.
const (
	PayPrefix    = shop.CheckoutPath // /pay/<token>
	AssetsPrefix = "/assets/"
	ManifestPath = "/tonconnect-manifest.json"
	AppPrefix    = "/app/"
)

// Deps are what the pages run on.
type Deps struct {
	Shop   *shop.Shop
	Config *config.Config // telegram.token (Mini App), ton.network
	Log    *slog.Logger
	// Allow is the per-client limit of the public routes (nil: none); when
	// it refuses, retryAfter says when to come back.
	Allow func(w http.ResponseWriter, r *http.Request) (ok bool, retryAfter time.Duration)
	// Now is the wall clock for Telegram's auth_date (nil: time.Now).
	Now func() time.Time
}

// Pages serves the checkout routes. Built once by New; safe for concurrent use.
type Pages struct {
	shop     *shop.Shop
	log      *slog.Logger
	allow    func(http.ResponseWriter, *http.Request) (bool, time.Duration)
	now      func() time.Time
	botToken string
	sandbox  bool
	network  string
	tmpl     *template.Template
	assets   map[string]asset // by file name under assets/
}

// asset is one embedded static file with its content hash (the ?v= of its
// URLs, which makes them cacheable for good).
type asset struct {
	body  []byte
	ctype string
	hash  string
}

// Route is one checkout route: its ServeMux pattern and handler.
type Route struct {
	Pattern string
	Handler http.Handler
}

// New builds the pages; it fails only on a defect of the embedded files.
func New(d Deps) (*Pages, error) {
	if d.Shop == nil || d.Config == nil {
		return nil, errors.New("checkout: Shop and Config are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	p := &Pages{shop: d.Shop, log: d.Log, allow: d.Allow, now: d.Now, botToken: d.Config.Telegram.Token,
		sandbox: d.Shop.SandboxMode(), network: d.Config.TON.Network, assets: map[string]asset{}}
	err := fs.WalkDir(files, "assets", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		p.assets[strings.TrimPrefix(name, "assets/")] = asset{body: b, ctype: contentType(name), hash: hex.EncodeToString(sum[:5])}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.tmpl, err = template.New("").Funcs(template.FuncMap{"asset": p.assetURL}).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Routes lists the checkout routes for a ServeMux (each already limited
// by Deps.Allow).
func (p *Pages) Routes() []Route {
	rs := []Route{
		{"GET " + PayPrefix + "{token}", p.handlePage()},
		{"GET " + PayPrefix + "{token}/status", p.handleStatus()},
		{"GET " + PayPrefix + "{token}/qr.png", p.handleQR()},
		{"POST " + PayPrefix + "{token}/wallet", p.handleWallet()},
		{"GET " + AssetsPrefix + "{file...}", p.handleAsset()},
		{"GET " + ManifestPath, p.handleManifest()},
		{"GET " + AppPrefix + "{$}", p.handleOrdersPage()},
		{"GET " + AppPrefix + "orders", p.handleOrdersPage()},
		{"GET " + AppPrefix + "orders.json", p.handleOrdersJSON()},
	}
	for i := range rs {
		rs[i].Handler = p.limit(rs[i].Handler)
	}
	return rs
}

// contentType of an embedded file by extension.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".json":
		return "application/json; charset=utf-8"
	case ".png":
		return "image/png"
	case ".svg":
		return "image/svg+xml"
	case ".html":
		return "text/html; charset=utf-8"
	}
	return "text/plain; charset=utf-8" // LICENSE, NOTICE
}

// assetURL is the versioned URL of an embedded asset.
func (p *Pages) assetURL(name string) string {
	a, ok := p.assets[name]
	if !ok {
		panic("checkout: no asset " + name) // a template defect, caught by tests
	}
	return AssetsPrefix + name + "?v=" + a.hash
}

// contentSecurityPolicy of every HTML page, for one response's nonce.
// Scripts come from this origin only (no inline script, no eval); images
// may be data: (the QR) and https: (wallet icons in the TON Connect
// window); connections go to this origin and https: (the wallets' TON
// Connect bridges). Styles come from this origin, plus the one <style>
// element the page creates empty with the response's nonce, which the TON
// Connect window (goober) fills with its rules. The one inline handler
// allowed, by its hash, is the empty one: the TON Connect window sets
// ontouchstart="" on the body (an old iOS trick for :active styles).
// Telegram's web client frames Mini Apps.
func contentSecurityPolicy(nonce string) string {
	return "default-src 'none'; script-src 'self'; " +
		"script-src-attr 'unsafe-hashes' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='; " +
		"style-src 'self' 'nonce-" + nonce + "'; img-src 'self' data: https:; connect-src 'self' https:; " +
		"font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self' https://web.telegram.org"
}

// newNonce is a fresh CSP nonce (128 bits).
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawStdEncoding.EncodeToString(b[:])
}

// pageHeaders are set on every HTML answer: the page is private to whoever
// holds its link (never stored by caches, never indexed, never sent as a
// referrer to another site) and locked down by its CSP.
func pageHeaders(h http.Header, nonce string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy(nonce))
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}

// limit applies Deps.Allow: 429 with Retry-After, as a page or JSON.
func (p *Pages) limit(next http.Handler) http.Handler {
	if p.allow == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, after := p.allow(w, r)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		secs := max(1, int((after+time.Second-1)/time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		lang := pickLang(r)
		if wantsJSON(r) {
			writeJSONError(w, http.StatusTooManyRequests, "RATE_LIMITED", "too many requests; retry after "+strconv.Itoa(secs)+" s")
			return
		}
		p.message(w, r, http.StatusTooManyRequests, lang, text(lang, "busy"), text(lang, "busy_d", "n", strconv.Itoa(secs)))
	})
}

// wantsJSON: the JSON routes (status, wallet, orders.json) answer errors in JSON.
func wantsJSON(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/status") || strings.HasSuffix(r.URL.Path, "/wallet") || strings.HasSuffix(r.URL.Path, ".json")
}

// writeJSON writes v with the status and no caching.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"ok":false,"error_code":"INTERNAL_ERROR","error_message":"internal error","data":null}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errorBody is the API's error envelope, for the JSON routes.
type errorBody struct {
	OK           bool   `json:"ok"`
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	Data         any    `json:"data"`
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{ErrorCode: code, ErrorMessage: msg})
}

// render executes a template into a buffer first, so a failure is a clean
// 500. nonce is the one the page's base was built with.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name, nonce string, data any) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		p.log.Error("checkout: render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w.Header(), nonce)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// messageData is a page that only says something (not found, too many requests).
type messageData struct {
	base
	Title, Detail string
}

// base is what every page template uses.
type base struct {
	Lang  string
	T     map[string]string
	Langs []langLink
	Nonce string // this response's CSP nonce
}

type langLink struct {
	Code, Name, Href string
	Current          bool
}

func (p *Pages) base(r *http.Request, lang string) base {
	b := base{Lang: lang, T: texts[lang], Nonce: newNonce()}
	for _, l := range langNames {
		q := r.URL.Query()
		q.Set("lang", l.Code)
		b.Langs = append(b.Langs, langLink{Code: l.Code, Name: l.Name, Href: "?" + q.Encode(), Current: l.Code == lang})
	}
	return b
}

func (p *Pages) message(w http.ResponseWriter, r *http.Request, status int, lang, title, detail string) {
	b := p.base(r, lang)
	p.render(w, r, status, "message.html", b.Nonce, messageData{base: b, Title: title, Detail: detail})
}

// handleAsset serves an embedded file: for good (immutable) under its
// current ?v=, briefly otherwise; ETag and If-None-Match through ServeContent.
func (p *Pages) handleAsset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := p.assets[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", `"`+a.hash+`"`)
		h.Set("Access-Control-Allow-Origin", "*") // icons and the wallet list may be read by wallets
		if r.URL.Query().Get("v") == a.hash {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=300")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

// manifest is tonconnect-manifest.json: what a wallet shows about us.
type manifest struct {
	URL     string `json:"url"`
	Name    string `json:"name"`
	IconURL string `json:"iconUrl"`
}

// handleManifest serves the TON Connect manifest from http.public_url
// (wallets fetch it from their own origin: CORS open).
func (p *Pages) handleManifest() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := p.shop.PublicURL()
		b, _ := json.Marshal(manifest{URL: base, Name: "The Open Money", IconURL: base + p.assetURL("icon.png")})
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	})
}

// order looks the token up; a missing or forged one answers 404 itself.
func (p *Pages) order(w http.ResponseWriter, r *http.Request) (*domain.Order, bool) {
	o, err := p.shop.OrderByCheckoutToken(r.Context(), r.PathValue("token"))
	if err == nil {
		return o, true
	}
	lang := pickLang(r)
	switch {
	case shop.ErrorCode(err) == shop.CodeNotFound:
		if wantsJSON(r) {
			writeJSONError(w, http.StatusNotFound, "NOT_FOUND", "no order has this payment link")
		} else if strings.HasSuffix(r.URL.Path, ".png") {
			http.NotFound(w, r)
		} else {
			p.message(w, r, http.StatusNotFound, lang, text(lang, "not_found"), text(lang, "not_found_d"))
		}
	case errors.Is(err, context.Canceled):
	default:
		p.log.Error("checkout: order lookup", "err", err)
		if wantsJSON(r) {
			writeJSONError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the order cannot be read right now; retry")
		} else {
			http.Error(w, "the order cannot be read right now; reload in a moment", http.StatusServiceUnavailable)
		}
	}
	return nil, false
}
