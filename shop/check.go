package shop

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Report is the result of the integrity check.
type Report struct {
	Partners, Orders, LedgerRows, SeenTx, Unmatched int
	// LedgerRowsIn counts the ledger rows per currency (TON, USDT): each
	// currency's balances are checked against its own rows.
	LedgerRowsIn map[domain.Currency]int
	// Parked counts transfers parked and still waiting for the operator
	// (neither credited nor lost: not a violation); ParkedResolved those an
	// operator retried or assigned.
	Parked, ParkedResolved int
	// PayerBatches and PayerMessages count the Fragment payer's records.
	PayerBatches, PayerMessages int
	// LastOrderID is the highest order id in the store (0 when none).
	LastOrderID int64
	Violations  []string
}

// Check verifies the money invariants over a whole store, read-only:
// every seen tx hash is accounted exactly once (an order, a ledger row or an
// unmatched deposit) and nothing is accounted without a seen hash; every
// balance equals the sum of its ledger rows and never went negative; no
// order is paid without enough received or debited; no order is both
// refunded and completed. An unmatched deposit assigned by an operator keeps
// its seen kind unmatched and is credited by exactly one ledger row carrying
// its tx hash, the row its AssignedLedgerID names; a second row for the same
// deposit is reported as a double assignment. A parked transfer is
// neither lost nor credited: its seen record (kind parked) and its open
// parked record name each other and nothing carries its hash; once resolved,
// the parked record names the kind and ref id its seen record then has,
// which is accounted like any other. The Fragment payer's records agree
// with themselves and the orders: no order paid on Fragment twice, a
// completed one paid once, a refunded one not at all (checkPayer).
func Check(ctx context.Context, st store.Store) (Report, error) {
	r := Report{LedgerRowsIn: map[domain.Currency]int{}}
	bad := func(format string, args ...any) { r.Violations = append(r.Violations, fmt.Sprintf(format, args...)) }
	err := st.View(ctx, func(tx store.Tx) error {
		seen := map[string]*domain.SeenTx{}
		if err := tx.ForEachSeen(func(s *domain.SeenTx) error { seen[s.Hash] = s; r.SeenTx++; return nil }); err != nil {
			return err
		}
		orders := map[int64]*domain.Order{}
		received := map[int64]int64{} // order id → sum credited by seen hashes
		hashUse := map[string]int{}
		if err := tx.ForEachOrder(func(o *domain.Order) error {
			r.Orders++
			r.LastOrderID = max(r.LastOrderID, o.ID)
			orders[o.ID] = o
			for _, h := range o.PaymentTxHashes {
				hashUse[h]++
				s, ok := seen[h]
				if !ok || s.Kind != domain.SeenOrder || s.RefID != o.ID {
					bad("order %d: payment tx %s not recorded as seen for this order", o.ID, h)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		type balKey struct {
			partner int64
			cur     domain.Currency
		}
		sums := map[balKey]int64{}  // (partner, currency) → running sum
		debits := map[int64]int64{} // order id → order_payment amount, in the order's currency
		refunds := map[int64]int{}  // order id → refund rows
		var rows []domain.LedgerEntry
		if err := tx.ForEachLedger(func(e *domain.LedgerEntry) error { rows = append(rows, *e); return nil }); err != nil {
			return err
		}
		slices.SortFunc(rows, func(a, b domain.LedgerEntry) int { return int(a.ID - b.ID) })
		assigned := map[string][]domain.LedgerEntry{} // unmatched tx hash → rows crediting it
		for _, e := range rows {
			r.LedgerRows++
			cur, amount, after := e.Amount()
			r.LedgerRowsIn[cur]++
			switch {
			case e.Currency != domain.CurrencyTON && e.Currency != domain.CurrencyUSDT:
				bad("ledger %d: unknown currency %q", e.ID, e.Currency)
			case cur == domain.CurrencyTON && (e.AmountUSDT != 0 || e.BalanceAfterUSDT != 0),
				cur == domain.CurrencyUSDT && (e.AmountNano != 0 || e.BalanceAfterNano != 0):
				bad("ledger %d: a %s row carries amounts of the other currency", e.ID, cur)
			}
			k := balKey{e.PartnerID, cur}
			sums[k] += amount
			if sums[k] != after {
				bad("ledger %d: %s balance_after %d but running sum is %d", e.ID, cur, after, sums[k])
			}
			if after < 0 {
				bad("ledger %d: %s balance negative (%d)", e.ID, cur, after)
			}
			if o := orders[e.OrderID]; o != nil && o.PaymentCurrency != cur &&
				(e.Type == domain.LedgerOrderPayment || e.Type == domain.LedgerRefund || e.Type == domain.LedgerOverpayment) {
				bad("ledger %d: %s %s row for order %d paid in %s", e.ID, cur, e.Type, o.ID, o.PaymentCurrency)
			}
			switch e.Type {
			case domain.LedgerOrderPayment:
				debits[e.OrderID] += -amount
			case domain.LedgerRefund:
				refunds[e.OrderID]++
			}
			if s, ok := seen[e.TxHash]; ok && e.TxHash != "" && s.Kind == domain.SeenUnmatched {
				// an operator's assignment: checked against the deposit below
				assigned[e.TxHash] = append(assigned[e.TxHash], e)
			} else if e.TxHash != "" && e.Type != domain.LedgerOverpayment {
				hashUse[e.TxHash]++
				s, ok := seen[e.TxHash]
				if !ok || s.Kind != domain.SeenLedger || s.RefID != e.ID {
					bad("ledger %d: tx %s not recorded as seen for this row", e.ID, e.TxHash)
				}
			}
			if e.Type == domain.LedgerOverpayment {
				s, ok := seen[e.TxHash]
				if !ok || s.ExtraLedgerID != e.ID {
					bad("ledger %d: overpayment of tx %s not linked from its seen record", e.ID, e.TxHash)
				}
			}
		}
		if err := collectUnmatched(tx, &r, seen, hashUse, assigned, bad); err != nil {
			return err
		}
		parkedOpen, err := checkParked(tx, &r, seen, bad)
		if err != nil {
			return err
		}
		if err := checkPayer(tx, &r, orders, bad); err != nil {
			return err
		}
		for h, s := range seen {
			switch s.Kind {
			case domain.SeenIgnored:
				if hashUse[h] != 0 {
					bad("tx %s: ignored but credited", h)
				}
			case domain.SeenOrder:
				cur, amount := s.Amount()
				if o := orders[s.RefID]; o != nil && o.PaymentCurrency != cur {
					bad("tx %s: %s credited to order %d paid in %s", h, cur, o.ID, o.PaymentCurrency)
				}
				received[s.RefID] += amount
				if hashUse[h] != 1 {
					bad("tx %s: accounted %d times, want once", h, hashUse[h])
				}
			case domain.SeenParked:
				if hashUse[h] != 0 {
					bad("tx %s: parked but credited %d times", h, hashUse[h])
				}
				if p := parkedOpen[s.RefID]; p == nil || p.TxHash != h {
					bad("tx %s: seen as parked transfer %d, which is not an open parked record of this hash", h, s.RefID)
				}
			default:
				if hashUse[h] != 1 {
					bad("tx %s: accounted %d times, want once", h, hashUse[h])
				}
			}
		}
		var after int64
		for {
			ps, err := tx.ListPartners(after, 1000)
			if err != nil {
				return err
			}
			if len(ps) == 0 {
				break
			}
			for _, p := range ps {
				r.Partners++
				after = p.ID
				if p.BalanceNano != sums[balKey{p.ID, domain.CurrencyTON}] {
					bad("partner %d: TON balance %d but TON ledger sum %d", p.ID, p.BalanceNano, sums[balKey{p.ID, domain.CurrencyTON}])
				}
				if p.BalanceUSDT != sums[balKey{p.ID, domain.CurrencyUSDT}] {
					bad("partner %d: USDT balance %d but USDT ledger sum %d", p.ID, p.BalanceUSDT, sums[balKey{p.ID, domain.CurrencyUSDT}])
				}
			}
		}
		for id, o := range orders {
			paidLike := o.PaidAt != nil
			price, got := o.Price(), o.Received()
			switch {
			case o.PaymentCurrency != domain.CurrencyTON && o.PaymentCurrency != domain.CurrencyUSDT:
				bad("order %d: unknown payment currency %q", id, o.PaymentCurrency)
			case o.PaymentCurrency == domain.CurrencyTON && (o.PriceUSDT != 0 || o.ReceivedUSDT != 0),
				o.PaymentCurrency == domain.CurrencyUSDT && o.ReceivedNano != 0:
				bad("order %d: a %s order carries amounts received or due in the other currency", id, o.PaymentCurrency)
			}
			switch o.PaymentMethod {
			case domain.MethodTonMemo:
				// received counts what the order kept; excess went to overpayment rows.
				seenSum := received[id]
				if paidLike && got < price {
					bad("order %d: %s with %d received of %d %s", id, o.Status, got, price, o.PaymentCurrency)
				}
				if seenSum < got {
					bad("order %d: received %d %s but its transfers sum to %d", id, got, o.PaymentCurrency, seenSum)
				}
			case domain.MethodBalance:
				if paidLike && debits[id] != price {
					bad("order %d: paid from balance but debited %d of %d %s", id, debits[id], price, o.PaymentCurrency)
				}
			}
			if o.Status == domain.StatusCompleted && refunds[id] > 0 {
				bad("order %d: completed and refunded", id)
			}
			if refunds[id] > 1 {
				bad("order %d: refunded %d times", id, refunds[id])
			}
			if o.Status == domain.StatusRefunded && refunds[id] != 1 {
				bad("order %d: status refunded but %d refund rows", id, refunds[id])
			}
		}
		return nil
	})
	return r, err
}

func collectUnmatched(tx store.Tx, r *Report, seen map[string]*domain.SeenTx, hashUse map[string]int,
	assigned map[string][]domain.LedgerEntry, bad func(string, ...any)) error {
	var after int64
	for {
		us, err := tx.ListUnmatched(after, 1000)
		if err != nil {
			return err
		}
		if len(us) == 0 {
			// rows crediting an unmatched hash that has no deposit record
			for h, rows := range assigned {
				if s := seen[h]; s != nil && s.Kind == domain.SeenUnmatched {
					if _, err := tx.GetUnmatched(s.RefID); errors.Is(err, store.ErrNotFound) {
						bad("tx %s: %d ledger rows credit an unmatched deposit %d that does not exist", h, len(rows), s.RefID)
					}
				}
			}
			return nil
		}
		for _, u := range us {
			r.Unmatched++
			after = u.ID
			hashUse[u.TxHash]++
			s, ok := seen[u.TxHash]
			if !ok || s.Kind != domain.SeenUnmatched || s.RefID != u.ID {
				bad("unmatched %d: tx %s not recorded as seen for it", u.ID, u.TxHash)
			}
			checkAssignment(u, assigned[u.TxHash], bad)
		}
	}
}

// checkAssignment: an unassigned deposit has no ledger row; an assigned one
// has exactly one, for its whole amount, the row it links to.
func checkAssignment(u domain.Unmatched, rows []domain.LedgerEntry, bad func(string, ...any)) {
	isAssigned := u.AssignedAt != nil || u.AssignedLedgerID != 0
	switch {
	case !isAssigned && len(rows) > 0:
		bad("unmatched %d: not assigned but credited by %d ledger rows", u.ID, len(rows))
	case isAssigned && (u.AssignedAt == nil || u.AssignedLedgerID == 0):
		bad("unmatched %d: half-assigned (assigned_at %v, ledger %d)", u.ID, u.AssignedAt, u.AssignedLedgerID)
	case isAssigned && len(rows) == 0:
		bad("unmatched %d: assigned to ledger row %d but no row carries tx %s", u.ID, u.AssignedLedgerID, u.TxHash)
	case isAssigned && len(rows) > 1:
		bad("unmatched %d: assigned %d times (double assignment)", u.ID, len(rows))
	case isAssigned:
		e := rows[0]
		ecur, eamt, _ := e.Amount()
		ucur, uamt := u.Amount()
		if e.ID != u.AssignedLedgerID || ecur != ucur || eamt != uamt {
			bad("unmatched %d: assigned ledger row %d, but row %d credits %d %s of %d %s", u.ID, u.AssignedLedgerID, e.ID, eamt, ecur, uamt, ucur)
		}
	}
}

// checkParked walks the parked records: an open one is seen as parked with
// its id; a resolved one's seen record says what its resolution recorded.
// It returns the open ones by id.
func checkParked(tx store.Tx, r *Report, seen map[string]*domain.SeenTx, bad func(string, ...any)) (map[int64]*domain.Parked, error) {
	open := map[int64]*domain.Parked{}
	for after := int64(0); ; {
		ps, err := tx.ListParked(after, 1000, false)
		if err != nil || len(ps) == 0 {
			return open, err
		}
		for i := range ps {
			p := &ps[i]
			after = p.ID
			s := seen[p.TxHash]
			if p.Open() {
				r.Parked++
				open[p.ID] = p
				if s == nil || s.Kind != domain.SeenParked || s.RefID != p.ID {
					bad("parked %d: tx %s not recorded as seen parked for it", p.ID, p.TxHash)
				}
				continue
			}
			r.ParkedResolved++
			switch {
			case p.Resolution != domain.ParkedRetried && p.Resolution != domain.ParkedAssigned:
				bad("parked %d: resolved with unknown resolution %q", p.ID, p.Resolution)
			case s == nil || s.Kind == domain.SeenParked:
				bad("parked %d: resolved (%s) but tx %s is not accounted", p.ID, p.Resolution, p.TxHash)
			case s.Kind != p.ResolvedKind || s.RefID != p.ResolvedRefID:
				bad("parked %d: resolved to %s %d but tx %s is seen as %s %d", p.ID, p.ResolvedKind, p.ResolvedRefID, p.TxHash, s.Kind, s.RefID)
			case p.Resolution == domain.ParkedAssigned && s.Kind != domain.SeenLedger:
				bad("parked %d: assigned but tx %s is seen as %s", p.ID, p.TxHash, s.Kind)
			}
		}
	}
}
