package api

import "github.com/theopenmoney/openmoney/domain"

// OrderJSON is the order object exactly as the API renders it (GET
// /orders/{id}), with checkoutURL (shop.CheckoutURL) as its checkout_url;
// webhooks send it as an order event's data.
func OrderJSON(o *domain.Order, checkoutURL string) OrderView { return orderJSON(o, checkoutURL) }

// LedgerJSON is the balance transaction exactly as the API renders it (GET
// /balance/transactions); webhooks send it as a balance event's data.
func LedgerJSON(e *domain.LedgerEntry) LedgerView { return ledgerView(e) }
