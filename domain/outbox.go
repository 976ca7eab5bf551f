package domain

import "time"

// Channel is where an outbox event is sent.
type Channel string

// Outbox channels.
const (
	ChannelTelegram Channel = "telegram" // the partner's chat, by the bot
	ChannelWebhook  Channel = "webhook"  // the partner's webhook
)

// OutboxItem is one event waiting to be sent on one channel, written by
// shop in the same transaction as the state change it reports, and removed
// by shop once sent (or given up).
type OutboxItem struct {
	ID            int64        `json:"id"`
	Channel       Channel      `json:"channel"`
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
