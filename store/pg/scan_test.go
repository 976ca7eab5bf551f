package pg

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
)

// TestRowScannerReusesAndRemakesPlans: a rowScanner's plans, kept with the
// connection, scan later rows of the same shape (NULLs included) and are
// made again when the columns' types or the destinations' types change; a
// column that cannot go into its destination is an error naming it.
func TestRowScannerReusesAndRemakesPlans(t *testing.T) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	s := rowScanner{"test.row"}
	scan := func(sql string, dest ...any) error {
		t.Helper()
		rows, err := c.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
			if err := s.scan(rows, dest...); err != nil {
				return err
			}
		}
		if n != 1 {
			t.Fatalf("%s: %d rows", sql, n)
		}
		return rows.Err()
	}

	var st domain.Status
	var at *time.Time
	var n int64
	if err := scan("SELECT 'paid'::text, '2026-12-02 05:00:00+00'::timestamptz, 7::bigint", &st, &at, &n); err != nil {
		t.Fatal(err)
	}
	if st != domain.StatusPaid || at == nil || !at.Equal(time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)) || n != 7 {
		t.Fatalf("first row: %q %v %d", st, at, n)
	}
	first := c.PgConn().CustomData()["test.row"]
	if first == nil {
		t.Fatal("no plans kept with the connection")
	}
	if err := scan("SELECT 'expired'::text, NULL::timestamptz, 8::bigint", &st, &at, &n); err != nil {
		t.Fatal(err)
	}
	if st != domain.StatusExpired || at != nil || n != 8 {
		t.Fatalf("second row: %q %v %d", st, at, n)
	}
	if c.PgConn().CustomData()["test.row"] != first {
		t.Fatal("plans made again for a row of the same shape")
	}

	// Other column types, and other destinations: new plans.
	var a, b string
	var m int32
	if err := scan("SELECT 'x'::text, 5::integer, 'y'::varchar", &a, &m, &b); err != nil {
		t.Fatal(err)
	}
	if a != "x" || m != 5 || b != "y" {
		t.Fatalf("third row: %q %d %q", a, m, b)
	}
	var f float64
	if err := scan("SELECT 'x'::text, 5::integer, 'y'::varchar", &a, &f, &b); err != nil {
		t.Fatal(err)
	}
	if f != 5 {
		t.Fatalf("fourth row: %v", f)
	}

	var bad int64
	err = scan("SELECT 'x'::text AS name, 'not a number'::text AS amount, 'y'::text", &a, &bad, &b)
	var se pgx.ScanArgError
	if !errors.As(err, &se) || se.ColumnIndex != 1 || se.FieldName != "amount" {
		t.Fatalf("text into int64: %v", err)
	}
}
