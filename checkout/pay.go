package checkout

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"rsc.io/qr"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/ton"
)

// Display states of an order on the page (what the customer needs to know,
// coarser than the order status).
const (
	stateWaiting   = "waiting"   // pending_payment, nothing received
	statePartial   = "partial"   // pending_payment, part received
	statePaid      = "paid"      // paid or processing: delivering
	stateCompleted = "completed" // delivered
	stateExpired   = "expired"
	stateCancelled = "cancelled"
	stateRefunded  = "refunded"
	stateFailed    = "failed"
)

func stateOf(o *domain.Order) string {
	switch o.Status {
	case domain.StatusPendingPayment:
		if o.Received() > 0 {
			return statePartial
		}
		return stateWaiting
	case domain.StatusPaid, domain.StatusProcessing:
		return statePaid
	case domain.StatusCompleted:
		return stateCompleted
	case domain.StatusExpired:
		return stateExpired
	case domain.StatusCancelled:
		return stateCancelled
	case domain.StatusRefunded:
		return stateRefunded
	}
	return stateFailed
}

// final states change no more (an expired order may still turn paid when a
// transfer sent in time is seen late, so the page keeps asking, slowly).
func final(state string) bool {
	return state == stateCompleted || state == stateCancelled || state == stateRefunded
}

// what says what is bought, in lang.
func what(lang string, o *domain.Order) string {
	if o.Type == domain.KindPremium {
		return text(lang, "premium", "n", strconv.Itoa(o.PremiumMonths))
	}
	return text(lang, "stars", "n", strconv.FormatInt(o.StarsAmount, 10))
}

// usd renders an exact decimal price as dollars and cents, half up.
func usd(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	cents := new(big.Rat).Mul(r, big.NewRat(100, 1))
	n := new(big.Int).Quo(cents.Num(), cents.Denom())
	rem := new(big.Rat).Sub(cents, new(big.Rat).SetInt(n))
	if rem.Cmp(big.NewRat(1, 2)) >= 0 {
		n.Add(n, big.NewInt(1))
	}
	c := n.Int64()
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// statusView is GET /pay/{token}/status: everything the page updates live.
// Amounts are in the order's currency: TON (due_units in nanotons) or USDT
// (due_units in USDT units, 10^-6).
type statusView struct {
	State     string      `json:"state"`
	Status    string      `json:"status"` // the order status, as the API names it
	Title     string      `json:"title"`
	Detail    string      `json:"detail"`
	Final     bool        `json:"final"`
	Currency  string      `json:"currency"`   // TON or USDT
	Due       string      `json:"due"`        // what is still due, exact decimal
	DueUnits  string      `json:"due_units"`  // the same as an integer of the smallest unit
	Received  string      `json:"received"`   // what arrived so far, exact decimal
	ExpiresIn int64       `json:"expires_in"` // seconds left to pay; 0 when not waiting
	Link      string      `json:"link"`       // ton:// link of what is due; "" when nothing is
	QR        string      `json:"qr"`         // URL of that link's QR picture
	Wallet    *walletView `json:"wallet"`     // the TON Connect request; null when nothing is due or for USDT
	// WalletURL, for a USDT order still due: where the page POSTs the
	// connected wallet's address to get its request (handleWallet); "".
	WalletURL string `json:"wallet_url"`
	// ReturnURL is the partner's return_url once the order is settled
	// either way (returnText), else "": the page links to it with
	// ReturnText.
	ReturnURL  string `json:"return_url"`
	ReturnText string `json:"return_text"`
}

// returnText is the key of the text of the link back to the partner's shop
// in state st: "Return to the shop" once paid, "Back to the shop" once it
// will not be (cancelled, refunded, failed; expired, though a late transfer
// sent in time may still pay it); "" while payment is awaited.
func returnText(st string) string {
	switch st {
	case statePaid, stateCompleted:
		return "return_shop"
	case stateExpired, stateCancelled, stateRefunded, stateFailed:
		return "back_shop"
	}
	return ""
}

// walletView is TON Connect's SendTransactionRequest: one message.
type walletView struct {
	ValidUntil int64       `json:"validUntil"`
	Network    string      `json:"network"`
	Messages   []walletMsg `json:"messages"`
}

type walletMsg struct {
	Address string `json:"address"`
	Amount  string `json:"amount"`
	Payload string `json:"payload"`
}

func (p *Pages) status(lang, token string, o *domain.Order) (statusView, error) {
	st := stateOf(o)
	due, cur := shop.AmountDue(o), string(o.PaymentCurrency)
	w, to := what(lang, o), o.RecipientUsername
	v := statusView{State: st, Status: string(o.Status), Final: final(st), Title: text(lang, st),
		Detail: text(lang, st+"_d", "due", shop.FormatAmount(o.PaymentCurrency, due), "memo", o.PaymentMemo,
			"received", shop.FormatAmount(o.PaymentCurrency, o.Received()), "what", w, "to", to),
		Currency: cur, Due: money.Format(cur, due), DueUnits: strconv.FormatInt(due, 10), Received: money.Format(cur, o.Received()),
		Link: shop.DueLink(o)}
	// The URL was validated at creation; checked again so that a record
	// written past the API never turns into a javascript: link.
	if k := returnText(st); k != "" && o.ReturnURL != "" && shop.ValidReturnURL(o.ReturnURL, true) == nil {
		v.ReturnURL, v.ReturnText = o.ReturnURL, text(lang, k)
	}
	if v.Link != "" {
		v.QR = PayPrefix + token + "/qr.png?amount=" + v.DueUnits
		if o.ExpiresAt != nil {
			v.ExpiresIn = max(0, int64((o.ExpiresAt.Sub(p.shop.Now())+time.Second-1)/time.Second))
		}
	}
	req, err := p.shop.WalletRequestFor(o)
	if err != nil {
		return v, err
	}
	v.Wallet = walletOf(req)
	if p.shop.PayerWalletUsable(o) {
		v.WalletURL = PayPrefix + token + "/wallet"
	}
	return v, nil
}

func walletOf(req *shop.WalletRequest) *walletView {
	if req == nil {
		return nil
	}
	return &walletView{ValidUntil: req.ValidUntil.Unix(), Network: req.ChainID,
		Messages: []walletMsg{{Address: req.Address, Amount: strconv.FormatInt(req.AmountNano, 10), Payload: req.Payload}}}
}

// handleWallet is POST /pay/{token}/wallet {"address": <connected wallet>}:
// the TON Connect request of a USDT order for that payer (its message goes
// to the payer's own jetton wallet, docs/CHECKOUT.md). 409 NOT_PAYABLE when
// the order waits for nothing this way; 422 naming "address"; 503 when the
// payer's jetton wallet cannot be resolved now.
func (p *Pages) handleWallet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, ok := p.order(w, r)
		if !ok {
			return
		}
		var body struct {
			Address string `json:"address"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1024))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeJSONError(w, http.StatusUnprocessableEntity, "VALIDATION_ERROR", `the body must be {"address": "<the connected wallet's address>"}`)
			return
		}
		req, err := p.shop.PayerWalletRequest(r.Context(), o, body.Address)
		switch {
		case shop.ErrorCode(err) == shop.CodeValidation:
			writeJSONError(w, http.StatusUnprocessableEntity, "VALIDATION_ERROR", err.Error())
		case shop.ErrorCode(err) == shop.CodeServiceUnavailable:
			w.Header().Set("Retry-After", "5")
			writeJSONError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", err.Error())
		case err != nil:
			p.log.Error("checkout: wallet request", "order_id", o.ID, "err", err)
			writeJSONError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "internal error")
		case req == nil:
			writeJSONError(w, http.StatusConflict, "NOT_PAYABLE", "this order waits for no payment through a wallet connection")
		default:
			writeJSON(w, http.StatusOK, walletOf(req))
		}
	})
}

// handleStatus is the live status the page polls.
func (p *Pages) handleStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, ok := p.order(w, r)
		if !ok {
			return
		}
		v, err := p.status(pickLang(r), r.PathValue("token"), o)
		if err != nil {
			p.log.Error("checkout: status", "order_id", o.ID, "err", err)
			writeJSONError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "internal error")
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// qrPNG is the QR picture of link, one pixel per module with the quiet
// zone (the page scales it up, pixelated). image/png encodes it: rsc.io/qr's
// own PNG writer fails at one pixel per module.
func qrPNG(link string) ([]byte, error) {
	c, err := qr.Encode(link, qr.M)
	if err != nil {
		return nil, err
	}
	c.Scale = 1
	src := c.Image()
	img := image.NewPaletted(src.Bounds(), color.Palette{color.White, color.Black})
	draw.Draw(img, img.Bounds(), src, src.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// handleQR is the QR of what is due now (the page swaps it in after a
// partial payment); 404 when nothing is due.
func (p *Pages) handleQR() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, ok := p.order(w, r)
		if !ok {
			return
		}
		link := shop.DueLink(o)
		if link == "" {
			http.NotFound(w, r)
			return
		}
		b, err := qrPNG(link)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "image/png")
		h.Set("Cache-Control", "private, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	})
}

// payData is the page template's data.
type payData struct {
	base
	What, Recipient string
	Price, Currency string // in the order's currency: exact decimal, TON or USDT
	USD             string
	USDTMaster      string // a USDT order's jetton master (the warning names it)
	Payable         bool
	Address, Memo   string
	Status          statusView
	OpenLink        template.URL // Status.Link: a ton:// URL we built (html/template allows only http(s) and mailto by itself)
	QR              template.URL // data: URI of the PNG
	ExpiresISO      string
	ExpiresText     string // in UTC
	LeftText        string
	Network         string // "sandbox", "testnet" or "" (mainnet)
	Assets          []payAsset
	Script          scriptData
}

// payAsset is one way to pay: the order's currency (fixed at creation, so
// one today).
type payAsset struct {
	Code   string
	Amount string
	Active bool
}

// scriptData is what checkout.js reads from the page (a JSON script
// element: data, never code).
type scriptData struct {
	Page        string            `json:"page"`
	Lang        string            `json:"lang"`
	StatusURL   string            `json:"status_url"`
	ManifestURL string            `json:"manifest_url"`
	TonConnect  string            `json:"tonconnect_js"`
	WalletsURL  string            `json:"wallets_url"`
	Chain       string            `json:"chain"`
	Status      *statusView       `json:"status,omitempty"`
	T           map[string]string `json:"t"`
}

// jsTexts are the texts checkout.js shows itself.
var jsTexts = []string{"copy", "copied", "left", "tc_loading", "tc_confirm", "tc_sent", "tc_cancelled", "tc_network",
	"tc_failed", "orders_none", "orders_tg", "orders_denied", "orders_error", "orders_pay", "usd_approx"}

func (p *Pages) scriptData(lang, page string) scriptData {
	t := map[string]string{}
	for _, k := range jsTexts {
		t[k] = text(lang, k)
	}
	return scriptData{Page: page, Lang: lang, ManifestURL: p.shop.PublicURL() + ManifestPath,
		TonConnect: p.assetURL("tonconnect/tonconnect-ui.min.js"), WalletsURL: p.assetURL("tonconnect/wallets-v2.json"), T: t}
}

// leftText is a countdown as the page shows it without JavaScript.
func leftText(lang string, secs int64) string {
	d := time.Duration(secs) * time.Second
	t := fmt.Sprintf("%d:%02d", int(d/time.Minute), int(d%time.Minute/time.Second))
	if d >= time.Hour {
		t = fmt.Sprintf("%d:%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second))
	}
	return text(lang, "left", "t", t)
}

// handlePage is the payment page.
func (p *Pages) handlePage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, ok := p.order(w, r)
		if !ok {
			return
		}
		lang, token := pickLang(r), r.PathValue("token")
		st, err := p.status(lang, token, o)
		if err != nil {
			p.log.Error("checkout: page", "order_id", o.ID, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		d := payData{base: p.base(r, lang), What: what(lang, o), Recipient: o.RecipientUsername,
			Price: money.Format(st.Currency, o.Price()), Currency: st.Currency, USD: usd(o.PriceUSD), Payable: st.Link != "",
			Address: o.PaymentAddress, Memo: o.PaymentMemo, Status: st, OpenLink: template.URL(st.Link),
			LeftText: leftText(lang, st.ExpiresIn)}
		if o.ExpiresAt != nil {
			d.ExpiresISO = o.ExpiresAt.UTC().Format(time.RFC3339)
			d.ExpiresText = o.ExpiresAt.UTC().Format("2 Jan 2006, 15:04 UTC")
		}
		if p.network != "mainnet" {
			d.Network = p.network
		}
		if o.PaymentCurrency == domain.CurrencyUSDT {
			d.USDTMaster = o.USDTMaster
		}
		d.Assets = []payAsset{{Code: st.Currency, Amount: st.Due, Active: true}}
		if d.Payable {
			png, err := qrPNG(st.Link)
			if err != nil {
				p.log.Error("checkout: qr", "order_id", o.ID, "err", err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		}
		d.Script = p.scriptData(lang, "pay")
		d.Script.StatusURL = PayPrefix + token + "/status"
		d.Script.Chain = ton.ChainID(p.network)
		d.Script.Status = &st
		p.render(w, r, http.StatusOK, "pay.html", d.Nonce, d)
	})
}
