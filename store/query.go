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
