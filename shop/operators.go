package shop

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/store"
)

// What the bot's operator commands (/status, /deposits, /partner) read and
// do. Every change goes through the same functions as the admin routes,
// with the operator as the audit log's actor.

// AuditRevokeKey: an operator revoked a partner's key.
const AuditRevokeKey = "partner.revoke_key"

// EventKeyRevoked is queued on the Telegram channel, in the revoking
// transaction, when an operator revokes the key of a partner the bot knows:
// the bot tells them in their chat (when: the item's CreatedAt). Best
// effort: the outbox retries a failed send and drops one Telegram refuses,
// and the revoke never depends on it. Webhooks do not get it.
const EventKeyRevoked = "key.revoked"

// OperatorRevokeKey revokes a partner's active key at once, with an audit
// row, in one transaction. With prefix set, only a live key starting with it
// is revoked (a button under an old message must not revoke a newer key).
// It returns the key revoked. A partner linked to a Telegram chat is told
// (EventKeyRevoked, queued in the same transaction: the message is sent
// after the commit, and a failed send never undoes the revoke). Errors:
// VALIDATION_ERROR (operator), NOT_FOUND (no such partner, no active key,
// or the live key is another).
func (s *Shop) OperatorRevokeKey(ctx context.Context, partnerID int64, prefix string, who Actor) (KeyInfo, error) {
	if _, err := who.name(); err != nil {
		return KeyInfo{}, err
	}
	var revoked string
	var info KeyInfo
	err := s.update(ctx, func(tx *txn) error {
		revoked = ""
		p, err := tx.GetPartner(partnerID)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("partner")
		}
		if err != nil {
			return err
		}
		if p.ActiveKeyHash == "" {
			return notFound("active key")
		}
		k, err := tx.GetAPIKey(p.ActiveKeyHash)
		if err != nil {
			return err
		}
		if prefix != "" && k.Prefix != prefix {
			return notFound("active key " + prefix)
		}
		info = KeyInfo{Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
		now := s.now()
		if revoked, err = s.revokeActive(tx, p, now); err != nil {
			return err
		}
		if err := tx.PutPartner(p); err != nil {
			return err
		}
		if p.TelegramChatID != 0 {
			if err := tx.AppendOutbox(&domain.OutboxItem{Channel: domain.ChannelTelegram, PartnerID: p.ID, Type: EventKeyRevoked,
				CreatedAt: now, NextAttemptAt: now}); err != nil {
				return err
			}
		}
		return s.audit(tx, who, domain.AuditEntry{Action: AuditRevokeKey, PartnerID: p.ID, Detail: "key " + k.Prefix + "…"})
	})
	s.forgetKey(revoked)
	var be *Error
	if errors.As(err, &be) {
		return KeyInfo{}, be
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("shop: revoke key of partner %d: %w", partnerID, err)
	}
	name, _ := who.name()
	s.log.Warn("partner key revoked by an operator", "partner_id", partnerID, "operator", name)
	return info, nil
}

// OperatorPartner is a partner as /partner shows it.
type OperatorPartner struct {
	AdminPartner
	// WebhookHost is the host of the partner's webhook ("" when none; not the
	// whole URL, whose query may carry the partner's own token).
	WebhookHost         string
	WebhookDisabledAt   *time.Time
	WebhookFailingSince *time.Time
}

// FindPartner looks a partner up by id, by Telegram user id (when no
// partner has that id) or by Telegram @username (as the bot last saw it;
// case-insensitive). Errors: VALIDATION_ERROR (empty query), NOT_FOUND.
func (s *Shop) FindPartner(ctx context.Context, query string) (OperatorPartner, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return OperatorPartner{}, validation("partner", "required", "give a partner id or a Telegram @username")
	}
	var out OperatorPartner
	var hash string
	err := s.st.View(ctx, func(tx store.Tx) error {
		var p *domain.Partner
		var err error
		if id, perr := strconv.ParseInt(q, 10, 64); perr == nil && id > 0 {
			p, err = tx.GetPartner(id)
			if errors.Is(err, store.ErrNotFound) {
				p, err = tx.PartnerByTelegram(id)
			}
		} else {
			p, err = partnerByUsername(tx, strings.TrimPrefix(q, "@"))
		}
		if errors.Is(err, store.ErrNotFound) {
			return notFound("partner " + q)
		}
		if err != nil {
			return err
		}
		out = OperatorPartner{}
		if out.AdminPartner, hash, err = adminPartner(tx, p); err != nil {
			return err
		}
		w, err := tx.GetWebhook(p.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if u, perr := url.Parse(w.URL); perr == nil {
			out.WebhookHost = u.Host
		}
		out.WebhookDisabledAt, out.WebhookFailingSince = w.DisabledAt, w.FailingSince
		return nil
	})
	var be *Error
	if errors.As(err, &be) {
		return OperatorPartner{}, be
	}
	if err != nil {
		return OperatorPartner{}, fmt.Errorf("shop: find partner: %w", err)
	}
	s.lastUsed(&out.AdminPartner, hash)
	return out, nil
}

// partnerByUsername scans the partners for a Telegram username (operators'
// look-ups are rare; no index is kept for them).
func partnerByUsername(tx store.Tx, name string) (*domain.Partner, error) {
	if name == "" {
		return nil, store.ErrNotFound
	}
	for after := int64(0); ; {
		ps, err := tx.ListPartners(after, 1000)
		if err != nil {
			return nil, err
		}
		for i := range ps {
			if strings.EqualFold(ps[i].TelegramUsername, name) {
				return &ps[i], nil
			}
			after = ps[i].ID
		}
		if len(ps) < 1000 {
			return nil, store.ErrNotFound
		}
	}
}

// OperatorOrder returns any order by id, for an operator. Errors: NOT_FOUND.
func (s *Shop) OperatorOrder(ctx context.Context, id int64) (*domain.Order, error) {
	var o *domain.Order
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		o, err = tx.GetOrder(id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("order")
	}
	if err != nil {
		return nil, fmt.Errorf("shop: order %d: %w", id, err)
	}
	return o, nil
}

// OpenDeposits are the unmatched deposits not assigned yet, oldest first,
// at most limit of them, of at least telegram.alerts.unmatched_min_ton
// (smaller ones, comment spam mostly, are only counted in Small). Open
// counts all of that size.
type OpenDeposits struct {
	Items []domain.Unmatched
	Open  int
	Small int
}

// maxDepositScan bounds how many unmatched deposits one OpenUnmatched reads.
const maxDepositScan = 100_000

// OpenUnmatched lists the unmatched deposits waiting for an operator.
func (s *Shop) OpenUnmatched(ctx context.Context, limit int) (OpenDeposits, error) {
	floor := tonNano(s.cfg.Telegram.Alerts.UnmatchedMinTON)
	var out OpenDeposits
	err := s.st.View(ctx, func(tx store.Tx) error {
		out = OpenDeposits{}
		for after, n := int64(0), 0; n < maxDepositScan; {
			us, err := tx.ListUnmatched(after, maxAdminLimit)
			if err != nil {
				return err
			}
			for _, u := range us {
				after, n = u.ID, n+1
				switch {
				case u.AssignedAt != nil:
				case smallDeposit(&u, floor):
					out.Small++
				default:
					out.Open++
					if len(out.Items) < limit {
						out.Items = append(out.Items, u)
					}
				}
			}
			if len(us) < maxAdminLimit {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return OpenDeposits{}, fmt.Errorf("shop: open unmatched: %w", err)
	}
	return out, nil
}

// OperatorStatus is /status: health, the service wallet against what is
// owed, the queues, the rate and the active alerts.
type OperatorStatus struct {
	Health Health
	// Wallet: the service wallet's balance (WalletKnown false when it cannot
	// be read: sandbox, or the error in WalletError).
	WalletAddress string
	WalletKnown   bool
	WalletNano    int64
	WalletError   string
	// Owed: the prices of paid orders awaiting delivery, and partner balances.
	OwedOrdersNano   int64
	OwedOrders       int
	OwedBalancesNano int64
	ShortfallNano    int64 // what is owed beyond the wallet balance (0 when covered or unknown)
	// Owed in USDT (HeldReport): the paid orders awaiting delivery that were
	// paid in USDT (also counted above at their TON price) with their USDT
	// prices, and the partners' USDT balances. USDTOn: USDT is accepted.
	OwedUSDTOrders        int
	OwedOrdersUSDTUnits   int64
	OwedBalancesUSDTUnits int64
	OwedUSDTUnits         int64 // the two USDT sums together (saturating)
	USDTOn                bool
	// Queues.
	DeliveryQueue  int // paid and processing orders
	OutboxTelegram int // notifications waiting to be sent (capped at maxCount)
	OutboxWebhook  int
	Unmatched      OpenDeposits // counts; Items empty
	Parked         int
	Rate           pricing.Rate
	RateError      string
	Session        FragmentSessionInfo
	Alerts         []Alert
}

// maxCount caps the queue counts of OperatorStatus.
const maxCount = 10_000

// OperatorStatus gathers /status. The wallet is read now when the shop has
// a reader (not cached: the operator asked).
func (s *Shop) OperatorStatus(ctx context.Context) (OperatorStatus, error) {
	st := OperatorStatus{Health: s.Health(ctx), WalletAddress: s.serviceAddr, Session: s.FragmentSessionInfo()}
	if s.ops.wallet != nil {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		bal, err := s.ops.wallet.Balance(wctx)
		cancel()
		if err != nil {
			st.WalletError = clipParked(err.Error(), 300)
		} else {
			st.WalletKnown, st.WalletNano = true, bal
		}
	} else {
		st.WalletError = "not read in sandbox mode"
	}
	rep, err := s.HeldReport(ctx)
	if err != nil {
		return st, fmt.Errorf("shop: status: %w", err)
	}
	st.OwedOrdersNano, st.OwedOrders, st.OwedBalancesNano = rep.OwedOrdersNano, rep.OwedOrders, rep.OwedBalancesNano
	st.OwedUSDTOrders, st.OwedOrdersUSDTUnits, st.OwedBalancesUSDTUnits = rep.OwedUSDTOrders, rep.OwedOrdersUSDTUnits, rep.OwedBalancesUSDTUnits
	st.OwedUSDTUnits = satAdd(rep.OwedOrdersUSDTUnits, rep.OwedBalancesUSDTUnits)
	st.USDTOn = s.usdt.on
	if st.WalletKnown {
		st.ShortfallNano = max(satAdd(st.OwedOrdersNano, st.OwedBalancesNano)-st.WalletNano, 0)
	}
	err = s.st.View(ctx, func(tx store.Tx) error {
		ids, err := tx.DeliveryQueue(0, maxCount)
		if err != nil {
			return err
		}
		st.DeliveryQueue = len(ids)
		if st.OutboxTelegram, err = countOutbox(tx, domain.ChannelTelegram); err != nil {
			return err
		}
		st.OutboxWebhook, err = countOutbox(tx, domain.ChannelWebhook)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("shop: status: %w", err)
	}
	if st.Unmatched, err = s.OpenUnmatched(ctx, 0); err != nil {
		return st, err
	}
	if st.Parked, err = s.ParkedCount(ctx); err != nil {
		return st, err
	}
	if r, err := s.rates.Current(ctx); err != nil {
		st.RateError = err.Error()
	} else {
		st.Rate = r
	}
	if st.Alerts, err = s.ActiveAlerts(ctx); err != nil {
		return st, fmt.Errorf("shop: status: %w", err)
	}
	return st, nil
}

func countOutbox(tx store.Tx, channel domain.Channel) (int, error) {
	n := 0
	for after := int64(0); n < maxCount; {
		items, err := tx.PendingOutbox(channel, after, maxAdminLimit)
		if err != nil {
			return 0, err
		}
		n += len(items)
		if len(items) < maxAdminLimit {
			break
		}
		after = items[len(items)-1].ID
	}
	return min(n, maxCount), nil
}

// TelegramLanguage is the language the bot last saw a Telegram user use
// ("" when they never wrote to it); it creates nothing.
func (s *Shop) TelegramLanguage(ctx context.Context, userID int64) string {
	lang := ""
	_ = s.st.View(ctx, func(tx store.Tx) error {
		if p, err := tx.PartnerByTelegram(userID); err == nil {
			lang = p.Language
		}
		return nil
	})
	return lang
}
