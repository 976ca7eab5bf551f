package fragment

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/store"
)

// fakeDest is Fragment's payment address in the fake (bounceable form).
var fakeDest = address.NewAddress(0x11, 0, bytes.Repeat([]byte{0x42}, 32)).String()

const (
	fakeHash    = "0123456789abcdef01"
	fakeCookies = "stel_ssid=ssid123; stel_dt=-240; stel_token=tok456; stel_ton_token=ton789"
)

// fakeFragment speaks Fragment's form-encoded /api the way the public clients
// describe it. Tests flip its fields to produce each answer.
type fakeFragment struct {
	t *testing.T

	mu sync.Mutex
	// behaviour
	hash          string          // accepted api hash
	users         map[string]bool // lower-case username → exists (true) ; absent → not found
	channels      map[string]bool // usernames that are not users
	subscribed    map[string]bool // premium already active
	sessionMode   string          // "" ok | "error" ({"error":"Session expired"}) | "401" | "html" | "noreq"
	rateLimited   int             // next N calls answer HTTP 429
	retryAfter    string          // their Retry-After (default "7")
	initError     string          // init*Request answers this error
	linkError     string          // get*Link answers this error
	needVerify    bool
	expiredLinks  int // next N links are already past validUntil
	linkValidFor  time.Duration
	starPriceNano int64
	premiumNano   map[int]int64
	noConfirm     bool

	// what happened
	calls                []fakeCall
	links                map[string]fakeLink // req_id → link handed out
	nextReq              int
	confirms             []map[string]string
	lastCookie, lastHash string
	now                  func() time.Time // link times (default time.Now)
}

type fakeCall struct {
	Method  string
	Form    map[string]string
	Referer string
}

type fakeLink struct {
	Address string
	Amount  string
	Payload string
}

func newFakeFragment(t *testing.T) (*fakeFragment, *httptest.Server) {
	f := &fakeFragment{
		t:             t,
		hash:          fakeHash,
		users:         map[string]bool{"alice_user": true, "bob_premium": true, "carol_sub": true},
		channels:      map[string]bool{"some_channel": true},
		subscribed:    map[string]bool{"carol_sub": true},
		linkValidFor:  5 * time.Minute,
		starPriceNano: 3_870_000, // ≈0.00387 TON per star
		premiumNano:   map[int]int64{3: 3_100_000_000, 6: 4_200_000_000, 12: 7_500_000_000},
		links:         map[string]fakeLink{},
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeFragment) set(fn func(f *fakeFragment)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeFragment) methods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.Method)
	}
	return out
}

func (f *fakeFragment) count(method string) int {
	n := 0
	for _, m := range f.methods() {
		if m == method {
			n++
		}
	}
	return n
}

func (f *fakeFragment) lastCall(method string) fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].Method == method {
			return f.calls[i]
		}
	}
	return fakeCall{}
}

func (f *fakeFragment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodGet && (r.URL.Path == pageStars || r.URL.Path == pagePremium) {
		if !strings.Contains(r.Header.Get("Cookie"), "stel_ssid=ssid123") {
			fmt.Fprint(w, `<html><body>Log in</body></html>`)
			return
		}
		fmt.Fprintf(w, `<html><script>ajInit({"version":1,"apiUrl":"\/api?hash=%s"});</script></html>`, f.hash)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api" {
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.t.Errorf("Content-Type %q", ct)
	}
	if r.Header.Get("X-Requested-With") != "XMLHttpRequest" {
		f.t.Errorf("missing X-Requested-With")
	}
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("form: %v", err)
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	method := form["method"]
	f.lastCookie, f.lastHash = r.Header.Get("Cookie"), r.URL.Query().Get("hash")
	f.calls = append(f.calls, fakeCall{Method: method, Form: form, Referer: r.Header.Get("Referer")})

	if f.rateLimited > 0 {
		f.rateLimited--
		ra := "7"
		if f.retryAfter != "" {
			ra = f.retryAfter
		}
		w.Header().Set("Retry-After", ra)
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if r.URL.Query().Get("hash") != f.hash {
		writeJSON(w, map[string]any{"error": "Bad request"})
		return
	}
	if !strings.Contains(r.Header.Get("Cookie"), "stel_ssid=ssid123") || f.sessionMode == "error" {
		writeJSON(w, map[string]any{"error": "Session expired"})
		return
	}
	switch f.sessionMode {
	case "401":
		w.WriteHeader(http.StatusUnauthorized)
		return
	case "html":
		fmt.Fprint(w, "<html>Please log in</html>")
		return
	}

	switch method {
	case "searchStarsRecipient", "searchPremiumGiftRecipient":
		q := strings.ToLower(form["query"])
		switch {
		case f.channels[q]:
			writeJSON(w, map[string]any{"error": "Please enter a username assigned to a user."})
		case f.users[q]:
			writeJSON(w, map[string]any{"ok": true, "found": map[string]any{
				"myself": false, "recipient": "rcpt_" + q, "photo": `<img src="https://cdn4.telesco.pe/x.jpg">`, "name": strings.ToUpper(q),
			}})
		default:
			writeJSON(w, map[string]any{"error": "No Telegram users found."})
		}
	case "updateStarsBuyState", "updatePremiumState":
		writeJSON(w, map[string]any{"mode": "new", "need_update": false})
	case "initBuyStarsRequest", "initGiftPremiumRequest":
		if f.initError != "" {
			writeJSON(w, map[string]any{"error": f.initError})
			return
		}
		if f.sessionMode == "noreq" {
			writeJSON(w, map[string]any{"ok": true})
			return
		}
		rcpt := form["recipient"]
		if !strings.HasPrefix(rcpt, "rcpt_") {
			writeJSON(w, map[string]any{"error": "Invalid recipient"})
			return
		}
		user := strings.TrimPrefix(rcpt, "rcpt_")
		f.nextReq++
		req := fmt.Sprintf("req%04dXyZ", f.nextReq)
		var nano int64
		var comment string
		if method == "initBuyStarsRequest" {
			q, err := strconv.ParseInt(form["quantity"], 10, 64)
			if err != nil || q < 50 {
				writeJSON(w, map[string]any{"error": "Invalid quantity"})
				return
			}
			nano = q * f.starPriceNano
			comment = fmt.Sprintf("%d Telegram Stars \n\nRef#%s", q, req)
		} else {
			if f.subscribed[user] {
				writeJSON(w, map[string]any{"error": "This account is already subscribed to Telegram Premium."})
				return
			}
			m, _ := strconv.Atoi(form["months"])
			nano = f.premiumNano[m]
			if nano == 0 {
				writeJSON(w, map[string]any{"error": "Invalid months"})
				return
			}
			comment = fmt.Sprintf("Telegram Premium for %d months \n\nRef#%s", m, req)
		}
		f.links[req] = fakeLink{Address: fakeDest, Amount: strconv.FormatInt(nano, 10), Payload: fragmentPayload(comment)}
		writeJSON(w, map[string]any{"req_id": req, "myself": false, "to_bot": false, "amount": formatTON(nano)})
	case "getBuyStarsLink", "getGiftPremiumLink":
		if f.linkError != "" {
			writeJSON(w, map[string]any{"error": f.linkError})
			return
		}
		if f.needVerify {
			writeJSON(w, map[string]any{"need_verify": true})
			return
		}
		link, ok := f.links[form["id"]]
		if !ok || form["transaction"] != "1" {
			writeJSON(w, map[string]any{"error": "Request not found"})
			return
		}
		var acc Account
		if err := json.Unmarshal([]byte(form["account"]), &acc); err != nil || acc.Address == "" || acc.PublicKey == "" || acc.Chain == "" || acc.WalletStateInit == "" {
			f.t.Errorf("bad account field %q", form["account"])
		}
		var dev map[string]any
		if err := json.Unmarshal([]byte(form["device"]), &dev); err != nil || dev["maxProtocolVersion"] == nil {
			f.t.Errorf("bad device field %q", form["device"])
		}
		now := time.Now
		if f.now != nil {
			now = f.now
		}
		valid := now().Add(f.linkValidFor).Unix()
		if f.expiredLinks > 0 {
			f.expiredLinks--
			valid = now().Add(-time.Minute).Unix()
		}
		ans := map[string]any{"ok": true, "transaction": map[string]any{
			"validUntil": valid,
			"from":       acc.Address,
			"messages":   []any{map[string]any{"address": link.Address, "amount": link.Amount, "payload": link.Payload}},
		}}
		if !f.noConfirm {
			ans["confirm_method"] = "confirmReq"
			ans["confirm_params"] = map[string]any{"id": form["id"]}
		}
		writeJSON(w, ans)
	case "confirmReq":
		f.confirms = append(f.confirms, form)
		writeJSON(w, map[string]any{"ok": true})
	default:
		writeJSON(w, map[string]any{"error": "Unknown method"})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func formatTON(nano int64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%d.%09d", nano/1e9, nano%1e9), "0"), ".")
}

// fragmentPayload builds a payload the way Fragment's look: a text comment
// whose Ref# continues in a child cell at an arbitrary split, as base64url
// without padding. Re-encoding the text with CreateCommentCell would give a
// different cell, so only forwarding it as is keeps the hash.
func fragmentPayload(comment string) string {
	split := len(comment) - 3
	child := cell.BeginCell().MustStoreSlice([]byte(comment[split:]), uint(8*(len(comment)-split))).EndCell()
	root := cell.BeginCell().MustStoreUInt(0, 32).
		MustStoreSlice([]byte(comment[:split]), uint(8*split)).
		MustStoreRef(child).EndCell()
	return base64.RawURLEncoding.EncodeToString(root.ToBOCWithFlags(false))
}

// fakePayer is the service wallet for provider tests: it records what would
// be sent and answers lookups from a script, batch by batch.
type fakePayer struct {
	mu       sync.Mutex
	max      int   // MaxMessages (default 255)
	balance  int64 // lowered by what each sent batch pays
	seqno    uint32
	sent     []Message   // payments that reached the chain
	batches  []SentBatch // what SendBatch recorded
	resends  int
	lookups  int
	sendErr  error // returned by SendBatch after record (maybe broadcast)
	lost     bool  // with sendErr: the broadcast did not happen
	pending  int   // Lookup answers Pending this many times first
	final    Status
	outcomes []Status // per batch in order, overriding final (StatusConfirmed: every payment taken)
	onLookup func(n int)
	lookErr  int         // Lookup fails this many times first
	st       store.Store // when set: SendBatch checks the batch is in it before broadcasting
	t        *testing.T
	// viewTime: how far the view reaches (default now); behind: pending
	// batches are reported held for the chain (chain_behind).
	viewTime time.Time
	behind   bool
}

func newFakePayer() *fakePayer {
	return &fakePayer{balance: 1000_000_000_000, final: StatusConfirmed, max: 255}
}

var testAccount = Account{
	Address:         "0:" + strings.Repeat("ab", 32),
	PublicKey:       strings.Repeat("cd", 32),
	Chain:           "-239",
	WalletStateInit: base64.StdEncoding.EncodeToString([]byte("state-init")),
}

func (p *fakePayer) Account() Account { return testAccount }

func (p *fakePayer) Balance(context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.balance, nil
}

func (p *fakePayer) Seqno(context.Context) (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seqno, nil
}

func (p *fakePayer) MaxMessages() int { return p.max }

func (p *fakePayer) Fee(n int) int64 { return 1_000_000 + int64(n)*100_000 }

func (p *fakePayer) Ready(context.Context) error { return nil }

func (p *fakePayer) Resume(SentBatch) {}

func (p *fakePayer) SendBatch(ctx context.Context, ms []Message, reserve int64, record func(context.Context, SentBatch) error) (SentBatch, error) {
	p.mu.Lock()
	n, sum := 0, int64(0)
	for n < len(ms) && n < p.max && sum+ms[n].AmountNano+p.Fee(n+1)+reserve <= p.balance {
		sum += ms[n].AmountNano
		n++
	}
	if n == 0 {
		bal := p.balance
		p.mu.Unlock()
		need := ms[0].AmountNano + p.Fee(1) + reserve
		return SentBatch{}, &fulfil.Hold{Reason: fulfil.HoldFunds, BalanceNano: bal, NeedNano: need, Detail: "fake wallet short"}
	}
	b := SentBatch{
		Wallet:     testAccount.Address,
		Seqno:      p.seqno,
		ExtHash:    fmt.Sprintf("%064x", 1000+p.seqno),
		BOC:        base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("signed-%d", p.seqno))),
		ValidUntil: ms[0].ValidUntil.Unix(),
		PreparedAt: time.Now().Unix(),
		FeeNano:    p.Fee(n),
		Balance:    p.balance,
	}
	for _, m := range ms[:n] {
		b.Messages = append(b.Messages, SentItem{To: m.To.StringRaw(), AmountNano: m.AmountNano, PayloadHash: hex.EncodeToString(m.Payload.Hash())})
	}
	p.mu.Unlock()
	if err := record(ctx, b); err != nil {
		return SentBatch{}, err
	}
	if p.st != nil { // recorded before it leaves
		found := false
		_ = p.st.View(ctx, func(tx store.Tx) error {
			bs, _ := tx.ListPayerBatches(0, 1<<20, false)
			for _, r := range bs {
				found = found || r.ExtHash == b.ExtHash
			}
			return nil
		})
		if !found {
			p.t.Errorf("batch %s broadcast before it was in the store", b.ExtHash)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches = append(p.batches, b)
	p.seqno++
	if p.sendErr != nil && p.lost {
		return b, p.sendErr
	}
	p.sent = append(p.sent, ms[:n]...)
	p.balance -= sum + b.FeeNano
	return b, p.sendErr
}

func (p *fakePayer) Resend(_ context.Context, b SentBatch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resends++
	if p.lost { // the recorded message finally reaches the chain
		p.lost = false
		for _, it := range b.Messages {
			to, _ := address.ParseRawAddr(it.To)
			p.sent = append(p.sent, Message{To: to, AmountNano: it.AmountNano})
		}
	}
	return nil
}

func (p *fakePayer) Lookup(ctx context.Context, bs []SentBatch) ([]BatchOutcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lookups++
	if p.onLookup != nil {
		p.onLookup(p.lookups)
	}
	if p.lookErr > 0 {
		p.lookErr--
		return nil, errors.New("liteserver timeout")
	}
	view := time.Now()
	if !p.viewTime.IsZero() {
		view = p.viewTime
	}
	out := make([]BatchOutcome, len(bs))
	for i, b := range bs {
		idx := slices.IndexFunc(p.batches, func(r SentBatch) bool { return r.ExtHash == b.ExtHash })
		if idx < 0 {
			out[i] = BatchOutcome{Status: StatusExpired, Detail: "unknown message", ChainTime: view}
			continue
		}
		if p.pending > 0 || p.lost {
			if p.pending > 0 {
				p.pending--
			}
			out[i] = BatchOutcome{Status: StatusPending, ChainTime: view, Hold: map[bool]string{true: fulfil.HoldChainBehind}[p.behind], Detail: "fake view behind"}
			continue
		}
		st := p.final
		if idx < len(p.outcomes) {
			st = p.outcomes[idx]
		}
		if st == StatusExpired {
			out[i] = BatchOutcome{Status: StatusExpired, ChainTime: view, Detail: "fake: never ran"}
			continue
		}
		o := BatchOutcome{Status: StatusConfirmed, TxHash: strings.Repeat("e", 60) + b.ExtHash[60:], LT: 42,
			Time: view.Add(-time.Minute), ChainTime: view}
		for range b.Messages {
			item := ItemOutcome{Status: st, DestTx: strings.Repeat("d", 60) + b.ExtHash[60:]}
			if st == StatusConfirmed || st == StatusPending {
				item.Status = st
			}
			o.Items = append(o.Items, item)
		}
		out[i] = o
	}
	return out, nil
}

func (p *fakePayer) sentCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

func (p *fakePayer) batchCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.batches)
}
