package pg

import (
	"bytes"

	"github.com/theopenmoney/openmoney/domain"
)

// What the chain listener keeps: processed transfers (seen_tx, keyed by
// hash: a replay is a no-op), unmatched deposits, and the sandbox chain.
// The listener's cursor is a meta value.
//
//	seen_tx (hash PRIMARY KEY, kind, ref_id, amount_nano, seen_at, extra_ledger_id)
//	unmatched (id PRIMARY KEY, tx_hash, lt, chain_time, from_addr, to_addr, amount_nano, comment bytea, …)
//	sandbox_chain (seq PRIMARY KEY, data bytea)

const seenCols = "hash, kind, ref_id, amount_nano, seen_at, extra_ledger_id, currency, amount_usdt"

var seenScan = rowScanner{"pg.seen"}

func scanSeen(r pgxRows, s *domain.SeenTx) error {
	return seenScan.scan(r, &s.Hash, &s.Kind, &s.RefID, &s.AmountNano, &s.SeenAt, &s.ExtraLedgerID, &s.Currency, &s.AmountUSDT)
}

func (t *tx) GetSeen(hash string) (*domain.SeenTx, error) {
	return get(t, "SELECT "+seenCols+" FROM seen_tx WHERE hash = $1", []any{hash}, scanSeen)
}

// CreateSeen is a plain INSERT, held: a recorded hash fails it with a
// unique violation (ErrExists from the commit).
func (t *tx) CreateSeen(s *domain.SeenTx) error {
	return t.later(`INSERT INTO seen_tx (`+seenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		[]any{s.Hash, s.Kind, s.RefID, s.AmountNano, s.SeenAt, s.ExtraLedgerID, s.Currency, s.AmountUSDT}, nil)
}

func (t *tx) PutSeen(s *domain.SeenTx) error {
	return t.later(`INSERT INTO seen_tx (`+seenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (hash) DO UPDATE SET kind = EXCLUDED.kind, ref_id = EXCLUDED.ref_id, amount_nano = EXCLUDED.amount_nano,
		seen_at = EXCLUDED.seen_at, extra_ledger_id = EXCLUDED.extra_ledger_id, currency = EXCLUDED.currency,
		amount_usdt = EXCLUDED.amount_usdt`,
		[]any{s.Hash, s.Kind, s.RefID, s.AmountNano, s.SeenAt, s.ExtraLedgerID, s.Currency, s.AmountUSDT}, nil)
}

func (t *tx) ForEachSeen(fn func(*domain.SeenTx) error) error {
	return eachByHash(t, "SELECT "+seenCols+" FROM seen_tx WHERE hash > $1 ORDER BY hash LIMIT $2", scanSeen,
		func(s *domain.SeenTx) string { return s.Hash }, fn)
}

// --- unmatched deposits. The comment is bytea: a chain comment may hold
// any bytes (PostgreSQL text cannot hold NUL). lt is the uint64's bits.

const unmatchedCols = `id, tx_hash, lt, chain_time, from_addr, to_addr, amount_nano, comment, payload_hex, seen_at,
	assigned_at, assigned_ledger_id, currency, amount_usdt`

var unmatchedScan = rowScanner{"pg.unmatched"}

func scanUnmatched(r pgxRows, u *domain.Unmatched) error {
	var lt int64
	var comment []byte
	err := unmatchedScan.scan(r, &u.ID, &u.TxHash, &lt, &u.ChainTime, &u.From, &u.To, &u.AmountNano, &comment, &u.PayloadHex,
		&u.SeenAt, &u.AssignedAt, &u.AssignedLedgerID, &u.Currency, &u.AmountUSDT)
	u.LT, u.Comment = uint64(lt), string(comment)
	return err
}

// PutUnmatched takes the id at once when the deposit is new: the caller
// records it in the transfer's seen row.
func (t *tx) PutUnmatched(u *domain.Unmatched) error {
	if u.ID == 0 {
		if err := t.one("SELECT nextval('unmatched_id_seq')", nil, &u.ID); err != nil {
			return err
		}
	}
	return t.later(`INSERT INTO unmatched (`+unmatchedCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET tx_hash = EXCLUDED.tx_hash, lt = EXCLUDED.lt, chain_time = EXCLUDED.chain_time,
		from_addr = EXCLUDED.from_addr, to_addr = EXCLUDED.to_addr, amount_nano = EXCLUDED.amount_nano,
		comment = EXCLUDED.comment, payload_hex = EXCLUDED.payload_hex, seen_at = EXCLUDED.seen_at,
		assigned_at = EXCLUDED.assigned_at, assigned_ledger_id = EXCLUDED.assigned_ledger_id,
		currency = EXCLUDED.currency, amount_usdt = EXCLUDED.amount_usdt`,
		[]any{u.ID, u.TxHash, int64(u.LT), u.ChainTime, u.From, u.To, u.AmountNano, []byte(u.Comment), u.PayloadHex,
			u.SeenAt, u.AssignedAt, u.AssignedLedgerID, u.Currency, u.AmountUSDT}, nil)
}

func (t *tx) GetUnmatched(id int64) (*domain.Unmatched, error) {
	return getLocked(t, "SELECT "+unmatchedCols+" FROM unmatched WHERE id = $1", []any{id}, scanUnmatched)
}

func (t *tx) ListUnmatched(afterID int64, limit int) ([]domain.Unmatched, error) {
	return list(t, "SELECT "+unmatchedCols+" FROM unmatched WHERE id > $1 ORDER BY id LIMIT $2",
		[]any{afterID, maxLimit(limit)}, scanUnmatched)
}

// --- sandbox chain

// lockSandbox is the advisory lock class of sandbox sequences
// (pg_advisory_xact_lock(int, int)).
const lockSandbox int32 = 0x4f4d03

// AppendSandboxTx takes the seq under a global transaction-scoped advisory
// lock held to the commit: the listener streams with SandboxTxAfter(cursor),
// which must never skip a transaction committed after a higher seq. The
// sandbox only; the real chain has its own order.
func (t *tx) AppendSandboxTx(data []byte) (uint64, error) {
	if data == nil {
		data = []byte{}
	}
	seq, err := t.lockedNextval(lockSandbox, "sandbox_seq")
	if err != nil {
		return 0, err
	}
	return uint64(seq), t.later("INSERT INTO sandbox_chain (seq, data) VALUES ($1, $2)", []any{seq, data}, nil)
}

func (t *tx) SandboxTxAfter(seq uint64, limit int) ([]domain.SandboxTx, error) {
	return list(t, "SELECT seq, data FROM sandbox_chain WHERE seq > $1 ORDER BY seq LIMIT $2",
		[]any{int64(seq), maxLimit(limit)}, func(r pgxRows, s *domain.SandboxTx) error {
			var n int64
			err := r.Scan(&n, &s.Data)
			s.Seq, s.Data = uint64(n), bytes.Clone(s.Data)
			return err
		})
}

// RestoreSandboxTx stores a record under its own seq (store.Copy).
func (t *tx) RestoreSandboxTx(seq uint64, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	return t.later(`INSERT INTO sandbox_chain (seq, data) VALUES ($1, $2)
		ON CONFLICT (seq) DO UPDATE SET data = EXCLUDED.data`, []any{int64(seq), data}, nil)
}
