package bot

import (
	"context"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/shop"
)

// fmtTime shows a time to users: UTC, minutes.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// cmdAPI: /api shows (or issues) the key, /api new rotates, /api revoke asks
// before revoking. Only ever called for private chats.
func (b *Bot) cmdAPI(ctx context.Context, c *chat, args []string) {
	if len(args) > 1 {
		b.send(ctx, c.id, b.texts.text(c.lang, "api_usage"), nil)
		return
	}
	sub := ""
	if len(args) == 1 {
		sub = strings.ToLower(args[0])
	}
	switch sub {
	case "":
		info, err := b.shop.ActiveKey(ctx, c.partner.ID)
		if err != nil {
			b.fail(ctx, c, err)
			return
		}
		if info == nil {
			k, err := b.shop.IssueKey(ctx, c.partner.ID)
			if err != nil {
				b.fail(ctx, c, err)
				return
			}
			b.showNewKey(ctx, c, k)
			return
		}
		b.send(ctx, c.id, b.keyInfo(c.lang, info), row(
			button{Text: b.texts.text(c.lang, "btn_rotate"), CallbackData: cbAPIRotate + info.Prefix},
			button{Text: b.texts.text(c.lang, "btn_revoke"), CallbackData: cbAPIRevoke + info.Prefix}))
	case "new", "rotate":
		k, err := b.shop.RotateKey(ctx, c.partner.ID)
		if err != nil {
			b.fail(ctx, c, err)
			return
		}
		b.showNewKey(ctx, c, k)
	case "revoke":
		info, err := b.shop.ActiveKey(ctx, c.partner.ID)
		if err != nil {
			b.fail(ctx, c, err)
			return
		}
		if info == nil {
			b.send(ctx, c.id, b.texts.text(c.lang, "key_none"), nil)
			return
		}
		b.send(ctx, c.id, b.texts.text(c.lang, "key_revoke_ask", info.Prefix), b.revokeButtons(c.lang, info.Prefix))
	default:
		b.send(ctx, c.id, b.texts.text(c.lang, "api_usage"), nil)
	}
}

// showNewKey sends a fresh key, once, in monospace with the warning. The
// key goes nowhere else: not in logs, not in any state the bot keeps.
func (b *Bot) showNewKey(ctx context.Context, c *chat, k shop.IssuedKey) {
	b.send(ctx, c.id, b.texts.text(c.lang, "key_issued", k.Key), nil)
}

func (b *Bot) keyInfo(lang string, info *shop.KeyInfo) string {
	used := b.texts.text(lang, "key_never_used")
	if info.LastUsedAt != nil {
		used = fmtTime(*info.LastUsedAt)
	}
	return b.texts.text(lang, "key_info", info.Prefix, fmtTime(info.CreatedAt), used)
}

func (b *Bot) revokeButtons(lang, prefix string) keyboard {
	return row(
		button{Text: b.texts.text(lang, "btn_revoke_yes"), CallbackData: cbAPIRevokeYes + prefix},
		button{Text: b.texts.text(lang, "btn_keep"), CallbackData: cbAPIKeep})
}

// activeIs reports whether the partner's live key still starts with prefix:
// a button pressed on an old message must not act on a newer key.
func (b *Bot) activeIs(ctx context.Context, c *chat, msgID int, prefix string) bool {
	info, err := b.shop.ActiveKey(ctx, c.partner.ID)
	if err != nil {
		b.fail(ctx, c, err)
		return false
	}
	if info == nil || prefix == "" || info.Prefix != prefix {
		b.edit(ctx, c.id, msgID, b.texts.text(c.lang, "key_changed"), noKeyboard())
		return false
	}
	return true
}

// rotateButton: the Rotate button of a key-info message.
func (b *Bot) rotateButton(ctx context.Context, c *chat, msgID int, prefix string) {
	if !b.activeIs(ctx, c, msgID, prefix) {
		return
	}
	k, err := b.shop.RotateKey(ctx, c.partner.ID)
	if err != nil {
		b.fail(ctx, c, err)
		return
	}
	b.edit(ctx, c.id, msgID, b.texts.text(c.lang, "key_rotated", prefix), noKeyboard())
	b.showNewKey(ctx, c, k)
}

// revokeAsk: the Revoke button turns the key-info message into the question.
func (b *Bot) revokeAsk(ctx context.Context, c *chat, msgID int, prefix string) {
	if !b.activeIs(ctx, c, msgID, prefix) {
		return
	}
	b.edit(ctx, c.id, msgID, b.texts.text(c.lang, "key_revoke_ask", prefix), b.revokeButtons(c.lang, prefix))
}

// revokeConfirmed: "Yes, revoke it".
func (b *Bot) revokeConfirmed(ctx context.Context, c *chat, msgID int, prefix string) {
	if !b.activeIs(ctx, c, msgID, prefix) {
		return
	}
	if err := b.shop.RevokeKey(ctx, c.partner.ID); err != nil {
		if shop.ErrorCode(err) == shop.CodeNotFound {
			b.edit(ctx, c.id, msgID, b.texts.text(c.lang, "key_none"), noKeyboard())
			return
		}
		b.fail(ctx, c, err)
		return
	}
	b.edit(ctx, c.id, msgID, b.texts.text(c.lang, "key_revoked"), noKeyboard())
}
