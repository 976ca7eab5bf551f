package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/shop"
)

// Order statuses as the shop reports them.
const statusPendingPayment = domain.StatusPendingPayment

// kindCode is the one-letter kind used in callback data.
func kindCode(kind domain.Kind) string {
	if kind == domain.KindPremium {
		return "p"
	}
	return "s"
}

func kindOf(code string) (domain.Kind, bool) {
	switch code {
	case "s":
		return domain.KindStars, true
	case "p":
		return domain.KindPremium, true
	}
	return "", false
}

// parseKindAmount reads "<s|p>:<amount>".
func parseKindAmount(s string) (kind domain.Kind, amount int64, rest string, ok bool) {
	k, s, _ := strings.Cut(s, ":")
	kind, ok = kindOf(k)
	if !ok {
		return "", 0, "", false
	}
	num, rest, _ := strings.Cut(s, ":")
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil || n <= 0 {
		return "", 0, "", false
	}
	return kind, n, rest, true
}

// cmdOrder: /stars [username quantity], /premium [username months].
func (b *Bot) cmdOrder(ctx context.Context, c *chat, kind domain.Kind, args []string) {
	usage, numKey := "stars_usage", "quantity_number"
	if kind == domain.KindPremium {
		usage, numKey = "premium_usage", "months_number"
	}
	switch len(args) {
	case 0:
		b.askAmount(ctx, c, kind)
		return
	case 2:
	default:
		b.send(ctx, c.id, b.texts.text(c.lang, usage), nil)
		return
	}
	user, num := args[0], args[1]
	if isNumber(user) && !isNumber(num) { // "/stars 100 pandus" is fine too
		user, num = num, user
	}
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil {
		b.send(ctx, c.id, b.texts.text(c.lang, numKey), nil)
		return
	}
	b.quote(ctx, c, kind, user, n)
}

func isNumber(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// askAmount starts the guided flow: buttons for common amounts.
func (b *Bot) askAmount(ctx context.Context, c *chat, kind domain.Kind) {
	var bs []button
	text := "pick_months"
	if kind == domain.KindStars {
		text = "pick_stars"
		fees := b.shop.Fees()
		for _, n := range []int64{50, 100, 500, 1000} {
			if n >= fees.StarsMin && n <= fees.StarsMax {
				bs = append(bs, button{Text: strconv.FormatInt(n, 10), CallbackData: cbGuided + "s:" + strconv.FormatInt(n, 10)})
			}
		}
		if len(bs) == 0 {
			b.send(ctx, c.id, b.texts.text(c.lang, "stars_usage"), nil)
			return
		}
	} else {
		for _, n := range []int64{3, 6, 12} {
			bs = append(bs, button{Text: strconv.FormatInt(n, 10), CallbackData: cbGuided + "p:" + strconv.FormatInt(n, 10)})
		}
	}
	kb := keyboard{InlineKeyboard: [][]button{bs, {{Text: b.texts.text(c.lang, "btn_cancel"), CallbackData: cbCancel}}}}
	b.send(ctx, c.id, b.texts.text(c.lang, text), kb)
}

// guidedAmount: an amount button was pressed; ask for the username.
func (b *Bot) guidedAmount(ctx context.Context, c *chat, m *models.Message, data string) {
	kind, amount, _, ok := parseKindAmount(data)
	if !ok {
		return
	}
	b.flows.set(c.id, flow{kind: kind, amount: amount})
	pick := "pick_stars"
	if kind == domain.KindPremium {
		pick = "pick_months"
	}
	b.edit(ctx, c.id, m.ID, b.texts.text(c.lang, pick)+" <b>"+strconv.FormatInt(amount, 10)+"</b>", noKeyboard())
	b.send(ctx, c.id, b.texts.text(c.lang, "ask_username"),
		&models.ForceReply{ForceReply: true, InputFieldPlaceholder: "@username"})
}

// guidedUsername: the reply to "who receives them?".
func (b *Bot) guidedUsername(ctx context.Context, c *chat, f flow, text string) {
	err := b.quote(ctx, c, f.kind, text, f.amount)
	var se *shop.Error
	if err != nil && errors.As(err, &se) &&
		(se.Code == shop.CodeRecipientNotFound || se.Field == "recipient_username") {
		b.send(ctx, c.id, b.texts.text(c.lang, "ask_again"), &models.ForceReply{ForceReply: true, InputFieldPlaceholder: "@username"})
		return // keep the flow: the next reply is another try
	}
	b.flows.clear(c.id)
}

// what describes an order in a few words.
func (b *Bot) what(lang string, kind domain.Kind, amount int64, username string) htmlText {
	if kind == domain.KindPremium {
		return htmlText(b.texts.text(lang, "what_premium", amount, username))
	}
	return htmlText(b.texts.text(lang, "what_stars", amount, username))
}

func (b *Bot) orderWhat(lang string, o *domain.Order) htmlText {
	if o.Type == domain.KindPremium {
		return b.what(lang, o.Type, int64(o.PremiumMonths), o.RecipientUsername)
	}
	return b.what(lang, o.Type, o.StarsAmount, o.RecipientUsername)
}

// quote validates like the API, checks the recipient and shows the price with
// Confirm/Cancel. It returns the error it reported, nil when it showed a quote.
func (b *Bot) quote(ctx context.Context, c *chat, kind domain.Kind, username string, amount int64) error {
	u, err := shop.NormalizeUsername("recipient_username", username)
	if err == nil {
		var q shop.Quote
		if q, err = b.shop.Estimate(ctx, kind, amount); err == nil {
			var rc shop.RecipientCheck
			if rc, err = b.shop.CheckRecipient(ctx, kind, u); err == nil {
				if !rc.CanReceive {
					name := "Stars"
					if kind == domain.KindPremium {
						name = "Premium"
					}
					err = &shop.Error{Code: shop.CodeRecipientNotFound, Field: "recipient_username", Key: "recipient_not_found",
						Args: []any{rc.Username, name}, Message: fmt.Sprintf("recipient_username %s cannot receive Telegram %s", rc.Username, name)}
				} else {
					b.showQuote(ctx, c, q, b.what(c.lang, kind, amount, rc.Username),
						cbConfirm+kindCode(kind)+":"+strconv.FormatInt(amount, 10)+":"+rc.Username)
					return nil
				}
			}
		}
	}
	b.fail(ctx, c, err)
	return err
}

// cbUSDT ends the confirm data of the "pay in USDT" button
// (o:<s|p>:<amount>:<username>:u); the TON button's data has no suffix.
const cbUSDT = ":u"

// showQuote sends the price with the buttons that create the order: one
// Confirm button when only TON is accepted, else the payment currency is
// the choice, one button per currency with its price (confirm is the TON
// button's callback data).
func (b *Bot) showQuote(ctx context.Context, c *chat, q shop.Quote, what htmlText, confirm string) {
	cancel := []button{{Text: b.texts.text(c.lang, "btn_cancel"), CallbackData: cbCancel}}
	if !b.shop.USDTEnabled() || q.PriceUSDT <= 0 {
		text := b.texts.text(c.lang, "quote", what, money.FormatTON(q.PriceNano), q.PriceUSD, q.TonUSD, q.FeePercent)
		b.send(ctx, c.id, text, row(button{Text: b.texts.text(c.lang, "btn_confirm"), CallbackData: confirm}, cancel[0]))
		return
	}
	ton, usdt := money.FormatTON(q.PriceNano), money.FormatUSDT(q.PriceUSDT)
	text := b.texts.text(c.lang, "quote_usdt", what, ton, usdt, q.PriceUSD, q.TonUSD, q.UsdtUSD, q.FeePercent)
	b.send(ctx, c.id, text, keyboard{InlineKeyboard: [][]button{{
		{Text: b.texts.text(c.lang, "btn_pay_ton", ton), CallbackData: confirm},
		{Text: b.texts.text(c.lang, "btn_pay_usdt", usdt), CallbackData: confirm + cbUSDT},
	}, cancel}})
}

// confirm: a Confirm (or pay-in-currency) button of a quote creates the
// order, once. The idempotency key is the quote message (chat id + message
// id), so a double tap, a retried update, a restart or a tap on the other
// currency's button cannot create a second order.
func (b *Bot) confirm(ctx context.Context, c *chat, cq *models.CallbackQuery, m *models.Message) {
	data, currency := strings.TrimPrefix(cq.Data, cbConfirm), domain.CurrencyTON
	if d, ok := strings.CutSuffix(data, cbUSDT); ok {
		data, currency = d, domain.CurrencyUSDT
	}
	kind, amount, user, ok := parseKindAmount(data)
	if !ok || user == "" || strings.Contains(user, ":") {
		b.answer(ctx, cq, b.texts.text(c.lang, "stale_button"))
		return
	}
	key := fmt.Sprintf("tg:%d:%d", c.id, m.ID)
	req := shop.OrderRequest{Kind: kind, RecipientUsername: user, PaymentMethod: domain.MethodTonMemo,
		PaymentCurrency: currency, IdempotencyKey: key}
	if kind == domain.KindPremium {
		req.Months = int(amount)
	} else {
		req.Quantity = amount
	}
	o, replayed, err := b.shop.CreateOrder(ctx, c.partner.ID, req)
	if replayed {
		b.answer(ctx, cq, b.texts.text(c.lang, "already_created"))
		return
	}
	b.answer(ctx, cq, "")
	if err != nil {
		b.edit(ctx, c.id, m.ID, b.errText(ctx, c.lang, err), noKeyboard())
		return
	}
	b.dropButtons(ctx, c.id, m.ID)
	b.sendPayment(ctx, c, o)
}

// dropButtons removes a message's inline keyboard.
func (b *Bot) dropButtons(ctx context.Context, chatID int64, msgID int) {
	err := b.retry(ctx, func(ctx context.Context) error {
		_, err := b.tg.EditMessageReplyMarkup(ctx, &tgbot.EditMessageReplyMarkupParams{ChatID: chatID,
			MessageID: msgID, ReplyMarkup: noKeyboard()})
		return err
	})
	if err != nil && !strings.Contains(err.Error(), "message is not modified") {
		b.log.Debug("editMessageReplyMarkup failed", "chat_id", chatID, "err", b.scrub(err))
	}
}

// sendPayment sends the payment details and a QR picture of the ton://
// link: a TON transfer, or for a USDT order the jetton transfer (the wallet
// app sends USD₮ to our owner address with the memo).
func (b *Bot) sendPayment(ctx context.Context, c *chat, o *domain.Order) {
	link := o.PaymentLink()
	price := shop.FormatAmount(o.PaymentCurrency, o.Price())
	exp, ttl := "", 0
	if o.ExpiresAt != nil {
		exp = fmtTime(*o.ExpiresAt)
		ttl = int(o.ExpiresAt.Sub(o.CreatedAt).Round(time.Minute) / time.Minute)
	}
	var text string
	if o.PaymentCurrency == domain.CurrencyUSDT {
		text = b.texts.text(c.lang, "payment_usdt", o.ID, b.orderWhat(c.lang, o), price, o.PriceUSD, o.PaymentAddress,
			o.PaymentMemo, link, exp, ttl, o.USDTMaster)
	} else {
		text = b.texts.text(c.lang, "payment", o.ID, b.orderWhat(c.lang, o), money.FormatTON(o.PriceNano),
			o.PaymentAddress, o.PaymentMemo, link, exp, ttl)
	}
	var markup any
	if u := b.shop.CheckoutURL(o); miniApp(u) {
		// The checkout page as a Mini App: TON Connect puts the memo in the
		// transfer itself.
		markup = row(button{Text: b.texts.text(c.lang, "btn_pay"), WebApp: &webApp{URL: u + "?lang=" + c.lang}})
	}
	if _, err := b.send(ctx, c.id, text, markup); err != nil {
		return
	}
	png, err := qrPNG(link)
	if err != nil {
		b.log.Error("payment QR", "order_id", o.ID, "err", err)
		return
	}
	b.sendPNG(ctx, c.id, png, fmt.Sprintf("order-%d.png", o.ID), b.texts.text(c.lang, "qr_caption", price, o.PaymentMemo))
}

// cmdOrders lists the user's recent orders.
func (b *Bot) cmdOrders(ctx context.Context, c *chat) {
	page, err := b.shop.ListOrders(ctx, c.partner.ID, shop.OrderFilter{Limit: 10})
	if err != nil {
		b.fail(ctx, c, err)
		return
	}
	if len(page.Items) == 0 {
		b.send(ctx, c.id, b.texts.text(c.lang, "orders_none"), nil)
		return
	}
	lines := []string{b.texts.text(c.lang, "orders_head")}
	for i := range page.Items {
		o := &page.Items[i]
		status := htmlText(b.texts.text(c.lang, "status_"+string(o.Status)))
		line := b.texts.text(c.lang, "order_line", o.ID, b.orderWhat(c.lang, o), shop.FormatAmount(o.PaymentCurrency, o.Price()), status)
		if o.Status == statusPendingPayment && o.PaymentMemo != "" && o.ExpiresAt != nil {
			line += "\n    " + b.texts.text(c.lang, "order_pending", o.PaymentMemo, fmtTime(*o.ExpiresAt))
		}
		lines = append(lines, line)
	}
	var markup any
	if u := b.shop.PublicURL() + "/app/orders"; miniApp(u) {
		markup = row(button{Text: b.texts.text(c.lang, "btn_app_orders"), WebApp: &webApp{URL: u + "?lang=" + c.lang}})
	}
	b.send(ctx, c.id, strings.Join(lines, "\n"), markup)
}

// miniApp reports whether u can open as a Mini App: Telegram accepts only
// https URLs (so not the sandbox default, http.public_url unset).
func miniApp(u string) bool { return strings.HasPrefix(u, "https://") }

// cmdBalance shows the balance, the top-up address with its QR and the last
// ledger rows.
func (b *Bot) cmdBalance(ctx context.Context, c *chat) {
	bal, err := b.shop.Balance(ctx, c.partner.ID)
	if err != nil {
		b.fail(ctx, c, err)
		return
	}
	led, err := b.shop.Ledger(ctx, c.partner.ID, "", 5)
	if err != nil {
		b.fail(ctx, c, err)
		return
	}
	var sb strings.Builder
	switch {
	case bal.USDTOn:
		sb.WriteString(b.texts.text(c.lang, "balance_usdt", money.FormatTON(bal.Nano), money.FormatUSDT(bal.USDT), bal.TopupAddress))
	case bal.USDT != 0: // USDT turned off since: the balance is still theirs
		sb.WriteString(b.texts.text(c.lang, "balance_usdt_off", money.FormatTON(bal.Nano), money.FormatUSDT(bal.USDT), bal.TopupAddress))
	default:
		sb.WriteString(b.texts.text(c.lang, "balance", money.FormatTON(bal.Nano), bal.TopupAddress))
	}
	sb.WriteString("\n\n" + b.texts.text(c.lang, "ledger_head"))
	if len(led.Items) == 0 {
		sb.WriteString("\n" + b.texts.text(c.lang, "ledger_none"))
	}
	for _, e := range led.Items {
		cur, n, _ := e.Amount()
		amount := shop.FormatAmount(cur, n)
		if n > 0 {
			amount = "+" + amount
		}
		sb.WriteString("\n" + b.texts.text(c.lang, "ledger_line", amount,
			htmlText(b.texts.text(c.lang, "ledger_"+string(e.Type))), fmtTime(e.CreatedAt)))
		if e.OrderID != 0 {
			sb.WriteString(" · #" + strconv.FormatInt(e.OrderID, 10))
		}
	}
	if _, err := b.send(ctx, c.id, sb.String(), nil); err != nil || bal.TopupAddress == "" {
		return
	}
	png, err := qrPNG("ton://transfer/" + bal.TopupAddress)
	if err != nil {
		b.log.Error("top-up QR", "err", err)
		return
	}
	b.sendPNG(ctx, c.id, png, "topup.png", b.texts.text(c.lang, "topup_caption", bal.TopupAddress))
}

// flow is a guided order waiting for the username, or an operator's
// assignment waiting for the order or partner (op set).
type flow struct {
	kind   domain.Kind
	amount int64
	op     *opAsk
	at     time.Time
}

// flows keeps the guided-order state per chat, in memory: it is a few
// seconds of conversation, lost harmlessly on restart.
type flows struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[int64]flow
}

func newFlows(ttl time.Duration) *flows { return &flows{ttl: ttl, m: map[int64]flow{}} }

func (f *flows) set(chatID int64, fl flow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	fl.at = now
	if len(f.m) >= 1024 {
		for k, v := range f.m {
			if now.Sub(v.at) > f.ttl {
				delete(f.m, k)
			}
		}
	}
	f.m[chatID] = fl
}

func (f *flows) get(chatID int64) (flow, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.m[chatID]
	if ok && time.Since(fl.at) > f.ttl {
		delete(f.m, chatID)
		return flow{}, false
	}
	return fl, ok
}

func (f *flows) clear(chatID int64) {
	f.mu.Lock()
	delete(f.m, chatID)
	f.mu.Unlock()
}
