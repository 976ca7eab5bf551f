package bot

import (
	"context"
	"strings"
	"testing"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// usdtOff is the default config with ton.jettons.usdt.master empty.
func usdtOff() *config.Config {
	cfg := config.Default()
	off := ""
	cfg.TON.Jettons.USDT.Master = &off
	return cfg
}

// A USDT order through the chat, end to end in the sandbox: the quote offers
// both currencies, the USDT button gives the USDT payment message (exact
// amount, jetton link and its QR, memo warning), a sandbox USDT transfer of
// that amount pays it, and the notifications say USDT.
func TestUSDTOrderInChatPaidAndDelivered(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg, s := h.tg, h.env.Shop
	ctx := context.Background()
	if !s.USDTEnabled() {
		t.Fatal("USDT is off in the embedded sandbox default")
	}

	m := tg.mark()
	tg.say(alice, "/stars pandus 100")
	quote := tg.waitText(t, m, alice.ID, "100 Stars for @pandus")
	// 100 stars = 1.575 USD at 1 USDT = 1 USD: 1.575 USDT, 0.4375 TON.
	for _, want := range []string{"<b>0.4375 TON</b> or <b>1.575 USDT</b> (1.575 USD)", "1 TON = 3.6 USD", "1 USDT = 1 USD", "fee 5%"} {
		if !strings.Contains(quote.Text, want) {
			t.Errorf("quote %q lacks %q", quote.Text, want)
		}
	}
	bs := buttons(t, quote)
	if len(bs) != 3 || bs[0].Text != "💎 Pay 0.4375 TON" || bs[1].Text != "💵 Pay 1.575 USDT" || bs[2].CallbackData != cbCancel {
		t.Fatalf("quote buttons %s", quote.Markup)
	}
	if bs[0].CallbackData != "o:s:100:pandus" || bs[1].CallbackData != "o:s:100:pandus:u" {
		t.Fatalf("callback data %q %q", bs[0].CallbackData, bs[1].CallbackData)
	}

	m = tg.mark()
	tg.press(alice, quote, bs[1].CallbackData)
	pay := tg.waitText(t, m, alice.ID, "ton://transfer/")
	photo := tg.waitMethod(t, m, alice.ID, "sendPhoto")

	p := h.partner(t, alice)
	page, err := s.ListOrders(ctx, p.ID, shop.OrderFilter{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("orders: %v %+v", err, page.Items)
	}
	o := page.Items[0]
	if o.PaymentCurrency != domain.CurrencyUSDT || o.PriceUSDT != 1_575_000 || o.PaymentAddress != s.ServiceAddress() {
		t.Fatalf("order %+v", o)
	}
	wantLink := "ton://transfer/" + s.ServiceAddress() + "?jetton=" + s.USDTMaster() + "&amount=1575000&text=" + o.PaymentMemo
	if o.PaymentLink() != wantLink {
		t.Fatalf("order link %q, want %q", o.PaymentLink(), wantLink)
	}
	for _, want := range []string{"Send exactly <b>1.575 USDT</b> (1.575 USD) in USD₮ on TON",
		"<code>" + s.ServiceAddress() + "</code>", "<code>" + o.PaymentMemo + "</code>",
		"<code>" + strings.ReplaceAll(wantLink, "&", "&amp;") + "</code>", "(15 min)",
		"Without the memo the payment cannot be matched", "jetton master <code>" + s.USDTMaster() + "</code>",
		"never credited"} {
		if !strings.Contains(pay.Text, want) {
			t.Errorf("payment message %q lacks %q", pay.Text, want)
		}
	}
	if strings.Contains(pay.Text, " TON</b>") {
		t.Errorf("USDT payment message asks for TON: %q", pay.Text)
	}
	checkQR(t, photo.Photo, wantLink)
	if photo.Text != "Scan to pay 1.575 USDT, memo "+o.PaymentMemo {
		t.Errorf("photo caption %q", photo.Text)
	}

	// The TON button of the same quote cannot make a second order.
	m = tg.mark()
	tg.press(alice, quote, bs[0].CallbackData)
	tg.wait(t, m, "the second tap answered", func(c call) bool { return c.Method == "answerCallbackQuery" })
	if page, _ = s.ListOrders(ctx, p.ID, shop.OrderFilter{}); len(page.Items) != 1 {
		t.Fatalf("the other currency's button made another order: %d orders", len(page.Items))
	}

	// A FAKE_USDT notification with the memo pays nothing; the real USDT
	// transfer of the amount shown pays the order.
	if _, err := s.SandboxTransfer(ctx, p.ID, shop.SandboxTransferRequest{Asset: shop.AssetFakeUSDT,
		ToAddress: s.ServiceAddress(), AmountUnits: 1_575_000, Comment: o.PaymentMemo}); err != nil {
		t.Fatal(err)
	}
	m = tg.mark()
	if _, err := s.SandboxTransfer(ctx, p.ID, shop.SandboxTransferRequest{Asset: "USDT",
		ToAddress: s.ServiceAddress(), AmountUnits: 1_575_000, Comment: o.PaymentMemo}); err != nil {
		t.Fatal(err)
	}
	paid := tg.waitText(t, m, alice.ID, "Payment received for order #")
	done := tg.waitText(t, m, alice.ID, "delivered: 100 Stars for @pandus")
	if !strings.Contains(paid.Text, "1.575 USDT") || !strings.Contains(done.Text, "(paid 1.575 USDT)") {
		t.Errorf("notifications do not say USDT: %q / %q", paid.Text, done.Text)
	}
	if n := tg.count(func(c call) bool { return strings.Contains(c.Text, "Payment received") }); n != 1 {
		t.Errorf("%d payment notifications, want 1 (the fake jetton must pay nothing)", n)
	}

	m = tg.mark()
	tg.say(alice, "/orders")
	list := tg.waitText(t, m, alice.ID, "Your recent orders")
	if !strings.Contains(list.Text, "100 Stars for @pandus · 1.575 USDT · delivered") {
		t.Errorf("/orders: %q", list.Text)
	}
	h.env.Check(t)
}

// A USDT top-up is announced in USDT; /balance shows both balances and the
// ledger row's currency; a refund of a USDT order is in USDT (Indonesian).
func TestUSDTBalanceTopupAndRefund(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg, s := h.tg, h.env.Shop
	ctx := context.Background()
	m := tg.mark()
	tg.say(budi, "/balance")
	tg.waitText(t, m, budi.ID, "Saldo: <b>0 TON</b> dan <b>0 USDT</b>")
	p := h.partner(t, budi)

	m = tg.mark()
	if _, err := s.SandboxTransfer(ctx, p.ID, shop.SandboxTransferRequest{Asset: "USDT",
		ToAddress: p.TopupAddress, AmountUnits: 2_500_001}); err != nil {
		t.Fatal(err)
	}
	tg.waitText(t, m, budi.ID, "Top-up diterima: +2.500001 USDT. Saldo: 2.500001 USDT.")
	m = tg.mark()
	tg.say(budi, "/balance")
	bal := tg.waitText(t, m, budi.ID, "Saldo: <b>0 TON</b> dan <b>2.500001 USDT</b>")
	if !strings.Contains(bal.Text, "+2.500001 USDT · top-up") || !strings.Contains(bal.Text, "USD₮ di TON") {
		t.Errorf("/balance %q", bal.Text)
	}

	// A USDT order whose delivery fails is refunded in USDT.
	m = tg.mark()
	tg.say(budi, "/stars pandus_fail 100")
	quote := tg.waitText(t, m, budi.ID, "atau <b>1.575 USDT</b>")
	if bs := buttons(t, quote); bs[1].Text != "💵 Bayar 1.575 USDT" {
		t.Errorf("Indonesian USDT button %q", bs[1].Text)
	}
	m = tg.mark()
	tg.press(budi, quote, buttonData(t, quote, cbConfirm)+cbUSDT)
	pay := tg.waitText(t, m, budi.ID, "Kirim tepat <b>1.575 USDT</b>")
	if !strings.Contains(pay.Text, "Hanya USD₮ di TON") {
		t.Errorf("Indonesian payment message %q", pay.Text)
	}
	m = tg.mark()
	if _, err := s.SandboxTransfer(ctx, p.ID, shop.SandboxTransferRequest{Asset: "USDT",
		ToAddress: s.ServiceAddress(), AmountUnits: 1_575_000, Comment: memoRe.FindString(pay.Text)}); err != nil {
		t.Fatal(err)
	}
	tg.waitText(t, m, budi.ID, "Pembayaran diterima untuk order #")
	tg.waitText(t, m, budi.ID, "tidak dapat dikirim. 1.575 USDT dikembalikan")
	h.env.Check(t)
}

// With USDT off there is no currency question: one Confirm button, a TON
// order, and /balance in TON only.
func TestUSDTOffAsksNoCurrency(t *testing.T) {
	h := newHarness(t, shoptest.Options{Config: usdtOff()})
	tg, s := h.tg, h.env.Shop
	if s.USDTEnabled() {
		t.Fatal("USDT on with an empty master")
	}
	m := tg.mark()
	tg.say(alice, "/stars pandus 100")
	quote := tg.waitText(t, m, alice.ID, "100 Stars for @pandus")
	if strings.Contains(quote.Text, "USDT") {
		t.Errorf("quote mentions USDT: %q", quote.Text)
	}
	bs := buttons(t, quote)
	if len(bs) != 2 || bs[0].Text != "✅ Confirm" || bs[0].CallbackData != "o:s:100:pandus" || bs[1].CallbackData != cbCancel {
		t.Fatalf("quote buttons %s", quote.Markup)
	}
	m = tg.mark()
	tg.press(alice, quote, bs[0].CallbackData)
	pay := tg.waitText(t, m, alice.ID, "Send exactly <b>0.4375 TON</b>")
	if !linkRe.MatchString(pay.Text) || strings.Contains(pay.Text, "jetton") {
		t.Errorf("payment %q", pay.Text)
	}
	// A stale USDT button (from before USDT was turned off) is refused by
	// the shop with its reason, and makes no order.
	m = tg.mark()
	tg.say(alice, "/stars pandus 50")
	quote = tg.waitText(t, m, alice.ID, "50 Stars for @pandus")
	m = tg.mark()
	tg.press(alice, quote, "o:s:50:pandus"+cbUSDT)
	tg.wait(t, m, "the USDT tap refused", func(c call) bool {
		return c.Method == "editMessageText" && c.MsgID == quote.MsgID && strings.Contains(c.Text, "USDT")
	})
	page, err := s.ListOrders(context.Background(), h.partner(t, alice).ID, shop.OrderFilter{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("orders: %v %d", err, len(page.Items))
	}
	m = tg.mark()
	tg.say(alice, "/balance")
	bal := tg.waitText(t, m, alice.ID, "Balance: <b>0 TON</b>")
	if strings.Contains(bal.Text, "USD") {
		t.Errorf("/balance mentions USDT with USDT off: %q", bal.Text)
	}
}
