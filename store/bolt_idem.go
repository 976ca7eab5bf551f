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

// Idempotency records, by partner|key, with a time index for the TTL sweep.

func idemKey(partnerID int64, key string) []byte { return cat(i64(partnerID), []byte(key)) }

// boltIdem is an IdemRecord as bbolt keeps it. A response body of
// idemBodyApart bytes or more is not stored in the record but as the value of
// the record's idempotency_by_time entry (BodyApart set): records are keyed by
// the client's random key, so each one lands on a random leaf, and a leaf of
// ~1.2 KB records (the body base64 in JSON) splits on almost every insert and
// makes the bucket's tree wide; the time bucket is written in key order, its
// pages filled to appendFill. The TTL sweep deletes both entries anyway.
type boltIdem struct {
	domain.IdemRecord
	BodyApart bool `json:"body_apart,omitempty"`
}

const idemBodyApart = 64

func idemTimeKey(createdAt time.Time, k []byte) []byte { return cat(i64(createdAt.UnixNano()), k) }

func (t *boltTx) GetIdem(partnerID int64, key string) (*domain.IdemRecord, error) {
	k := idemKey(partnerID, key)
	var r boltIdem
	if err := t.get(bIdem, k, &r); err != nil {
		if errors.Is(err, ErrNotFound) && t.tx.Writable() {
			t.idemAbsent = k
		}
		return nil, err
	}
	if err := t.idemBody(k, &r); err != nil {
		return nil, err
	}
	return &r.IdemRecord, nil
}

// idemBody fills the body of a record stored apart.
func (t *boltTx) idemBody(k []byte, r *boltIdem) error {
	if !r.BodyApart {
		return nil
	}
	body := t.tx.Bucket(bIdemTime).Get(idemTimeKey(r.CreatedAt, k))
	if body == nil {
		return fmt.Errorf("store: idempotency record %d/%q: response body missing from %s", r.PartnerID, r.Key, bIdemTime)
	}
	r.Body = bytes.Clone(body)
	return nil
}

func (t *boltTx) PutIdem(r *domain.IdemRecord) error {
	k := idemKey(r.PartnerID, r.Key)
	times := t.tx.Bucket(bIdemTime)
	if bytes.Equal(k, t.idemAbsent) {
		t.idemAbsent = nil // written now
	} else if prev := t.tx.Bucket(bIdem).Get(k); prev != nil {
		var p boltIdem
		if err := json.Unmarshal(prev, &p); err != nil {
			return fmt.Errorf("store: decode %s: %w", bIdem, err)
		}
		if err := times.Delete(idemTimeKey(p.CreatedAt, k)); err != nil {
			return err
		}
	}
	rec := boltIdem{IdemRecord: *r}
	var body []byte
	if len(r.Body) >= idemBodyApart {
		body, rec.Body, rec.BodyApart = r.Body, nil, true
	}
	if err := times.Put(idemTimeKey(r.CreatedAt, k), body); err != nil {
		return err
	}
	return t.put(bIdem, k, &rec)
}

func (t *boltTx) CreateIdem(r *domain.IdemRecord) error {
	k := idemKey(r.PartnerID, r.Key)
	if !bytes.Equal(k, t.idemAbsent) {
		if t.tx.Bucket(bIdem).Get(k) != nil {
			return fmt.Errorf("idempotency key %d/%q: %w", r.PartnerID, r.Key, ErrExists)
		}
		t.idemAbsent = k
	}
	return t.PutIdem(r)
}

func (t *boltTx) DeleteIdem(partnerID int64, key string, before time.Time) (bool, error) {
	k := idemKey(partnerID, key)
	v := t.tx.Bucket(bIdem).Get(k)
	if v == nil {
		return false, nil
	}
	var r boltIdem
	if err := json.Unmarshal(v, &r); err != nil {
		return false, fmt.Errorf("store: decode %s: %w", bIdem, err)
	}
	if !r.CreatedAt.Before(before) {
		return false, nil
	}
	if err := t.tx.Bucket(bIdemTime).Delete(idemTimeKey(r.CreatedAt, k)); err != nil { // and a body stored apart
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
		if err := t.tx.Bucket(bIdemTime).Delete(k); err != nil { // and a body stored apart
			return 0, err
		}
		if err := t.tx.Bucket(bIdem).Delete(k[8:]); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}
