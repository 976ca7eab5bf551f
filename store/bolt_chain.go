package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	json "github.com/segmentio/encoding/json"
	"github.com/theopenmoney/openmoney/domain"
)

// What the chain listener keeps: seen transfers (by hash), unmatched
// deposits, the sandbox chain.

func (t *boltTx) GetSeen(hash string) (*domain.SeenTx, error) {
	var s domain.SeenTx
	if err := t.get(bSeen, []byte(hash), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (t *boltTx) CreateSeen(s *domain.SeenTx) error {
	if t.tx.Bucket(bSeen).Get([]byte(s.Hash)) != nil {
		return fmt.Errorf("seen tx %s: %w", s.Hash, ErrExists)
	}
	return t.PutSeen(s)
}

func (t *boltTx) PutSeen(s *domain.SeenTx) error { return t.put(bSeen, []byte(s.Hash), s) }

func (t *boltTx) ForEachSeen(fn func(*domain.SeenTx) error) error {
	b := t.b(bSeen)
	if b == nil {
		return nil
	}
	return b.ForEach(func(_, v []byte) error {
		var s domain.SeenTx
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("store: decode seen: %w", err)
		}
		return fn(&s)
	})
}

func (t *boltTx) PutUnmatched(u *domain.Unmatched) error {
	if u.ID == 0 {
		id, err := t.seq(bUnmatched)
		if err != nil {
			return err
		}
		u.ID = id
	}
	return t.put(bUnmatched, i64(u.ID), u)
}

func (t *boltTx) GetUnmatched(id int64) (*domain.Unmatched, error) {
	var u domain.Unmatched
	if err := t.get(bUnmatched, i64(id), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

func (t *boltTx) ListUnmatched(afterID int64, limit int) ([]domain.Unmatched, error) {
	var out []domain.Unmatched
	b := t.b(bUnmatched)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(i64(afterID + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		var u domain.Unmatched
		if err := json.Unmarshal(v, &u); err != nil {
			return nil, fmt.Errorf("store: decode unmatched: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// Sandbox chain: simulated transactions by sequence.

func (t *boltTx) AppendSandboxTx(data []byte) (uint64, error) {
	b := t.tx.Bucket(bSandbox)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	return seq, b.Put(u64(seq), data)
}

func (t *boltTx) SandboxTxAfter(seq uint64, limit int) ([]domain.SandboxTx, error) {
	var out []domain.SandboxTx
	b := t.b(bSandbox)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(u64(seq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		out = append(out, domain.SandboxTx{Seq: binary.BigEndian.Uint64(k), Data: bytes.Clone(v)})
	}
	return out, nil
}
