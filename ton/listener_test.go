package ton

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// recorder plays the shop: it records a batch atomically with its cursor
// when fn returns nil, exactly like the store transaction does.
type recorder struct {
	mu      sync.Mutex
	batches []Batch
	counts  map[string]int
	byHash  map[string]Transfer
	order   []string
	cursor  string
	// reject, when set, decides per call whether fn fails instead of recording.
	reject func(b Batch) error
}

func newRecorder() *recorder {
	return &recorder{counts: map[string]int{}, byHash: map[string]Transfer{}}
}

func (r *recorder) fn(ctx context.Context, b Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reject != nil {
		if err := r.reject(b); err != nil {
			return err
		}
	}
	r.batches = append(r.batches, b)
	for _, t := range b.Transfers {
		r.counts[t.Hash]++
		r.byHash[t.Hash] = t
		r.order = append(r.order, t.Hash)
	}
	r.cursor = b.Cursor
	return nil
}

func (r *recorder) has(hashes ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hashes {
		if r.counts[h] == 0 {
			return false
		}
	}
	return true
}

func (r *recorder) get(h string) Transfer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byHash[h]
}

func (r *recorder) lastCursor() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cursor
}

// waitUntil polls cond; the fake chain answers in microseconds, so the
// deadline only matters when something is broken (-race on a shared
// machine can stall for seconds).
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitUntilTimeout(t, 30*time.Second, what, cond)
}

// waitUntilTimeout polls cond for up to d.
func waitUntilTimeout(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func hashOf(tx *tlb.Transaction) string { return hex.EncodeToString(tx.Hash) }

type fixture struct {
	t       *testing.T
	chain   *fakeChain
	keys    *Keys
	service string // raw
	topup   string // raw, partner 1
	alice   string // an outside sender
	bob     string // an unwatched account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k := testKeys(t, "v4r2", NetworkTestnet)
	_, topup, err := k.TopupAddress(SubwalletBase + 1)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		t: t, chain: newFakeChain(t), keys: k,
		service: k.ServiceAddressRaw(), topup: topup,
		alice: "0:" + hex.EncodeToString(fakeHash("alice")),
		bob:   "0:" + hex.EncodeToString(fakeHash("bob")),
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("OPENMONEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// options returns fast test options over the fixture's chain.
func (f *fixture) options() ListenerOptions {
	return fakeOptions(f.t, f.chain, f.keys.ServiceAddress(), f.topup)
}

// fakeOptions are fast listener options over c, watching watched.
func fakeOptions(t testing.TB, c *fakeChain, watched ...string) ListenerOptions {
	return ListenerOptions{
		Network:        NetworkTestnet,
		Dial:           func(context.Context) (ChainAPI, error) { return c, nil },
		Watched:        watched,
		Log:            testLogger(t),
		PollInterval:   100 * time.Microsecond,
		RetryMin:       100 * time.Microsecond,
		RetryMax:       2 * time.Millisecond,
		BackfillMargin: time.Second,
	}
}

// cursorAt is the cursor the listener writes for masterchain block seqno.
func (f *fixture) cursorAt(seqno uint32) string {
	c := f.chain
	c.mu.Lock()
	defer c.mu.Unlock()
	return listenerCursor{seqno: seqno, utime: c.masters[seqno-c.base].gen}.String()
}

// run starts Stream and returns a stop function that waits for it.
func run(t testing.TB, l *Listener, cursor string, fn func(context.Context, Batch) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Stream(ctx, cursor, fn) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Stream returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Stream did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestListenerMemoPaymentTopupAndUnwatched(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	memo := c.tx(txOpts{to: f.service, from: f.alice, nano: 1_500_000_000, body: commentCell("STARS-a1b2c3")})
	top := c.tx(txOpts{to: f.topup, from: f.alice, nano: 7_000_000_000})
	other := c.tx(txOpts{to: f.bob, from: f.alice, nano: 3})
	start := c.headSeqno()
	seq := c.mine(memo, top, other)

	r := newRecorder()
	l := NewListener(f.options())
	run(t, l, f.cursorAt(start), r.fn)
	waitUntil(t, "both transfers", func() bool { return r.has(hashOf(memo), hashOf(top)) })

	got := r.get(hashOf(memo))
	want := Transfer{
		Hash: hashOf(memo), LT: memo.LT, ChainTime: time.Unix(int64(memo.Now), 0).UTC(),
		From: f.alice, To: f.service, AmountNano: 1_500_000_000, Comment: "STARS-a1b2c3", Incoming: true,
	}
	if got != want {
		t.Errorf("memo payment:\n got %+v\nwant %+v", got, want)
	}
	if raw, err := RawAddress(got.To); err != nil || raw != f.keys.ServiceAddressRaw() {
		t.Errorf("To %q does not normalise to the service address: %v", got.To, err)
	}
	tp := r.get(hashOf(top))
	if tp.To != f.topup || tp.AmountNano != 7_000_000_000 || !tp.Incoming || tp.Comment != "" || tp.PayloadHex != "" {
		t.Errorf("top-up transfer: %+v", tp)
	}
	if r.has(hashOf(other)) {
		t.Errorf("a transfer to an unwatched account was reported")
	}
	if n := c.callCount("GetTransaction"); n != 2 {
		t.Errorf("GetTransaction called %d times, want 2 (unwatched transactions are not loaded)", n)
	}
	waitUntil(t, "cursor", func() bool { return r.lastCursor() == f.cursorAt(seq) })
}

func TestListenerMessageKinds(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	payload := cell.BeginCell().MustStoreUInt(0x0f8a7ea5, 32).MustStoreUInt(42, 64).EndCell()
	bin := c.tx(txOpts{to: f.service, from: f.alice, nano: 10, body: payload})
	bouncedMsg := c.tx(txOpts{to: f.service, from: f.alice, nano: 20, body: cell.BeginCell().MustStoreUInt(0xffffffff, 32).EndCell(), bounced: true})
	bouncedBack := c.tx(txOpts{to: f.service, from: f.alice, nano: 30, body: commentCell("STARS-zzz"), bounceOk: true})
	outgoing := c.tx(txOpts{to: f.service, external: true, outTo: f.bob, outNano: 40, outBody: commentCell("fragment order 9")})
	sweep := c.tx(txOpts{to: f.service, from: f.topup, nano: 50, body: commentCell(SweepComment)})
	long := strings.Repeat("ü-long-comment-", 30) // spans several snake cells
	longTx := c.tx(txOpts{to: f.service, from: f.alice, nano: 60, body: commentCell(long)})
	start := c.headSeqno()
	c.mine(bin, bouncedMsg, bouncedBack, outgoing, sweep, longTx)

	r := newRecorder()
	run(t, NewListener(f.options()), f.cursorAt(start), r.fn)
	all := []*tlb.Transaction{bin, bouncedMsg, bouncedBack, outgoing, sweep, longTx}
	waitUntil(t, "all transfers", func() bool {
		for _, tx := range all {
			if !r.has(hashOf(tx)) {
				return false
			}
		}
		return true
	})

	tests := []struct {
		name  string
		tx    *tlb.Transaction
		check func(Transfer) string
	}{
		{"binary payload → PayloadHex, no comment", bin, func(tr Transfer) string {
			if tr.Comment != "" || tr.PayloadHex != hex.EncodeToString(payload.ToBOC()) || !tr.Incoming || tr.Bounced {
				return "wrong payload fields"
			}
			return ""
		}},
		{"bounced message → Bounced", bouncedMsg, func(tr Transfer) string {
			if !tr.Bounced || tr.AmountNano != 20 {
				return "want Bounced"
			}
			return ""
		}},
		{"message bounced back by us → Bounced", bouncedBack, func(tr Transfer) string {
			if !tr.Bounced || tr.Comment != "STARS-zzz" {
				return "want Bounced with comment kept"
			}
			return ""
		}},
		{"external in (our own send) → Incoming=false", outgoing, func(tr Transfer) string {
			if tr.Incoming || tr.From != f.service || tr.To != f.bob || tr.AmountNano != 40 || tr.Comment != "fragment order 9" {
				return "want outgoing from service to bob"
			}
			return ""
		}},
		{"sweep from our top-up wallet → Incoming=false", sweep, func(tr Transfer) string {
			if tr.Incoming || tr.From != f.topup {
				return "want internal move not incoming"
			}
			return ""
		}},
		{"multi-cell snake comment", longTx, func(tr Transfer) string {
			if tr.Comment != long {
				return "comment not reassembled"
			}
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := r.get(hashOf(tc.tx))
			if msg := tc.check(tr); msg != "" {
				t.Errorf("%s: %+v", msg, tr)
			}
		})
	}
}

// A block served twice — ids repeated in pages, a masterchain block that
// commits no new shard block, and a failure in the middle of a block that
// makes the listener read it again — is still delivered once.
func TestListenerSameBlockServedTwiceDeliversOnce(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	c.dupPages = true
	start := c.headSeqno()
	var txs []*tlb.Transaction
	for i := range 5 {
		txs = append(txs, c.tx(txOpts{to: f.service, from: f.alice, nano: int64(100 + i), body: commentCell(fmt.Sprintf("m%d", i))}))
	}
	c.mine(txs[:3]...)
	c.master() // commits the same shard top again
	c.master()
	// the third GetTransaction fails once: the whole block is read again
	c.failNext("GetTransaction", nil, nil, errors.New("adnl timeout"))
	last := c.mine(txs[3:]...)

	r := newRecorder()
	run(t, NewListener(f.options()), f.cursorAt(start), r.fn)
	waitUntil(t, "cursor at the last block", func() bool { return r.lastCursor() == f.cursorAt(last) })
	for i, tx := range txs {
		if n := r.counts[hashOf(tx)]; n != 1 {
			t.Errorf("tx %d delivered %d times, want exactly once", i, n)
		}
	}
}

// Restarts: a crash before fn commits (the batch is redelivered) and a crash
// in the middle of scanning a block (it is rescanned) — nothing is missed.
func TestListenerRestartResumesFromAcceptedCursor(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	start := c.headSeqno()
	var want []string
	for i := range 12 {
		tx := c.tx(txOpts{to: f.service, from: f.alice, nano: int64(1000 + i), body: commentCell(fmt.Sprintf("PAY-%d", i))})
		want = append(want, hashOf(tx))
		c.mine(tx)
	}
	last := c.headSeqno()
	store := newRecorder()

	// run 1: fn "crashes" on the 4th batch before committing it
	ctx1 := make(chan struct{})
	var once sync.Once
	seen := 0
	store.reject = func(b Batch) error {
		seen++
		if seen >= 4 {
			once.Do(func() { close(ctx1) })
			return errors.New("crash before commit")
		}
		return nil
	}
	stop := run(t, NewListener(f.options()), f.cursorAt(start), store.fn)
	<-ctx1
	stop()
	store.reject = nil
	cursor1 := store.lastCursor()
	if got := len(store.batches); got != 3 {
		t.Fatalf("committed %d batches before the crash, want 3", got)
	}

	// run 2: crash in the middle of a block (stop while loading a transaction)
	crash := make(chan struct{})
	calls := 0
	c.mu.Lock()
	c.hook = func(method string) {
		if method == "GetTransaction" {
			calls++
			if calls == 5 {
				close(crash)
			}
		}
	}
	c.mu.Unlock()
	stop2 := run(t, NewListener(f.options()), cursor1, store.fn)
	<-crash
	stop2()
	c.mu.Lock()
	c.hook = nil
	c.mu.Unlock()

	// run 3: to the end
	run(t, NewListener(f.options()), store.lastCursor(), store.fn)
	waitUntil(t, "last block", func() bool { return store.lastCursor() == f.cursorAt(last) })
	for i, h := range want {
		if n := store.counts[h]; n != 1 {
			t.Errorf("payment %d recorded %d times, want 1", i, n)
		}
	}
	if !slices.Equal(store.order, want) {
		t.Errorf("payments recorded out of chain order")
	}
}

// Shard blocks that no masterchain block names (several per masterchain
// interval, and across a shard split) are scanned through their parents.
func TestListenerShardGapsAndSplit(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	start := c.headSeqno()
	var want []*tlb.Transaction
	pay := func(i int) *tlb.Transaction {
		tx := c.tx(txOpts{to: f.service, from: f.alice, nano: int64(i), body: commentCell(fmt.Sprintf("gap-%d", i))})
		want = append(want, tx)
		return tx
	}
	// three shard blocks between two masterchain blocks
	c.shardBlock(defaultShard, pay(1))
	c.shardBlock(defaultShard, pay(2))
	c.shardBlock(defaultShard, pay(3))
	c.master()
	// a block, then a split, then one block in each half before the next master
	c.shardBlock(defaultShard, pay(4))
	left, right := c.split(defaultShard)
	c.shardBlock(left, pay(5))
	c.shardBlock(right, pay(6))
	c.shardBlock(right, pay(7))
	c.master()
	c.shardBlock(left, pay(8))
	last := c.master()

	r := newRecorder()
	run(t, NewListener(f.options()), f.cursorAt(start), r.fn)
	waitUntil(t, "last block", func() bool { return r.lastCursor() == f.cursorAt(last) })
	for i, tx := range want {
		if n := r.counts[hashOf(tx)]; n != 1 {
			t.Errorf("payment %d in a skipped shard block delivered %d times, want 1", i+1, n)
		}
	}
}

func TestListenerBackfill(t *testing.T) {
	tests := []struct {
		name string
		// outage shapes the chain after the cursor; returns opts tweaks
		prune  bool
		maxGap uint32
	}{
		{name: "cursor block pruned from the liteserver", prune: true},
		{name: "gap larger than MaxGap", maxGap: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.chain
			// before the cursor: already delivered in an earlier life
			old := c.tx(txOpts{to: f.service, from: f.alice, nano: 1, body: commentCell("old")})
			c.mine(old)
			cursorSeq := c.mine()
			cursor := f.cursorAt(cursorSeq)
			// the outage: 40 blocks, payments to both accounts in some
			var want []string
			for i := range 40 {
				var txs []*tlb.Transaction
				if i%7 == 0 {
					txs = append(txs, c.tx(txOpts{to: f.service, from: f.alice, nano: int64(10 + i), body: commentCell(fmt.Sprintf("late-%d", i))}))
					txs = append(txs, c.tx(txOpts{to: f.topup, from: f.bob, nano: int64(20 + i)}))
					txs = append(txs, c.tx(txOpts{to: f.bob, from: f.alice, nano: 5})) // unwatched
					for _, tx := range txs[:2] {
						want = append(want, hashOf(tx))
					}
				}
				c.mine(txs...)
			}
			if tc.prune {
				c.prune(c.headSeqno() - 3)
			}

			r := newRecorder()
			opts := f.options()
			opts.MaxGap = tc.maxGap
			run(t, NewListener(opts), cursor, r.fn)
			waitUntil(t, "backfill", func() bool { return r.has(want...) })
			if c.callCount("ListTransactions") == 0 {
				t.Errorf("backfill did not use ListTransactions")
			}
			if r.has(hashOf(old)) {
				t.Errorf("a transfer from before the cursor was delivered again")
			}
			if !slices.Equal(r.order, want) {
				t.Errorf("backfill order:\n got %v\nwant %v (oldest first)", r.order, want)
			}
			// back to following blocks
			after := c.tx(txOpts{to: f.service, from: f.alice, nano: 99, body: commentCell("after")})
			seq := c.mine(after)
			waitUntil(t, "following after backfill", func() bool { return r.lastCursor() == f.cursorAt(seq) })
			if n := r.counts[hashOf(after)]; n != 1 {
				t.Errorf("payment after backfill delivered %d times", n)
			}
			for _, h := range want {
				if r.counts[h] != 1 {
					t.Errorf("backfilled %s delivered %d times", h[:8], r.counts[h])
				}
			}
		})
	}
}

// A backfill that cannot read an account's history back to the cursor's
// time keeps the cursor before the gap: what it could read is credited, the
// gap is named in Status (an alert: /health degraded), and the payment in the
// gap is credited once some liteserver serves that history again.
func TestListenerBackfillGapKeepsCursor(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	cursorSeq := c.mine()
	cursor := f.cursorAt(cursorSeq)
	a := c.tx(txOpts{to: f.service, from: f.alice, nano: 1, body: commentCell("in the gap")})
	c.mine(a)
	b := c.tx(txOpts{to: f.service, from: f.alice, nano: 2, body: commentCell("after the gap")})
	top := c.tx(txOpts{to: f.topup, from: f.bob, nano: 3})
	c.mine(b, top)
	for range 20 {
		c.mine()
	}
	c.prune(c.headSeqno() - 1)
	c.mu.Lock()
	c.historyFrom[f.service] = b.LT // no liteserver has a's lt any more
	c.mu.Unlock()

	r := newRecorder()
	opts := f.options()
	opts.BackfillMargin = time.Hour // walk far back
	l := NewListener(opts)
	run(t, l, cursor, r.fn)
	waitUntil(t, "the readable transfers", func() bool { return r.has(hashOf(b), hashOf(top)) })
	waitUntil(t, "the gap in Status", func() bool { return l.Status().HistoryGap != "" })
	st := l.Status()
	if !strings.Contains(st.HistoryGap, f.service) || !strings.Contains(st.HistoryGap, fmt.Sprintf("at and before lt %d", a.LT)) ||
		!strings.Contains(st.Alert, "gap") || !strings.Contains(st.HistoryGap, "cursor held at "+cursor) {
		t.Errorf("status does not name the gap: %+v", st)
	}
	if r.has(hashOf(a)) {
		t.Fatal("a transfer nobody could read was delivered")
	}
	r.mu.Lock()
	for _, bt := range r.batches {
		if bt.Cursor != cursor {
			t.Errorf("the cursor moved to %s past the unread gap", bt.Cursor)
		}
	}
	r.mu.Unlock()
	// ListTransactions was asked of every node before giving up
	if n := c.callCount("ListTransactions"); n < 3 {
		t.Errorf("ListTransactions called %d times; the other liteservers were not asked", n)
	}

	// The history becomes readable (a server caught up, or the operator added one).
	c.mu.Lock()
	delete(c.historyFrom, f.service)
	c.mu.Unlock()
	waitUntil(t, "the payment in the gap", func() bool { return r.has(hashOf(a)) })
	waitUntil(t, "the gap cleared", func() bool { return l.Status().HistoryGap == "" && l.Status().Alert == "" })
	if got := r.lastCursor(); got == cursor {
		t.Errorf("the cursor did not move after the gap was read")
	}
	for _, h := range []string{hashOf(a), hashOf(b), hashOf(top)} {
		if n := r.counts[h]; n != 1 {
			t.Errorf("%s delivered %d times", h[:8], n)
		}
	}
	after := c.tx(txOpts{to: f.service, from: f.alice, nano: 9, body: commentCell("after")})
	seq := c.mine(after)
	waitUntil(t, "following again", func() bool { return r.lastCursor() == f.cursorAt(seq) })
}

// The gap is served by another liteserver of the pool, or by the archive:
// no gap is held.
func TestListenerBackfillAsksOtherServersAndArchive(t *testing.T) {
	for _, tc := range []struct {
		name    string
		missing []uint32 // nodes without the history; nil = all
		archive bool
	}{
		{name: "another liteserver has it", missing: []uint32{1}},
		{name: "only the archive has it", archive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.chain
			cursor := f.cursorAt(c.mine())
			a := c.tx(txOpts{to: f.service, from: f.alice, nano: 1, body: commentCell("old")})
			c.mine(a)
			b := c.tx(txOpts{to: f.service, from: f.alice, nano: 2, body: commentCell("new")})
			c.mine(b)
			for range 20 {
				c.mine()
			}
			c.prune(c.headSeqno() - 1)
			c.mu.Lock()
			c.historyFrom[f.service] = b.LT
			c.historyNodes = tc.missing
			c.mu.Unlock()
			r := newRecorder()
			opts := f.options()
			opts.BackfillMargin = time.Hour
			archiveDials := 0
			if tc.archive {
				opts.Archive = func(context.Context) (ChainAPI, error) { archiveDials++; return archiveChain{c}, nil }
			}
			l := NewListener(opts)
			run(t, l, cursor, r.fn)
			waitUntil(t, "both payments", func() bool { return r.has(hashOf(a), hashOf(b)) })
			if st := l.Status(); st.HistoryGap != "" {
				t.Errorf("gap held: %s", st.HistoryGap)
			}
			if seq, _, _, _ := CursorInfo(r.lastCursor()); seq <= cursorSeqOf(t, cursor) {
				t.Errorf("cursor %s did not move", r.lastCursor())
			}
			if tc.archive && archiveDials != 1 {
				t.Errorf("archive dialled %d times", archiveDials)
			}
		})
	}
}

func cursorSeqOf(t *testing.T, cursor string) uint32 {
	seq, _, _, err := CursorInfo(cursor)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// First start: payments made while the listener was still connecting count;
// those from before the service started do not.
func TestListenerFreshStartBackfillsSinceStart(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	before := c.tx(txOpts{to: f.service, from: f.alice, nano: 1, body: commentCell("ancient")})
	c.mine(before)
	c.mine()
	startedAt := time.Unix(int64(c.chainTime())+1, 0)
	during := c.tx(txOpts{to: f.service, from: f.alice, nano: 2, body: commentCell("STARS-early")})
	c.mine(during)

	opts := f.options()
	dialed := make(chan struct{})
	opts.Dial = func(ctx context.Context) (ChainAPI, error) {
		select { // "connecting"
		case <-dialed:
			return c, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	opts.Now = func() time.Time { return startedAt }
	r := newRecorder()
	run(t, NewListener(opts), "", r.fn)
	close(dialed)
	waitUntil(t, "early payment", func() bool { return r.has(hashOf(during)) })
	if r.has(hashOf(before)) {
		t.Errorf("a payment from before the first start was reported")
	}
	after := c.tx(txOpts{to: f.topup, from: f.alice, nano: 3})
	c.mine(after)
	waitUntil(t, "payment after start", func() bool { return r.has(hashOf(after)) })
}

func TestListenerWatchAtRuntime(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	_, partner2, _ := f.keys.TopupAddress(SubwalletBase + 2)
	r := newRecorder()
	l := NewListener(f.options())
	run(t, l, f.cursorAt(c.headSeqno()), r.fn)
	first := c.tx(txOpts{to: partner2, from: f.alice, nano: 5})
	s1 := c.mine(first)
	waitUntil(t, "block scanned", func() bool { st := l.Status(); return st.LastBlock >= s1 })
	l.Watch(partner2)
	second := c.tx(txOpts{to: partner2, from: f.alice, nano: 6})
	c.mine(second)
	waitUntil(t, "new partner's top-up", func() bool { return r.has(hashOf(second)) })
	if r.has(hashOf(first)) {
		t.Errorf("transfer before Watch was reported")
	}
}

// Empty blocks move the stored cursor only every CursorEvery blocks.
func TestListenerEmptyBlocksAdvanceCursor(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	start := c.headSeqno()
	for range 10 {
		c.mine()
	}
	opts := f.options()
	opts.CursorEvery = 4
	r := newRecorder()
	run(t, NewListener(opts), f.cursorAt(start), r.fn)
	waitUntil(t, "cursor", func() bool { return r.lastCursor() == f.cursorAt(start+8) })
	r.mu.Lock()
	n := len(r.batches)
	r.mu.Unlock()
	if n != 2 {
		t.Errorf("%d empty batches for 10 empty blocks, want 2 (every 4 blocks)", n)
	}
}

func TestListenerStatusLagAndConnected(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	var mu sync.Mutex
	now := time.Unix(fakeBaseTime, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }

	// dial keeps failing: not connected, error reported, retried with backoff
	opts := f.options()
	opts.Now = clock
	var dials int
	var dialMu sync.Mutex
	fail := true
	opts.Dial = func(context.Context) (ChainAPI, error) {
		dialMu.Lock()
		defer dialMu.Unlock()
		dials++
		if fail {
			return nil, errors.New("no route to liteserver")
		}
		return c, nil
	}
	l := NewListener(opts)
	if st := l.Status(); st.Connected || st.Network != NetworkTestnet {
		t.Errorf("status before start: %+v", st)
	}
	r := newRecorder()
	run(t, l, f.cursorAt(c.headSeqno()), r.fn)
	waitUntil(t, "several dial attempts", func() bool { dialMu.Lock(); defer dialMu.Unlock(); return dials >= 3 })
	st := l.Status()
	if st.Connected || !strings.Contains(st.Error, "no route") {
		t.Errorf("status while dial fails: %+v", st)
	}
	setClock(now.Add(90 * time.Second))
	if lag := l.Status().LagSeconds; lag != 90 {
		t.Errorf("lag before any block = %v, want 90 (counted from start)", lag)
	}

	dialMu.Lock()
	fail = false
	dialMu.Unlock()
	seq := c.mine()
	waitUntil(t, "block processed", func() bool { return l.Status().LastBlock == seq })
	gen := time.Unix(int64(c.chainTime()), 0)
	setClock(gen.Add(42 * time.Second))
	st = l.Status()
	if !st.Connected || st.Error != "" || st.LagSeconds != 42 || !st.LastBlockTime.Equal(gen) {
		t.Errorf("status when following: %+v (want connected, lag 42)", st)
	}

	// the liteserver starts failing: disconnected, lag grows
	c.setDown(errors.New("connection reset"))
	waitUntil(t, "disconnected", func() bool { return !l.Status().Connected })
	setClock(gen.Add(10 * time.Minute))
	if st := l.Status(); st.LagSeconds != 600 || st.Error == "" {
		t.Errorf("status while failing: %+v", st)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	b := (&Listener{opts: ListenerOptions{RetryMin: 10 * time.Millisecond, RetryMax: 80 * time.Millisecond}}).backoff()
	want := []time.Duration{10, 20, 40, 80, 80}
	for i, w := range want {
		w *= time.Millisecond
		d := b.next()
		if d < w*8/10 || d > w*12/10 {
			t.Errorf("step %d: %v, want %v ±20%%", i, d, w)
		}
	}
	b.reset()
	if d := b.next(); d > 12*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}

func TestCursorFormat(t *testing.T) {
	c := listenerCursor{seqno: 4242, utime: 1750000000}
	back, ok, err := parseCursor(c.String())
	if err != nil || !ok || back != c {
		t.Fatalf("round trip: %v %v %v", back, ok, err)
	}
	if _, ok, err := parseCursor(""); ok || err != nil {
		t.Errorf("empty cursor: ok=%v err=%v", ok, err)
	}
	for _, bad := range []string{"mc:1", "lt:1:2", "mc:x:1", "mc:1:-2"} {
		if _, _, err := parseCursor(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	l := NewListener(ListenerOptions{Dial: func(context.Context) (ChainAPI, error) { return nil, errors.New("x") }})
	if err := l.Stream(context.Background(), "garbage", func(context.Context, Batch) error { return nil }); err == nil {
		t.Errorf("Stream accepted an unreadable cursor")
	}
}

// BenchmarkListenerBlockToBatch measures the time from a masterchain block
// (with one payment) becoming visible on the chain to fn receiving its batch.
func BenchmarkListenerBlockToBatch(b *testing.B) {
	k, err := NewKeys(testSeed, "v4r2", NetworkTestnet)
	if err != nil {
		b.Fatal(err)
	}
	c := newFakeChain(b)
	alice := "0:" + hex.EncodeToString(fakeHash("alice"))
	got := make(chan string, 1)
	l := NewListener(ListenerOptions{
		Network:      NetworkTestnet,
		Dial:         func(context.Context) (ChainAPI, error) { return c, nil },
		Watched:      []string{k.ServiceAddressRaw()},
		Log:          slog.New(slog.DiscardHandler),
		PollInterval: 20 * time.Microsecond,
		RetryMin:     time.Millisecond,
	})
	cur := listenerCursor{seqno: c.headSeqno(), utime: c.chainTime()}
	run(b, l, cur.String(), func(_ context.Context, batch Batch) error {
		for _, t := range batch.Transfers {
			got <- t.Hash
		}
		return nil
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tx := c.tx(txOpts{to: k.ServiceAddressRaw(), from: alice, nano: int64(i + 1), body: commentCell("STARS-bench")})
		c.shardBlock(defaultShard, tx)
		c.setHidden(1)
		c.master() // made but not served yet
		b.StartTimer()
		c.setHidden(0) // the block becomes available
		if h := <-got; h != hashOf(tx) {
			b.Fatalf("got %s", h)
		}
	}
}

// A node that is a block or two behind says "not found" for a fresh block:
// that is waited out, not mistaken for pruning (no backfill).
func TestListenerNotFoundNearHeadIsRetried(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	start := c.headSeqno()
	tx := c.tx(txOpts{to: f.service, from: f.alice, nano: 7, body: commentCell("STARS-near")})
	c.mine(tx)
	notFound := tonapi.LSError{Code: 651, Text: "block not found"}
	c.failNext("GetBlockData", notFound, notFound)
	r := newRecorder()
	run(t, NewListener(f.options()), f.cursorAt(start), r.fn)
	waitUntil(t, "payment", func() bool { return r.has(hashOf(tx)) })
	if n := c.callCount("GetBlockData"); n < 3 {
		t.Errorf("GetBlockData called %d times: the not-found answers were not met", n)
	}
	if n := c.callCount("ListTransactions"); n != 0 {
		t.Errorf("backfilled (%d ListTransactions) for a block near the head", n)
	}
}

// A liteserver behind the cursor (the restart landed on a slower node) is
// waited for, not taken for another chain.
func TestListenerCursorAheadOfNodeWaits(t *testing.T) {
	f := newFixture(t)
	c := f.chain
	c.mine()
	cursorSeq := c.mine()
	cursor := f.cursorAt(cursorSeq)
	tx := c.tx(txOpts{to: f.service, from: f.alice, nano: 8, body: commentCell("STARS-after")})
	c.mine(tx)
	c.setHidden(3) // the node only knows cursorSeq-2
	r := newRecorder()
	l := NewListener(f.options())
	run(t, l, cursor, r.fn)
	waitUntil(t, "polling", func() bool { return c.callCount("GetMasterchainInfo") > 5 })
	c.setHidden(0)
	waitUntil(t, "payment", func() bool { return r.has(hashOf(tx)) })
	if n := c.callCount("GetAccount"); n != 0 {
		t.Errorf("backfilled (%d GetAccount) for a node a few blocks behind", n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		if seq, _, _, _ := CursorInfo(b.Cursor); seq <= cursorSeq {
			t.Errorf("cursor went back to %s", b.Cursor)
		}
	}
}
