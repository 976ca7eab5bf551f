package shop

import (
	"context"

	"github.com/theopenmoney/openmoney/domain"
)

// DerivedMemo is the memo order id of kind gets from the store's memo key
// (creating the key if the store has none), for tests.
func DerivedMemo(ctx context.Context, s *Shop, kind string, id int64) (string, error) {
	var m string
	err := s.update(ctx, func(tx *txn) error {
		c, err := s.memoCipherFor(tx, true)
		if err != nil {
			return err
		}
		m, _ = c.memo(domain.Kind(kind), id)
		return nil
	})
	return m, err
}
