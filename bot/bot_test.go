package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"
	"rsc.io/qr"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

var (
	keyRe  = regexp.MustCompile(`osk_[0-9A-Za-z]{43}`)
	memoRe = regexp.MustCompile(`(STARS|PREMIUM)-[0-9a-z]{6}`)
	linkRe = regexp.MustCompile(`ton://transfer/[A-Za-z0-9_-]+\?amount=\d+&amp;text=[A-Z]+-[0-9a-z]{6}`)
)

var (
	alice = tgUser{ID: 1001, Name: "Alice", Lang: "en"}
	bob   = tgUser{ID: 1002, Name: "Bob", Lang: "en"}
	budi  = tgUser{ID: 1003, Name: "Budi", Lang: "id"}
)

func authenticates(t *testing.T, s *shop.Shop, key string) bool {
	t.Helper()
	_, err := s.Authenticate(context.Background(), key)
	if err != nil && shop.ErrorCode(err) != shop.CodeUnauthorized {
		t.Fatalf("Authenticate: %v", err)
	}
	return err == nil
}

func TestAPIKeyIssueRotateRevoke(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg, s := h.tg, h.env.Shop

	// No key yet: /api issues one, in monospace, with the warning.
	m := tg.mark()
	tg.say(alice, "/api")
	msg := tg.waitText(t, m, alice.ID, "Keep it secret")
	key1 := keyRe.FindString(msg.Text)
	if key1 == "" || !strings.Contains(msg.Text, "<code>"+key1+"</code>") {
		t.Fatalf("key message without a monospace key: %q", msg.Text)
	}
	p, err := s.Authenticate(context.Background(), key1)
	if err != nil {
		t.Fatalf("issued key does not authenticate: %v", err)
	}
	if p.TelegramUserID != alice.ID || p.TelegramChatID != alice.ID {
		t.Fatalf("key belongs to partner %+v, want Alice's", p)
	}

	// Active key: /api shows its prefix (never the key) with Rotate and Revoke.
	m = tg.mark()
	tg.say(alice, "/api")
	info := tg.waitText(t, m, alice.ID, key1[:12])
	if strings.Contains(info.Text, key1) || !strings.Contains(info.Text, "Last used") {
		t.Fatalf("key info leaks the key or lacks fields: %q", info.Text)
	}
	rotate := buttonData(t, info, cbAPIRotate)
	buttonData(t, info, cbAPIRevoke)

	// Rotate button: old key dead at once, new key works.
	m = tg.mark()
	tg.press(alice, info, rotate)
	msg = tg.waitText(t, m, alice.ID, "Keep it secret")
	key2 := keyRe.FindString(msg.Text)
	if key2 == "" || key2 == key1 {
		t.Fatalf("rotation gave %q", key2)
	}
	tg.wait(t, m, "the key-info message edited", func(c call) bool {
		return c.Method == "editMessageText" && c.MsgID == info.MsgID && strings.Contains(c.Text, "no longer works")
	})
	if authenticates(t, s, key1) || !authenticates(t, s, key2) {
		t.Fatal("after rotate: old key must be 401, new key must work")
	}

	// A stale Rotate button (on the old info message) does nothing.
	m = tg.mark()
	tg.press(alice, info, rotate)
	tg.wait(t, m, "stale rotate refused", func(c call) bool {
		return c.Method == "editMessageText" && strings.Contains(c.Text, "already replaced or revoked")
	})
	if !authenticates(t, s, key2) {
		t.Fatal("a stale rotate button changed the key")
	}

	// /api new rotates too.
	m = tg.mark()
	tg.say(alice, "/api new")
	key3 := keyRe.FindString(tg.waitText(t, m, alice.ID, "Keep it secret").Text)
	if key3 == "" || key3 == key2 || authenticates(t, s, key2) || !authenticates(t, s, key3) {
		t.Fatal("/api new: old key must be 401, new key must work")
	}

	// /api revoke asks first; "Keep it" keeps it.
	m = tg.mark()
	tg.say(alice, "/api revoke")
	ask := tg.waitText(t, m, alice.ID, "Revoke the key")
	m = tg.mark()
	tg.press(alice, ask, cbAPIKeep)
	tg.wait(t, m, "kept", func(c call) bool { return c.Method == "editMessageText" && strings.Contains(c.Text, "stays active") })
	if !authenticates(t, s, key3) {
		t.Fatal("Keep revoked the key")
	}
	// …and the confirmation revokes.
	m = tg.mark()
	tg.say(alice, "/api revoke")
	ask = tg.waitText(t, m, alice.ID, "Revoke the key")
	m = tg.mark()
	tg.press(alice, ask, buttonData(t, ask, cbAPIRevokeYes))
	tg.wait(t, m, "revoked", func(c call) bool { return c.Method == "editMessageText" && strings.Contains(c.Text, "Key revoked") })
	if authenticates(t, s, key3) {
		t.Fatal("revoked key still authenticates")
	}
	m = tg.mark()
	tg.say(alice, "/api revoke")
	tg.waitText(t, m, alice.ID, "no active API key")

	// Every button press was answered; no key was ever logged.
	if n := tg.count(func(c call) bool { return c.Method == "answerCallbackQuery" }); n < 4 {
		t.Errorf("answerCallbackQuery calls = %d, want ≥ 4", n)
	}
	if keyRe.MatchString(h.logs.String()) {
		t.Error("a key appears in the logs")
	}
}

func TestGroupChatNeverGetsAKey(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg := h.tg
	const group = -100500
	m := tg.mark()
	for _, text := range []string{"/api", "/api@OpenMoneyBot new", "/stars pandus 100", "/balance", "hello"} {
		tg.sayIn(alice, group, text)
	}
	tg.sayIn(alice, group, "/api@SomeOtherBot")
	tg.sayIn(bob, group, "/start")
	// Five commands for this bot → five "private chats only"; text and the
	// other bot's command → nothing.
	tg.wait(t, m, "five private-only answers", func(call) bool {
		return tg.count(func(c call) bool {
			return c.Method == "sendMessage" && c.ChatID == group && strings.Contains(c.Text, "private chats only")
		}) == 5
	})
	time.Sleep(200 * time.Millisecond) // anything else would have arrived by now
	for _, c := range tg.all() {
		if c.Method == "setMyCommands" {
			continue
		}
		if strings.Contains(c.Text, "osk_") || c.ChatID != group {
			t.Errorf("unexpected call %s to %d: %q", c.Method, c.ChatID, c.Text)
		}
		if c.Method != "sendMessage" {
			t.Errorf("group got %s", c.Method)
		}
	}
	ps, err := h.env.Shop.Partners(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 0 {
		t.Errorf("group messages created partners: %+v", ps)
	}
}

// checkQR decodes a PNG and checks it is the QR code of text.
func checkQR(t *testing.T, data []byte, text string) {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil || format != "png" {
		t.Fatalf("photo is not a PNG (%s): %v", format, err)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	bnd := img.Bounds()
	if bnd.Dx() != bnd.Dy() || bnd.Dx() < 21*qrScale {
		t.Fatalf("QR image %v is not a square of at least 21 modules", bnd)
	}
	want, err := qr.Encode(text, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	if bnd.Dx() != (want.Size+8)*qrScale {
		t.Fatalf("QR image is %dpx, want %d modules + margin at scale %d", bnd.Dx(), want.Size, qrScale)
	}
	black := func(x, y int) bool { // module (x, y), quiet zone of 4
		r, _, _, _ := img.At((x+4)*qrScale+qrScale/2, (y+4)*qrScale+qrScale/2).RGBA()
		return r < 0x8000
	}
	// Finder pattern in three corners: a 7×7 black ring.
	n := want.Size
	for _, o := range [][2]int{{0, 0}, {n - 7, 0}, {0, n - 7}} {
		for i := range 7 {
			if !black(o[0]+i, o[1]) || !black(o[0]+i, o[1]+6) || !black(o[0], o[1]+i) || !black(o[0]+6, o[1]+i) {
				t.Fatalf("no finder pattern at %v", o)
			}
		}
	}
	for y := range n {
		for x := range n {
			if black(x, y) != want.Black(x, y) {
				t.Fatalf("module (%d,%d) differs from the QR code of %q", x, y, text)
			}
		}
	}
}

// order drives "/stars pandus 100" to the payment message and returns it.
func orderInChat(t *testing.T, h *harness, u tgUser, cmd string) (quote, payment call) {
	t.Helper()
	m := h.tg.mark()
	h.tg.say(u, cmd)
	quote = h.tg.waitText(t, m, u.ID, "TON")
	m = h.tg.mark()
	h.tg.press(u, quote, buttonData(t, quote, cbConfirm))
	payment = h.tg.waitText(t, m, u.ID, "ton://transfer/")
	return quote, payment
}

func TestStarsOrderInChatPaidAndDelivered(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg, s := h.tg, h.env.Shop
	ctx := context.Background()

	m := tg.mark()
	tg.say(alice, "/stars pandus 100")
	quote := tg.waitText(t, m, alice.ID, "100 Stars for @pandus")
	for _, want := range []string{"0.4375 TON", "1.575 USD", "1 TON = 3.6 USD", "fee 5%"} {
		if !strings.Contains(quote.Text, want) {
			t.Errorf("quote %q lacks %q", quote.Text, want)
		}
	}
	confirm := buttonData(t, quote, cbConfirm)
	buttonData(t, quote, cbCancel)

	m = tg.mark()
	tg.press(alice, quote, confirm)
	pay := tg.waitText(t, m, alice.ID, "ton://transfer/")
	photo := tg.waitMethod(t, m, alice.ID, "sendPhoto")
	tg.wait(t, m, "the quote's buttons removed", func(c call) bool {
		return c.Method == "editMessageReplyMarkup" && c.MsgID == quote.MsgID
	})

	memo := memoRe.FindString(pay.Text)
	addr := s.ServiceAddress()
	wantLink := "ton://transfer/" + addr + "?amount=437500000&text=" + memo
	for _, want := range []string{"<b>0.4375 TON</b>", "<code>" + addr + "</code>", "<code>" + memo + "</code>",
		strings.ReplaceAll(wantLink, "&", "&amp;"), "(15 min)", "UTC"} {
		if memo == "" || !strings.Contains(pay.Text, want) {
			t.Errorf("payment message %q lacks %q", pay.Text, want)
		}
	}
	if !linkRe.MatchString(pay.Text) {
		t.Errorf("no ton:// link in %q", pay.Text)
	}
	checkQR(t, photo.Photo, wantLink)
	if strings.Contains(pay.Markup, "web_app") {
		t.Errorf("payment message offers a Mini App over http (Telegram refuses it): %s", pay.Markup)
	}
	if !strings.Contains(photo.Text, memo) || !strings.Contains(photo.Text, "0.4375") {
		t.Errorf("photo caption %q", photo.Text)
	}

	// The order is Alice's, as the API would show it.
	p := h.partner(t, alice)
	page, err := s.ListOrders(ctx, p.ID, shop.OrderFilter{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("orders: %v %+v", err, page.Items)
	}
	o := page.Items[0]
	if o.PaymentMemo != memo || o.PriceNano != 437500000 || o.StarsAmount != 100 || o.RecipientUsername != "pandus" {
		t.Fatalf("order %+v", o)
	}

	// Pay the exact amount shown; the notifications follow.
	nano, err := money.ParseTON("0.4375")
	if err != nil {
		t.Fatal(err)
	}
	m = tg.mark()
	if _, err := s.SandboxTransfer(ctx, p.ID, shop.SandboxTransferRequest{ToAddress: addr, AmountNano: nano, Comment: memo}); err != nil {
		t.Fatal(err)
	}
	paid := tg.waitText(t, m, alice.ID, "Payment received for order #")
	done := tg.waitText(t, m, alice.ID, "delivered: 100 Stars for @pandus")
	if !paid.At.Before(done.At) && !paid.At.Equal(done.At) {
		t.Error("delivered before paid")
	}

	m = tg.mark()
	tg.say(alice, "/orders")
	list := tg.waitText(t, m, alice.ID, "Your recent orders")
	if !strings.Contains(list.Text, "100 Stars for @pandus · 0.4375 TON · delivered") {
		t.Errorf("/orders: %q", list.Text)
	}
	// Bob sees none of it.
	m = tg.mark()
	tg.say(bob, "/orders")
	tg.waitText(t, m, bob.ID, "no orders yet")
	h.env.Check(t)
}

func TestDoubleTapConfirmCreatesOneOrder(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg := h.tg
	m := tg.mark()
	tg.say(alice, "/premium @pandus 3")
	quote := tg.waitText(t, m, alice.ID, "3 months of Telegram Premium for @pandus")
	data := buttonData(t, quote, cbConfirm)
	m = tg.mark()
	tg.press(alice, quote, data)
	tg.press(alice, quote, data)
	tg.press(alice, quote, data)
	tg.waitText(t, m, alice.ID, "ton://transfer/")
	tg.wait(t, m, "three answered taps", func(call) bool {
		return tg.count(func(c call) bool { return c.Method == "answerCallbackQuery" }) >= 3
	})
	if n := tg.count(func(c call) bool { return strings.Contains(c.CbText, "already created") }); n != 2 {
		t.Errorf("%d taps were told the order exists, want 2:\n%s", n, tg.dump())
	}
	if n := tg.count(func(c call) bool { return strings.Contains(c.Text, "ton://transfer/") }); n != 1 {
		t.Errorf("%d payment messages, want 1", n)
	}
	page, err := h.env.Shop.ListOrders(context.Background(), h.partner(t, alice).ID, shop.OrderFilter{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("orders after a triple tap: %v, %d", err, len(page.Items))
	}
	if page.Items[0].PremiumMonths != 3 || page.Items[0].Type != domain.KindPremium {
		t.Errorf("order %+v", page.Items[0])
	}
}

func TestCancelButton(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	m := h.tg.mark()
	h.tg.say(alice, "/stars pandus 50")
	quote := h.tg.waitText(t, m, alice.ID, "50 Stars")
	m = h.tg.mark()
	h.tg.press(alice, quote, cbCancel)
	h.tg.wait(t, m, "cancelled", func(c call) bool { return c.Method == "editMessageText" && strings.Contains(c.Text, "Cancelled") })
	page, _ := h.env.Shop.ListOrders(context.Background(), h.partner(t, alice).ID, shop.OrderFilter{})
	if len(page.Items) != 0 {
		t.Errorf("cancel created an order")
	}
}

func TestGuidedStarsFlow(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg := h.tg
	m := tg.mark()
	tg.say(alice, "/stars")
	pick := tg.waitText(t, m, alice.ID, "How many Stars?")
	var labels []string
	for _, b := range buttons(t, pick) {
		labels = append(labels, b.Text)
	}
	if got := strings.Join(labels, ","); !strings.HasPrefix(got, "50,100,500,1000,") {
		t.Fatalf("buttons %s", got)
	}
	m = tg.mark()
	tg.press(alice, pick, cbGuided+"s:100")
	ask := tg.waitText(t, m, alice.ID, "Who receives them?")
	if !strings.Contains(ask.Markup, `"force_reply":true`) {
		t.Errorf("username question without force_reply: %s", ask.Markup)
	}
	// A bad username is explained and asked again; the flow survives.
	m = tg.mark()
	tg.say(alice, "1nvalid!")
	tg.waitText(t, m, alice.ID, "5–32 characters")
	tg.waitText(t, m, alice.ID, "another username")
	m = tg.mark()
	tg.say(alice, "@nobody_missing")
	tg.waitText(t, m, alice.ID, "cannot receive Telegram Stars")
	m = tg.mark()
	tg.say(alice, "@pandus")
	quote := tg.waitText(t, m, alice.ID, "100 Stars for @pandus")
	if !strings.Contains(quote.Text, "0.4375 TON") {
		t.Errorf("quote %q", quote.Text)
	}
	m = tg.mark()
	tg.press(alice, quote, buttonData(t, quote, cbConfirm))
	pay := tg.waitText(t, m, alice.ID, "ton://transfer/")
	if !strings.Contains(pay.Text, "0.4375 TON") || !memoRe.MatchString(pay.Text) {
		t.Errorf("payment %q", pay.Text)
	}
	// The flow is over: free text now gets the short help.
	m = tg.mark()
	tg.say(alice, "pandus")
	tg.waitText(t, m, alice.ID, "I understand these commands")
}

func TestGuidedPremiumFlow(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg := h.tg
	m := tg.mark()
	tg.say(alice, "/premium")
	pick := tg.waitText(t, m, alice.ID, "How many months")
	m = tg.mark()
	tg.press(alice, pick, buttonData(t, pick, cbGuided+"p:6"))
	tg.waitText(t, m, alice.ID, "Who receives them?")
	m = tg.mark()
	tg.say(alice, "pandus")
	quote := tg.waitText(t, m, alice.ID, "6 months of Telegram Premium for @pandus")
	// 15.99 × 1.05 / 3.6 = 4.66375 TON
	if !strings.Contains(quote.Text, "4.66375 TON") || !strings.Contains(quote.Text, "16.7895 USD") {
		t.Errorf("quote %q", quote.Text)
	}
}

func TestValidationMessages(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	for _, tc := range []struct{ name, cmd, want string }{
		{"quantity below min → the API's rule", "/stars pandus 5", "between 50 and 10000"},
		{"quantity above max", "/stars pandus 10001", "between 50 and 10000"},
		{"quantity not a number", "/stars pandus lots", "whole number"},
		{"username format", "/stars 1pandus 100", "5–32 characters"},
		{"recipient cannot receive", "/stars pandus_missing 100", "@pandus_missing cannot receive Telegram Stars"},
		{"months not allowed", "/premium pandus 4", "3, 6 or 12"},
		{"premium missing recipient", "/premium pandus_missing 3", "cannot receive Telegram Premium"},
		{"wrong argument count", "/stars pandus", "/stars username quantity"},
		{"api sub-command unknown", "/api please", "/api new"},
		{"unknown command → help", "/frobnicate", "I understand these commands"},
		{"free text → help", "hello there", "I understand these commands"},
		{"start", "/start", "sells Telegram Stars and Telegram Premium"},
		{"amount first is fine", "/stars 100 pandus", "100 Stars for @pandus"},
		{"html in a username is escaped", "/stars <b>x</b> 100", "5–32 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := h.tg.mark()
			h.tg.say(alice, tc.cmd)
			h.tg.waitText(t, m, alice.ID, tc.want)
		})
	}
}

func TestIndonesian(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg := h.tg
	for _, tc := range []struct{ cmd, want string }{
		{"/start", "menjual Telegram Stars dan Telegram Premium"},
		{"/stars pandus 5", "Jumlah harus antara 50 dan 10000."},
		{"/premium pandus 4", "Bulan harus 3, 6 atau 12."},
		{"/orders", "Anda belum punya order"},
		{"halo", "Perintah yang saya pahami"},
		{"/api", "Rahasiakan"},
	} {
		m := tg.mark()
		tg.say(budi, tc.cmd)
		tg.waitText(t, m, budi.ID, tc.want)
	}
	m := tg.mark()
	tg.say(budi, "/stars pandus 100")
	quote := tg.waitText(t, m, budi.ID, "100 Stars untuk @pandus")
	if !strings.Contains(quote.Text, "Harga: <b>0.4375 TON</b>") || buttons(t, quote)[0].Text != "💎 Bayar 0.4375 TON" {
		t.Errorf("quote %q %s", quote.Text, quote.Markup)
	}
	m = tg.mark()
	tg.press(budi, quote, buttonData(t, quote, cbConfirm))
	pay := tg.waitText(t, m, budi.ID, "Kirim tepat <b>0.4375 TON</b>")
	memo := memoRe.FindString(pay.Text)
	p := h.partner(t, budi)
	if p.Language != "id" {
		t.Errorf("partner language %q", p.Language)
	}
	m = tg.mark()
	if _, err := h.env.Shop.SandboxTransfer(context.Background(), p.ID, shop.SandboxTransferRequest{
		ToAddress: h.env.Shop.ServiceAddress(), AmountNano: 437500000, Comment: memo}); err != nil {
		t.Fatal(err)
	}
	tg.waitText(t, m, budi.ID, "Pembayaran diterima untuk order #")
	tg.waitText(t, m, budi.ID, "terkirim: 100 Stars untuk @pandus")
}

func TestRetryAfterOnReplyIsHonoured(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg := h.tg
	tg.failNext("sendMessage", 429, 1, 1)
	m := tg.mark()
	tg.say(alice, "/start")
	ok := tg.waitText(t, m, alice.ID, "sells Telegram Stars")
	var limited *call
	for _, c := range tg.all() {
		if c.ErrCode == 429 {
			limited = &c
		}
	}
	if limited == nil {
		t.Fatal("the fake never answered 429")
	}
	if d := ok.At.Sub(limited.At); d < time.Second {
		t.Errorf("retried after %v, before retry_after (1s)", d)
	}
	if n := tg.count(func(c call) bool {
		return c.Method == "sendMessage" && c.ErrCode == 0 && strings.Contains(c.Text, "sells Telegram Stars")
	}); n != 1 {
		t.Errorf("/start answered %d times, want once", n)
	}
}

func TestRetryAfterOnNotificationIsHonoured(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg, s := h.tg, h.env.Shop
	ctx := context.Background()
	_, pay := orderInChat(t, h, alice, "/stars pandus 100")
	memo := memoRe.FindString(pay.Text)

	tg.failNext("sendMessage", 429, 1, 1)
	m := tg.mark()
	if _, err := s.SandboxTransfer(ctx, h.partner(t, alice).ID, shop.SandboxTransferRequest{
		ToAddress: s.ServiceAddress(), AmountNano: 437500000, Comment: memo}); err != nil {
		t.Fatal(err)
	}
	_, i := tg.wait(t, m, "the 429", func(c call) bool { return c.ErrCode == 429 })
	limited := tg.all()[i]
	paid := tg.waitText(t, m, alice.ID, "Payment received")
	tg.waitText(t, m, alice.ID, "delivered")
	if d := paid.At.Sub(limited.At); d < time.Second {
		t.Errorf("notification retried after %v, before retry_after", d)
	}
	if n := tg.count(func(c call) bool { return c.ErrCode == 0 && strings.Contains(c.Text, "Payment received") }); n != 1 {
		t.Errorf("paid notification arrived %d times, want once", n)
	}
}

func TestBalanceAndTopup(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg, s := h.tg, h.env.Shop
	m := tg.mark()
	tg.say(alice, "/balance")
	bal := tg.waitText(t, m, alice.ID, "Balance: <b>0 TON</b>")
	p := h.partner(t, alice)
	if !strings.Contains(bal.Text, "<code>"+p.TopupAddress+"</code>") || !strings.Contains(bal.Text, "No movements yet") {
		t.Fatalf("/balance %q", bal.Text)
	}
	checkQR(t, tg.waitMethod(t, m, alice.ID, "sendPhoto").Photo, "ton://transfer/"+p.TopupAddress)

	m = tg.mark()
	if _, err := s.SandboxTransfer(context.Background(), p.ID, shop.SandboxTransferRequest{
		ToAddress: p.TopupAddress, AmountNano: 1_500_000_000}); err != nil {
		t.Fatal(err)
	}
	tg.waitText(t, m, alice.ID, "Top-up received: +1.5 TON. Balance: 1.5 TON.")
	m = tg.mark()
	tg.say(alice, "/balance")
	bal = tg.waitText(t, m, alice.ID, "Balance: <b>1.5 TON</b>")
	if !strings.Contains(bal.Text, "+1.5 TON · top-up") {
		t.Errorf("/balance ledger %q", bal.Text)
	}
	// A USDT top-up says its currency: the USDT amount and USDT balance.
	m = tg.mark()
	if _, err := s.SandboxTransfer(context.Background(), p.ID, shop.SandboxTransferRequest{Asset: "USDT",
		ToAddress: p.TopupAddress, AmountUnits: 2_500_000}); err != nil {
		t.Fatal(err)
	}
	tg.waitText(t, m, alice.ID, "Top-up received: +2.5 USDT. Balance: 2.5 USDT.")
}

func TestRefundedAndExpiredNotifications(t *testing.T) {
	h := newHarness(t, shoptest.Options{Clock: true})
	tg, s := h.tg, h.env.Shop
	ctx := context.Background()

	_, pay := orderInChat(t, h, alice, "/stars pandus_fail 100")
	m := tg.mark()
	if _, err := s.SandboxTransfer(ctx, h.partner(t, alice).ID, shop.SandboxTransferRequest{
		ToAddress: s.ServiceAddress(), AmountNano: 437500000, Comment: memoRe.FindString(pay.Text)}); err != nil {
		t.Fatal(err)
	}
	tg.waitText(t, m, alice.ID, "could not be delivered. 0.4375 TON was refunded")

	_, pay = orderInChat(t, h, alice, "/premium pandus 12")
	m = tg.mark()
	h.env.Clock.Advance(16 * time.Minute)
	tg.waitText(t, m, alice.ID, "expired unpaid")
	m = tg.mark()
	tg.say(alice, "/orders")
	list := tg.waitText(t, m, alice.ID, "Your recent orders")
	if !strings.Contains(list.Text, "expired") || !strings.Contains(list.Text, "refunded") {
		t.Errorf("/orders %q", list.Text)
	}
	_ = pay
	// A USDT order's refund says USDT: the price goes back in its currency.
	pid := h.partner(t, alice).ID
	o, _, err := s.CreateOrder(ctx, pid, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus_fail",
		Quantity: 100, PaymentCurrency: domain.CurrencyUSDT})
	if err != nil {
		t.Fatal(err)
	}
	m = tg.mark()
	if _, err := s.SandboxTransfer(ctx, pid, shop.SandboxTransferRequest{Asset: "USDT", ToAddress: o.PaymentAddress,
		AmountUnits: o.PriceUSDT, Comment: o.PaymentMemo}); err != nil {
		t.Fatal(err)
	}
	tg.waitText(t, m, alice.ID, "could not be delivered. 1.575 USDT was refunded")
}

func TestStartsAndDegradesWhenTelegramIsUnreachable(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	b, err := New(Options{Token: fakeToken, APIURL: "http://127.0.0.1:1", Shop: env.Shop, PollTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("New must not touch the network: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for {
		hl := env.Shop.Health(ctx)
		d, _ := hl.Components[HealthComponent].(map[string]any)
		if hl.Status == "degraded" && d["status"] == "error" {
			if strings.Contains(d["last_error"].(string), fakeToken) {
				t.Error("health shows the token")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never degraded: %+v", hl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not stop")
	}
}

func TestHealthFollowsTheBotAPI(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	tg := newFakeTG(t)
	tg.setDown(true)
	b, err := New(Options{Token: fakeToken, APIURL: tg.srv.URL + "/", Shop: env.Shop, PollTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitHealth := func(ok bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			got, _ := b.link.report()
			if got == ok {
				return
			}
			if time.Now().After(deadline) {
				_, d := b.link.report()
				t.Fatalf("health ok=%v, want %v (%v)", got, ok, d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHealth(false) // getMe fails
	tg.setDown(false)
	waitHealth(true) // getMe retried and answered
	if env.Shop.Health(ctx).Components[HealthComponent].(map[string]any)["bot"] != "OpenMoneyBot" {
		t.Error("health does not name the bot")
	}
	tg.setDown(true)
	waitHealth(false) // getUpdates fails
	tg.setDown(false)
	waitHealth(true) // and recovers
}

func TestNewRejectsBadOptions(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	for _, o := range []Options{
		{Shop: env.Shop},
		{Token: "1:x"},
		{Token: "1:x", Shop: env.Shop, APIURL: "ftp://example.com"},
		{Token: "1:x", Shop: env.Shop, APIURL: "::"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestCatalogue(t *testing.T) {
	c := newCatalogue()
	verbs := regexp.MustCompile(`%[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)
	for key, id := range c[langID] {
		en, ok := c[langEN][key]
		if !ok {
			t.Errorf("id key %q missing in en", key)
			continue
		}
		if a, b := verbs.FindAllString(en, -1), verbs.FindAllString(id, -1); strings.Join(a, "") != strings.Join(b, "") {
			t.Errorf("%q: en verbs %v, id verbs %v", key, a, b)
		}
	}
	for key := range c[langEN] {
		if _, ok := c[langID][key]; !ok {
			t.Logf("no Indonesian for %q (English fallback)", key)
		}
	}
	// Fallbacks, escaping, extra shop arguments.
	if got := c.text(langID, "ledger_line", "+1 TON", "x", "y"); got != "+1 TON · x · y" {
		t.Errorf("fallback to English: %q", got)
	}
	if got := c.text(langEN, "what_stars", 5, "<b>"); got != "5 Stars for @&lt;b&gt;" {
		t.Errorf("escaping: %q", got)
	}
	if got := c.text(langEN, "username_format", "recipient_username"); strings.Contains(got, "EXTRA") {
		t.Errorf("extra args leak: %q", got)
	}
	if got := c.text(langEN, "no_such_key"); got != "no_such_key" {
		t.Errorf("missing key: %q", got)
	}
	for code, want := range map[string]string{"id": langID, "ID-id": langID, "en": langEN, "": langEN, "idx": langEN, "ru": langEN} {
		if got := langOf(code); got != want {
			t.Errorf("langOf(%q) = %q", code, got)
		}
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		text, cmd string
		args      int
		ok        bool
	}{
		{"/stars pandus 100", "stars", 2, true},
		{"/STARS@OpenMoneyBot  pandus  100 ", "stars", 2, true},
		{"/api@OtherBot", "", 0, false},
		{"hello", "", 0, false},
		{"", "", 0, false},
		{"/", "", 0, true},
	} {
		cmd, args, ok := parseCommand(tc.text, "OpenMoneyBot")
		if cmd != tc.cmd || len(args) != tc.args || ok != tc.ok {
			t.Errorf("parseCommand(%q) = %q %v %v", tc.text, cmd, args, ok)
		}
	}
}

func TestNotifyErrors(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	tg := newFakeTG(t)
	b, err := New(Options{Token: fakeToken, APIURL: tg.srv.URL, Shop: env.Shop})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := &domain.Partner{ID: 1, TelegramChatID: alice.ID, Language: "id"}
	it := &domain.OutboxItem{Type: "order.completed", Order: &domain.Order{ID: 7, Type: domain.KindStars, StarsAmount: 50, RecipientUsername: "pandus",
		PaymentCurrency: domain.CurrencyTON, PriceNano: 218_750_000}}

	tg.failNext("sendMessage", 429, 3, 1)
	err = b.Notify(ctx, p, it)
	ra, ok := err.(interface{ RetryAfter() time.Duration })
	if !ok || ra.RetryAfter() != 3*time.Second {
		t.Fatalf("429: got %v, want an error with RetryAfter() = 3s", err)
	}
	tg.failNext("sendMessage", 500, 0, 1)
	if err := b.Notify(ctx, p, it); err == nil {
		t.Fatal("500: want an error for the outbox's backoff")
	}
	tg.failNext("sendMessage", 403, 0, 1)
	if err := b.Notify(ctx, p, it); err != nil {
		t.Fatalf("403 (user blocked the bot): %v, want nil (dropped)", err)
	}
	if err := b.Notify(ctx, p, it); err != nil {
		t.Fatal(err)
	}
	if err := b.Notify(ctx, &domain.Partner{ID: 2}, it); err != nil { // no chat: nothing to do
		t.Fatal(err)
	}
	if n := tg.count(func(c call) bool {
		return c.ErrCode == 0 && c.Text == "🎉 Order #7 terkirim: 50 Stars untuk @pandus (dibayar 0.21875 TON)."
	}); n != 1 {
		t.Errorf("delivered notification sent %d times:\n%s", n, tg.dump())
	}
}

func TestPanicInHandlerIsRecovered(t *testing.T) {
	logs := &shoptest.LogBuffer{}
	tg := newFakeTG(t)
	env := shoptest.New(t, shoptest.Options{})
	b, err := New(Options{Token: fakeToken, APIURL: tg.srv.URL, Shop: env.Shop, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b.shop = nil // every shop call now panics
	upd := &models.Update{ID: 9, Message: &models.Message{ID: 1, Chat: models.Chat{ID: 5, Type: models.ChatTypePrivate},
		From: &models.User{ID: 5}, Text: "/balance"}}
	b.safeHandle(context.Background(), upd)
	if !strings.Contains(logs.String(), "panic while handling an update") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

// failingWebhook fails every webhook attempt.
type failingWebhook struct{}

func (failingWebhook) Notify(context.Context, *domain.Partner, *domain.OutboxItem) error {
	return errors.New("receiver answered 500")
}

// A webhook the shop disables after 3 days of failures is reported to the
// partner in the chat, in the partner's language.
func TestWebhookDisabledNotification(t *testing.T) {
	h := newHarness(t, shoptest.Options{Clock: true})
	tg, s := h.tg, h.env.Shop
	ctx := context.Background()
	m := tg.mark()
	tg.say(alice, "/start")
	tg.waitText(t, m, alice.ID, "The Open Money")
	p := h.partner(t, alice)
	if _, err := s.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new("https://hooks.example/h")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TestWebhook(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	m = tg.mark()
	for range 20 {
		if err := s.SendOutbox(ctx, domain.ChannelWebhook, failingWebhook{}); err != nil {
			t.Fatal(err)
		}
		h.env.Clock.Advance(6 * time.Hour)
	}
	c := tg.waitText(t, m, alice.ID, "Your webhook was <b>disabled</b>")
	if !strings.Contains(c.Text, "PUT /api/v1/webhook") || !strings.Contains(c.Text, "/redeliver") {
		t.Errorf("notice %q", c.Text)
	}
}

// TestPaymentMessageOpensTheCheckoutMiniApp: with an https http.public_url
// the payment message carries a "Pay" web_app button opening the order's
// checkout page in the user's language, and /orders one opening the Mini
// App's orders list.
func TestPaymentMessageOpensTheCheckoutMiniApp(t *testing.T) {
	cfg := config.Default()
	cfg.HTTP.PublicURL = "https://pay.example.com"
	h := newHarness(t, shoptest.Options{Config: cfg})
	tg, s := h.tg, h.env.Shop
	for _, u := range []tgUser{alice, budi} {
		m := tg.mark()
		tg.say(u, "/stars pandus 100")
		quote := tg.waitText(t, m, u.ID, "Stars")
		m = tg.mark()
		tg.press(u, quote, buttonData(t, quote, cbConfirm))
		pay := tg.waitText(t, m, u.ID, "ton://transfer/")
		page, err := s.ListOrders(context.Background(), h.partner(t, u).ID, shop.OrderFilter{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("orders of %s: %v %v", u.Name, page.Items, err)
		}
		var kb struct {
			InlineKeyboard [][]struct {
				Text   string
				WebApp *struct{ URL string } `json:"web_app"`
			} `json:"inline_keyboard"`
		}
		if err := json.Unmarshal([]byte(pay.Markup), &kb); err != nil || len(kb.InlineKeyboard) != 1 || len(kb.InlineKeyboard[0]) != 1 {
			t.Fatalf("payment message keyboard %q: %v", pay.Markup, err)
		}
		b := kb.InlineKeyboard[0][0]
		want := s.CheckoutURL(&page.Items[0]) + "?lang=" + u.Lang
		if b.WebApp == nil || b.WebApp.URL != want || !strings.HasPrefix(want, "https://pay.example.com/pay/") {
			t.Errorf("%s: Pay button %+v, want web_app %s", u.Name, b, want)
		}
		if label := map[string]string{"en": "Pay", "id": "Bayar"}[u.Lang]; !strings.Contains(b.Text, label) {
			t.Errorf("%s: button text %q", u.Name, b.Text)
		}
	}
	m := tg.mark()
	tg.say(alice, "/orders")
	list := tg.waitText(t, m, alice.ID, "Your recent orders")
	if !strings.Contains(list.Markup, `"web_app":{"url":"https://pay.example.com/app/orders?lang=en"}`) {
		t.Errorf("/orders keyboard %q", list.Markup)
	}
}
