package bot

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
	"github.com/theopenmoney/openmoney/view"
)

// topupUSDT credits units of USDT to p's balance: a jetton transfer into
// the top-up address's USDT jetton wallet, as the listener reports it.
func topupUSDT(t *testing.T, s *shop.Shop, p *domain.Partner, units int64) {
	t.Helper()
	raw, err := ton.RawAddress(p.TopupAddress)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyTransfer(context.Background(), shoptest.USDTTransfer(t, raw, raw, units, "", time.Time{})); err != nil {
		t.Fatal(err)
	}
}

// The operator's /partner and /status show USDT beside TON, in exact
// units, in both languages: a partner's USDT balance, and what is owed in
// USDT (the USDT orders awaiting delivery and the partners' USDT balances).
func TestOperatorViewsShowUSDT(t *testing.T) {
	h := newOpHarness(t, nil)
	s, tg, ctx := h.env.Shop, h.tg, context.Background()
	m := tg.mark()
	tg.say(carol, "/start")
	tg.waitText(t, m, carol.ID, "The Open Money")
	p := h.partner(t, carol)

	if _, err := s.ApplyTransfer(ctx, ton.Transfer{Hash: shoptest.TxHash(), To: p.TopupAddress, AmountNano: 1_500_000_000,
		Incoming: true}); err != nil {
		t.Fatal(err)
	}
	topupUSDT(t, s, p, 12_500_000)
	// Two paid orders stay owed (Fragment is slow): one paid in TON, one in USDT.
	h.knobs.Provider.SetStall(true)
	t.Cleanup(func() { h.knobs.Provider.SetStall(false) })
	ot := shoptest.PaidOrder(t, h.env, p, "pandus")
	ou := shoptest.PaidUSDTOrder(t, h.env, p, "pandus", 100)
	if ot.PriceNano != 437_500_000 || ou.PriceUSDT != 1_575_000 || ou.PriceNano != 437_500_000 {
		t.Fatalf("prices %d, %d units / %d nano", ot.PriceNano, ou.PriceUSDT, ou.PriceNano)
	}

	m = tg.mark()
	tg.say(anna, "/partner @carol_shop")
	info := tg.waitText(t, m, anna.ID, fmt.Sprintf("Partner #%d", p.ID))
	if !strings.Contains(info.Text, "Balance: <b>1.5 TON</b> and <b>12.5 USDT</b> · ledger rows: 2") {
		t.Errorf("/partner (English) %q", info.Text)
	}
	m = tg.mark()
	tg.say(budiOp, fmt.Sprintf("/partner %d", p.ID))
	info = tg.waitText(t, m, budiOp.ID, fmt.Sprintf("Mitra #%d", p.ID))
	if !strings.Contains(info.Text, "Saldo: <b>1.5 TON</b> dan <b>12.5 USDT</b>") {
		t.Errorf("/partner (Indonesian) %q", info.Text)
	}

	m = tg.mark()
	tg.say(anna, "/status")
	st := tg.waitText(t, m, anna.ID, "Owed:")
	for _, want := range []string{
		"Owed: <b>2.375 TON</b> = 0.875 TON for 2 paid orders awaiting delivery + 1.5 TON in partner balances",
		"Owed in USDT: <b>14.075 USDT</b> = 1.575 USDT for 1 of those orders, paid in USDT",
		"+ 12.5 USDT in partner balances",
	} {
		if !strings.Contains(st.Text, want) {
			t.Errorf("/status lacks %q:\n%s", want, st.Text)
		}
	}
	m = tg.mark()
	tg.say(budiOp, "/status")
	st = tg.waitText(t, m, budiOp.ID, "Utang:")
	for _, want := range []string{"Utang dalam USDT: <b>14.075 USDT</b> = 1.575 USDT untuk 1 dari order itu", "+ 12.5 USDT saldo mitra"} {
		if !strings.Contains(st.Text, want) {
			t.Errorf("/status (Indonesian) lacks %q:\n%s", want, st.Text)
		}
	}

	// The same figures in the admin API the operator reads.
	rep, err := s.HeldReport(ctx)
	if err != nil || rep.OwedUSDTOrders != 1 || rep.OwedOrdersUSDTUnits != 1_575_000 || rep.OwedBalancesUSDTUnits != 12_500_000 ||
		rep.OwedOrders != 2 || rep.OwedOrdersNano != 875_000_000 || rep.OwedBalancesNano != 1_500_000_000 {
		t.Fatalf("held report %+v %v", rep, err)
	}
	if !strings.Contains(rep.Summary, "in USDT: 1.575 USDT for the 1 of those orders paid in USDT, and 12.5 USDT in partner balances") {
		t.Errorf("summary %q", rep.Summary)
	}

	// The wallet_short alert (TON wallet against TON owed) names the USDT
	// owed besides, in each operator's language.
	h.knobs.Wallet.Set(1_000_000_000) // above the deliveries' cost (0.83 TON), below the 2.375 TON owed
	m = tg.mark()
	h.passes(t, 4*time.Minute)
	alert := tg.waitText(t, m, anna.ID, "Service wallet below what is owed")
	if !strings.Contains(alert.Text, "owed 2.375 TON") || !strings.Contains(alert.Text, "Owed in USDT besides, not compared with this wallet: 14.075 USDT") {
		t.Errorf("wallet_short alert %q", alert.Text)
	}
	tg.waitText(t, m, budiOp.ID, "Utang dalam USDT di luar itu, tidak dibandingkan dengan dompet ini: 14.075 USDT")

	// The partner sees the same balance in their own /balance.
	m = tg.mark()
	tg.say(carol, "/balance")
	tg.waitText(t, m, carol.ID, "Balance: <b>1.5 TON</b> and <b>12.5 USDT</b>")
}

// A partner whose USDT balance was credited while USDT was on still sees
// it (and the operator too) after USDT is turned off; a partner without
// one sees TON only, as before.
func TestUSDTBalanceShownAfterUSDTIsOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "openmoney.db")
	t.Run("on", func(t *testing.T) {
		h := newHarness(t, shoptest.Options{Path: path})
		for _, u := range []tgUser{alice, budi} {
			m := h.tg.mark()
			h.tg.say(u, "/balance")
			h.tg.waitMethod(t, m, u.ID, "sendPhoto")
		}
		m := h.tg.mark()
		if _, err := h.env.Shop.SandboxTransfer(context.Background(), h.partner(t, budi).ID, shop.SandboxTransferRequest{Asset: "USDT",
			ToAddress: h.partner(t, budi).TopupAddress, AmountUnits: 12_500_000}); err != nil {
			t.Fatal(err)
		}
		h.tg.waitText(t, m, budi.ID, "Top-up diterima: +12.5 USDT")
	})
	t.Run("off", func(t *testing.T) {
		cfg := usdtOff()
		cfg.Telegram.Operators = []int64{anna.ID}
		h := newHarness(t, shoptest.Options{Path: path, Config: cfg})
		m := h.tg.mark()
		h.tg.say(budi, "/balance")
		bal := h.tg.waitText(t, m, budi.ID, "Saldo: <b>0 TON</b> dan <b>12.5 USDT</b>")
		if !strings.Contains(bal.Text, "USDT sedang tidak diterima") || strings.Contains(bal.Text, "USD₮ di TON yang dikirim") {
			t.Errorf("/balance with USDT off %q", bal.Text)
		}
		m = h.tg.mark()
		h.tg.say(alice, "/balance")
		bal = h.tg.waitText(t, m, alice.ID, "Balance: <b>0 TON</b>")
		if strings.Contains(bal.Text, "USDT") {
			t.Errorf("/balance of a partner without USDT, USDT off: %q", bal.Text)
		}
		m = h.tg.mark()
		h.tg.say(anna, fmt.Sprintf("/partner %d", h.partner(t, budi).ID))
		h.tg.waitText(t, m, anna.ID, "Balance: <b>0 TON</b> and <b>12.5 USDT</b>")
		m = h.tg.mark()
		h.tg.say(anna, fmt.Sprintf("/partner %d", h.partner(t, alice).ID))
		if info := h.tg.waitText(t, m, anna.ID, "Balance: <b>0 TON</b> · ledger rows: 0"); strings.Contains(info.Text, "USDT") {
			t.Errorf("/partner without USDT, USDT off: %q", info.Text)
		}
		h.env.Check(t)
	})
}

// An operator's revoke, by the bot's button or by the admin route, tells
// the partner in their own chat (in their language: when, and what to
// do), and nobody else; the key is dead before the message, and a
// partner whose chat refuses the message keeps their key revoked.
func TestOperatorRevokeTellsThePartner(t *testing.T) {
	const adminToken = "adm_" + "0123456789abcdef0123456789abcdef"
	h := newOpHarness(t, func(c *config.Config) { c.Admin.Token = adminToken })
	s, tg := h.env.Shop, h.tg
	keys := map[int64]string{}
	for _, u := range []tgUser{carol, budi, alice} {
		m := tg.mark()
		tg.say(u, "/api")
		keys[u.ID] = keyRe.FindString(tg.waitText(t, m, u.ID, "osk_").Text)
	}
	when := fmtTime(h.env.Clock.Now())

	// By the bot: Anna's button revokes Carol's key.
	pc := h.partner(t, carol)
	m := tg.mark()
	tg.say(anna, "/partner @carol_shop")
	info := tg.waitText(t, m, anna.ID, fmt.Sprintf("Partner #%d", pc.ID))
	m = tg.mark()
	tg.press(anna, info, buttonData(t, info, cbOpRevokeAsk))
	ask, _ := tg.wait(t, m, "the confirmation", func(c call) bool {
		return c.Method == "editMessageText" && strings.Contains(c.Text, "they are told in their chat")
	})
	m = tg.mark()
	tg.press(anna, ask, buttonData(t, ask, cbOpRevoke))
	notice := tg.waitText(t, m, carol.ID, "Your API key was <b>revoked</b>")
	for _, want := range []string{"on " + when, "every request with it now gets 401", "Send /api for a new key", "contact the operator"} {
		if !strings.Contains(notice.Text, want) {
			t.Errorf("notice lacks %q: %s", want, notice.Text)
		}
	}
	if authenticates(t, s, keys[carol.ID]) {
		t.Fatal("the key still works")
	}

	// By the admin route: Budi's key, his notice in Indonesian.
	srv := httptest.NewServer(api.NewServer(s, h.env.Config, nil))
	t.Cleanup(srv.Close)
	pb := h.partner(t, budi)
	m = tg.mark()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/admin/partners/%d/revoke-key", srv.URL, pb.ID), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke-key: %d %s", resp.StatusCode, body)
	}
	notice = tg.waitText(t, m, budi.ID, "Kunci API Anda <b>dicabut</b>")
	if !strings.Contains(notice.Text, "pada "+when) || !strings.Contains(notice.Text, "Kirim /api untuk kunci baru") {
		t.Errorf("Indonesian notice %s", notice.Text)
	}
	if authenticates(t, s, keys[budi.ID]) {
		t.Fatal("Budi's key still works")
	}

	// Each notice went to its partner's chat only; Alice, whose key stays,
	// and the operators got none.
	notices := func(c call) bool {
		return c.Method == "sendMessage" && (strings.Contains(c.Text, "Your API key was <b>revoked</b>") || strings.Contains(c.Text, "Kunci API Anda <b>dicabut</b>"))
	}
	for _, c := range tg.all() {
		if notices(c) && c.ChatID != carol.ID && c.ChatID != budi.ID {
			t.Errorf("a revoke notice reached chat %d: %s", c.ChatID, c.Text)
		}
	}
	if n := tg.count(func(c call) bool { return notices(c) && c.ErrCode == 0 }); n != 2 {
		t.Errorf("%d revoke notices, want 2:\n%s", n, tg.dump())
	}
	if !authenticates(t, s, keys[alice.ID]) {
		t.Fatal("Alice's key was revoked too")
	}

	// A chat that refuses the notice: the revoke stands, the refusal is
	// logged, the notice is dropped (not retried for ever).
	pa := h.partner(t, alice)
	tg.failNextTo("sendMessage", alice.ID, 403, 0, 1)
	m = tg.mark()
	if err := s.RevokePartnerKey(context.Background(), pa.ID); err != nil {
		t.Fatalf("revoke with a refusing chat: %v", err)
	}
	tg.wait(t, m, "the refused notice", func(c call) bool { return c.Method == "sendMessage" && c.ChatID == alice.ID && c.ErrCode == 403 })
	if authenticates(t, s, keys[alice.ID]) {
		t.Fatal("Alice's key still works")
	}
	waitUntil(t, "the refusal logged", func() bool {
		return strings.Contains(h.logs.String(), "Telegram refused a notification; dropped") && strings.Contains(h.logs.String(), shop.EventKeyRevoked)
	})
	waitUntil(t, "the outbox empty", func() bool {
		st, err := s.OperatorStatus(context.Background())
		return err == nil && st.OutboxTelegram == 0
	})
	audit, _ := s.AuditLog(context.Background(), 0, 10)
	if len(audit) != 3 {
		t.Fatalf("audit %+v", audit)
	}
	h.env.Check(t)
}

// A refunded order's message says why, with the failure sentence and code
// the API gives as the order's failure_reason, in both languages.
func TestRefundMessageSaysWhy(t *testing.T) {
	h := newHarness(t, shoptest.Options{})
	tg, s := h.tg, h.env.Shop
	ctx := context.Background()
	want := fulfil.ErrSandboxFailure
	for _, tc := range []struct {
		u             tgUser
		refund, why   string
		currency      domain.Currency
		priceInTheMsg string
	}{
		{alice, "could not be delivered. 0.4375 TON was refunded", "Reason: ", domain.CurrencyTON, "0.4375 TON"},
		{budi, "tidak dapat dikirim. 0.4375 TON dikembalikan", "Alasan: ", domain.CurrencyTON, "0.4375 TON"},
		{budi, "tidak dapat dikirim. 1.575 USDT dikembalikan", "Alasan: ", domain.CurrencyUSDT, "1.575 USDT"},
	} {
		m := tg.mark()
		tg.say(tc.u, "/start")
		tg.waitText(t, m, tc.u.ID, "The Open Money")
		p := h.partner(t, tc.u)
		o, _, err := s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus_fail",
			Quantity: 100, PaymentCurrency: tc.currency})
		if err != nil {
			t.Fatal(err)
		}
		req := shop.SandboxTransferRequest{ToAddress: o.PaymentAddress, AmountNano: o.PriceNano, Comment: o.PaymentMemo}
		if tc.currency == domain.CurrencyUSDT {
			req = shop.SandboxTransferRequest{Asset: "USDT", ToAddress: o.PaymentAddress, AmountUnits: o.PriceUSDT, Comment: o.PaymentMemo}
		}
		m = tg.mark()
		if _, err := s.SandboxTransfer(ctx, p.ID, req); err != nil {
			t.Fatal(err)
		}
		msg := tg.waitText(t, m, tc.u.ID, tc.refund)
		got, err := s.Order(ctx, p.ID, o.ID)
		if err != nil || got.Status != domain.StatusRefunded {
			t.Fatalf("order %+v %v", got, err)
		}
		// The API's failure_reason is "<code>: <sentence>"; the message
		// carries both parts, escaped as HTML.
		apiReason := *view.OrderOf(got, "").FailureReason
		if apiReason != want.Reason() {
			t.Fatalf("failure_reason %q, want %q", apiReason, want.Reason())
		}
		line := tc.why + want.Message + " (<code>" + want.Code + "</code>)"
		if !strings.Contains(msg.Text, line) || !strings.Contains(msg.Text, tc.priceInTheMsg) {
			t.Errorf("refund message %q lacks %q", msg.Text, line)
		}
	}
	h.env.Check(t)
}

// The reason is the order's own text: a reason an operator typed is shown
// as text (escaped), and an order without a reason gets no reason line.
func TestRefundReasonIsEscapedText(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	b, err := New(Options{Token: fakeToken, Shop: env.Shop})
	if err != nil {
		t.Fatal(err)
	}
	o := &domain.Order{ID: 7, Type: domain.KindStars, StarsAmount: 100, RecipientUsername: "pandus", PriceNano: 437_500_000,
		PaymentCurrency: domain.CurrencyTON, Status: domain.StatusRefunded,
		FailureReason: fulfil.ErrOperatorFailed.Code + ": recipient said <b>no</b> & left"}
	it := &domain.OutboxItem{Type: shop.EventOrderRefunded, Order: o}
	for lang, want := range map[string]string{
		langEN: "\nReason: recipient said &lt;b&gt;no&lt;/b&gt; &amp; left (<code>operator_failed</code>)",
		langID: "\nAlasan: recipient said &lt;b&gt;no&lt;/b&gt; &amp; left (<code>operator_failed</code>)",
	} {
		if got := b.notification(lang, it); !strings.HasSuffix(got, want) {
			t.Errorf("%s: %q, want the suffix %q", lang, got, want)
		}
	}
	o.FailureReason = ""
	if got := b.notification(langEN, it); strings.Contains(got, "Reason") || !strings.HasSuffix(got, "(/balance).") {
		t.Errorf("no reason: %q", got)
	}
	o.FailureReason = "Delivery failed without a code."
	if got := b.notification(langEN, it); !strings.HasSuffix(got, "\nReason: Delivery failed without a code.") {
		t.Errorf("a reason without a code: %q", got)
	}
}

// waitUntil polls cond until it holds, failing the test after a generous
// deadline (no timing is asserted).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
