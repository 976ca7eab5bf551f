package shop

import (
	"context"

	"github.com/theopenmoney/openmoney/domain"
)

// DerivedMemo is the memo order id of kind gets from the store's memo key
// (creating the key if the store has none), for tests.
func DerivedMemo(ctx context.Context, s *Shop, kind string, id int64) (string, error) {
	return s.Memo(ctx, domain.Kind(kind), id)
}
