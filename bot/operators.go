package bot

import (
	"context"
	"html"
	"strconv"
	"strings"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/shop"
)

// Operator commands (telegram.operators): /status, /deposits, /fragment,
// /partner. Only operators get them; for everyone else they are unknown
// commands and the normal bot answers. Every change goes through the shop
// with the operator as the audit log's actor; buttons carry what they act
// on and the shop decides exactly once (a second press is told so).

// depositsShown is how many unmatched deposits and parked transfers
// /deposits shows (each with its buttons).
const depositsShown = 10

// Operator callback data ("op:" + verb + ":" …), at most 64 bytes.
const (
	cbOp          = "op:"
	cbOpAskTarget = "op:at:" // + <u|p>:<id>:<o|p>: ask for the order or partner
	cbOpAssign    = "op:as:" // + <u|p>:<id>:<o|p>:<target id>: assign
	cbOpRetryAsk  = "op:rq:" // + <parked id>: ask
	cbOpRetry     = "op:ry:" // + <parked id>: retry
	cbOpRevokeAsk = "op:kq:" // + <partner id>:<key prefix>
	cbOpRevoke    = "op:ky:" // + <partner id>:<key prefix>
	cbOpCancel    = "op:x"
)

// opAsk is an operator's pending reply: the order or partner a deposit
// (u) or parked transfer (p) goes to.
type opAsk struct {
	item   byte // 'u' unmatched | 'p' parked
	id     int64
	target byte // 'o' order | 'p' partner
}

// operatorCommand answers an operator's command; false when cmd is not one
// of theirs (the normal bot goes on).
func (b *Bot) operatorCommand(ctx context.Context, c *chat, m *models.Message, cmd string, args []string) bool {
	switch cmd {
	case "start", "help":
		b.send(ctx, c.id, b.texts.text(c.lang, cmd)+"\n\n"+b.texts.text(c.lang, "op_help"), nil)
	case "status":
		b.cmdStatus(ctx, c)
	case "deposits":
		b.cmdDeposits(ctx, c)
	case "fragment":
		b.cmdFragment(ctx, c, m, args)
	case "partner":
		b.cmdPartner(ctx, c, args)
	default:
		return false
	}
	return true
}

// actor names the operator in the audit log.
func actor(u *models.User) shop.Actor {
	name := "telegram " + strconv.FormatInt(u.ID, 10)
	if u.Username != "" {
		name = "@" + u.Username + " (" + name + ")"
	}
	return shop.Actor{Name: name, Remote: "telegram"}
}

func (b *Bot) cmdStatus(ctx context.Context, c *chat) {
	st, err := b.shop.OperatorStatus(ctx)
	if err != nil {
		b.fail(ctx, c, err)
		return
	}
	l := c.lang
	h := st.Health
	status := b.texts.text(l, "op_status_ok")
	if h.Status != "ok" {
		status = b.texts.text(l, "op_status_degraded")
	}
	var sb strings.Builder
	sb.WriteString(b.texts.text(l, "op_status_head", status, h.Network, h.Version))
	listener := b.texts.text(l, "op_listener_down")
	if h.Listener.Connected {
		listener = b.texts.text(l, "op_listener", h.Listener.LastBlock, fmtDuration(secs(h.Listener.LagSeconds)))
	}
	for _, extra := range []string{h.Listener.Error, h.Payments.ListenerError, h.Listener.Alert} {
		if extra != "" {
			listener += " — " + clip(extra, 200)
		}
	}
	rate := html.EscapeString(clip(st.RateError, 200))
	if rate == "" {
		rate = b.texts.text(l, "op_rate", st.Rate.TonUSD, st.Rate.Source, fmtTime(st.Rate.UpdatedAt))
	}
	sb.WriteString("\n" + b.texts.text(l, "op_status_parts", clip(h.Store, 200), listener, clip(h.Provider, 300), htmlText(rate)))
	sb.WriteString("\n\n")
	if st.WalletKnown {
		sb.WriteString(b.texts.text(l, "op_wallet", st.WalletAddress, money.FormatTON(st.WalletNano)))
	} else {
		sb.WriteString(b.texts.text(l, "op_wallet_unknown", st.WalletAddress, st.WalletError))
	}
	owed := st.OwedOrdersNano + st.OwedBalancesNano
	if owed < 0 { // saturated
		owed = 1<<63 - 1
	}
	sb.WriteString("\n" + b.texts.text(l, "op_owed", money.FormatTON(owed), money.FormatTON(st.OwedOrdersNano), st.OwedOrders,
		money.FormatTON(st.OwedBalancesNano)))
	if st.USDTOn || st.OwedUSDTOrders > 0 || st.OwedBalancesUSDTUnits != 0 {
		sb.WriteString("\n" + b.texts.text(l, "op_owed_usdt", money.FormatUSDT(st.OwedUSDTUnits), money.FormatUSDT(st.OwedOrdersUSDTUnits),
			st.OwedUSDTOrders, money.FormatUSDT(st.OwedBalancesUSDTUnits)))
	}
	switch {
	case st.WalletKnown && st.ShortfallNano > 0:
		sb.WriteString("\n" + b.texts.text(l, "op_short", money.FormatTON(st.ShortfallNano)))
	case st.WalletKnown:
		sb.WriteString("\n" + b.texts.text(l, "op_covered"))
	}
	held := 0
	if h.DeliveriesHeld != nil {
		held = h.DeliveriesHeld.Orders
	}
	sb.WriteString("\n\n" + b.texts.text(l, "op_queues", st.DeliveryQueue, held, st.OutboxTelegram, st.OutboxWebhook,
		st.Unmatched.Open, st.Unmatched.Small, st.Parked))
	sb.WriteString("\n" + b.sessionLine(l, st.Session))
	sb.WriteString("\n\n")
	if len(st.Alerts) == 0 {
		sb.WriteString(b.texts.text(l, "op_alerts_none"))
	} else {
		sb.WriteString(b.texts.text(l, "op_alerts_head"))
		for i, a := range st.Alerts {
			if i == 20 {
				sb.WriteString("\n…")
				break
			}
			sb.WriteString("\n" + b.texts.text(l, "op_alert_line", htmlText(b.alertTitle(l, a)), fmtTime(a.Since)))
		}
	}
	b.send(ctx, c.id, sb.String(), nil)
}

func (b *Bot) sessionLine(lang string, s shop.FragmentSessionInfo) string {
	if s.Source != "operator" || s.SetAt == nil {
		return b.texts.text(lang, "op_session_config")
	}
	hash := b.texts.text(lang, "op_hash_page")
	if s.HashSet {
		hash = b.texts.text(lang, "op_hash_given")
	}
	return b.texts.text(lang, "op_session_op", s.SetBy, fmtTime(*s.SetAt), strings.Join(s.CookieNames, ", "), htmlText(hash))
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// clip shortens text shown in a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func (b *Bot) cmdDeposits(ctx context.Context, c *chat) {
	deps, err := b.shop.OpenUnmatched(ctx, depositsShown)
	if err != nil {
		b.fail(ctx, c, err)
		return
	}
	parked, err := b.shop.ParkedTransfers(ctx, 0, depositsShown+1, true)
	if err != nil {
		b.fail(ctx, c, err)
		return
	}
	nParked, err := b.shop.ParkedCount(ctx)
	if err != nil {
		b.fail(ctx, c, err)
		return
	}
	l := c.lang
	if deps.Open == 0 && nParked == 0 {
		text := b.texts.text(l, "op_dep_none")
		if deps.Small > 0 {
			text += "\n" + b.texts.text(l, "op_dep_small", deps.Small)
		}
		b.send(ctx, c.id, text, nil)
		return
	}
	head := b.texts.text(l, "op_dep_head", deps.Open, nParked)
	if deps.Small > 0 {
		head += "\n" + b.texts.text(l, "op_dep_small", deps.Small)
	}
	b.send(ctx, c.id, head, nil)
	for _, u := range deps.Items {
		id := strconv.FormatInt(u.ID, 10)
		b.send(ctx, c.id, b.texts.text(l, "op_unmatched", u.ID, shop.FormatAmount(u.Amount()), u.From, b.comment(l, u.Comment),
			fmtTime(u.SeenAt), u.TxHash), row(
			button{Text: b.texts.text(l, "btn_to_order"), CallbackData: cbOpAskTarget + "u:" + id + ":o"},
			button{Text: b.texts.text(l, "btn_to_partner"), CallbackData: cbOpAskTarget + "u:" + id + ":p"}))
	}
	for i, p := range parked {
		if i == depositsShown {
			break
		}
		id := strconv.FormatInt(p.ID, 10)
		b.send(ctx, c.id, b.texts.text(l, "op_parked", p.ID, shop.FormatAmount(shop.ParkedAmount(&p)), p.From, p.To, b.comment(l, p.Comment),
			clip(p.Error, 500), fmtTime(p.ParkedAt), p.TxHash), row(
			button{Text: b.texts.text(l, "btn_retry"), CallbackData: cbOpRetryAsk + id},
			button{Text: b.texts.text(l, "btn_to_order"), CallbackData: cbOpAskTarget + "p:" + id + ":o"},
			button{Text: b.texts.text(l, "btn_to_partner"), CallbackData: cbOpAskTarget + "p:" + id + ":p"}))
	}
	if deps.Open > len(deps.Items) || nParked > depositsShown {
		b.send(ctx, c.id, b.texts.text(l, "op_dep_more"), nil)
	}
}

func (b *Bot) comment(lang, c string) string {
	if c == "" {
		return b.texts.text(lang, "op_no_comment")
	}
	return clip(c, 200)
}

// itemName is "unmatched deposit #4" / "parked transfer #1".
func (b *Bot) itemName(lang string, a opAsk) string {
	if a.item == 'p' {
		return b.texts.text(lang, "op_what_parked", a.id)
	}
	return b.texts.text(lang, "op_what_unmatched", a.id)
}

// parseAsk reads "<u|p>:<id>:<o|p>".
func parseAsk(s string) (opAsk, string, bool) {
	f := strings.SplitN(s, ":", 4)
	if len(f) < 3 || len(f[0]) != 1 || len(f[2]) != 1 || (f[0] != "u" && f[0] != "p") || (f[2] != "o" && f[2] != "p") {
		return opAsk{}, "", false
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || id <= 0 {
		return opAsk{}, "", false
	}
	rest := ""
	if len(f) == 4 {
		rest = f[3]
	}
	return opAsk{item: f[0][0], id: id, target: f[2][0]}, rest, true
}

// askTarget: a → Order / → Partner button; the reply names the target.
func (b *Bot) askTarget(ctx context.Context, c *chat, data string) {
	a, _, ok := parseAsk(data)
	if !ok {
		return
	}
	b.flows.set(c.id, flow{op: &a})
	key := "op_ask_order"
	if a.target == 'p' {
		key = "op_ask_partner"
	}
	b.send(ctx, c.id, b.texts.text(c.lang, key, b.itemName(c.lang, a)), &models.ForceReply{ForceReply: true})
}

// operatorReply is the reply to askTarget: find the order or partner and
// ask to confirm.
func (b *Bot) operatorReply(ctx context.Context, c *chat, a opAsk, text string) {
	l := c.lang
	what := b.itemName(l, a)
	amount, err := b.itemAmount(ctx, a)
	if err != nil {
		b.flows.clear(c.id)
		b.send(ctx, c.id, b.opErrorText(ctx, l, err), nil)
		return
	}
	base := cbOpAssign + string(a.item) + ":" + strconv.FormatInt(a.id, 10) + ":" + string(a.target) + ":"
	q := strings.TrimPrefix(strings.TrimSpace(text), "#")
	if a.target == 'o' {
		id, perr := strconv.ParseInt(q, 10, 64)
		if perr != nil || id <= 0 {
			b.send(ctx, c.id, b.texts.text(l, "op_target_bad"), nil)
			return
		}
		o, err := b.shop.OperatorOrder(ctx, id)
		if err != nil {
			b.fail(ctx, c, err)
			return
		}
		p, err := b.shop.Partner(ctx, o.PartnerID)
		if err != nil {
			b.fail(ctx, c, err)
			return
		}
		b.flows.clear(c.id)
		b.send(ctx, c.id, b.texts.text(l, "op_confirm_order", htmlText(what), amount, o.ID, p.ID, p.Name), row(
			button{Text: b.texts.text(l, "btn_assign"), CallbackData: base + strconv.FormatInt(o.ID, 10)},
			button{Text: b.texts.text(l, "btn_cancel"), CallbackData: cbOpCancel}))
		return
	}
	p, err := b.shop.FindPartner(ctx, q)
	if err != nil {
		if shop.ErrorCode(err) == shop.CodeNotFound || shop.ErrorCode(err) == shop.CodeValidation {
			b.send(ctx, c.id, b.texts.text(l, "op_partner_none", q), nil)
			return
		}
		b.fail(ctx, c, err)
		return
	}
	b.flows.clear(c.id)
	b.send(ctx, c.id, b.texts.text(l, "op_confirm_partner", htmlText(what), amount, p.ID, p.Name), row(
		button{Text: b.texts.text(l, "btn_assign"), CallbackData: base + strconv.FormatInt(p.ID, 10)},
		button{Text: b.texts.text(l, "btn_cancel"), CallbackData: cbOpCancel}))
}

// itemAmount is what a deposit or parked transfer carries, with its
// currency ("1.5 TON", "2 USDT").
func (b *Bot) itemAmount(ctx context.Context, a opAsk) (string, error) {
	if a.item == 'p' {
		p, err := b.shop.ParkedTransfer(ctx, a.id)
		if err != nil {
			return "", err
		}
		return shop.FormatAmount(shop.ParkedAmount(p)), nil
	}
	u, err := b.shop.UnmatchedDeposits(ctx, a.id-1, 1)
	if err != nil {
		return "", err
	}
	if len(u) == 0 || u[0].ID != a.id {
		return "", &shop.Error{Code: shop.CodeNotFound, Key: "not_found", Message: "unmatched deposit not found"}
	}
	return shop.FormatAmount(u[0].Amount()), nil
}

// assign: the ✅ Assign button. The shop assigns exactly once; a second
// press (or a concurrent one) is told it was done already.
func (b *Bot) assign(ctx context.Context, c *chat, cq *models.CallbackQuery, msgID int, data string) {
	a, rest, ok := parseAsk(data)
	target, err := strconv.ParseInt(rest, 10, 64)
	if !ok || err != nil || target <= 0 {
		b.answer(ctx, cq, b.texts.text(c.lang, "stale_button"))
		return
	}
	to := shop.AssignTarget{By: actor(&cq.From)}
	if a.target == 'o' {
		to.OrderID = target
	} else {
		to.PartnerID = target
	}
	l := c.lang
	var ledger domain.LedgerEntry
	if a.item == 'u' {
		var res shop.Assignment
		res, err = b.shop.AssignUnmatched(ctx, a.id, to)
		ledger = res.Ledger
	} else {
		var res shop.ParkedResolution
		res, err = b.shop.AssignParked(ctx, a.id, to)
		if res.Ledger != nil {
			ledger = *res.Ledger
		}
	}
	if err != nil {
		b.opErrorAnswer(ctx, c, cq, msgID, err)
		return
	}
	b.answer(ctx, cq, "")
	cur, amount, _ := ledger.Amount()
	b.edit(ctx, c.id, msgID, b.texts.text(l, "op_assigned", htmlText(b.itemName(l, a)), shop.FormatAmount(cur, amount),
		ledger.PartnerID, ledger.ID), noKeyboard())
}

// retryAsk / retryParked: the 🔁 Retry button of a parked transfer, confirmed.
func (b *Bot) retryAsk(ctx context.Context, c *chat, id int64) {
	b.send(ctx, c.id, b.texts.text(c.lang, "op_confirm_retry", id), row(
		button{Text: b.texts.text(c.lang, "btn_retry_now"), CallbackData: cbOpRetry + strconv.FormatInt(id, 10)},
		button{Text: b.texts.text(c.lang, "btn_cancel"), CallbackData: cbOpCancel}))
}

func (b *Bot) retryParked(ctx context.Context, c *chat, cq *models.CallbackQuery, msgID int, id int64) {
	res, err := b.shop.RetryParked(ctx, id, actor(&cq.From))
	if err != nil {
		b.opErrorAnswer(ctx, c, cq, msgID, err)
		return
	}
	b.answer(ctx, cq, "")
	outcome := b.texts.text(c.lang, "op_retried_outcome", res.Parked.ResolvedKind, res.Parked.ResolvedRefID)
	b.edit(ctx, c.id, msgID, b.texts.text(c.lang, "op_retried", id, outcome), noKeyboard())
}

// opErrorAnswer turns a refused press into a toast and the message's new text.
func (b *Bot) opErrorAnswer(ctx context.Context, c *chat, cq *models.CallbackQuery, msgID int, err error) {
	text := b.opErrorText(ctx, c.lang, err)
	b.answer(ctx, cq, clip(stripTags(text), 190))
	b.edit(ctx, c.id, msgID, text, noKeyboard())
}

func (b *Bot) opErrorText(ctx context.Context, lang string, err error) string {
	switch shop.ErrorCode(err) {
	case shop.CodeAlreadyAssigned:
		return b.texts.text(lang, "op_already_assigned")
	case shop.CodeAlreadyResolved:
		return b.texts.text(lang, "op_already_resolved")
	case shop.CodeTransferRefused:
		return b.texts.text(lang, "op_refused", clip(err.Error(), 500))
	}
	return b.errText(ctx, lang, err)
}

func stripTags(s string) string {
	var sb strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			sb.WriteRune(r)
		}
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", `"`, "&#39;", "'").Replace(sb.String())
}

// cmdFragment: /fragment <session> replaces the Fragment session,
// /fragment clear drops it, /fragment alone explains. The message holding
// a session is deleted first, whatever follows; the session is never
// repeated, logged or kept by the bot.
func (b *Bot) cmdFragment(ctx context.Context, c *chat, m *models.Message, args []string) {
	l := c.lang
	if len(args) == 0 {
		b.send(ctx, c.id, b.texts.text(l, "op_fragment_usage")+"\n\n"+b.sessionLine(l, b.shop.FragmentSessionInfo()), nil)
		return
	}
	deleted := b.deleteMessage(ctx, m.Chat.ID, m.ID)
	if len(args) == 1 && strings.EqualFold(args[0], "clear") {
		err := b.shop.ClearFragmentSession(ctx, actor(m.From))
		switch {
		case shop.ErrorCode(err) == shop.CodeNotFound:
			b.send(ctx, c.id, b.texts.text(l, "op_fragment_none"), nil)
		case err != nil:
			b.fail(ctx, c, err)
		default:
			b.send(ctx, c.id, b.texts.text(l, "op_fragment_cleared"), nil)
		}
		return
	}
	res, err := b.shop.SetFragmentSession(ctx, strings.Join(args, " "), actor(m.From))
	var text string
	if err != nil {
		text = b.errText(ctx, l, err)
	} else {
		hash := b.texts.text(l, "op_hash_page")
		if res.Info.HashSet {
			hash = b.texts.text(l, "op_hash_given")
		}
		text = b.texts.text(l, "op_fragment_saved", strings.Join(res.Info.CookieNames, ", "), htmlText(hash))
		switch {
		case res.Checked && res.CheckErr == "":
			text += "\n" + b.texts.text(l, "op_fragment_works")
		case res.Checked:
			text += "\n" + b.texts.text(l, "op_fragment_refused", res.CheckErr)
		default:
			text += "\n" + b.texts.text(l, "op_fragment_unchecked")
		}
	}
	if deleted {
		text += "\n" + b.texts.text(l, "op_fragment_deleted")
	} else {
		text += "\n" + b.texts.text(l, "op_fragment_not_deleted")
	}
	b.send(ctx, c.id, text, nil)
}

// deleteMessage deletes a message (bots may delete incoming messages in
// private chats); it reports whether it is gone.
func (b *Bot) deleteMessage(ctx context.Context, chatID int64, msgID int) bool {
	err := b.retry(ctx, func(ctx context.Context) error {
		_, err := b.tg.DeleteMessage(ctx, &tgbot.DeleteMessageParams{ChatID: chatID, MessageID: msgID})
		return err
	})
	if err != nil {
		b.log.Warn("deleteMessage failed: a message with a Fragment session stays in the chat", "chat_id", chatID, "err", b.scrub(err))
		return false
	}
	return true
}

func (b *Bot) cmdPartner(ctx context.Context, c *chat, args []string) {
	if len(args) != 1 {
		b.send(ctx, c.id, b.texts.text(c.lang, "op_partner_usage"), nil)
		return
	}
	p, err := b.shop.FindPartner(ctx, args[0])
	if err != nil {
		if code := shop.ErrorCode(err); code == shop.CodeNotFound || code == shop.CodeValidation {
			b.send(ctx, c.id, b.texts.text(c.lang, "op_partner_none", args[0]), nil)
			return
		}
		b.fail(ctx, c, err)
		return
	}
	var kb any
	if p.Key != nil {
		kb = row(button{Text: b.texts.text(c.lang, "btn_op_revoke"),
			CallbackData: cbOpRevokeAsk + strconv.FormatInt(p.ID, 10) + ":" + p.Key.Prefix})
	}
	b.send(ctx, c.id, b.partnerText(c.lang, p), kb)
}

func (b *Bot) partnerText(lang string, p shop.OperatorPartner) string {
	tg := b.texts.text(lang, "op_tg_none")
	if p.TelegramUserID != 0 {
		tg = strconv.FormatInt(p.TelegramUserID, 10)
		if p.TelegramUsername != "" {
			tg = "@" + p.TelegramUsername + " · " + tg
		}
	}
	key := b.texts.text(lang, "op_key_none")
	if p.Key != nil {
		used := b.texts.text(lang, "key_never_used")
		if p.Key.LastUsedAt != nil {
			used = fmtTime(*p.Key.LastUsedAt)
		}
		key = b.texts.text(lang, "op_key_active", p.Key.Prefix, fmtTime(p.Key.CreatedAt), used)
	}
	hook := b.texts.text(lang, "op_webhook_none")
	switch {
	case p.WebhookHost == "":
	case p.WebhookDisabledAt != nil:
		hook = b.texts.text(lang, "op_webhook_disabled", p.WebhookHost, fmtTime(*p.WebhookDisabledAt))
	case p.WebhookFailingSince != nil:
		hook = b.texts.text(lang, "op_webhook_failing", p.WebhookHost, fmtTime(*p.WebhookFailingSince))
	default:
		hook = b.texts.text(lang, "op_webhook_ok", p.WebhookHost)
	}
	balance := b.texts.text(lang, "op_balance", money.FormatTON(p.BalanceNano))
	if b.shop.USDTEnabled() || p.BalanceUSDT != 0 {
		balance = b.texts.text(lang, "op_balance_usdt", money.FormatTON(p.BalanceNano), money.FormatUSDT(p.BalanceUSDT))
	}
	return b.texts.text(lang, "op_partner", p.ID, p.Name, tg, htmlText(balance), p.LedgerCount, p.TopupAddress,
		htmlText(key), htmlText(hook))
}

// parseRevoke reads "<partner id>:<key prefix>".
func parseRevoke(s string) (int64, string, bool) {
	idText, prefix, ok := strings.Cut(s, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	return id, prefix, ok && err == nil && id > 0 && strings.HasPrefix(prefix, shop.KeyPrefix)
}

// onOperatorCallback handles the buttons of the operator commands (data
// starting with cbOp, pressed by an operator).
func (b *Bot) onOperatorCallback(ctx context.Context, c *chat, cq *models.CallbackQuery, m *models.Message) {
	data := cq.Data
	switch {
	case strings.HasPrefix(data, cbOpAskTarget):
		b.answer(ctx, cq, "")
		b.askTarget(ctx, c, strings.TrimPrefix(data, cbOpAskTarget))
	case strings.HasPrefix(data, cbOpAssign):
		b.assign(ctx, c, cq, m.ID, strings.TrimPrefix(data, cbOpAssign))
	case strings.HasPrefix(data, cbOpRetryAsk):
		b.answer(ctx, cq, "")
		if id, err := strconv.ParseInt(strings.TrimPrefix(data, cbOpRetryAsk), 10, 64); err == nil && id > 0 {
			b.retryAsk(ctx, c, id)
		}
	case strings.HasPrefix(data, cbOpRetry):
		id, err := strconv.ParseInt(strings.TrimPrefix(data, cbOpRetry), 10, 64)
		if err != nil || id <= 0 {
			b.answer(ctx, cq, b.texts.text(c.lang, "stale_button"))
			return
		}
		b.retryParked(ctx, c, cq, m.ID, id)
	case strings.HasPrefix(data, cbOpRevokeAsk):
		b.answer(ctx, cq, "")
		id, prefix, ok := parseRevoke(strings.TrimPrefix(data, cbOpRevokeAsk))
		if !ok {
			return
		}
		b.edit(ctx, c.id, m.ID, b.texts.text(c.lang, "op_revoke_ask", id, prefix), row(
			button{Text: b.texts.text(c.lang, "btn_revoke_yes"), CallbackData: cbOpRevoke + strconv.FormatInt(id, 10) + ":" + prefix},
			button{Text: b.texts.text(c.lang, "btn_keep"), CallbackData: cbOpCancel}))
	case strings.HasPrefix(data, cbOpRevoke):
		id, prefix, ok := parseRevoke(strings.TrimPrefix(data, cbOpRevoke))
		if !ok {
			b.answer(ctx, cq, b.texts.text(c.lang, "stale_button"))
			return
		}
		_, err := b.shop.OperatorRevokeKey(ctx, id, prefix, actor(&cq.From))
		if shop.ErrorCode(err) == shop.CodeNotFound {
			b.answer(ctx, cq, b.texts.text(c.lang, "op_key_changed"))
			b.edit(ctx, c.id, m.ID, b.texts.text(c.lang, "op_key_changed"), noKeyboard())
			return
		}
		if err != nil {
			b.answer(ctx, cq, "")
			b.fail(ctx, c, err)
			return
		}
		b.answer(ctx, cq, "")
		b.edit(ctx, c.id, m.ID, b.texts.text(c.lang, "op_revoked", id, prefix), noKeyboard())
	case data == cbOpCancel:
		b.answer(ctx, cq, "")
		b.flows.clear(c.id)
		b.edit(ctx, c.id, m.ID, b.texts.text(c.lang, "op_cancelled"), noKeyboard())
	default:
		b.answer(ctx, cq, b.texts.text(c.lang, "stale_button"))
	}
}

// operatorCommands are the menu entries operators see besides everyone's.
func (b *Bot) operatorCommands(lang string) []models.BotCommand {
	return append(b.commands(lang), menu(lang, []menuEntry{
		{"status", "Health, wallet, queues, alerts", "Kesehatan, dompet, antrean, peringatan"},
		{"deposits", "Unmatched deposits and parked transfers", "Deposit tak cocok dan transfer tertahan"},
		{"fragment", "Replace the Fragment session", "Ganti sesi Fragment"},
		{"partner", "Look up a partner", "Cari mitra"},
	})...)
}

// publishOperatorMenus shows each operator their commands in the menu.
func (b *Bot) publishOperatorMenus(ctx context.Context) {
	for _, id := range b.shop.Operators() {
		lang := langOf(b.shop.TelegramLanguage(ctx, id))
		_, err := b.tg.SetMyCommands(ctx, &tgbot.SetMyCommandsParams{Commands: b.operatorCommands(lang),
			Scope: &models.BotCommandScopeChat{ChatID: id}})
		if err != nil {
			b.log.Debug("setMyCommands for an operator failed (they have not started the bot yet?)", "operator", id, "err", b.scrub(err))
		}
	}
}
