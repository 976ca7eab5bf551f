package domain

import "time"

// Partner is one API customer (one Telegram user, or a sandbox partner).
// Only shop writes it. Its BalanceNano and LedgerCount are the sum and the
// count of its ledger rows: the store changes them only with a ledger row
// (store.LedgerTx.AppendLedger), never through a partner write.
type Partner struct {
	ID             int64     `json:"id"`
	CreatedAt      time.Time `json:"created_at"`
	Name           string    `json:"name,omitempty"`
	TelegramUserID int64     `json:"telegram_user_id,omitempty"`
	TelegramChatID int64     `json:"telegram_chat_id,omitempty"`
	// TelegramUsername is the user's @username as the bot last saw it (no @;
	// "" when they have none), for operators looking a partner up.
	TelegramUsername string `json:"telegram_username,omitempty"`
	Language         string `json:"language,omitempty"`
	// SubwalletID derives the partner's own top-up address from the service seed.
	SubwalletID     uint32 `json:"subwallet_id"`
	TopupAddress    string `json:"topup_address"`     // user-friendly, non-bounceable
	TopupAddressRaw string `json:"topup_address_raw"` // "0:hex", the index key
	BalanceNano     int64  `json:"balance_nano"`
	// BalanceUSDT is the USDT balance in USDT units (10^-6 USDT): the sum of
	// the partner's USDT ledger rows, moved like BalanceNano only with a row.
	BalanceUSDT int64 `json:"balance_usdt,omitempty"`
	// USDTWallet is the top-up address's USDT jetton wallet (raw) of the
	// master USDTMaster, pinned once by the shop (USDT sent to the top-up
	// address arrives there).
	USDTWallet    string `json:"usdt_wallet,omitempty"`
	USDTMaster    string `json:"usdt_master,omitempty"`
	ActiveKeyHash string `json:"active_key_hash,omitempty"` // hex SHA-256 of the live key
	LedgerCount   int64  `json:"ledger_count"`
}

// APIKey is a partner key as stored: only its SHA-256 hash and a short
// non-secret prefix; the key itself is never stored. Only shop writes it
// (issue, rotate, revoke, last use).
type APIKey struct {
	Hash       string     `json:"hash"`
	PartnerID  int64      `json:"partner_id"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}
