package api

import (
	"net/http"

	"github.com/theopenmoney/openmoney/shop"
)

type releaseBatchBody struct {
	Operator  *string  `json:"operator"`
	Delivered *[]int64 `json:"delivered_orders"`
	Note      *string  `json:"note"`
}

// handleAdminReleaseBatch is POST /admin/payer/batches/{id}/release
// {delivered_orders, note, operator?}: settles a payment batch held
// wallet_used_elsewhere (docs/OPERATIONS.md, "Held deliveries").
func (srv *server) handleAdminReleaseBatch() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := adminID(r, "payment batch")
		if err != nil {
			return nil, err
		}
		var b releaseBatchBody
		if err := decodeJSON(r, &b); err != nil {
			return nil, err
		}
		rel := shop.BatchRelease{BatchID: id, Note: deref(b.Note), By: actor(r, b.Operator)}
		if b.Delivered != nil {
			rel.Delivered = *b.Delivered
			if rel.Delivered == nil {
				rel.Delivered = []int64{}
			}
		}
		return srv.shop.ReleaseBatch(r.Context(), rel)
	})
}
