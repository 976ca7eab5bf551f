package shop

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/store"
)

// Loop timing; the store holds all state, so these only bound reaction time.
var (
	expiryEvery   = time.Second
	deliveryEvery = time.Second
	outboxEvery   = 500 * time.Millisecond
	// manualRecheck: how often an order waiting for manual delivery is
	// handed to the provider again (only matters if the provider changes).
	manualRecheck = 5 * time.Minute
)

// expire marks a pending order expired and returns any partial payment to
// the balance, in the caller's transaction.
func (s *Shop) expire(tx *txn, p *domain.Partner, o *domain.Order) error {
	if err := s.returnPartial(tx, p, o); err != nil {
		return err
	}
	return s.move(tx, p, o, domain.StatusExpired)
}

// ExpireDue expires every pending order whose deadline has passed; it returns
// how many it expired. The deadline lives in the store, so after downtime
// the first run catches up.
func (s *Shop) ExpireDue(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := s.write(ctx, func(tx *txn) error {
			n = 0
			ids, err := tx.DueExpiries(s.now(), 200)
			if err != nil {
				return err
			}
			for _, id := range ids {
				o, err := tx.GetOrder(id)
				if err != nil {
					return err
				}
				if o.Status != domain.StatusPendingPayment {
					continue
				}
				p, err := tx.GetPartner(o.PartnerID)
				if err != nil {
					return err
				}
				if err := s.expire(tx, p, o); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("shop: expire: %w", err)
		}
		total += n
		if n < 200 {
			return total, nil
		}
	}
}

func (s *Shop) expiryLoop(ctx context.Context) {
	for {
		if _, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("expiry loop", "err", err)
		}
		if !wait.Sleep(ctx, expiryEvery) {
			return
		}
	}
}

func (s *Shop) kickDelivery() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Shop) deliveryLoop(ctx context.Context) {
	defer s.running.wg.Wait()
	for {
		if _, err := s.dispatchDeliveries(ctx, false); err != nil && ctx.Err() == nil {
			s.log.Error("delivery loop", "err", err)
		}
		t := time.NewTimer(deliveryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// running tracks the deliveries in progress: at most the provider's
// MaxConcurrent at once (fulfil.Concurrent; one for providers that deliver
// one order at a time), never the same order twice, none waiting for
// another one to finish.
type running struct {
	once sync.Once
	sem  chan struct{}
	mu   sync.Mutex
	ids  map[int64]bool
	wg   sync.WaitGroup
}

// concurrency is how many deliveries may run at once.
func (s *Shop) concurrency() int {
	if c, ok := s.provider.(fulfil.Concurrent); ok {
		return max(c.MaxConcurrent(), 1)
	}
	return 1
}

// start claims a slot for order id; with block it waits for a free slot,
// else it reports false when none is free. False too when id is running.
func (r *running) start(ctx context.Context, id int64, n int, block bool) bool {
	r.once.Do(func() { r.sem, r.ids = make(chan struct{}, n), map[int64]bool{} })
	r.mu.Lock()
	busy := r.ids[id]
	r.mu.Unlock()
	if busy {
		return false
	}
	if block {
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
	} else {
		select {
		case r.sem <- struct{}{}:
		default:
			return false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids[id] {
		<-r.sem
		return false
	}
	r.ids[id] = true
	r.wg.Add(1)
	return true
}

func (r *running) done(id int64) {
	r.mu.Lock()
	delete(r.ids, id)
	r.mu.Unlock()
	<-r.sem
	r.wg.Done()
}

// deliveryScan is how many due orders one pass reads at least.
const deliveryScan = 500

// DeliverDue runs one pass over paid and processing orders whose next attempt
// is due, as many at once as the provider allows, waits for them, and
// returns how many it finished (completed or refunded).
func (s *Shop) DeliverDue(ctx context.Context) (int, error) {
	return s.dispatchDeliveries(ctx, true)
}

// dispatchDeliveries starts the due deliveries that are not running yet, up
// to the free slots; with wait it waits for slots and for the deliveries it
// started, and counts those finished. Without, it returns at once and each
// delivery kicks the loop when it ends.
//
// The pass reads due orders only, the longest due first (store
// DueDeliveries): orders backing off or waiting for an operator are never
// read, however many there are, so a newer paid order never waits behind
// them (issue 15). The limit leaves room past the orders already running
// (still due until their attempt ends).
func (s *Shop) dispatchDeliveries(ctx context.Context, wait bool) (int, error) {
	n := s.concurrency()
	limit := max(deliveryScan, 4*n)
	held := s.held.ids()
	var due, gone []int64
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if due, err = tx.DueDeliveries(s.now(), limit); err != nil {
			return err
		}
		// Holds of orders no longer awaiting delivery (finished by other
		// means, e.g. by an operator) are dropped; held orders are not due
		// (their next attempt is HeldRetryEvery away), so they are looked
		// up by id. An order never returns to paid or processing.
		gone = gone[:0]
		for _, id := range held {
			o, err := tx.GetOrder(id)
			if errors.Is(err, store.ErrNotFound) || (err == nil && o.Status != domain.StatusPaid && o.Status != domain.StatusProcessing) {
				gone = append(gone, id)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range gone {
		s.held.drop(id)
	}
	var (
		mu       sync.Mutex
		finished int
		mine     sync.WaitGroup
	)
	for _, id := range due {
		if ctx.Err() != nil {
			break
		}
		if !s.running.start(ctx, id, n, wait) {
			continue
		}
		mine.Add(1)
		go func() {
			defer mine.Done()
			defer s.kickDelivery()
			defer s.running.done(id)
			ok, err := s.deliverOne(ctx, id)
			if err != nil && ctx.Err() == nil {
				s.log.Error("delivery", "order_id", id, "err", err)
			}
			if ok {
				mu.Lock()
				finished++
				mu.Unlock()
			}
		}()
	}
	if !wait {
		return 0, ctx.Err()
	}
	mine.Wait()
	return finished, ctx.Err()
}

// deliverOne moves one order paid → processing → completed | refunded.
// The attempt is recorded before the provider is called, the provider's
// progress is saved through SaveFunc, and the provider reference is stable
// ("order-<id>"), so a crash between any two steps resumes without
// delivering or refunding twice.
func (s *Shop) deliverOne(ctx context.Context, id int64) (bool, error) {
	var o *domain.Order
	due := true
	// Write transactions: the order is locked as it is read, so its status
	// moves one way only.
	err := s.write(ctx, func(tx *txn) error {
		var err error
		if o, err = tx.GetOrder(id); err != nil {
			return err
		}
		if o.NextDeliveryAt != nil && s.now().Before(*o.NextDeliveryAt) {
			due = false
			return nil
		}
		due = true
		switch o.Status {
		case domain.StatusPaid:
			o.DeliveryAttempts++
			return s.move(tx, nil, o, domain.StatusProcessing)
		case domain.StatusProcessing:
			o.DeliveryAttempts++
			return tx.PutOrder(o)
		default:
			due = false
			return nil
		}
	})
	if err != nil || !due {
		return false, err
	}
	req := fulfil.Request{Ref: "order-" + strconv.FormatInt(o.ID, 10), OrderID: o.ID, Kind: o.Type,
		Username: o.RecipientUsername, Stars: o.StarsAmount, Months: o.PremiumMonths, State: o.DeliveryState}
	save := func(ctx context.Context, state string) error {
		return s.write(ctx, func(tx *txn) error {
			cur, err := tx.GetOrder(id)
			if err != nil {
				return err
			}
			if cur.Status != domain.StatusProcessing {
				return fmt.Errorf("order %d is %s, not processing", id, cur.Status)
			}
			cur.DeliveryState = state
			return tx.PutOrder(cur)
		})
	}
	res, derr := s.provider.Deliver(ctx, req, save)
	if hold, ok := asHold(derr); ok { // wait, never refund (holds.go)
		return false, s.holdDelivery(ctx, id, hold)
	}
	s.held.drop(id)
	switch {
	case derr == nil:
		return true, s.finishDelivery(ctx, id, func(tx *txn, o *domain.Order, p *domain.Partner) error {
			return s.complete(tx, o, p, res)
		})
	case errors.Is(derr, fulfil.ErrPermanent):
		// The partner sees a stable code and one sentence; the error chain
		// (provider answers, transaction hashes) goes to the log only.
		fail := fulfil.FailureOf(derr)
		s.log.Warn("delivery failed; refunding", "order_id", id, "failure_code", fail.Code, "err", derr.Error())
		return true, s.finishDelivery(ctx, id, func(tx *txn, o *domain.Order, p *domain.Partner) error {
			_, err := s.refund(tx, o, p, fail.Reason())
			return err
		})
	case errors.Is(derr, fulfil.ErrAwaitingOperator):
		// Delivered by hand: the order waits in processing for the
		// operator's mark (MarkDelivered, MarkFailed); look again later in
		// case the provider changes.
		if o.DeliveryAttempts == 1 {
			s.log.Info("order waits for manual delivery", "order_id", id)
		}
		return false, s.write(ctx, func(tx *txn) error {
			cur, err := tx.GetOrder(id)
			if err != nil || cur.Status != domain.StatusProcessing {
				return err
			}
			next := s.now().Add(manualRecheck)
			cur.NextDeliveryAt = &next
			return tx.PutOrder(cur)
		})
	default:
		// Unavailable or transient: keep the order processing, try later
		// (not before the provider's Retry-After, when it gives one).
		delay := wait.Delivery.After(o.DeliveryAttempts)
		var ra retryAfter
		if errors.As(derr, &ra) && ra.RetryAfter() > delay {
			delay = ra.RetryAfter()
		}
		s.log.Warn("delivery will be retried", "order_id", id, "attempt", o.DeliveryAttempts, "in", delay, "err", derr)
		s.observeDelivery(DeliveryRetry)
		return false, s.write(ctx, func(tx *txn) error {
			cur, err := tx.GetOrder(id)
			if err != nil || cur.Status != domain.StatusProcessing {
				return err
			}
			next := s.now().Add(delay)
			cur.NextDeliveryAt = &next
			return tx.PutOrder(cur)
		})
	}
}

// complete marks a processing order delivered, in the caller's transaction.
func (s *Shop) complete(tx *txn, o *domain.Order, p *domain.Partner, res fulfil.Result) error {
	now := s.now()
	o.CompletedAt = &now
	o.DeliveryRef, o.DeliveryTxHash = res.ProviderRef, res.TxHash
	o.NextDeliveryAt = nil
	return s.move(tx, p, o, domain.StatusCompleted)
}

// refund ends a processing order whose delivery failed: its price back to
// the partner balance (a refund row), status refunded, in the caller's
// transaction.
func (s *Shop) refund(tx *txn, o *domain.Order, p *domain.Partner, reason string) (*domain.LedgerEntry, error) {
	e, err := s.credit(tx, p, o.PaymentCurrency, domain.LedgerRefund, o.Price(), o.ID, "")
	if err != nil {
		return nil, err
	}
	now := s.now()
	o.FailureReason = reason
	o.RefundedAt, o.RefundLedgerID, o.NextDeliveryAt = &now, e.ID, nil
	return e, s.move(tx, p, o, domain.StatusRefunded)
}

// finishDelivery applies the final transition if the order is still processing.
func (s *Shop) finishDelivery(ctx context.Context, id int64, fn func(*txn, *domain.Order, *domain.Partner) error) error {
	return s.write(ctx, func(tx *txn) error {
		o, err := tx.GetOrder(id)
		if err != nil {
			return err
		}
		if o.Status != domain.StatusProcessing {
			return nil // already finished by an earlier run
		}
		p, err := tx.GetPartner(o.PartnerID)
		if err != nil {
			return err
		}
		return fn(tx, o, p)
	})
}

type retryAfter interface{ RetryAfter() time.Duration }

// outboxLoop sends a channel's queued events through its notifier, in order
// per partner, retrying failures with backoff (or the notifier's RetryAfter).
func (s *Shop) outboxLoop(ctx context.Context, channel domain.Channel) {
	for {
		if n := s.notifier(channel); n != nil {
			if err := s.SendOutbox(ctx, channel, n); err != nil && ctx.Err() == nil {
				s.log.Error("outbox", "channel", channel, "err", err)
			}
		}
		if !wait.Sleep(ctx, outboxEvery) {
			return
		}
	}
}

// outboxSenders bounds how many partners' queues one pass sends at once.
const outboxSenders = 8

// Outbox pass bounds: a pass reads the channel's queue in pages, so one
// partner's backlog (an endpoint down for days) cannot hide the events of
// partners queued after it; it sends at most outboxPerPartner items of each
// partner (a prefix, keeping their order) and reads at most outboxPages.
const (
	outboxPage       = 500
	outboxPages      = 40
	outboxPerPartner = 100
)

// SendOutbox makes one pass over a channel's due items. Each partner's items
// go in order, one at a time; different partners are served concurrently,
// so one slow or failing endpoint never holds up the others.
func (s *Shop) SendOutbox(ctx context.Context, channel domain.Channel, n Notifier) error {
	var order []int64
	queues := map[int64][]*domain.OutboxItem{}
	var after int64
	for range outboxPages {
		var items []domain.OutboxItem
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			items, err = tx.PendingOutbox(channel, after, outboxPage)
			return err
		})
		if err != nil {
			return err
		}
		for i := range items {
			it := &items[i]
			after = it.ID
			q, seen := queues[it.PartnerID]
			if !seen {
				order = append(order, it.PartnerID)
			}
			if len(q) < outboxPerPartner {
				queues[it.PartnerID] = append(q, it)
			}
		}
		if len(items) < outboxPage {
			break
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(order))
	sem := make(chan struct{}, outboxSenders)
	for _, pid := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(q []*domain.OutboxItem) {
			defer func() { <-sem; wg.Done() }()
			if err := s.sendQueue(ctx, channel, n, q); err != nil {
				errs <- err
			}
		}(queues[pid])
	}
	wg.Wait()
	close(errs)
	return <-errs // the first error, or nil
}

// sendQueue sends one partner's due items in order and stops at the first
// that is not due yet or fails (later items wait, keeping the order).
func (s *Shop) sendQueue(ctx context.Context, channel domain.Channel, n Notifier, q []*domain.OutboxItem) error {
	for _, it := range q {
		if s.now().Before(it.NextAttemptAt) {
			return nil
		}
		p, err := s.Partner(ctx, it.PartnerID)
		if err != nil {
			return err
		}
		nerr := n.Notify(ctx, p, it)
		unsent := channel == domain.ChannelWebhook && errors.Is(nerr, ErrWebhookDisabled)
		gaveUp := false   // a webhook event past WebhookRetryWindow failed again: dropped
		disabled := false // the webhook failed for WebhookDisableAfter: disabled, its queue dropped
		// Update: the webhook's failure record is read and rewritten, and a
		// partner's PUT /webhook may race with it.
		err = s.update(ctx, func(tx *txn) error {
			if unsent {
				return s.webhookDropUnsent(tx, it)
			}
			if channel == domain.ChannelWebhook {
				var err error
				if disabled, err = s.webhookOutcome(tx, p, it, nerr); err != nil || disabled {
					return err
				}
			}
			if nerr == nil {
				return tx.DeleteOutbox(channel, it.ID)
			}
			if gaveUp = s.webhookExpired(it); gaveUp {
				return s.webhookGiveUp(tx, it, nerr)
			}
			cur := *it
			cur.Attempts++
			delay := wait.Telegram.After(cur.Attempts)
			if channel == domain.ChannelWebhook {
				delay = wait.WebhookAfter(cur.Attempts)
			}
			var ra retryAfter
			if errors.As(nerr, &ra) && ra.RetryAfter() > 0 {
				delay = ra.RetryAfter()
			}
			cur.NextAttemptAt = s.now().Add(delay)
			cur.LastError = nerr.Error()
			return tx.PutOutbox(&cur)
		})
		if err != nil {
			return err
		}
		switch {
		case unsent:
			s.observeNotification(channel, NotifyFailed)
			s.log.Info("webhook event not sent: the webhook is disabled", "event", it.Type, "event_id", EventID(it), "partner_id", it.PartnerID)
		case disabled:
			s.observeNotification(channel, NotifyFailed)
			s.log.Warn("webhook disabled: every attempt failed for "+WebhookDisableAfter.String(), "partner_id", it.PartnerID, "err", nerr)
			return nil
		case nerr != nil && gaveUp:
			s.observeNotification(channel, NotifyFailed)
			s.log.Warn("webhook event failed for good", "event", it.Type, "event_id", EventID(it), "partner_id", it.PartnerID, "err", nerr)
		case nerr != nil:
			s.log.Warn("notification will be retried", "channel", channel, "event", it.Type, "partner_id", it.PartnerID, "err", nerr)
			return nil
		}
	}
	return nil
}

// housekeepingLoop drops expired idempotency records and webhook delivery
// rows older than WebhookDeliveryRetention.
func (s *Shop) housekeepingLoop(ctx context.Context) {
	for {
		for ctx.Err() == nil {
			n := 0
			err := s.write(ctx, func(tx *txn) error {
				var err error
				n, err = tx.DeleteIdemBefore(s.now().Add(-IdempotencyTTL), 500)
				return err
			})
			if err != nil || n < 500 {
				break
			}
		}
		if _, err := s.pruneWebhookDeliveries(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("prune webhook deliveries", "err", err)
		}
		if !wait.Sleep(ctx, 30*time.Second) {
			return
		}
	}
}

// RunLocal runs what every instance does for itself, leader or not: writing
// the last-used stamps of the keys it authenticated. It returns when ctx ends.
func (s *Shop) RunLocal(ctx context.Context) error {
	for {
		if !wait.Sleep(ctx, 30*time.Second) {
			return s.flushKeyUse(context.WithoutCancel(ctx))
		}
		if err := s.flushKeyUse(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("flush key use", "err", err)
		}
		s.refreshFragmentSession(ctx)
	}
}
