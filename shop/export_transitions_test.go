package shop

import (
	"context"

	"github.com/theopenmoney/openmoney/domain"
)

// MoveOrder runs move on o (stored already unless its status is ""), with
// its partner, in a transaction of its own, for tests.
func MoveOrder(ctx context.Context, s *Shop, o *domain.Order, to domain.Status) error {
	return s.write(ctx, func(tx *txn) error {
		p, err := tx.GetPartner(o.PartnerID)
		if err != nil {
			return err
		}
		c := *o
		return s.move(tx, p, &c, to)
	})
}
