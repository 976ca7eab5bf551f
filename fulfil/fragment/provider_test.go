package fragment

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
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
	if opts.Records == nil {
		opts.Records = shop.PayerRecords{Store: testStore(t)}
	}
	if wp, ok := payer.(*WalletPayer); ok {
		reconciled(t, opts.Records, wp)
	}
	if fp, ok := payer.(*fakePayer); ok && fp.st == nil {
		fp.mu.Lock()
		fp.st, fp.t = opts.Records.(shop.PayerRecords).Store, t
		fp.mu.Unlock()
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// testStore is a fresh bbolt store, closed when the test ends.
func testStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "payer.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// reconciled records that wp's messages so far are accounted for, as an
// operator's reconciliation does for a wallet used before this store (the
// test chains start at seqno 5).
func reconciled(t *testing.T, r Records, wp *WalletPayer) {
	t.Helper()
	n, err := wp.Seqno(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return
	}
	now := time.Now()
	b := &domain.PayerBatch{Wallet: wp.Account().Address, Seqno: n - 1, CreatedAt: now, SettledAt: &now, Detail: "test: reconciled"}
	if err := r.RecordBatch(context.Background(), b, nil); err != nil {
		t.Fatal(err)
	}
}

// storeOf is the store under p's payment records.
func storeOf(p *Provider) store.Store { return p.records.(shop.PayerRecords).Store }

// records are order id's payment records in p's store.
func records(t *testing.T, p *Provider, orderID int64) []domain.PayerMessage {
	t.Helper()
	var ms []domain.PayerMessage
	if err := storeOf(p).View(context.Background(), func(tx store.Tx) error {
		var err error
		ms, err = tx.OrderPayerMessages(orderID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ms
}

func noSave(context.Context, string) error { return nil }

func starsReq(user string, qty int64) fulfil.Request {
	return fulfil.Request{Ref: "order-7", OrderID: 7, Kind: domain.KindStars, Username: user, Stars: qty}
}

func premiumReq(user string, months int) fulfil.Request {
	return fulfil.Request{Ref: "order-8", OrderID: 8, Kind: domain.KindPremium, Username: user, Months: months}
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

// waitFor polls cond for up to a minute (the deadline only matters when
// something is broken: -race on a shared machine is slow).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDeliverStarsSendsFragmentsMessageOnce(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)

	res, err := p.Deliver(context.Background(), starsReq("@Alice_User", 100), noSave)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if res.ProviderRef != "req0001XyZ" || len(res.TxHash) != 64 {
		t.Fatalf("result %+v", res)
	}
	checkSentEqualsLink(t, f, payer, res.ProviderRef)

	waitFor(t, "the confirm call", func() bool { return f.count("confirmReq") == 1 })
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

	// The batch and the order's exact message were recorded before sending
	// (the fake payer checks the store at broadcast), with what resumes it.
	ms := records(t, p, 7)
	if len(ms) != 1 {
		t.Fatalf("%d payment records, want 1", len(ms))
	}
	f.mu.Lock()
	fl := f.links[ms[0].ReqID]
	f.mu.Unlock()
	wantTo, _ := ton.RawAddress(fl.Address)
	if m := ms[0]; m.ReqID != "req0001XyZ" || m.To != wantTo || formatInt(m.AmountNano) != fl.Amount ||
		m.Payload != fl.Payload || m.LinkValidUntil == 0 || m.Outcome != domain.PaymentPaid || m.Kind != domain.KindStars {
		t.Fatalf("recorded message %+v", m)
	}
	confirm := f.lastCall("confirmReq")
	if confirm.Form["id"] != "req0001XyZ" || confirm.Form["boc"] != payer.batches[0].BOC {
		t.Errorf("confirm call %+v", confirm.Form)
	}
}

func TestDeliverPremiumSendsFragmentsMessageOnce(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)

	res, err := p.Deliver(context.Background(), premiumReq("bob_premium", 6), noSave)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	checkSentEqualsLink(t, f, payer, res.ProviderRef)
	waitFor(t, "the confirm call", func() bool { return f.count("confirmReq") == 1 })
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

// Many deliveries at once: their payments leave in few wallet messages, each
// exactly once, and every order completes.
func TestConcurrentDeliveriesShareBatches(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	payer.max = 4
	p := newTestProvider(t, srv.URL, payer, nil)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := fulfil.Request{Ref: "order-" + formatInt(int64(100+i)), OrderID: int64(100 + i), Kind: domain.KindStars, Username: "alice_user", Stars: 50 + int64(i)}
			if _, err := p.Deliver(context.Background(), r, noSave); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if payer.sentCount() != n || f.count("initBuyStarsRequest") != n {
		t.Fatalf("%d payments for %d requests, want %d each", payer.sentCount(), f.count("initBuyStarsRequest"), n)
	}
	if b := payer.batchCount(); b >= n || b < n/4 {
		t.Fatalf("%d wallet messages for %d payments of at most 4 each", b, n)
	}
	seen := map[string]bool{}
	for _, m := range payer.sent {
		h := hex.EncodeToString(m.Payload.Hash())
		if seen[h] {
			t.Fatal("a payload paid twice")
		}
		seen[h] = true
	}
}

func TestCrashAfterSendResumesWithoutSecondPayment(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	payer.pending = 1 << 30 // sent, not settled before the "crash"
	var ahead atomic.Int64  // this clock runs ahead of the real one by this
	p := newTestProvider(t, srv.URL, payer, func(o *Options) {
		o.ConfirmTimeout = 20 * time.Millisecond
		o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	_, err := p.Deliver(context.Background(), starsReq("alice_user", 500), noSave)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) || errors.Is(err, fulfil.ErrUnavailable) {
		t.Fatalf("interrupted Deliver: err = %v, want a transient error", err)
	}
	if payer.sentCount() != 1 {
		t.Fatalf("sent %d", payer.sentCount())
	}
	// What the operator sees meanwhile (/health, component fragment_payments).
	ok, detail := p.PaymentsHealth()
	st := detail.(PaymentsStatus)
	if !ok || st.OpenBatches != 1 || st.InFlight != 1 || st.InFlightNano != 500*3_870_000 || st.OldestAt == nil || st.Alert != "" {
		t.Fatalf("payments health %v %+v", ok, st)
	}
	ahead.Store(int64(StuckAfter + time.Minute))
	if ok, detail := p.PaymentsHealth(); ok || detail.(PaymentsStatus).Alert == "" {
		t.Fatalf("a batch open for %s: %v %+v; want an alert", StuckAfter, ok, detail)
	}
	p.Close()

	// Restart: a new provider over the same store; the chain settles it.
	payer.mu.Lock()
	payer.pending = 0
	payer.mu.Unlock()
	p2 := newTestProvider(t, srv.URL, payer, func(o *Options) { o.Records = p.records })
	res, err := p2.Deliver(context.Background(), starsReq("alice_user", 500), noSave)
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
		outcomes  []Status // per batch; the rest get StatusConfirmed
		pending   int
		lookErr   int
		timeout   time.Duration
		permanent bool
		ok        bool
		batches   int // wallet messages signed in all
	}{
		{name: "confirmed later", pending: 3, lookErr: 2, ok: true, batches: 1},
		{name: "still pending past the wait: transient, retried", pending: 1 << 30, timeout: 20 * time.Millisecond, batches: 1},
		{name: "never ran: paid with a fresh link", outcomes: []Status{StatusExpired}, ok: true, batches: 2},
		{name: "ran without this payment: paid with a fresh link", outcomes: []Status{StatusFailed}, ok: true, batches: 2},
		{name: "never ran three times: refund", outcomes: []Status{StatusExpired, StatusExpired, StatusExpired}, permanent: true, batches: 3},
		{name: "bounced: refund", outcomes: []Status{StatusBounced}, permanent: true, batches: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeFragment(t)
			payer := newFakePayer()
			payer.pending = 1 << 30 // the first call never settles
			p := newTestProvider(t, srv.URL, payer, func(o *Options) { o.ConfirmTimeout = 20 * time.Millisecond })
			if _, err := p.Deliver(context.Background(), starsReq("alice_user", 50), noSave); err == nil || errors.Is(err, fulfil.ErrPermanent) {
				t.Fatalf("first Deliver: %v", err)
			}
			p.Close()
			payer.mu.Lock()
			payer.pending, payer.outcomes, payer.lookErr = tc.pending, tc.outcomes, tc.lookErr
			payer.mu.Unlock()
			timeout := 3 * time.Second
			if tc.timeout > 0 {
				timeout = tc.timeout
			}
			p2 := newTestProvider(t, srv.URL, payer, func(o *Options) { o.ConfirmTimeout = timeout; o.Records = p.records })
			res, err := p2.Deliver(context.Background(), starsReq("alice_user", 50), noSave)
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
			if payer.batchCount() != tc.batches || f.count("initBuyStarsRequest") != tc.batches {
				t.Fatalf("%d wallet messages for %d Fragment requests, want %d", payer.batchCount(), f.count("initBuyStarsRequest"), tc.batches)
			}
			ms := records(t, p2, 7)
			paid := 0
			for _, m := range ms {
				if m.Outcome == domain.PaymentPaid {
					paid++
				}
			}
			if (tc.ok && paid != 1) || (!tc.ok && paid != 0) {
				t.Fatalf("%d payments recorded as paid", paid)
			}
		})
	}
}

func TestLostBroadcastIsRebroadcastNotRepaid(t *testing.T) {
	_, srv := newFakeFragment(t)
	payer := newFakePayer()
	payer.sendErr, payer.lost = errors.New("liteserver: connection reset"), true
	p := newTestProvider(t, srv.URL, payer, nil)
	res, err := p.Deliver(context.Background(), starsReq("alice_user", 250), noSave)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if payer.resends == 0 {
		t.Fatal("the recorded message was never rebroadcast")
	}
	if payer.batchCount() != 1 || payer.sentCount() != 1 {
		t.Fatalf("%d signed messages, %d on chain: want 1 and 1", payer.batchCount(), payer.sentCount())
	}
	if res.ProviderRef == "" {
		t.Fatalf("result %+v", res)
	}
}

// failingStore refuses writes (or every read with readErr).
type failingStore struct {
	store.Store
	readErr bool
}

func (s failingStore) Update(context.Context, func(store.Tx) error) error {
	return errors.New("disk full")
}

func (s failingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	if s.readErr {
		return errors.New("store unreadable")
	}
	return s.Store.View(ctx, fn)
}

func TestRecordFailureSendsNothing(t *testing.T) {
	_, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, func(o *Options) { o.Records = shop.PayerRecords{Store: failingStore{Store: testStore(t)}} })
	_, err := p.Deliver(context.Background(), starsReq("alice_user", 50), noSave)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("err = %v, want transient", err)
	}
	if payer.sentCount() != 0 || payer.batchCount() != 0 {
		t.Fatal("sent without a record")
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
		// never ran, three times with three fresh links (the fake counts
		// each as broadcast; none paid)
		{name: "payment never runs", req: starsReq("alice_user", 100), paid: 3,
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
			_, err := p.Deliver(context.Background(), tc.req, noSave)
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
	res, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
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
			_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
			if !errors.Is(err, fulfil.ErrUnavailable) || errors.Is(err, fulfil.ErrPermanent) {
				t.Fatalf("Deliver err = %v, want ErrUnavailable", err)
			}
			if err := p.Available(); !errors.Is(err, fulfil.ErrUnavailable) {
				t.Fatalf("Available() = %v, want ErrUnavailable", err)
			}
			if mode != "noreq" {
				if _, err := p.CheckRecipient(context.Background(), domain.KindStars, "bob_premium"); !errors.Is(err, fulfil.ErrUnavailable) {
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
			if _, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave); err != nil {
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
	if _, err := p.CheckRecipient(context.Background(), domain.KindStars, "alice_user"); !errors.Is(err, fulfil.ErrUnavailable) {
		t.Fatal(err)
	}
	f.set(func(f *fakeFragment) { f.sessionMode = "" })
	if rec, err := p.CheckRecipient(context.Background(), domain.KindStars, "alice_user"); err != nil || !rec.CanReceive {
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
	_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
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
	if _, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if payer.sentCount() != 1 {
		t.Fatalf("sent %d", payer.sentCount())
	}
}

// A short Retry-After is waited out by the request that got it, and the same
// call made again: the delivery goes on without failing.
func TestShortRetryAfterIsWaitedOutByThatRequest(t *testing.T) {
	f, srv := newFakeFragment(t)
	f.rateLimited, f.retryAfter = 2, "1"
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)
	start := time.Now()
	if _, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if took := time.Since(start); took < 2*time.Second || payer.sentCount() != 1 || f.count("searchStarsRecipient") != 3 {
		t.Fatalf("took %s, %d sent, %d searches; want two 1 s waits and the search made again", took, payer.sentCount(), f.count("searchStarsRecipient"))
	}
}

func TestStaleHashIsRefreshedFromThePage(t *testing.T) {
	for name, hash := range map[string]string{"stale hash": "deadbeefdeadbeef00", "no hash configured": ""} {
		t.Run(name, func(t *testing.T) {
			f, srv := newFakeFragment(t)
			p := newTestProvider(t, srv.URL, newFakePayer(), func(o *Options) { o.Hash = hash })
			rec, err := p.CheckRecipient(context.Background(), domain.KindStars, "alice_user")
			if err != nil || !rec.CanReceive {
				t.Fatalf("%+v, %v", rec, err)
			}
			f.set(func(f *fakeFragment) { f.hash = "feedfacefeedface00" }) // Fragment rotates it
			rec, err = p.CheckRecipient(context.Background(), domain.KindPremium, "alice_user")
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
		kind   domain.Kind
		user   string
		can    bool
		reason string
	}{
		{domain.KindStars, "alice_user", true, ""},
		{domain.KindStars, "@Alice_User", true, ""},
		{domain.KindStars, "nobody_here", false, "No Telegram users found."},
		{domain.KindPremium, "bob_premium", true, ""},
		{domain.KindPremium, "some_channel", false, "Please enter a username assigned to a user."},
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
	if _, err := p.CheckRecipient(ctx, domain.KindStars, "nobody_here"); err != nil {
		t.Fatal(err)
	}
	if f.count("searchStarsRecipient") != searches {
		t.Fatal("cached answer not reused")
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	f.set(func(f *fakeFragment) { f.users["nobody_here"] = true })
	rec, err := p.CheckRecipient(ctx, domain.KindStars, "nobody_here")
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
	if _, err := p.CheckRecipient(context.Background(), domain.KindStars, "alice_user"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastCookie != fakeCookies || f.lastHash != fakeHash {
		t.Fatalf("cookie %q hash %q", f.lastCookie, f.lastHash)
	}
}

// Payment records that cannot be read may describe a payment already made:
// neither pay nor refund.
func TestUnreadableRecordsNeverPay(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, func(o *Options) {
		o.Records = shop.PayerRecords{Store: failingStore{Store: testStore(t), readErr: true}}
	})
	_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
	if err == nil || errors.Is(err, fulfil.ErrPermanent) {
		t.Fatalf("err = %v, want a non-permanent error", err)
	}
	if payer.sentCount() != 0 || len(f.methods()) != 0 {
		t.Fatal("acted without readable payment records")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no wallet":  {Cookies: fakeCookies, Records: shop.PayerRecords{Store: testStore(t)}},
		"no store":   {Cookies: fakeCookies, Wallet: newFakePayer()},
		"no cookies": {Wallet: newFakePayer(), Records: shop.PayerRecords{Store: testStore(t)}},
		"bad url":    {Wallet: newFakePayer(), Records: shop.PayerRecords{Store: testStore(t)}, Cookies: fakeCookies, BaseURL: "ftp://x"},
		"bad hash":   {Wallet: newFakePayer(), Records: shop.PayerRecords{Store: testStore(t)}, Cookies: fakeCookies, Hash: "not hex!"},
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
	_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
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
	CheckRecipient(ctx context.Context, kind domain.Kind, username string) (fulfil.Recipient, error)
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
	deadline := time.Now().Add(time.Minute)
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
