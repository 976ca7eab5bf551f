package pg

import (
	"fmt"

	"github.com/theopenmoney/openmoney/store"
)

// Dumper and Restorer for PostgreSQL (see store.Copy). The walks and
// restores of each record kind live with it (meta.go, partners.go, …).
var (
	_ store.Dumper   = (*tx)(nil)
	_ store.Restorer = (*tx)(nil)
)

// BumpSequences moves each sequence past the largest id in its table.
func (t *tx) BumpSequences() error {
	for _, s := range []struct{ seq, table, col string }{
		{"partner_id_seq", "partners", "id"},
		{"order_id_seq", "orders", "id"},
		{"ledger_id_seq", "ledger", "id"},
		{"unmatched_id_seq", "unmatched", "id"},
		{"outbox_id_seq", "outbox", "id"},
		{"sandbox_seq", "sandbox_chain", "seq"},
		{"webhook_delivery_id_seq", "webhook_deliveries", "id"},
		{"parked_id_seq", "parked", "id"},
		{"audit_id_seq", "audit", "id"},
		{"payer_batch_id_seq", "payer_batches", "id"},
	} {
		err := t.later(fmt.Sprintf(`SELECT setval('%s', m) FROM (SELECT max(%s) AS m FROM %s) x
			WHERE m IS NOT NULL AND m > (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s)`,
			s.seq, s.col, s.table, s.seq), nil, nil)
		if err != nil {
			return err
		}
	}
	return nil
}
