package api

import "github.com/theopenmoney/openmoney/shop"

// OrderJSON is the order object exactly as the API renders it (GET
// /orders/{id}); webhooks send it as an order event's data.
func OrderJSON(o *shop.Order) OrderView { return orderView(o) }

// LedgerJSON is the balance transaction exactly as the API renders it (GET
// /balance/transactions); webhooks send it as a balance event's data.
func LedgerJSON(e *shop.LedgerEntry) LedgerView { return ledgerView(e) }
