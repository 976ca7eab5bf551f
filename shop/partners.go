package shop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// KeyPrefix starts every API key.
const KeyPrefix = "osk_"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// KeyInfo describes a key without revealing it.
type KeyInfo struct {
	Prefix     string     // "osk_AbCd1234", not a secret
	CreatedAt  time.Time  //
	LastUsedAt *time.Time // nil if never used
}

// IssuedKey is a new key: the only time the full key exists outside the caller.
type IssuedKey struct {
	Key  string
	Info KeyInfo
}

// TelegramUser identifies the bot's user.
type TelegramUser struct {
	ID       int64
	ChatID   int64
	Name     string
	Username string // without @; "" keeps what the shop has
	Language string
}

// newKey returns osk_ + 43 base62 chars (256 bits of randomness).
func newKey() (string, error) {
	var b [43]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("shop: random key: %w", err)
	}
	var sb strings.Builder
	sb.WriteString(KeyPrefix)
	for _, c := range b {
		// 248 = 4·62: rejection-free mapping would bias; resample instead.
		for c >= 248 {
			var one [1]byte
			if _, err := rand.Read(one[:]); err != nil {
				return "", fmt.Errorf("shop: random key: %w", err)
			}
			c = one[0]
		}
		sb.WriteByte(base62[c%62])
	}
	return sb.String(), nil
}

// HashKey is the stored form of a key: hex SHA-256.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

func keyPrefix(key string) string { return key[:len(KeyPrefix)+8] }

// CreatePartner creates a partner (sandbox partners, operators, tests).
func (s *Shop) CreatePartner(ctx context.Context, name string) (*domain.Partner, error) {
	var p *domain.Partner
	err := s.update(ctx, func(tx *txn) error {
		var err error
		p, err = s.newPartner(tx, name, TelegramUser{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shop: create partner: %w", err)
	}
	s.watch(p)
	return p, nil
}

func (s *Shop) watch(p *domain.Partner) {
	if w, ok := s.chain.(watcher); ok && p.TopupAddressRaw != "" {
		w.Watch(p.TopupAddressRaw)
	}
	s.kickJettons() // pin its USDT jetton wallet
}

func (s *Shop) newPartner(tx store.Tx, name string, tg TelegramUser) (*domain.Partner, error) {
	id, err := tx.NextPartnerID()
	if err != nil {
		return nil, err
	}
	sub, err := s.keys.PartnerSubwallet(id)
	if errors.Is(err, ton.ErrSubwalletRange) {
		// A v5r1 seed has 32767 top-up subwallets (15-bit field); nothing
		// the client can fix, so a 503 and a line for the operator.
		s.log.Error("cannot open a partner account: the seed's wallet version has no top-up subwallet for this partner id", "partner_id", id, "err", err)
		return nil, newErr(CodeServiceUnavailable, "", "partner_limit",
			"no new partner account can be opened: the service wallet has no standard top-up address left (a v5r1 seed serves %d partners); please contact the operator", ton.MaxV5Partners)
	}
	if err != nil {
		return nil, err
	}
	friendly, raw, err := s.keys.TopupAddress(sub)
	if err != nil {
		return nil, err
	}
	p := &domain.Partner{ID: id, CreatedAt: s.now(), Name: name, TelegramUserID: tg.ID, TelegramChatID: tg.ChatID,
		TelegramUsername: tg.Username, Language: tg.Language, SubwalletID: sub, TopupAddress: friendly, TopupAddressRaw: raw}
	return p, tx.PutPartner(p)
}

// TelegramPartner returns the partner of a Telegram user, creating it on the
// first message (one Telegram user = one partner) and keeping chat and
// language current.
func (s *Shop) TelegramPartner(ctx context.Context, u TelegramUser) (*domain.Partner, error) {
	if u.ID == 0 {
		return nil, validation("telegram_user", "invalid", "telegram user id is required")
	}
	var p *domain.Partner
	var created bool
	err := s.update(ctx, func(tx *txn) error {
		created = false
		got, err := tx.PartnerByTelegram(u.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p, err = s.newPartner(tx, u.Name, u)
			created = true
			return err
		case err != nil:
			return err
		}
		p = got
		if (u.ChatID != 0 && p.TelegramChatID != u.ChatID) || (u.Language != "" && p.Language != u.Language) || (u.Name != "" && p.Name != u.Name) ||
			(u.Username != "" && p.TelegramUsername != u.Username) {
			if u.Username != "" {
				p.TelegramUsername = u.Username
			}
			if u.ChatID != 0 {
				p.TelegramChatID = u.ChatID
			}
			if u.Language != "" {
				p.Language = u.Language
			}
			if u.Name != "" {
				p.Name = u.Name
			}
			return tx.PutPartner(p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shop: telegram partner: %w", err)
	}
	if created {
		s.watch(p)
	}
	return p, nil
}

// Partner returns a partner by id.
func (s *Shop) Partner(ctx context.Context, id int64) (*domain.Partner, error) {
	var p *domain.Partner
	err := s.st.Read(ctx, func(tx store.Tx) error {
		var err error
		p, err = tx.GetPartner(id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("partner")
	}
	return p, err
}

// IssueKey creates a new key for the partner; an active key is revoked in the
// same transaction (so "issue" on a partner with a key is a rotation). The
// returned key is never stored and cannot be shown again.
func (s *Shop) IssueKey(ctx context.Context, partnerID int64) (IssuedKey, error) {
	key, err := newKey()
	if err != nil {
		return IssuedKey{}, err
	}
	now := s.now()
	rec := &domain.APIKey{Hash: HashKey(key), PartnerID: partnerID, Prefix: keyPrefix(key), CreatedAt: now}
	var revoked string
	err = s.update(ctx, func(tx *txn) error {
		p, err := tx.GetPartner(partnerID)
		if err != nil {
			return err
		}
		if revoked, err = s.revokeActive(tx, p, now); err != nil {
			return err
		}
		if err := tx.PutAPIKey(rec, true); err != nil {
			return err
		}
		p.ActiveKeyHash = rec.Hash
		return tx.PutPartner(p)
	})
	if errors.Is(err, store.ErrNotFound) {
		return IssuedKey{}, notFound("partner")
	}
	if err != nil {
		return IssuedKey{}, fmt.Errorf("shop: issue key: %w", err)
	}
	s.forgetKey(revoked) // again after the commit: no lookup can re-cache it now
	return IssuedKey{Key: key, Info: KeyInfo{Prefix: rec.Prefix, CreatedAt: now}}, nil
}

// RotateKey is IssueKey: the old key is dead the moment the new one exists.
func (s *Shop) RotateKey(ctx context.Context, partnerID int64) (IssuedKey, error) {
	return s.IssueKey(ctx, partnerID)
}

// revokeActive revokes p's live key in tx and returns its hash ("" if none).
// Callers forget the hash from the auth cache after the commit.
func (s *Shop) revokeActive(tx store.Tx, p *domain.Partner, now time.Time) (string, error) {
	if p.ActiveKeyHash == "" {
		return "", nil
	}
	k, err := tx.GetAPIKey(p.ActiveKeyHash)
	if err != nil {
		return "", err
	}
	k.RevokedAt = &now
	p.ActiveKeyHash = ""
	s.forgetKey(k.Hash)
	return k.Hash, tx.PutAPIKey(k, false)
}

// RevokeKey revokes the partner's active key (NOT_FOUND when there is none).
func (s *Shop) RevokeKey(ctx context.Context, partnerID int64) error {
	none := false
	var revoked string
	err := s.update(ctx, func(tx *txn) error {
		p, err := tx.GetPartner(partnerID)
		if err != nil {
			return err
		}
		none = p.ActiveKeyHash == ""
		if none {
			return nil
		}
		if revoked, err = s.revokeActive(tx, p, s.now()); err != nil {
			return err
		}
		return tx.PutPartner(p)
	})
	s.forgetKey(revoked)
	if errors.Is(err, store.ErrNotFound) || (err == nil && none) {
		return notFound("active key")
	}
	return err
}

// ActiveKey describes the partner's live key, or nil when it has none.
func (s *Shop) ActiveKey(ctx context.Context, partnerID int64) (*KeyInfo, error) {
	var info *KeyInfo
	var hash string
	err := s.st.View(ctx, func(tx store.Tx) error {
		p, err := tx.GetPartner(partnerID)
		if err != nil {
			return err
		}
		if p.ActiveKeyHash == "" {
			return nil
		}
		k, err := tx.GetAPIKey(p.ActiveKeyHash)
		if err != nil {
			return err
		}
		hash = k.Hash
		info = &KeyInfo{Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("partner")
	}
	if err != nil || info == nil {
		return nil, err
	}
	s.keyUseMu.Lock()
	if t, ok := s.keyUse[hash]; ok && (info.LastUsedAt == nil || t.After(*info.LastUsedAt)) {
		info.LastUsedAt = &t
	}
	s.keyUseMu.Unlock()
	return info, nil
}

var errUnauthorized = newErr(CodeUnauthorized, "Authorization", "unauthorized",
	"missing, malformed, unknown or revoked API key (send Authorization: Bearer osk_…)")

// AuthCacheTTL bounds how long AuthenticateKey trusts a cached key without
// reading the store. A key revoked through this process is forgotten at
// once; with several instances (PostgreSQL) a key revoked elsewhere stops
// working here within this time.
const AuthCacheTTL = 2 * time.Second

type authEntry struct {
	partnerID int64
	checked   time.Time // wall clock of the last store check
}

// Authenticate returns the partner owning a live key, or UNAUTHORIZED. It
// always reads the partner, so the record is current.
func (s *Shop) Authenticate(ctx context.Context, key string) (*domain.Partner, error) {
	hash, err := keyHash(key)
	if err != nil {
		return nil, err
	}
	return s.authenticate(ctx, hash)
}

// AuthenticateKey returns the id of the partner owning a live key, or
// UNAUTHORIZED, without a store read when the key was checked less than
// AuthCacheTTL ago (the API's hot path).
func (s *Shop) AuthenticateKey(ctx context.Context, key string) (int64, error) {
	hash, err := keyHash(key)
	if err != nil {
		return 0, err
	}
	s.authMu.RLock()
	e, ok := s.authCache[hash]
	s.authMu.RUnlock()
	if ok && time.Since(e.checked) < AuthCacheTTL {
		s.touchKey(hash)
		return e.partnerID, nil
	}
	p, err := s.authenticate(ctx, hash)
	if err != nil {
		return 0, err
	}
	return p.ID, nil
}

func keyHash(key string) (string, error) {
	if !strings.HasPrefix(key, KeyPrefix) || len(key) < len(KeyPrefix)+32 || len(key) > 128 {
		return "", errUnauthorized
	}
	return HashKey(key), nil
}

func (s *Shop) authenticate(ctx context.Context, hash string) (*domain.Partner, error) {
	s.authMu.RLock()
	e, cached := s.authCache[hash]
	gen := s.authGen
	s.authMu.RUnlock()
	pid := e.partnerID
	checked := time.Now()
	var p *domain.Partner
	err := s.st.Read(ctx, func(tx store.Tx) error {
		if !cached {
			k, err := tx.GetAPIKey(hash)
			if err != nil {
				return err
			}
			if k.RevokedAt != nil {
				return store.ErrNotFound
			}
			pid = k.PartnerID
		}
		var err error
		p, err = tx.GetPartner(pid)
		if err == nil && p.ActiveKeyHash != hash {
			return store.ErrNotFound
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		s.forgetKey(hash)
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("shop: authenticate: %w", err)
	}
	s.authMu.Lock()
	// A key forgotten while this lookup ran may have been read before its
	// revocation committed: cache nothing then.
	if s.authGen == gen {
		if len(s.authCache) > 100_000 { // bound memory; refilled on demand
			clear(s.authCache)
		}
		s.authCache[hash] = authEntry{partnerID: pid, checked: checked}
	}
	s.authMu.Unlock()
	s.touchKey(hash)
	return p, nil
}

// touchKey notes a key's use. Last-used stamps are kept in memory and
// flushed by RunLocal, so a read request never costs a disk write.
func (s *Shop) touchKey(hash string) {
	s.keyUseMu.Lock()
	s.keyUse[hash] = s.now()
	s.keyUseMu.Unlock()
}

func (s *Shop) forgetKey(hash string) {
	if hash == "" {
		return
	}
	s.authMu.Lock()
	delete(s.authCache, hash)
	s.authGen++
	s.authMu.Unlock()
}

// flushKeyUse writes pending last-used stamps.
func (s *Shop) flushKeyUse(ctx context.Context) error {
	s.keyUseMu.Lock()
	pending := s.keyUse
	s.keyUse = map[string]time.Time{}
	s.keyUseMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	return s.update(ctx, func(tx *txn) error {
		for h, t := range pending {
			k, err := tx.GetAPIKey(h)
			if err != nil {
				continue
			}
			t := t
			k.LastUsedAt = &t
			if err := tx.PutAPIKey(k, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// Partners lists partners (operator use), ascending by id after afterID.
func (s *Shop) Partners(ctx context.Context, afterID int64, limit int) ([]domain.Partner, error) {
	var out []domain.Partner
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListPartners(afterID, limit)
		return err
	})
	return out, err
}

// WatchedAddresses returns every raw address the chain listener must watch:
// the service wallet and all partner top-up addresses.
func (s *Shop) WatchedAddresses(ctx context.Context) ([]string, error) {
	out := []string{s.serviceRaw}
	err := s.st.View(ctx, func(tx store.Tx) error {
		return store.EachPartner(tx, func(p *domain.Partner) error {
			out = append(out, p.TopupAddressRaw)
			return nil
		})
	})
	return out, err
}
