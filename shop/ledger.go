package shop

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/store"
)

func formatTON(n int64) string { return money.FormatTON(n) }

func addNano(a, b int64) (int64, error) { return money.Add(a, b) }

// credit appends a ledger row moving amount (signed) on p's balance, in the
// caller's transaction; the store moves the balance with the row, at once,
// and refuses a debit that would make it negative (store.ErrOverdraw):
// balances never go below zero, whatever runs concurrently. p is brought up
// to date.
func (s *Shop) credit(tx store.Tx, p *domain.Partner, cur domain.Currency, typ domain.LedgerType, amount, orderID int64, txHash string) (*domain.LedgerEntry, error) {
	e := &domain.LedgerEntry{PartnerID: p.ID, Type: typ, Currency: cur, OrderID: orderID, TxHash: txHash, CreatedAt: s.now()}
	if cur == domain.CurrencyUSDT {
		e.AmountUSDT = amount
	} else {
		e.Currency, e.AmountNano = domain.CurrencyTON, amount
	}
	if err := tx.AppendLedger(e); err != nil {
		if errors.Is(err, store.ErrOverdraw) {
			return nil, fmt.Errorf("shop: ledger %s of %d %s would overdraw partner %d: %w", typ, amount, cur, p.ID, err)
		}
		return nil, err
	}
	_, _, after := e.Amount()
	setBalanceIn(p, cur, after)
	p.LedgerCount++
	if typ == domain.LedgerTopup {
		if err := s.emit(tx, p, EventBalanceTopup, nil, e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// emit queues an event for the partner's channels in the caller's transaction.
func (s *Shop) emit(tx store.Tx, p *domain.Partner, typ string, o *domain.Order, e *domain.LedgerEntry) error {
	now := s.now()
	if p.TelegramChatID != 0 {
		it := &domain.OutboxItem{Channel: domain.ChannelTelegram, PartnerID: p.ID, Type: typ, Order: o, Ledger: e,
			CreatedAt: now, NextAttemptAt: now}
		if err := tx.AppendOutbox(it); err != nil {
			return err
		}
	}
	if want, err := s.webhookWanted(tx, p, typ); err != nil {
		return err
	} else if want {
		it := &domain.OutboxItem{Channel: domain.ChannelWebhook, PartnerID: p.ID, Type: typ, Order: o, Ledger: e,
			CreatedAt: now, NextAttemptAt: now}
		if err := tx.AppendOutbox(it); err != nil {
			return err
		}
	}
	return nil
}

// webhookWanted reports whether the partner has a webhook subscribed to
// typ. The events of a disabled webhook are queued too: the sender drops
// each with a failed delivery row, so the partner can redeliver it after
// re-enabling (and one re-enabled before the sender's turn is sent).
func (s *Shop) webhookWanted(tx store.Tx, p *domain.Partner, typ string) (bool, error) {
	w, err := tx.GetWebhook(p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(w.Events, typ), nil
}

// Balance is a partner's balance and own top-up address.
type Balance struct {
	Nano         int64
	USDT         int64 // USDT units
	USDTOn       bool  // USDT is accepted (a USDT balance from before it was turned off stays in USDT)
	TopupAddress string
}

// Balance returns the partner's balance.
func (s *Shop) Balance(ctx context.Context, partnerID int64) (Balance, error) {
	p, err := s.Partner(ctx, partnerID)
	if err != nil {
		return Balance{}, err
	}
	return Balance{Nano: p.BalanceNano, USDT: p.BalanceUSDT, USDTOn: s.usdt.on, TopupAddress: p.TopupAddress}, nil
}

// Ledger pages through the partner's balance movements, newest first.
func (s *Shop) Ledger(ctx context.Context, partnerID int64, cursor string, limit int) (Page[domain.LedgerEntry], error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return Page[domain.LedgerEntry]{}, err
	}
	before, err := DecodeCursor(cursor)
	if err != nil {
		return Page[domain.LedgerEntry]{}, err
	}
	var items []domain.LedgerEntry
	err = s.st.Read(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.ListLedger(partnerID, before, limit+1)
		return err
	})
	if err != nil {
		return Page[domain.LedgerEntry]{}, err
	}
	return pageOf(items, limit, func(x domain.LedgerEntry) int64 { return x.ID }), nil
}

// returnPartial credits what an order received so far back to the balance
// when the order can no longer be paid (expired, cancelled). Ledger type
// late_payment: money that arrived for an order that will not be delivered.
func (s *Shop) returnPartial(tx store.Tx, p *domain.Partner, o *domain.Order) error {
	got := o.Received()
	if got <= 0 || o.PaymentMethod != domain.MethodTonMemo {
		return nil
	}
	_, err := s.credit(tx, p, o.PaymentCurrency, domain.LedgerLatePayment, got, o.ID, "")
	return err
}
