package pg

import (
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// rowScanner scans the rows of one record kind (a fixed column list into
// destinations of fixed types) with pgx's scan plans made once per
// connection and kept with it, instead of once per query as rows.Scan
// does: planning a wide row of named Go types (domain.Status, *time.Time,
// …) by reflection cost more CPU and allocations than decoding it, on
// every single-row read (GET /orders/{id}). Plans are only used by the
// connection's own goroutine, with the connection's type map, and are
// made again when the columns' types or formats differ from those they
// were made for.
type rowScanner struct{ key string }

type scanPlans struct {
	oids    []uint32
	formats []int16
	types   []reflect.Type
	plans   []pgtype.ScanPlan
}

func (p *scanPlans) fit(fds []pgconn.FieldDescription, dest []any) bool {
	if len(p.plans) != len(fds) || len(fds) != len(dest) {
		return false
	}
	for i := range fds {
		if p.oids[i] != fds[i].DataTypeOID || p.formats[i] != fds[i].Format || p.types[i] != reflect.TypeOf(dest[i]) {
			return false
		}
	}
	return true
}

// scan reads the current row of r into dest.
func (s rowScanner) scan(r pgx.Rows, dest ...any) error {
	fds, raw, c := r.FieldDescriptions(), r.RawValues(), r.Conn()
	if c == nil || len(fds) != len(dest) || len(raw) != len(dest) {
		return r.Scan(dest...) // pgx's own plans, and its errors for a mismatch
	}
	data := c.PgConn().CustomData()
	p, _ := data[s.key].(*scanPlans)
	if p == nil || !p.fit(fds, dest) {
		n := len(dest)
		p = &scanPlans{oids: make([]uint32, n), formats: make([]int16, n), types: make([]reflect.Type, n), plans: make([]pgtype.ScanPlan, n)}
		m := c.TypeMap()
		for i, fd := range fds {
			p.oids[i], p.formats[i], p.types[i] = fd.DataTypeOID, fd.Format, reflect.TypeOf(dest[i])
			p.plans[i] = m.PlanScan(fd.DataTypeOID, fd.Format, dest[i])
		}
		data[s.key] = p
	}
	for i, d := range dest {
		if err := p.plans[i].Scan(raw[i], d); err != nil {
			return pgx.ScanArgError{ColumnIndex: i, FieldName: fds[i].Name, Err: err}
		}
	}
	return nil
}
