package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/theopenmoney/openmoney/store"
)

// mode is the kind of transaction a tx runs (see store.Store).
type mode int

const (
	modeUpdate mode = iota // SERIALIZABLE, begun with the first statement
	modeWrite              // READ COMMITTED, begun only when a statement must see held writes or lock
	modeView               // READ ONLY REPEATABLE READ, begun with the first statement
	modeRead               // no transaction: every statement on its own
)

var beginSQL = [...]string{
	modeUpdate: "BEGIN ISOLATION LEVEL SERIALIZABLE",
	modeWrite:  "BEGIN ISOLATION LEVEL READ COMMITTED",
	modeView:   "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
}

// pageSize is how many rows ForEach methods read per query; callbacks run
// between queries, so they may use the transaction themselves.
const pageSize = 500

// stmt is one statement and what to do with its result: exec checks the
// command tag, row scans one returned row, rows reads every row. A held
// write has exec or row (RETURNING), never rows.
type stmt struct {
	sql  string
	args []any
	exec func(pgconn.CommandTag) error
	row  []any
	rows func(pgx.Rows) error
	// noRow is returned when row finds none (default store.ErrNotFound).
	noRow error
	// checked: exec or row may refuse the result of a held write, so it
	// must be read before the COMMIT is sent.
	checked bool
}

// tx implements store.Tx over one connection. Statements go out in
// pipelined batches: BEGIN (when the mode needs one and it was not sent yet),
// the held writes, then the statement at hand; the commit sends the held
// writes and COMMIT. The first failed statement is remembered: PostgreSQL
// aborts the transaction on it, and the retry loop needs to know whether it
// was a serialization failure even if fn hid it.
type tx struct {
	ctx     context.Context
	pool    *pgxpool.Pool
	mode    mode
	conn    *pgxpool.Conn
	begun   bool
	pending []*stmt
	err     error
	ids     *idCache // the store's prefetched order ids
	tookID  bool     // NextOrderID was called: the commit prefetches the next one
}

var _ store.Tx = (*tx)(nil)

// pgxRows is a result set being scanned.
type pgxRows = pgx.Rows

// pgError is a failed statement: errors.Is matches kind (store.ErrExists for
// a unique violation) and errors.As the *pgconn.PgError.
type pgError struct {
	err  error
	kind error
}

func (e *pgError) Error() string   { return "pg: " + e.err.Error() }
func (e *pgError) Unwrap() []error { return []error{e.err, e.kind} }

func wrap(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return &pgError{err: err, kind: store.ErrExists}
	}
	return &pgError{err: err}
}

// aborted is what every statement after a failed one gets.
func (t *tx) aborted() error {
	return fmt.Errorf("pg: transaction aborted by earlier error: %w", t.err)
}

// explicit reports whether s (nil: the commit) must run inside BEGIN.
func (t *tx) explicit(write bool) bool {
	switch t.mode {
	case modeRead:
		return false
	case modeWrite:
		// Reads before any write or lock run on their own; once writes are
		// held, or a write or a locking read must be answered now, the rest
		// is one transaction.
		return t.begun || len(t.pending) > 0 || write
	}
	return true
}

// do sends s now, with BEGIN and the held writes ahead of it. write marks a
// statement that changes data (a write whose result is needed now).
func (t *tx) do(s *stmt, write bool) error {
	if t.err != nil {
		return t.aborted()
	}
	if t.mode == modeRead || t.mode == modeView {
		if write {
			return errors.New("pg: write in a read-only transaction")
		}
	}
	return t.send(s, t.explicit(write), false)
}

// hold keeps a write for the next batch.
func (t *tx) hold(s *stmt) error {
	if t.err != nil {
		return t.aborted()
	}
	if t.mode == modeRead || t.mode == modeView {
		return errors.New("pg: write in a read-only transaction")
	}
	t.pending = append(t.pending, s)
	return nil
}

// send runs one batch: BEGIN when begin and not yet begun, the held writes,
// s (may be nil), and COMMIT when commit.
func (t *tx) send(s *stmt, begin, commit bool) error {
	if t.conn == nil {
		c, err := t.pool.Acquire(t.ctx)
		if err != nil {
			return fmt.Errorf("pg: acquire: %w", err)
		}
		t.conn = c
	}
	var list []*stmt
	if begin && !t.begun {
		list = append(list, &stmt{sql: beginSQL[t.mode]})
		t.begun = true
	}
	list = append(list, t.pending...)
	t.pending = nil
	if s != nil {
		list = append(list, s)
	}
	var commitTag string
	if commit {
		list = append(list, &stmt{sql: "COMMIT", exec: func(ct pgconn.CommandTag) error { commitTag = ct.String(); return nil }})
	}
	var err error
	var soft bool
	var failed *stmt
	if len(list) == 1 {
		// One statement: the plain extended protocol, without the pipeline.
		failed = list[0]
		err, soft = result(oneResult{t.ctx, t.conn.Conn(), list[0]}, list[0])
	} else {
		b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(list))}
		for _, q := range list {
			b.Queue(q.sql, q.args...)
		}
		br := t.conn.SendBatch(t.ctx, b)
		for _, q := range list {
			if err, soft = result(br, q); err != nil {
				failed = q
				break
			}
		}
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	soft = soft && err != nil && failed == s
	if err == nil && commit && commitTag != "COMMIT" {
		err = fmt.Errorf("pg: commit answered %q", commitTag)
	}
	switch {
	case err == nil:
		return nil
	case soft:
		return err // the statement at hand found no row: the transaction goes on
	}
	if t.err == nil {
		t.err = err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return wrap(err)
	}
	return err
}

// oneResult runs one statement as the BatchResults result reads it.
type oneResult struct {
	ctx  context.Context
	conn *pgx.Conn
	q    *stmt
}

func (o oneResult) Exec() (pgconn.CommandTag, error) { return o.conn.Exec(o.ctx, o.q.sql, o.q.args...) }
func (o oneResult) Query() (pgx.Rows, error)         { return o.conn.Query(o.ctx, o.q.sql, o.q.args...) }
func (o oneResult) QueryRow() pgx.Row                { return o.conn.QueryRow(o.ctx, o.q.sql, o.q.args...) }

// results is what result reads from: a batch, or one statement.
type results interface {
	Exec() (pgconn.CommandTag, error)
	Query() (pgx.Rows, error)
	QueryRow() pgx.Row
}

// result reads q's result from br. soft marks a row statement that found
// no row: not a failure of the transaction.
func result(br results, q *stmt) (err error, soft bool) {
	switch {
	case q.rows != nil:
		rows, err := br.Query()
		if err != nil {
			return err, false
		}
		if err := q.rows(rows); err != nil {
			rows.Close()
			return err, false
		}
		rows.Close()
		return rows.Err(), false
	case q.row != nil:
		err := br.QueryRow().Scan(q.row...)
		if errors.Is(err, pgx.ErrNoRows) {
			if q.noRow != nil {
				return q.noRow, true
			}
			return store.ErrNotFound, true
		}
		return err, false
	default:
		tag, err := br.Exec()
		if err != nil || q.exec == nil {
			return err, false
		}
		return q.exec(tag), false
	}
}

// commit sends the held writes and COMMIT; a Create that never began sends
// its held writes alone, as one implicit transaction. Held writes with a
// check (checked) go out before the COMMIT, so a failed check still rolls
// back.
func (t *tx) commit() error {
	if t.err != nil {
		return t.aborted()
	}
	var next int64
	if t.tookID && (len(t.pending) > 0 || t.begun) && t.ids.wanted() {
		// The next order's id rides with this one's commit (orders.go).
		t.pending = append(t.pending, &stmt{sql: "SELECT nextval('order_id_seq')", row: []any{&next}})
	}
	checked := false
	for _, q := range t.pending {
		checked = checked || q.checked
	}
	var err error
	switch {
	case checked:
		if err = t.send(nil, true, false); err == nil {
			err = t.send(nil, false, true)
		}
	case t.begun || (len(t.pending) > 0 && t.mode != modeWrite):
		err = t.send(nil, true, true)
	case len(t.pending) > 0:
		err = t.send(nil, false, false)
	}
	if err == nil && next != 0 {
		t.ids.put(next)
	}
	return err
}

// rollback ends a begun transaction after fn failed (its held writes are
// dropped).
func (t *tx) rollback() {
	t.pending = nil
	if !t.begun || t.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 5*time.Second)
	defer cancel()
	// On failure the pool drops the connection, which ends the transaction.
	_, _ = t.conn.Exec(ctx, "ROLLBACK")
	t.begun = false
}

func (t *tx) release() {
	if t.conn != nil {
		t.conn.Release()
		t.conn = nil
	}
}

// --- statement helpers for the entity files

// one reads one row into dest; store.ErrNotFound when there is none.
func (t *tx) one(sql string, args []any, dest ...any) error {
	return t.do(&stmt{sql: sql, args: args, row: dest}, false)
}

// each reads rows, calling scan for every row.
func (t *tx) each(sql string, args []any, scan func(pgx.Rows) error) error {
	return t.do(&stmt{sql: sql, args: args, rows: func(rows pgx.Rows) error {
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return nil
	}}, false)
}

// later holds a write whose result nobody needs now; check (may be nil)
// sees its command tag when it runs, before the commit.
func (t *tx) later(sql string, args []any, check func(pgconn.CommandTag) error) error {
	return t.hold(&stmt{sql: sql, args: args, exec: check, checked: check != nil})
}

// now runs a write at once and returns its command tag.
func (t *tx) now(sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := t.do(&stmt{sql: sql, args: args, exec: func(ct pgconn.CommandTag) error { tag = ct; return nil }}, true)
	return tag, err
}

// nowRow runs a write at once and scans the row it returns (noRow when it
// returns none).
func (t *tx) nowRow(sql string, args []any, noRow error, dest ...any) error {
	return t.do(&stmt{sql: sql, args: args, row: dest, noRow: noRow}, true)
}

// list reads rows into a slice with scan.
// eachByHash calls fn for every row of query (which takes the last hash
// seen and a page size, and orders by hash), a page at a time.
func eachByHash[T any](t *tx, query string, scan func(pgx.Rows, *T) error, hash func(*T) string, fn func(*T) error) error {
	after := ""
	for {
		page, err := list(t, query, []any{after, pageSize}, scan)
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
			after = hash(&page[i])
		}
	}
}

func list[T any](t *tx, sql string, args []any, scan func(pgx.Rows, *T) error) ([]T, error) {
	var out []T
	err := t.each(sql, args, func(r pgx.Rows) error {
		var v T
		if err := scan(r, &v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// get reads one row with scan; store.ErrNotFound when there is none.
func get[T any](t *tx, sql string, args []any, scan func(pgx.Rows, *T) error) (*T, error) {
	return getRow(t, sql, args, scan, false)
}

// getLocked is get for a row a Write transaction locks until its commit
// (SELECT … FOR NO KEY UPDATE); in the other modes it is get.
func getLocked[T any](t *tx, sql string, args []any, scan func(pgx.Rows, *T) error) (*T, error) {
	return getRow(t, sql, args, scan, t.mode == modeWrite)
}

func getRow[T any](t *tx, sql string, args []any, scan func(pgx.Rows, *T) error, lock bool) (*T, error) {
	if lock {
		sql += " FOR NO KEY UPDATE"
	}
	var v T
	found := false
	err := t.do(&stmt{sql: sql, args: args, rows: func(rows pgx.Rows) error {
		for rows.Next() {
			found = true
			if err := scan(rows, &v); err != nil {
				return err
			}
		}
		return nil
	}}, lock)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, store.ErrNotFound
	}
	return &v, nil
}

// walkByID reads rows a page at a time in id order (sql takes the last id
// seen and the page size: "… WHERE id > $1 ORDER BY id LIMIT $2") and calls
// fn with each; fn may use the transaction between pages.
func walkByID[T any](t *tx, sql string, scan func(pgx.Rows, *T) error, id func(*T) int64, fn func(*T) error) error {
	var after int64
	for {
		page, err := list(t, sql, []any{after, pageSize}, scan)
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
			after = id(&page[i])
		}
	}
}

// affected is a held write's check that it changed a row (notFound otherwise).
func affected(notFound error) func(pgconn.CommandTag) error {
	return func(ct pgconn.CommandTag) error {
		if ct.RowsAffected() == 0 {
			return notFound
		}
		return nil
	}
}

// --- column conversions: Go zero values are NULL where a column is
// optional and indexed (unique telegram user, top-up address, reference).

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullInt(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func strOf(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func intOf(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// text makes free-form text (an error from elsewhere, a provider's state)
// storable: PostgreSQL text holds neither NUL nor invalid UTF-8, which
// become U+FFFD (a run of invalid bytes one U+FFFD).
func text(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func maxLimit(n int) int { return max(n, 0) }

func beforeID(id int64) int64 {
	if id <= 0 {
		return 1<<63 - 1
	}
	return id
}
