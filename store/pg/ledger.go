package pg

import (
	"errors"
	"fmt"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Ledger rows, and the partner's balance they move.
//
//	ledger (id PRIMARY KEY, partner_id, type, amount_nano, balance_after_nano, order_id, tx_hash, created_at)
//	ledger_by_partner (partner_id, id)

const ledgerCols = "id, partner_id, type, amount_nano, balance_after_nano, order_id, tx_hash, created_at, currency, amount_usdt, balance_after_usdt"

var ledgerScan = rowScanner{"pg.ledger"}

func scanLedger(r pgxRows, e *domain.LedgerEntry) error {
	return ledgerScan.scan(r, &e.ID, &e.PartnerID, &e.Type, &e.AmountNano, &e.BalanceAfterNano, &e.OrderID, &e.TxHash, &e.CreatedAt,
		&e.Currency, &e.AmountUSDT, &e.BalanceAfterUSDT)
}

// appendLedgerSQL moves the balance only if it stays non-negative and
// inserts the row from what the update returned, in one statement. The
// partner's row stays locked to the commit, and the row's id is taken after
// the lock, so a partner's rows get ids in commit order and each
// balance_after is the running sum.
const appendLedgerSQL = `WITH p AS (
		UPDATE partners SET balance_nano = balance_nano + $2, ledger_count = ledger_count + 1
		WHERE id = $1 AND balance_nano + $2 >= 0
		RETURNING balance_nano)
	INSERT INTO ledger (id, partner_id, type, amount_nano, balance_after_nano, order_id, tx_hash, created_at, currency)
	SELECT nextval('ledger_id_seq'), $1, $3, $2, p.balance_nano, $4, $5, $6, 'TON' FROM p
	RETURNING id, balance_after_nano`

// appendLedgerUSDTSQL is appendLedgerSQL for a USDT row: it moves
// balance_usdt.
const appendLedgerUSDTSQL = `WITH p AS (
		UPDATE partners SET balance_usdt = balance_usdt + $2, ledger_count = ledger_count + 1
		WHERE id = $1 AND balance_usdt + $2 >= 0
		RETURNING balance_usdt)
	INSERT INTO ledger (id, partner_id, type, amount_nano, balance_after_nano, order_id, tx_hash, created_at, currency,
		amount_usdt, balance_after_usdt)
	SELECT nextval('ledger_id_seq'), $1, $3, 0, 0, $4, $5, $6, 'USDT', $2, p.balance_usdt FROM p
	RETURNING id, balance_after_usdt`

var errNoLedgerRow = errors.New("pg: no ledger row")

func (t *tx) AppendLedger(e *domain.LedgerEntry) error {
	var err error
	if e.Currency == domain.CurrencyUSDT {
		err = t.nowRow(appendLedgerUSDTSQL, []any{e.PartnerID, e.AmountUSDT, e.Type, e.OrderID, e.TxHash, e.CreatedAt},
			errNoLedgerRow, &e.ID, &e.BalanceAfterUSDT)
	} else {
		e.Currency = domain.CurrencyTON
		err = t.nowRow(appendLedgerSQL, []any{e.PartnerID, e.AmountNano, e.Type, e.OrderID, e.TxHash, e.CreatedAt},
			errNoLedgerRow, &e.ID, &e.BalanceAfterNano)
	}
	if !errors.Is(err, errNoLedgerRow) {
		return err
	}
	// Refused: no such partner, or the balance would go below zero.
	var one int
	if err := t.one("SELECT 1 FROM partners WHERE id = $1", []any{e.PartnerID}, &one); err != nil {
		return fmt.Errorf("pg: ledger row of partner %d: %w", e.PartnerID, err)
	}
	return store.ErrOverdraw
}

// RestoreLedger writes e as given (store.Copy; the partner's balance is
// restored with it).
func (t *tx) RestoreLedger(e *domain.LedgerEntry) error {
	return t.later("INSERT INTO ledger ("+ledgerCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
		[]any{e.ID, e.PartnerID, e.Type, e.AmountNano, e.BalanceAfterNano, e.OrderID, e.TxHash, e.CreatedAt,
			e.Currency, e.AmountUSDT, e.BalanceAfterUSDT}, nil)
}

func (t *tx) GetLedger(id int64) (*domain.LedgerEntry, error) {
	return get(t, "SELECT "+ledgerCols+" FROM ledger WHERE id = $1", []any{id}, scanLedger)
}

func (t *tx) ListLedger(partnerID, before int64, limit int) ([]domain.LedgerEntry, error) {
	return list(t, "SELECT "+ledgerCols+` FROM ledger WHERE partner_id = $1 AND id < $2
		ORDER BY id DESC LIMIT $3`, []any{partnerID, beforeID(before), maxLimit(limit)}, scanLedger)
}

func (t *tx) ForEachLedger(fn func(*domain.LedgerEntry) error) error {
	return walkByID(t, "SELECT "+ledgerCols+" FROM ledger WHERE id > $1 ORDER BY id LIMIT $2", scanLedger,
		func(e *domain.LedgerEntry) int64 { return e.ID }, fn)
}
