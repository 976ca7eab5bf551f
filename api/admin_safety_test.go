package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/fulfil/manual"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// maxNano is the overflow transfer of the issue: max int64 nanotons.
const maxNano = "9223372036854775807"

// withManual delivers by hand.
func withManual() envOpt {
	return func(c *config.Config, o *shoptest.Options) {
		c.Fulfillment.Provider = "manual"
		o.Provider = manual.Provider{}
	}
}

type parkedJSON struct {
	ID             int64   `json:"id"`
	TxHash         string  `json:"tx_hash"`
	AmountNanoton  string  `json:"amount_nanoton"`
	Error          string  `json:"error"`
	FailedAttempts int     `json:"failed_attempts"`
	ResolvedAt     *string `json:"resolved_at"`
	Resolution     *string `json:"resolution"`
}

type adminOrderJSON struct {
	PartnerID int64     `json:"partner_id"`
	Order     orderJSON `json:"order"`
	Refund    *struct {
		Type          string `json:"type"`
		AmountNanoton string `json:"amount_nanoton"`
	} `json:"refund"`
}

type auditJSON struct {
	ID      int64   `json:"id"`
	Actor   string  `json:"actor"`
	Remote  *string `json:"remote"`
	Action  string  `json:"action"`
	OrderID *int64  `json:"order_id"`
	Detail  *string `json:"detail"`
}

// sandboxPay lands a transfer through POST /sandbox/transfers.
func sandboxPay(t *testing.T, te *tenv, key, to, nano, comment string) {
	t.Helper()
	te.call(t, "POST", "/api/v1/sandbox/transfers", key,
		`{"to_address":"`+to+`","amount_nanoton":"`+nano+`","comment":"`+comment+`"}`).must(t, http.StatusOK)
}

func topupAddress(t *testing.T, te *tenv, key string) string {
	t.Helper()
	var b struct {
		TopupAddress string `json:"topup_address"`
		Nano         string `json:"balance_nanoton"`
	}
	te.call(t, "GET", "/api/v1/balance", key, "").must(t, 200).data(t, &b)
	return b.TopupAddress
}

func balanceNano(t *testing.T, te *tenv, key string) string {
	t.Helper()
	var b struct {
		Nano string `json:"balance_nanoton"`
	}
	te.call(t, "GET", "/api/v1/balance", key, "").must(t, 200).data(t, &b)
	return b.Nano
}

// parkOverflow tops a new partner up with nano, then sends it the overflow
// transfer; it returns the partner's key and the parked transfer.
func parkOverflow(t *testing.T, te *tenv, token, nano string) (string, parkedJSON) {
	t.Helper()
	_, key := te.Partner(t)
	addr := topupAddress(t, te, key)
	sandboxPay(t, te, key, addr, nano, "")
	eventually(t, "top-up credited", func() bool { return balanceNano(t, te, key) == nano })
	var before listJSON[parkedJSON]
	te.call(t, "GET", "/api/v1/admin/parked", token, "").must(t, 200).data(t, &before)
	sandboxPay(t, te, key, addr, maxNano, "")
	var page listJSON[parkedJSON]
	eventually(t, "the overflow transfer parked", func() bool {
		te.call(t, "GET", "/api/v1/admin/parked", token, "").must(t, 200).data(t, &page)
		return len(page.Items) > len(before.Items)
	})
	p := page.Items[len(page.Items)-1]
	if p.AmountNanoton != maxNano || !strings.Contains(p.Error, "overflows") || p.ResolvedAt != nil {
		t.Fatalf("parked %+v", p)
	}
	return key, p
}

// adminSafetyExchanges exercises the parked, deliveries and audit routes
// through c (TestOpenAPIResponsesMatchTheHandler): every documented answer.
func adminSafetyExchanges(t *testing.T, c *oaCheck, te *tenv, token string) {
	// Parked: one refused then assigned, one retried once the cause is gone.
	_, p1 := parkOverflow(t, te, token, "1000000000")
	id1 := itoa(int(p1.ID))
	c.call(t, te, "GET", "/api/v1/admin/parked?status=open&limit=10", token, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/admin/parked?status=closed", token, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "GET", "/api/v1/admin/parked/"+id1, token, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/admin/parked/999999", token, "").must(t, 404, "NOT_FOUND")
	c.call(t, te, "POST", "/api/v1/admin/parked/"+id1+"/retry", token, "").must(t, 409, "TRANSFER_REFUSED")
	c.call(t, te, "POST", "/api/v1/admin/parked/"+id1+"/retry", token, `{"operator":"`+strings.Repeat("o", 65)+`"}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, te, "POST", "/api/v1/admin/parked/"+id1+"/assign", token, `{}`).must(t, 422, "VALIDATION_ERROR")
	q, _ := te.Partner(t) // balance 0: max int64 fits
	c.call(t, te, "POST", "/api/v1/admin/parked/"+id1+"/assign", token, fmt.Sprintf(`{"partner_id":%d,"operator":"erin"}`, q.ID)).must(t, 200)
	c.call(t, te, "POST", "/api/v1/admin/parked/"+id1+"/assign", token, fmt.Sprintf(`{"partner_id":%d}`, q.ID)).must(t, 409, "ALREADY_RESOLVED")
	c.call(t, te, "POST", "/api/v1/admin/parked/999999/assign", token, fmt.Sprintf(`{"partner_id":%d}`, q.ID)).must(t, 404, "NOT_FOUND")

	k2, p2 := parkOverflow(t, te, token, "437500000") // exactly 100 stars
	te.call(t, "POST", "/api/v1/orders/stars", k2, starsBody("pandus", 100, `"payment_method":"balance"`)).must(t, 200)
	id2 := itoa(int(p2.ID))
	c.call(t, te, "POST", "/api/v1/admin/parked/"+id2+"/retry", token, `{"operator":"frank"}`).must(t, 200)
	c.call(t, te, "POST", "/api/v1/admin/parked/"+id2+"/retry", token, "").must(t, 409, "ALREADY_RESOLVED")
	c.call(t, te, "POST", "/api/v1/admin/parked/0/retry", token, "").must(t, 422, "VALIDATION_ERROR")
	if got := balanceNano(t, te, k2); got != maxNano {
		t.Fatalf("balance after the retry %s", got)
	}
	c.call(t, te, "GET", "/api/v1/admin/parked", token, "").must(t, 200)

	// Manual deliveries.
	m := newEnv(t, withAdmin(token), withManual())
	m.Run(t)
	_, mkey := m.Partner(t)
	paid := func() orderJSON {
		o := m.call(t, "POST", "/api/v1/orders/stars", mkey, starsBody("pandus", 100, "")).must(t, 200).order(t)
		sandboxPay(t, m, mkey, *o.PaymentAddress, o.PriceNanoton, *o.PaymentMemo)
		eventually(t, "order processing", func() bool {
			return m.call(t, "GET", "/api/v1/orders/"+itoa(int(o.ID)), mkey, "").must(t, 200).order(t).Status == "processing"
		})
		return o
	}
	o1, o2 := paid(), paid()
	c.call(t, m, "GET", "/api/v1/admin/deliveries?limit=5", token, "").must(t, 200)
	var first listJSON[adminOrderJSON]
	c.call(t, m, "GET", "/api/v1/admin/deliveries?limit=1", token, "").must(t, 200).data(t, &first)
	if len(first.Items) != 1 || first.Items[0].Order.ID != o1.ID || first.NextCursor == nil {
		t.Fatalf("first page of one: %+v", first)
	}
	var second listJSON[adminOrderJSON]
	c.call(t, m, "GET", "/api/v1/admin/deliveries?limit=1&cursor="+*first.NextCursor, token, "").must(t, 200).data(t, &second)
	if len(second.Items) != 1 || second.Items[0].Order.ID != o2.ID {
		t.Fatalf("second page of one: %+v", second)
	}
	c.call(t, m, "GET", "/api/v1/admin/deliveries?cursor=bogus", token, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, m, "GET", "/api/v1/admin/deliveries?limit=0", token, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, m, "POST", "/api/v1/admin/orders/"+itoa(int(o1.ID))+"/mark-delivered", token, `{"reference":"fragment tx 9c1e"}`).must(t, 200)
	c.call(t, m, "POST", "/api/v1/admin/orders/"+itoa(int(o1.ID))+"/mark-delivered", token, "").must(t, 409, "NOT_AWAITING_DELIVERY")
	c.call(t, m, "POST", "/api/v1/admin/orders/999999/mark-delivered", token, "").must(t, 404, "NOT_FOUND")
	c.call(t, m, "POST", "/api/v1/admin/orders/"+itoa(int(o2.ID))+"/mark-failed", token, `{}`).must(t, 422, "VALIDATION_ERROR")
	c.call(t, m, "POST", "/api/v1/admin/orders/"+itoa(int(o2.ID))+"/mark-failed", token, `{"reason":"the recipient has no Telegram account"}`).must(t, 200)
	c.call(t, m, "POST", "/api/v1/admin/orders/"+itoa(int(o2.ID))+"/mark-failed", token, `{"reason":"again"}`).must(t, 409, "NOT_AWAITING_DELIVERY")
	c.call(t, m, "POST", "/api/v1/admin/orders/999999/mark-failed", token, `{"reason":"x"}`).must(t, 404, "NOT_FOUND")
	c.call(t, m, "GET", "/api/v1/admin/audit", token, "").must(t, 200)
	c.call(t, m, "GET", "/api/v1/admin/audit?limit=1", token, "").must(t, 200)
	c.call(t, te, "GET", "/api/v1/admin/audit?cursor=bogus", token, "").must(t, 422, "VALIDATION_ERROR")
	c.call(t, m, "GET", "/api/v1/admin/integrity", token, "").must(t, 200)
}

// Eight operators click "delivered" at the same moment: exactly one 200,
// seven 409, one audit row, one order.completed; "failed" refunds once.
func TestAdminManualDeliveryExactlyOnce(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken), withManual())
	te.Run(t)
	_, key := te.Partner(t)
	var orders []orderJSON
	for range 2 {
		o := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, "")).must(t, 200).order(t)
		sandboxPay(t, te, key, *o.PaymentAddress, o.PriceNanoton, *o.PaymentMemo)
		orders = append(orders, o)
	}
	for _, o := range orders {
		eventually(t, "order processing", func() bool {
			return te.call(t, "GET", "/api/v1/orders/"+itoa(int(o.ID)), key, "").must(t, 200).order(t).Status == "processing"
		})
	}
	var waiting listJSON[adminOrderJSON]
	te.call(t, "GET", "/api/v1/admin/deliveries", adminToken, "").must(t, 200).data(t, &waiting)
	if len(waiting.Items) != 2 || waiting.Items[0].Order.ID != orders[0].ID || waiting.Items[0].PartnerID == 0 {
		t.Fatalf("deliveries %+v", waiting)
	}

	hammer := func(path, body string) (oks []adminOrderJSON) {
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := te.call(t, "POST", path, adminToken, fmt.Sprintf(body, i))
				mu.Lock()
				defer mu.Unlock()
				switch r.Code {
				case http.StatusOK:
					var v adminOrderJSON
					r.data(t, &v)
					oks = append(oks, v)
				case http.StatusConflict:
					if r.Env.ErrorCode != "NOT_AWAITING_DELIVERY" {
						t.Errorf("409 with %s", r.Env.ErrorCode)
					}
				default:
					t.Errorf("unexpected %s", r)
				}
			}()
		}
		wg.Wait()
		if len(oks) != 1 {
			t.Fatalf("%s: %d of 8 concurrent calls answered 200, want exactly 1", path, len(oks))
		}
		return oks
	}
	d := hammer("/api/v1/admin/orders/"+itoa(int(orders[0].ID))+"/mark-delivered", `{"operator":"op-%d","reference":"tx"}`)[0]
	if d.Order.Status != "completed" || d.Order.CompletedAt == nil || d.Refund != nil {
		t.Fatalf("delivered %+v", d)
	}
	before := balanceNano(t, te, key)
	f := hammer("/api/v1/admin/orders/"+itoa(int(orders[1].ID))+"/mark-failed", `{"operator":"op-%d","reason":"recipient unknown"}`)[0]
	if f.Order.Status != "refunded" || f.Order.FailureReason == nil || f.Refund == nil || f.Refund.Type != "refund" ||
		f.Refund.AmountNanoton != orders[1].PriceNanoton {
		t.Fatalf("failed %+v", f)
	}
	if before != "0" || balanceNano(t, te, key) != orders[1].PriceNanoton {
		t.Fatalf("balance %s → %s, want the price refunded once", before, balanceNano(t, te, key))
	}
	var audit listJSON[auditJSON]
	te.call(t, "GET", "/api/v1/admin/audit", adminToken, "").must(t, 200).data(t, &audit)
	if len(audit.Items) != 2 || audit.Items[0].Action != "order.mark_delivered" || audit.Items[1].Action != "order.mark_failed" ||
		!strings.HasPrefix(audit.Items[0].Actor, "op-") || audit.Items[0].Remote == nil || *audit.Items[0].Remote != "192.0.2.1" ||
		audit.Items[1].Detail == nil || *audit.Items[1].Detail != "recipient unknown" {
		t.Fatalf("audit %+v", audit)
	}
	var rep struct {
		OK bool `json:"ok"`
	}
	te.call(t, "GET", "/api/v1/admin/integrity", adminToken, "").must(t, 200).data(t, &rep)
	if !rep.OK {
		t.Fatal("integrity check failed")
	}
	te.Check(t)
}

// Eight concurrent retries and assignments of one parked transfer: one 200.
func TestAdminParkedExactlyOnce(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken))
	te.Run(t)
	_, p := parkOverflow(t, te, adminToken, "1000000000")
	var h struct {
		Status   string `json:"status"`
		Payments struct {
			Parked int `json:"parked_transfers"`
		} `json:"payments"`
	}
	te.call(t, "GET", "/api/v1/health", "", "").must(t, 200).data(t, &h)
	if h.Status != "degraded" || h.Payments.Parked != 1 {
		t.Fatalf("health %+v", h)
	}
	q, qkey := te.Partner(t)
	const n = 8
	var wg sync.WaitGroup
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body := "/api/v1/admin/parked/"+itoa(int(p.ID))+"/assign", fmt.Sprintf(`{"partner_id":%d}`, q.ID)
			if i%2 == 1 {
				path, body = "/api/v1/admin/parked/"+itoa(int(p.ID))+"/retry", ""
			}
			r := te.call(t, "POST", path, adminToken, body)
			codes[i] = fmt.Sprint(r.Code, r.Env.ErrorCode)
		}()
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case "200":
			ok++
		case "409ALREADY_RESOLVED", "409TRANSFER_REFUSED": // a retry refused before the assignment won
		default:
			t.Fatalf("answer %s", c)
		}
	}
	if ok != 1 {
		t.Fatalf("answers %v: want exactly one 200", codes)
	}
	if got := balanceNano(t, te, qkey); got != maxNano {
		t.Fatalf("assigned partner's balance %s", got)
	}
	var one parkedJSON
	te.call(t, "GET", "/api/v1/admin/parked/"+itoa(int(p.ID)), adminToken, "").must(t, 200).data(t, &one)
	if one.Resolution == nil || *one.Resolution != "assigned" {
		t.Fatalf("parked %+v", one)
	}
	te.call(t, "GET", "/api/v1/health", "", "").must(t, 200).data(t, &h)
	if h.Status != "ok" || h.Payments.Parked != 0 {
		t.Fatalf("health after %+v", h)
	}
	te.Check(t)
}
