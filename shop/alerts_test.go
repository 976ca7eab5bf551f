package shop_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

const (
	opAnna = int64(501)
	opBudi = int64(502)
	tonN   = shoptest.TON
)

// recSender records what the shop asks the bot to send.
type recSender struct {
	mu   sync.Mutex
	sent []sentAlerts
	fail map[int64]error
}

type sentAlerts struct {
	op      shop.Operator
	notices []shop.AlertNotice
}

func (r *recSender) SendAlerts(_ context.Context, to shop.Operator, ns []shop.AlertNotice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail[to.ID]; err != nil {
		return err
	}
	r.sent = append(r.sent, sentAlerts{op: to, notices: slices.Clone(ns)})
	return nil
}

func (r *recSender) setFail(op int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail == nil {
		r.fail = map[int64]error{}
	}
	r.fail[op] = err
}

// count counts the notices about key (raised or cleared) op got.
func (r *recSender) count(op int64, key string, cleared bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sent {
		for _, x := range s.notices {
			if s.op.ID == op && x.Key == key && x.Cleared == cleared {
				n++
			}
		}
	}
	return n
}

func (r *recSender) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.sent {
		for _, x := range s.notices {
			out = append(out, fmt.Sprintf("%d:%s:%v", s.op.ID, x.Key, x.Cleared))
		}
	}
	return out
}

func (r *recSender) messages(op int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sent {
		if s.op.ID == op {
			n++
		}
	}
	return n
}

func (r *recSender) reset() { r.mu.Lock(); r.sent = nil; r.mu.Unlock() }

type alertKnobs struct {
	env *shoptest.Env
	*shoptest.Knobs
	rec *recSender
}

func alertConfig() *config.Config { return shoptest.AlertConfig(opAnna, opBudi) }

func newAlertEnv(t *testing.T, cfg *config.Config, path string) *alertKnobs {
	t.Helper()
	env, knobs := shoptest.NewWithKnobs(t, shoptest.Options{Config: cfg, Clock: true, Path: path})
	k := &alertKnobs{env: env, Knobs: knobs, rec: &recSender{}}
	env.Shop.RegisterAlertSender(k.rec)
	return k
}

func (k *alertKnobs) check(t *testing.T) {
	t.Helper()
	if err := k.env.Shop.CheckAlerts(ctx); err != nil {
		t.Fatal(err)
	}
}

// passes runs alert passes over span, a pass every 30 s of the clock.
func (k *alertKnobs) passes(t *testing.T, span time.Duration) {
	t.Helper()
	for d := time.Duration(0); d <= span; d += 30 * time.Second {
		k.check(t)
		k.env.Clock.Advance(30 * time.Second)
	}
	k.check(t)
}

// Every service-wide condition raises one alert per operator however long
// it lasts, and one "recovered" once it has cleared; nothing else is sent.
func TestAlertEachKindOnceThenRecovered(t *testing.T) {
	cases := shoptest.AlertCases()
	if len(cases) != 14 {
		t.Fatalf("%d service-wide kinds", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Kind, func(t *testing.T) {
			k := newAlertEnv(t, alertConfig(), "")
			k.passes(t, 2*time.Minute) // healthy: nothing to say
			if got := k.rec.keys(); len(got) != 0 {
				t.Fatalf("healthy service alerted: %v", got)
			}
			tc.Set(t, k.env, k.Knobs)
			k.passes(t, 4*time.Minute)
			for _, op := range []int64{opAnna, opBudi} {
				if n := k.rec.count(op, tc.Kind, false); n != 1 {
					t.Fatalf("operator %d got %d alerts for %s, want 1; sent: %v", op, n, tc.Kind, k.rec.keys())
				}
			}
			if active, err := k.env.Shop.ActiveAlerts(ctx); err != nil || len(active) != 1 || active[0].Key != tc.Kind {
				t.Fatalf("active alerts %+v, %v", active, err)
			}
			if got := k.rec.keys(); len(got) != 2 {
				t.Fatalf("other alerts sent too: %v", got)
			}
			tc.Unset(t, k.env, k.Knobs)
			k.passes(t, 10*time.Minute)
			for _, op := range []int64{opAnna, opBudi} {
				if n := k.rec.count(op, tc.Kind, true); n != 1 {
					t.Fatalf("operator %d got %d recoveries for %s, want 1; sent: %v", op, n, tc.Kind, k.rec.keys())
				}
			}
			if got := k.rec.keys(); len(got) != 4 {
				t.Fatalf("sent %v, want one alert and one recovery each", got)
			}
			if active, _ := k.env.Shop.ActiveAlerts(ctx); len(active) != 0 {
				t.Fatalf("still active: %+v", active)
			}
			k.env.Check(t)
		})
	}
}

// A blip shorter than the kind's delay says nothing; a condition that goes
// and comes back within the clear delay is one alert, not two.
func TestAlertNoBlipsNoFlapping(t *testing.T) {
	k := newAlertEnv(t, alertConfig(), "")
	lag := shoptest.Healthy()
	lag.LagSeconds = 300
	k.Chain.Set(lag)
	k.passes(t, time.Minute) // less than the 2 min a lag must last
	k.Chain.Set(shoptest.Healthy())
	k.passes(t, 5*time.Minute)
	if got := k.rec.keys(); len(got) != 0 {
		t.Fatalf("a 1-minute lag alerted: %v", got)
	}
	k.Chain.Set(lag)
	k.passes(t, 3*time.Minute)
	for range 3 { // gone for 30 s at a time, back again: still the same alert
		k.Chain.Set(shoptest.Healthy())
		k.check(t)
		k.env.Clock.Advance(30 * time.Second)
		k.check(t)
		k.Chain.Set(lag)
		k.passes(t, time.Minute)
	}
	if n := k.rec.count(opAnna, shop.AlertListenerLag, false); n != 1 || k.rec.count(opAnna, shop.AlertListenerLag, true) != 0 {
		t.Fatalf("flapping lag: %v", k.rec.keys())
	}
}

// Per-item alerts: one per unmatched deposit (above the spam floor) and per
// parked transfer, cleared when an operator resolves it; a partner's
// webhook disabled by the shop, cleared when the partner re-enables it.
func TestAlertPerItem(t *testing.T) {
	k := newAlertEnv(t, alertConfig(), "")
	env := k.env
	svc := env.Shop.ServiceAddress()
	// Unmatched: one real, one dust (below telegram.alerts.unmatched_min_ton).
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: svc, AmountNano: 2 * tonN, Comment: "STARS-zzzzzz", Incoming: true, From: "EQsender"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: svc, AmountNano: 1000, Comment: "free money at scam.example", Incoming: true}); err != nil {
		t.Fatal(err)
	}
	// Parked.
	_, poison := poisoned(t, env, tonN)
	outs, err := env.Shop.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{poison}, Cursor: "9"})
	if err != nil || outs[0].Kind != domain.SeenParked {
		t.Fatalf("poison: %+v %v", outs, err)
	}
	// Webhook disabled after 3 days of failures.
	p, err := env.Shop.TelegramPartner(ctx, shop.TelegramUser{ID: 77, ChatID: 77, Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{URL: new("https://hooks.example/h")}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.TestWebhook(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	h := &failingHook{env: env}
	if err := env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(shop.WebhookDisableAfter + time.Minute)
	if err := env.Shop.SendOutbox(ctx, domain.ChannelWebhook, h); err != nil {
		t.Fatal(err)
	}
	if w, err := env.Shop.GetWebhook(ctx, p.ID); err != nil || w.DisabledAt == nil {
		t.Fatalf("webhook not disabled: %+v %v", w, err)
	}
	k.passes(t, time.Minute)
	us, _ := env.Shop.UnmatchedDeposits(ctx, 0, 10)
	unmatchedKey, parkedKey, hookKey := fmt.Sprintf("unmatched:%d", us[0].ID), fmt.Sprintf("parked:%d", outs[0].ParkedID),
		fmt.Sprintf("webhook_disabled:%d", p.ID)
	for _, key := range []string{unmatchedKey, parkedKey, hookKey} {
		for _, op := range []int64{opAnna, opBudi} {
			if n := k.rec.count(op, key, false); n != 1 {
				t.Fatalf("operator %d: %d alerts for %s; sent %v", op, n, key, k.rec.keys())
			}
		}
	}
	if got := len(k.rec.keys()); got != 6 {
		t.Fatalf("sent %v: the dust deposit must not alert", k.rec.keys())
	}
	if k.rec.messages(opAnna) != 1 {
		t.Fatalf("three alerts of one pass came as %d messages, want 1", k.rec.messages(opAnna))
	}
	// Resolve each: one recovery each.
	who := shop.Actor{Name: "anna"}
	if _, err := env.Shop.AssignUnmatched(ctx, us[0].ID, shop.AssignTarget{PartnerID: p.ID, By: who}); err != nil {
		t.Fatal(err)
	}
	fresh, _ := env.Partner(t)
	if _, err := env.Shop.AssignParked(ctx, outs[0].ParkedID, shop.AssignTarget{PartnerID: fresh.ID, By: who}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.SetWebhook(ctx, p.ID, shop.WebhookUpdate{}); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Minute)
	k.passes(t, time.Minute)
	for _, key := range []string{unmatchedKey, parkedKey, hookKey} {
		if n := k.rec.count(opBudi, key, true); n != 1 {
			t.Fatalf("%d recoveries for %s; sent %v", n, key, k.rec.keys())
		}
	}
	if got := len(k.rec.keys()); got != 12 {
		t.Fatalf("sent %v", k.rec.keys())
	}
	env.Check(t)
}

// The alert state is in the store: after a restart a condition that
// persists is not announced again, a notice not sent yet is sent, and the
// recovery still comes once.
func TestAlertsSurviveRestart(t *testing.T) {
	path := t.TempDir() + "/om.db"
	cfg := alertConfig()
	k := newAlertEnv(t, cfg, path)
	k.Provider.SetDown(fmt.Errorf("%w: fragment: session refused", fulfil.ErrUnavailable))
	k.rec.setFail(opBudi, errors.New("telegram: 502 Bad Gateway"))
	k.passes(t, time.Minute)
	if k.rec.count(opAnna, shop.AlertProviderDown, false) != 1 || k.rec.count(opBudi, shop.AlertProviderDown, false) != 0 {
		t.Fatalf("sent %v", k.rec.keys())
	}
	now := k.env.Clock.Now()
	k.env.Store.Close()

	// The same store, a new process.
	st, err := store.OpenBolt(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := shoptest.NewClock(now.Add(time.Minute))
	rec := &recSender{}
	s, err := shop.New(shop.Deps{Config: cfg, Store: st, Keys: k.env.Keys, Chain: k.Chain, Provider: k.Provider,
		Rates: pricing.NewFixed("3.6", now), Now: clock.Now, Wallet: k.Wallet})
	if err != nil {
		t.Fatal(err)
	}
	s.RegisterAlertSender(rec)
	for range 4 {
		if err := s.CheckAlerts(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
	}
	if rec.count(opAnna, shop.AlertProviderDown, false) != 0 || rec.count(opBudi, shop.AlertProviderDown, false) != 1 {
		t.Fatalf("after the restart: %v (anna had it already; budi's was still queued)", rec.keys())
	}
	k.Provider.SetDown(nil)
	for range 4 {
		if err := s.CheckAlerts(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
	}
	if rec.count(opAnna, shop.AlertProviderDown, true) != 1 || rec.count(opBudi, shop.AlertProviderDown, true) != 1 {
		t.Fatalf("recoveries: %v", rec.keys())
	}
}

// Per operator: a burst of messages, then one a minute, the notices waiting
// meanwhile together in one message; an alert that clears before its notice
// went out is never sent; an unreachable operator does not hold up others.
func TestAlertRateLimitDigestAndCollapse(t *testing.T) {
	k := newAlertEnv(t, alertConfig(), "")
	env := k.env
	svc := env.Shop.ServiceAddress()
	deposit := func() {
		if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: svc, AmountNano: tonN, Comment: "oops", Incoming: true}); err != nil {
			t.Fatal(err)
		}
		k.check(t)
	}
	k.rec.setFail(opBudi, fmt.Errorf("telegram: %w", shop.ErrOperatorUnreachable))
	for range 8 { // the clock stands still: the limit holds after the burst
		deposit()
	}
	if got := k.rec.messages(opAnna); got != 5 {
		t.Fatalf("%d messages in a burst, want 5", got)
	}
	env.Clock.Advance(time.Minute)
	k.check(t)
	if got := k.rec.messages(opAnna); got != 6 {
		t.Fatalf("%d messages after a minute, want 6", got)
	}
	k.rec.mu.Lock()
	last := k.rec.sent[len(k.rec.sent)-1]
	k.rec.mu.Unlock()
	if len(last.notices) != 3 {
		t.Fatalf("the digest carried %d notices, want the 3 that waited", len(last.notices))
	}
	if k.rec.messages(opBudi) != 0 {
		t.Fatal("the unreachable operator got messages")
	}
	// Collapse: raised and cleared while the limit holds — neither is sent.
	k.rec.reset()
	for range 5 {
		deposit()
	}
	us, _ := env.Shop.UnmatchedDeposits(ctx, 0, 100)
	lastID := us[len(us)-1].ID
	p, _ := env.Partner(t)
	if _, err := env.Shop.AssignUnmatched(ctx, lastID, shop.AssignTarget{PartnerID: p.ID}); err != nil {
		t.Fatal(err)
	}
	k.check(t)
	env.Clock.Advance(10 * time.Minute)
	k.passes(t, 5*time.Minute)
	key := fmt.Sprintf("unmatched:%d", lastID)
	if k.rec.count(opAnna, key, false)+k.rec.count(opAnna, key, true) != 0 {
		t.Fatalf("a deposit assigned before its alert went out was announced: %v", k.rec.keys())
	}
	if n := len(k.rec.keys()); n != 4 {
		t.Fatalf("sent %v, want the other 4 deposits", k.rec.keys())
	}
}

// The Fragment session an operator sets: parsed, sealed in the store (no
// cookie or hash in the clear), audited by cookie name, used at once,
// checked by the provider; a config changed later wins; clear goes back.
func TestFragmentSession(t *testing.T) {
	cfg := alertConfig()
	cfg.Fulfillment.Provider = "fragment"
	cfg.Fulfillment.Fragment.Cookies, cfg.Fulfillment.Fragment.Hash = "stel_ssid=old", "0123abcd"
	path := t.TempDir() + "/om.db"
	k := newAlertEnv(t, cfg, path)
	s := k.env.Shop
	const secretToken, secretHash = "tok3n-s3cr3t-VALUE", "deadbeefcafe1234"
	pasted := "Cookie: stel_ssid=ssid-s3cr3t; stel_dt=-180;\nstel_token=" + secretToken + "; stel_ton_token=tt-s3cr3t\nhash=" + secretHash
	k.Provider.SetProbeOK(true)
	res, err := s.SetFragmentSession(ctx, pasted, shop.Actor{Name: "@anna (telegram 501)", Remote: "telegram"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Checked || res.CheckErr != "" || res.Info.Source != "operator" || !res.Info.HashSet ||
		strings.Join(res.Info.CookieNames, ",") != "stel_ssid,stel_dt,stel_token,stel_ton_token" {
		t.Fatalf("result %+v", res)
	}
	cookies, hash := s.FragmentSession()
	if want := "stel_ssid=ssid-s3cr3t; stel_dt=-180; stel_token=" + secretToken + "; stel_ton_token=tt-s3cr3t"; cookies != want || hash != secretHash {
		t.Fatalf("session %q %q", cookies, hash)
	}
	if probed := k.Provider.Probed(); len(probed) != 1 || probed[0] != cookies {
		t.Fatalf("the provider's check saw %q", probed)
	}
	var raw []byte
	_ = k.env.Store.View(ctx, func(tx store.Tx) error { raw, _ = tx.GetMeta("fragment_session"); return nil })
	if len(raw) == 0 || strings.Contains(string(raw), secretToken) || strings.Contains(string(raw), secretHash) || strings.Contains(string(raw), "stel_") {
		t.Fatalf("stored session is not sealed: %q", raw)
	}
	audit, _ := s.AuditLog(ctx, 0, 10)
	if len(audit) != 1 || audit[0].Action != shop.AuditFragmentSession || audit[0].Actor != "@anna (telegram 501)" ||
		strings.Contains(audit[0].Detail, secretToken) || !strings.Contains(audit[0].Detail, "stel_token") {
		t.Fatalf("audit %+v", audit)
	}

	// Another process over the same store and config: loads it.
	again, err := shop.New(shop.Deps{Config: cfg, Store: k.env.Store, Keys: k.env.Keys, Provider: k.Provider,
		Rates: pricing.NewFixed("3.6", time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := again.FragmentSession(); c != "" {
		t.Fatal("a session before loading")
	}
	if err := again.LoadFragmentSession(ctx); err != nil {
		t.Fatal(err)
	}
	if c, h := again.FragmentSession(); c != cookies || h != secretHash {
		t.Fatalf("loaded %q %q", c, h)
	}
	// The config changed since (new FRAGMENT_COOKIES): the config wins.
	cfg2 := *cfg
	cfg2.Fulfillment.Fragment.Cookies = "stel_ssid=newer-from-config"
	edited, err := shop.New(shop.Deps{Config: &cfg2, Store: k.env.Store, Keys: k.env.Keys, Provider: k.Provider,
		Rates: pricing.NewFixed("3.6", time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if err := edited.LoadFragmentSession(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := edited.FragmentSession(); c != "" || edited.FragmentSessionInfo().Source != "config" {
		t.Fatalf("the older stored session won over a newer config: %q", c)
	}

	// Malformed input is refused without quoting it.
	for _, bad := range []string{"", "hash=abcdef12", "stel_ssid=a b<c>=d", "just some words"} {
		_, err := s.SetFragmentSession(ctx, bad, shop.Actor{})
		if shop.ErrorCode(err) != shop.CodeValidation {
			t.Fatalf("%q: %v", bad, err)
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Fatalf("error quotes the input: %v", err)
		}
	}
	if err := s.ClearFragmentSession(ctx, shop.Actor{Name: "anna"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.FragmentSession(); c != "" {
		t.Fatal("cleared session still in use")
	}
	if err := s.ClearFragmentSession(ctx, shop.Actor{}); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("second clear: %v", err)
	}

	// Not the Fragment provider: refused.
	plain := newAlertEnv(t, alertConfig(), "")
	if _, err := plain.env.Shop.SetFragmentSession(ctx, "stel_ssid=x", shop.Actor{}); shop.ErrorCode(err) != shop.CodeValidation {
		t.Fatalf("sandbox provider: %v", err)
	}
}

// Operators find partners by id, Telegram id or @username, and revoke a
// key exactly once (a stale prefix revokes nothing), audited.
func TestOperatorPartnerLookupAndRevoke(t *testing.T) {
	k := newAlertEnv(t, alertConfig(), "")
	s := k.env.Shop
	p, err := s.TelegramPartner(ctx, shop.TelegramUser{ID: 4242, ChatID: 4242, Name: "Acme Ltd", Username: "AcmeBot"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.IssueKey(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{fmt.Sprint(p.ID), "4242", "@acmebot", "AcmeBot"} {
		got, err := s.FindPartner(ctx, q)
		if err != nil || got.ID != p.ID || got.KeyStatus != shop.KeyActive || got.Key.Prefix != key.Info.Prefix || got.TelegramUsername != "AcmeBot" {
			t.Fatalf("%q: %+v %v", q, got, err)
		}
	}
	if _, err := s.FindPartner(ctx, "@nobody"); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s.OperatorRevokeKey(ctx, p.ID, "osk_stale123", shop.Actor{Name: "anna"}); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("stale prefix: %v", err)
	}
	if !authenticates(t, s, key.Key) {
		t.Fatal("a stale prefix revoked the live key")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	oks := 0
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.OperatorRevokeKey(ctx, p.ID, key.Info.Prefix, shop.Actor{Name: "anna"}); err == nil {
				mu.Lock()
				oks++
				mu.Unlock()
			} else if shop.ErrorCode(err) != shop.CodeNotFound {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if oks != 1 || authenticates(t, s, key.Key) {
		t.Fatalf("%d revocations succeeded; key still works: %v", oks, authenticates(t, s, key.Key))
	}
	audit, _ := s.AuditLog(ctx, 0, 10)
	if len(audit) != 1 || audit[0].Action != shop.AuditRevokeKey || audit[0].PartnerID != p.ID || audit[0].Actor != "anna" {
		t.Fatalf("audit %+v", audit)
	}

	// The partner is told once, on the Telegram channel only, stamped with
	// the revoke's time; a partner without a chat, and a partner revoking
	// their own key, queue nothing.
	viaAPI, _ := k.env.Partner(t) // made through the API: no chat
	if err := s.RevokePartnerKey(ctx, viaAPI.ID); err != nil {
		t.Fatal(err)
	}
	own, err := s.TelegramPartner(ctx, shop.TelegramUser{ID: 4343, ChatID: 4343, Name: "Own"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueKey(ctx, own.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, own.ID); err != nil {
		t.Fatal(err)
	}
	var items []domain.OutboxItem
	if err := k.env.Store.View(ctx, func(tx store.Tx) error {
		for _, ch := range []domain.Channel{domain.ChannelTelegram, domain.ChannelWebhook} {
			its, err := tx.PendingOutbox(ch, 0, 100)
			if err != nil {
				return err
			}
			items = append(items, its...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Type != shop.EventKeyRevoked || items[0].Channel != domain.ChannelTelegram || items[0].PartnerID != p.ID ||
		!items[0].CreatedAt.Equal(k.env.Clock.Now()) || items[0].Order != nil {
		t.Fatalf("outbox %+v", items)
	}
}

func authenticates(t *testing.T, s *shop.Shop, key string) bool {
	t.Helper()
	_, err := s.Authenticate(ctx, key)
	if err != nil && shop.ErrorCode(err) != shop.CodeUnauthorized {
		t.Fatal(err)
	}
	return err == nil
}
