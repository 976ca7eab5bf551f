package fragment

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
)

// openmoney check reads the payer's records: after real deliveries (one
// completed, one refunded after a bounce) they pass and are counted; then
// each kind of corruption is named — an order paid on Fragment twice, a
// refunded order whose payment was taken, a batch whose payments disagree
// with it, a payment "paid" by a batch that never ran, a settled batch with
// a pending payment, a completed order whose delivery is not its paid
// payment.
func TestCheckHoldsThePayerRecordsAgainstTheOrders(t *testing.T) {
	env, _, payer, _ := shopWithFragment(t)
	p, _ := env.Partner(t)
	req := shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "alice_user", Quantity: 100}
	o1, _, err := env.Shop.CreateOrder(bg, p.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := settle(t, env, payAndDeliver(t, env, o1)); got.Status != domain.StatusCompleted {
		t.Fatalf("order 1 %s", got.Status)
	}
	payer.mu.Lock()
	payer.final = StatusBounced
	payer.mu.Unlock()
	o2, _, err := env.Shop.CreateOrder(bg, p.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := settle(t, env, payAndDeliver(t, env, o2)); got.Status != domain.StatusRefunded {
		t.Fatalf("order 2 %s", got.Status)
	}
	rep, err := shop.Check(bg, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) != 0 || rep.PayerBatches != 2 || rep.PayerMessages != 2 {
		t.Fatalf("clean store: %d batches, %d payments, violations %q", rep.PayerBatches, rep.PayerMessages, rep.Violations)
	}

	now := time.Now().UTC()
	var b3, b4, b5, b6 domain.PayerBatch
	err = env.Store.Update(bg, func(tx store.Tx) error {
		put := func(b *domain.PayerBatch, ms ...domain.PayerMessage) error {
			b.ID, b.Wallet, b.CreatedAt = 0, testAccount.Address, now
			if err := tx.PutPayerBatch(b); err != nil {
				return err
			}
			for i := range ms {
				ms[i].BatchID, ms[i].Index = b.ID, i
				if err := tx.PutPayerMessage(&ms[i]); err != nil {
					return err
				}
			}
			return nil
		}
		paid := func(order int64, amount int64) domain.PayerMessage {
			return domain.PayerMessage{OrderID: order, Kind: domain.KindStars, ReqID: fmt.Sprintf("again%d", order), AmountNano: amount,
				Outcome: domain.PaymentPaid, ResolvedAt: &now}
		}
		// order 1 paid a second time; order 2 (refunded) paid after all
		b3 = domain.PayerBatch{Seqno: 10, TxHash: strings.Repeat("3", 64), Messages: 1, TotalNano: 5, SettledAt: &now}
		if err := put(&b3, paid(o1.ID, 5)); err != nil {
			return err
		}
		b4 = domain.PayerBatch{Seqno: 11, TxHash: strings.Repeat("4", 64), Messages: 1, TotalNano: 6, SettledAt: &now}
		if err := put(&b4, paid(o2.ID, 6)); err != nil {
			return err
		}
		// a batch that never ran, saying 2 payments worth 100, with one
		// "paid" payment worth 7; a settled batch with a pending payment
		b5 = domain.PayerBatch{Seqno: 12, Messages: 2, TotalNano: 100, SettledAt: &now}
		if err := put(&b5, paid(999, 7)); err != nil {
			return err
		}
		b6 = domain.PayerBatch{Seqno: 13, TxHash: strings.Repeat("6", 64), Messages: 1, TotalNano: 8, SettledAt: &now}
		if err := put(&b6, domain.PayerMessage{OrderID: o2.ID, ReqID: "p", AmountNano: 8}); err != nil {
			return err
		}
		// order 1's delivery names another request than its paid payment
		o, err := tx.GetOrder(o1.ID)
		if err != nil {
			return err
		}
		o.DeliveryRef = "someone-else"
		return tx.PutOrder(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = shop.Check(bg, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rep.Violations, "\n")
	for _, want := range []string{
		fmt.Sprintf("order %d: paid on Fragment 2 times", o1.ID),
		fmt.Sprintf("order %d: refunded, but its Fragment payment in batch %d was taken", o2.ID, b4.ID),
		fmt.Sprintf("payer batch %d: says 2 payments, has 1", b5.ID),
		fmt.Sprintf("payer batch %d: total 100 but its payments sum to 7", b5.ID),
		fmt.Sprintf("payer batch %d payment 0 (order 999): paid, but the batch never ran", b5.ID),
		fmt.Sprintf("payer batch %d payment 0: order 999 does not exist", b5.ID),
		fmt.Sprintf("payer batch %d: settled with 1 payments still pending", b6.ID),
		fmt.Sprintf("order %d: completed as someone-else", o1.ID),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations lack %q:\n%s", want, got)
		}
	}
}

// settle runs the delivery loop until o is no longer processing (a loaded
// machine may outlast the provider's wait for the payment).
func settle(t *testing.T, env *shoptest.Env, o *domain.Order) *domain.Order {
	t.Helper()
	for i := 0; o.Status == domain.StatusProcessing && i < 100; i++ {
		env.Clock.Advance(time.Minute)
		if _, err := env.Shop.DeliverDue(bg); err != nil {
			t.Fatal(err)
		}
		var err error
		if o, err = env.Shop.Order(bg, o.PartnerID, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	return o
}
