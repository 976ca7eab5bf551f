package shop

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/internal/wait"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

const cursorMetaKey = "chain_cursor"

// Outcome says where one transfer's money went.
type Outcome struct {
	Hash      string
	Kind      domain.SeenKind
	OrderID   int64
	LedgerIDs []int64
	ParkedID  int64 // Kind SeenParked: the parked transfer
	Replayed  bool  // the hash was already processed: nothing changed
}

// parkAfter is how many runs of one batch in a row must fail on the same
// transfer before it is parked (see ApplyBatch).
const parkAfter = 2

// transferFailure is how ApplyBatch's transaction function reports that
// the payment rules failed on one transfer: the transaction is rolled back
// (nothing of that run is written) and the batch runs again.
type transferFailure struct {
	index int
	hash  string
	err   error
}

func (f *transferFailure) Error() string { return fmt.Sprintf("transfer %s: %v", f.hash, f.err) }
func (f *transferFailure) Unwrap() error { return f.err }

// ApplyBatch applies transfers and saves the cursor in one store transaction.
// Each transfer is applied at most once, keyed by its hash, so a replayed
// batch changes nothing.
//
// One transfer never blocks the others. A per-transfer failure — the payment
// rules return an error (or panic) while applying that transfer — rolls the
// transaction back and the batch runs again; when the same transfer fails in
// parkAfter runs in a row, the next run records it as a parked transfer
// (domain.Parked, with the error; its seen record kind parked, so a replay is
// recognised) instead of applying it, in the same transaction as the rest of
// the batch and the cursor. Running the transfer twice before parking it
// keeps a transient storage error that happened to surface inside the rules
// from parking a good transfer. A storage failure — beginning or committing
// the transaction, or writing the parked record, fails — parks nothing: the
// whole batch fails and the listener retries it from the stored cursor. An
// operator resolves a parked transfer with RetryParked or AssignParked.
func (s *Shop) ApplyBatch(ctx context.Context, b ton.Batch) ([]Outcome, error) {
	park := map[int]string{} // batch index → the error it is parked with
	strikes := map[int]int{}
	conflicts := 0
	for {
		outs, err := s.applyBatchOnce(ctx, b, park)
		if errors.Is(err, store.ErrExists) && conflicts < 3 && ctx.Err() == nil {
			// Another listener recorded one of these transfers first (a
			// leader handover): not a transfer's failure; run again, and the
			// recorded ones are replays.
			conflicts++
			continue
		}
		var tf *transferFailure
		if err == nil || !errors.As(err, &tf) || ctx.Err() != nil {
			return outs, err
		}
		strikes[tf.index]++
		s.log.Warn("payment rules failed on a transfer; running the batch again", "tx_hash", tf.hash,
			"failures", strikes[tf.index], "err", tf.err)
		if strikes[tf.index] >= parkAfter {
			park[tf.index] = tf.err.Error()
		}
	}
}

func (s *Shop) applyBatchOnce(ctx context.Context, b ton.Batch, park map[int]string) ([]Outcome, error) {
	var outs []Outcome
	paid := false
	var cipher *memoCipher
	// A Write transaction: each order is locked as it is read, balances move
	// by the store's conditional update, and a transfer is claimed by
	// inserting its hash (CreateSeen). Two listeners applying one batch at
	// once (a leader handover) collide on that insert: the loser runs again
	// (ApplyBatch) and finds the transfers recorded.
	apply := func(tx *txn) error {
		outs, paid = outs[:0], false
		c, err := s.memoCipherFor(tx, false)
		if err != nil {
			return err
		}
		cipher = c
		for i, t := range b.Transfers {
			if reason, ok := park[i]; ok {
				out, err := s.park(tx, t, reason)
				if err != nil {
					return fmt.Errorf("park transfer %s: %w", t.Hash, err)
				}
				outs = append(outs, out)
				continue
			}
			out, err := s.applySafely(tx, c, t, 0)
			if err != nil {
				return &transferFailure{index: i, hash: t.Hash, err: err}
			}
			if out.Kind == domain.SeenOrder && !out.Replayed {
				paid = true
			}
			outs = append(outs, out)
		}
		if b.Cursor != "" {
			return tx.PutMeta(cursorMetaKey, []byte(b.Cursor))
		}
		return nil
	}
	if err := s.write(ctx, apply); err != nil {
		return nil, fmt.Errorf("shop: apply batch: %w", err)
	}
	s.keepMemoCipher(cipher)
	for i, reason := range park {
		if o := outs[i]; o.Kind == domain.SeenParked && !o.Replayed {
			s.log.Error("transfer parked: its payment processing failed; see GET /api/v1/admin/parked",
				"tx_hash", o.Hash, "parked_id", o.ParkedID, "err", reason)
		}
	}
	if paid {
		s.kickDelivery()
	}
	return outs, nil
}

// applySafely is applyTransfer with a panic turned into that transfer's
// error: a bug in the rules for one transfer parks it instead of taking the
// listener down.
func (s *Shop) applySafely(tx *txn, c *memoCipher, t ton.Transfer, parkedID int64) (out Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in the payment rules", "tx_hash", t.Hash, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return s.applyTransfer(tx, c, t, parkedID)
}

// ApplyTransfer applies one transfer (see ApplyBatch).
func (s *Shop) ApplyTransfer(ctx context.Context, t ton.Transfer) (Outcome, error) {
	outs, err := s.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{t}})
	if err != nil {
		return Outcome{}, err
	}
	return outs[0], nil
}

// applyTransfer is the payment-rules table (README, "Payment rules").
// c is the store's memo cipher (nil while no order has a derived memo).
// parkedID is non-zero when an operator retries that parked transfer: its
// seen record (kind parked) is then overwritten instead of being a replay.
func (s *Shop) applyTransfer(tx *txn, c *memoCipher, t ton.Transfer, parkedID int64) (Outcome, error) {
	out := Outcome{Hash: t.Hash}
	if t.Hash == "" {
		return out, errors.New("transfer without hash")
	}
	seen, err := tx.GetSeen(t.Hash)
	fresh := errors.Is(err, store.ErrNotFound)
	switch {
	case err == nil && (parkedID == 0 || seen.Kind != domain.SeenParked || seen.RefID != parkedID):
		out.Kind, out.Replayed = seen.Kind, true
		switch seen.Kind {
		case domain.SeenOrder:
			out.OrderID = seen.RefID
		case domain.SeenParked:
			out.ParkedID = seen.RefID
		}
		return out, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return out, err
	}
	seen = &domain.SeenTx{Hash: t.Hash, AmountNano: t.AmountNano, SeenAt: s.now()}
	record := func(kind domain.SeenKind, ref int64) (Outcome, error) {
		seen.Kind, seen.RefID = kind, ref
		out.Kind = kind
		if kind != domain.SeenIgnored {
			// first accounted: seen now, or a parked transfer resolved
			tx.accounted(t.AmountNano)
		}
		if fresh {
			// Claims the hash: another listener's concurrent insert of it
			// refuses this one (store.ErrExists), and the batch runs again.
			return out, tx.CreateSeen(seen)
		}
		return out, tx.PutSeen(seen) // an operator's retry rewrites the parked transfer's record
	}
	// Bounced and outgoing messages move no money to us.
	if !t.Incoming || t.Bounced || t.AmountNano <= 0 {
		return record(domain.SeenIgnored, 0)
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
		e, err := s.credit(tx, p, domain.LedgerTopup, t.AmountNano, 0, t.Hash)
		if err != nil {
			return out, err
		}
		out.LedgerIDs = []int64{e.ID}
		return record(domain.SeenLedger, e.ID)
	}
	o, err := s.findMemo(tx, c, CanonicalMemo(t.Comment))
	if errors.Is(err, store.ErrNotFound) || (err == nil && o.PaymentMethod != domain.MethodTonMemo) {
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
	case o.Status == domain.StatusPendingPayment && !onTime:
		// The deadline passed by chain time before the expiry loop got to
		// it: the order expires now and this transfer is a late payment.
		if err := s.expire(tx, p, o); err != nil {
			return out, err
		}
		return s.late(tx, p, o, t, record)
	case o.Status == domain.StatusPendingPayment,
		// Sent in time but seen after the expiry loop ran: a full payment
		// still pays the order (partials were already returned at expiry).
		o.Status == domain.StatusExpired && onTime && o.ReceivedNano == 0 && t.AmountNano >= o.PriceNano:
		return s.payOrder(tx, p, o, t, record, &out)
	default: // expired, cancelled, already paid or beyond
		return s.late(tx, p, o, t, record)
	}
}

func (s *Shop) payOrder(tx *txn, p *domain.Partner, o *domain.Order, t ton.Transfer, record func(domain.SeenKind, int64) (Outcome, error), out *Outcome) (Outcome, error) {
	due := o.PriceNano - o.ReceivedNano
	if o.Status == domain.StatusExpired {
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
		e, err := s.credit(tx, p, domain.LedgerOverpayment, excess, o.ID, t.Hash)
		if err != nil {
			return *out, err
		}
		out.LedgerIDs = append(out.LedgerIDs, e.ID)
	}
	if o.ReceivedNano >= o.PriceNano {
		at := s.now()
		o.PaidAt = &at
		err = s.move(tx, p, o, domain.StatusPaid)
	} else {
		err = tx.PutOrder(o) // partly paid: still pending
	}
	if err != nil {
		return *out, err
	}
	res, err := record(domain.SeenOrder, o.ID)
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
func (s *Shop) late(tx store.Tx, p *domain.Partner, o *domain.Order, t ton.Transfer, record func(domain.SeenKind, int64) (Outcome, error)) (Outcome, error) {
	e, err := s.credit(tx, p, domain.LedgerLatePayment, t.AmountNano, o.ID, t.Hash)
	if err != nil {
		return Outcome{}, err
	}
	res, err := record(domain.SeenLedger, e.ID)
	res.OrderID, res.LedgerIDs = o.ID, []int64{e.ID}
	return res, err
}

func (s *Shop) unmatched(tx store.Tx, t ton.Transfer, record func(domain.SeenKind, int64) (Outcome, error)) (Outcome, error) {
	u := &domain.Unmatched{TxHash: t.Hash, LT: t.LT, ChainTime: t.ChainTime.UTC().Truncate(time.Microsecond), From: t.From, To: t.To,
		AmountNano: t.AmountNano, Comment: t.Comment, PayloadHex: t.PayloadHex, SeenAt: s.now()}
	if err := tx.PutUnmatched(u); err != nil {
		return Outcome{}, err
	}
	return record(domain.SeenUnmatched, u.ID)
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
		// A failed batch is reported here: the real listener retries it
		// itself, the sandbox returns the error and restarts.
		applyFailed := false
		if err == nil {
			err = s.chain.Stream(ctx, cursor, func(ctx context.Context, b ton.Batch) error {
				attempt = 0
				_, err := s.ApplyBatch(ctx, b)
				if applyFailed = err != nil && ctx.Err() == nil; applyFailed {
					s.listenFailed(err)
				} else if err == nil {
					s.listenOK()
				}
				return err
			})
		}
		if ctx.Err() != nil {
			return
		}
		if !applyFailed {
			s.listenFailed(err)
		}
		s.log.Error("payment listener stopped; restarting from the stored cursor", "err", err)
		if !wait.Sleep(ctx, wait.Listener.After(attempt+1)) {
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
