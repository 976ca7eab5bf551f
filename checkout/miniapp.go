package checkout

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/internal/tgwebapp"
	"github.com/theopenmoney/openmoney/shop"
)

// InitDataMaxAge is how long Telegram's launch data (initData) is accepted
// after its auth_date: Telegram signs it anew each time the Mini App opens,
// and an hour covers a visit while bounding what a copied one is worth.
const InitDataMaxAge = time.Hour

// ordersLimit is how many orders the Mini App lists.
const ordersLimit = 30

// ordersData is the Mini App's orders page: a shell that checkout.js fills
// from orders.json once Telegram's launch data is checked.
type ordersData struct {
	base
	Script scriptData
}

// handleOrdersPage is GET /app/ and /app/orders.
func (p *Pages) handleOrdersPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := pickLang(r)
		b := p.base(r, lang)
		p.render(w, r, http.StatusOK, "orders.html", b.Nonce, ordersData{base: b, Script: p.scriptData(lang, "orders")})
	})
}

// orderItem is one order in the Mini App's list.
type orderItem struct {
	What        string `json:"what"`
	Recipient   string `json:"recipient"`
	Price       string `json:"price"` // with its currency: "0.4375 TON", "1.575 USDT"
	Status      string `json:"status"`
	StatusText  string `json:"status_text"`
	CreatedAt   string `json:"created_at"`
	CheckoutURL string `json:"checkout_url"` // "" for balance orders
	Payable     bool   `json:"payable"`
}

// ordersView is GET /app/orders.json.
type ordersView struct {
	OK   bool `json:"ok"`
	Data struct {
		Lang  string      `json:"lang"`
		Items []orderItem `json:"items"`
	} `json:"data"`
}

// handleOrdersJSON lists the orders of the Telegram user whose launch data
// (Authorization: tma <initData>) Telegram signed for this bot less than
// InitDataMaxAge ago; 401 for anything else. The texts are in the user's
// Telegram language when we speak it.
func (p *Pages) handleOrdersJSON() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if p.botToken == "" {
			writeJSONError(w, http.StatusUnauthorized, "UNAUTHORIZED", "the Mini App is not set up: the service has no telegram.token")
			return
		}
		if !strings.EqualFold(scheme, "tma") {
			writeJSONError(w, http.StatusUnauthorized, "UNAUTHORIZED", "send Telegram's launch data as Authorization: tma <initData>")
			return
		}
		d, err := tgwebapp.Validate(strings.TrimSpace(raw), p.botToken, p.now(), InitDataMaxAge)
		if err != nil {
			msg := "Telegram's launch data is invalid; open the Mini App again from the bot"
			if errors.Is(err, tgwebapp.ErrStale) {
				msg = "Telegram's launch data is too old; open the Mini App again from the bot"
			}
			writeJSONError(w, http.StatusUnauthorized, "UNAUTHORIZED", msg)
			return
		}
		lang, ok := known(d.User.LanguageCode)
		if !ok {
			lang = pickLang(r)
		}
		orders, err := p.shop.TelegramOrders(r.Context(), d.User.ID, ordersLimit)
		if err != nil {
			p.log.Error("checkout: mini app orders", "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the orders cannot be read right now; retry")
			return
		}
		var v ordersView
		v.OK, v.Data.Lang, v.Data.Items = true, lang, make([]orderItem, 0, len(orders))
		for i := range orders {
			o := &orders[i]
			v.Data.Items = append(v.Data.Items, orderItem{What: what(lang, o), Recipient: o.RecipientUsername,
				Price: shop.FormatAmount(o.PaymentCurrency, o.Price()), Status: string(o.Status), StatusText: text(lang, "st_"+string(o.Status)),
				CreatedAt: o.CreatedAt.UTC().Format(time.RFC3339), CheckoutURL: p.shop.CheckoutURL(o),
				Payable: shop.AmountDue(o) > 0})
		}
		writeJSON(w, http.StatusOK, v)
	})
}
