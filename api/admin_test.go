package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/api"
	"github.com/theopenmoney/openmoney/config"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

const adminToken = "adm_test-token-0123456789"

// withAdmin sets admin.token.
func withAdmin(token string) envOpt {
	return func(c *config.Config, _ *shoptest.Options) { c.Admin.Token = token }
}

// landUnmatched applies a transfer to the service wallet whose comment
// matches nothing; it becomes unmatched deposit n (1-based, in order).
func landUnmatched(t *testing.T, te *tenv, amount int64, n int) {
	t.Helper()
	_, err := te.Shop.ApplyTransfer(context.Background(), ton.Transfer{Hash: fmt.Sprintf("%064x", 0xad00+n),
		To: te.Shop.ServiceAddress(), AmountNano: amount, Comment: "who knows", ChainTime: time.Now(), Incoming: true})
	if err != nil {
		t.Fatal(err)
	}
}

type unmatchedJSON struct {
	ID               int64   `json:"id"`
	TxHash           string  `json:"tx_hash"`
	AmountNanoton    string  `json:"amount_nanoton"`
	Comment          *string `json:"comment"`
	AssignedAt       *string `json:"assigned_at"`
	AssignedLedgerID *int64  `json:"assigned_ledger_id"`
}

func TestAdminRoutesOffWithoutToken(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	for _, rt := range api.AdminRoutes() {
		path := api.BasePath + strings.ReplaceAll(rt.Path, "{id}", "1")
		for _, auth := range []string{"", key, adminToken} {
			te.call(t, rt.Method, path, auth, "").must(t, http.StatusNotFound, "NOT_FOUND")
		}
	}
}

func TestAdminAuth(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken))
	_, key := te.Partner(t)
	n := 0 // each attempt from its own address: failures from one address are limited (TestFailedAuthLimitedPerIP)
	for _, rt := range api.AdminRoutes() {
		path := api.BasePath + strings.ReplaceAll(rt.Path, "{id}", "1")
		for name, h := range map[string][]string{
			"no header":           nil,
			"a partner key":       {"Authorization", "Bearer " + key},
			"wrong token":         {"Authorization", "Bearer " + adminToken + "x"},
			"token prefix":        {"Authorization", "Bearer " + adminToken[:10]},
			"basic scheme":        {"Authorization", "Basic " + adminToken},
			"token without space": {"Authorization", "Bearer" + adminToken},
		} {
			n++
			h = append(h, "RemoteAddr", "192.0.2."+strconv.Itoa(n)+":1234")
			r := te.call(t, rt.Method, path, "", "", h...).must(t, http.StatusUnauthorized, "UNAUTHORIZED")
			if strings.Contains(string(r.Body), adminToken) {
				t.Fatalf("%s %s (%s): token echoed: %s", rt.Method, path, name, r.Body)
			}
		}
	}
	// the partner API is unchanged: the admin token is no partner key
	te.call(t, "GET", "/api/v1/balance", adminToken, "").must(t, http.StatusUnauthorized, "UNAUTHORIZED")
	if strings.Contains(te.log.String(), adminToken) {
		t.Fatal("the admin token reached the log")
	}
}

func TestAdminUnmatchedAssign(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken))
	p, key := te.Partner(t)
	o := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, "")).must(t, http.StatusOK).order(t)
	for i := 1; i <= 3; i++ {
		landUnmatched(t, te, int64(i)*1_000_000_000, i)
	}

	// paging: 2 + 1
	var page listJSON[unmatchedJSON]
	te.call(t, "GET", "/api/v1/admin/unmatched?limit=2", adminToken, "").must(t, http.StatusOK).data(t, &page)
	if len(page.Items) != 2 || page.NextCursor == nil || page.Items[0].ID != 1 || page.Items[0].AmountNanoton != "1000000000" ||
		page.Items[0].Comment == nil || *page.Items[0].Comment != "who knows" || page.Items[0].AssignedAt != nil {
		t.Fatalf("page 1: %+v", page)
	}
	var page2 listJSON[unmatchedJSON]
	te.call(t, "GET", "/api/v1/admin/unmatched?limit=2&cursor="+*page.NextCursor, adminToken, "").must(t, http.StatusOK).data(t, &page2)
	if len(page2.Items) != 1 || page2.Items[0].ID != 3 || page2.NextCursor != nil {
		t.Fatalf("page 2: %+v", page2)
	}
	te.call(t, "GET", "/api/v1/admin/unmatched?limit=501", adminToken, "").must(t, http.StatusUnprocessableEntity, "VALIDATION_ERROR")

	// to an order: late_payment on that order's partner
	var a struct {
		Unmatched unmatchedJSON `json:"unmatched"`
		Ledger    struct {
			ID            int64  `json:"id"`
			Type          string `json:"type"`
			AmountNanoton string `json:"amount_nanoton"`
			OrderID       *int64 `json:"order_id"`
			TxHash        string `json:"tx_hash"`
		} `json:"ledger"`
		PartnerID int64 `json:"partner_id"`
	}
	te.call(t, "POST", "/api/v1/admin/unmatched/1/assign", adminToken, fmt.Sprintf(`{"order_id":%d}`, o.ID)).must(t, http.StatusOK).data(t, &a)
	if a.PartnerID != p.ID || a.Ledger.Type != "late_payment" || a.Ledger.OrderID == nil || *a.Ledger.OrderID != o.ID ||
		a.Ledger.AmountNanoton != "1000000000" || a.Ledger.TxHash != a.Unmatched.TxHash ||
		a.Unmatched.AssignedAt == nil || a.Unmatched.AssignedLedgerID == nil || *a.Unmatched.AssignedLedgerID != a.Ledger.ID {
		t.Fatalf("assign to order: %+v", a)
	}
	// exactly once
	te.call(t, "POST", "/api/v1/admin/unmatched/1/assign", adminToken, fmt.Sprintf(`{"partner_id":%d}`, p.ID)).
		must(t, http.StatusConflict, "ALREADY_ASSIGNED")
	// to a partner: topup, seen in the partner's own ledger
	te.call(t, "POST", "/api/v1/admin/unmatched/2/assign", adminToken, fmt.Sprintf(`{"partner_id":%d}`, p.ID)).must(t, http.StatusOK).data(t, &a)
	if a.Ledger.Type != "topup" || a.Ledger.OrderID != nil {
		t.Fatalf("assign to partner: %+v", a)
	}
	bal := te.call(t, "GET", "/api/v1/balance", key, "").must(t, http.StatusOK).fields(t)
	if string(bal["balance_nanoton"]) != `"3000000000"` {
		t.Fatalf("balance %s", bal["balance_nanoton"])
	}

	for _, tc := range []struct{ name, path, body, code string }{
		{"both targets", "/api/v1/admin/unmatched/3/assign", fmt.Sprintf(`{"order_id":%d,"partner_id":%d}`, o.ID, p.ID), "VALIDATION_ERROR"},
		{"no target", "/api/v1/admin/unmatched/3/assign", `{}`, "VALIDATION_ERROR"},
		{"unknown field", "/api/v1/admin/unmatched/3/assign", `{"partner":1}`, "VALIDATION_ERROR"},
		{"bad id", "/api/v1/admin/unmatched/x/assign", `{"partner_id":1}`, "VALIDATION_ERROR"},
		{"unknown deposit", "/api/v1/admin/unmatched/99/assign", `{"partner_id":1}`, "NOT_FOUND"},
		{"unknown partner", "/api/v1/admin/unmatched/3/assign", `{"partner_id":99}`, "NOT_FOUND"},
		{"unknown order", "/api/v1/admin/unmatched/3/assign", `{"order_id":99}`, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := te.call(t, "POST", tc.path, adminToken, tc.body)
			if r.Env.ErrorCode != tc.code {
				t.Fatalf("got %s", r)
			}
		})
	}

	var rep struct {
		OK         bool     `json:"ok"`
		Unmatched  int      `json:"unmatched"`
		LedgerRows int      `json:"ledger_rows"`
		Violations []string `json:"violations"`
	}
	te.call(t, "GET", "/api/v1/admin/integrity", adminToken, "").must(t, http.StatusOK).data(t, &rep)
	if !rep.OK || rep.Unmatched != 3 || rep.LedgerRows != 2 || rep.Violations == nil || len(rep.Violations) != 0 {
		t.Fatalf("integrity %+v", rep)
	}
	te.Check(t)
}

func TestAdminPartnersAndRevokeKey(t *testing.T) {
	te := newEnv(t, withAdmin(adminToken))
	te.Run(t) // the listener credits the sandbox USDT top-up below
	p, key := te.Partner(t)
	te.call(t, "GET", "/api/v1/balance", key, "").must(t, http.StatusOK)
	q, qkey := te.Partner(t)
	// q holds USDT: the operator sees it beside TON, exact.
	te.call(t, "POST", "/api/v1/sandbox/transfers", qkey,
		`{"asset":"USDT","to_address":"`+topupAddress(t, te, qkey)+`","amount_units":"12500001"}`).must(t, http.StatusOK)
	eventually(t, "the USDT top-up credited", func() bool {
		var b struct {
			Units string `json:"balance_usdt_units"`
		}
		te.call(t, "GET", "/api/v1/balance", qkey, "").must(t, http.StatusOK).data(t, &b)
		return b.Units == "12500001"
	})

	type partnerJSON struct {
		ID             int64   `json:"id"`
		Name           string  `json:"name"`
		CreatedAt      string  `json:"created_at"`
		TelegramUserID *int64  `json:"telegram_user_id"`
		TopupAddress   string  `json:"topup_address"`
		BalanceTON     float64 `json:"balance_ton"`
		BalanceNanoton string  `json:"balance_nanoton"`
		BalanceUSDT    float64 `json:"balance_usdt"`
		BalanceUnits   string  `json:"balance_usdt_units"`
		LedgerRows     int64   `json:"ledger_rows"`
		KeyStatus      string  `json:"key_status"`
		Key            *struct {
			Prefix     string  `json:"prefix"`
			CreatedAt  string  `json:"created_at"`
			LastUsedAt *string `json:"last_used_at"`
		} `json:"key"`
	}
	var l listJSON[partnerJSON]
	r := te.call(t, "GET", "/api/v1/admin/partners?limit=1", adminToken, "").must(t, http.StatusOK)
	r.data(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != p.ID || l.Items[0].KeyStatus != "active" || l.Items[0].Key == nil ||
		!strings.HasPrefix(key, l.Items[0].Key.Prefix) || l.Items[0].Key.LastUsedAt == nil || l.NextCursor == nil ||
		l.Items[0].BalanceNanoton != "0" || l.Items[0].BalanceUnits != "0" || l.Items[0].TopupAddress == "" {
		t.Fatalf("partners page 1: %s", r.Body)
	}
	if strings.Contains(string(r.Body), key) || strings.Contains(string(r.Body), key[len(l.Items[0].Key.Prefix):]) {
		t.Fatal("the key (or its secret part) is listed")
	}
	te.call(t, "GET", "/api/v1/admin/partners?cursor="+*l.NextCursor, adminToken, "").must(t, http.StatusOK).data(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != q.ID || l.NextCursor != nil || l.Items[0].BalanceUnits != "12500001" ||
		l.Items[0].BalanceUSDT != 12.500001 || l.Items[0].BalanceNanoton != "0" || l.Items[0].LedgerRows != 1 {
		t.Fatalf("partners page 2: %+v", l)
	}
	var raw struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	te.call(t, "GET", "/api/v1/admin/partners", adminToken, "").must(t, http.StatusOK).data(t, &raw)
	if len(raw.Items) != 2 || string(raw.Items[1]["id"]) != strconv.FormatInt(q.ID, 10) || string(raw.Items[1]["balance_usdt"]) != "12.500001" ||
		string(raw.Items[0]["balance_usdt"]) != "0" {
		t.Fatalf("balance_usdt is not the exact number: %v", raw.Items)
	}

	te.call(t, "POST", fmt.Sprintf("/api/v1/admin/partners/%d/revoke-key", p.ID), adminToken, "").must(t, http.StatusOK)
	te.call(t, "GET", "/api/v1/balance", key, "").must(t, http.StatusUnauthorized, "UNAUTHORIZED")
	te.call(t, "POST", fmt.Sprintf("/api/v1/admin/partners/%d/revoke-key", p.ID), adminToken, "").must(t, http.StatusNotFound, "NOT_FOUND")
	te.call(t, "POST", "/api/v1/admin/partners/999/revoke-key", adminToken, "").must(t, http.StatusNotFound, "NOT_FOUND")
	te.call(t, "GET", "/api/v1/admin/partners", adminToken, "").must(t, http.StatusOK).data(t, &l)
	if l.Items[0].KeyStatus != "none" || l.Items[0].Key != nil {
		t.Fatalf("after revoke: %+v", l.Items[0])
	}
	// wrong method on an admin path is a 405 envelope like any other route
	te.call(t, "GET", fmt.Sprintf("/api/v1/admin/partners/%d/revoke-key", p.ID), adminToken, "").must(t, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
}
