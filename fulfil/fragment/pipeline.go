package fragment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/money"
)

// The delivery pipeline. Deliver calls run concurrently (the shop runs up to
// MaxConcurrent of them); each asks Fragment for its payment link (at most
// Concurrency at a time) once it holds one of the Ahead slots, then hands the
// payment to the batcher. The batcher waits for the wallet's previous batch,
// takes every payment ready by then (up to the wallet's limit), records the
// batch and each order's message in the store in one transaction, and
// broadcasts it: while one batch is in flight, the next one fills. The
// resolver looks every open batch up on chain once per PollInterval and
// records each payment's outcome (paid, bounced, unpaid); the Deliver calls
// waiting on them wake up and finish.

// item is one order's payment waiting for a batch.
type item struct {
	orderID int64
	kind    domain.Kind
	offer   offer
	to      *address.Address
	payload *cell.Cell
	log     *slog.Logger
	done    chan placed // buffered; the batcher answers once
	// gaveUp (under pl.mu): the caller's context ended while the batcher
	// held it; if the batcher puts it back unsent it answers this instead.
	gaveUp error
}

// placed is where a payment went: recorded in a batch (msg), or not (err:
// a funds hold, an expired link, a failure before recording).
type placed struct {
	msg *domain.PayerMessage
	err error
}

// openBatch is a recorded batch not settled yet.
type openBatch struct {
	rec      domain.PayerBatch
	msgs     []domain.PayerMessage
	sent     SentBatch
	lastSend time.Time
	held     *BatchOutcome // set while it cannot be settled (Hold: the view is behind, the wallet's history unread, …)
	detail   string        // why the last look-up left it pending, if it said
	changed  chan struct{} // closed (and replaced) when something changes
	// looked: a resolver pass that succeeded has covered it (or this
	// pipeline signed it). Until every open batch is looked, nothing is
	// signed: which batch is held lives in memory only, so after a restart
	// a batch displaced by a foreign message is known as such only once it
	// has been looked up (gate).
	looked bool
}

type pipeline struct {
	p      *Provider
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	ahead  chan struct{} // payments with a link, not yet in a batch
	offers chan struct{} // payment links being requested

	mu       sync.Mutex
	ready    []*item
	wake     chan struct{}
	open     map[int64]*openBatch
	kick     chan struct{}
	confirms chan confirmJob
	err      error          // the start failed (store unreadable): Deliver reports it
	released map[int64]bool // orders an operator's release completed: never paid
	// round counts the resolver's passes; roundDone is closed (and
	// replaced) at the end of each.
	round     uint64
	roundDone chan struct{}
	// lookErr is the last failed pass's error, lookErrAt when it failed,
	// failingSince when the current run of failed passes began (zero once
	// a pass succeeds).
	lookErr      string
	lookErrAt    time.Time
	failingSince time.Time
}

type confirmJob struct {
	kind   domain.Kind
	method string
	params map[string]string
	boc    string
}

// startPipeline returns the running pipeline, or loads the open batches
// from the store (so the wallet's next batch waits for them and their
// payments are followed) and starts the batcher, the resolver and the
// confirm workers. A pipeline whose start failed (err set) is not kept:
// the next call tries again.
func (p *Provider) startPipeline() *pipeline {
	p.pipeMu.Lock()
	defer p.pipeMu.Unlock()
	if pl := p.pipe.Load(); pl != nil {
		return pl
	}
	if p.closed {
		return &pipeline{err: errClosed}
	}
	ctx, cancel := context.WithCancel(context.Background())
	pl := &pipeline{p: p, ctx: ctx, cancel: cancel,
		ahead:     make(chan struct{}, p.opt.Ahead),
		offers:    make(chan struct{}, p.opt.Concurrency),
		wake:      make(chan struct{}, 1),
		kick:      make(chan struct{}, 1),
		roundDone: make(chan struct{}),
		open:      map[int64]*openBatch{},
		released:  map[int64]bool{},
		confirms:  make(chan confirmJob, 4096),
	}
	batches, err := p.records.OpenBatches(ctx)
	if err == nil {
		for _, b := range batches {
			if err = pl.track(b.ID); err != nil {
				break
			}
		}
	}
	if err != nil {
		cancel()
		pl.err = fmt.Errorf("fragment: reading the open payment batches: %w", err)
		p.log.Error("fragment: cannot read the open payment batches; nothing is paid until the store is readable", "err", err)
		return pl
	}
	p.pipe.Store(pl)
	if len(batches) > 0 {
		p.log.Info("fragment: following payment batches recorded before the restart", "batches", len(batches))
	}
	pl.wg.Add(2)
	go func() { defer pl.wg.Done(); pl.batcher() }()
	go func() { defer pl.wg.Done(); pl.resolver() }()
	for range confirmWorkers {
		pl.wg.Add(1)
		go func() { defer pl.wg.Done(); pl.confirmer() }()
	}
	return pl
}

// errClosed: the provider was closed; no pipeline starts.
var errClosed = errors.New("fragment: provider closed")

// stopPipeline stops pl and forgets it if it is still the running one.
func (p *Provider) stopPipeline(pl *pipeline) {
	p.pipeMu.Lock()
	p.pipe.CompareAndSwap(pl, nil)
	p.pipeMu.Unlock()
	pl.stop()
}

// confirmWorkers post confirm_method calls, best effort, beside the links.
const confirmWorkers = 2

// stop ends the pipeline's goroutines.
func (pl *pipeline) stop() {
	pl.cancel()
	pl.wg.Wait()
}

// track follows batch id (loaded from the store) until it is settled; a
// batch already followed or settled is left alone.
func (pl *pipeline) track(id int64) error {
	pl.mu.Lock()
	_, ok := pl.open[id]
	pl.mu.Unlock()
	if ok {
		return nil
	}
	rec, msgs, err := pl.p.records.BatchWithMessages(pl.ctx, id)
	if err != nil {
		return err
	}
	if !rec.Open() {
		return nil
	}
	pl.add(rec, msgs, false)
	pl.p.wallet.Resume(sentOf(rec, msgs))
	return nil
}

// add follows batch rec; looked says whether this pipeline knows it
// already (it signed it) or it waits for a look-up (loaded from the store).
func (pl *pipeline) add(rec *domain.PayerBatch, msgs []domain.PayerMessage, looked bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if _, ok := pl.open[rec.ID]; ok {
		return
	}
	pl.open[rec.ID] = &openBatch{rec: *rec, msgs: msgs, sent: sentOf(rec, msgs), lastSend: rec.CreatedAt,
		looked: looked, changed: make(chan struct{})}
	select {
	case pl.kick <- struct{}{}:
	default:
	}
}

// sentOf rebuilds what the payer signed from the records.
func sentOf(rec *domain.PayerBatch, msgs []domain.PayerMessage) SentBatch {
	s := SentBatch{Wallet: rec.Wallet, Seqno: rec.Seqno, ExtHash: rec.ExtHash, BOC: rec.BOC, ValidUntil: rec.ValidUntil,
		AfterLT: rec.AfterLT, PreparedAt: rec.CreatedAt.Unix(), FeeNano: rec.FeeNano}
	for _, m := range msgs {
		pfx, bits := "", 0
		if c, err := decodePayload(m.Payload); err == nil {
			pfx, bits = bouncePrefix(c)
		}
		s.Messages = append(s.Messages, SentItem{To: m.To, AmountNano: m.AmountNano, PayloadHash: m.PayloadHash, BouncePfx: pfx, BounceBits: bits})
	}
	return s
}

// submit hands it to the batcher and waits until it is recorded in a batch
// (or not). The caller holds an ahead slot; it is released here.
func (pl *pipeline) submit(ctx context.Context, it *item) placed {
	defer func() { <-pl.ahead }()
	pl.mu.Lock()
	pl.ready = append(pl.ready, it)
	pl.mu.Unlock()
	select {
	case pl.wake <- struct{}{}:
	default:
	}
	select {
	case r := <-it.done:
		return r
	case <-ctx.Done():
	}
	// Taken back unless the batcher already has it, in which case its
	// answer is on the way (it may record it: the caller then resumes it
	// from the store).
	pl.mu.Lock()
	if i := slices.Index(pl.ready, it); i >= 0 {
		pl.ready = slices.Delete(pl.ready, i, i+1)
		pl.mu.Unlock()
		return placed{err: ctx.Err()}
	}
	it.gaveUp = ctx.Err()
	pl.mu.Unlock()
	return <-it.done
}

// batcher sends the ready payments, one batch per wallet message, as soon
// as the wallet may sign the next one.
func (pl *pipeline) batcher() {
	p := pl.p
	for {
		pl.mu.Lock()
		n := len(pl.ready)
		pl.mu.Unlock()
		if n == 0 {
			select {
			case <-pl.ctx.Done():
				return
			case <-pl.wake:
			}
			continue
		}
		if _, round := pl.gate(); round != nil { // a batch from before the start not looked up yet
			select {
			case <-pl.ctx.Done():
				return
			case <-round:
			}
			continue
		}
		if err := p.wallet.Ready(pl.ctx); err != nil {
			if pl.ctx.Err() != nil {
				return
			}
			p.log.Warn("fragment: waiting for the previous payment batch", "err", err)
			wait(pl.ctx, p.opt.PollInterval)
			continue
		}
		pl.mu.Lock()
		take := pl.ready[:min(len(pl.ready), p.wallet.MaxMessages())]
		pl.ready = slices.Clone(pl.ready[len(take):])
		pl.mu.Unlock()
		pl.send(take)
	}
}

// send records and broadcasts one batch of take; what does not fit goes
// back to the front of the queue, or is held when the wallet cannot pay it.
func (pl *pipeline) send(take []*item) {
	p := pl.p
	now := p.now()
	var ok []*item
	for _, it := range take {
		if left := it.offer.ValidUntil.Sub(now); left < p.opt.MinLinkValidity {
			it.done <- placed{err: errLinkTooShort}
			continue
		}
		ok = append(ok, it)
	}
	if len(ok) == 0 {
		return
	}
	// Something else signs with the wallet: nothing more is signed until an
	// operator has settled the batch it displaced. A batch not looked up
	// yet may be such a batch: wait for the resolver's pass.
	if h, round := pl.gate(); h != nil {
		for _, it := range ok {
			it.done <- placed{err: h}
		}
		return
	} else if round != nil {
		pl.requeue(ok)
		return
	}
	msgs := make([]Message, len(ok))
	for i, it := range ok {
		msgs[i] = Message{To: it.to, AmountNano: it.offer.AmountNano, Payload: it.payload, ValidUntil: it.offer.ValidUntil}
	}
	var rec *domain.PayerBatch
	var recs []domain.PayerMessage
	sent, err := p.wallet.SendBatch(pl.ctx, msgs, p.opt.FeeReserveNano, func(ctx context.Context, s SentBatch) error {
		// Again at the last moment: waiting for the previous batch can
		// take a while, and a pass may have found a displaced batch (or
		// one from another instance was loaded) meanwhile.
		if h, round := pl.gate(); h != nil {
			return h
		} else if round != nil {
			return errNotLooked
		}
		if err := p.checkBatch(ctx, s); err != nil {
			return err
		}
		b, ms := pl.records(s, ok[:len(s.Messages)])
		if err := p.records.RecordBatch(ctx, b, ms); err != nil {
			return fmt.Errorf("fragment: record payment batch: %w", err)
		}
		rec, recs = b, ms
		return nil
	})
	if rec == nil && errors.Is(err, errNotLooked) {
		pl.requeue(ok)
		return
	}
	if rec == nil { // nothing recorded: nothing was broadcast
		for _, it := range ok {
			it.done <- placed{err: err}
		}
		return
	}
	if err != nil {
		p.log.Warn("fragment: payment batch recorded, broadcast failed; it is sent again until it runs or expires",
			"batch", rec.ID, "seqno", rec.Seqno, "err", err)
	}
	pl.add(rec, recs, true)
	if p.opt.Observer != nil {
		p.opt.Observer.PaymentBatchSent(len(recs))
	}
	p.log.Info("fragment: payment batch sent", "batch", rec.ID, "seqno", rec.Seqno, "payments", rec.Messages,
		"total_ton", money.FormatTON(rec.TotalNano), "valid_until", time.Unix(rec.ValidUntil, 0).UTC().Format(time.RFC3339))
	for i := range recs {
		it := ok[i]
		it.done <- placed{msg: &recs[i]}
		if recs[i].ConfirmMethod != "" {
			select {
			case pl.confirms <- confirmJob{kind: it.kind, method: recs[i].ConfirmMethod, params: recs[i].ConfirmParams, boc: sent.BOC}:
			default: // best effort
			}
		}
	}
	rest := ok[len(recs):]
	if len(rest) == 0 {
		return
	}
	// Not carried: the wallet could not cover them (held), or the message
	// grew too large (next batch).
	left := sent.Balance - rec.TotalNano - rec.FeeNano
	var back []*item
	for _, it := range rest {
		need := it.offer.AmountNano + p.wallet.Fee(1) + p.opt.FeeReserveNano
		if left < need {
			it.done <- placed{err: fundsHold(left, need)}
			continue
		}
		back = append(back, it)
	}
	pl.requeue(back)
}

// requeue puts items back at the front of the queue, in order; an item
// whose caller gave up meanwhile is answered instead (it was not recorded:
// nothing else would ever answer it).
func (pl *pipeline) requeue(items []*item) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	back := make([]*item, 0, len(items))
	for _, it := range items {
		if it.gaveUp != nil {
			it.done <- placed{err: it.gaveUp}
			continue
		}
		back = append(back, it)
	}
	pl.ready = append(back, pl.ready...)
}

// errNotLooked: a batch loaded from the store has not been looked up yet;
// the payments wait for the resolver's next pass.
var errNotLooked = errors.New("fragment: an open payment batch has not been looked up on chain yet")

// gate says whether a batch may be signed now: h is the hold of an open
// batch whose seqno a message this service did not sign took (nothing is
// signed while it is open); else round, when not nil, is the end of the
// resolver's pass to wait for, as an open batch has not been looked up yet.
// One look under one lock: a pass records a batch's hold before it marks
// the batch looked.
func (pl *pipeline) gate() (h *fulfil.Hold, round <-chan struct{}) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if h := pl.elsewhereLocked(); h != nil {
		return h, nil
	}
	for _, b := range pl.open {
		if !b.looked {
			return nil, pl.roundDone
		}
	}
	return nil, nil
}

// elsewhere is the hold of an open batch whose seqno a message this service
// did not sign took, if any.
func (pl *pipeline) elsewhere() *fulfil.Hold {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.elsewhereLocked()
}

func (pl *pipeline) elsewhereLocked() *fulfil.Hold {
	for _, b := range pl.open {
		if b.held != nil && b.held.Hold == fulfil.HoldWalletElsewhere {
			return &fulfil.Hold{Reason: fulfil.HoldWalletElsewhere, Detail: fmt.Sprintf(
				"nothing is paid from the service wallet while batch %d (seqno %d) is unsettled: %s", b.rec.ID, b.rec.Seqno, b.held.Detail)}
		}
	}
	return nil
}

var errLinkTooShort = errors.New("fragment: the payment link expires too soon to be paid")

// records are the store records of batch s carrying items.
func (pl *pipeline) records(s SentBatch, items []*item) (*domain.PayerBatch, []domain.PayerMessage) {
	b := &domain.PayerBatch{Wallet: s.Wallet, Seqno: s.Seqno, ExtHash: s.ExtHash, BOC: s.BOC, ValidUntil: s.ValidUntil,
		AfterLT: s.AfterLT, CreatedAt: time.Unix(s.PreparedAt, 0).UTC(), Messages: len(items), FeeNano: s.FeeNano}
	ms := make([]domain.PayerMessage, len(items))
	for i, it := range items {
		b.TotalNano += it.offer.AmountNano
		ms[i] = domain.PayerMessage{Index: i, OrderID: it.orderID, Kind: it.kind, ReqID: it.offer.ReqID,
			To: s.Messages[i].To, AmountNano: it.offer.AmountNano, Payload: it.offer.Payload, PayloadHash: s.Messages[i].PayloadHash,
			LinkValidUntil: it.offer.ValidUntil.Unix()}
		if c := it.offer.Confirm; c != nil {
			ms[i].ConfirmMethod, ms[i].ConfirmParams = c.Method, c.Params
		}
	}
	return b, ms
}

// resolver looks the open batches up once per PollInterval.
func (pl *pipeline) resolver() {
	p := pl.p
	t := time.NewTicker(p.opt.PollInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-pl.ctx.Done():
			return
		case <-t.C:
		case <-pl.kick:
		}
		err := pl.resolve()
		pl.mu.Lock()
		pl.round++
		close(pl.roundDone)
		pl.roundDone = make(chan struct{})
		switch {
		case err != nil && pl.ctx.Err() == nil:
			pl.lookErr, pl.lookErrAt = err.Error(), p.now()
			if pl.failingSince.IsZero() {
				pl.failingSince = pl.lookErrAt
			}
		case err == nil:
			pl.failingSince = time.Time{}
		}
		pl.mu.Unlock()
		if err != nil && pl.ctx.Err() == nil && p.opt.Observer != nil {
			p.opt.Observer.PaymentLookupFailed()
		}
		switch {
		case err != nil && pl.ctx.Err() == nil && !failing:
			p.log.Warn("fragment: looking the payment batches up failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			p.log.Info("fragment: payment batch lookups work again")
			failing = false
		}
	}
}

// resolve looks every open batch up once and records what is settled.
func (pl *pipeline) resolve() error {
	p := pl.p
	// A snapshot taken under the lock: Reread and reread replace a batch's
	// records while the wallet is being looked up.
	type snap struct {
		b    *openBatch
		rec  domain.PayerBatch
		msgs []domain.PayerMessage
		sent SentBatch
	}
	pl.mu.Lock()
	var bs []snap
	for _, b := range pl.open {
		bs = append(bs, snap{b: b, rec: b.rec, msgs: slices.Clone(b.msgs), sent: b.sent})
	}
	pl.mu.Unlock()
	if len(bs) == 0 {
		return nil
	}
	slices.SortFunc(bs, func(a, b snap) int { return cmp.Compare(a.rec.ID, b.rec.ID) })
	sents := make([]SentBatch, len(bs))
	for i, s := range bs {
		sents[i] = s.sent
	}
	outs, err := p.wallet.Lookup(pl.ctx, sents)
	if err != nil {
		return err
	}
	now := p.now()
	type change struct {
		b    *openBatch
		rec  domain.PayerBatch
		msgs []domain.PayerMessage
		idx  []int // messages changed
	}
	var changes []change
	for i, s := range bs {
		b, out := s.b, outs[i]
		c := change{b: b, rec: s.rec, msgs: s.msgs}
		settle := func(j int, outcome, destTx, detail string) {
			if c.msgs[j].Outcome != domain.PaymentPending {
				return
			}
			at := now
			c.msgs[j].Outcome, c.msgs[j].ResolvedAt, c.msgs[j].DestTxHash, c.msgs[j].Detail = outcome, &at, destTx, detail
			c.idx = append(c.idx, j)
		}
		switch out.Status {
		case StatusConfirmed:
			c.rec.TxHash = out.TxHash
			for j, it := range out.Items {
				switch it.Status {
				case StatusConfirmed:
					settle(j, domain.PaymentPaid, it.DestTx, it.Detail)
				case StatusBounced:
					settle(j, domain.PaymentBounced, it.DestTx, it.Detail)
				case StatusFailed:
					settle(j, domain.PaymentUnpaid, "", it.Detail)
				}
			}
		case StatusExpired:
			for j := range c.msgs {
				settle(j, domain.PaymentUnpaid, "", "the payment batch never ran: "+out.Detail)
			}
			c.rec.Detail = out.Detail
		case StatusPending:
			pl.mu.Lock()
			was := ""
			if b.held != nil {
				was = b.held.Hold
			}
			b.held, b.detail = nil, out.Detail
			if out.Hold != "" {
				o := out
				b.held = &o
			}
			if was != out.Hold {
				pl.notify(b)
				if out.Hold != "" {
					p.log.Error("fragment: payment batch held", "batch", s.rec.ID, "seqno", s.rec.Seqno, "reason", out.Hold, "detail", out.Detail)
				}
			}
			resend := now.Sub(b.lastSend) >= p.opt.ResendAfter && now.Unix() < s.rec.ValidUntil
			if resend {
				b.lastSend = now
			}
			pl.mu.Unlock()
			if resend {
				if err := p.wallet.Resend(pl.ctx, s.sent); err != nil {
					p.log.Warn("fragment: rebroadcast of a payment batch failed", "batch", s.rec.ID, "err", err)
				}
			}
		}
		all := true
		for _, m := range c.msgs {
			all = all && m.Outcome != domain.PaymentPending
		}
		if all {
			at := now
			c.rec.SettledAt = &at
		}
		if len(c.idx) > 0 || all {
			changes = append(changes, c)
		}
	}
	if len(changes) == 0 {
		pl.mu.Lock()
		for _, s := range bs {
			s.b.looked = true
		}
		pl.mu.Unlock()
		return nil
	}
	var batches []domain.PayerBatch
	var msgs []domain.PayerMessage
	for _, c := range changes {
		batches = append(batches, c.rec)
		for _, j := range c.idx {
			msgs = append(msgs, c.msgs[j])
		}
	}
	if err := p.records.RecordOutcomes(pl.ctx, batches, msgs); err != nil {
		// The store writes an outcome only over a pending payment: another
		// writer (an instance during a leader hand-over) settled some of
		// these first. Its outcomes stand; take them from the store and
		// look the rest up again next pass.
		ids := make([]int64, len(changes))
		for i, c := range changes {
			ids[i] = c.rec.ID
		}
		if rerr := pl.reread(ids); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("fragment: record payment outcomes: %w", err)
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, s := range bs {
		s.b.looked = true
	}
	for _, c := range changes {
		if pl.open[c.rec.ID] != c.b {
			continue // settled meanwhile (Reread: an operator released it) from the records
		}
		c.b.rec, c.b.msgs = c.rec, c.msgs
		if !c.rec.Open() {
			delete(pl.open, c.rec.ID)
			p.log.Info("fragment: payment batch settled", "batch", c.rec.ID, "seqno", c.rec.Seqno, "tx_hash", c.rec.TxHash,
				"payments", summary(c.msgs))
		}
		pl.notify(c.b)
	}
	return nil
}

// reread replaces the open batches ids with what the store holds (the
// outcomes another writer recorded) and wakes their waiters.
func (pl *pipeline) reread(ids []int64) error {
	for _, id := range ids {
		rec, msgs, err := pl.p.records.BatchWithMessages(pl.ctx, id)
		if err != nil {
			return fmt.Errorf("fragment: reading payment batch %d again: %w", id, err)
		}
		pl.mu.Lock()
		if b, ok := pl.open[id]; ok {
			if len(msgs) == len(b.msgs) {
				b.rec, b.msgs = *rec, msgs
			}
			if !rec.Open() {
				delete(pl.open, id)
				pl.p.log.Info("fragment: payment batch settled by another instance", "batch", id, "seqno", rec.Seqno,
					"tx_hash", rec.TxHash, "payments", summary(msgs))
			}
			pl.notify(b)
		}
		pl.mu.Unlock()
	}
	return nil
}

func summary(ms []domain.PayerMessage) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		out[m.Outcome]++
	}
	return out
}

// notify wakes the Deliver calls waiting on b; the caller holds pl.mu.
func (pl *pipeline) notify(b *openBatch) {
	close(b.changed)
	b.changed = make(chan struct{})
}

// errStillPending: the batch has not settled this payment within the wait.
var errStillPending = errors.New("fragment: payment sent, not settled yet")

// await waits until message m's outcome is recorded, the batch is held (the
// view too far behind to settle it, its wallet history unread, its seqno
// taken by a foreign message: a *fulfil.Hold), timeout passes
// (errStillPending), or ctx ends.
func (pl *pipeline) await(ctx context.Context, m domain.PayerMessage, timeout time.Duration) (domain.PayerMessage, error) {
	if err := pl.track(m.BatchID); err != nil {
		return m, err
	}
	deadline := pl.p.now().Add(timeout)
	tick := time.NewTicker(pl.p.opt.PollInterval)
	defer tick.Stop()
	pl.mu.Lock()
	start := pl.round
	pl.mu.Unlock()
	for {
		pl.mu.Lock()
		b, open := pl.open[m.BatchID]
		var changed chan struct{}
		round := pl.roundDone
		if open {
			cur := b.msgs[m.Index]
			if cur.Outcome != domain.PaymentPending {
				pl.mu.Unlock()
				return cur, nil
			}
			// A hold counts only from a lookup that started after this call
			// did (a pass in progress may predate it).
			if b.held != nil && pl.round >= start+2 {
				out := *b.held
				pl.mu.Unlock()
				h := &fulfil.Hold{Reason: out.Hold,
					Detail: fmt.Sprintf("payment for %s sent (batch %d, seqno %d) and not settled: %s", m.ReqID, b.rec.ID, b.rec.Seqno, out.Detail)}
				if out.Hold == fulfil.HoldChainBehind {
					h.ChainTime = out.ChainTime
				}
				return m, h
			}
			changed = b.changed
		}
		pl.mu.Unlock()
		if !open { // settled and forgotten: the store has the outcome
			_, got, err := pl.p.records.BatchWithMessages(ctx, m.BatchID)
			if err != nil {
				return m, err
			}
			if m.Index >= len(got) {
				return m, fmt.Errorf("fragment: batch %d has no message %d", m.BatchID, m.Index)
			}
			return got[m.Index], nil
		}
		if pl.p.now().After(deadline) {
			return m, errStillPending
		}
		select {
		case <-changed:
		case <-round:
		case <-tick.C:
		case <-ctx.Done():
			return m, ctx.Err()
		}
	}
}

// confirmer posts the confirm_method calls the links named.
func (pl *pipeline) confirmer() {
	for {
		select {
		case <-pl.ctx.Done():
			return
		case j := <-pl.confirms:
			page := pageStars
			if j.kind == domain.KindPremium {
				page = pagePremium
			}
			pl.p.confirm(pl.ctx, page, j.method, j.params, j.boc)
		}
	}
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// PaymentsStatus is what /health shows of the payments on their way
// (component "fragment_payments").
type PaymentsStatus struct {
	// OpenBatches: wallet messages recorded and not settled yet, carrying
	// InFlight payments worth InFlightNano.
	OpenBatches  int   `json:"open_batches"`
	InFlight     int   `json:"payments_in_flight"`
	InFlightNano int64 `json:"in_flight_nanoton,string"`
	// Waiting: payments with a Fragment link, waiting for the wallet's
	// next message.
	Waiting int `json:"payments_waiting"`
	// The oldest open batch: when it was signed, its seqno, and whether the
	// chain view is too far behind to settle it.
	OldestAt    *time.Time `json:"oldest_batch_at,omitempty"`
	OldestSeqno uint32     `json:"oldest_batch_seqno,omitempty"`
	Behind      bool       `json:"chain_behind,omitempty"`
	// OldestDetail: why the last look-up left the oldest batch pending,
	// when it said (e.g. its wallet transaction cannot be parsed).
	OldestDetail string `json:"oldest_batch_detail,omitempty"`
	// LastLookupError: the last failed pass looking the open batches up
	// (a liteserver error, a proof that does not check, the store), and
	// when; FailingSince: since when every pass has failed (absent once
	// one succeeds).
	LastLookupError   string     `json:"last_lookup_error,omitempty"`
	LastLookupErrorAt *time.Time `json:"last_lookup_error_at,omitempty"`
	FailingSince      *time.Time `json:"lookups_failing_since,omitempty"`
	// SigningWaits: batches recorded before this start (or by another
	// instance) have not been looked up on chain yet, so no payment is
	// signed: one of them may have been displaced by a message this
	// service did not sign. Cleared by the first pass that succeeds.
	SigningWaits string `json:"signing_waits,omitempty"`
	// Alert: look-ups failing for longer than LookupAlertAfter, or a batch
	// open longer than StuckAfter (it should settle within its lifetime
	// plus the expiry margin, minutes at most).
	Alert string `json:"alert,omitempty"`
}

// StuckAfter is how long a batch may stay open before /health alerts.
const StuckAfter = 10 * time.Minute

// LookupAlertAfter is how long the resolver's look-ups may keep failing
// before /health turns degraded (a liteserver hiccup retried at the next
// pass does not).
const LookupAlertAfter = time.Minute

// PaymentsHealth reports the payments on their way; false (degraded) when
// look-ups have failed for longer than LookupAlertAfter or a batch has been
// open longer than StuckAfter.
func (p *Provider) PaymentsHealth() (bool, any) {
	st := PaymentsStatus{}
	pl := p.pipe.Load()
	if pl == nil {
		return true, st
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	st.Waiting = len(pl.ready)
	var unlooked []int64
	for _, b := range pl.open {
		st.OpenBatches++
		if !b.looked {
			unlooked = append(unlooked, b.rec.ID)
		}
		for _, m := range b.msgs {
			if m.Outcome == domain.PaymentPending {
				st.InFlight++
				st.InFlightNano += m.AmountNano
			}
		}
		if st.OldestAt == nil || b.rec.CreatedAt.Before(*st.OldestAt) {
			at := b.rec.CreatedAt
			st.OldestAt, st.OldestSeqno, st.Behind, st.OldestDetail = &at, b.rec.Seqno, b.held != nil && b.held.Hold == fulfil.HoldChainBehind, b.detail
		}
	}
	if pl.lookErr != "" {
		at := pl.lookErrAt
		st.LastLookupError, st.LastLookupErrorAt = pl.lookErr, &at
	}
	if len(unlooked) > 0 {
		slices.Sort(unlooked)
		st.SigningWaits = fmt.Sprintf("no payment is signed until the open batches %v, which this instance did not sign, have been looked up on chain once", unlooked)
		if !pl.failingSince.IsZero() {
			st.SigningWaits += "; the look-ups fail: " + pl.lookErr
		}
	}
	if !pl.failingSince.IsZero() {
		since := pl.failingSince
		st.FailingSince = &since
		if p.now().Sub(since) > LookupAlertAfter {
			meanwhile := "payments stay unsettled meanwhile"
			if len(unlooked) > 0 {
				meanwhile = "payments stay unsettled and no new one is signed meanwhile"
			}
			st.Alert = fmt.Sprintf("looking the payment batches up has failed since %s (%s): check the liteservers; %s",
				since.UTC().Format(time.RFC3339), pl.lookErr, meanwhile)
			return false, st
		}
	}
	if st.OldestAt != nil && p.now().Sub(*st.OldestAt) > StuckAfter {
		st.Alert = fmt.Sprintf("wallet message seqno %d (signed %s) is still not settled: check the liteservers (the chain view) and the wallet in an explorer",
			st.OldestSeqno, st.OldestAt.UTC().Format(time.RFC3339))
		return false, st
	}
	return true, st
}
