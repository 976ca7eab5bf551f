package api

import (
	"net/http"

	"github.com/theopenmoney/openmoney/shop"
)

// handleAdminPayer is GET /admin/payer: the service wallet's seqno on chain
// against the payment records, and the orders an unrecorded message may
// have paid (docs/OPERATIONS.md, "Unrecorded wallet payments").
func (srv *server) handleAdminPayer() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		return srv.shop.PayerState(r.Context())
	})
}

type reconcileBody struct {
	WalletSeqno *int64  `json:"wallet_seqno"`
	Delivered   []int64 `json:"delivered_orders"`
	Note        *string `json:"note"`
	Operator    *string `json:"operator"`
}

// handleAdminReconcile is POST /admin/payer/reconcile {wallet_seqno,
// delivered_orders, note, operator?}.
func (srv *server) handleAdminReconcile() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		var b reconcileBody
		if err := decodeJSON(r, &b); err != nil {
			return nil, err
		}
		if b.WalletSeqno == nil {
			return nil, invalid("wallet_seqno", "wallet_seqno is required: the service wallet's seqno on chain you reconciled up to (GET /admin/payer seqno_on_chain)")
		}
		if *b.WalletSeqno < 1 || *b.WalletSeqno > 1<<32-1 {
			return nil, invalid("wallet_seqno", "wallet_seqno must be a seqno from 1 to 4294967295")
		}
		return srv.shop.ReconcileWallet(r.Context(), shop.Reconciliation{WalletSeqno: uint32(*b.WalletSeqno),
			Delivered: b.Delivered, Note: deref(b.Note), By: actor(r, b.Operator)})
	})
}
