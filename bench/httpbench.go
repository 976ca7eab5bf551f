package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/theopenmoney/openmoney/shop"
)

// newClient is a keep-alive client that keeps one idle connection per worker.
func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
		DisableCompression: true, ForceAttemptHTTP2: false}}
}

// hammer runs workers goroutines calling op in a loop for d and returns
// operations per second. The first error stops every worker.
func hammer(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker int) error) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if err := op(ctx, w); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(n.Load()) / el.Seconds(), nil
}

// warmHammer runs a short unmeasured round (connections, caches) first,
// then the measured one between profile's start and stop.
func warmHammer(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker int) error, profile func() func()) (float64, error) {
	if _, err := hammer(ctx, workers, max(d/5, 100*time.Millisecond), op); err != nil {
		return 0, err
	}
	stop := profile()
	defer stop()
	return hammer(ctx, workers, d, op)
}

// httpRounds is how often each HTTP row measures ours and its baseline, in
// alternating order, for D/httpRounds each; the row compares the medians.
// This machine's speed drifts by tens of percent within a minute (other
// tenants on the host), and one long measurement of each side, one after
// the other, put that drift straight into the ratio.
const httpRounds = 3

// alternate runs ours and base httpRounds times each, base first on odd
// rounds, and returns each side's median and the per-round figures.
func alternate(ours, base func(round int) (float64, error)) (o, b float64, oursRounds, baseRounds []float64, err error) {
	for r := range httpRounds {
		first, second := ours, base
		if r%2 == 1 {
			first, second = base, ours
		}
		x, err := first(r)
		if err != nil {
			return 0, 0, nil, nil, err
		}
		y, err := second(r)
		if err != nil {
			return 0, 0, nil, nil, err
		}
		if r%2 == 1 {
			x, y = y, x
		}
		oursRounds, baseRounds = append(oursRounds, x), append(baseRounds, y)
	}
	return median(oursRounds), median(baseRounds), oursRounds, baseRounds, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// roundsNote lists the per-round figures ("ours 41772/44010/39200, baseline …").
func roundsNote(ours, base []float64) string {
	f := func(xs []float64) string {
		parts := make([]string, len(xs))
		for i, x := range xs {
			parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
		}
		return strings.Join(parts, "/")
	}
	return fmt.Sprintf("median of %d alternating rounds of D/%d (ours %s, baseline %s)", len(ours), len(ours), f(ours), f(base))
}

// profiler is a directory for CPU profiles of the measured phases ("" for none).
type profiler string

// phase returns a start function for name's profile: it starts the CPU
// profile into <dir>/<name>.pprof and returns its stop. Errors are reported
// on stderr and do not stop the bench.
func (p profiler) phase(name string) func() func() {
	return func() func() {
		if p == "" {
			return func() {}
		}
		path := filepath.Join(string(p), name+".pprof")
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: cpu profile %s: %v\n", path, err)
			if f != nil {
				f.Close()
			}
			return func() {}
		}
		return func() { pprof.StopCPUProfile(); f.Close() }
	}
}

// first profiles only round 0 of a phase (the profile names stay one per phase).
func (p profiler) first(round int, name string) func() func() {
	if round > 0 {
		return func() func() { return func() {} }
	}
	return p.phase(name)
}

// do sends req and drains the body; any status but want is an error.
func do(c *http.Client, req *http.Request, want int) ([]byte, http.Header, error) {
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode != want {
		return nil, nil, fmt.Errorf("%s %s: status %d: %.200s", req.Method, req.URL.Path, res.StatusCode, body)
	}
	return body, res.Header, nil
}

func authGet(ctx context.Context, url, key string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	return req, nil
}

// benchGetOrder measures GET /orders/{id} (auth, rate limit, store read, JSON)
// against a bare handler that writes the same status, headers and bytes, both
// over loopback with the same load generator (loadConn) and parallelism.
func benchGetOrder(ctx context.Context, sv *service, key string, orderID int64, workers int, d time.Duration, prof profiler) (ours, base float64, note string, err error) {
	url := sv.url + "/orders/" + strconv.FormatInt(orderID, 10)
	c := newClient(1) // one request, to capture the answer the bare handler replays
	defer c.CloseIdleConnections()
	req, err := authGet(ctx, url, key)
	if err != nil {
		return 0, 0, "", err
	}
	body, hdr, err := do(c, req, http.StatusOK)
	if err != nil {
		return 0, 0, "", fmt.Errorf("bench: get order: %w", err)
	}
	getOurs, closeOurs, err := getOp(url, key, workers)
	if err != nil {
		return 0, 0, "", err
	}
	defer closeOurs()

	// The bare handler: same headers (Date and Content-Length are the server's own).
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range hdr {
			if k != "Date" {
				h[k] = v
			}
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, "", fmt.Errorf("bench: listen: %w", err)
	}
	srv := &http.Server{Handler: bare, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	getBare, closeBare, err := getOp("http://"+ln.Addr().String()+"/api/v1/orders/"+strconv.FormatInt(orderID, 10), key, workers)
	if err != nil {
		return 0, 0, "", err
	}
	defer closeBare()

	dr := d / httpRounds
	ours, base, oursRounds, baseRounds, err := alternate(func(r int) (float64, error) {
		rate, err := warmHammer(ctx, workers, dr, getOurs, prof.first(r, "get-ours"))
		if err != nil {
			err = fmt.Errorf("bench: get order: %w", err)
		}
		return rate, err
	}, func(r int) (float64, error) {
		rate, err := warmHammer(ctx, workers, dr, getBare, prof.first(r, "get-base"))
		if err != nil {
			err = fmt.Errorf("bench: bare handler: %w", err)
		}
		return rate, err
	})
	return ours, base, roundsNote(oursRounds, baseRounds), err
}

// orderBody is a Stars order request as a partner sends it.
const orderBody = `{"recipient_username":"pandus","quantity":100,"payment_method":"ton_memo","payment_currency":"TON","client_reference":"invoice-42"}`

// benchCreateOrder measures durable POST /orders/stars, each with its own
// Idempotency-Key (a run prefix plus a counter: time-ordered, like UUIDv7),
// against raw bbolt DB.Batch puts of one order record's size from the same
// number of goroutines (rawBaseline; the same whichever store the service
// runs on), in alternating rounds. It returns the stored order record size
// and the baseline's note too.
func benchCreateOrder(ctx context.Context, sv *service, partnerID int64, key, dir string, workers int, d time.Duration, prof profiler) (ours, base float64, recSize int, baseNote string, err error) {
	reqBody := []byte(orderBody)
	host, _, head, err := request(http.MethodPost, sv.url+"/orders/stars",
		[]string{"Authorization: Bearer " + key, "Content-Type: application/json"}, reqBody)
	if err != nil {
		return 0, 0, 0, "", err
	}
	conns := make([]*loadConn, workers)
	for i := range conns {
		conns[i] = newLoadConn(host)
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	var n atomic.Int64
	prefix := "Idempotency-Key: " + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	post := func(ctx context.Context, worker int) error {
		return conns[worker].do(ctx, head, prefix+strconv.FormatInt(n.Add(1), 10)+"\r\n", reqBody, http.StatusOK)
	}
	dr := d / httpRounds
	// The baseline writes records of the stored order's size, known once
	// ours has created one: round 0 runs ours first (as alternate does).
	var raw *rawBaseline
	defer func() { raw.close() }()
	ours, base, oursRounds, baseRounds, err := alternate(func(r int) (float64, error) {
		rate, err := warmHammer(ctx, workers, dr, post, prof.first(r, "post-ours"))
		if err != nil {
			return 0, fmt.Errorf("bench: create order: %w", err)
		}
		if raw == nil {
			page, err := sv.shop.ListOrders(ctx, partnerID, shop.OrderFilter{Limit: 1})
			if err != nil || len(page.Items) == 0 {
				return 0, fmt.Errorf("bench: read back an order: %w", err)
			}
			rec, err := json.Marshal(page.Items[0])
			if err != nil {
				return 0, err
			}
			if raw, err = openRawBaseline(dir, rec); err != nil {
				return 0, err
			}
		}
		return rate, nil
	}, func(r int) (float64, error) {
		return raw.best(ctx, workers, dr, r, prof)
	})
	if err != nil {
		return 0, 0, 0, "", err
	}
	return ours, base, len(raw.rec), raw.note() + "; " + roundsNote(oursRounds, baseRounds), nil
}

// baselineDelays are the DB.Batch MaxBatchDelay values the raw baseline is
// measured at; it is credited with the best. bbolt's default (10 ms) caps 64
// writers near 6 400 puts/s, far below the disk, and shorter delays win as
// long as each fsync still carries a group.
var baselineDelays = []time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond}

// rawBaseline is the machine's durable-write limit for records of rec's
// size: raw bbolt DB.Batch puts (sequential 8-byte keys, fsync on) from the
// same number of goroutines, one file per MaxBatchDelay in baselineDelays,
// each round credited with the best delay.
type rawBaseline struct {
	rec   []byte
	dbs   []*bolt.DB
	seq   atomic.Uint64
	rates [][]float64 // per delay, per round
}

var rawBucket = []byte("baseline")

func openRawBaseline(dir string, rec []byte) (*rawBaseline, error) {
	rb := &rawBaseline{rec: rec, rates: make([][]float64, len(baselineDelays))}
	for i, delay := range baselineDelays {
		db, err := bolt.Open(filepath.Join(dir, fmt.Sprintf("baseline-%d.db", i)), 0o600, &bolt.Options{Timeout: 2 * time.Second})
		if err != nil {
			rb.close()
			return nil, fmt.Errorf("bench: baseline bbolt: %w", err)
		}
		rb.dbs = append(rb.dbs, db)
		db.MaxBatchDelay = delay
		if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(rawBucket); return err }); err != nil {
			rb.close()
			return nil, fmt.Errorf("bench: baseline bucket: %w", err)
		}
	}
	return rb, nil
}

// best measures every delay for d and returns the best rate.
func (rb *rawBaseline) best(ctx context.Context, workers int, d time.Duration, round int, prof profiler) (float64, error) {
	var best float64
	for i, db := range rb.dbs {
		put := func(ctx context.Context, _ int) error {
			k := binary.BigEndian.AppendUint64(nil, rb.seq.Add(1))
			return db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(rawBucket).Put(k, rb.rec) })
		}
		rate, err := warmHammer(ctx, workers, d, put, prof.first(round, fmt.Sprintf("post-base-%s", baselineDelays[i])))
		if err != nil {
			return 0, fmt.Errorf("bench: baseline puts: %w", err)
		}
		rb.rates[i] = append(rb.rates[i], rate)
		best = max(best, rate)
	}
	return best, nil
}

// note gives each delay's median rate.
func (rb *rawBaseline) note() string {
	parts := make([]string, len(baselineDelays))
	for i, delay := range baselineDelays {
		parts[i] = fmt.Sprintf("%s %.0f/s", delay, median(rb.rates[i]))
	}
	return "DB.Batch MaxBatchDelay " + strings.Join(parts, ", ")
}

func (rb *rawBaseline) close() {
	if rb == nil {
		return
	}
	for _, db := range rb.dbs {
		db.Close()
	}
}
