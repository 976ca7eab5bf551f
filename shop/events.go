package shop

// Event types written to the outbox (and sent to the bot and webhooks).
const (
	EventOrderPaid      = "order.paid"
	EventOrderCompleted = "order.completed"
	EventOrderRefunded  = "order.refunded"
	EventOrderExpired   = "order.expired"
	EventOrderCancelled = "order.cancelled"
	EventBalanceTopup   = "balance.topup"
)
