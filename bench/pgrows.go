package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/store/pg"
	"github.com/theopenmoney/openmoney/webhook"
)

// PostgreSQL rows. The service runs on a fresh schema; its baselines are
// PostgreSQL itself in the same run, from the same process, over the same
// loopback: -workers connections each doing one autocommit INSERT of a row
// of the stored order's size (the durable-write limit for one row per
// commit), and one SELECT of such a row by primary key. Each measured phase
// opens its own pool (application_name per phase) and closes it, so
// PostgreSQL's own counters — commits and rollbacks in pg_stat_database,
// serialization failures and deadlocks in the server log, statements in
// pg_stat_statements, CPU of the server's processes — can be read for
// exactly that phase.

// Application names of the phases' connections.
const (
	appOurs = "openmoney-bench-service"
	appBase = "openmoney-bench-baseline"
)

// sweepPools are the pool sizes the POST sweep measures; the target is that
// the pool of sweepTarget connections reaches 0.9 of the best.
var sweepPools = []int{4, 8, 16, 32, 64}

const sweepTarget = 32

// sweepRounds is how often the sweep measures each size.
const sweepRounds = 3

func rateList(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, "/")
}

// pgService is the API over its own pool on the service schema.
type pgService struct {
	st store.Store
	s  *shop.Shop
	sv *service
}

// openPGService opens the store at loc with a pool of pool connections (0:
// the store's default) named appOurs, a sandbox shop and its HTTP service
// with the background loops running.
func openPGService(ctx context.Context, loc string, pool int) (*pgService, error) {
	dsn := withParam(loc, "application_name", appOurs)
	if pool > 0 {
		dsn = withParam(dsn, "pool_max_conns", strconv.Itoa(pool))
	}
	cfg := benchConfig(storePostgres, dsn)
	st, s, err := openShop(ctx, cfg, false, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	sv, err := startService(ctx, s, cfg, true)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &pgService{st: st, s: s, sv: sv}, nil
}

func (ps *pgService) close() {
	ps.sv.close()
	ps.st.Close()
}

// poolSize is the pool a store at loc opens by default.
func poolSize(ctx context.Context, loc string) int {
	st, err := pg.Open(ctx, loc, pg.Options{NoMigrate: true})
	if err != nil {
		return 0
	}
	defer st.Close()
	return int(st.Pool().Config().MaxConns)
}

// phaseResult is one measured phase: operations, their rate, non-2xx
// answers, and the counters over the whole phase (warm-up included, so
// per-operation figures divide by all operations).
type phaseResult struct {
	rate  float64
	ops   int64 // warm-up and timed
	fails int64 // answers other than the expected status (warm-up and timed)
	d     pgDelta
}

// measure runs op from workers goroutines: an untimed warm-up, then d
// timed; the counters are read before the warm-up and after close (which
// must disconnect the phase's connections) and settle.
func measure(ctx context.Context, pr *pgProbe, app string, workers int, d time.Duration,
	op func(ctx context.Context, worker int) error, close func(), prof func() func()) (phaseResult, error) {
	var res phaseResult
	var ops, fails atomic.Int64
	counted := func(ctx context.Context, w int) error {
		err := op(ctx, w)
		if _, ok := err.(statusError); ok {
			fails.Add(1)
			err = nil
		}
		ops.Add(1)
		return err
	}
	before, err := pr.sample(ctx)
	if err != nil {
		close()
		return res, err
	}
	if _, err := hammer(ctx, workers, max(d/5, 100*time.Millisecond), counted); err != nil {
		close()
		return res, err
	}
	stop := prof()
	t0 := ops.Load()
	start := time.Now()
	_, err = hammer(ctx, workers, d, counted)
	res.rate = float64(ops.Load()-t0) / time.Since(start).Seconds()
	stop()
	close()
	if err != nil {
		return res, err
	}
	if err := pr.settle(ctx, app); err != nil {
		return res, err
	}
	after, err := pr.sample(ctx)
	if err != nil {
		return res, err
	}
	res.ops, res.fails, res.d = ops.Load(), fails.Load(), after.sub(before)
	return res, nil
}

// rawPG is the baseline: one connection per worker, named appBase.
type rawPG struct {
	loc   string
	conns []*pgx.Conn
}

func openRawPG(ctx context.Context, loc string, workers int) (*rawPG, error) {
	r := &rawPG{loc: loc}
	dsn := withParam(loc, "application_name", appBase)
	for range workers {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("bench: baseline connection: %w", err)
		}
		r.conns = append(r.conns, c)
	}
	return r, nil
}

func (r *rawPG) close() {
	for _, c := range r.conns {
		c.Close(context.Background())
	}
	r.conns = nil
}

// rawTable is the baseline table's definition: an identity key and a payload.
const rawTable = `(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data bytea NOT NULL)`

// orderRowSize is the stored size of order id on the service schema: its row
// (pg_column_size of the whole row, as the heap stores it).
func orderRowSize(ctx context.Context, loc string, id int64) (int, error) {
	c, err := pgx.Connect(ctx, loc)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, "SELECT pg_column_size(o.*) FROM orders o WHERE id = $1", id).Scan(&n)
	return n, err
}

// runServicePG measures the HTTP rows, the retries, the pool sweep and the
// payment latency on PostgreSQL.
func runServicePG(ctx context.Context, o options, ss *stores, pr *pgProbe, log *slog.Logger, rep *Report) error {
	loc, err := ss.create(ctx, "service")
	if err != nil {
		return err
	}
	baseLoc, err := ss.create(ctx, "baseline")
	if err != nil {
		return err
	}
	// The partner, its key and a first order, through a service of its own.
	first, err := openPGService(ctx, loc, 0)
	if err != nil {
		return err
	}
	p, key, err := newPartner(ctx, first.s, "bench")
	if err != nil {
		first.close()
		return err
	}
	ref := "invoice-42"
	ord, _, err := first.s.CreateOrder(ctx, p.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus",
		Quantity: 100, ClientReference: &ref})
	first.close()
	if err != nil {
		return fmt.Errorf("bench: order: %w", err)
	}
	rowSize, err := orderRowSize(ctx, loc, ord.ID)
	if err != nil {
		return fmt.Errorf("bench: order row size: %w", err)
	}
	rawName := pgx.Identifier{ss.prefix + "_baseline", "raw_rows"}.Sanitize()
	if err := ss.admin1(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CREATE TABLE "+rawName+" "+rawTable)
		return err
	}); err != nil {
		return fmt.Errorf("bench: baseline table: %w", err)
	}
	payload := make([]byte, rowSize)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	defPool := poolSize(ctx, loc)
	dr := o.duration / httpRounds
	prof := profiler(o.profile)

	// GET: ours against a SELECT by primary key of a row that size.
	log.Info("measuring GET /orders/{id} against raw SELECTs by primary key", "workers", o.workers, "duration", o.duration)
	var seedID int64
	if err := ss.admin1(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "INSERT INTO "+rawName+" (data) VALUES ($1) RETURNING id", payload).Scan(&seedID)
	}); err != nil {
		return fmt.Errorf("bench: baseline row: %w", err)
	}
	var getOurs, getBase pgDelta
	var getOursN, getBaseN int64
	gOurs, gBase, gOursR, gBaseR, err := alternate(func(r int) (float64, error) {
		ps, err := openPGService(ctx, loc, 0)
		if err != nil {
			return 0, err
		}
		op, closeConns, err := getOp(ps.sv.url+"/orders/"+strconv.FormatInt(ord.ID, 10), key, o.workers)
		if err != nil {
			ps.close()
			return 0, err
		}
		res, err := measure(ctx, pr, appOurs, o.workers, dr, op, func() { closeConns(); ps.close() }, prof.first(r, "get-ours"))
		if err != nil {
			return 0, fmt.Errorf("bench: get order: %w", err)
		}
		if res.fails > 0 {
			return 0, fmt.Errorf("bench: get order: %d failed answers", res.fails)
		}
		getOurs, getOursN = getOurs.add(res.d), getOursN+res.ops
		return res.rate, nil
	}, func(r int) (float64, error) {
		raw, err := openRawPG(ctx, baseLoc, o.workers)
		if err != nil {
			return 0, err
		}
		op := func(ctx context.Context, w int) error {
			var id int64
			var data []byte
			return raw.conns[w].QueryRow(ctx, "SELECT id, data FROM raw_rows WHERE id = $1", seedID).Scan(&id, &data)
		}
		res, err := measure(ctx, pr, appBase, o.workers, dr, op, raw.close, prof.first(r, "get-base"))
		if err != nil {
			return 0, fmt.Errorf("bench: baseline select: %w", err)
		}
		getBase, getBaseN = getBase.add(res.d), getBaseN+res.ops
		return res.rate, nil
	})
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows, newRow("GET /orders/{id}", "req/s", gOurs, gBase, target{"ratio", ">=", 0.5},
		fmt.Sprintf("auth + rate limit + store read + JSON + access log over loopback HTTP, pool %d, vs %d connections each SELECTing a %d-byte row by primary key; %s; per request: ours %s, %s statements; baseline %s",
			defPool, o.workers, rowSize, roundsNote(gOursR, gBaseR), getOurs.cpuNote(getOursN), perOp(getOurs.statements(), getOursN), getBase.cpuNote(getBaseN))))

	// POST: ours against autocommit INSERTs of a row that size.
	log.Info("measuring durable POST /orders/stars against raw autocommit INSERTs", "workers", o.workers, "duration", o.duration)
	post := newPoster(o.workers)
	var postOurs, postBase pgDelta
	var postOursN, postBaseN, postFails int64
	pOurs, pBase, pOursR, pBaseR, err := alternate(func(r int) (float64, error) {
		res, err := post.run(ctx, pr, loc, 0, key, dr, prof.first(r, "post-ours"))
		if err != nil {
			return 0, err
		}
		postOurs, postOursN, postFails = postOurs.add(res.d), postOursN+res.ops, postFails+res.fails
		return res.rate, nil
	}, func(r int) (float64, error) {
		raw, err := openRawPG(ctx, baseLoc, o.workers)
		if err != nil {
			return 0, err
		}
		op := func(ctx context.Context, w int) error {
			_, err := raw.conns[w].Exec(ctx, "INSERT INTO raw_rows (data) VALUES ($1)", payload)
			return err
		}
		res, err := measure(ctx, pr, appBase, o.workers, dr, op, raw.close, prof.first(r, "post-base"))
		if err != nil {
			return 0, fmt.Errorf("bench: baseline insert: %w", err)
		}
		postBase, postBaseN = postBase.add(res.d), postBaseN+res.ops
		return res.rate, nil
	})
	if err != nil {
		return err
	}
	created := postOursN - postFails
	rep.Rows = append(rep.Rows, newRow("POST /orders/stars durable", "orders/s", pOurs, pBase, target{"ratio", ">=", 0.3},
		fmt.Sprintf("each with its own Idempotency-Key, committed (fsync) before the answer, pool %d, vs %d connections each doing one autocommit INSERT of a %d-byte row (the stored order's size); %s; %d non-200 answers; per order: ours %s, %s statements; baseline %s; statements by server time per order: %s",
			defPool, o.workers, rowSize, roundsNote(pOursR, pBaseR), postFails, postOurs.cpuNote(postOursN), perOp(postOurs.statements(), postOursN),
			postBase.cpuNote(postBaseN), postOurs.topStatements(postOursN, 6))))
	rep.Rows = append(rep.Rows, retryRow("serialization retries per created order", postOurs, created,
		fmt.Sprintf("PostgreSQL's counters over the POST rounds (warm-up included, %d orders): %s", created, retryNote(postOurs, created))))

	// Pool sweep: every size in sweepRounds rounds, ascending and
	// descending in turn, so drift over the sweep weighs on every size
	// alike; each size's figure is the median of its rounds.
	pools, rounds := sweepPools, sweepRounds
	if o.quick { // a smoke test of the row, not a figure to read
		pools, rounds = []int{defPool, sweepTarget}, 1
	}
	log.Info("measuring POST /orders/stars at several pool sizes", "pools", fmt.Sprint(pools))
	rates := map[int][]float64{}
	deltas := map[int]pgDelta{}
	ops, fails := map[int]int64{}, map[int]int64{}
	for round := range rounds {
		for i := range pools {
			n := pools[i]
			if round%2 == 1 {
				n = pools[len(pools)-1-i]
			}
			res, err := post.run(ctx, pr, loc, n, key, dr, func() func() { return func() {} })
			if err != nil {
				return err
			}
			rates[n] = append(rates[n], res.rate)
			deltas[n] = deltas[n].add(res.d)
			ops[n], fails[n] = ops[n]+res.ops, fails[n]+res.fails
		}
	}
	var sweep []string
	best, at32 := 0.0, 0.0
	for _, n := range pools {
		med := median(rates[n])
		sweep = append(sweep, fmt.Sprintf("pool %d: %.0f orders/s (%s), %d non-200, %s", n, med, rateList(rates[n]),
			fails[n], retryNote(deltas[n], ops[n]-fails[n])))
		if fails[n] == 0 {
			best = max(best, med)
			if n == sweepTarget {
				at32 = med
			}
		}
	}
	rep.Rows = append(rep.Rows, newRow(fmt.Sprintf("POST at pool %d vs best pool", sweepTarget), "orders/s", at32, best,
		target{"ratio", ">=", 0.9}, fmt.Sprintf("default pool %d; %d rounds of D/3 per size, ascending and descending in turn, medians compared (a size with failed answers does not count): %s",
			defPool, rounds, strings.Join(sweep, "; "))))

	// Payments through the sandbox chain, on a service of their own.
	log.Info("measuring sandbox transfer → paid latency", "rate", o.rate, "duration", o.duration)
	ps, err := openPGService(ctx, loc, 0)
	if err != nil {
		return err
	}
	before, err := pr.sample(ctx)
	if err != nil {
		ps.close()
		return err
	}
	lat, err := benchPayments(ctx, ps.s, []int64{p.ID}, o.rate, o.duration)
	ps.close()
	if err != nil {
		return err
	}
	if err := pr.settle(ctx, appOurs); err != nil {
		return err
	}
	after, err := pr.sample(ctx)
	if err != nil {
		return err
	}
	payD := after.sub(before)
	note := fmt.Sprintf("%d payments at %d/s (each order created first, then paid), shop-level SandboxTransfer then polling the order (every 1 ms, then every tenth of the time waited, at most 20 ms); background loops running",
		len(lat), o.rate)
	rep.Rows = append(rep.Rows,
		newRow("transfer → paid p50", "ms", ms(quantile(lat, 0.5)), 0, target{"ours", "<=", 1000}, ""),
		newRow("transfer → paid p99", "ms", ms(quantile(lat, 0.99)), 0, target{"ours", "<=", 1000}, note),
		retryRow("serialization retries per payment", payD, int64(len(lat)),
			fmt.Sprintf("over the payment phase (order creation, sandbox transfer, the listener applying batches in Write transactions, delivery, polling): %s", retryNote(payD, int64(len(lat))))))

	// The same payments again, now spread over partners with webhooks, so
	// each event's attempt runs its SERIALIZABLE transactions (its row, its
	// outcome) beside them, several partners' queues at once as in
	// production; a phase of its own, so the latency rows above stay
	// comparable.
	log.Info("measuring serialization retries of webhook attempts", "partners", hookPartners, "rate", o.rate, "duration", o.duration)
	attempts, hookD, err := webhookPhase(ctx, pr, loc, o)
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows, retryRow("serialization retries per webhook attempt", hookD, attempts,
		fmt.Sprintf("%d attempts (order.paid and order.completed of %d payments at %d/s over %d partners with a webhook to a loopback receiver answering 204, their queues sent at once); each attempt records its row and its outcome in SERIALIZABLE Update transactions. Every retry of the phase (payments included) counts, so this bounds the webhook paths' own: %s",
			attempts, attempts/2, o.rate, hookPartners, retryNote(hookD, attempts))))
	return nil
}

// webhookPhase pays orders of hookPartners partners with webhooks on a
// service of its own and waits for every event's attempt; it returns the
// attempts and PostgreSQL's counters over the phase.
func webhookPhase(ctx context.Context, pr *pgProbe, loc string, o options) (int64, pgDelta, error) {
	ps, err := openPGService(ctx, loc, 0)
	if err != nil {
		return 0, pgDelta{}, err
	}
	hook, err := newHookReceiver()
	if err != nil {
		ps.close()
		return 0, pgDelta{}, err
	}
	defer hook.close()
	var payers []int64
	for i := range hookPartners {
		hp, _, err := newPartner(ctx, ps.s, fmt.Sprintf("bench-hook-%d", i))
		if err == nil {
			_, err = ps.s.SetWebhook(ctx, hp.ID, shop.WebhookUpdate{URL: &hook.url})
		}
		if err != nil {
			ps.close()
			return 0, pgDelta{}, fmt.Errorf("bench: webhook partner: %w", err)
		}
		payers = append(payers, hp.ID)
	}
	ps.s.RegisterNotifier(domain.ChannelWebhook, webhook.NewSender(ps.s, webhook.Options{Log: slog.New(slog.DiscardHandler)}))
	before, err := pr.sample(ctx)
	if err != nil {
		ps.close()
		return 0, pgDelta{}, err
	}
	lat, err := benchPayments(ctx, ps.s, payers, o.rate, o.duration)
	if err == nil {
		// Each order's order.paid and order.completed.
		err = hook.wait(ctx, int64(2*len(lat)), time.Minute)
	}
	ps.close()
	if err != nil {
		return 0, pgDelta{}, err
	}
	if err := pr.settle(ctx, appOurs); err != nil {
		return 0, pgDelta{}, err
	}
	after, err := pr.sample(ctx)
	if err != nil {
		return 0, pgDelta{}, err
	}
	return hook.n.Load(), after.sub(before), nil
}

// hookPartners is how many partners with a webhook the payment phase's
// orders are spread over (the shop sends 8 partners' queues at once).
const hookPartners = 8

// hookReceiver is the partners' webhook endpoint on loopback: it answers
// 204 to every event and counts them.
type hookReceiver struct {
	srv *http.Server
	url string
	n   atomic.Int64
}

func newHookReceiver() (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: webhook receiver: %w", err)
	}
	h := &hookReceiver{url: "http://" + ln.Addr().String() + "/hooks/openmoney"}
	h.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *hookReceiver) close() { _ = h.srv.Close() }

// wait waits until n events arrived, for at most d.
func (h *hookReceiver) wait(ctx context.Context, n int64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for h.n.Load() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %d of %d webhook events arrived within %s", h.n.Load(), n, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// retryRow is a "retries per operation" row: serialization failures and
// deadlocks from the server log when known, else rollbacks.
func retryRow(metric string, d pgDelta, n int64, note string) Row {
	v := float64(d.rollbacks)
	if d.serFail >= 0 {
		v = float64(d.serFail + d.deadlocks)
	}
	r := newRow(metric, "per op", v/float64(max(n, 1)), 0, target{"ours", "<=", 0.05}, note)
	return r
}

func retryNote(d pgDelta, n int64) string {
	n = max(n, 1)
	s := fmt.Sprintf("%.3f rollbacks/op (pg_stat_database), %d commits", float64(d.rollbacks)/float64(n), d.commits)
	if d.serFail >= 0 {
		s += fmt.Sprintf(", %d serialization failures and %d deadlocks in the server log (%.3f/op)", d.serFail, d.deadlocks,
			float64(d.serFail+d.deadlocks)/float64(n))
	}
	return s
}

func perOp(total, n int64) string {
	if total < 0 || n <= 0 {
		return "?"
	}
	return strconv.FormatFloat(float64(total)/float64(n), 'f', 1, 64)
}

// getOp is a GET of url with key over one load connection per worker.
func getOp(url, key string, workers int) (func(ctx context.Context, w int) error, func(), error) {
	host, _, head, err := request(http.MethodGet, url, []string{"Authorization: Bearer " + key}, nil)
	if err != nil {
		return nil, nil, err
	}
	conns := make([]*loadConn, workers)
	for i := range conns {
		conns[i] = newLoadConn(host)
	}
	return func(ctx context.Context, w int) error { return conns[w].do(ctx, head, "", nil, http.StatusOK) },
		func() {
			for _, c := range conns {
				c.close()
			}
		}, nil
}

// poster measures POST /orders/stars phases; its Idempotency-Keys are unique
// across phases.
type poster struct {
	workers int
	prefix  string
	n       atomic.Int64
}

func newPoster(workers int) *poster {
	return &poster{workers: workers, prefix: "Idempotency-Key: pg-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"}
}

// run measures one phase on a fresh service with a pool of pool (0: default).
func (p *poster) run(ctx context.Context, pr *pgProbe, loc string, pool int, key string, d time.Duration, prof func() func()) (phaseResult, error) {
	ps, err := openPGService(ctx, loc, pool)
	if err != nil {
		return phaseResult{}, err
	}
	reqBody := []byte(orderBody)
	host, _, head, err := request(http.MethodPost, ps.sv.url+"/orders/stars",
		[]string{"Authorization: Bearer " + key, "Content-Type: application/json"}, reqBody)
	if err != nil {
		ps.close()
		return phaseResult{}, err
	}
	conns := make([]*loadConn, p.workers)
	for i := range conns {
		conns[i] = newLoadConn(host)
	}
	op := func(ctx context.Context, w int) error {
		return conns[w].do(ctx, head, p.prefix+strconv.FormatInt(p.n.Add(1), 10)+"\r\n", reqBody, http.StatusOK)
	}
	closeAll := func() {
		for _, c := range conns {
			c.close()
		}
		ps.close()
	}
	res, err := measure(ctx, pr, appOurs, p.workers, d, op, closeAll, prof)
	if err != nil {
		return res, fmt.Errorf("bench: create order (pool %d): %w", pool, err)
	}
	return res, nil
}
