package api_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

type ledgerJSON struct {
	ID                    int64       `json:"id"`
	Type                  string      `json:"type"`
	Currency              string      `json:"currency"`
	AmountTON             json.Number `json:"amount_ton"`
	AmountNanoton         string      `json:"amount_nanoton"`
	BalanceAfterNanoton   string      `json:"balance_after_nanoton"`
	AmountUSDT            json.Number `json:"amount_usdt"`
	AmountUSDTUnits       string      `json:"amount_usdt_units"`
	BalanceAfterUSDTUnits string      `json:"balance_after_usdt_units"`
	OrderID               *int64      `json:"order_id"`
	TxHash                *string     `json:"tx_hash"`
	CreatedAt             string      `json:"created_at"`
}

func (te *tenv) ledger(t *testing.T, key string) []ledgerJSON {
	t.Helper()
	var l listJSON[ledgerJSON]
	r := te.call(t, "GET", "/api/v1/balance/transactions", key, "").must(t, 200)
	if len(r.Env.Data) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(r.Env.Data)))
		dec.UseNumber()
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
	}
	return l.Items
}

func (te *tenv) balanceNano(t *testing.T, key string) string {
	t.Helper()
	var b struct {
		BalanceNanoton string `json:"balance_nanoton"`
		TopupAddress   string `json:"topup_address"`
	}
	te.call(t, "GET", "/api/v1/balance", key, "").must(t, 200).data(t, &b)
	return b.BalanceNanoton
}

// Paying through the sandbox chain: an overpaid order completes and the
// excess shows as an overpayment row; balance orders are 402 when short and
// paid from the balance once it is topped up.
func TestSandboxPaymentsThroughTheAPI(t *testing.T) {
	te := newEnv(t)
	te.Run(t)
	_, key := te.Partner(t)

	o := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody, "Idempotency-Key", uuid.NewString()).must(t, 200).order(t)
	tr := te.call(t, "POST", "/api/v1/sandbox/transfers", key,
		`{"to_address":"`+*o.PaymentAddress+`","amount_nanoton":"537500000","comment":"`+*o.PaymentMemo+`"}`,
		"Idempotency-Key", uuid.NewString()).must(t, 200)
	var tv struct {
		TxHash string `json:"tx_hash"`
	}
	tr.data(t, &tv)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(tv.TxHash) {
		t.Fatalf("tx_hash %q", tv.TxHash)
	}
	id := itoa(int(o.ID))
	var got orderJSON
	eventually(t, "order completed", func() bool {
		got = te.call(t, "GET", "/api/v1/orders/"+id, key, "").must(t, 200).order(t)
		return got.Status == "completed"
	})
	if got.PaidAt == nil || got.CompletedAt == nil || got.AmountReceivedNanoton != "437500000" || got.AmountReceivedTON != "0.4375" {
		t.Errorf("completed order %+v", got)
	}
	rows := te.ledger(t, key)
	if len(rows) != 1 || rows[0].Type != "overpayment" || rows[0].AmountNanoton != "100000000" || rows[0].AmountTON != "0.1" ||
		rows[0].BalanceAfterNanoton != "100000000" || rows[0].OrderID == nil || *rows[0].OrderID != o.ID ||
		rows[0].TxHash == nil || *rows[0].TxHash != tv.TxHash {
		t.Fatalf("ledger %+v", rows)
	}

	// Balance orders: 0.1 TON does not cover 0.21875.
	bal := starsBody("pandus", 50, `"payment_method":"balance"`)
	te.call(t, "POST", "/api/v1/orders/stars", key, bal).must(t, 402, "INSUFFICIENT_BALANCE")
	var b struct {
		TopupAddress string `json:"topup_address"`
	}
	te.call(t, "GET", "/api/v1/balance", key, "").must(t, 200).data(t, &b)
	te.call(t, "POST", "/api/v1/sandbox/transfers", key, `{"to_address":"`+b.TopupAddress+`","amount_ton":1}`).must(t, 200)
	eventually(t, "top-up credited", func() bool { return te.balanceNano(t, key) == "1100000000" })
	paid := te.call(t, "POST", "/api/v1/orders/stars", key, bal).must(t, 200)
	po := paid.order(t)
	if po.Status != "paid" || po.PaymentMethod != "balance" || po.PaymentLink != nil || po.PaymentAddress != nil ||
		po.PaymentMemo != nil || po.ExpiresAt != nil || po.PaidAt == nil || po.CheckoutURL != nil {
		t.Errorf("balance order %s", paid.Env.Data)
	}
	if got := te.balanceNano(t, key); got != "881250000" {
		t.Errorf("balance after the balance order %s, want 881250000", got)
	}
	rows = te.ledger(t, key)
	if rows[0].Type != "order_payment" || rows[0].AmountNanoton != "-218750000" || rows[0].AmountTON != "-0.21875" ||
		rows[1].Type != "topup" || rows[1].AmountNanoton != "1000000000" || rows[1].OrderID != nil {
		t.Errorf("ledger %+v", rows)
	}
	// The ledger pages like the orders: newest first, by cursor.
	var p1, p2 listJSON[ledgerJSON]
	te.call(t, "GET", "/api/v1/balance/transactions?limit=2", key, "").must(t, 200).data(t, &p1)
	if len(p1.Items) != 2 || p1.NextCursor == nil {
		t.Fatalf("ledger page 1 %+v", p1)
	}
	te.call(t, "GET", "/api/v1/balance/transactions?limit=2&cursor="+*p1.NextCursor, key, "").must(t, 200).data(t, &p2)
	if len(p2.Items) != 1 || p2.NextCursor != nil || p2.Items[0].Type != "overpayment" || p2.Items[0].ID >= p1.Items[1].ID {
		t.Fatalf("ledger page 2 %+v", p2)
	}
	eventually(t, "balance order completed", func() bool {
		return te.call(t, "GET", "/api/v1/orders/"+itoa(int(po.ID)), key, "").must(t, 200).order(t).Status == "completed"
	})
	te.Check(t)
}

func TestSandboxTransferValidation(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	addr := te.Shop.ServiceAddress()
	for _, c := range []struct{ body, named string }{
		{`{"amount_nanoton":"1"}`, "to_address"},
		{`{"to_address":"nowhere","amount_nanoton":"1"}`, "to_address"},
		{`{"to_address":"` + addr + `"}`, "amount_nanoton or amount_ton"},
		{`{"to_address":"` + addr + `","amount_nanoton":"1","amount_ton":1}`, "not both"},
		{`{"to_address":"` + addr + `","amount_nanoton":1000}`, "amount_nanoton must be a string"},
		{`{"to_address":"` + addr + `","amount_nanoton":"1.5"}`, "amount_nanoton"},
		{`{"to_address":"` + addr + `","amount_nanoton":"0"}`, "amount_nanoton"},
		{`{"to_address":"` + addr + `","amount_nanoton":"-5"}`, "amount_nanoton"},
		{`{"to_address":"` + addr + `","amount_ton":"0.5"}`, "amount_ton must be a number"},
		{`{"to_address":"` + addr + `","amount_ton":0.1234567891}`, "amount_ton"},
		{`{"to_address":"` + addr + `","amount_ton":1e-3}`, "amount_ton"},
		{`{"to_address":"` + addr + `","amount_ton":-1}`, "amount_ton"},
		{`{"to_address":"` + addr + `","amount_ton":0}`, "amount_ton"},
		{`{"to_address":"` + addr + `","amount_ton":true}`, "amount_ton must be a number"},
		{`{"to_address":"` + addr + `","amount_ton":99999999999}`, "amount_ton"},
		{`{"to_address":"` + addr + `","amount_ton":1,"comment":7}`, "comment must be a string"},
		{`{"to_address":"` + addr + `","amount_ton":1,"comment":"` + strings.Repeat("c", 600) + `"}`, "comment"},
		{`{"to_address":"` + addr + `","amount_ton":1,"memo":"x"}`, `"memo"`},
	} {
		r := te.call(t, "POST", "/api/v1/sandbox/transfers", key, c.body).must(t, 422, "VALIDATION_ERROR")
		if !strings.Contains(r.Env.ErrorMessage, c.named) {
			t.Errorf("%s: %q does not name %s", c.body, r.Env.ErrorMessage, c.named)
		}
	}
	// amount_ton is read exactly from its text: 0.123456789 is 123456789 nanotons.
	te.call(t, "POST", "/api/v1/sandbox/transfers", key, `{"to_address":"`+addr+`","amount_ton":0.123456789,"comment":"nothing"}`).must(t, 200)
	te.call(t, "POST", "/api/v1/sandbox/transfers", "", `{"to_address":"`+addr+`","amount_ton":1}`).must(t, 401, "UNAUTHORIZED")
}
