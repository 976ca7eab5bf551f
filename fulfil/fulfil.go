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
)

// Kinds of delivery.
const (
	KindStars   = "stars"
	KindPremium = "premium"
)

// ErrPermanent wraps a failure that retrying cannot fix: the order is refunded.
var ErrPermanent = errors.New("fulfil: permanent failure")

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

// ErrHeld wraps a delivery that waits for a condition outside the order: the
// service wallet is short of funds, or the chain view is too far behind to
// settle a payment already sent. Nothing is refunded for it and the attempt
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
)

// Hold is the error of a held delivery (errors.Is(err, ErrHeld)).
type Hold struct {
	Reason string // HoldFunds or HoldChainBehind
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
	Kind     string
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
func (Sandbox) CheckRecipient(_ context.Context, kind, username string) (Recipient, error) {
	if strings.HasSuffix(strings.ToLower(username), "_missing") {
		return Recipient{Reason: "No Telegram user found with this username (sandbox: _missing)"}, nil
	}
	return Recipient{CanReceive: true}, nil
}

// Deliver succeeds at once unless the username ends in "_fail".
func (Sandbox) Deliver(_ context.Context, r Request, _ SaveFunc) (Result, error) {
	if strings.HasSuffix(strings.ToLower(r.Username), "_fail") {
		return Result{}, errors.Join(ErrPermanent, errors.New("sandbox: delivery failed for a _fail recipient"))
	}
	return Result{ProviderRef: "sandbox-" + r.Ref}, nil
}

// Available is always true for the sandbox.
func (Sandbox) Available() error { return nil }
