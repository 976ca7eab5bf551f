// Package manual is the delivery provider for operators who deliver Stars
// and Premium by hand (fulfillment.provider: manual). The service takes and
// matches payments as usual; a paid order then waits in processing until an
// operator marks it delivered or failed through the admin routes, exactly
// once (a failed one is refunded to the partner balance). Nothing is sent
// anywhere by the service itself.
package manual

import (
	"context"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
)

// Provider hands every delivery to the operator.
type Provider struct{}

var _ fulfil.ByOperator = Provider{}

// CheckRecipient accepts every well-formed username: the service cannot ask
// Telegram, so checking the recipient is the operator's part of delivering.
func (Provider) CheckRecipient(context.Context, domain.Kind, string) (fulfil.Recipient, error) {
	return fulfil.Recipient{CanReceive: true}, nil
}

// Deliver leaves the order to the operator: fulfil.ErrAwaitingOperator.
func (Provider) Deliver(context.Context, fulfil.Request, fulfil.SaveFunc) (fulfil.Result, error) {
	return fulfil.Result{}, fulfil.ErrAwaitingOperator
}

// Available is always nil: orders are taken and wait for the operator.
func (Provider) Available() error { return nil }

// DeliveredByOperator implements fulfil.ByOperator.
func (Provider) DeliveredByOperator() bool { return true }
