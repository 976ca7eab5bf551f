package store

import "time"

// Order statuses. Only shop changes an order's status; the store keeps its
// derived indexes (expiry queue, delivery queue) in step with it.
const (
	StatusPendingPayment = "pending_payment"
	StatusPaid           = "paid"
	StatusProcessing     = "processing"
	StatusCompleted      = "completed"
	StatusFailed         = "failed"
	StatusRefunded       = "refunded"
	StatusExpired        = "expired"
	StatusCancelled      = "cancelled"
)

// Partner is one API customer (one Telegram user, or a sandbox partner). Its
// BalanceNano is the cached sum of its ledger rows, changed only in the same
// transaction that appends a ledger row.
type Partner struct {
	ID             int64     `json:"id"`
	CreatedAt      time.Time `json:"created_at"`
	Name           string    `json:"name,omitempty"`
	TelegramUserID int64     `json:"telegram_user_id,omitempty"`
	TelegramChatID int64     `json:"telegram_chat_id,omitempty"`
	// TelegramUsername is the user's @username as the bot last saw it (no @;
	// "" when they have none), for operators looking a partner up.
	TelegramUsername string `json:"telegram_username,omitempty"`
	Language         string `json:"language,omitempty"`
	// SubwalletID derives the partner's own top-up address from the service seed.
	SubwalletID     uint32 `json:"subwallet_id"`
	TopupAddress    string `json:"topup_address"`     // user-friendly, non-bounceable
	TopupAddressRaw string `json:"topup_address_raw"` // "0:hex", the index key
	BalanceNano     int64  `json:"balance_nano"`
	ActiveKeyHash   string `json:"active_key_hash,omitempty"` // hex SHA-256 of the live key
	LedgerCount     int64  `json:"ledger_count"`
}

// APIKey is a partner key as stored: only its SHA-256 hash and a short
// non-secret prefix; the key itself is never stored.
type APIKey struct {
	Hash       string     `json:"hash"`
	PartnerID  int64      `json:"partner_id"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Order is one Stars or Premium order. Money fields are nanotons.
type Order struct {
	ID                int64  `json:"id"`
	PartnerID         int64  `json:"partner_id"`
	Status            string `json:"status"`
	Type              string `json:"order_type"`
	StarsAmount       int64  `json:"stars_amount,omitempty"`
	PremiumMonths     int    `json:"premium_months,omitempty"`
	RecipientUsername string `json:"recipient_username"`
	PriceNano         int64  `json:"price_nano"`
	PriceUSD          string `json:"price_usd"`   // exact decimal
	TonUSD            string `json:"ton_usd"`     // the rate the order was priced with
	FeePercent        string `json:"fee_percent"` // the fee the order was priced with
	PaymentMethod     string `json:"payment_method"`
	PaymentCurrency   string `json:"payment_currency"`
	PaymentAddress    string `json:"payment_address,omitempty"`
	PaymentMemo       string `json:"payment_memo,omitempty"`
	// MemoDerived: PaymentMemo is a function of ID (the shop's memo cipher),
	// unique by construction, so bbolt does not index it; the shop finds such
	// orders through the id. PostgreSQL indexes every memo regardless.
	MemoDerived     bool       `json:"memo_derived,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	PaidAt          *time.Time `json:"paid_at,omitempty"`
	CompletedAt     *time.Time `json:"completed_at,omitempty"`
	ReceivedNano    int64      `json:"received_nano"`
	ClientReference string     `json:"client_reference,omitempty"`
	FailureReason   string     `json:"failure_reason,omitempty"`
	// PaymentTxHashes are the chain transfers credited to this order.
	PaymentTxHashes []string `json:"payment_tx_hashes,omitempty"`
	// Delivery bookkeeping, written before the provider is called so a crash
	// never delivers twice.
	DeliveryAttempts  int        `json:"delivery_attempts,omitempty"`
	DeliveryRef       string     `json:"delivery_ref,omitempty"`
	DeliveryState     string     `json:"delivery_state,omitempty"` // provider-specific progress
	NextDeliveryAt    *time.Time `json:"next_delivery_at,omitempty"`
	RefundedAt        *time.Time `json:"refunded_at,omitempty"`
	RefundLedgerID    int64      `json:"refund_ledger_id,omitempty"`
	IdempotencyKey    string     `json:"idempotency_key,omitempty"`
	DeliveryTxHash    string     `json:"delivery_tx_hash,omitempty"`
	DeliveryRequestID string     `json:"delivery_request_id,omitempty"`
}

// Ledger row types.
const (
	LedgerTopup        = "topup"
	LedgerOrderPayment = "order_payment"
	LedgerOverpayment  = "overpayment"
	LedgerLatePayment  = "late_payment"
	LedgerRefund       = "refund"
	LedgerAdjustment   = "adjustment"
)

// LedgerEntry is one movement of a partner balance; append-only.
type LedgerEntry struct {
	ID               int64     `json:"id"`
	PartnerID        int64     `json:"partner_id"`
	Type             string    `json:"type"`
	AmountNano       int64     `json:"amount_nano"` // signed: debits are negative
	BalanceAfterNano int64     `json:"balance_after_nano"`
	OrderID          int64     `json:"order_id,omitempty"`
	TxHash           string    `json:"tx_hash,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// Seen kinds: where a chain transfer ended up.
const (
	SeenOrder     = "order"     // credited to an order (RefID = order id)
	SeenLedger    = "ledger"    // credited to a balance (RefID = ledger id)
	SeenUnmatched = "unmatched" // kept for the operator (RefID = unmatched id)
	SeenIgnored   = "ignored"   // bounced or outgoing
)

// SeenTx records that a chain transaction hash was processed, and where its
// money went. Its presence makes every replay a no-op.
type SeenTx struct {
	Hash       string    `json:"hash"`
	Kind       string    `json:"kind"`
	RefID      int64     `json:"ref_id,omitempty"`
	AmountNano int64     `json:"amount_nano"`
	SeenAt     time.Time `json:"seen_at"`
	// Split records a transfer credited partly to an order and partly to a
	// ledger row (overpayment): the ledger id of the excess.
	ExtraLedgerID int64 `json:"extra_ledger_id,omitempty"`
}

// Unmatched is an incoming transfer that matched no order or partner: kept for
// the operator, never dropped.
type Unmatched struct {
	ID         int64      `json:"id"`
	TxHash     string     `json:"tx_hash"`
	LT         uint64     `json:"lt"`
	ChainTime  time.Time  `json:"chain_time"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	AmountNano int64      `json:"amount_nano"`
	Comment    string     `json:"comment,omitempty"`
	PayloadHex string     `json:"payload_hex,omitempty"`
	SeenAt     time.Time  `json:"seen_at"`
	AssignedAt *time.Time `json:"assigned_at,omitempty"`
	// AssignedLedgerID is the ledger row created when the operator assigned it.
	AssignedLedgerID int64 `json:"assigned_ledger_id,omitempty"`
}

// IdemRecord is the stored outcome of a POST carrying an Idempotency-Key,
// scoped to the partner. OrderID is set (in the order's own transaction) when
// the request created an order; Status/Body hold the final response once known.
type IdemRecord struct {
	PartnerID   int64     `json:"partner_id"`
	Key         string    `json:"key"`
	Fingerprint string    `json:"fingerprint"`
	OrderID     int64     `json:"order_id,omitempty"`
	Status      int       `json:"status,omitempty"`
	Body        []byte    `json:"body,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Outbox channels.
const (
	ChannelTelegram = "telegram"
	ChannelWebhook  = "webhook"
)

// OutboxItem is one event waiting to be sent on one channel, written in the
// same transaction as the state change it reports.
type OutboxItem struct {
	ID            int64        `json:"id"`
	Channel       string       `json:"channel"`
	PartnerID     int64        `json:"partner_id"`
	Type          string       `json:"type"` // order.paid, order.completed, ...
	Order         *Order       `json:"order,omitempty"`
	Ledger        *LedgerEntry `json:"ledger,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	Attempts      int          `json:"attempts"`
	NextAttemptAt time.Time    `json:"next_attempt_at"`
	LastError     string       `json:"last_error,omitempty"`
	// EventID, when set, is the id receivers see instead of "evt_<ID>": a
	// webhook event redelivered on request keeps its original id.
	EventID string `json:"event_id,omitempty"`
	// RedeliveryOf is the delivery row a partner asked to redeliver.
	RedeliveryOf int64 `json:"redelivery_of,omitempty"`
}

// SandboxTx is one simulated chain transaction in sandbox mode.
type SandboxTx struct {
	Seq  uint64 `json:"seq"`
	Data []byte `json:"data"`
}

// OrderQuery selects a page of one partner's orders, newest first.
type OrderQuery struct {
	Status string
	Type   string
	Limit  int
	// BeforeID: only orders with id < BeforeID (0 = from the newest).
	BeforeID int64
}

// Webhook is a partner's webhook subscription: at most one per partner. Only
// shop writes it (the partner sets, rotates or deletes it through the API).
// Secret is the HMAC key of the signatures ("whsec_…"); it is shown to the
// partner only when created or rotated, and never logged.
type Webhook struct {
	PartnerID int64  `json:"partner_id"`
	URL       string `json:"url"`
	// Events lists the event types sent (order.paid, …); never empty.
	Events    []string  `json:"events"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// FailingSince is the first failed attempt of the current run of
	// failures (nil after a success): the shop disables the webhook when
	// every attempt has failed for WebhookDisableAfter.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// DisabledAt is set when the shop disabled the webhook (no events are
	// queued for it); a PUT by the partner clears it.
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
}

// Webhook delivery outcomes (WebhookDelivery.Final).
const (
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookRetrying  = "retrying"  // failed; the event stays queued for another attempt
	WebhookFailed    = "failed"    // failed for good (retries exhausted); the event is dropped
)

// WebhookDelivery is one attempt to deliver one event to a partner's
// webhook; append-only, written by shop after each attempt.
type WebhookDelivery struct {
	ID        int64     `json:"id"`
	PartnerID int64     `json:"partner_id"`
	EventID   string    `json:"event_id"`   // "evt_<outbox id>", stable across attempts
	EventType string    `json:"event_type"` // order.paid, …, webhook.test
	Attempt   int       `json:"attempt"`    // 1 for the first attempt
	At        time.Time `json:"at"`
	// StatusCode is the receiver's HTTP status; 0 when no response arrived.
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMs int64  `json:"duration_ms"`
	Final      string `json:"final"` // WebhookDelivered | WebhookRetrying | WebhookFailed
	// The event itself, so it can be redelivered after it left the outbox:
	// when it happened and its data as it was then.
	EventAt time.Time    `json:"event_at"`
	Order   *Order       `json:"order,omitempty"`
	Ledger  *LedgerEntry `json:"ledger,omitempty"`
	// RedeliveryOf is the delivery row whose redelivery this attempt is.
	RedeliveryOf int64 `json:"redelivery_of,omitempty"`
}
