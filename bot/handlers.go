package bot

import (
	"context"
	"errors"
	"html"
	"strings"

	"github.com/go-telegram/bot/models"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
)

// chat is one interaction: who asked, where, in which language, as which partner.
type chat struct {
	id      int64 // private chat id (= the user's id)
	lang    string
	partner *domain.Partner
}

// handle routes one update. Only messages and button presses matter; the
// partner is always the sender's own (one Telegram user = one partner), so
// nothing in an update can reach another user's data.
func (b *Bot) handle(ctx context.Context, upd *models.Update) {
	switch {
	case upd == nil:
	case upd.Message != nil:
		b.onMessage(ctx, upd.Message)
	case upd.CallbackQuery != nil:
		b.onCallback(ctx, upd.CallbackQuery)
	}
}

// isPrivate: a one-to-one chat with the sender.
func isPrivate(c models.Chat, from *models.User) bool {
	return c.Type == models.ChatTypePrivate && from != nil && c.ID == from.ID && c.ID > 0
}

// parseCommand splits "/stars@OpenMoneyBot pandus 100" into ("stars",
// ["pandus", "100"], true). A command addressed to another bot is not ours.
func parseCommand(text, botName string) (cmd string, args []string, ok bool) {
	f := strings.Fields(text)
	if len(f) == 0 || !strings.HasPrefix(f[0], "/") {
		return "", nil, false
	}
	name, target, addressed := strings.Cut(f[0][1:], "@")
	if addressed && botName != "" && !strings.EqualFold(target, botName) {
		return "", nil, false
	}
	return strings.ToLower(name), f[1:], true
}

func displayName(u *models.User) string {
	name := strings.TrimSpace(u.FirstName + " " + u.LastName)
	if name == "" {
		name = u.Username
	}
	if len(name) > 128 {
		name = strings.ToValidUTF8(name[:128], "")
	}
	return name
}

// partnerOf returns the sender's partner, creating it on first contact.
func (b *Bot) partnerOf(ctx context.Context, from *models.User, chatID int64) (*domain.Partner, error) {
	lang := "" // unknown: keep what the shop has
	if from.LanguageCode != "" {
		lang = langOf(from.LanguageCode)
	}
	return b.shop.TelegramPartner(ctx, shop.TelegramUser{ID: from.ID, ChatID: chatID,
		Name: displayName(from), Username: from.Username, Language: lang})
}

func (b *Bot) onMessage(ctx context.Context, m *models.Message) {
	if m.From == nil || m.From.IsBot || m.From.ID <= 0 {
		return
	}
	lang := langOf(m.From.LanguageCode)
	cmd, args, isCmd := parseCommand(m.Text, b.botUsername())
	if !isPrivate(m.Chat, m.From) {
		// Groups and channels: say where the bot works, do nothing else.
		if isCmd {
			if cmd == "fragment" && len(args) > 0 && b.shop.IsOperator(m.From.ID) {
				b.deleteMessage(ctx, m.Chat.ID, m.ID) // a session pasted in a group: at least try
			}
			b.send(ctx, m.Chat.ID, b.texts.text(lang, "private_only"), nil)
		}
		return
	}
	p, err := b.partnerOf(ctx, m.From, m.Chat.ID)
	if err != nil {
		b.fail(ctx, &chat{id: m.Chat.ID, lang: lang}, err)
		return
	}
	c := &chat{id: m.Chat.ID, lang: lang, partner: p}
	if !isCmd {
		b.onText(ctx, c, m.Text)
		return
	}
	b.flows.clear(c.id) // any command ends a guided order
	if b.shop.IsOperator(m.From.ID) && b.operatorCommand(ctx, c, m, cmd, args) {
		return
	}
	switch cmd {
	case "start":
		b.send(ctx, c.id, b.texts.text(lang, "start"), nil)
	case "help":
		b.send(ctx, c.id, b.texts.text(lang, "help"), nil)
	case "api":
		b.cmdAPI(ctx, c, args)
	case "stars":
		b.cmdOrder(ctx, c, domain.KindStars, args)
	case "premium":
		b.cmdOrder(ctx, c, domain.KindPremium, args)
	case "orders":
		b.cmdOrders(ctx, c)
	case "balance":
		b.cmdBalance(ctx, c)
	default:
		b.send(ctx, c.id, b.texts.text(lang, "help"), nil)
	}
}

// onText is free text in a private chat: the username of a guided order,
// else a short help.
func (b *Bot) onText(ctx context.Context, c *chat, text string) {
	if f, ok := b.flows.get(c.id); ok && strings.TrimSpace(text) != "" {
		if f.op != nil {
			if b.shop.IsOperator(c.id) {
				b.operatorReply(ctx, c, *f.op, text)
			}
			return
		}
		b.guidedUsername(ctx, c, f, text)
		return
	}
	b.send(ctx, c.id, b.texts.text(c.lang, "help"), nil)
}

// Callback data: short, prefixed, at most 64 bytes.
const (
	cbAPIRotate    = "api:rotate:" // + key prefix
	cbAPIRevoke    = "api:revoke:" // + key prefix: ask
	cbAPIRevokeYes = "api:yes:"    // + key prefix: revoke
	cbAPIKeep      = "api:keep"
	cbGuided       = "g:" // g:<s|p>:<amount>
	cbConfirm      = "o:" // o:<s|p>:<amount>:<username>
	cbCancel       = "x"
)

func (b *Bot) onCallback(ctx context.Context, cq *models.CallbackQuery) {
	lang := langOf(cq.From.LanguageCode)
	m := cq.Message.Message
	if m == nil || cq.From.IsBot || cq.From.ID <= 0 {
		b.answer(ctx, cq, b.texts.text(lang, "stale_button"))
		return
	}
	if !isPrivate(m.Chat, &cq.From) {
		b.answer(ctx, cq, b.texts.text(lang, "private_only"))
		return
	}
	p, err := b.partnerOf(ctx, &cq.From, m.Chat.ID)
	if err != nil {
		b.answer(ctx, cq, "")
		b.fail(ctx, &chat{id: m.Chat.ID, lang: lang}, err)
		return
	}
	c := &chat{id: m.Chat.ID, lang: lang, partner: p}
	data := cq.Data
	switch {
	case strings.HasPrefix(data, cbOp) && b.shop.IsOperator(cq.From.ID):
		b.onOperatorCallback(ctx, c, cq, m)
	case strings.HasPrefix(data, cbAPIRotate):
		b.answer(ctx, cq, "")
		b.rotateButton(ctx, c, m.ID, strings.TrimPrefix(data, cbAPIRotate))
	case strings.HasPrefix(data, cbAPIRevoke):
		b.answer(ctx, cq, "")
		b.revokeAsk(ctx, c, m.ID, strings.TrimPrefix(data, cbAPIRevoke))
	case strings.HasPrefix(data, cbAPIRevokeYes):
		b.answer(ctx, cq, "")
		b.revokeConfirmed(ctx, c, m.ID, strings.TrimPrefix(data, cbAPIRevokeYes))
	case data == cbAPIKeep:
		b.answer(ctx, cq, "")
		b.edit(ctx, c.id, m.ID, b.texts.text(lang, "key_kept"), noKeyboard())
	case strings.HasPrefix(data, cbGuided):
		b.answer(ctx, cq, "")
		b.guidedAmount(ctx, c, m, strings.TrimPrefix(data, cbGuided))
	case strings.HasPrefix(data, cbConfirm):
		b.confirm(ctx, c, cq, m)
	case data == cbCancel:
		b.answer(ctx, cq, "")
		b.flows.clear(c.id)
		b.edit(ctx, c.id, m.ID, b.texts.text(lang, "cancelled"), noKeyboard())
	default:
		b.answer(ctx, cq, b.texts.text(lang, "stale_button"))
	}
}

// errText translates an error: a shop.Error by its key (its English
// message when the catalogue lacks the key), anything else as internal.
func (b *Bot) errText(ctx context.Context, lang string, err error) string {
	var se *shop.Error
	if errors.As(err, &se) {
		if se.Key != "" && b.texts.has(se.Key) {
			return b.texts.text(lang, se.Key, se.Args...)
		}
		return html.EscapeString(se.Message)
	}
	if ctx.Err() == nil {
		b.log.Error("handler failed", "err", b.scrub(err))
	}
	return b.texts.text(lang, "internal")
}

// fail tells the user what went wrong.
func (b *Bot) fail(ctx context.Context, c *chat, err error) {
	b.send(ctx, c.id, b.errText(ctx, c.lang, err), nil)
}
