package pg

import (
	"encoding/json"
	"fmt"

	"github.com/theopenmoney/openmoney/domain"
)

// Parked transfers and the operators' audit log: records for the operator,
// opaque to the store (json: kept as written, so a comment may hold any
// character, NUL included, which jsonb refuses), beside the columns their
// indexes need.
// Both are paged by id ascending and written rarely, so their ids are taken
// under a global advisory lock held to the commit: they increase in commit
// order and a cursor never skips one.
//
//	parked (id PRIMARY KEY, tx_hash UNIQUE, open, rec json), parked_open (id) WHERE open
//	audit (id PRIMARY KEY, rec json)

// Advisory lock classes (pg_advisory_xact_lock(int, int)).
const (
	lockParked int32 = 0x4f4d50
	lockAudit  int32 = 0x4f4d51
)

// lockedNextval takes the lock of class and then the next value of seq, at
// once: the caller records the id.
func (t *tx) lockedNextval(class int32, seq string) (int64, error) {
	var id int64
	err := t.nowRow("SELECT nextval('"+seq+"') FROM (SELECT pg_advisory_xact_lock($1, 0)) l", []any{class}, nil, &id)
	return id, err
}

func scanJSON[T any](r pgxRows, v *T) error {
	var data []byte
	if err := r.Scan(&data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("pg: decode %T: %w", v, err)
	}
	return nil
}

func (t *tx) PutParked(p *domain.Parked) error {
	if p.ID == 0 {
		id, err := t.lockedNextval(lockParked, "parked_id_seq")
		if err != nil {
			return err
		}
		p.ID = id
	}
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("pg: encode parked transfer: %w", err)
	}
	return t.later(`INSERT INTO parked (id, tx_hash, open, rec) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET tx_hash = EXCLUDED.tx_hash, open = EXCLUDED.open, rec = EXCLUDED.rec`,
		[]any{p.ID, p.TxHash, p.Open(), data}, nil)
}

func (t *tx) GetParked(id int64) (*domain.Parked, error) {
	return get(t, "SELECT rec FROM parked WHERE id = $1", []any{id}, scanJSON[domain.Parked])
}

func (t *tx) ListParked(afterID int64, limit int, openOnly bool) ([]domain.Parked, error) {
	return list(t, "SELECT rec FROM parked WHERE id > $1 AND (open OR NOT $2) ORDER BY id LIMIT $3",
		[]any{afterID, openOnly, maxLimit(limit)}, scanJSON[domain.Parked])
}

func (t *tx) AppendAudit(a *domain.AuditEntry) error {
	id, err := t.lockedNextval(lockAudit, "audit_id_seq")
	if err != nil {
		return err
	}
	a.ID = id
	return t.RestoreAudit(a)
}

// RestoreAudit stores a under its own id (store.Copy).
func (t *tx) RestoreAudit(a *domain.AuditEntry) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("pg: encode audit row: %w", err)
	}
	return t.later(`INSERT INTO audit (id, rec) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET rec = EXCLUDED.rec`,
		[]any{a.ID, data}, nil)
}

func (t *tx) ListAudit(afterID int64, limit int) ([]domain.AuditEntry, error) {
	return list(t, "SELECT rec FROM audit WHERE id > $1 ORDER BY id LIMIT $2", []any{afterID, maxLimit(limit)},
		scanJSON[domain.AuditEntry])
}
