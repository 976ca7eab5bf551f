package api_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// unrecordedProvider is the sandbox provider paying from a wallet whose
// seqno on chain is past the payment records (shop.PayerWallet): it holds
// every delivery with wallet_unrecorded until the records account for the
// seqno, as fulfil/fragment's guard does.
type unrecordedProvider struct {
	fulfil.Sandbox
	mu      sync.Mutex
	chain   uint32
	records shop.PayerRecords
}

const unrecordedWallet = "0:1111111111111111111111111111111111111111111111111111111111111111"

func (p *unrecordedProvider) WalletSeqnos(ctx context.Context) (string, uint32, uint32, error) {
	p.mu.Lock()
	chain := p.chain
	p.mu.Unlock()
	accounted, err := p.records.AccountedSeqno(ctx, unrecordedWallet)
	return unrecordedWallet, chain, accounted, err
}

func (p *unrecordedProvider) RecheckWallet() {}

func (p *unrecordedProvider) Deliver(ctx context.Context, r fulfil.Request, save fulfil.SaveFunc) (fulfil.Result, error) {
	_, chain, accounted, err := p.WalletSeqnos(ctx)
	if err != nil {
		return fulfil.Result{}, err
	}
	if chain > accounted {
		return fulfil.Result{}, &fulfil.Hold{Reason: fulfil.HoldWalletUnrecorded,
			Detail: fmt.Sprintf("the service wallet has run %d message(s) this store has no record of", chain-accounted)}
	}
	return p.Sandbox.Deliver(ctx, r, save)
}

// payerExchanges: a delivery held for the wallet's unrecorded messages,
// GET /admin/payer, and the reconciliation's refusals and its 200, each
// validated against openapi.json.
func payerExchanges(t *testing.T, c *oaCheck, adminToken string) {
	prov := &unrecordedProvider{chain: 3}
	te := newEnv(t, func(cfg *config.Config, o *shoptest.Options) {
		cfg.Admin.Token = adminToken
		o.Provider = prov
	})
	prov.records = shop.PayerRecords{Store: te.Store}
	te.Run(t)
	partner, key := te.Partner(t)
	var orders []*domain.Order
	for range 2 {
		o := c.call(t, te, "POST", "/api/v1/orders/stars", key, quickstartBody).must(t, 200).order(t)
		c.call(t, te, "POST", "/api/v1/sandbox/transfers", key,
			`{"to_address":"`+*o.PaymentAddress+`","amount_nanoton":"`+o.PriceNanoton+`","comment":"`+*o.PaymentMemo+`"}`).must(t, 200)
		orders = append(orders, &domain.Order{ID: o.ID})
	}
	eventually(t, "both deliveries held", func() bool {
		h := te.Shop.HeldDeliveries()
		return h != nil && h.ByReason[fulfil.HoldWalletUnrecorded] == 2
	})
	var ph struct {
		Held *struct {
			WalletUnrecorded string `json:"wallet_unrecorded"`
		} `json:"deliveries_held"`
	}
	c.call(t, te, "GET", "/api/v1/health", "", "").must(t, 200).data(t, &ph)
	if ph.Held == nil || ph.Held.WalletUnrecorded == "" {
		t.Errorf("health with deliveries held for the wallet: %+v", ph.Held)
	}
	var st shop.PayerState
	c.call(t, te, "GET", "/api/v1/admin/payer", adminToken, "").must(t, 200).data(t, &st)
	if st.SeqnoOnChain != 3 || st.SeqnoRecorded != 0 || st.Unrecorded != 3 || len(st.Candidates) != 2 ||
		st.Candidates[0].OrderID != orders[0].ID || st.Candidates[1].OrderID != orders[1].ID {
		t.Fatalf("payer state %+v", st)
	}
	// Not a button: the seqno seen, the orders and a note are required.
	c.call(t, te, "POST", "/api/v1/admin/payer/reconcile", adminToken, `{}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/admin/payer/reconcile", adminToken, `{"wallet_seqno":3,"note":"checked"}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/admin/payer/reconcile", adminToken, `{"wallet_seqno":3,"delivered_orders":[]}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/admin/payer/reconcile", adminToken,
		`{"wallet_seqno":2,"delivered_orders":[],"note":"checked"}`).must(t, 409, "NOT_RECONCILABLE")
	c.call(t, te, "POST", "/api/v1/admin/payer/reconcile", adminToken,
		fmt.Sprintf(`{"wallet_seqno":3,"delivered_orders":[%d],"note":"checked"}`, orders[0].ID+1000)).must(t, 409, "NOT_RECONCILABLE")
	c.call(t, te, "POST", "/api/v1/admin/payer/reconcile", "", `{}`).must(t, 401, "UNAUTHORIZED")
	var res shop.ReconcileResult
	c.call(t, te, "POST", "/api/v1/admin/payer/reconcile", adminToken,
		fmt.Sprintf(`{"wallet_seqno":3,"delivered_orders":[%d],"note":"tonviewer: seqno 0-2 paid order %d","operator":"alice"}`, orders[0].ID, orders[0].ID)).
		must(t, 200).data(t, &res)
	if res.FromSeqno != 0 || res.ToSeqno != 3 || len(res.Delivered) != 1 || res.Delivered[0] != orders[0].ID ||
		len(res.WillPay) != 1 || res.WillPay[0] != orders[1].ID {
		t.Fatalf("reconcile result %+v", res)
	}
	o, err := te.Shop.Order(context.Background(), partner.ID, orders[0].ID)
	if err != nil || o.Status != domain.StatusCompleted {
		t.Fatalf("order named delivered: %+v %v", o, err)
	}
	// Done once: the records account for the wallet now.
	c.call(t, te, "POST", "/api/v1/admin/payer/reconcile", adminToken,
		`{"wallet_seqno":3,"delivered_orders":[],"note":"again"}`).must(t, 409, "NOT_RECONCILABLE")
	c.call(t, te, "GET", "/api/v1/admin/payer", adminToken, "").must(t, 200).data(t, &st)
	if st.Unrecorded != 0 || len(st.Candidates) != 1 {
		t.Errorf("payer state after the reconciliation %+v", st)
	}
}
