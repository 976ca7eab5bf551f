// Package fulfil delivers Stars and Premium: the sandbox provider here, and
// Fragment in fulfil/fragment. Providers know nothing about orders' money;
// the shop decides when to deliver, retry or refund.
package fulfil

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/domain"
)

// ErrPermanent wraps a failure that retrying cannot fix: the order is refunded.
var ErrPermanent = errors.New("fulfil: permanent failure")

// Failure is why a delivery failed for good, as the partner sees it in the
// order's failure_reason: a stable code and one short sentence (README.md,
// "failure_reason"; api/openapi.json). It is a permanent failure (errors.Is
// with ErrPermanent holds); providers wrap it with the details, which go to
// the log only.
type Failure struct {
	Code    string // stable, [a-z_]; partners may switch on it
	Message string // one short English sentence
}

func (f *Failure) Error() string { return "fulfil: permanent failure: " + f.Code }

// Is makes every Failure an ErrPermanent.
func (f *Failure) Is(target error) bool { return target == ErrPermanent }

// Reason is the failure_reason text: "code: Sentence."
func (f *Failure) Reason() string { return f.Code + ": " + f.Message }

// The failure codes. A new one is added to Failures and documented in
// README.md, docs/OPERATIONS.md and api/openapi.json (Order.failure_reason;
// a test holds the document to Failures).
var (
	ErrRecipientNotFound = &Failure{"recipient_not_found", "The recipient cannot receive this order (no such Telegram user, or not eligible)."}
	ErrProviderRejected  = &Failure{"provider_rejected", "The delivery provider refused the order."}
	ErrProviderError     = &Failure{"provider_error", "The delivery provider gave an answer that could not be used."}
	ErrInvalidRequest    = &Failure{"invalid_request", "The delivery provider cannot deliver this order as placed."}
	ErrExpiredLink       = &Failure{"expired_link", "The provider's payment links kept expiring before they could be paid."}
	ErrPriceAboveCap     = &Failure{"price_above_cap", "The provider's price was above the service's limit."}
	ErrPaymentBounced    = &Failure{"payment_bounced", "The provider did not accept the payment; it came back to the service."}
	ErrPaymentFailed     = &Failure{"payment_failed", "The payment to the provider could not be made."}
	ErrSandboxFailure    = &Failure{"sandbox_forced_failure", "Sandbox: delivery to a recipient name ending in _fail always fails."}
	// ErrOperatorFailed: the operator marked a manual delivery failed; the
	// shop writes the operator's reason as the sentence.
	ErrOperatorFailed = &Failure{"operator_failed", "The operator could not deliver this order."}
	// ErrDeliveryFailed stands for a permanent failure that names no code.
	ErrDeliveryFailed = &Failure{"delivery_failed", "Delivery failed."}
)

// Failures lists every failure code, for the documentation drift tests.
func Failures() []*Failure {
	return []*Failure{ErrRecipientNotFound, ErrProviderRejected, ErrProviderError, ErrInvalidRequest, ErrExpiredLink,
		ErrPriceAboveCap, ErrPaymentBounced, ErrPaymentFailed, ErrSandboxFailure, ErrOperatorFailed, ErrDeliveryFailed}
}

// FailureOf returns the Failure in err's chain, or ErrDeliveryFailed.
func FailureOf(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return ErrDeliveryFailed
}

// ErrUnavailable wraps a failure of the provider itself (session expired,
// outage): paid orders wait and are retried; new orders are refused.
var ErrUnavailable = errors.New("fulfil: provider unavailable")

// ErrAwaitingOperator is returned by a provider whose deliveries an operator
// makes by hand (fulfil/manual): the order stays processing, untouched,
// until the operator marks it delivered or failed (shop.MarkDelivered,
// shop.MarkFailed).
var ErrAwaitingOperator = errors.New("fulfil: awaiting the operator")

// ByOperator is implemented by providers whose deliveries an operator makes
// by hand; only their orders may be marked delivered or failed by hand.
type ByOperator interface {
	DeliveredByOperator() bool
}

// Concurrent is implemented by providers that deliver many orders at once
// (fulfil/fragment pays them in batches): the shop runs up to
// MaxConcurrent deliveries at a time instead of one after the other.
type Concurrent interface {
	MaxConcurrent() int
}

// ErrHeld wraps a delivery that waits for a condition outside the order: the
// service wallet is short of funds, the chain view is too far behind to
// settle a payment already sent, the wallet sent messages the store has no
// record of, the wallet's history that settles a sent payment cannot be read,
// or something else signed with the service wallet. Nothing is refunded for it and the attempt
// does not count as a failure: the order stays processing and the shop tries
// again at a steady pace until the condition clears. New orders are still
// taken. Returned errors are a *Hold.
var ErrHeld = errors.New("fulfil: delivery held")

// ErrInsufficientFunds is the ErrHeld of a service wallet that cannot pay
// for the delivery, fees included.
var ErrInsufficientFunds = fmt.Errorf("%w: service wallet short of funds", ErrHeld)

// Hold reasons.
const (
	HoldFunds       = "insufficient_funds" // the service wallet cannot pay, fees included
	HoldChainBehind = "chain_behind"       // the chain view is too old to settle a sent payment
	// HoldWalletUnrecorded: the service wallet sent messages the store has
	// no record of (restored from an older backup?); paying now could pay
	// twice, so every delivery waits until an operator reconciles.
	HoldWalletUnrecorded = "wallet_unrecorded"
	// HoldWalletHistory: a sent payment's wallet message was passed by the
	// wallet's seqno, and the wallet's history that shows whether it ran
	// cannot be read from any liteserver (nor the archive) yet.
	HoldWalletHistory = "wallet_history_unread"
	// HoldWalletElsewhere: another message, not signed by this service,
	// took the seqno of a sent payment's wallet message: something else
	// signs with the service wallet's key. Nothing is paid again
	// automatically.
	HoldWalletElsewhere = "wallet_used_elsewhere"
)

// Hold is the error of a held delivery (errors.Is(err, ErrHeld)).
type Hold struct {
	Reason string // one of the Hold* reasons above
	Detail string // one sentence for the operator
	// HoldFunds: the wallet balance read for this attempt and what the
	// delivery needs (payment plus fee reserve), in nanotons.
	BalanceNano, NeedNano int64
	// HoldChainBehind: the chain time of the newest view the provider got.
	ChainTime time.Time
}

func (h *Hold) Error() string { return "fulfil: delivery held (" + h.Reason + "): " + h.Detail }

// Is makes errors.Is(h, ErrHeld) true, and errors.Is(h, ErrInsufficientFunds)
// for a funds hold.
func (h *Hold) Is(target error) bool {
	return target == ErrHeld || (target == ErrInsufficientFunds && h.Reason == HoldFunds)
}

// Request is one delivery. Ref is stable for the order, so a retried call
// after a crash can be recognised by the provider.
type Request struct {
	Ref      string // "order-<id>"
	OrderID  int64
	Kind     domain.Kind
	Username string
	Stars    int64
	Months   int
	// State is what the provider saved on an earlier attempt (empty the first time).
	State string
}

// Result of a finished delivery.
type Result struct {
	ProviderRef string // e.g. Fragment req_id
	TxHash      string // our payment transaction, if any
}

// SaveFunc durably records provider progress before a step that cannot be
// repeated (such as sending money); a provider must call it and stop on error.
type SaveFunc func(ctx context.Context, state string) error

// Recipient is the answer to "can this username receive?".
type Recipient struct {
	CanReceive bool
	Reason     string // empty when CanReceive
}

// Sandbox is the test-mode provider: instant success, except usernames ending
// in "_missing" (cannot receive) and "_fail" (delivery fails).
type Sandbox struct{}

// CheckRecipient follows the sandbox magic names.
func (Sandbox) CheckRecipient(_ context.Context, kind domain.Kind, username string) (Recipient, error) {
	if strings.HasSuffix(strings.ToLower(username), "_missing") {
		return Recipient{Reason: "No Telegram user found with this username (sandbox: _missing)"}, nil
	}
	return Recipient{CanReceive: true}, nil
}

// Deliver succeeds at once unless the username ends in "_fail".
func (Sandbox) Deliver(_ context.Context, r Request, _ SaveFunc) (Result, error) {
	if strings.HasSuffix(strings.ToLower(r.Username), "_fail") {
		return Result{}, fmt.Errorf("%w: sandbox: delivery failed for the _fail recipient %q", ErrSandboxFailure, r.Username)
	}
	return Result{ProviderRef: "sandbox-" + r.Ref}, nil
}

// Available is always true for the sandbox.
func (Sandbox) Available() error { return nil }
