package shop

import (
	"errors"
	"fmt"
)

// Code is a business error code from the API's error table (openapi.json).
type Code string

// Error codes (the error table). api maps them to HTTP statuses; bot to texts.
const (
	CodeUnauthorized          Code = "UNAUTHORIZED"
	CodeInsufficientBalance   Code = "INSUFFICIENT_BALANCE"
	CodeNotFound              Code = "NOT_FOUND"
	CodeOrderNotCancellable   Code = "ORDER_NOT_CANCELLABLE"
	CodeIdempotencyInProgress Code = "IDEMPOTENCY_IN_PROGRESS"
	CodeValidation            Code = "VALIDATION_ERROR"
	CodeIdempotencyReused     Code = "IDEMPOTENCY_KEY_REUSED"
	CodeRecipientNotFound     Code = "RECIPIENT_NOT_FOUND"
	CodeServiceUnavailable    Code = "SERVICE_UNAVAILABLE"
	// CodeAlreadyAssigned (409): an unmatched deposit was already assigned
	// by an operator (admin routes only).
	CodeAlreadyAssigned Code = "ALREADY_ASSIGNED"
	// CodeWebhookDisabled (409): the partner's webhook was disabled after
	// days of failed deliveries; PUT /webhook re-enables it.
	CodeWebhookDisabled Code = "WEBHOOK_DISABLED"
	// CodeAlreadyResolved (409): a parked transfer was already retried or
	// assigned by an operator (admin routes only).
	CodeAlreadyResolved Code = "ALREADY_RESOLVED"
	// CodeTransferRefused (409): the payment rules refused a parked transfer
	// again on an operator's retry or assignment; it stays parked (admin
	// routes only).
	CodeTransferRefused Code = "TRANSFER_REFUSED"
	// CodeNotAwaitingDelivery (409): an operator marked an order delivered
	// or failed that is not waiting for a manual delivery — already
	// completed or refunded, not paid, or the provider is not manual (admin
	// routes only).
	CodeNotAwaitingDelivery Code = "NOT_AWAITING_DELIVERY"
	// CodeNotReconcilable (409): a reconciliation of the service wallet's
	// messages was refused — nothing to reconcile, the wallet's seqno on
	// chain is not the one named, or an order named is not one an
	// unrecorded message could have paid; or a payment batch release was
	// refused — the batch is not held wallet_used_elsewhere now, or an order
	// named has no unsettled payment in it; nothing changed (admin routes
	// only).
	CodeNotReconcilable Code = "NOT_RECONCILABLE"
)

// Error is the one business error the shop returns: a code, the field it
// concerns (may be empty), an English message fit for a partner, and a
// message key with arguments so the bot can translate it.
type Error struct {
	Code    Code
	Field   string
	Message string
	Key     string // catalogue key, e.g. "quantity_range"
	Args    []any  // arguments for Key, in message order
}

func (e *Error) Error() string { return e.Message }

// ErrorCode returns the business code of err, or "" for internal errors.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func newErr(code Code, field, key string, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...), Key: key, Args: args}
}

func validation(field, key, format string, args ...any) *Error {
	return newErr(CodeValidation, field, key, format, args...)
}

func notFound(what string) *Error {
	return newErr(CodeNotFound, "", "not_found", "%s not found", what)
}
