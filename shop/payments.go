package shop

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

const cursorMetaKey = "chain_cursor"

// Outcome says where one transfer's money went.
type Outcome struct {
	Hash      string
	Kind      string // store.SeenOrder, SeenLedger, SeenUnmatched, SeenIgnored
	OrderID   int64
	LedgerIDs []int64
	Replayed  bool // the hash was already processed: nothing changed
}

// ApplyBatch applies transfers and saves the cursor in one store transaction.
// Each transfer is applied at most once, keyed by its hash, so a replayed
// batch changes nothing.
func (s *Shop) ApplyBatch(ctx context.Context, b ton.Batch) ([]Outcome, error) {
	var outs []Outcome
	paid := false
	var cipher *memoCipher
	err := s.st.Update(ctx, func(tx store.Tx) error {
		outs, paid = outs[:0], false
		c, err := s.memoCipherFor(tx, false)
		if err != nil {
			return err
		}
		cipher = c
		for _, t := range b.Transfers {
			out, err := s.applyTransfer(tx, c, t)
			if err != nil {
				return fmt.Errorf("transfer %s: %w", t.Hash, err)
			}
			if out.Kind == store.SeenOrder && !out.Replayed {
				paid = true
			}
			outs = append(outs, out)
		}
		if b.Cursor != "" {
			return tx.PutMeta(cursorMetaKey, []byte(b.Cursor))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shop: apply batch: %w", err)
	}
	s.keepMemoCipher(cipher)
	if paid {
		s.kickDelivery()
	}
	return outs, nil
}

// ApplyTransfer applies one transfer (see ApplyBatch).
func (s *Shop) ApplyTransfer(ctx context.Context, t ton.Transfer) (Outcome, error) {
	outs, err := s.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{t}})
	if err != nil {
		return Outcome{}, err
	}
	return outs[0], nil
}

// applyTransfer is the payment-rules table of spec/API.md.
// c is the store's memo cipher (nil while no order has a derived memo).
func (s *Shop) applyTransfer(tx store.Tx, c *memoCipher, t ton.Transfer) (Outcome, error) {
	out := Outcome{Hash: t.Hash}
	if t.Hash == "" {
		return out, errors.New("transfer without hash")
	}
	if seen, err := tx.GetSeen(t.Hash); err == nil {
		out.Kind, out.Replayed = seen.Kind, true
		if seen.Kind == store.SeenOrder {
			out.OrderID = seen.RefID
		}
		return out, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	seen := &store.SeenTx{Hash: t.Hash, AmountNano: t.AmountNano, SeenAt: s.now()}
	record := func(kind string, ref int64) (Outcome, error) {
		seen.Kind, seen.RefID = kind, ref
		out.Kind = kind
		return out, tx.PutSeen(seen)
	}
	// Bounced and outgoing messages move no money to us.
	if !t.Incoming || t.Bounced || t.AmountNano <= 0 {
		return record(store.SeenIgnored, 0)
	}
	to, err := ton.RawAddress(t.To)
	if err != nil {
		return s.unmatched(tx, t, record)
	}
	if to != s.serviceRaw {
		p, err := tx.PartnerByTopupAddress(to)
		if errors.Is(err, store.ErrNotFound) {
			return s.unmatched(tx, t, record)
		}
		if err != nil {
			return out, err
		}
		e, err := s.credit(tx, p, store.LedgerTopup, t.AmountNano, 0, t.Hash)
		if err != nil {
			return out, err
		}
		out.LedgerIDs = []int64{e.ID}
		return record(store.SeenLedger, e.ID)
	}
	o, err := s.findMemo(tx, c, CanonicalMemo(t.Comment))
	if errors.Is(err, store.ErrNotFound) || (err == nil && o.PaymentMethod != MethodTonMemo) {
		return s.unmatched(tx, t, record)
	}
	if err != nil {
		return out, err
	}
	p, err := tx.GetPartner(o.PartnerID)
	if err != nil {
		return out, err
	}
	out.OrderID = o.ID
	onTime := o.ExpiresAt != nil && t.ChainTime.Before(*o.ExpiresAt)
	switch {
	case o.Status == store.StatusPendingPayment && !onTime:
		// The deadline passed by chain time before the expiry loop got to
		// it: the order expires now and this transfer is a late payment.
		if err := s.expire(tx, p, o); err != nil {
			return out, err
		}
		return s.late(tx, p, o, t, record)
	case o.Status == store.StatusPendingPayment,
		// Sent in time but seen after the expiry loop ran: a full payment
		// still pays the order (partials were already returned at expiry).
		o.Status == store.StatusExpired && onTime && o.ReceivedNano == 0 && t.AmountNano >= o.PriceNano:
		return s.payOrder(tx, p, o, t, record, &out)
	default: // expired, cancelled, already paid or beyond
		return s.late(tx, p, o, t, record)
	}
}

func (s *Shop) payOrder(tx store.Tx, p *Partner, o *Order, t ton.Transfer, record func(string, int64) (Outcome, error), out *Outcome) (Outcome, error) {
	due := o.PriceNano - o.ReceivedNano
	if o.Status == store.StatusExpired {
		due = o.PriceNano
	}
	take := min(t.AmountNano, due)
	recv, err := addNano(o.ReceivedNano, take)
	if err != nil {
		return *out, err
	}
	o.ReceivedNano = recv
	o.PaymentTxHashes = append(o.PaymentTxHashes, t.Hash)
	if excess := t.AmountNano - take; excess > 0 {
		e, err := s.credit(tx, p, store.LedgerOverpayment, excess, o.ID, t.Hash)
		if err != nil {
			return *out, err
		}
		out.LedgerIDs = append(out.LedgerIDs, e.ID)
	}
	if o.ReceivedNano >= o.PriceNano {
		o.Status = store.StatusPaid
		at := s.now()
		o.PaidAt = &at
	}
	if err := tx.PutOrder(o); err != nil {
		return *out, err
	}
	if o.Status == store.StatusPaid {
		if err := s.emit(tx, p, EventOrderPaid, o, nil); err != nil {
			return *out, err
		}
	}
	res, err := record(store.SeenOrder, o.ID)
	res.LedgerIDs, res.OrderID = out.LedgerIDs, o.ID
	if len(out.LedgerIDs) > 0 {
		// the excess part is accounted by its ledger row
		seen, gerr := tx.GetSeen(t.Hash)
		if gerr == nil {
			seen.ExtraLedgerID = out.LedgerIDs[0]
			err = errors.Join(err, tx.PutSeen(seen))
		}
	}
	return res, err
}

// late credits the whole transfer to the order's partner as late_payment.
func (s *Shop) late(tx store.Tx, p *Partner, o *Order, t ton.Transfer, record func(string, int64) (Outcome, error)) (Outcome, error) {
	e, err := s.credit(tx, p, store.LedgerLatePayment, t.AmountNano, o.ID, t.Hash)
	if err != nil {
		return Outcome{}, err
	}
	res, err := record(store.SeenLedger, e.ID)
	res.OrderID, res.LedgerIDs = o.ID, []int64{e.ID}
	return res, err
}

func (s *Shop) unmatched(tx store.Tx, t ton.Transfer, record func(string, int64) (Outcome, error)) (Outcome, error) {
	u := &store.Unmatched{TxHash: t.Hash, LT: t.LT, ChainTime: t.ChainTime, From: t.From, To: t.To,
		AmountNano: t.AmountNano, Comment: t.Comment, PayloadHex: t.PayloadHex, SeenAt: s.now()}
	if err := tx.PutUnmatched(u); err != nil {
		return Outcome{}, err
	}
	return record(store.SeenUnmatched, u.ID)
}

// listenLoop feeds the chain source into ApplyBatch, resuming from the stored
// cursor; on any error it restarts from the last durable cursor.
func (s *Shop) listenLoop(ctx context.Context) {
	if s.chain == nil {
		return
	}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		var cursor string
		err := s.st.View(ctx, func(tx store.Tx) error {
			v, err := tx.GetMeta(cursorMetaKey)
			if err == nil {
				cursor = string(v)
			}
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		})
		if err == nil {
			err = s.chain.Stream(ctx, cursor, func(ctx context.Context, b ton.Batch) error {
				attempt = 0
				_, err := s.ApplyBatch(ctx, b)
				return err
			})
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Error("payment listener stopped; restarting from the stored cursor", "err", err)
		if !wait.Sleep(ctx, wait.Backoff(attempt, 200*time.Millisecond, 30*time.Second)) {
			return
		}
	}
}

// SandboxTransferRequest is POST /sandbox/transfers.
type SandboxTransferRequest struct {
	ToAddress  string
	AmountNano int64
	Comment    string
	From       string
}

// SandboxTransfer lands a simulated incoming transfer (sandbox mode only;
// NOT_FOUND otherwise). The listener picks it up like a real one.
func (s *Shop) SandboxTransfer(ctx context.Context, partnerID int64, r SandboxTransferRequest) (string, error) {
	if s.sandbox == nil {
		return "", notFound("route")
	}
	if strings.TrimSpace(r.ToAddress) == "" {
		return "", validation("to_address", "required", "to_address is required")
	}
	if _, err := ton.RawAddress(r.ToAddress); err != nil {
		return "", validation("to_address", "address", "to_address is not a valid TON address")
	}
	if r.AmountNano <= 0 {
		return "", validation("amount_nanoton", "amount", "amount_nanoton must be a positive integer of nanotons")
	}
	if len(r.Comment) > 512 {
		return "", validation("comment", "comment_length", "comment must be at most 512 bytes")
	}
	from := r.From
	if from == "" {
		// The sandbox payer: a stable made-up address per partner, like a real wallet.
		h := sha256.Sum256([]byte(fmt.Sprintf("openmoney sandbox payer %d", partnerID)))
		from = s.keys.Friendly(address.NewAddress(0, 0, h[:]))
	}
	t, err := s.sandbox.Append(ctx, ton.Transfer{From: from, To: r.ToAddress, AmountNano: r.AmountNano,
		Comment: r.Comment, Incoming: true})
	if err != nil {
		return "", err
	}
	return t.Hash, nil
}
