package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	json "github.com/segmentio/encoding/json"
	"github.com/theopenmoney/openmoney/domain"
)

// Orders and their indexes: partner, reference, expiry queue
// (pending_payment), delivery queue (paid, processing) by id for the
// operators' list and by due time (Order.DeliveryDueAt) for the delivery
// loop. The memo is a function of the id (shop/memo.go): not indexed.

func (t *boltTx) NextOrderID() (int64, error) { return t.seq(bOrders) }

func inExpiryQueue(o *domain.Order) bool {
	return o.Status == domain.StatusPendingPayment && o.ExpiresAt != nil
}
func inDeliveryQueue(o *domain.Order) bool {
	return o.Status == domain.StatusPaid || o.Status == domain.StatusProcessing
}

func expiryKey(o *domain.Order) []byte { return cat(i64(o.ExpiresAt.UnixNano()), i64(o.ID)) }
func dueKey(o *domain.Order) []byte    { return cat(i64(o.DeliveryDueAt().UnixNano()), i64(o.ID)) }

func refKey(partnerID int64, ref string, id int64) []byte {
	return cat(i64(partnerID), []byte(ref), []byte{0}, i64(id))
}

func (t *boltTx) CreateOrder(o *domain.Order) error {
	id := i64(o.ID)
	if t.tx.Bucket(bOrders).Get(id) != nil {
		return fmt.Errorf("order %d: %w", o.ID, ErrExists)
	}
	if err := t.tx.Bucket(bOrdersPartner).Put(cat(i64(o.PartnerID), id), nil); err != nil {
		return err
	}
	if o.ClientReference != "" {
		if err := t.tx.Bucket(bOrdersRef).Put(refKey(o.PartnerID, o.ClientReference, o.ID), nil); err != nil {
			return err
		}
	}
	return t.putOrder(o, nil)
}

func (t *boltTx) PutOrder(o *domain.Order) error {
	prev, err := t.GetOrder(o.ID)
	if err != nil {
		return fmt.Errorf("order %d: %w", o.ID, err)
	}
	return t.putOrder(o, prev)
}

// putOrder writes o and moves it between the queues (prev: the stored
// order, nil when o is new).
func (t *boltTx) putOrder(o, prev *domain.Order) error {
	id := i64(o.ID)
	eq, dq, uq := t.tx.Bucket(bOrdersExpiry), t.tx.Bucket(bOrdersDeliver), t.tx.Bucket(bOrdersDue)
	if prev != nil && inExpiryQueue(prev) && (!inExpiryQueue(o) || !prev.ExpiresAt.Equal(*o.ExpiresAt)) {
		if err := eq.Delete(expiryKey(prev)); err != nil {
			return err
		}
	}
	if inExpiryQueue(o) {
		if err := eq.Put(expiryKey(o), nil); err != nil {
			return err
		}
	}
	// Each queue entry is written when the order joins or its key moves
	// (a rewrite of an unchanged entry would still dirty its page).
	was, is := prev != nil && inDeliveryQueue(prev), inDeliveryQueue(o)
	var wasDue, isDue []byte
	if was {
		wasDue = dueKey(prev)
	}
	if is {
		isDue = dueKey(o)
	}
	if was && !is {
		if err := dq.Delete(id); err != nil {
			return err
		}
	}
	if is && !was {
		if err := dq.Put(id, nil); err != nil {
			return err
		}
	}
	if !bytes.Equal(wasDue, isDue) {
		if was {
			if err := uq.Delete(wasDue); err != nil {
				return err
			}
		}
		if is {
			if err := uq.Put(isDue, nil); err != nil {
				return err
			}
		}
	}
	return t.put(bOrders, id, o)
}

func (t *boltTx) GetOrder(id int64) (*domain.Order, error) {
	var o domain.Order
	if err := t.get(bOrders, i64(id), &o); err != nil {
		return nil, err
	}
	return &o, nil
}

func (t *boltTx) ForEachPartnerOrder(partnerID int64, fn func(*domain.Order) bool) error {
	return t.walkPartnerOrders(partnerID, 0, func(o *domain.Order) (bool, error) { return fn(o), nil })
}

// walkPartnerOrders walks a partner's orders with id < beforeID, newest first.
func (t *boltTx) walkPartnerOrders(partnerID, beforeID int64, fn func(*domain.Order) (bool, error)) error {
	return t.walkNewest(bOrdersPartner, partnerID, beforeID, func(id []byte) (bool, error) {
		o, err := t.GetOrder(int64(binary.BigEndian.Uint64(id)))
		if err != nil {
			return false, err
		}
		return fn(o)
	})
}

// walkNewest walks an index bucket keyed partner(8)|id(8) from the partner's
// newest id below beforeID (0 = the newest) down, calling fn with each id
// until it returns false. Every per-partner list pages this way.
func (t *boltTx) walkNewest(index []byte, partnerID, beforeID int64, fn func(id []byte) (bool, error)) error {
	b := t.b(index)
	if b == nil {
		return nil
	}
	prefix := i64(partnerID)
	start := i64(partnerID + 1)
	if beforeID > 0 {
		start = cat(prefix, i64(beforeID))
	}
	c := b.Cursor()
	k, _ := c.Seek(start)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		more, err := fn(k[8:])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t *boltTx) ListOrders(partnerID int64, q OrderQuery) ([]domain.Order, error) {
	var out []domain.Order
	err := t.walkPartnerOrders(partnerID, q.BeforeID, func(o *domain.Order) (bool, error) {
		if (q.Status == "" || o.Status == q.Status) && (q.Type == "" || o.Type == q.Type) {
			out = append(out, *o)
		}
		return len(out) < q.Limit, nil
	})
	return out, err
}

func (t *boltTx) OrdersByReference(partnerID int64, ref string, beforeID int64, limit int) ([]domain.Order, error) {
	var out []domain.Order
	b := t.b(bOrdersRef)
	if b == nil || limit <= 0 {
		return nil, nil
	}
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	prefix := cat(i64(partnerID), []byte(ref), []byte{0})
	c := b.Cursor()
	k, _ := c.Seek(cat(prefix, i64(beforeID)))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 && len(out) < limit; k, _ = c.Prev() {
		o, err := t.GetOrder(int64(binary.BigEndian.Uint64(k[len(prefix):])))
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, nil
}

func (t *boltTx) ForEachOrder(fn func(*domain.Order) error) error {
	b := t.b(bOrders)
	if b == nil {
		return nil
	}
	return b.ForEach(func(_, v []byte) error {
		var o domain.Order
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("store: decode order: %w", err)
		}
		return fn(&o)
	})
}

func (t *boltTx) DueExpiries(now time.Time, limit int) ([]int64, error) {
	var ids []int64
	b := t.b(bOrdersExpiry)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
			break
		}
		ids = append(ids, int64(binary.BigEndian.Uint64(k[8:])))
	}
	return ids, nil
}

func (t *boltTx) DeliveryQueue(afterID int64, limit int) ([]int64, error) {
	var ids []int64
	b := t.b(bOrdersDeliver)
	if b == nil || limit <= 0 || afterID == math.MaxInt64 {
		return nil, nil
	}
	c := b.Cursor()
	for k, _ := c.Seek(i64(max(afterID, 0) + 1)); k != nil && len(ids) < limit; k, _ = c.Next() {
		ids = append(ids, int64(binary.BigEndian.Uint64(k)))
	}
	return ids, nil
}

func (t *boltTx) DueDeliveries(now time.Time, limit int) ([]int64, error) {
	var ids []int64
	b := t.b(bOrdersDue)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
			break
		}
		ids = append(ids, int64(binary.BigEndian.Uint64(k[8:])))
	}
	return ids, nil
}
