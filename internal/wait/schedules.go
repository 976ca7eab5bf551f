package wait

import (
	"math/rand/v2"
	"time"
)

// The service's retry schedules, each named once here; the loops that retry
// take theirs from this file (docs/OPERATIONS.md and docs/WEBHOOKS.md print
// them).

// Exp is a capped exponential schedule: Base after the first failure,
// doubling up to Max. Jitter (a fraction; 0 for none) spreads each delay by
// ±Jitter so that instances which failed together do not retry in step.
type Exp struct {
	Base, Max time.Duration
	Jitter    float64
}

// After is the delay after the n-th failure in a row (n ≥ 1).
func (e Exp) After(n int) time.Duration {
	d := Backoff(max(n, 1)-1, e.Base, e.Max)
	if e.Jitter > 0 {
		d = time.Duration(float64(d) * (1 - e.Jitter + 2*e.Jitter*rand.Float64()))
	}
	return d
}

var (
	// Delivery: a delivery attempt that failed for now (the provider down,
	// a transient error); a hold (funds, chain view behind) is not a
	// failure and waits on its own.
	Delivery = Exp{Base: 2 * time.Second, Max: 10 * time.Minute}
	// Telegram: a notification the bot could not send; Telegram's
	// Retry-After replaces one delay.
	Telegram = Exp{Base: time.Second, Max: 15 * time.Minute}
	// Alert: an operator alert the bot could not send.
	Alert = Exp{Base: 5 * time.Second, Max: 10 * time.Minute}
	// Listener: the shop restarts a payment listener (chain source) that
	// stopped with an error.
	Listener = Exp{Base: 200 * time.Millisecond, Max: 30 * time.Second}
	// BotStart: the bot's first call to the Bot API (getMe) at start.
	BotStart = Exp{Base: 500 * time.Millisecond, Max: time.Minute}
	// Chain: a liteserver failure of the TON listener (dial, scan, or the
	// shop refusing a batch); ton.ListenerOptions.RetryMin and RetryMax
	// replace Base and Max.
	Chain = Exp{Base: time.Second, Max: time.Minute, Jitter: 0.2}
	// Rate: a failed refresh of the live TON/USD rate; pricing.Live caps it
	// at its refresh interval, and the source's Retry-After (up to 5 min)
	// lengthens one delay.
	Rate = Exp{Base: 2 * time.Second, Max: time.Minute}
	// JettonPin: finding (from the master's proven state) a USDT jetton
	// wallet the shop has not pinned yet; when all are pinned it looks
	// for new partners' once a minute.
	JettonPin = Exp{Base: time.Second, Max: time.Minute}
)

// Webhook is the delay before each retry of a failed webhook event: after
// attempt n, Webhook[n-1] (the last entry repeats). 17 attempts over just
// over three days, in the spirit of Crypto Pay's "17 tries in 3 days". A
// receiver's Retry-After (up to WebhookRetryAfterMax) replaces the delay of
// that one retry. docs/WEBHOOKS.md prints this table (a test holds the two
// equal).
var Webhook = []time.Duration{
	10 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 6 * time.Hour,
	8 * time.Hour, 8 * time.Hour, 10 * time.Hour, 12 * time.Hour, 12 * time.Hour,
}

// WebhookAfter is the delay after the n-th failed attempt of a webhook
// event (n ≥ 1).
func WebhookAfter(n int) time.Duration { return Webhook[min(max(n, 1), len(Webhook))-1] }

// WebhookRetryAfterMax bounds a webhook receiver's Retry-After.
const WebhookRetryAfterMax = time.Hour
