package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Row is one line of the bench table. Ours and Baseline are in Unit; Ratio is
// Ours/Baseline when the row compares against a baseline, else 0. The target
// applies to Ratio (On == "ratio") or to Ours (On == "ours").
type Row struct {
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	Ours     float64 `json:"ours"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"`
	Target   string  `json:"target"`
	Pass     bool    `json:"pass"`
	Note     string  `json:"note,omitempty"`
}

// Report is the whole run, as printed with -json.
type Report struct {
	Store     string    `json:"store"` // what "ours" ran on: bbolt | postgres
	Orders    int       `json:"orders"`
	Duration  string    `json:"duration"`
	Workers   int       `json:"workers"`
	CPUs      int       `json:"cpus"`
	MaxProcs  int       `json:"gomaxprocs"`
	GoVersion string    `json:"go_version"`
	StartedAt time.Time `json:"started_at"`
	Elapsed   string    `json:"elapsed"`
	Rows      []Row     `json:"rows"`
	AllPass   bool      `json:"all_pass"`
	Notes     []string  `json:"notes,omitempty"`
}

// target is a bound on the ratio (on "ratio") or on our own figure ("ours").
type target struct {
	on  string  // "ratio" | "ours"
	op  string  // ">=" | "<="
	val float64 // the bound
}

func (t target) String() string {
	sym := "≥"
	if t.op == "<=" {
		sym = "≤"
	}
	return t.on + " " + sym + " " + strconv.FormatFloat(t.val, 'g', -1, 64)
}

func (t target) pass(r Row) bool {
	v := r.Ours
	if t.on == "ratio" {
		v = r.Ratio
	}
	if t.op == "<=" {
		return v <= t.val
	}
	return v >= t.val
}

// newRow builds a row; a zero baseline means the row has none.
func newRow(metric, unit string, ours, baseline float64, t target, note string) Row {
	r := Row{Metric: metric, Unit: unit, Ours: ours, Baseline: baseline, Target: t.String(), Note: note}
	if baseline > 0 {
		r.Ratio = ours / baseline
	}
	r.Pass = t.pass(r)
	return r
}

// num prints a measured figure (0 included: a counter read as zero).
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// writeTable prints the report as a Markdown table, ready to paste.
func writeTable(w io.Writer, rep *Report) error {
	head := []string{"metric", "ours", "baseline", "ratio", "target", "PASS/FAIL"}
	lines := [][]string{head}
	for _, r := range rep.Rows {
		status := "PASS"
		if !r.Pass {
			status = "FAIL"
		}
		ratio, base := "-", "-" // the row has no baseline
		if r.Baseline > 0 {
			ratio, base = strconv.FormatFloat(r.Ratio, 'f', 2, 64), num(r.Baseline)
		}
		lines = append(lines, []string{r.Metric + " (" + r.Unit + ")", num(r.Ours), base, ratio, r.Target, status})
	}
	width := make([]int, len(head))
	for _, l := range lines {
		for i, c := range l {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "openmoney bench: store %s, %d orders, %s per HTTP measurement, %d workers, %d CPUs (GOMAXPROCS %d), %s, took %s\n\n",
		rep.Store, rep.Orders, rep.Duration, rep.Workers, rep.CPUs, rep.MaxProcs, rep.GoVersion, rep.Elapsed)
	for i, l := range lines {
		b.WriteString("|")
		for j, c := range l {
			b.WriteString(" " + c + strings.Repeat(" ", width[j]-len([]rune(c))) + " |")
		}
		b.WriteString("\n")
		if i == 0 {
			b.WriteString("|")
			for j := range l {
				b.WriteString(strings.Repeat("-", width[j]+2) + "|")
			}
			b.WriteString("\n")
		}
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range rep.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	for _, r := range rep.Rows {
		if r.Note != "" {
			b.WriteString("- " + r.Metric + ": " + r.Note + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// progress draws a one-line bar on w, at most ten times a second.
type progress struct {
	w     io.Writer
	label string
	total int64
	from  int64 // count when the bar (re)started, for the rate
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, label string, total int64) *progress {
	return &progress{w: w, label: label, total: total, start: time.Now()}
}

func (p *progress) set(n int64) {
	now := time.Now()
	if n < p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	frac := float64(n) / float64(max(p.total, 1))
	fill := int(frac * width)
	el := now.Sub(p.start)
	rate := float64(n-p.from) / max(el.Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %d/%d %.0f/s %s ", p.label, strings.Repeat("#", fill),
		strings.Repeat(".", width-fill), frac*100, n, p.total, rate, el.Round(100*time.Millisecond))
}

// pause ends the bar's line so other output can follow; set redraws it.
func (p *progress) pause() { fmt.Fprintln(p.w) }

// resume restarts the bar's clock at count n (after a pause for other work).
func (p *progress) resume(n int64) { p.from, p.start = n, time.Now() }
