package shop

import (
	"context"
	"errors"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Observer is told what the shop did, for metrics. Calls are made only after
// the store transaction that made the change has committed (a transaction
// that is retried or rolled back reports nothing), outside any transaction,
// possibly from several goroutines at once. Implementations must be cheap
// and must not call back into the shop. Deps.Observer may be nil.
type Observer interface {
	// OrderTransition: an order moved from one status to another; from is
	// "" when the order was just created.
	OrderTransition(from, to domain.Status)
	// Received: an incoming chain transfer was accounted for the first time
	// (to an order, a balance or an unmatched deposit), in nanotons.
	Received(nanos int64)
	// Delivery: a delivery attempt ended; outcome is DeliveryCompleted,
	// DeliveryRefunded, DeliveryRetry or DeliveryHeld.
	Delivery(outcome string)
	// Notification: one outbox item was handed to a channel's notifier
	// (ChannelTelegram, ChannelWebhook); outcome is NotifySent or NotifyError
	// per attempt, and NotifyFailed once when a sender gives an item up.
	Notification(channel domain.Channel, outcome string)
}

// PaymentsObserver is an optional extension of Observer (metrics
// implements it): told, after commit, how many transfers a transaction
// parked, and when the payment listener failed and restarts.
type PaymentsObserver interface {
	TransfersParked(n int)
	ListenerFailed()
}

// Observer outcomes.
const (
	DeliveryCompleted = "completed"
	DeliveryRefunded  = "refunded"
	DeliveryRetry     = "retry"
	DeliveryHeld      = "held" // a *fulfil.Hold: waits, not refunded (holds.go)
	NotifySent        = "sent"
	NotifyError       = "error"
	NotifyFailed      = "failed"
)

// observedStore reports committed order transitions and newly seen transfers
// to an Observer. It wraps the shop's store only when an Observer is set, so
// the business code needs no calls at the transition points.
type observedStore struct {
	store.Store
	obs Observer
}

func (s observedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.observe(ctx, s.Store.Update, fn)
}

func (s observedStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	return s.observe(ctx, s.Store.Write, fn)
}

func (s observedStore) observe(ctx context.Context, run func(context.Context, func(store.Tx) error) error, fn func(store.Tx) error) error {
	var last *observedTx
	err := run(ctx, func(tx store.Tx) error {
		// fn may run more than once; only the run that commits counts.
		last = &observedTx{Tx: tx}
		return fn(last)
	})
	if err == nil && last != nil {
		last.report(s.obs)
	}
	return err
}

type transition struct{ from, to domain.Status }

// observedTx remembers the status each order had when it was read in this
// transaction, so PutOrder knows the transition without another read.
type observedTx struct {
	store.Tx
	status      map[int64]domain.Status // order id → status when read (or "" when created here)
	transitions []transition
	received    map[string]int64 // hash → nanotons, newly seen (or unparked) in this transaction
	parked      int              // transfers newly parked in this transaction
}

func (t *observedTx) note(o *domain.Order) {
	if o == nil {
		return
	}
	if t.status == nil {
		t.status = map[int64]domain.Status{}
	}
	if _, ok := t.status[o.ID]; !ok {
		t.status[o.ID] = o.Status
	}
}

func (t *observedTx) GetOrder(id int64) (*domain.Order, error) {
	o, err := t.Tx.GetOrder(id)
	if err == nil {
		t.note(o)
	}
	return o, err
}

func (t *observedTx) OrderByMemo(memo string) (*domain.Order, error) {
	o, err := t.Tx.OrderByMemo(memo)
	if err == nil {
		t.note(o)
	}
	return o, err
}

func (t *observedTx) CreateOrder(o *domain.Order) error {
	if err := t.Tx.CreateOrder(o); err != nil {
		return err
	}
	t.transitions = append(t.transitions, transition{"", o.Status})
	if t.status == nil {
		t.status = map[int64]domain.Status{}
	}
	t.status[o.ID] = o.Status
	return nil
}

func (t *observedTx) PutOrder(o *domain.Order) error {
	from, known := t.status[o.ID]
	if !known {
		prev, err := t.Tx.GetOrder(o.ID)
		switch {
		case err == nil:
			from = prev.Status
		case errors.Is(err, store.ErrNotFound):
			from = ""
		default:
			return err
		}
	}
	if err := t.Tx.PutOrder(o); err != nil {
		return err
	}
	if from != o.Status {
		t.transitions = append(t.transitions, transition{from, o.Status})
	}
	if t.status == nil {
		t.status = map[int64]domain.Status{}
	}
	t.status[o.ID] = o.Status
	return nil
}

// CreateSeen records a transfer seen for the first time (the insert fails
// otherwise): received, unless it is parked (counted as parked).
func (t *observedTx) CreateSeen(s *domain.SeenTx) error {
	if err := t.Tx.CreateSeen(s); err != nil {
		return err
	}
	if t.received == nil {
		t.received = map[string]int64{}
	}
	switch s.Kind {
	case domain.SeenIgnored:
		t.received[s.Hash] = 0
	case domain.SeenParked:
		t.received[s.Hash] = 0
		t.parked++
	default:
		t.received[s.Hash] = s.AmountNano
	}
	return nil
}

// PutSeen counts a transfer as received when it is first accounted: when
// first seen, or, for a parked transfer (counted as parked, not received),
// when an operator's retry or assignment accounts it.
func (t *observedTx) PutSeen(s *domain.SeenTx) error {
	_, counted := t.received[s.Hash]
	if !counted {
		prev, err := t.Tx.GetSeen(s.Hash)
		fresh := errors.Is(err, store.ErrNotFound)
		if err != nil && !fresh {
			return err
		}
		if fresh || (prev.Kind == domain.SeenParked && s.Kind != domain.SeenParked) {
			if t.received == nil {
				t.received = map[string]int64{}
			}
			switch s.Kind {
			case domain.SeenIgnored:
				t.received[s.Hash] = 0
			case domain.SeenParked:
				t.received[s.Hash] = 0
				t.parked++
			default:
				t.received[s.Hash] = s.AmountNano
			}
		}
	}
	return t.Tx.PutSeen(s)
}

func (t *observedTx) report(obs Observer) {
	for _, tr := range t.transitions {
		obs.OrderTransition(tr.from, tr.to)
		if tr.from == domain.StatusProcessing {
			switch tr.to {
			case domain.StatusCompleted:
				obs.Delivery(DeliveryCompleted)
			case domain.StatusRefunded:
				obs.Delivery(DeliveryRefunded)
			}
		}
	}
	for _, n := range t.received {
		if n > 0 {
			obs.Received(n)
		}
	}
	if po, ok := obs.(PaymentsObserver); ok && t.parked > 0 {
		po.TransfersParked(t.parked)
	}
}

// observedNotifier reports each send's outcome.
type observedNotifier struct {
	Notifier
	channel domain.Channel
	obs     Observer
}

func (n observedNotifier) Notify(ctx context.Context, p *domain.Partner, it *domain.OutboxItem) error {
	err := n.Notifier.Notify(ctx, p, it)
	outcome := NotifySent
	if err != nil {
		outcome = NotifyError
	}
	n.obs.Notification(n.channel, outcome)
	return err
}

// observeNotification reports a notification outcome the notifier wrapper
// cannot see (NotifyFailed: a sender dropped an item for good).
func (s *Shop) observeNotification(channel domain.Channel, outcome string) {
	if s.obs != nil {
		s.obs.Notification(channel, outcome)
	}
}

// observeDelivery reports a delivery outcome that is not a status change.
func (s *Shop) observeDelivery(outcome string) {
	if s.obs != nil {
		s.obs.Delivery(outcome)
	}
}
