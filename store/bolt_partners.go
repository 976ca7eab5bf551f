package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	json "github.com/segmentio/encoding/json"
	"github.com/theopenmoney/openmoney/domain"
)

// Partners (with their telegram-user and top-up-address indexes) and API
// keys (by hash). A partner's balance and ledger count are AppendLedger's.

func (t *boltTx) NextPartnerID() (int64, error) { return t.seq(bPartners) }

// PutPartner keeps the stored balances and ledger count (AppendLedger's).
func (t *boltTx) PutPartner(p *domain.Partner) error {
	rec := *p
	rec.BalanceNano, rec.BalanceUSDT, rec.LedgerCount = 0, 0, 0
	if old, err := t.GetPartner(p.ID); err == nil {
		rec.BalanceNano, rec.BalanceUSDT, rec.LedgerCount = old.BalanceNano, old.BalanceUSDT, old.LedgerCount
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	return t.putPartner(&rec)
}

// putPartner writes p as given, with its indexes; another partner holding
// p's telegram user or top-up address is ErrExists.
func (t *boltTx) putPartner(p *domain.Partner) error {
	id := i64(p.ID)
	index := func(bucket, key []byte) error {
		b := t.tx.Bucket(bucket)
		if v := b.Get(key); v != nil && !bytes.Equal(v, id) {
			return fmt.Errorf("partner %d: %s %x: %w", p.ID, bucket, key, ErrExists)
		}
		return b.Put(key, id)
	}
	if p.TelegramUserID != 0 {
		if err := index(bPartnersTG, i64(p.TelegramUserID)); err != nil {
			return err
		}
	}
	if p.TopupAddressRaw != "" {
		if err := index(bPartnersAddr, []byte(p.TopupAddressRaw)); err != nil {
			return err
		}
	}
	return t.put(bPartners, id, p)
}

func (t *boltTx) GetPartner(id int64) (*domain.Partner, error) {
	var p domain.Partner
	if err := t.get(bPartners, i64(id), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (t *boltTx) partnerByIndex(bucket, key []byte) (*domain.Partner, error) {
	b := t.b(bucket)
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	return t.GetPartner(int64(binary.BigEndian.Uint64(v)))
}

func (t *boltTx) PartnerByTelegram(userID int64) (*domain.Partner, error) {
	return t.partnerByIndex(bPartnersTG, i64(userID))
}

func (t *boltTx) PartnerByTopupAddress(raw string) (*domain.Partner, error) {
	return t.partnerByIndex(bPartnersAddr, []byte(raw))
}

func (t *boltTx) ListPartners(afterID int64, limit int) ([]domain.Partner, error) {
	var out []domain.Partner
	b := t.b(bPartners)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(i64(afterID + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		var p domain.Partner
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("store: decode partner: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// API keys, by hash.

func (t *boltTx) PutAPIKey(k *domain.APIKey, isNew bool) error {
	if isNew && t.tx.Bucket(bKeys).Get([]byte(k.Hash)) != nil {
		return ErrExists
	}
	return t.put(bKeys, []byte(k.Hash), k)
}

func (t *boltTx) GetAPIKey(hash string) (*domain.APIKey, error) {
	var k domain.APIKey
	if err := t.get(bKeys, []byte(hash), &k); err != nil {
		return nil, err
	}
	return &k, nil
}
