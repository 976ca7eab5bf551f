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
	seen = s.seenOf(t, "", 0)
	cur, amount, known := s.transferValue(t)
	record := func(kind domain.SeenKind, ref int64) (Outcome, error) {
		seen.Kind, seen.RefID = kind, ref
		out.Kind = kind
		if kind != domain.SeenIgnored {
			// first accounted: seen now, or a parked transfer resolved
			tx.accounted(cur, amount)
		}
		if fresh {
			// Claims the hash: another listener's concurrent insert of it
			// refuses this one (store.ErrExists), and the batch runs again.
			return out, tx.CreateSeen(seen)
		}
		return out, tx.PutSeen(seen) // an operator's retry rewrites the parked transfer's record
	}
	// Bounced and outgoing messages move no money to us; a jetton
	// transfer_notification is never a payment (anyone's jetton wallet can
	// send one); jettons other than our USDT are not ours to count.
	if !t.Incoming || t.Bounced || t.JettonNotice || !known || amount <= 0 {
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
		e, err := s.credit(tx, p, cur, domain.LedgerTopup, amount, 0, t.Hash)
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
	if o.PaymentCurrency != cur {
		// USDT for a TON order or the reverse: never applied to the order.
		// The partner gets it in the currency it came in; the order is
		// unchanged.
		e, err := s.credit(tx, p, cur, domain.LedgerWrongCurrency, amount, o.ID, t.Hash)
		if err != nil {
			return out, err
		}
		res, err := record(domain.SeenLedger, e.ID)
		res.OrderID, res.LedgerIDs = o.ID, []int64{e.ID}
		return res, err
	}
	onTime := o.ExpiresAt != nil && t.ChainTime.Before(*o.ExpiresAt)
	switch {
	case o.Status == domain.StatusPendingPayment && !onTime:
		// The deadline passed by chain time before the expiry loop got to
		// it: the order expires now and this transfer is a late payment.
		if err := s.expire(tx, p, o); err != nil {
			return out, err
		}
		return s.late(tx, p, o, cur, amount, t, record)
	case o.Status == domain.StatusPendingPayment,
		// Sent in time but seen after the expiry loop ran: a full payment
		// still pays the order (partials were already returned at expiry).
		o.Status == domain.StatusExpired && onTime && o.Received() == 0 && amount >= o.Price():
		return s.payOrder(tx, p, o, amount, t, record, &out)
	default: // expired, cancelled, already paid or beyond
		return s.late(tx, p, o, cur, amount, t, record)
	}
}

// seenOf is the seen record of t (kind and ref as given): its amount in
// its currency.
func (s *Shop) seenOf(t ton.Transfer, kind domain.SeenKind, ref int64) *domain.SeenTx {
	seen := &domain.SeenTx{Hash: t.Hash, Kind: kind, RefID: ref, AmountNano: t.AmountNano, SeenAt: s.now()}
	if t.Jetton != nil {
		seen.Currency, seen.AmountUSDT, seen.AmountNano = domain.CurrencyUSDT, t.Jetton.Units, 0
	}
	return seen
}

// payOrder applies amount (in the order's currency) to o.
func (s *Shop) payOrder(tx *txn, p *domain.Partner, o *domain.Order, amount int64, t ton.Transfer, record func(domain.SeenKind, int64) (Outcome, error), out *Outcome) (Outcome, error) {
	price, got := o.Price(), o.Received()
	due := price - got
	if o.Status == domain.StatusExpired {
		due = price
	}
	take := min(amount, due)
	recv, err := addNano(got, take)
	if err != nil {
		return *out, err
	}
	o.SetReceived(recv)
	o.PaymentTxHashes = append(o.PaymentTxHashes, t.Hash)
	if excess := amount - take; excess > 0 {
		e, err := s.credit(tx, p, o.PaymentCurrency, domain.LedgerOverpayment, excess, o.ID, t.Hash)
		if err != nil {
			return *out, err
		}
		out.LedgerIDs = append(out.LedgerIDs, e.ID)
	}
	if recv >= price {
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
func (s *Shop) late(tx store.Tx, p *domain.Partner, o *domain.Order, cur domain.Currency, amount int64, t ton.Transfer, record func(domain.SeenKind, int64) (Outcome, error)) (Outcome, error) {
	e, err := s.credit(tx, p, cur, domain.LedgerLatePayment, amount, o.ID, t.Hash)
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
	if t.Jetton != nil {
		u.Currency, u.AmountUSDT, u.AmountNano = domain.CurrencyUSDT, t.Jetton.Units, 0
	}
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
	// Asset is TON (default), USDT (jettons arriving in ToAddress's USDT
	// jetton wallet: AmountUnits) or FAKE_USDT (a fake jetton's wallet
	// sending ToAddress a transfer_notification of AmountUnits with the
	// comment; it never pays anything).
	Asset       string
	ToAddress   string
	AmountNano  int64
	AmountUnits int64
	Comment     string
	From        string
}

// Sandbox transfer assets besides TON and USDT.
const AssetFakeUSDT = "FAKE_USDT"

// SandboxTransfer lands a simulated incoming transfer (sandbox mode only;
// NOT_FOUND otherwise). The listener picks it up like a real one.
func (s *Shop) SandboxTransfer(ctx context.Context, partnerID int64, r SandboxTransferRequest) (string, error) {
	if s.sandbox == nil {
		return "", notFound("route")
	}
	if strings.TrimSpace(r.ToAddress) == "" {
		return "", validation("to_address", "required", "to_address is required")
	}
	to, err := ton.RawAddress(r.ToAddress)
	if err != nil {
		return "", validation("to_address", "address", "to_address is not a valid TON address")
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
	var t ton.Transfer
	switch r.Asset {
	case "", string(domain.CurrencyTON):
		if r.AmountNano <= 0 {
			return "", validation("amount_nanoton", "amount", "amount_nanoton must be a positive integer of nanotons")
		}
		t = ton.Transfer{From: from, To: r.ToAddress, AmountNano: r.AmountNano, Comment: r.Comment, Incoming: true}
	case string(domain.CurrencyUSDT), AssetFakeUSDT:
		if !s.usdt.on {
			return "", validation("asset", "asset", "USDT is not accepted by this service (ton.jettons.usdt.master is empty)")
		}
		if r.AmountUnits <= 0 {
			return "", validation("amount_units", "amount", "amount_units must be a positive integer of USDT units (1 USDT = 1000000), as a string")
		}
		if r.Asset == string(domain.CurrencyUSDT) {
			// USDT reaches one of our jetton wallets only when sent to the
			// service address or a partner's top-up address.
			if to != s.serviceRaw {
				err := s.st.View(ctx, func(tx store.Tx) error { _, err := tx.PartnerByTopupAddress(to); return err })
				if errors.Is(err, store.ErrNotFound) {
					return "", validation("to_address", "address", "USDT in the sandbox goes to the service address or a partner's top-up address: no jetton wallet of ours belongs to %s", r.ToAddress)
				} else if err != nil {
					return "", err
				}
			}
			wallet, err := ton.SandboxJettonWallet(s.usdt.master, to)
			if err != nil {
				return "", err
			}
			jw := ton.JettonWallet{Asset: ton.AssetUSDT, Master: s.usdt.master, Owner: to, Wallet: wallet}
			if t, err = ton.SandboxJettonTransfer(jw, from, r.AmountUnits, r.Comment); err != nil {
				return "", validation("comment", "comment", "%v", err)
			}
			break
		}
		// A fake jetton: another master, so another wallet of the same owner;
		// its notification reaches the owner like any message.
		h := sha256.Sum256([]byte("openmoney sandbox fake USDT master"))
		fakeWallet, err := ton.SandboxJettonWallet(address.NewAddress(0, 0, h[:]).StringRaw(), to)
		if err != nil {
			return "", err
		}
		if t, err = ton.SandboxJettonNotice(to, fakeWallet, from, r.AmountUnits, 50_000_000, r.Comment); err != nil {
			return "", validation("comment", "comment", "%v", err)
		}
	default:
		return "", validation("asset", "asset", "asset must be TON, USDT or FAKE_USDT")
	}
	t, err = s.sandbox.Append(ctx, t)
	if err != nil {
		return "", err
	}
	return t.Hash, nil
}
