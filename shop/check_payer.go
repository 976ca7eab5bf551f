package shop

import (
	"slices"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// checkPayer holds the Fragment payer's records against themselves and the
// orders they pay: a batch's messages are the ones it says it carries
// (count, indexes, total), a settled batch has no pending payment, a batch
// that never ran (no wallet transaction) paid nothing; a payment names an
// order that exists; no order has more than one paid payment; a completed
// order delivered through a batch (its delivery names the batch's wallet
// transaction or one of its Fragment requests) has a paid payment, the one
// its delivery names (req_id and wallet transaction); a refunded (or
// otherwise finished without delivery) order has none. An order an
// operator completed (manual delivery, a reconciliation) names neither.
func checkPayer(tx store.Tx, r *Report, orders map[int64]*domain.Order, bad func(string, ...any)) error {
	paid := map[int64][]domain.PayerMessage{} // order → its paid payments
	byTx := map[string]int64{}                // wallet transaction → the batch it ran
	batches := map[int64]*domain.PayerBatch{}
	reqs := map[int64]map[string]bool{} // order → its payments' Fragment requests, any outcome
	for after := int64(0); ; {
		bs, err := tx.ListPayerBatches(after, 500, false)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			break
		}
		for i := range bs {
			b := &bs[i]
			after = b.ID
			r.PayerBatches++
			batches[b.ID] = b
			if b.TxHash != "" {
				byTx[b.TxHash] = b.ID
			}
			ms, err := tx.PayerMessages(b.ID)
			if err != nil {
				return err
			}
			r.PayerMessages += len(ms)
			if len(ms) != b.Messages {
				bad("payer batch %d: says %d payments, has %d", b.ID, b.Messages, len(ms))
			}
			var total int64
			pending := 0
			for j, m := range ms {
				total += m.AmountNano
				if reqs[m.OrderID] == nil {
					reqs[m.OrderID] = map[string]bool{}
				}
				reqs[m.OrderID][m.ReqID] = true
				if m.Index != j || m.BatchID != b.ID {
					bad("payer batch %d: payment at position %d is recorded as batch %d index %d", b.ID, j, m.BatchID, m.Index)
				}
				if _, ok := orders[m.OrderID]; !ok {
					bad("payer batch %d payment %d: order %d does not exist", b.ID, m.Index, m.OrderID)
				}
				switch m.Outcome {
				case domain.PaymentPending:
					pending++
				case domain.PaymentPaid:
					paid[m.OrderID] = append(paid[m.OrderID], m)
					fallthrough
				case domain.PaymentBounced:
					if b.TxHash == "" {
						bad("payer batch %d payment %d (order %d): %s, but the batch never ran (no wallet transaction)", b.ID, m.Index, m.OrderID, m.Outcome)
					}
				case domain.PaymentUnpaid:
				default:
					bad("payer batch %d payment %d (order %d): unknown outcome %q", b.ID, m.Index, m.OrderID, m.Outcome)
				}
			}
			if total != b.TotalNano {
				bad("payer batch %d: total %d but its payments sum to %d", b.ID, b.TotalNano, total)
			}
			if !b.Open() && pending > 0 {
				bad("payer batch %d: settled with %d payments still pending", b.ID, pending)
			}
			if b.Open() && pending == 0 && len(ms) > 0 {
				bad("payer batch %d: every payment settled but the batch is open", b.ID)
			}
		}
	}
	for id, ps := range paid {
		if len(ps) > 1 {
			bad("order %d: paid on Fragment %d times (batches %d and %d)", id, len(ps), ps[0].BatchID, ps[1].BatchID)
		}
		o := orders[id]
		if o == nil {
			continue
		}
		switch o.Status {
		case domain.StatusCompleted, domain.StatusProcessing, domain.StatusPaid:
		default:
			bad("order %d: %s, but its Fragment payment in batch %d was taken", id, o.Status, ps[0].BatchID)
		}
	}
	for id, o := range orders {
		if o.Status != domain.StatusCompleted {
			continue
		}
		ps := paid[id]
		bid, byBatch := byTx[o.DeliveryTxHash]
		switch {
		case len(ps) == 0 && byBatch:
			bad("order %d: completed by payer batch %d, but no payment of it is paid", id, bid)
		case len(ps) == 0 && reqs[id][o.DeliveryRef]:
			bad("order %d: completed as Fragment request %s, but no payment of it is paid", id, o.DeliveryRef)
		case len(ps) > 0 && !slices.ContainsFunc(ps, func(m domain.PayerMessage) bool {
			return m.ReqID == o.DeliveryRef && batches[m.BatchID].TxHash == o.DeliveryTxHash
		}):
			bad("order %d: completed as %s in tx %s, but its paid Fragment payment is %s in batch %d (tx %s)",
				id, o.DeliveryRef, o.DeliveryTxHash, ps[0].ReqID, ps[0].BatchID, batches[ps[0].BatchID].TxHash)
		}
	}
	return nil
}
