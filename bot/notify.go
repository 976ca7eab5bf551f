package bot

import (
	"context"
	"errors"
	"fmt"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
)

// Notify sends one outbox event to the partner's private chat (shop.Notifier).
// It makes one attempt and never waits: a 429 comes back as an error with
// RetryAfter() so the shop's durable outbox retries at the right time; any
// other transient failure is returned for the outbox's backoff. Permanent
// refusals (the user blocked the bot, the chat is gone) are logged and the
// event is dropped, since retrying cannot help.
func (b *Bot) Notify(ctx context.Context, p *domain.Partner, it *domain.OutboxItem) error {
	if p == nil || it == nil || p.TelegramChatID <= 0 {
		return nil
	}
	text := b.notification(langOf(p.Language), it)
	if text == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	_, err := b.tg.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: p.TelegramChatID, Text: text,
		ParseMode: models.ParseModeHTML, LinkPreviewOptions: &models.LinkPreviewOptions{IsDisabled: tgbot.True()}})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tgbot.ErrorForbidden), errors.Is(err, tgbot.ErrorBadRequest):
		b.log.Warn("Telegram refused a notification; dropped", "partner_id", p.ID, "event", it.Type, "err", b.scrub(err))
		return nil
	}
	if wait, ok := tooMany(err); ok {
		return &retryAfterError{wait: wait, err: err}
	}
	return fmt.Errorf("bot: notify %s: %w", it.Type, err)
}

// notification is the text of an outbox event ("" = nothing to say).
func (b *Bot) notification(lang string, it *domain.OutboxItem) string {
	switch it.Type {
	case shop.EventWebhookDisabled:
		return b.texts.text(lang, "n_webhook_disabled")
	case shop.EventKeyRevoked:
		return b.texts.text(lang, "n_key_revoked", fmtTime(it.CreatedAt))
	}
	if it.Type == shop.EventBalanceTopup {
		if it.Ledger == nil {
			return ""
		}
		cur, amount, after := it.Ledger.Amount()
		return b.texts.text(lang, "n_topup", shop.FormatAmount(cur, amount), shop.FormatAmount(cur, after))
	}
	o := it.Order
	if o == nil {
		return ""
	}
	what := b.orderWhat(lang, o)
	price := shop.FormatAmount(o.PaymentCurrency, o.Price())
	switch it.Type {
	case shop.EventOrderPaid:
		return b.texts.text(lang, "n_paid", o.ID, what, price)
	case shop.EventOrderCompleted:
		return b.texts.text(lang, "n_completed", o.ID, what, price)
	case shop.EventOrderRefunded:
		return b.texts.text(lang, "n_refunded", o.ID, what, price) + b.failureLine(lang, o)
	case shop.EventOrderExpired:
		if o.Received() > 0 {
			return b.texts.text(lang, "n_expired_credit", o.ID, what, shop.FormatAmount(o.PaymentCurrency, o.Received()))
		}
		return b.texts.text(lang, "n_expired", o.ID, what)
	case shop.EventOrderCancelled:
		return b.texts.text(lang, "n_cancelled", o.ID, what)
	default:
		return b.texts.text(lang, "n_other", o.ID, what, htmlText(b.texts.text(lang, "status_"+string(o.Status))))
	}
}

// failureLine is why a refunded order failed, as its failure_reason says it
// to partners in the API and webhooks (the sentence, then the code): ""
// when the order carries none. The sentence is the shop's own English one
// in both languages; no second table of reasons is kept here.
func (b *Bot) failureLine(lang string, o *domain.Order) string {
	code, sentence := o.Failure()
	switch {
	case sentence == "" && code == "":
		return ""
	case code == "":
		return "\n" + b.texts.text(lang, "n_reason", sentence)
	}
	return "\n" + b.texts.text(lang, "n_reason_code", sentence, code)
}
