package shop

import "github.com/theopenmoney/openmoney/store"

// Event types written to the outbox (and sent to the bot and webhooks).
const (
	EventOrderPaid      = "order.paid"
	EventOrderCompleted = "order.completed"
	EventOrderRefunded  = "order.refunded"
	EventOrderExpired   = "order.expired"
	EventOrderCancelled = "order.cancelled"
	EventBalanceTopup   = "balance.topup"
)

// Outbox channels.
const (
	ChannelTelegram = store.ChannelTelegram
	ChannelWebhook  = store.ChannelWebhook
)

// Order statuses, for callers that must not import store.
const (
	StatusPendingPayment = store.StatusPendingPayment
	StatusPaid           = store.StatusPaid
	StatusProcessing     = store.StatusProcessing
	StatusCompleted      = store.StatusCompleted
	StatusFailed         = store.StatusFailed
	StatusRefunded       = store.StatusRefunded
	StatusExpired        = store.StatusExpired
	StatusCancelled      = store.StatusCancelled
)
