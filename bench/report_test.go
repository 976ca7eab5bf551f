package bench

import (
	"strings"
	"testing"
)

// A figure measured as zero prints 0 (a retry counter read as none); "-"
// is kept for what the row does not have (no baseline, so no ratio).
func TestTableTellsZeroFromNotMeasured(t *testing.T) {
	rep := &Report{Store: "postgres", Rows: []Row{
		newRow("serialization failures + deadlocks per created order", "per op", 0, 0, target{"ours", "<=", 0.05}, ""),
		newRow("POST /orders/stars durable", "orders/s", 1200, 3000, target{"ratio", ">=", 0.3}, ""),
	}}
	var b strings.Builder
	if err := writeTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"| serialization failures + deadlocks per created order (per op) | 0    | -        | -     | ours ≤ 0.05 | PASS      |",
		"| POST /orders/stars durable (orders/s)                         | 1200 | 3000     | 0.40  | ratio ≥ 0.3 | PASS      |",
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("table lacks\n%s\n%s", w, b.String())
		}
	}
}
