package fragment

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/ton"
)

func newTestProvider(t *testing.T, baseURL string, payer Payer, mut func(*Options)) *Provider {
	t.Helper()
	level := slog.LevelError + 1
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	opts := Options{
		BaseURL:         baseURL,
		Hash:            fakeHash,
		Cookies:         fakeCookies,
		Wallet:          payer,
		Log:             slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		PollInterval:    time.Millisecond,
		ConfirmTimeout:  3 * time.Second,
		ResendAfter:     time.Millisecond,
		MinLinkValidity: 30 * time.Second,
	}
	if mut != nil {
		mut(&opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// saver records every state saved, and checks nothing was sent before the
// first save.
type saver struct {
	mu     sync.Mutex
	states []string
	payer  *fakePayer
	t      *testing.T
	after  func() // called after a successful save
	err    error
}

func (s *saver) save(_ context.Context, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.payer != nil && len(s.states) == 0 && s.payer.sentCount() != 0 {
		s.t.Errorf("a message was sent before the state was saved")
	}
	s.states = append(s.states, state)
	if s.after != nil {
		s.after()
	}
	return nil
}

func (s *saver) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.states) == 0 {
		return ""
	}
	return s.states[len(s.states)-1]
}

func starsReq(user string, qty int64) fulfil.Request {
	return fulfil.Request{Ref: "order-7", OrderID: 7, Kind: fulfil.KindStars, Username: user, Stars: qty}
}

func premiumReq(user string, months int) fulfil.Request {
	return fulfil.Request{Ref: "order-8", OrderID: 8, Kind: fulfil.KindPremium, Username: user, Months: months}
}

// checkSentEqualsLink asserts the single sent message is Fragment's, bit for bit.
func checkSentEqualsLink(t *testing.T, f *fakeFragment, payer *fakePayer, reqID string) {
	t.Helper()
	payer.mu.Lock()
	defer payer.mu.Unlock()
	if len(payer.sent) != 1 {
		t.Fatalf("%d messages sent, want exactly 1", len(payer.sent))
	}
	f.mu.Lock()
	link := f.links[reqID]
	f.mu.Unlock()
	m := payer.sent[0]
	wantTo, _ := ton.RawAddress(link.Address)
	if m.To.StringRaw() != wantTo {
		t.Errorf("sent to %s, want %s", m.To.StringRaw(), wantTo)
	}
	if got := m.AmountNano; formatInt(got) != link.Amount {
		t.Errorf("sent %d nanotons, want %s", got, link.Amount)
	}
	want, err := decodePayload(link.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(m.Payload.Hash()) != hex.EncodeToString(want.Hash()) {
		t.Errorf("payload hash differs from Fragment's: %s", payloadComment(m.Payload))
	}
	if !strings.Contains(payloadComment(m.Payload), "Ref#"+reqID) {
		t.Errorf("payload comment %q lacks Ref#%s", payloadComment(m.Payload), reqID)
	}
}

func formatInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestDeliverStarsSendsFragmentsMessageOnce(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)
	sv := &saver{payer: payer, t: t}

	res, err := p.Deliver(context.Background(), starsReq("@Alice_User", 100), sv.save)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if res.ProviderRef != "req0001XyZ" || len(res.TxHash) != 64 {
		t.Fatalf("result %+v", res)
	}
	checkSentEqualsLink(t, f, payer, res.ProviderRef)

	want := []string{"searchStarsRecipient", "updateStarsBuyState", "initBuyStarsRequest", "getBuyStarsLink", "confirmReq"}
	if got := f.methods(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("calls %v, want %v", got, want)
	}
	search := f.lastCall("searchStarsRecipient")
	if search.Form["query"] != "Alice_User" || !strings.HasSuffix(search.Referer, "/stars/buy") {
		t.Errorf("search call %+v", search)
	}
	init := f.lastCall("initBuyStarsRequest")
	if init.Form["recipient"] != "rcpt_alice_user" || init.Form["quantity"] != "100" {
		t.Errorf("init call %+v", init.Form)
	}
	link := f.lastCall("getBuyStarsLink")
	if link.Form["id"] != "req0001XyZ" || link.Form["transaction"] != "1" || link.Form["show_sender"] != "0" {
		t.Errorf("link call %+v", link.Form)
	}
	var acc Account
	if err := json.Unmarshal([]byte(link.Form["account"]), &acc); err != nil || acc != testAccount {
		t.Errorf("account %q", link.Form["account"])
	}

	// The state was saved once, before sending, with everything needed to resume.
	if len(sv.states) != 1 {
		t.Fatalf("%d saves, want 1", len(sv.states))
	}
	var st deliveryState
	if err := json.Unmarshal([]byte(sv.states[0]), &st); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	fl := f.links[st.ReqID]
	f.mu.Unlock()
	if st.ReqID != "req0001XyZ" || st.Message.Address != fl.Address || st.Message.Amount != fl.Amount ||
		st.Message.Payload != fl.Payload || st.Message.ValidUntil == 0 || st.Sent == nil || st.Sent.ExtHash == "" {
		t.Fatalf("saved state %+v", st)
	}
	confirm := f.lastCall("confirmReq")
	if confirm.Form["id"] != "req0001XyZ" || confirm.Form["boc"] != st.Sent.BOC {
		t.Errorf("confirm call %+v", confirm.Form)
	}
}

func TestDeliverPremiumSendsFragmentsMessageOnce(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)
	sv := &saver{payer: payer, t: t}

	res, err := p.Deliver(context.Background(), premiumReq("bob_premium", 6), sv.save)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	checkSentEqualsLink(t, f, payer, res.ProviderRef)
	want := []string{"searchPremiumGiftRecipient", "updatePremiumState", "initGiftPremiumRequest", "getGiftPremiumLink", "confirmReq"}
	if got := f.methods(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("calls %v, want %v", got, want)
	}
	if c := f.lastCall("initGiftPremiumRequest"); c.Form["months"] != "6" || !strings.HasSuffix(c.Referer, "/premium/gift") {
		t.Errorf("init call %+v", c)
	}
	if c := f.lastCall("searchPremiumGiftRecipient"); c.Form["months"] != "6" {
		t.Errorf("search call %+v", c.Form)
	}
	if payer.sent[0].AmountNano != 4_200_000_000 {
		t.Errorf("amount %d", payer.sent[0].AmountNano)
	}
}

func TestCrashAfterSendResumesWithoutSecondPayment(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)

	// The process "dies" right after the state is saved and the message sent.
	ctx, cancel := context.WithCancel(context.Background())
	sv := &saver{payer: payer, t: t, after: cancel}
	_, err := p.Deliver(ctx, starsReq("alice_user", 500), sv.save)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) || errors.Is(err, fulfil.ErrUnavailable) {
		t.Fatalf("interrupted Deliver: err = %v, want a transient error", err)
	}
	if payer.sentCount() != 1 {
		t.Fatalf("sent %d", payer.sentCount())
	}

	// Restart: a new provider, the saved state.
	p2 := newTestProvider(t, srv.URL, payer, nil)
	r := starsReq("alice_user", 500)
	r.State = sv.last()
	res, err := p2.Deliver(context.Background(), r, func(context.Context, string) error {
		t.Error("resume must not save a new payment")
		return nil
	})
	if err != nil {
		t.Fatalf("resumed Deliver: %v", err)
	}
	if res.ProviderRef != "req0001XyZ" || res.TxHash == "" {
		t.Fatalf("result %+v", res)
	}
	if payer.sentCount() != 1 || f.count("initBuyStarsRequest") != 1 {
		t.Fatalf("sent %d messages and %d Fragment requests, want 1 and 1", payer.sentCount(), f.count("initBuyStarsRequest"))
	}
}

func TestResumeOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		final     Status
		pending   int
		lookErr   int
		timeout   time.Duration
		permanent bool
		ok        bool
	}{
		{name: "confirmed later", final: StatusConfirmed, pending: 3, lookErr: 2, ok: true},
		{name: "still pending past the wait: transient, retried", final: StatusConfirmed, pending: 1 << 30, timeout: 20 * time.Millisecond},
		{name: "never executed: refund", final: StatusExpired, permanent: true},
		{name: "bounced: refund", final: StatusBounced, permanent: true},
		{name: "executed without transfer: refund", final: StatusFailed, permanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFakeFragment(t)
			payer := newFakePayer()
			payer.pending = 1 << 30 // first call never settles
			p := newTestProvider(t, srv.URL, payer, func(o *Options) { o.ConfirmTimeout = 20 * time.Millisecond })
			sv := &saver{payer: payer, t: t}
			if _, err := p.Deliver(context.Background(), starsReq("alice_user", 50), sv.save); err == nil || errors.Is(err, fulfil.ErrPermanent) {
				t.Fatalf("first Deliver: %v", err)
			}
			payer.mu.Lock()
			payer.pending, payer.final, payer.lookErr = tc.pending, tc.final, tc.lookErr
			payer.mu.Unlock()
			timeout := 3 * time.Second
			if tc.timeout > 0 {
				timeout = tc.timeout
			}
			p2 := newTestProvider(t, srv.URL, payer, func(o *Options) { o.ConfirmTimeout = timeout })
			r := starsReq("alice_user", 50)
			r.State = sv.last()
			res, err := p2.Deliver(context.Background(), r, sv.save)
			switch {
			case tc.ok && (err != nil || res.TxHash == ""):
				t.Fatalf("want success, got %+v, %v", res, err)
			case tc.permanent && !errors.Is(err, fulfil.ErrPermanent):
				t.Fatalf("want ErrPermanent, got %v", err)
			case tc.permanent && fulfil.FailureOf(err).Code == fulfil.ErrDeliveryFailed.Code:
				t.Fatalf("a resumed payment's failure names no code: %v", err)
			case !tc.ok && !tc.permanent && (err == nil || errors.Is(err, fulfil.ErrPermanent) || errors.Is(err, fulfil.ErrUnavailable)):
				t.Fatalf("want a transient error, got %v", err)
			}
			if payer.sentCount() != 1 || len(sv.states) != 1 {
				t.Fatalf("sent %d, saved %d: want exactly one payment", payer.sentCount(), len(sv.states))
			}
		})
	}
}

func TestLostBroadcastIsRebroadcastNotRepaid(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	payer.sendErr, payer.lost = errors.New("liteserver: connection reset"), true
	p := newTestProvider(t, srv.URL, payer, nil)
	sv := &saver{payer: payer, t: t}
	res, err := p.Deliver(context.Background(), starsReq("alice_user", 250), sv.save)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if payer.resends == 0 {
		t.Fatal("the saved message was never rebroadcast")
	}
	if len(payer.records) != 1 || payer.sentCount() != 1 {
		t.Fatalf("%d signed messages, %d on chain: want 1 and 1", len(payer.records), payer.sentCount())
	}
	if res.ProviderRef == "" || f.count("confirmReq") != 0 {
		t.Fatalf("result %+v, confirm calls %d", res, f.count("confirmReq"))
	}
}

func TestSaveFailureSendsNothing(t *testing.T) {
	_, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)
	sv := &saver{err: errors.New("disk full")}
	_, err := p.Deliver(context.Background(), starsReq("alice_user", 50), sv.save)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("err = %v, want transient", err)
	}
	if payer.sentCount() != 0 {
		t.Fatal("sent without a saved state")
	}
}

func TestFailureModesRefundWithoutPaying(t *testing.T) {
	tests := []struct {
		name  string
		req   fulfil.Request
		setup func(f *fakeFragment, p *fakePayer, o *Options)
		paid  int    // messages that reached the chain
		code  string // the failure_reason code partners see
	}{
		{name: "unknown recipient at search", req: starsReq("nobody_here", 100), code: "recipient_not_found"},
		{name: "channel is not a user", req: starsReq("some_channel", 100), code: "recipient_not_found"},
		{name: "unknown recipient at init", req: starsReq("alice_user", 100),
			setup: func(f *fakeFragment, _ *fakePayer, _ *Options) { f.initError = "No Telegram users found." }, code: "recipient_not_found"},
		{name: "price changed at init", req: starsReq("alice_user", 100),
			setup: func(f *fakeFragment, _ *fakePayer, _ *Options) { f.initError = "Price was changed, please try again." }, code: "provider_rejected"},
		{name: "premium already subscribed", req: premiumReq("carol_sub", 3), code: "recipient_not_found"},
		{name: "link error", req: starsReq("alice_user", 100),
			setup: func(f *fakeFragment, _ *fakePayer, _ *Options) { f.linkError = "Request expired" }, code: "provider_rejected"},
		{name: "price above the cap", req: premiumReq("bob_premium", 12),
			setup: func(_ *fakeFragment, _ *fakePayer, o *Options) { o.MaxAmountNano = 5_000_000_000 }, code: "price_above_cap"},
		{name: "every link already expired", req: starsReq("alice_user", 100),
			setup: func(f *fakeFragment, _ *fakePayer, _ *Options) { f.expiredLinks = 100 }, code: "expired_link"},
		{name: "bounced payment", req: starsReq("alice_user", 100), paid: 1,
			setup: func(_ *fakeFragment, p *fakePayer, _ *Options) { p.final = StatusBounced }, code: "payment_bounced"},
		{name: "payment never executed", req: starsReq("alice_user", 100), paid: 1,
			setup: func(_ *fakeFragment, p *fakePayer, _ *Options) { p.final = StatusExpired }, code: "payment_failed"},
		{name: "bad quantity", req: starsReq("alice_user", 10), code: "invalid_request"},
		{name: "bad months", req: premiumReq("bob_premium", 5), code: "invalid_request"},
		{name: "bad kind", req: fulfil.Request{Kind: "ton", Username: "alice_user"}, code: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeFragment(t)
			payer := newFakePayer()
			var mut func(*Options)
			if tc.setup != nil {
				mut = func(o *Options) { tc.setup(f, payer, o) }
			}
			p := newTestProvider(t, srv.URL, payer, mut)
			sv := &saver{payer: payer, t: t}
			_, err := p.Deliver(context.Background(), tc.req, sv.save)
			if !errors.Is(err, fulfil.ErrPermanent) {
				t.Fatalf("err = %v, want ErrPermanent", err)
			}
			if got := fulfil.FailureOf(err); got.Code != tc.code || strings.ContainsAny(got.Reason(), "\n\r") {
				t.Fatalf("failure %q (%v), want code %s", got.Reason(), err, tc.code)
			}
			if payer.sentCount() != tc.paid {
				t.Fatalf("%d messages sent, want %d", payer.sentCount(), tc.paid)
			}
			if p.Available() != nil {
				t.Fatalf("a failed order must not make the provider unavailable: %v", p.Available())
			}
		})
	}
}

func TestExpiredLinkIsRerequestedNeverPaid(t *testing.T) {
	f, srv := newFakeFragment(t)
	f.expiredLinks = 1
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)
	sv := &saver{payer: payer, t: t}
	res, err := p.Deliver(context.Background(), starsReq("alice_user", 100), sv.save)
	if err != nil {
		t.Fatal(err)
	}
	if f.count("initBuyStarsRequest") != 2 || res.ProviderRef != "req0002XyZ" {
		t.Fatalf("inits %d, result %+v: want the second request paid", f.count("initBuyStarsRequest"), res)
	}
	checkSentEqualsLink(t, f, payer, "req0002XyZ")
}

func TestSessionExpiredMakesProviderUnavailableUntilRecovery(t *testing.T) {
	for _, mode := range []string{"error", "401", "html", "noreq"} {
		t.Run(mode, func(t *testing.T) {
			f, srv := newFakeFragment(t)
			payer := newFakePayer()
			p := newTestProvider(t, srv.URL, payer, nil)
			if err := p.Available(); err != nil {
				t.Fatalf("fresh provider unavailable: %v", err)
			}
			f.set(func(f *fakeFragment) { f.sessionMode = mode })
			_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), (&saver{}).save)
			if !errors.Is(err, fulfil.ErrUnavailable) || errors.Is(err, fulfil.ErrPermanent) {
				t.Fatalf("Deliver err = %v, want ErrUnavailable", err)
			}
			if err := p.Available(); !errors.Is(err, fulfil.ErrUnavailable) {
				t.Fatalf("Available() = %v, want ErrUnavailable", err)
			}
			if mode != "noreq" {
				if _, err := p.CheckRecipient(context.Background(), fulfil.KindStars, "bob_premium"); !errors.Is(err, fulfil.ErrUnavailable) {
					t.Fatalf("CheckRecipient err = %v, want ErrUnavailable", err)
				}
				if err := p.Probe(context.Background()); err == nil {
					t.Fatal("Probe succeeded with a dead session")
				}
			}
			if payer.sentCount() != 0 {
				t.Fatal("paid with a dead session")
			}

			f.set(func(f *fakeFragment) { f.sessionMode = ""; f.users["durov"] = true })
			if err := p.Probe(context.Background()); err != nil {
				t.Fatalf("Probe after recovery: %v", err)
			}
			if err := p.Available(); err != nil {
				t.Fatalf("Available() after recovery = %v", err)
			}
			// The waiting order is retried and delivered.
			if _, err := p.Deliver(context.Background(), starsReq("alice_user", 100), (&saver{}).save); err != nil {
				t.Fatalf("retry after recovery: %v", err)
			}
			if payer.sentCount() != 1 {
				t.Fatalf("sent %d", payer.sentCount())
			}
		})
	}
}

func TestSuccessfulCallClearsUnavailable(t *testing.T) {
	f, srv := newFakeFragment(t)
	p := newTestProvider(t, srv.URL, newFakePayer(), nil)
	f.set(func(f *fakeFragment) { f.sessionMode = "error" })
	if _, err := p.CheckRecipient(context.Background(), fulfil.KindStars, "alice_user"); !errors.Is(err, fulfil.ErrUnavailable) {
		t.Fatal(err)
	}
	f.set(func(f *fakeFragment) { f.sessionMode = "" })
	if rec, err := p.CheckRecipient(context.Background(), fulfil.KindStars, "alice_user"); err != nil || !rec.CanReceive {
		t.Fatalf("%+v, %v", rec, err)
	}
	if err := p.Available(); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimitIsTransient(t *testing.T) {
	f, srv := newFakeFragment(t)
	f.rateLimited = 1
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)
	_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), (&saver{}).save)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) || errors.Is(err, fulfil.ErrUnavailable) {
		t.Fatalf("err = %v, want transient", err)
	}
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() != 7*time.Second {
		t.Fatalf("err %v carries no Retry-After of 7s", err)
	}
	if p.Available() != nil {
		t.Fatal("429 must not mark the provider unavailable")
	}
	if _, err := p.Deliver(context.Background(), starsReq("alice_user", 100), (&saver{}).save); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if payer.sentCount() != 1 {
		t.Fatalf("sent %d", payer.sentCount())
	}
}

func TestStaleHashIsRefreshedFromThePage(t *testing.T) {
	for name, hash := range map[string]string{"stale hash": "deadbeefdeadbeef00", "no hash configured": ""} {
		t.Run(name, func(t *testing.T) {
			f, srv := newFakeFragment(t)
			p := newTestProvider(t, srv.URL, newFakePayer(), func(o *Options) { o.Hash = hash })
			rec, err := p.CheckRecipient(context.Background(), fulfil.KindStars, "alice_user")
			if err != nil || !rec.CanReceive {
				t.Fatalf("%+v, %v", rec, err)
			}
			f.set(func(f *fakeFragment) { f.hash = "feedfacefeedface00" }) // Fragment rotates it
			rec, err = p.CheckRecipient(context.Background(), fulfil.KindPremium, "alice_user")
			if err != nil || !rec.CanReceive {
				t.Fatalf("after rotation: %+v, %v", rec, err)
			}
			if p.Available() != nil {
				t.Fatal(p.Available())
			}
		})
	}
}

func TestCheckRecipient(t *testing.T) {
	f, srv := newFakeFragment(t)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := newTestProvider(t, srv.URL, newFakePayer(), func(o *Options) { o.Now = clock; o.RecipientCacheTTL = time.Minute })
	ctx := context.Background()

	tests := []struct {
		kind, user string
		can        bool
		reason     string
	}{
		{fulfil.KindStars, "alice_user", true, ""},
		{fulfil.KindStars, "@Alice_User", true, ""},
		{fulfil.KindStars, "nobody_here", false, "No Telegram users found."},
		{fulfil.KindPremium, "bob_premium", true, ""},
		{fulfil.KindPremium, "some_channel", false, "Please enter a username assigned to a user."},
	}
	for _, tc := range tests {
		rec, err := p.CheckRecipient(ctx, tc.kind, tc.user)
		if err != nil || rec.CanReceive != tc.can || rec.Reason != tc.reason {
			t.Errorf("%s %s: %+v, %v", tc.kind, tc.user, rec, err)
		}
	}
	if c := f.lastCall("searchPremiumGiftRecipient"); c.Form["months"] != "3" || c.Form["query"] != "some_channel" {
		t.Errorf("premium search %+v", c.Form)
	}
	if c := f.lastCall("searchStarsRecipient"); c.Form["quantity"] != "" {
		t.Errorf("stars search %+v", c.Form)
	}

	searches := f.count("searchStarsRecipient")
	if _, err := p.CheckRecipient(ctx, fulfil.KindStars, "nobody_here"); err != nil {
		t.Fatal(err)
	}
	if f.count("searchStarsRecipient") != searches {
		t.Fatal("cached answer not reused")
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	f.set(func(f *fakeFragment) { f.users["nobody_here"] = true })
	rec, err := p.CheckRecipient(ctx, fulfil.KindStars, "nobody_here")
	if err != nil || !rec.CanReceive || f.count("searchStarsRecipient") != searches+1 {
		t.Fatalf("after TTL: %+v, %v", rec, err)
	}
	if _, err := p.CheckRecipient(ctx, "ton", "alice_user"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestCookiesAndHashAreSent(t *testing.T) {
	f, srv := newFakeFragment(t)
	p := newTestProvider(t, srv.URL, newFakePayer(), func(o *Options) {
		o.Cookies = "Cookie: stel_ssid=ssid123;\nstel_dt=-240; stel_token=tok456;stel_ton_token=ton789"
	})
	if _, err := p.CheckRecipient(context.Background(), fulfil.KindStars, "alice_user"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastCookie != fakeCookies || f.lastHash != fakeHash {
		t.Fatalf("cookie %q hash %q", f.lastCookie, f.lastHash)
	}
}

func TestUnreadableStateNeverPays(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)
	r := starsReq("alice_user", 100)
	r.State = `{"v":1,"sent":` // truncated
	_, err := p.Deliver(context.Background(), r, (&saver{}).save)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("err = %v, want a non-permanent error", err)
	}
	if payer.sentCount() != 0 || len(f.methods()) != 0 {
		t.Fatal("acted on an unreadable state")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no wallet":  {Cookies: fakeCookies},
		"no cookies": {Wallet: newFakePayer()},
		"bad url":    {Wallet: newFakePayer(), Cookies: fakeCookies, BaseURL: "ftp://x"},
		"bad hash":   {Wallet: newFakePayer(), Cookies: fakeCookies, Hash: "not hex!"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTransportErrorsAreTransientAndHideTheHash(t *testing.T) {
	_, srv := newFakeFragment(t)
	url := srv.URL
	srv.Close()
	payer := newFakePayer()
	p := newTestProvider(t, url, payer, nil)
	_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), (&saver{}).save)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) || errors.Is(err, fulfil.ErrUnavailable) {
		t.Fatalf("err = %v, want transient", err)
	}
	if strings.Contains(err.Error(), fakeHash) {
		t.Fatalf("error leaks the api hash: %v", err)
	}
	if p.Available() != nil || payer.sentCount() != 0 {
		t.Fatal("network error changed availability or paid")
	}
}

// The shop consumes the provider through this interface (shop.Provider).
var _ interface {
	CheckRecipient(ctx context.Context, kind, username string) (fulfil.Recipient, error)
	Deliver(ctx context.Context, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error)
	Available() error
} = (*Provider)(nil)

var _ Payer = (*WalletPayer)(nil)

func TestRunProbesUntilCancelled(t *testing.T) {
	f, srv := newFakeFragment(t)
	f.set(func(f *fakeFragment) { f.sessionMode = "error" })
	p := newTestProvider(t, srv.URL, newFakePayer(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, 5*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for p.Available() == nil {
		if time.Now().After(deadline) {
			t.Fatal("probe never noticed the dead session")
		}
		time.Sleep(time.Millisecond)
	}
	f.set(func(f *fakeFragment) { f.sessionMode = "" })
	for p.Available() != nil {
		if time.Now().After(deadline) {
			t.Fatal("probe never noticed the recovery")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
