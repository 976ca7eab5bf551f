package shop

import (
	"fmt"

	"github.com/theopenmoney/openmoney/domain"
)

// The order state machine: transitions lists every legal status change and
// the event it sends to the partner's chat and webhook ("" for none); "" as
// the from-status is the order's creation. An order's status changes only
// through move, in the store transaction that records the change.
//
//	(new)           → pending_payment (a ton_memo order) | paid (a balance order)
//	pending_payment → paid | expired | cancelled
//	expired         → paid (a transfer sent before the deadline, seen after it)
//	paid            → processing
//	processing      → completed | refunded
//
// failed is a status of the contract that no move reaches: a delivery that
// fails for good is refunded.
var transitions = map[domain.Status]map[domain.Status]string{
	"": {
		domain.StatusPendingPayment: "",             // a ton_memo order waits for its transfer
		domain.StatusPaid:           EventOrderPaid, // a balance order is paid at creation
	},
	domain.StatusPendingPayment: {
		domain.StatusPaid:      EventOrderPaid,
		domain.StatusExpired:   EventOrderExpired,
		domain.StatusCancelled: EventOrderCancelled,
	},
	// A transfer whose chain time is before the deadline pays the order even
	// when the listener sees it after the expiry.
	domain.StatusExpired: {
		domain.StatusPaid: EventOrderPaid,
	},
	domain.StatusPaid: {
		domain.StatusProcessing: "",
	},
	domain.StatusProcessing: {
		domain.StatusCompleted: EventOrderCompleted,
		domain.StatusRefunded:  EventOrderRefunded,
	},
}

// Legal reports whether an order may move from one status to another (from
// "" is the order's creation).
func Legal(from, to domain.Status) bool {
	_, ok := transitions[from][to]
	return ok
}

// IllegalMoveError is move's refusal: a bug in the caller, never a
// partner's error (callers check the status they expect first).
type IllegalMoveError struct {
	OrderID  int64
	From, To domain.Status
}

func (e *IllegalMoveError) Error() string {
	from := string(e.From)
	if from == "" {
		from = "(new)"
	}
	return fmt.Sprintf("shop: order %d cannot move from %s to %s", e.OrderID, from, e.To)
}

// move changes o's status to `to` in tx, if the table allows it from o's
// current status: it writes the order (creates it, when its status is ""),
// queues the move's event for p (p may be nil for a move without one) and
// notes the transition for the Observer, told once tx commits. The caller
// sets the fields that go with the move (PaidAt, CompletedAt, …) first. An
// illegal move writes nothing and returns an *IllegalMoveError.
func (s *Shop) move(tx *txn, p *domain.Partner, o *domain.Order, to domain.Status) error {
	from := o.Status
	event, ok := transitions[from][to]
	if !ok {
		return &IllegalMoveError{OrderID: o.ID, From: from, To: to}
	}
	o.Status = to
	var err error
	if from == "" {
		err = tx.CreateOrder(o)
	} else {
		err = tx.PutOrder(o)
	}
	if err != nil {
		o.Status = from
		return err
	}
	if event != "" {
		if err := s.emit(tx, p, event, o, nil); err != nil {
			return err
		}
	}
	tx.moves = append(tx.moves, transition{from, to})
	return nil
}
