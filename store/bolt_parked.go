package store

import (
	"encoding/binary"
	"fmt"

	json "github.com/segmentio/encoding/json"
	"github.com/theopenmoney/openmoney/domain"
)

// Parked transfers (by id, with an index of the open ones) and the audit log
// (by id).
var (
	bParked     = []byte("parked")
	bParkedOpen = []byte("parked_open")
	bAudit      = []byte("audit")
)

func (t *boltTx) PutParked(p *domain.Parked) error {
	if p.ID == 0 {
		id, err := t.seq(bParked)
		if err != nil {
			return err
		}
		p.ID = id
	}
	open := t.tx.Bucket(bParkedOpen)
	var err error
	if p.Open() {
		err = open.Put(i64(p.ID), nil)
	} else {
		err = open.Delete(i64(p.ID))
	}
	if err != nil {
		return err
	}
	return t.put(bParked, i64(p.ID), p)
}

func (t *boltTx) GetParked(id int64) (*domain.Parked, error) {
	var p domain.Parked
	if err := t.get(bParked, i64(id), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *boltTx) ListParked(afterID int64, limit int, openOnly bool) ([]domain.Parked, error) {
	var out []domain.Parked
	b := t.b(bParked)
	if openOnly {
		b = t.b(bParkedOpen)
	}
	if b == nil { // a read-only store from before parked transfers
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(i64(afterID + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		if openOnly {
			p, err := t.GetParked(int64(binary.BigEndian.Uint64(k)))
			if err != nil {
				return nil, err
			}
			out = append(out, *p)
			continue
		}
		var p domain.Parked
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("store: decode parked: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (t *boltTx) AppendAudit(a *domain.AuditEntry) error {
	id, err := t.seq(bAudit)
	if err != nil {
		return err
	}
	a.ID = id
	return t.put(bAudit, i64(id), a)
}

func (t *boltTx) RestoreAudit(a *domain.AuditEntry) error { return t.put(bAudit, i64(a.ID), a) }

func (t *boltTx) ListAudit(afterID int64, limit int) ([]domain.AuditEntry, error) {
	var out []domain.AuditEntry
	b := t.b(bAudit)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(i64(afterID + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		var a domain.AuditEntry
		if err := json.Unmarshal(v, &a); err != nil {
			return nil, fmt.Errorf("store: decode audit: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}
