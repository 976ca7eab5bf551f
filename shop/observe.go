package shop

import (
	"context"
	"errors"

	"github.com/theopenmoney/openmoney/domain"
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
	// (to an order, a balance or an unmatched deposit): its currency and
	// amount (nanotons, or USDT units).
	Received(currency domain.Currency, amount int64)
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

// observedNotifier reports each send's outcome.
type observedNotifier struct {
	Notifier
	channel domain.Channel
	obs     Observer
}

func (n observedNotifier) Notify(ctx context.Context, p *domain.Partner, it *domain.OutboxItem) error {
	err := n.Notifier.Notify(ctx, p, it)
	outcome := NotifySent
	switch {
	case errors.Is(err, ErrWebhookDisabled):
		return err // not an attempt: the shop drops the item (NotifyFailed)
	case err != nil:
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
