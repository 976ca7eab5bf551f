package ton

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

// Listener is the Source for testnet and mainnet: it follows the real chain
// through liteservers and reports every transaction on the watched accounts
// (the service wallet and the partners' top-up subwallets).
//
// # Following
//
// The masterchain is read block by block. Each masterchain block's id comes
// from the proven chain: the head GetMasterchainInfo verified (proof links
// from the trusted block, see Dial), and below it the prev_ref of each
// block's hash-checked data (provenMaster); LookupBlock's unproven answers are
// never used. An answer that fails a check (ErrUnproven) credits nothing: the
// scan is dropped, counted in Status, and retried on the next liteserver.
// For each masterchain block the listener takes the shard top blocks it
// commits (Merkle-proven against it) and, like tonutils-go's
// block-scan example, walks back through their parents to the tops committed
// by the previous masterchain block, so shard blocks that no masterchain
// block names directly are scanned too. Only blocks committed by a
// masterchain block are read, so everything reported is final. For each block
// it lists the transaction ids, loads those on watched accounts and converts
// them with TransferFromTx. All transfers of one masterchain block form one
// Batch; a run of empty blocks is reported as one empty Batch every
// CursorEvery blocks so the stored cursor keeps up without a write per block.
//
// # Cursor
//
// "mc:<seqno>:<utime>": the last masterchain block fully delivered and its
// generation time. Stream resumes at seqno+1, taking the shard tops committed
// by seqno as already seen. A crash between fn's commit and the next batch
// replays nothing; a crash inside fn replays that batch, which the shop
// ignores by transaction hash.
//
// # Backfill
//
// Liteservers keep recent blocks only. When the cursor is more than MaxGap
// blocks behind the chain, or a block the listener needs is reported missing
// while it is well behind the head, block following would be slow or
// impossible, so the listener switches to the accounts' own histories: for
// each watched account it takes the last transaction as of the current
// masterchain block H (GetAccount) and walks back with ListTransactions until
// transactions are older than the cursor's time minus BackfillMargin (a
// shard block can be committed by a masterchain block a little younger than
// itself). Everything found is delivered oldest first as one Batch with
// cursor H, and following resumes at H+1 with H's shard tops as seen: the
// account state at H contains exactly the transactions of the blocks H
// commits, so nothing falls between the two paths. Transfers before the
// boundary that were already delivered are replays the shop ignores. A page
// of history no liteserver (nor the Archive) serves is a gap: the cursor stays
// before it, what was read is delivered with the unchanged cursor, Status
// names the gap, and backfill is retried until the gap is read.
//
// On the very first start (empty cursor) the listener backfills from the
// moment Stream was called, so payments made while it was still connecting
// are not lost, then follows from the current block.
type Listener struct {
	opts    ListenerOptions
	log     *slog.Logger
	now     func() time.Time
	created time.Time

	mu      sync.RWMutex
	watched map[string]*address.Address // raw "wc:hex" → address
	// jettons are our jetton wallets (raw wallet address → what it is);
	// their addresses are in watched too.
	jettons map[string]JettonWallet
	// catchUp lists jetton wallets added by WatchJettons whose history
	// before the cursor has not been read yet (see catchUpJettons).
	catchUp       []JettonWallet
	nextCatchUp   time.Time
	connected     bool
	lastBlock     uint32
	lastBlockTime time.Time
	lastErr       string
	// proofFailures counts answers that failed verification; lastProof is
	// the latest, at lastProofAt.
	proofFailures uint64
	lastProof     string
	lastProofAt   time.Time
	// gap names the account history backfill could not read ("" when none
	// is held).
	gap string

	// seen holds recently delivered hashes so a block served twice (or a
	// backfill overlapping following) is not reported twice within one run.
	// Only the Stream goroutine touches it.
	seen *hashRing
}

// The listener is a chain source like the sandbox.
var _ Source = (*Listener)(nil)

// ListenerOptions configures a Listener. Zero durations take the defaults.
type ListenerOptions struct {
	// Network is reported in Status ("testnet" | "mainnet").
	Network string
	// Dial connects to the chain. Stream calls it in the background and keeps
	// retrying with exponential backoff (RetryMin..RetryMax) until it works.
	Dial func(ctx context.Context) (ChainAPI, error)
	// Watched are the initial accounts (any address form).
	Watched []string
	Log     *slog.Logger
	// Now is the clock for lag; time.Now when nil.
	Now func() time.Time

	// PollInterval is how often the head is polled when caught up and the
	// client cannot long-poll (default 1 s).
	PollInterval time.Duration
	// RetryMin and RetryMax bound the backoff after a failure (default: the
	// wait.Chain schedule, 1 s to 1 min).
	RetryMin, RetryMax time.Duration
	// MaxGap is how many masterchain blocks behind the listener may be and
	// still catch up block by block; beyond it, it backfills (default 200,
	// ten minutes or so). Catching up costs ~10-30 requests per block
	// whatever the number of accounts; backfill costs ~2 per watched account.
	MaxGap uint32
	// CursorEvery: a run of empty blocks is reported as one empty Batch at
	// least every CursorEvery blocks (default 20).
	CursorEvery uint32
	// BackfillMargin is subtracted from the cursor's time when backfilling
	// (default 10 min).
	BackfillMargin time.Duration
	// Archive, when set, connects to archival liteservers (ton.archive_config_url);
	// backfill asks them for account history the regular servers no longer keep.
	Archive func(ctx context.Context) (ChainAPI, error)
}

// Defaults of ListenerOptions.
const (
	DefaultPollInterval   = time.Second
	DefaultMaxGap         = 200
	DefaultCursorEvery    = 20
	DefaultBackfillMargin = 10 * time.Minute
)

// ProofAlertWindow is how long after a failed verification Status keeps an
// alert (so /health shows it to whoever looks within that time).
const ProofAlertWindow = 10 * time.Minute

// goneMinLag: a "block not found" for a block at least this far behind the
// head means the liteserver pruned it; closer to the head it is just a node
// a few blocks behind its peers, and waiting is the cure.
const goneMinLag = 8

// NewListener returns a Listener; nothing connects until Stream runs.
func NewListener(opts ListenerOptions) *Listener {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = wait.Chain.Base
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(wait.Chain.Max, opts.RetryMin)
	}
	if opts.MaxGap == 0 {
		opts.MaxGap = DefaultMaxGap
	}
	if opts.CursorEvery == 0 {
		opts.CursorEvery = DefaultCursorEvery
	}
	if opts.BackfillMargin <= 0 {
		opts.BackfillMargin = DefaultBackfillMargin
	}
	l := &Listener{
		opts:    opts,
		log:     opts.Log,
		now:     opts.Now,
		watched: map[string]*address.Address{},
		jettons: map[string]JettonWallet{},
		seen:    newHashRing(1 << 14),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("component", "ton-listener", "network", opts.Network)
	if l.now == nil {
		l.now = time.Now
	}
	l.created = l.now()
	l.Watch(opts.Watched...)
	return l
}

// Watch adds accounts (any address form) to the watched set; safe to call
// while Stream runs (the shop calls it when a partner is created).
// Transactions of blocks already scanned are not revisited.
func (l *Listener) Watch(addrs ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range addrs {
		a, err := ParseAddress(s)
		if err != nil {
			l.log.Warn("ignoring unparsable watched address", "address", s, "err", err)
			continue
		}
		l.watched[a.StringRaw()] = a
	}
}

// WatchJettons adds our jetton wallets (the shop pins each one once, see
// ResolveJettonWallet): transactions on them are read with
// JettonTransferFromTx and reported with the wallet's owner as To. Safe while
// Stream runs. A wallet watched for the first time has its whole history up
// to the cursor read once (a payment may have reached it before it was
// pinned), then it is followed like every account.
func (l *Listener) WatchJettons(ws ...JettonWallet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range ws {
		a, err := ParseAddress(w.Wallet)
		if err != nil {
			l.log.Warn("ignoring unparsable jetton wallet", "wallet", w.Wallet, "err", err)
			continue
		}
		raw := a.StringRaw()
		if _, ok := l.jettons[raw]; ok {
			continue
		}
		w.Wallet = raw
		l.jettons[raw] = w
		l.watched[raw] = a
		l.catchUp = append(l.catchUp, w)
	}
}

func (l *Listener) jettonWallet(raw string) (JettonWallet, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	w, ok := l.jettons[raw]
	return w, ok
}

// convert reads a transaction of a watched account: a jetton wallet's with
// JettonTransferFromTx, any other with TransferFromTx; then classify.
func (l *Listener) convert(workchain int32, tx *tlb.Transaction) (Transfer, bool) {
	var (
		t  Transfer
		ok bool
	)
	if w, isJetton := l.jettonWallet(accountRaw(workchain, tx.AccountAddr)); isJetton {
		t, ok = JettonTransferFromTx(w, workchain, tx)
	} else {
		t, ok = TransferFromTx(workchain, tx)
	}
	if !ok {
		return t, false
	}
	return l.classify(t), true
}

func (l *Listener) isWatched(raw string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.watched[raw]
	return ok
}

func (l *Listener) watchedList() []*address.Address {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*address.Address, 0, len(l.watched))
	for _, a := range l.watched {
		out = append(out, a)
	}
	return out
}

// Status reports connectivity and how far behind the chain the listener is.
// Before the first block is processed the lag counts from the listener's
// creation, so a listener that never gets going turns degraded after a minute.
func (l *Listener) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	ref := l.lastBlockTime
	if ref.IsZero() {
		ref = l.created
	}
	lag := l.now().Sub(ref).Seconds()
	if lag < 0 {
		lag = 0
	}
	st := Status{
		Network:          l.opts.Network,
		Connected:        l.connected,
		LastBlock:        l.lastBlock,
		LastBlockTime:    l.lastBlockTime,
		LagSeconds:       lag,
		Error:            l.lastErr,
		ProofFailures:    l.proofFailures,
		LastProofFailure: l.lastProof,
		HistoryGap:       l.gap,
	}
	switch {
	case l.gap != "":
		st.Alert = "account history gap held (the cursor waits before it): " + l.gap
	case !l.lastProofAt.IsZero() && l.now().Sub(l.lastProofAt) < ProofAlertWindow:
		st.Alert = fmt.Sprintf("a liteserver answer failed verification %s ago and was not used: %s",
			l.now().Sub(l.lastProofAt).Round(time.Second), l.lastProof)
	}
	return st
}

// proofFailed records an answer that failed verification.
func (l *Listener) proofFailed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.proofFailures++
	l.lastProofAt = l.now()
	l.lastProof = l.lastProofAt.UTC().Format(time.RFC3339) + ": " + err.Error()
}

func (l *Listener) setGap(gap string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gap = gap
}

func (l *Listener) setFailure(connected bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.connected = connected
	l.lastErr = err.Error()
}

func (l *Listener) setConnected() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.connected = true
	l.lastErr = ""
}

func (l *Listener) setProgress(seqno uint32, gen time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.connected = true
	l.lastErr = ""
	l.lastBlock = seqno
	l.lastBlockTime = gen
}

// Stream implements Source: see the Listener doc for the cursor and the
// order of batches. It connects (Dial) in the background of the caller's
// goroutine and never gives up: failures are retried with backoff and shown
// in Status. It returns nil when ctx ends, and an error only for a cursor it
// cannot read (never written by this package) or a missing Dial. One Stream
// at a time per Listener.
func (l *Listener) Stream(ctx context.Context, cursor string, fn func(context.Context, Batch) error) error {
	cur, ok, err := parseCursor(cursor)
	if err != nil {
		return err
	}
	if l.opts.Dial == nil {
		return errors.New("ton: listener has no Dial function")
	}
	pos := position{cursor: cur, fresh: !ok, since: l.now(), lastSent: cur.seqno}
	bo := l.backoff()

	var (
		api ChainAPI
		// node binds the scans to one liteserver; after an answer failed
		// verification it moves to the next one.
		node context.Context
	)
	for ctx.Err() == nil {
		if api == nil {
			api, err = l.opts.Dial(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				l.setFailure(false, fmt.Errorf("dial: %w", err))
				d := bo.next()
				l.log.Warn("cannot connect to liteservers; retrying", "err", err, "retry_in", d)
				wait.Sleep(ctx, d)
				continue
			}
			l.setConnected()
			l.log.Info("connected to liteservers")
			bo.reset()
			node = nil
		}
		if node == nil {
			node = sticky(ctx, api)
		}
		progressed, err := l.follow(node, api, &pos, fn)
		if ctx.Err() != nil {
			break
		}
		if progressed {
			bo.reset()
		}
		l.setFailure(false, err)
		if errors.Is(err, ErrUnproven) {
			// Nothing of the scan that met it was delivered. Drop what was
			// learnt through that server and ask another.
			l.proofFailed(err)
			pos.mc = nil
			node = nextNode(node, api)
			l.log.Error("a liteserver answer failed verification; nothing from it was used, asking another liteserver",
				"err", err, "cursor", pos.cursor.String())
		} else {
			node = nil
		}
		d := bo.next()
		l.log.Warn("chain scan failed; retrying", "err", err, "cursor", pos.cursor.String(), "retry_in", d)
		wait.Sleep(ctx, d)
	}
	return nil
}

// position is where following stands in memory. It may run ahead of the
// cursor the shop has stored (empty blocks are not all reported).
type position struct {
	cursor listenerCursor
	// fresh: no cursor yet; backfill from since, then follow.
	fresh bool
	since time.Time
	// lastSent is the seqno of the last batch fn accepted.
	lastSent uint32
	// mc holds the proven masterchain block ids known (see provenMaster),
	// from the cursor up to the newest head.
	mc map[uint32]*mcBlock
	// archive is the archival liteservers' client, once dialled.
	archive ChainAPI
}

// remember adds a proven masterchain block id; two different ids for one
// seqno mean the proofs contradict each other.
func (p *position) remember(id *blockID) error {
	if p.mc == nil {
		p.mc = map[uint32]*mcBlock{}
	}
	if b := p.mc[id.SeqNo]; b != nil {
		if !b.id.Equals(id) {
			return unproven("masterchain link", "two different blocks %d: %x and %x", id.SeqNo, b.id.RootHash, id.RootHash)
		}
		return nil
	}
	p.mc[id.SeqNo] = &mcBlock{id: id.Copy()}
	return nil
}

// forget drops proven ids below seqno (the cursor).
func (p *position) forget(below uint32) {
	for s := range p.mc {
		if s < below {
			delete(p.mc, s)
		}
	}
}

// follow scans from pos until an error or ctx ends; progressed says whether
// any batch was delivered (to reset the backoff).
func (l *Listener) follow(ctx context.Context, api ChainAPI, pos *position, fn func(context.Context, Batch) error) (progressed bool, err error) {
	head, err := api.GetMasterchainInfo(ctx)
	if err != nil {
		return false, fmt.Errorf("masterchain info: %w", err)
	}

	// A node a few blocks behind the one that produced the cursor: wait for
	// it rather than mistaking the cursor for one from another chain.
	for !pos.fresh && pos.cursor.seqno > head.SeqNo && pos.cursor.seqno-head.SeqNo <= l.opts.MaxGap {
		if head, err = l.waitHead(ctx, api, head, pos.cursor.seqno); err != nil {
			return false, err
		}
	}

	var shards shardTops
	switch {
	case pos.fresh:
		l.log.Info("no cursor yet: collecting transfers since start, then following", "head", head.SeqNo)
		if shards, err = l.backfill(ctx, api, head, pos.since, pos, fn); err != nil {
			return false, err
		}
		progressed = true
	case pos.cursor.seqno > head.SeqNo || head.SeqNo-pos.cursor.seqno > l.opts.MaxGap:
		l.log.Warn("cursor too far from the chain head: backfilling accounts",
			"cursor", pos.cursor.String(), "head", head.SeqNo, "max_gap", l.opts.MaxGap)
		if shards, err = l.backfill(ctx, api, head, pos.cursor.time().Add(-l.opts.BackfillMargin), pos, fn); err != nil {
			return false, err
		}
		progressed = true
	default:
		shards, err = l.shardsAt(ctx, api, head, pos.cursor.seqno, pos)
		if isGone(err) && head.SeqNo-pos.cursor.seqno >= goneMinLag {
			l.log.Warn("cursor block no longer on the liteserver: backfilling accounts", "cursor", pos.cursor.String(), "err", err)
			if shards, err = l.backfill(ctx, api, head, pos.cursor.time().Add(-l.opts.BackfillMargin), pos, fn); err != nil {
				return false, err
			}
			progressed = true
		} else if err != nil {
			return false, err
		}
	}

	for {
		if err := l.catchUpJettons(ctx, api, head, pos, fn); err != nil {
			return progressed, err
		}
		next := pos.cursor.seqno + 1
		for next > head.SeqNo {
			if head, err = l.waitHead(ctx, api, head, next); err != nil {
				return progressed, err
			}
		}
		res, err := l.scanMaster(ctx, api, head, next, shards, pos)
		if err != nil {
			if isGone(err) && head.SeqNo-next >= goneMinLag {
				l.log.Warn("block no longer on the liteserver: backfilling accounts", "seqno", next, "err", err)
				if shards, err = l.backfill(ctx, api, head, pos.cursor.time().Add(-l.opts.BackfillMargin), pos, fn); err != nil {
					return progressed, err
				}
				progressed = true
				continue
			}
			return progressed, fmt.Errorf("masterchain block %d: %w", next, err)
		}
		shards = res.shards
		cur := listenerCursor{seqno: next, utime: res.genUtime}
		if len(res.transfers) > 0 || next-pos.lastSent >= l.opts.CursorEvery {
			if err := l.deliver(ctx, Batch{Transfers: res.transfers, Cursor: cur.String()}, fn); err != nil {
				return progressed, err
			}
			pos.lastSent = next
			progressed = true
		}
		pos.cursor = cur
		pos.forget(next)
		l.setProgress(next, cur.time())
	}
}

// catchUpRetry is how long a jetton wallet whose history could not be read
// waits before catchUpJettons tries it again.
const catchUpRetry = 30 * time.Second

// catchUpJettons reads the whole history, up to the cursor's masterchain
// block, of each jetton wallet WatchJettons added since, and delivers it with
// the unchanged cursor (what was already delivered is a replay the shop
// ignores by hash). From the cursor on, following reads those wallets like
// every watched account, so nothing falls between the two. A wallet whose
// history cannot be read now stays on the list and is tried again after
// catchUpRetry, without holding up following.
func (l *Listener) catchUpJettons(ctx context.Context, api ChainAPI, head *blockID, pos *position, fn func(context.Context, Batch) error) error {
	l.mu.Lock()
	todo := l.catchUp
	due := !l.now().Before(l.nextCatchUp)
	l.mu.Unlock()
	if len(todo) == 0 || pos.fresh || !due {
		return nil
	}
	mb, err := l.provenMaster(ctx, api, head, pos.cursor.seqno, pos)
	if err != nil {
		return fmt.Errorf("jetton wallets' history: %w", err)
	}
	var (
		all    []Transfer
		done   = map[string]bool{}
		failed []string
	)
	for _, w := range todo {
		a, err := ParseAddress(w.Wallet)
		if err != nil {
			done[w.Wallet] = true
			continue
		}
		ts, gap, err := l.accountSince(ctx, api, mb.id, a, time.Time{}, pos)
		if err == nil && gap != nil {
			err = errors.New(gap.String())
		}
		if err != nil {
			if errors.Is(err, ErrUnproven) || ctx.Err() != nil {
				return fmt.Errorf("jetton wallet %s history: %w", w.Wallet, err)
			}
			failed = append(failed, fmt.Sprintf("%s: %v", w.Wallet, err))
			continue
		}
		all = append(all, ts...)
		done[w.Wallet] = true
	}
	sortTransfers(all)
	if len(all) > 0 {
		if err := l.deliver(ctx, Batch{Transfers: all, Cursor: pos.cursor.String()}, fn); err != nil {
			return err
		}
	}
	l.mu.Lock()
	rest := l.catchUp[:0:0]
	for _, w := range l.catchUp {
		if !done[w.Wallet] {
			rest = append(rest, w)
		}
	}
	l.catchUp = rest
	if len(failed) > 0 {
		l.nextCatchUp = l.now().Add(catchUpRetry)
	}
	l.mu.Unlock()
	if len(failed) > 0 {
		l.log.Warn("jetton wallet history not readable yet; following goes on, retrying", "wallets", failed, "retry_in", catchUpRetry)
	} else if len(done) > 0 {
		l.log.Info("jetton wallets caught up", "wallets", len(done), "transfers", len(all), "cursor", pos.cursor.String())
	}
	return nil
}

// waitHead returns a head at or after want, or the same head after a short
// wait. With the real client the liteserver holds the query until the block
// exists; otherwise it polls.
func (l *Listener) waitHead(ctx context.Context, api ChainAPI, head *blockID, want uint32) (*blockID, error) {
	if w, ok := api.(blockWaiter); ok {
		if h, err := w.WaitForBlock(want).GetMasterchainInfo(ctx); err == nil && h.SeqNo >= want {
			return h, nil
		}
		// A long-poll that timed out is not a failure; fall through to a
		// plain query that tells whether the node is alive.
	}
	h, err := api.GetMasterchainInfo(ctx)
	if err != nil {
		return head, fmt.Errorf("masterchain info: %w", err)
	}
	if h.SeqNo >= want {
		return h, nil
	}
	if !wait.Sleep(ctx, l.opts.PollInterval) {
		return head, ctx.Err()
	}
	return h, nil
}

// deliver hands a batch to fn until fn accepts it, dropping transfers this
// run already delivered. An empty batch still goes out: it moves the cursor.
func (l *Listener) deliver(ctx context.Context, b Batch, fn func(context.Context, Batch) error) error {
	fresh := b.Transfers[:0:0]
	inBatch := map[string]bool{}
	for _, t := range b.Transfers {
		if l.seen.has(t.Hash) || inBatch[t.Hash] {
			continue
		}
		inBatch[t.Hash] = true
		fresh = append(fresh, t)
	}
	b.Transfers = fresh
	bo := l.backoff()
	for {
		err := fn(ctx, b)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := bo.next()
		l.log.Error("recording a batch failed; retrying the same batch", "err", err, "cursor", b.Cursor, "transfers", len(b.Transfers), "retry_in", d)
		if !wait.Sleep(ctx, d) {
			return ctx.Err()
		}
	}
	for _, t := range b.Transfers {
		l.seen.add(t.Hash)
	}
	if len(b.Transfers) > 0 {
		l.log.Info("transfers recorded", "cursor", b.Cursor, "count", len(b.Transfers))
	}
	return nil
}

// isGone reports an error by which the liteserver says it does not have the
// requested data (as opposed to a network failure).
func isGone(err error) bool {
	if err == nil {
		return false
	}
	var ls tonapi.LSError
	return errors.Is(err, tonapi.ErrBlockNotFound) || errors.As(err, &ls)
}

// backoff counts failures in a row and hands out their delays (the
// wait.Chain schedule, with the listener's bounds).
type backoff struct {
	sched wait.Exp
	n     int
}

func (l *Listener) backoff() *backoff {
	s := wait.Chain
	s.Base, s.Max = l.opts.RetryMin, l.opts.RetryMax
	return &backoff{sched: s}
}

func (b *backoff) next() time.Duration {
	b.n++
	return b.sched.After(b.n)
}

func (b *backoff) reset() { b.n = 0 }

// hashRing remembers the last n hashes added.
type hashRing struct {
	set  map[string]struct{}
	ring []string
	pos  int
}

func newHashRing(n int) *hashRing {
	return &hashRing{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (r *hashRing) has(h string) bool { _, ok := r.set[h]; return ok }

func (r *hashRing) add(h string) {
	if r.has(h) {
		return
	}
	if old := r.ring[r.pos]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.pos] = h
	r.set[h] = struct{}{}
	r.pos = (r.pos + 1) % len(r.ring)
}
