package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/shop"
)

// maxAlertsShown is how many notices one message spells out; the rest are
// counted (the operator reads them in /status and /deposits).
const maxAlertsShown = 8

// SendAlerts sends an operator their waiting alert notices as one message
// (shop.AlertSender). One attempt, never waiting: a 429 comes back with
// RetryAfter() for the shop to wait; a chat Telegram refuses (the operator
// never started the bot, or blocked it) wraps shop.ErrOperatorUnreachable.
func (b *Bot) SendAlerts(ctx context.Context, to shop.Operator, notices []shop.AlertNotice) error {
	if len(notices) == 0 {
		return nil
	}
	lang := langOf(to.Language)
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	_, err := b.tg.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: to.ID, Text: b.alertsText(lang, notices),
		ParseMode: models.ParseModeHTML, LinkPreviewOptions: &models.LinkPreviewOptions{IsDisabled: tgbot.True()}})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tgbot.ErrorForbidden), errors.Is(err, tgbot.ErrorBadRequest):
		return fmt.Errorf("%w: %s", shop.ErrOperatorUnreachable, b.scrub(err))
	}
	if wait, ok := tooMany(err); ok {
		return &retryAfterError{wait: wait, err: err}
	}
	return fmt.Errorf("bot: alerts: %s", b.scrub(err))
}

// alertsText renders notices, one paragraph each.
func (b *Bot) alertsText(lang string, notices []shop.AlertNotice) string {
	var parts []string
	for i, n := range notices {
		if i == maxAlertsShown {
			parts = append(parts, b.texts.text(lang, "al_more", len(notices)-maxAlertsShown))
			break
		}
		parts = append(parts, b.alertText(lang, n))
	}
	return strings.Join(parts, "\n\n")
}

// alertTitle is an alert's one-line name.
func (b *Bot) alertTitle(lang string, a shop.Alert) string {
	f := a.Facts
	switch a.Kind {
	case shop.AlertParked, shop.AlertUnmatched:
		return b.texts.text(lang, "al_t_"+a.Kind, f.ID)
	case shop.AlertWebhookDisabled:
		return b.texts.text(lang, "al_t_"+a.Kind, f.ID, f.Name)
	}
	return b.texts.text(lang, "al_t_"+a.Kind)
}

// alertText renders one notice: raised (title, facts, what to do) or cleared.
func (b *Bot) alertText(lang string, n shop.AlertNotice) string {
	title := b.alertTitle(lang, n.Alert)
	if n.Cleared {
		return b.texts.text(lang, "al_cleared", htmlText(title), fmtDuration(n.At.Sub(n.Since)))
	}
	f := n.Facts
	ton := money.FormatTON
	comment := f.Comment
	if comment == "" {
		comment = b.texts.text(lang, "op_no_comment")
	}
	var body, do string
	switch n.Kind {
	case shop.AlertFloatShort:
		body = b.texts.text(lang, "al_b_ton_float_short", ton(f.BalanceNano), f.OwedOrders, ton(f.NeedNano), ton(f.ShortfallNano))
		do = b.texts.text(lang, "al_d_ton_float_short", f.Address)
	case shop.AlertWalletShort:
		body = b.texts.text(lang, "al_b_wallet_short", ton(f.BalanceNano), ton(f.NeedNano), ton(f.OwedOrdersNano), f.OwedOrders,
			ton(f.OwedBalancesNano), ton(f.ShortfallNano))
		if f.OwedUSDT > 0 {
			body += " " + b.texts.text(lang, "al_b_wallet_usdt", money.FormatUSDT(f.OwedUSDT))
		}
		do = b.texts.text(lang, "al_d_wallet_short", f.Address)
	case shop.AlertWalletLow:
		body = b.texts.text(lang, "al_b_wallet_low", ton(f.BalanceNano), ton(f.ThresholdNano))
		do = b.texts.text(lang, "al_d_wallet_low", f.Address)
	case shop.AlertListenerLag:
		body = b.texts.text(lang, "al_b_listener_lag", fmtDuration(time.Duration(f.LagSeconds*float64(time.Second))))
		do = b.texts.text(lang, "al_d_listener_lag")
	case shop.AlertProofFailure:
		body = b.texts.text(lang, "al_b_proof_failure", f.Count, f.Detail)
		do = b.texts.text(lang, "al_d_proof_failure")
	case shop.AlertHeldFunds:
		body = b.texts.text(lang, "al_b_held_funds", f.Count, ton(f.NeedNano), ton(f.BalanceNano))
		do = b.texts.text(lang, "al_d_held_funds", f.Address, ton(f.ShortfallNano))
	case shop.AlertHeldChain:
		body = b.texts.text(lang, "al_b_held_chain", f.Count, fmtDuration(time.Duration(f.LagSeconds*float64(time.Second))))
		do = b.texts.text(lang, "al_d_held_chain")
	case shop.AlertHeldWallet:
		body = b.texts.text(lang, "al_b_held_wallet", f.Count, f.Detail)
		do = b.texts.text(lang, "al_d_held_wallet")
	case shop.AlertHeldHistory:
		body = b.texts.text(lang, "al_b_held_history", f.Count, f.Detail)
		do = b.texts.text(lang, "al_d_held_history")
	case shop.AlertHeldElsewhere:
		body = b.texts.text(lang, "al_b_held_elsewhere", f.Count, f.Detail)
		do = b.texts.text(lang, "al_d_held_elsewhere", f.Address)
	case shop.AlertRefundSpike:
		body = b.texts.text(lang, "al_b_refund_spike", f.Count, fmtDuration(time.Duration(f.WindowSeconds)*time.Second))
		do = b.texts.text(lang, "al_d_refund_spike")
	case shop.AlertParked:
		body = b.texts.text(lang, "al_b_parked", factAmount(f), f.Address, comment, f.Detail)
		do = b.texts.text(lang, "al_d_parked")
	case shop.AlertUnmatched:
		body = b.texts.text(lang, "al_b_unmatched", factAmount(f), f.Address, comment)
		do = b.texts.text(lang, "al_d_unmatched")
	case shop.AlertWebhookDisabled:
		body = b.texts.text(lang, "al_b_webhook_disabled", f.Detail)
		do = b.texts.text(lang, "al_d_webhook_disabled", f.ID)
	case shop.AlertListenerDown:
		switch {
		case f.Count > 0:
			body = b.texts.text(lang, "al_b_listener_failing", f.Count, f.Detail)
		case f.Detail == "":
			body = b.texts.text(lang, "al_b_listener_down", b.texts.text(lang, "op_listener_down"))
		default:
			body = b.texts.text(lang, "al_b_listener_down", f.Detail)
		}
		do = b.texts.text(lang, "al_d_listener_down")
	default: // provider_down, history_gap: a sentence around the reason as reported
		body = b.texts.text(lang, "al_b_"+n.Kind, f.Detail)
		do = b.texts.text(lang, "al_d_"+n.Kind)
	}
	return b.texts.text(lang, "al_raised", htmlText(title), htmlText(body), htmlText(do))
}

// factAmount is an alert's transfer amount with its currency.
func factAmount(f shop.AlertFacts) string {
	if f.Currency == domain.CurrencyUSDT {
		return shop.FormatAmount(f.Currency, f.AmountUSDT)
	}
	return shop.FormatAmount(domain.CurrencyTON, f.AmountNano)
}

// fmtDuration shows a duration to the minute ("45s" below one).
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()[:len(d.Round(time.Minute).String())-2] // "12m0s" → "12m"
	}
	s := d.Round(time.Minute).String()
	return strings.TrimSuffix(s, "0s")
}
