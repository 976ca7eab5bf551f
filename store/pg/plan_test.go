package pg

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/store/pg/pgtest"
)

// TestDeliveryQueriesUseTheirIndexes: the delivery loop's query reads
// orders_delivery_due in order (no sort, no scan of the orders not due) and
// the operators' list reads orders_delivery_queue: the queries spell the
// indexes' expressions and predicates exactly, or the planner could not use
// them. Sequential scans are switched off so the answer does not depend on
// the table's size.
func TestDeliveryQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, pgtest.DSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := st.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET enable_seqscan")
	plan := func(sql string, args ...any) string {
		t.Helper()
		rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	for _, c := range []struct {
		name, sql, index string
		args             []any
	}{
		{"due deliveries", dueDeliveriesSQL, "orders_delivery_due", []any{time.Now(), 500}},
		{"delivery queue page", deliveryQueueSQL, "orders_delivery_queue", []any{int64(0), 100}},
	} {
		p := plan(c.sql, c.args...)
		if !strings.Contains(p, "Index") || !strings.Contains(p, c.index) || strings.Contains(p, "Sort") {
			t.Errorf("%s: plan does not read %s in order:\n%s", c.name, c.index, p)
		}
	}
}
