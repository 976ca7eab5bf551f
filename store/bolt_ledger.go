package store

import (
	"encoding/binary"
	"fmt"

	json "github.com/segmentio/encoding/json"
	"github.com/theopenmoney/openmoney/domain"
)

// Ledger rows (by id, and partner|id), and the partner balance they move.

func (t *boltTx) AppendLedger(e *domain.LedgerEntry) error {
	p, err := t.GetPartner(e.PartnerID)
	if err != nil {
		return fmt.Errorf("ledger row of partner %d: %w", e.PartnerID, err)
	}
	// The row's currency moves its own balance (LedgerEntry).
	cur, amount := &p.BalanceNano, e.AmountNano
	if e.Currency == domain.CurrencyUSDT {
		cur, amount = &p.BalanceUSDT, e.AmountUSDT
	} else {
		e.Currency = domain.CurrencyTON
	}
	bal := *cur + amount
	if (amount > 0 && bal < *cur) || (amount < 0 && bal > *cur) {
		return fmt.Errorf("ledger row of partner %d: balance %d + %d overflows", e.PartnerID, *cur, amount)
	}
	if bal < 0 {
		return ErrOverdraw
	}
	*cur, p.LedgerCount = bal, p.LedgerCount+1
	if err := t.put(bPartners, i64(p.ID), p); err != nil {
		return err
	}
	id, err := t.seq(bLedger)
	if err != nil {
		return err
	}
	e.ID = id
	if e.Currency == domain.CurrencyUSDT {
		e.BalanceAfterUSDT = bal
	} else {
		e.BalanceAfterNano = bal
	}
	if err := t.tx.Bucket(bLedgerPartner).Put(cat(i64(e.PartnerID), i64(id)), nil); err != nil {
		return err
	}
	return t.put(bLedger, i64(id), e)
}

func (t *boltTx) GetLedger(id int64) (*domain.LedgerEntry, error) {
	var e domain.LedgerEntry
	if err := t.get(bLedger, i64(id), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

func (t *boltTx) ListLedger(partnerID, beforeID int64, limit int) ([]domain.LedgerEntry, error) {
	var out []domain.LedgerEntry
	err := t.walkNewest(bLedgerPartner, partnerID, beforeID, func(id []byte) (bool, error) {
		if len(out) >= limit {
			return false, nil
		}
		e, err := t.GetLedger(int64(binary.BigEndian.Uint64(id)))
		if err != nil {
			return false, err
		}
		out = append(out, *e)
		return len(out) < limit, nil
	})
	return out, err
}

func (t *boltTx) ForEachLedger(fn func(*domain.LedgerEntry) error) error {
	b := t.b(bLedger)
	if b == nil {
		return nil
	}
	return b.ForEach(func(_, v []byte) error {
		var e domain.LedgerEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("store: decode ledger: %w", err)
		}
		return fn(&e)
	})
}
