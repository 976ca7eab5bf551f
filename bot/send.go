package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/theopenmoney/openmoney/internal/wait"
	"rsc.io/qr"
)

// button and keyboard are the inline keyboard as the bot sends it: only the
// fields used, so nothing else (empty copy_text…) goes on the wire.
type button struct {
	Text         string  `json:"text"`
	CallbackData string  `json:"callback_data,omitempty"`
	WebApp       *webApp `json:"web_app,omitempty"`
}

// webApp opens a Mini App (Telegram requires https; private chats only).
type webApp struct {
	URL string `json:"url"`
}

type keyboard struct {
	InlineKeyboard [][]button `json:"inline_keyboard"`
}

// row builds a keyboard of one row.
func row(bs ...button) keyboard { return keyboard{InlineKeyboard: [][]button{bs}} }

// noKeyboard removes the buttons of an edited message.
func noKeyboard() keyboard { return keyboard{InlineKeyboard: [][]button{}} }

// retryAfterError is a Bot API 429: the shop's outbox waits RetryAfter.
type retryAfterError struct {
	wait time.Duration
	err  error
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("telegram rate limit: retry after %s", e.wait)
}
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter is when the shop's outbox may try again.
func (e *retryAfterError) RetryAfter() time.Duration { return e.wait }

// tooMany returns the wait Telegram asked for when err is a 429.
func tooMany(err error) (time.Duration, bool) {
	var tm *tgbot.TooManyRequestsError
	if !errors.As(err, &tm) {
		return 0, false
	}
	wait := time.Duration(tm.RetryAfter) * time.Second
	if wait <= 0 {
		wait = time.Second
	}
	return wait, true
}

// retry runs one Bot API call, honouring 429 retry_after a few times (a 429
// means nothing was sent, so the retry cannot duplicate).
func (b *Bot) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err := fn(cctx)
		cancel()
		delay, limited := tooMany(err)
		if !limited || attempt >= maxSendAttempts || delay > maxReplyWait {
			return err
		}
		b.log.Info("rate limited by Telegram; waiting", "retry_after", delay)
		if !wait.Sleep(ctx, delay) {
			return ctx.Err()
		}
	}
}

// send sends an HTML message; markup is nil or a keyboard / ForceReply.
func (b *Bot) send(ctx context.Context, chatID int64, text string, markup any) (*models.Message, error) {
	var msg *models.Message
	err := b.retry(ctx, func(ctx context.Context) error {
		p := &tgbot.SendMessageParams{ChatID: chatID, Text: text, ParseMode: models.ParseModeHTML,
			LinkPreviewOptions: &models.LinkPreviewOptions{IsDisabled: tgbot.True()}}
		if markup != nil {
			p.ReplyMarkup = markup
		}
		var err error
		msg, err = b.tg.SendMessage(ctx, p)
		return err
	})
	if err != nil {
		b.log.Warn("sendMessage failed", "chat_id", chatID, "err", b.scrub(err))
		return nil, err
	}
	return msg, nil
}

// edit replaces a message's text and keyboard (noKeyboard() removes it).
func (b *Bot) edit(ctx context.Context, chatID int64, msgID int, text string, kb keyboard) {
	err := b.retry(ctx, func(ctx context.Context) error {
		_, err := b.tg.EditMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: chatID, MessageID: msgID,
			Text: text, ParseMode: models.ParseModeHTML, ReplyMarkup: kb,
			LinkPreviewOptions: &models.LinkPreviewOptions{IsDisabled: tgbot.True()}})
		return err
	})
	if err != nil && !strings.Contains(err.Error(), "message is not modified") {
		b.log.Warn("editMessageText failed", "chat_id", chatID, "err", b.scrub(err))
	}
}

// answer stops the spinner of a pressed button, optionally with a toast.
func (b *Bot) answer(ctx context.Context, cq *models.CallbackQuery, text string) {
	if cq.ID == "" {
		return
	}
	err := b.retry(ctx, func(ctx context.Context) error {
		_, err := b.tg.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: cq.ID, Text: text})
		return err
	})
	if err != nil {
		b.log.Debug("answerCallbackQuery failed", "err", b.scrub(err))
	}
}

// sendPNG sends a picture (a QR code) with a caption.
func (b *Bot) sendPNG(ctx context.Context, chatID int64, png []byte, filename, caption string) {
	err := b.retry(ctx, func(ctx context.Context) error {
		_, err := b.tg.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: chatID, Caption: caption, ParseMode: models.ParseModeHTML,
			Photo: &models.InputFileUpload{Filename: filename, Data: bytes.NewReader(png)}})
		return err
	})
	if err != nil {
		b.log.Warn("sendPhoto failed", "chat_id", chatID, "err", b.scrub(err))
	}
}

// qrScale is the PNG pixels per QR module.
const qrScale = 8

// qrPNG renders text as a QR code PNG (error correction M, 4-module margin).
func qrPNG(text string) ([]byte, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("bot: qr: %w", err)
	}
	c.Scale = qrScale
	return c.PNG(), nil
}
