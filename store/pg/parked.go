package pg

import "github.com/theopenmoney/openmoney/store"

// Advisory lock classes of parked transfers and the audit log: both are
// paged by id, so ids are taken under a global lock held until commit.
const (
	lockParked int32 = 0x4f4d50
	lockAudit  int32 = 0x4f4d51
)

func (t *tx) PutParked(p *store.Parked) error {
	if p.ID == 0 {
		id, err := t.lockedNextval(lockParked, 0, "parked_id_seq")
		if err != nil {
			return err
		}
		p.ID = id
	}
	data, err := enc(p)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO parked (id, tx_hash, open, rec) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET tx_hash = EXCLUDED.tx_hash, open = EXCLUDED.open, rec = EXCLUDED.rec`,
		p.ID, p.TxHash, p.Open(), data)
	return err
}

func (t *tx) GetParked(id int64) (*store.Parked, error) {
	var p store.Parked
	if err := t.getRec(&p, "SELECT rec FROM parked WHERE id = $1", id); err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *tx) ListParked(afterID int64, limit int, openOnly bool) ([]store.Parked, error) {
	return listRecs[store.Parked](t, "SELECT rec FROM parked WHERE id > $1 AND (open OR NOT $2) ORDER BY id LIMIT $3",
		afterID, openOnly, max(limit, 0))
}

func (t *tx) AppendAudit(a *store.AuditEntry) error {
	id, err := t.lockedNextval(lockAudit, 0, "audit_id_seq")
	if err != nil {
		return err
	}
	a.ID = id
	return t.RestoreAudit(a)
}

func (t *tx) RestoreAudit(a *store.AuditEntry) error {
	data, err := enc(a)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO audit (id, rec) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET rec = EXCLUDED.rec`, a.ID, data)
	return err
}

func (t *tx) ListAudit(afterID int64, limit int) ([]store.AuditEntry, error) {
	return listRecs[store.AuditEntry](t, "SELECT rec FROM audit WHERE id > $1 ORDER BY id LIMIT $2", afterID, max(limit, 0))
}
