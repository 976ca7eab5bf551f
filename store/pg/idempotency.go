package pg

import (
	"time"

	"github.com/theopenmoney/openmoney/domain"
)

// Idempotency records: the stored outcome of a request per (partner, key).
// The response body is bytea, stored as rendered.
//
//	idempotency (partner_id, key, fingerprint, order_id, status, body bytea, created_at, PRIMARY KEY (partner_id, key))
//	idempotency_by_time (created_at)  the TTL sweep

const idemCols = "partner_id, key, fingerprint, order_id, status, body, created_at"

var idemScan = rowScanner{"pg.idem"}

func scanIdem(r pgxRows, rec *domain.IdemRecord) error {
	err := idemScan.scan(r, &rec.PartnerID, &rec.Key, &rec.Fingerprint, &rec.OrderID, &rec.Status, &rec.Body, &rec.CreatedAt)
	if len(rec.Body) == 0 {
		rec.Body = nil
	}
	return err
}

func idemArgs(r *domain.IdemRecord) []any {
	return []any{r.PartnerID, r.Key, r.Fingerprint, r.OrderID, r.Status, r.Body, r.CreatedAt}
}

func (t *tx) GetIdem(partnerID int64, key string) (*domain.IdemRecord, error) {
	return get(t, "SELECT "+idemCols+" FROM idempotency WHERE partner_id = $1 AND key = $2",
		[]any{partnerID, key}, scanIdem)
}

func (t *tx) PutIdem(r *domain.IdemRecord) error {
	return t.later(`INSERT INTO idempotency (`+idemCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (partner_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, order_id = EXCLUDED.order_id,
		status = EXCLUDED.status, body = EXCLUDED.body, created_at = EXCLUDED.created_at`, idemArgs(r), nil)
}

// CreateIdem is a plain INSERT, held: a record of the key makes it fail
// with a unique violation, which aborts the transaction at the server
// (ErrExists from the commit).
func (t *tx) CreateIdem(r *domain.IdemRecord) error {
	return t.later(`INSERT INTO idempotency (`+idemCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`, idemArgs(r), nil)
}

func (t *tx) DeleteIdem(partnerID int64, key string, before time.Time) (bool, error) {
	tag, err := t.now("DELETE FROM idempotency WHERE partner_id = $1 AND key = $2 AND created_at < $3", partnerID, key, before)
	return tag.RowsAffected() > 0, err
}

func (t *tx) DeleteIdemBefore(before time.Time, limit int) (int, error) {
	tag, err := t.now(`DELETE FROM idempotency WHERE (partner_id, key) IN (
		SELECT partner_id, key FROM idempotency WHERE created_at < $1 ORDER BY created_at LIMIT $2)`,
		before, maxLimit(limit))
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) ForEachIdem(fn func(*domain.IdemRecord) error) error {
	type cursor struct {
		p int64
		k string
	}
	var after cursor
	for {
		page, err := list(t, "SELECT "+idemCols+` FROM idempotency WHERE (partner_id, key) > ($1, $2)
			ORDER BY partner_id, key LIMIT $3`, []any{after.p, after.k, pageSize}, scanIdem)
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
			after = cursor{page[i].PartnerID, page[i].Key}
		}
	}
}
