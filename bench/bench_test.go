package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/bench"
	"github.com/theopenmoney/openmoney/store/pg/pgserver"
	"github.com/theopenmoney/openmoney/store/pg/pgtest"
)

// TestMain lets the bench re-execute this test binary as its restart child
// (arguments "bench -restart-child …", bench.ChildEnv set), as it re-executes
// openmoney.
func TestMain(m *testing.M) {
	if os.Getenv(bench.ChildEnv) != "" && len(os.Args) > 2 && os.Args[1] == "bench" {
		if err := bench.Main(context.Background(), os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	pgtest.Main(m) // stops a PostgreSQL server pgtest started
}

// wantRows are the metric names every report carries (lookup rows are
// matched by prefix, since they name the order count).
var wantRows = []string{
	"GET /orders/{id}",
	"POST /orders/stars durable",
	"transfer → paid p50",
	"transfer → paid p99",
	"order by id ",
	"order by memo ",
	"orders by reference ",
	"list page of 20 ",
	"restart to first GET",
	"resident memory after restart",
	"burst v5r1 ",
	"burst v4r2 ",
}

func TestQuickJSONHasEveryRow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quick bench (~15 s)")
	}
	rep := runQuick(t, "bbolt")
	if rep.Orders != 20_000 || rep.Duration != "1s" {
		t.Errorf("quick run: orders %d duration %s, want 20000 and 1s", rep.Orders, rep.Duration)
	}
}

// TestQuickJSONPostgres runs the quick bench with the service on PostgreSQL,
// on a throwaway server the bench starts itself (no -dsn), as
// `openmoney bench -store postgres` does.
func TestQuickJSONPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quick bench on PostgreSQL (~40 s)")
	}
	if _, err := pgserver.FindBin("pg_ctl"); err != nil {
		if os.Getenv(pgtest.EnvRequire) != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Setenv("OPENMONEY_DATABASE_URL", "")
	rep := runQuick(t, "postgres")
	if rep.Orders != 20_000 || len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "throwaway server started by the bench") {
		t.Errorf("quick postgres run: orders %d, notes %q", rep.Orders, rep.Notes)
	}
	for _, name := range []string{"serialization retries per created order", "POST at pool 32 vs best pool", "serialization retries per payment",
		"serialization retries per webhook attempt"} {
		found := false
		for _, r := range rep.Rows {
			found = found || r.Metric == name
			// The webhook row counts attempts that were made: two per payment.
			if r.Metric == "serialization retries per webhook attempt" {
				if n, _ := strconv.Atoi(strings.Fields(r.Note)[0]); n < 40 {
					t.Errorf("webhook row over %d attempts: %s", n, r.Note)
				}
			}
		}
		if !found {
			t.Errorf("postgres row %q missing", name)
		}
	}
}

// runQuick runs -quick -json -store kind (plus args) and checks every row is
// present with positive figures.
func runQuick(t *testing.T, kind string, args ...string) bench.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := bench.Main(ctx, append([]string{"-quick", "-json", "-store", kind}, args...), &out, &errOut); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, errOut.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if rep.Store != kind || rep.Duration != "1s" {
		t.Errorf("quick run: store %q duration %s, want %s and 1s", rep.Store, rep.Duration, kind)
	}
	if !strings.Contains(errOut.String(), "loading orders [") {
		t.Errorf("no progress bar on stderr:\n%s", errOut.String())
	}
	for _, name := range wantRows {
		var found *bench.Row
		for i, r := range rep.Rows {
			if r.Metric == name || strings.HasPrefix(r.Metric, name) {
				found = &rep.Rows[i]
			}
		}
		if found == nil {
			t.Errorf("row %q missing", name)
			continue
		}
		if !(found.Ours > 0) || found.Unit == "" || found.Target == "" {
			t.Errorf("row %q: %+v", name, *found)
		}
		if found.Baseline != 0 && !(found.Baseline > 0 && found.Ratio > 0) {
			t.Errorf("row %q: baseline %v ratio %v", name, found.Baseline, found.Ratio)
		}
	}
	for _, name := range []string{"GET /orders/{id}", "POST /orders/stars durable", "order by id "} {
		for _, r := range rep.Rows {
			if strings.HasPrefix(r.Metric, name) && !(r.Baseline > 0) {
				t.Errorf("row %q has no baseline", r.Metric)
			}
		}
	}
	if strings.Contains(errOut.String(), "restarting in-process") {
		t.Errorf("restart child failed:\n%s", errOut.String())
	}
	t.Logf("\n%s", out.String())
	return rep
}

func TestFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := bench.Main(context.Background(), []string{"-orders", "100"}, &out, &errOut); err == nil {
		t.Error("-orders 100 accepted")
	}
	if err := bench.Main(context.Background(), []string{"-nope"}, &out, &errOut); err == nil {
		t.Error("unknown flag accepted")
	}
	if err := bench.Main(context.Background(), []string{"extra"}, &out, &errOut); err == nil {
		t.Error("extra argument accepted")
	}
	if err := bench.Main(context.Background(), []string{"-store", "sqlite"}, &out, &errOut); err == nil {
		t.Error("-store sqlite accepted")
	}
	if err := bench.Main(context.Background(), []string{"-quick", "-store", "postgres", "-dsn", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, &out, &errOut); err == nil {
		t.Error("-store postgres with an unreachable server succeeded")
	}
}

// TestBenchFullReport runs the full bench (1 M orders by default) and prints
// the table: OPENMONEY_BENCH_FULL=1 go test -run TestBenchFullReport -v -timeout 30m ./bench/
// OPENMONEY_BENCH_ARGS adds flags (e.g. "-orders 200000").
func TestBenchFullReport(t *testing.T) {
	if os.Getenv("OPENMONEY_BENCH_FULL") != "1" {
		t.Skip("set OPENMONEY_BENCH_FULL=1 to run the full bench")
	}
	args := strings.Fields(os.Getenv("OPENMONEY_BENCH_ARGS"))
	var out bytes.Buffer
	if err := bench.Main(context.Background(), args, &out, os.Stderr); err != nil {
		t.Fatal(err)
	}
	fmt.Print(out.String())
}
