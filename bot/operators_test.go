package bot

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

// Operators of these tests: Anna reads English, Budi Indonesian.
var (
	anna   = tgUser{ID: 2001, Name: "Anna", Lang: "en", Username: "anna_ops"}
	budiOp = tgUser{ID: 2002, Name: "Budi", Lang: "id", Username: "budi_ops"}
	carol  = tgUser{ID: 1004, Name: "Carol", Lang: "en", Username: "carol_shop"}
)

// opHarness is the bot over a shop whose operators are Anna and Budi, with
// the alert knobs; both operators have opened the bot.
type opHarness struct {
	*harness
	knobs *shoptest.Knobs
}

func newOpHarness(t *testing.T, mut func(*config.Config)) *opHarness {
	t.Helper()
	cfg := shoptest.AlertConfig(anna.ID, budiOp.ID)
	if mut != nil {
		mut(cfg)
	}
	opt := shoptest.Options{Config: cfg, Clock: true}
	knobs := shoptest.WithKnobs(&opt)
	h := newHarness(t, opt, func(env *shoptest.Env) { knobs.Provider.Shop = env.Shop })
	oh := &opHarness{harness: h, knobs: knobs}
	for _, u := range []tgUser{anna, budiOp} {
		m := h.tg.mark()
		h.tg.say(u, "/start")
		h.tg.waitText(t, m, u.ID, "/status") // operators' /start lists their commands
	}
	return oh
}

// passes runs alert passes over span of the shop's clock, one every 30 s.
func (h *opHarness) passes(t *testing.T, span time.Duration) {
	t.Helper()
	for d := time.Duration(0); d <= span; d += 30 * time.Second {
		if err := h.env.Shop.CheckAlerts(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.env.Clock.Advance(30 * time.Second)
	}
}

// sentTo lists the texts of successful sendMessage calls to chat since mark.
func (h *opHarness) sentTo(mark int, chat int64) []string {
	var out []string
	for i, c := range h.tg.all() {
		if i >= mark && c.Method == "sendMessage" && c.ErrCode == 0 && c.ChatID == chat {
			out = append(out, c.Text)
		}
	}
	return out
}

func countContaining(texts []string, sub string) int {
	n := 0
	for _, t := range texts {
		if strings.Contains(t, sub) {
			n++
		}
	}
	return n
}

// Each service-wide alert reaches each operator once, in their language,
// with what to do, however long it lasts; then one "resolved" message. A
// user who is not an operator gets nothing.
func TestOperatorAlertsOverTelegram(t *testing.T) {
	h := newOpHarness(t, nil)
	cat := newCatalogue()
	m0 := h.tg.mark()
	h.tg.say(carol, "/start")
	h.tg.waitText(t, m0, carol.ID, "The Open Money")
	for _, tc := range shoptest.AlertCases() {
		titleEN, titleID := cat[langEN]["al_t_"+tc.Kind], cat.text(langID, "al_t_"+tc.Kind)
		m := h.tg.mark()
		tc.Set(t, h.env, h.knobs)
		h.passes(t, 4*time.Minute)
		a, b := h.sentTo(m, anna.ID), h.sentTo(m, budiOp.ID)
		if len(a) != 1 || countContaining(a, titleEN) != 1 || !strings.Contains(a[0], "What to do:") {
			t.Fatalf("%s: Anna got %q, want one alert %q", tc.Kind, a, titleEN)
		}
		if len(b) != 1 || countContaining(b, titleID) != 1 || !strings.Contains(b[0], "Yang perlu dilakukan:") {
			t.Fatalf("%s: Budi got %q, want one alert %q in Indonesian", tc.Kind, b, titleID)
		}
		m = h.tg.mark()
		tc.Unset(t, h.env, h.knobs)
		h.passes(t, 5*time.Minute)
		a, b = h.sentTo(m, anna.ID), h.sentTo(m, budiOp.ID)
		if len(a) != 1 || !strings.Contains(a[0], "Resolved:") || !strings.Contains(a[0], titleEN) {
			t.Fatalf("%s: Anna got %q, want one recovery", tc.Kind, a)
		}
		if len(b) != 1 || !strings.Contains(b[0], "Selesai:") || !strings.Contains(b[0], titleID) {
			t.Fatalf("%s: Budi got %q, want one recovery", tc.Kind, b)
		}
	}
	if got := h.sentTo(m0, carol.ID); len(got) != 1 {
		t.Fatalf("a user who is not an operator got %q", got)
	}
}

// The operator commands answer only operators: anyone else gets the normal
// bot's help, and their /fragment is neither stored nor deleted.
func TestOperatorCommandsOnlyForOperators(t *testing.T) {
	h := newOpHarness(t, func(c *config.Config) { c.Fulfillment.Provider = "fragment" })
	for _, cmd := range []string{"/status", "/deposits", "/partner 1", "/fragment stel_ssid=carols; stel_token=x"} {
		m := h.tg.mark()
		h.tg.say(carol, cmd)
		got := h.tg.waitText(t, m, carol.ID, "I understand these commands")
		if strings.Contains(got.Text, "Operator") {
			t.Fatalf("%s: %q", cmd, got.Text)
		}
	}
	if c, _ := h.env.Shop.FragmentSession(); c != "" {
		t.Fatal("a non-operator's /fragment was stored")
	}
	if n := h.tg.count(func(c call) bool { return c.Method == "deleteMessage" }); n != 0 {
		t.Fatalf("%d messages deleted for a non-operator", n)
	}
	// A forged operator button from a non-operator does nothing.
	m := h.tg.mark()
	h.tg.press(carol, call{ChatID: carol.ID, MsgID: 1}, cbOpRevoke+"1:osk_AAAAAAAA")
	h.tg.wait(t, m, "the stale-button answer", func(c call) bool {
		return c.Method == "answerCallbackQuery" && strings.Contains(c.CbText, "expired")
	})

	// Operators: /status in their language.
	m = h.tg.mark()
	h.tg.say(anna, "/status")
	st := h.tg.waitText(t, m, anna.ID, "Status: ")
	for _, want := range []string{"Service wallet", "1000 TON", "Owed:", "Awaiting delivery", "Fragment session: the configured one", "No active alerts"} {
		if !strings.Contains(st.Text, want) {
			t.Errorf("/status lacks %q:\n%s", want, st.Text)
		}
	}
	m = h.tg.mark()
	h.tg.say(budiOp, "/status")
	st = h.tg.waitText(t, m, budiOp.ID, "Status: ")
	if !strings.Contains(st.Text, "Dompet layanan") || !strings.Contains(st.Text, "Utang:") {
		t.Fatalf("Indonesian /status: %s", st.Text)
	}
	// The operators' menu lists their commands, in their chat only.
	menus := h.tg.count(func(c call) bool { return c.Method == "setMyCommands" })
	if menus < 4 || !h.tg.sentAnywhere(`"chat_id":2001`) {
		t.Fatalf("operator menus not published (%d setMyCommands)", menus)
	}
}

// /deposits lists an unmatched deposit and a parked transfer with buttons;
// assigning takes the target as a reply, asks to confirm, and credits
// exactly once however often (and by however many operators) Assign is
// pressed. The deposit's alert clears once assigned.
func TestOperatorDepositsAssignExactlyOnce(t *testing.T) {
	h := newOpHarness(t, nil)
	s, tg := h.env.Shop, h.tg
	ctx := context.Background()
	m := tg.mark()
	tg.say(carol, "/start")
	tg.waitText(t, m, carol.ID, "The Open Money")
	p := h.partner(t, carol)
	if p.TelegramUsername != "carol_shop" {
		t.Fatalf("username %q", p.TelegramUsername)
	}
	const amount = 2_500_000_000
	if _, err := s.ApplyTransfer(ctx, ton.Transfer{Hash: shoptest.TxHash(), To: s.ServiceAddress(), AmountNano: amount,
		Comment: "STARS-typo99", From: "EQsenderAddress", Incoming: true}); err != nil {
		t.Fatal(err)
	}
	m = tg.mark()
	h.passes(t, 0)
	tg.waitText(t, m, anna.ID, "Unmatched deposit #1")
	tg.waitText(t, m, budiOp.ID, "Deposit tak cocok #1")

	m = tg.mark()
	tg.say(anna, "/deposits")
	item := tg.waitText(t, m, anna.ID, "STARS-typo99")
	if !strings.Contains(item.Text, "2.5 TON") {
		t.Fatalf("deposit message %q", item.Text)
	}
	m = tg.mark()
	tg.press(anna, item, buttonData(t, item, cbOpAskTarget+"u:1:p"))
	ask := tg.waitText(t, m, anna.ID, "reply with the <b>partner</b>")
	if !strings.Contains(ask.Markup, "force_reply") {
		t.Fatalf("the question does not ask for a reply: %s", ask.Markup)
	}
	m = tg.mark()
	tg.say(anna, "@nobody_here")
	tg.waitText(t, m, anna.ID, "No partner @nobody_here")
	m = tg.mark()
	tg.say(anna, "@Carol_Shop")
	confirm := tg.waitText(t, m, anna.ID, "Assign unmatched deposit #1")
	yes := buttonData(t, confirm, cbOpAssign)

	// Anna presses five times; Budi presses the same button at once.
	m = tg.mark()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 5 {
			tg.press(anna, confirm, yes)
		}
	}()
	go func() { defer wg.Done(); tg.press(budiOp, call{ChatID: budiOp.ID, MsgID: confirm.MsgID + 1000}, yes) }()
	wg.Wait()
	answers := func() int {
		n := 0
		for i, c := range tg.all() {
			if i >= m && c.Method == "answerCallbackQuery" {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(time.Minute); answers() < 6 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a seventh answer would show now
	if n := answers(); n != 6 {
		t.Fatalf("%d presses answered, want 6:\n%s", n, tg.dump())
	}
	assigned := tg.count(func(c call) bool { return c.Method == "editMessageText" && strings.Contains(c.Text, ": +2.5 TON") })
	already := tg.count(func(c call) bool {
		return c.Method == "editMessageText" && (strings.Contains(c.Text, "Already assigned") || strings.Contains(c.Text, "Sudah ditetapkan"))
	})
	if assigned != 1 || already != 5 {
		t.Fatalf("%d assigned, %d already: want 1 and 5:\n%s", assigned, already, tg.dump())
	}
	if bal, _ := s.Balance(ctx, p.ID); bal.Nano != amount {
		t.Fatalf("Carol's balance %d, want %d once", bal.Nano, amount)
	}
	audit, _ := s.AuditLog(ctx, 0, 10)
	if len(audit) != 1 || audit[0].Action != shop.AuditUnmatchedAssign || audit[0].PartnerID != p.ID ||
		!strings.Contains(audit[0].Actor, "telegram 200") || audit[0].Remote != "telegram" {
		t.Fatalf("audit %+v", audit)
	}
	// The alert clears.
	m = tg.mark()
	h.passes(t, 0)
	tg.waitText(t, m, anna.ID, "Resolved:")
	h.env.Check(t)

	// A parked transfer: retried by button, exactly once.
	poisonee, _ := h.env.Partner(t)
	if _, err := s.ApplyTransfer(ctx, ton.Transfer{Hash: shoptest.TxHash(), To: poisonee.TopupAddress, AmountNano: 1, Incoming: true}); err != nil {
		t.Fatal(err)
	}
	outs, err := s.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{{Hash: shoptest.TxHash(), To: poisonee.TopupAddress,
		AmountNano: 1<<63 - 1, Incoming: true}}, Cursor: "5"})
	if err != nil || outs[0].ParkedID == 0 {
		t.Fatalf("not parked: %+v %v", outs, err)
	}
	m = tg.mark()
	tg.say(budiOp, "/deposits")
	parked := tg.waitText(t, m, budiOp.ID, "Transfer tertahan #1")
	m = tg.mark()
	tg.press(budiOp, parked, buttonData(t, parked, cbOpRetryAsk))
	ask = tg.waitText(t, m, budiOp.ID, "Jalankan lagi")
	retry := buttonData(t, ask, cbOpRetry)
	m = tg.mark()
	tg.press(budiOp, ask, retry)
	tg.wait(t, m, "the refusal", func(c call) bool {
		return c.Method == "editMessageText" && strings.Contains(c.Text, "menolaknya lagi")
	})
	if pk, _ := s.ParkedTransfer(ctx, outs[0].ParkedID); !pk.Open() || pk.FailedAttempts != 1 {
		t.Fatalf("parked after a refused retry: %+v", pk)
	}
	// Assigned to another partner instead; then a retry press is told it is done.
	m = tg.mark()
	tg.press(budiOp, parked, buttonData(t, parked, cbOpAskTarget+"p:1:p"))
	tg.waitText(t, m, budiOp.ID, "balas dengan <b>mitra</b>")
	fresh, _ := h.env.Partner(t)
	m = tg.mark()
	tg.say(budiOp, fmt.Sprint(fresh.ID))
	confirm = tg.waitText(t, m, budiOp.ID, "Tetapkan transfer tertahan #1")
	m = tg.mark()
	tg.press(budiOp, confirm, buttonData(t, confirm, cbOpAssign))
	tg.wait(t, m, "the assignment", func(c call) bool { return c.Method == "editMessageText" && strings.Contains(c.Text, "ditetapkan: +") })
	m = tg.mark()
	tg.press(budiOp, ask, retry)
	tg.wait(t, m, "already resolved", func(c call) bool {
		return c.Method == "editMessageText" && strings.Contains(c.Text, "Sudah diselesaikan")
	})
	h.env.Check(t)
}

// /fragment replaces the Fragment session at runtime: the message holding
// it is deleted, the provider uses it at once (its check sees the new
// cookies), and neither the cookies nor the hash appear in anything the bot
// sends to Telegram or logs.
func TestOperatorFragmentNeverEchoed(t *testing.T) {
	h := newOpHarness(t, func(c *config.Config) {
		c.Fulfillment.Provider = "fragment"
		c.Fulfillment.Fragment.Cookies, c.Fulfillment.Fragment.Hash = "stel_ssid=expired", "00aa11bb"
	})
	s, tg := h.env.Shop, h.tg
	const ssid, token, tonToken, hash = "SSID-9f8e7d6c5b4a", "TOKEN-0a1b2c3d4e5f", "TONTOKEN-aabbccddeeff", "c0ffee00deadbeef42"
	h.knobs.Provider.SetDown(fmt.Errorf("fragment: session refused"))
	h.knobs.Provider.SetProbeOK(true)

	// Usage, in Indonesian for Budi.
	m := tg.mark()
	tg.say(budiOp, "/fragment")
	tg.waitText(t, m, budiOp.ID, "Kirim sesi fragment.com")

	m = tg.mark()
	msgID := tg.say(anna, "/fragment stel_ssid="+ssid+"; stel_dt=-240;\nstel_token="+token+"; stel_ton_token="+tonToken+"\nhash="+hash)
	reply := tg.waitText(t, m, anna.ID, "Fragment session replaced")
	for _, want := range []string{"stel_ssid, stel_dt, stel_token, stel_ton_token", "hash given", "Fragment accepts it", "was deleted"} {
		if !strings.Contains(reply.Text, want) {
			t.Errorf("reply lacks %q: %s", want, reply.Text)
		}
	}
	del := tg.waitMethod(t, m, anna.ID, "deleteMessage")
	if del.MsgID != msgID {
		t.Fatalf("deleted message %d, want the operator's %d", del.MsgID, msgID)
	}
	cookies, gotHash := s.FragmentSession()
	if !strings.Contains(cookies, "stel_token="+token) || gotHash != hash {
		t.Fatalf("session in use %q %q", cookies, gotHash)
	}
	if probed := h.knobs.Provider.Probed(); len(probed) != 1 || probed[0] != cookies {
		t.Fatalf("the provider's next request saw %q", probed)
	}
	if h.knobs.Provider.Available() != nil {
		t.Fatal("the provider is still down after a working session")
	}
	// /status shows where the session came from, not what it is.
	m = tg.mark()
	tg.say(anna, "/status")
	st := tg.waitText(t, m, anna.ID, "Fragment session: set by @anna_ops (telegram 2001)")
	if !strings.Contains(st.Text, "stel_ton_token") {
		t.Fatalf("/status: %s", st.Text)
	}
	// A malformed one: refused, deleted all the same, not quoted back.
	m = tg.mark()
	bad := tg.say(anna, "/fragment "+token+"-not-a-cookie")
	tg.waitText(t, m, anna.ID, "cannot read that session")
	if del := tg.waitMethod(t, m, anna.ID, "deleteMessage"); del.MsgID != bad {
		t.Fatalf("deleted %d, want %d", del.MsgID, bad)
	}
	// Clear: back to the configured session.
	m = tg.mark()
	tg.say(anna, "/fragment clear")
	tg.waitText(t, m, anna.ID, "Back to the configured Fragment session")
	if c, _ := s.FragmentSession(); c != "" {
		t.Fatal("still the operator's session")
	}

	// Pasted in a group by mistake: not taken, but deleted (when the bot may).
	m = tg.mark()
	grp := tg.sayIn(anna, -100777, "/fragment stel_ssid="+ssid)
	tg.waitText(t, m, -100777, "private chats only")
	if del := tg.waitMethod(t, m, -100777, "deleteMessage"); del.MsgID != grp {
		t.Fatalf("deleted %d in the group, want %d", del.MsgID, grp)
	}
	if c, _ := s.FragmentSession(); c != "" {
		t.Fatal("a session pasted in a group was taken")
	}

	for _, secret := range []string{ssid, token, tonToken, hash} {
		if tg.sentAnywhere(secret) {
			t.Errorf("%q went to Telegram", secret)
		}
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("%q is in the logs", secret)
		}
	}
	audit, _ := s.AuditLog(context.Background(), 0, 10)
	if len(audit) != 2 || audit[0].Action != shop.AuditFragmentSession || audit[1].Action != shop.AuditFragmentSessionClear {
		t.Fatalf("audit %+v", audit)
	}
}

// /partner shows a partner found by @username or id, and revokes its key
// after a confirmation, exactly once.
func TestOperatorPartnerRevoke(t *testing.T) {
	h := newOpHarness(t, nil)
	s, tg := h.env.Shop, h.tg
	m := tg.mark()
	tg.say(carol, "/api")
	key := keyRe.FindString(tg.waitText(t, m, carol.ID, "Keep it secret").Text)
	p := h.partner(t, carol)

	m = tg.mark()
	tg.say(budiOp, fmt.Sprintf("/partner %d", p.ID))
	tg.waitText(t, m, budiOp.ID, fmt.Sprintf("Mitra #%d", p.ID))
	m = tg.mark()
	tg.say(anna, "/partner nobody")
	tg.waitText(t, m, anna.ID, "No partner nobody")

	m = tg.mark()
	tg.say(anna, "/partner @carol_shop")
	info := tg.waitText(t, m, anna.ID, fmt.Sprintf("Partner #%d", p.ID))
	for _, want := range []string{"@carol_shop", key[:12] + "…", "Balance: <b>0 TON</b>", "Webhook: none"} {
		if !strings.Contains(info.Text, want) {
			t.Errorf("/partner lacks %q: %s", want, info.Text)
		}
	}
	if strings.Contains(info.Text, key) {
		t.Fatal("/partner shows the key")
	}
	m = tg.mark()
	tg.press(anna, info, buttonData(t, info, cbOpRevokeAsk))
	ask, _ := tg.wait(t, m, "the confirmation", func(c call) bool {
		return c.Method == "editMessageText" && strings.Contains(c.Text, "Revoke partner")
	})
	if !authenticates(t, s, key) {
		t.Fatal("revoked before the confirmation")
	}
	yes := buttonData(t, ask, cbOpRevoke)
	m = tg.mark()
	tg.press(anna, ask, yes)
	tg.wait(t, m, "revoked", func(c call) bool { return c.Method == "editMessageText" && strings.Contains(c.Text, "revoked") })
	if authenticates(t, s, key) {
		t.Fatal("the key still works")
	}
	m = tg.mark()
	tg.press(anna, ask, yes)
	tg.wait(t, m, "already", func(c call) bool {
		return c.Method == "editMessageText" && strings.Contains(c.Text, "already revoked or replaced")
	})
	audit, _ := s.AuditLog(context.Background(), 0, 10)
	if len(audit) != 1 || audit[0].Action != shop.AuditRevokeKey || audit[0].PartnerID != p.ID || audit[0].Actor != "@anna_ops (telegram 2001)" {
		t.Fatalf("audit %+v", audit)
	}
}

// Every alert kind renders in English and in Indonesian: the Indonesian
// body is an Indonesian sentence (not just the reported detail, an error
// text from outside that stays as it came) and carries none of the English
// one's words.
func TestAlertsRenderInBothLanguages(t *testing.T) {
	b := &Bot{texts: newCatalogue()}
	const detail = "DETAIL-FROM-OUTSIDE"
	withDetail := map[string]bool{shop.AlertProviderDown: true, shop.AlertListenerDown: true, shop.AlertHistoryGap: true,
		shop.AlertProofFailure: true, shop.AlertParked: true, shop.AlertWebhookDisabled: true}
	kinds := []string{shop.AlertWalletShort, shop.AlertWalletLow, shop.AlertProviderDown, shop.AlertListenerDown,
		shop.AlertListenerLag, shop.AlertHistoryGap, shop.AlertProofFailure, shop.AlertHeldFunds, shop.AlertHeldChain,
		shop.AlertRefundSpike, shop.AlertParked, shop.AlertUnmatched, shop.AlertWebhookDisabled}
	var notices []shop.AlertNotice
	for _, k := range kinds {
		f := shop.AlertFacts{BalanceNano: 5e9, NeedNano: 9e9, ShortfallNano: 4e9, OwedOrders: 2, OwedOrdersNano: 8e9,
			OwedBalancesNano: 1e9, OwedUSDT: 14_075_000, ThresholdNano: 6e9, Address: "UQaddr", Count: 3, WindowSeconds: 600, LagSeconds: 300,
			ID: 12, AmountNano: 1e9, Comment: "memo", Name: "Acme"}
		if withDetail[k] {
			f.Detail = detail
		}
		if k == shop.AlertListenerDown {
			f.Count = 0 // the listener's own error
		}
		notices = append(notices, shop.AlertNotice{Alert: shop.Alert{Kind: k, Facts: f}})
	}
	// The listener's other two shapes: not connected, and failing to record.
	notices = append(notices,
		shop.AlertNotice{Alert: shop.Alert{Kind: shop.AlertListenerDown}},
		shop.AlertNotice{Alert: shop.Alert{Kind: shop.AlertListenerDown, Facts: shop.AlertFacts{Count: 4, Detail: detail}}})
	// What is not a sentence: figures, the detail, markup, names, config keys.
	notWords := regexp.MustCompile(`[0-9.]+m?|` + detail + `|<[^>]*>|UQaddr|memo|Acme|TON|[a-z_]+(\.[a-z_]+)+`)
	for _, n := range notices {
		en, id := b.alertText(langEN, n), b.alertText(langID, n)
		if !strings.Contains(en, "What to do:") || !strings.Contains(id, "Yang perlu dilakukan:") {
			t.Errorf("%s: en %q, id %q", n.Kind, en, id)
		}
		if n.Facts.Detail != "" && (!strings.Contains(en, detail) || !strings.Contains(id, detail)) {
			t.Errorf("%s: the detail is missing: en %q, id %q", n.Kind, en, id)
		}
		enBody, idBody := strings.Split(en, "\n")[1], strings.Split(id, "\n")[1]
		if words := strings.Trim(notWords.ReplaceAllString(idBody, ""), " .,:;()#—-"); words == "" {
			t.Errorf("%s: the Indonesian body %q is only the reported detail", n.Kind, idBody)
		}
		for _, part := range notWords.Split(enBody, -1) {
			if part = strings.Trim(part, " .,:;()#—-"); len(part) >= 4 && strings.Contains(id, part) {
				t.Errorf("%s: English %q in the Indonesian alert %q", n.Kind, part, id)
			}
		}
	}
	// No alert text falls back to English.
	cat := newCatalogue()
	for key, en := range cat[langEN] {
		if strings.HasPrefix(key, "al_") {
			if id, ok := cat[langID][key]; !ok || id == en {
				t.Errorf("%s has no Indonesian text", key)
			}
		}
	}
}

// A USDT deposit with no matching memo says USDT everywhere an operator sees
// it: the alert, /deposits, the confirmation and the assignment, which
// credits the USDT balance.
func TestOperatorUSDTDepositSaysUSDT(t *testing.T) {
	h := newOpHarness(t, nil)
	s, tg := h.env.Shop, h.tg
	ctx := context.Background()
	m := tg.mark()
	tg.say(carol, "/start")
	tg.waitText(t, m, carol.ID, "The Open Money")
	p := h.partner(t, carol)
	service, err := ton.RawAddress(s.ServiceAddress())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyTransfer(ctx, shoptest.USDTTransfer(t, service, service, 3_000_000, "STARS-typo77", time.Now())); err != nil {
		t.Fatal(err)
	}
	m = tg.mark()
	h.passes(t, 0)
	if a := tg.waitText(t, m, anna.ID, "Unmatched deposit #1"); !strings.Contains(a.Text, "3 USDT from") {
		t.Fatalf("alert %q", a.Text)
	}
	m = tg.mark()
	tg.say(anna, "/deposits")
	item := tg.waitText(t, m, anna.ID, "STARS-typo77")
	if !strings.Contains(item.Text, "3 USDT from") {
		t.Fatalf("deposit message %q", item.Text)
	}
	m = tg.mark()
	tg.press(anna, item, buttonData(t, item, cbOpAskTarget+"u:1:p"))
	tg.waitText(t, m, anna.ID, "reply with the <b>partner</b>")
	m = tg.mark()
	tg.say(anna, "@carol_shop")
	confirm := tg.waitText(t, m, anna.ID, "Assign unmatched deposit #1")
	if !strings.Contains(confirm.Text, "<b>3 USDT</b>") {
		t.Fatalf("confirmation %q", confirm.Text)
	}
	m = tg.mark()
	tg.press(anna, confirm, buttonData(t, confirm, cbOpAssign))
	tg.wait(t, m, "the assignment", func(c call) bool { return c.Method == "editMessageText" && strings.Contains(c.Text, ": +3 USDT") })
	if bal, _ := s.Balance(ctx, p.ID); bal.USDT != 3_000_000 || bal.Nano != 0 {
		t.Fatalf("Carol's balances %+v, want 3 USDT", bal)
	}
	h.env.Check(t)
}
