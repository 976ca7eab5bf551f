package shop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/store"
)

// Reconciling the service wallet's messages with the store. The Fragment
// payer records every wallet message before broadcasting it, so a wallet
// whose seqno on chain is past the records has sent messages this store
// does not know: typically the store was restored from a backup taken
// before a batch was recorded and broadcast. The orders that batch paid for
// look paid and not delivered here, and paying them again would pay
// Fragment twice, so the payer holds every delivery
// (fulfil.HoldWalletUnrecorded). The operator looks the wallet's messages
// up in an explorer and tells the shop which orders they paid; the
// reconciliation completes exactly those, records the seqno reconciled up
// to, and only then does delivery resume — for the orders not named, which
// are paid now. It is deliberately not a button: it names the seqno seen on
// chain (refused when the wallet has moved since), lists the orders, and
// says what was checked.

// PayerWallet is a delivery provider that pays from the service wallet and
// records every message it sends (fulfil/fragment.Provider).
type PayerWallet interface {
	// WalletSeqnos reads the wallet's raw address, its seqno on chain and
	// the seqno the payment records account for.
	WalletSeqnos(ctx context.Context) (wallet string, chain, accounted uint32, err error)
	// RecheckWallet makes the next delivery compare them again at once.
	RecheckWallet()
}

// AuditPayerReconcile is the audit action of a reconciliation (one row, and
// one AuditReconcileDelivered row per order it completes).
const (
	AuditPayerReconcile     = "payer.reconcile"
	AuditReconcileDelivered = "order.reconciled_delivered"
)

// maxReconcileNote bounds the operator's note.
const maxReconcileNote = 2000

// PayerState is GET /admin/payer: the service wallet's seqno on chain
// against the payment records, and the orders an unrecorded message may
// have paid.
type PayerState struct {
	Wallet        string `json:"wallet"`         // raw address
	SeqnoOnChain  uint32 `json:"seqno_on_chain"` // messages the wallet has run
	SeqnoRecorded uint32 `json:"seqno_recorded"` // what the payment records account for
	// Unrecorded: messages the wallet ran that the store has no record of
	// (seqno_recorded … seqno_on_chain−1); while > 0 nothing is paid.
	Unrecorded uint32 `json:"unrecorded_messages"`
	// Candidates: orders awaiting delivery with no payment recorded as sent
	// or taken — the ones an unrecorded message may have paid, and the ones
	// paid once a reconciliation lets delivery resume.
	Candidates []PayerCandidate `json:"candidates"`
	Action     string           `json:"action"`
}

// PayerCandidate is an order awaiting delivery that no recorded payment
// covers.
type PayerCandidate struct {
	OrderID   int64       `json:"order_id"`
	Kind      domain.Kind `json:"order_type"`
	Recipient string      `json:"recipient_username"`
	Stars     int64       `json:"stars_amount,omitempty"`
	Months    int         `json:"premium_months,omitempty"`
	Status    string      `json:"status"`
}

// Reconciliation is an operator's account of the wallet's unrecorded
// messages.
type Reconciliation struct {
	// WalletSeqno is the wallet's seqno on chain the operator reconciled up
	// to (GET /admin/payer seqno_on_chain); refused unless it still is.
	WalletSeqno uint32
	// Delivered are the orders the unrecorded messages paid Fragment for:
	// they are completed, never paid again. Each must be a candidate.
	// Every other candidate is paid once delivery resumes.
	Delivered []int64
	Note      string // required: what was checked (explorer links, …)
	By        Actor
}

// ReconcileResult is what a reconciliation did.
type ReconcileResult struct {
	Wallet    string  `json:"wallet"`
	FromSeqno uint32  `json:"from_seqno"` // the unrecorded messages: from_seqno … to_seqno−1
	ToSeqno   uint32  `json:"to_seqno"`
	Delivered []int64 `json:"delivered"` // completed by this reconciliation
	WillPay   []int64 `json:"will_pay"`  // candidates not named: paid now that delivery resumes
}

// walletSeqnos reads the service wallet's seqno on chain and what the
// payment records account for, through the provider. Errors:
// NOT_RECONCILABLE (the provider does not pay from the wallet),
// SERVICE_UNAVAILABLE (the chain cannot be read).
func (s *Shop) walletSeqnos(ctx context.Context) (pw PayerWallet, wallet string, chain, accounted uint32, err error) {
	pw, ok := s.provider.(PayerWallet)
	if !ok {
		return nil, "", 0, 0, newErr(CodeNotReconcilable, "", "no_payer",
			"the %s provider does not pay from the service wallet: there is nothing to reconcile", s.cfg.Fulfillment.Provider)
	}
	wallet, chain, accounted, err = pw.WalletSeqnos(ctx)
	if err != nil {
		return nil, "", 0, 0, newErr(CodeServiceUnavailable, "", "chain_unreadable", "cannot read the service wallet's seqno: %v", err)
	}
	return pw, wallet, chain, accounted, nil
}

// PayerState reads the wallet's seqno on chain, the payment records and the
// candidates. Errors: NOT_RECONCILABLE (the provider does not pay from the
// wallet), SERVICE_UNAVAILABLE (the chain cannot be read).
func (s *Shop) PayerState(ctx context.Context) (*PayerState, error) {
	_, wallet, chain, accounted, err := s.walletSeqnos(ctx)
	if err != nil {
		return nil, err
	}
	st := &PayerState{Wallet: wallet, SeqnoOnChain: chain, SeqnoRecorded: accounted}
	if chain > accounted {
		st.Unrecorded = chain - accounted
	}
	err = s.st.View(ctx, func(tx store.Tx) error {
		st.Candidates, err = candidates(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if st.Unrecorded == 0 {
		st.Action = "nothing to reconcile: every message of the service wallet is in the payment records"
	} else {
		st.Action = fmt.Sprintf("the wallet ran %d message(s) this store has no record of (seqno %d to %d); nothing is paid. "+
			"Look them up in an explorer (%s), find which of the %d candidate order(s) they paid for (recipient and quantity are in each payment's comment), "+
			"then POST /admin/payer/reconcile {\"wallet_seqno\": %d, \"delivered_orders\": [those ids], \"note\": \"what you checked\"}; the others are paid after that",
			st.Unrecorded, accounted, chain-1, wallet, len(st.Candidates), chain)
	}
	return st, nil
}

// candidates are the orders awaiting delivery no recorded payment covers
// (none sent and pending, none taken).
func candidates(tx store.Tx) ([]PayerCandidate, error) {
	ids, err := tx.DeliveryQueue(0, 1<<30)
	if err != nil {
		return nil, err
	}
	out := []PayerCandidate{}
	for _, id := range ids {
		o, err := tx.GetOrder(id)
		if err != nil {
			return nil, err
		}
		ok, err := candidate(tx, o)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, PayerCandidate{OrderID: o.ID, Kind: o.Type, Recipient: o.RecipientUsername,
				Stars: o.StarsAmount, Months: o.PremiumMonths, Status: string(o.Status)})
		}
	}
	return out, nil
}

func candidate(tx store.Tx, o *domain.Order) (bool, error) {
	if o.Status != domain.StatusPaid && o.Status != domain.StatusProcessing {
		return false, nil
	}
	ms, err := tx.OrderPayerMessages(o.ID)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.Outcome == domain.PaymentPending || m.Outcome == domain.PaymentPaid {
			return false, nil
		}
	}
	return true, nil
}

// ReconcileWallet records an operator's reconciliation of the wallet's
// unrecorded messages, in one transaction: the orders r.Delivered are
// completed (each with an audit row), the records account for the wallet's
// seqno r.WalletSeqno (a settled batch without payments), and an audit row
// keeps the note. Then the payer compares again and delivery resumes.
//
// Errors: VALIDATION_ERROR (note, delivered_orders, operator),
// NOT_RECONCILABLE (nothing to reconcile, the seqno on chain is not
// r.WalletSeqno, or an order named is not a candidate), SERVICE_UNAVAILABLE
// (the chain cannot be read).
func (s *Shop) ReconcileWallet(ctx context.Context, r Reconciliation) (*ReconcileResult, error) {
	note, seen, err := operatorSettlement(r.By, r.Note, maxReconcileNote, r.Delivered,
		"the ids of the orders the unrecorded messages paid for")
	if err != nil {
		return nil, err
	}
	pw, wallet, chain, accounted, err := s.walletSeqnos(ctx)
	if err != nil {
		return nil, err
	}
	if chain <= accounted {
		return nil, newErr(CodeNotReconcilable, "", "nothing_to_reconcile",
			"nothing to reconcile: the wallet's seqno on chain is %d and the payment records account for %d", chain, accounted)
	}
	if r.WalletSeqno != chain {
		return nil, newErr(CodeNotReconcilable, "wallet_seqno", "seqno_moved",
			"the wallet's seqno on chain is %d, not %d: look at its messages %d to %d again and name the orders they paid",
			chain, r.WalletSeqno, accounted, chain-1)
	}
	res := &ReconcileResult{Wallet: wallet, FromSeqno: accounted, ToSeqno: chain, Delivered: slices.Clone(r.Delivered), WillPay: []int64{}}
	slices.Sort(res.Delivered)
	ref := fmt.Sprintf("reconciled: paid by an unrecorded service wallet message (seqno %d to %d)", accounted, chain-1)
	err = s.update(ctx, func(tx *txn) error {
		res.WillPay = res.WillPay[:0]
		// The records must still account for what was read: a batch
		// recorded meanwhile would move them.
		var now uint32
		switch b, err := tx.LastPayerBatch(wallet); {
		case err == nil:
			now = b.Seqno + 1
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if now != accounted {
			return newErr(CodeNotReconcilable, "", "records_moved", "the payment records changed while reconciling; read GET /admin/payer again")
		}
		cands, err := candidates(tx)
		if err != nil {
			return err
		}
		for _, c := range cands {
			if !seen[c.OrderID] {
				res.WillPay = append(res.WillPay, c.OrderID)
			}
		}
		for _, id := range res.Delivered {
			o, err := tx.GetOrder(id)
			if errors.Is(err, store.ErrNotFound) {
				return newErr(CodeNotReconcilable, "delivered_orders", "not_candidate", "order %d does not exist", id)
			}
			if err != nil {
				return err
			}
			ok, err := candidate(tx, o)
			if err != nil {
				return err
			}
			if !ok {
				return newErr(CodeNotReconcilable, "delivered_orders", "not_candidate",
					"order %d is %s with a payment recorded or none due: it is not one an unrecorded message could have paid", id, o.Status)
			}
			if o.Status == domain.StatusPaid {
				o.DeliveryAttempts++
				if err := s.move(tx, nil, o, domain.StatusProcessing); err != nil {
					return err
				}
			}
			p, err := tx.GetPartner(o.PartnerID)
			if err != nil {
				return err
			}
			if err := s.complete(tx, o, p, fulfil.Result{ProviderRef: ref}); err != nil {
				return err
			}
			if err := s.audit(tx, r.By, domain.AuditEntry{Action: AuditReconcileDelivered, OrderID: o.ID, PartnerID: p.ID, Detail: ref}); err != nil {
				return err
			}
		}
		at := s.now()
		marker := &domain.PayerBatch{Wallet: wallet, Seqno: chain - 1, CreatedAt: at, SettledAt: &at,
			Detail: fmt.Sprintf("operator reconciliation: seqno %d to %d sent without a record here; %d order(s) marked delivered", accounted, chain-1, len(res.Delivered))}
		if err := tx.PutPayerBatch(marker); err != nil {
			return err
		}
		return s.audit(tx, r.By, domain.AuditEntry{Action: AuditPayerReconcile, Detail: fmt.Sprintf(
			"wallet %s seqno %d to %d; delivered %s; paid now %s; note: %s", wallet, accounted, chain-1, idList(res.Delivered), idList(res.WillPay), note)})
	})
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return nil, be
		}
		return nil, fmt.Errorf("shop: reconcile the wallet: %w", err)
	}
	pw.RecheckWallet()
	s.log.Warn("wallet reconciled by an operator: delivery resumes", "wallet", wallet, "from_seqno", accounted, "to_seqno", chain,
		"delivered", res.Delivered, "will_pay", res.WillPay)
	return res, nil
}

func idList(ids []int64) string {
	if len(ids) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}

// operatorSettlement checks what an operator sends to settle wallet
// payments by hand (a reconciliation, a batch release): who, a note, and
// the orders already delivered — distinct ids, required ([] for none);
// what names them in the error message.
func operatorSettlement(by Actor, rawNote string, maxNote int, ids []int64, what string) (string, map[int64]bool, error) {
	note, err := operatorText("note", rawNote, true, maxNote)
	if err != nil {
		return "", nil, err
	}
	if _, err := by.name(); err != nil {
		return "", nil, err
	}
	if ids == nil {
		return "", nil, validation("delivered_orders", "required",
			"delivered_orders is required: %s ([] when they paid for none)", what)
	}
	set := map[int64]bool{}
	for _, id := range ids {
		if id <= 0 || set[id] {
			return "", nil, validation("delivered_orders", "ids", "delivered_orders must hold distinct order ids (got %d twice or ≤ 0)", id)
		}
		set[id] = true
	}
	return note, set, nil
}
