package pg

import (
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Partners and their API keys. A partner's balance and ledger count are
// columns that only AppendLedger changes (ledger.go); PutPartner never
// writes them.
//
//	partners (id, …, telegram_user_id UNIQUE NULL, topup_address_raw UNIQUE NULL, balance_nano ≥ 0, ledger_count)
//	api_keys (hash PRIMARY KEY, partner_id, prefix, created_at, last_used_at, revoked_at)

const partnerCols = `id, created_at, name, telegram_user_id, telegram_chat_id, telegram_username, language,
	subwallet_id, topup_address, topup_address_raw, balance_nano, ledger_count, active_key_hash,
	balance_usdt, usdt_wallet, usdt_master`

var partnerScan = rowScanner{"pg.partner"}

func scanPartner(r pgxRows, p *domain.Partner) error {
	var tg *int64
	var raw *string
	var sub int64
	err := partnerScan.scan(r, &p.ID, &p.CreatedAt, &p.Name, &tg, &p.TelegramChatID, &p.TelegramUsername, &p.Language, &sub,
		&p.TopupAddress, &raw, &p.BalanceNano, &p.LedgerCount, &p.ActiveKeyHash,
		&p.BalanceUSDT, &p.USDTWallet, &p.USDTMaster)
	p.TelegramUserID, p.TopupAddressRaw, p.SubwalletID = intOf(tg), strOf(raw), uint32(sub)
	return err
}

func (t *tx) NextPartnerID() (int64, error) {
	var id int64
	err := t.one("SELECT nextval('partner_id_seq')", nil, &id)
	return id, err
}

func (t *tx) PutPartner(p *domain.Partner) error {
	return t.later(`INSERT INTO partners (id, created_at, name, telegram_user_id, telegram_chat_id, telegram_username,
		language, subwallet_id, topup_address, topup_address_raw, active_key_hash, usdt_wallet, usdt_master)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, name = EXCLUDED.name,
		telegram_user_id = EXCLUDED.telegram_user_id, telegram_chat_id = EXCLUDED.telegram_chat_id,
		telegram_username = EXCLUDED.telegram_username, language = EXCLUDED.language,
		subwallet_id = EXCLUDED.subwallet_id, topup_address = EXCLUDED.topup_address,
		topup_address_raw = EXCLUDED.topup_address_raw, active_key_hash = EXCLUDED.active_key_hash,
		usdt_wallet = EXCLUDED.usdt_wallet, usdt_master = EXCLUDED.usdt_master`,
		[]any{p.ID, p.CreatedAt, p.Name, nullInt(p.TelegramUserID), p.TelegramChatID, p.TelegramUsername, p.Language,
			int64(p.SubwalletID), p.TopupAddress, nullStr(p.TopupAddressRaw), p.ActiveKeyHash, p.USDTWallet, p.USDTMaster}, nil)
}

// RestorePartner writes p with its balance and ledger count (store.Copy).
func (t *tx) RestorePartner(p *domain.Partner) error {
	return t.later(`INSERT INTO partners (`+partnerCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		[]any{p.ID, p.CreatedAt, p.Name, nullInt(p.TelegramUserID), p.TelegramChatID, p.TelegramUsername, p.Language,
			int64(p.SubwalletID), p.TopupAddress, nullStr(p.TopupAddressRaw), p.BalanceNano, p.LedgerCount, p.ActiveKeyHash,
			p.BalanceUSDT, p.USDTWallet, p.USDTMaster}, nil)
}

func (t *tx) partner(where string, arg any) (*domain.Partner, error) {
	return get(t, "SELECT "+partnerCols+" FROM partners WHERE "+where, []any{arg},
		func(r pgxRows, p *domain.Partner) error { return scanPartner(r, p) })
}

func (t *tx) GetPartner(id int64) (*domain.Partner, error) { return t.partner("id = $1", id) }

func (t *tx) PartnerByTelegram(userID int64) (*domain.Partner, error) {
	return t.partner("telegram_user_id = $1", userID)
}

func (t *tx) PartnerByTopupAddress(raw string) (*domain.Partner, error) {
	return t.partner("topup_address_raw = $1", raw)
}

func (t *tx) ListPartners(afterID int64, limit int) ([]domain.Partner, error) {
	return list(t, "SELECT "+partnerCols+" FROM partners WHERE id > $1 ORDER BY id LIMIT $2",
		[]any{afterID, maxLimit(limit)}, func(r pgxRows, p *domain.Partner) error { return scanPartner(r, p) })
}

// --- keys

const keyCols = "hash, partner_id, prefix, created_at, last_used_at, revoked_at"

var keyScan = rowScanner{"pg.key"}

func scanKey(r pgxRows, k *domain.APIKey) error {
	return keyScan.scan(r, &k.Hash, &k.PartnerID, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
}

// PutAPIKey with isNew runs at once, so a clash is ErrExists from the call
// (ON CONFLICT DO NOTHING: the transaction goes on).
func (t *tx) PutAPIKey(k *domain.APIKey, isNew bool) error {
	args := []any{k.Hash, k.PartnerID, k.Prefix, k.CreatedAt, k.LastUsedAt, k.RevokedAt}
	if isNew {
		tag, err := t.now(`INSERT INTO api_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (hash) DO NOTHING`, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrExists
		}
		return nil
	}
	return t.later(`INSERT INTO api_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (hash) DO UPDATE SET partner_id = EXCLUDED.partner_id, prefix = EXCLUDED.prefix,
		created_at = EXCLUDED.created_at, last_used_at = EXCLUDED.last_used_at, revoked_at = EXCLUDED.revoked_at`, args, nil)
}

func (t *tx) GetAPIKey(hash string) (*domain.APIKey, error) {
	return get(t, "SELECT "+keyCols+" FROM api_keys WHERE hash = $1", []any{hash},
		func(r pgxRows, k *domain.APIKey) error { return scanKey(r, k) })
}

func (t *tx) ForEachAPIKey(fn func(*domain.APIKey) error) error {
	return eachByHash(t, "SELECT "+keyCols+" FROM api_keys WHERE hash > $1 ORDER BY hash LIMIT $2",
		func(r pgxRows, k *domain.APIKey) error { return scanKey(r, k) }, func(k *domain.APIKey) string { return k.Hash }, fn)
}
