package store

import "github.com/theopenmoney/openmoney/domain"

// OrderQuery selects a page of one partner's orders, newest first.
type OrderQuery struct {
	Status domain.Status
	Type   domain.Kind
	Limit  int
	// BeforeID: only orders with id < BeforeID (0 = from the newest).
	BeforeID int64
}

// EachPartner calls fn with every partner, by id, reading them a page at a
// time through ListPartners; it stops at fn's first error.
func EachPartner(tx Tx, fn func(*domain.Partner) error) error {
	var after int64
	for {
		ps, err := tx.ListPartners(after, 1000)
		if err != nil || len(ps) == 0 {
			return err
		}
		for i := range ps {
			if err := fn(&ps[i]); err != nil {
				return err
			}
			after = ps[i].ID
		}
	}
}
