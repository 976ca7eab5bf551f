package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	json "github.com/segmentio/encoding/json"

	"github.com/theopenmoney/openmoney/domain"
)

// Idempotency records, by partner|key (the whole record, answer included),
// with a time index (created_at|partner|key → nothing) for the TTL sweep.

func idemKey(partnerID int64, key string) []byte { return cat(i64(partnerID), []byte(key)) }

func idemTimeKey(createdAt time.Time, k []byte) []byte { return cat(i64(createdAt.UnixNano()), k) }

func (t *boltTx) GetIdem(partnerID int64, key string) (*domain.IdemRecord, error) {
	var r domain.IdemRecord
	if err := t.get(bIdem, idemKey(partnerID, key), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (t *boltTx) PutIdem(r *domain.IdemRecord) error {
	k := idemKey(r.PartnerID, r.Key)
	times := t.tx.Bucket(bIdemTime)
	if prev := t.tx.Bucket(bIdem).Get(k); prev != nil {
		var p domain.IdemRecord
		if err := json.Unmarshal(prev, &p); err != nil {
			return fmt.Errorf("store: decode %s: %w", bIdem, err)
		}
		if err := times.Delete(idemTimeKey(p.CreatedAt, k)); err != nil {
			return err
		}
	}
	if err := times.Put(idemTimeKey(r.CreatedAt, k), nil); err != nil {
		return err
	}
	return t.put(bIdem, k, r)
}

func (t *boltTx) CreateIdem(r *domain.IdemRecord) error {
	if t.tx.Bucket(bIdem).Get(idemKey(r.PartnerID, r.Key)) != nil {
		return fmt.Errorf("idempotency key %d/%q: %w", r.PartnerID, r.Key, ErrExists)
	}
	return t.PutIdem(r)
}

func (t *boltTx) DeleteIdem(partnerID int64, key string, before time.Time) (bool, error) {
	k := idemKey(partnerID, key)
	r, err := t.GetIdem(partnerID, key)
	if errors.Is(err, ErrNotFound) || (err == nil && !r.CreatedAt.Before(before)) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := t.tx.Bucket(bIdemTime).Delete(idemTimeKey(r.CreatedAt, k)); err != nil {
		return false, err
	}
	return true, t.tx.Bucket(bIdem).Delete(k)
}

func (t *boltTx) DeleteIdemBefore(before time.Time, limit int) (int, error) {
	c := t.tx.Bucket(bIdemTime).Cursor()
	var dead [][]byte
	for k, _ := c.First(); k != nil && len(dead) < limit; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k[:8])) >= before.UnixNano() {
			break
		}
		dead = append(dead, bytes.Clone(k))
	}
	for _, k := range dead {
		if err := t.tx.Bucket(bIdemTime).Delete(k); err != nil {
			return 0, err
		}
		if err := t.tx.Bucket(bIdem).Delete(k[8:]); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}
