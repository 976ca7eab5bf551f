package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ChildEnv is set in the environment of the restart child. A test binary
// that embeds bench checks it in TestMain and calls Main with os.Args[2:]
// (the child's arguments are "bench -restart-child …", as for openmoney).
const ChildEnv = "OPENMONEY_BENCH_CHILD"

// restartArgs tell the child what to open and what to look up.
type restartArgs struct {
	Store   string // storeBolt | storePostgres
	Path    string // store file, or DSN
	Key     string // API key of the partner owning Order
	Order   int64  // an order of that partner
	Stride  int64  // Order + k·Stride are the same partner's orders
	MaxID   int64  // highest order id
	Lookups int    // GETs after the first one
}

// restartResult is what the child prints as one JSON line.
type restartResult struct {
	RestartNS int64  `json:"restart_ns"` // store open → first GET answered
	RSSBytes  int64  `json:"rss_bytes"`  // VmRSS after the lookups
	Lookups   int    `json:"lookups"`
	Mode      string `json:"mode"` // "child process" | "in-process"
}

// restartChild is the restarted service: open the store, build the shop,
// serve HTTP with the background loops running, answer the first GET, do a
// few more lookups, then read the resident set.
func restartChild(ctx context.Context, a restartArgs) (restartResult, error) {
	start := time.Now()
	cfg := benchConfig(a.Store, a.Path)
	st, s, err := openShop(ctx, cfg, false, slog.New(slog.DiscardHandler))
	if err != nil {
		return restartResult{}, err
	}
	defer st.Close()
	sv, err := startService(ctx, s, cfg, true)
	if err != nil {
		return restartResult{}, err
	}
	defer sv.close()
	c := newClient(1)
	defer c.CloseIdleConnections()
	get := func(id int64) error {
		req, err := authGet(ctx, sv.url+"/orders/"+strconv.FormatInt(id, 10), a.Key)
		if err != nil {
			return err
		}
		_, _, err = do(c, req, http.StatusOK)
		return err
	}
	if err := get(a.Order); err != nil {
		return restartResult{}, fmt.Errorf("bench: first GET after restart: %w", err)
	}
	res := restartResult{RestartNS: time.Since(start).Nanoseconds(), Lookups: a.Lookups}
	rng := rand.New(rand.NewPCG(7, 7))
	for range a.Lookups {
		id := a.Order + rng.Int64N(max((a.MaxID-a.Order)/a.Stride, 1))*a.Stride
		if err := get(id); err != nil {
			return restartResult{}, fmt.Errorf("bench: GET after restart: %w", err)
		}
	}
	res.RSSBytes, err = vmRSS()
	return res, err
}

// vmRSS reads this process's resident set size from /proc/self/status.
func vmRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("bench: rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: rss: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("bench: rss: no VmRSS in /proc/self/status (%v)", sc.Err())
}

// runRestartChild runs the child in its own process (this executable with
// "bench -restart-child …" and ChildEnv set), so its resident set is the
// restarted service's alone. If that fails it falls back to an in-process
// restart, whose resident set includes the bench's own memory.
func runRestartChild(ctx context.Context, a restartArgs, stderr io.Writer) (restartResult, error) {
	exe, err := os.Executable()
	if err == nil {
		loc := a.Path
		env := append(os.Environ(), ChildEnv+"=1")
		if a.Store == storePostgres {
			loc, env = "-", append(env, childDSNEnv+"="+a.Path)
		}
		cmd := exec.CommandContext(ctx, exe, "bench", "-restart-child", loc, "-restart-store", a.Store, "-restart-key", a.Key,
			"-restart-order", strconv.FormatInt(a.Order, 10), "-restart-stride", strconv.FormatInt(a.Stride, 10),
			"-restart-max", strconv.FormatInt(a.MaxID, 10), "-restart-lookups", strconv.Itoa(a.Lookups))
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err = cmd.Run(); err == nil {
			var r restartResult
			if err = json.Unmarshal(lastLine(out.Bytes()), &r); err == nil && r.RestartNS > 0 {
				r.Mode = "child process"
				return r, nil
			}
		}
		fmt.Fprintf(stderr, "bench: restart child process failed (%v; %.300s); restarting in-process instead\n", err, errOut.String())
	}
	r, err := restartChild(ctx, a)
	r.Mode = "in-process"
	return r, err
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}
