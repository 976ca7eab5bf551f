package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
)

// keysOf lists an object's keys in document order.
func keysOf(tb testing.TB, raw []byte) []string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		tb.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			tb.Fatal(err)
		}
	}
	return keys
}

var starsOrderFields = []string{"id", "status", "order_type", "stars_amount", "recipient_username",
	"price_ton", "price_nanoton", "price_usd", "payment_method", "payment_currency", "payment_address",
	"payment_memo", "payment_link", "checkout_url", "return_url", "expires_at", "created_at", "paid_at", "completed_at",
	"amount_received_ton", "amount_received_nanoton", "price_usdt", "price_usdt_units", "amount_received_usdt",
	"amount_received_usdt_units", "usdt_usd", "client_reference", "failure_reason"}

// The page's quickstart, verbatim: every field of the order object, in the
// order of the contract (openapi.json), with the right values.
func TestQuickstartFromThePage(t *testing.T) {
	te := newEnv(t, withClock())
	_, key := te.Partner(t)
	r := te.call(t, "POST", "/api/v1/orders/stars", key, quickstartBody,
		"Idempotency-Key", uuid.NewString(), "Content-Type", "application/json").must(t, http.StatusOK)

	if got := keysOf(t, r.Env.Data); !slices.Equal(got, starsOrderFields) {
		t.Fatalf("fields\n got %v\nwant %v", got, starsOrderFields)
	}
	f := r.fields(t)
	raw := func(k string) string { return string(f[k]) }
	o := r.order(t)
	addr := te.Shop.ServiceAddress()
	for k, want := range map[string]string{
		"status": `"pending_payment"`, "order_type": `"stars"`, "stars_amount": `100`,
		"recipient_username": `"pandus"`, "price_ton": `0.4375`, "price_nanoton": `"437500000"`,
		"price_usd": `1.575`, "payment_method": `"ton_memo"`, "payment_currency": `"TON"`,
		"payment_address": `"` + addr + `"`, "expires_at": `"2026-04-16T12:15:00Z"`,
		"created_at": `"2026-04-16T12:00:00Z"`, "paid_at": `null`, "completed_at": `null`,
		"amount_received_ton": `0`, "amount_received_nanoton": `"0"`, "client_reference": `"invoice-42"`,
		"return_url": `null`, "failure_reason": `null`,
	} {
		if raw(k) != want {
			t.Errorf("%s = %s, want %s", k, raw(k), want)
		}
	}
	if o.ID <= 0 {
		t.Errorf("id %d", o.ID)
	}
	if !strings.HasPrefix(addr, "0Q") {
		t.Errorf("sandbox payment address %q is not the testnet non-bounceable form", addr)
	}
	if o.PaymentMemo == nil || !regexp.MustCompile(`^STARS-[0-9a-z]{6}$`).MatchString(*o.PaymentMemo) {
		t.Fatalf("payment_memo %v", o.PaymentMemo)
	}
	if want := "ton://transfer/" + addr + "?amount=437500000&text=" + *o.PaymentMemo; o.PaymentLink == nil || *o.PaymentLink != want {
		t.Errorf("payment_link %v, want %s", o.PaymentLink, want)
	}
	// The hosted payment page: http.public_url (unset here: the listen
	// address) + /pay/ + a 43-character token that is not the order id.
	if o.CheckoutURL == nil || !regexp.MustCompile(`^http://127\.0\.0\.1:8080/pay/[A-Za-z0-9_-]{43}$`).MatchString(*o.CheckoutURL) {
		t.Errorf("checkout_url %v", o.CheckoutURL)
	}

	// The same order by id, by memo and by reference.
	id := itoa(int(o.ID))
	for _, path := range []string{"/api/v1/orders/" + id, "/api/v1/orders/by-memo/" + *o.PaymentMemo,
		"/api/v1/orders/by-memo/" + strings.ToLower(*o.PaymentMemo)} {
		g := te.call(t, "GET", path, key, "").must(t, http.StatusOK)
		if !bytes.Equal(g.Env.Data, r.Env.Data) {
			t.Errorf("GET %s\n got %s\nwant %s", path, g.Env.Data, r.Env.Data)
		}
	}
	l := te.call(t, "GET", "/api/v1/orders/by-reference/invoice-42", key, "").must(t, http.StatusOK).orders(t)
	if len(l.Items) != 1 || l.Items[0].ID != o.ID || l.NextCursor != nil {
		t.Errorf("by-reference: %+v", l)
	}
	if strings.Contains(te.log.String(), key) || strings.Contains(te.log.String(), key[4:]) {
		t.Error("the API key reached the log")
	}
}

func TestPremiumOrderAndBalanceFields(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	r := te.call(t, "POST", "/api/v1/orders/premium", key,
		`{"recipient_username":"@Durov_Fan","months":6}`).must(t, http.StatusOK)
	keys := keysOf(t, r.Env.Data)
	if keys[3] != "premium_months" || slices.Contains(keys, "stars_amount") {
		t.Errorf("premium fields %v", keys)
	}
	o := r.order(t)
	// 15.99 × 1.05 = 16.7895 USD / 3.6 = 4.66375 TON
	if o.RecipientUsername != "Durov_Fan" || *o.PremiumMonths != 6 || o.PriceUSD != "16.7895" ||
		o.PriceTON != "4.66375" || o.PriceNanoton != "4663750000" || o.ClientReference != nil {
		t.Errorf("premium order %+v", o)
	}
	if !strings.HasPrefix(*o.PaymentMemo, "PREMIUM-") {
		t.Errorf("memo %s", *o.PaymentMemo)
	}
}

// Every invalid input is refused with the field named, and nothing is created.
func TestInvalidOrderInputs(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	big := `{"recipient_username":"pandus","quantity":100,"client_reference":"` + strings.Repeat("x", 70<<10) + `"}`
	rows := []struct {
		name, path, body string
		code             int
		errCode          string
		named            string // must appear in error_message
	}{
		{"recipient_username missing", "stars", `{"quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username"},
		{"recipient_username wrong type", "stars", `{"recipient_username":42,"quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username must be a string"},
		{"recipient_username null", "stars", `{"recipient_username":null,"quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username"},
		{"recipient_username empty", "stars", `{"recipient_username":"","quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username"},
		{"recipient_username too short", "stars", `{"recipient_username":"abc","quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username"},
		{"recipient_username too long", "stars", `{"recipient_username":"` + strings.Repeat("a", 33) + `","quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username"},
		{"recipient_username starts with a digit", "stars", `{"recipient_username":"1pandus","quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username"},
		{"recipient_username bad character", "stars", `{"recipient_username":"pan-dus","quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username"},
		{"recipient_username non-ASCII", "stars", `{"recipient_username":"pändus","quantity":100}`, 422, "VALIDATION_ERROR", "recipient_username"},
		{"recipient cannot receive", "stars", `{"recipient_username":"ghost_missing","quantity":100}`, 422, "RECIPIENT_NOT_FOUND", "recipient_username"},
		{"quantity missing", "stars", `{"recipient_username":"pandus"}`, 422, "VALIDATION_ERROR", "quantity"},
		{"quantity wrong type (string)", "stars", `{"recipient_username":"pandus","quantity":"100"}`, 422, "VALIDATION_ERROR", "quantity must be an integer"},
		{"quantity wrong type (fraction)", "stars", `{"recipient_username":"pandus","quantity":100.5}`, 422, "VALIDATION_ERROR", "quantity must be an integer"},
		{"quantity wrong type (bool)", "stars", `{"recipient_username":"pandus","quantity":true}`, 422, "VALIDATION_ERROR", "quantity must be an integer"},
		{"quantity overflows int64", "stars", `{"recipient_username":"pandus","quantity":99999999999999999999}`, 422, "VALIDATION_ERROR", "quantity must be an integer"},
		{"quantity below the minimum", "stars", `{"recipient_username":"pandus","quantity":49}`, 422, "VALIDATION_ERROR", "quantity must be between 50 and 10000"},
		{"quantity above the maximum", "stars", `{"recipient_username":"pandus","quantity":10001}`, 422, "VALIDATION_ERROR", "quantity must be between 50 and 10000"},
		{"quantity negative", "stars", `{"recipient_username":"pandus","quantity":-100}`, 422, "VALIDATION_ERROR", "quantity"},
		{"payment_method unknown", "stars", starsBody("pandus", 100, `"payment_method":"card"`), 422, "VALIDATION_ERROR", "payment_method"},
		{"payment_method wrong type", "stars", starsBody("pandus", 100, `"payment_method":1`), 422, "VALIDATION_ERROR", "payment_method must be a string"},
		{"payment_currency unknown", "stars", starsBody("pandus", 100, `"payment_currency":"USD"`), 422, "VALIDATION_ERROR", "payment_currency"},
		{"payment_currency wrong type", "stars", starsBody("pandus", 100, `"payment_currency":["TON"]`), 422, "VALIDATION_ERROR", "payment_currency must be a string"},
		{"client_reference empty", "stars", starsBody("pandus", 100, `"client_reference":""`), 422, "VALIDATION_ERROR", "client_reference"},
		{"client_reference too long", "stars", starsBody("pandus", 100, `"client_reference":"`+strings.Repeat("r", 129)+`"`), 422, "VALIDATION_ERROR", "client_reference"},
		{"client_reference control character", "stars", starsBody("pandus", 100, `"client_reference":"a\nb"`), 422, "VALIDATION_ERROR", "client_reference"},
		{"client_reference wrong type", "stars", starsBody("pandus", 100, `"client_reference":42`), 422, "VALIDATION_ERROR", "client_reference must be a string"},
		{"unknown field", "stars", starsBody("pandus", 100, `"colour":"blue"`), 422, "VALIDATION_ERROR", `"colour"`},
		{"field of the other order type", "stars", starsBody("pandus", 100, `"months":3`), 422, "VALIDATION_ERROR", `"months"`},
		{"field name in the wrong case", "stars", `{"recipient_username":"pandus","Quantity":100}`, 422, "VALIDATION_ERROR", `"Quantity"`},
		{"repeated field", "stars", `{"recipient_username":"pandus","quantity":100,"quantity":200}`, 422, "VALIDATION_ERROR", `"quantity"`},
		{"not JSON", "stars", `recipient=pandus&quantity=100`, 422, "VALIDATION_ERROR", "not valid JSON"},
		{"truncated JSON", "stars", `{"recipient_username":"pandus","quantity":10`, 422, "VALIDATION_ERROR", "not valid JSON"},
		{"a JSON array", "stars", `[{"recipient_username":"pandus","quantity":100}]`, 422, "VALIDATION_ERROR", "JSON object"},
		{"JSON null", "stars", `null`, 422, "VALIDATION_ERROR", "JSON object"},
		{"trailing data", "stars", starsBody("pandus", 100, "") + ` {}`, 422, "VALIDATION_ERROR", "more data"},
		{"trailing garbage", "stars", starsBody("pandus", 100, "") + `x`, 422, "VALIDATION_ERROR", "more data"},
		{"empty body", "stars", ``, 422, "VALIDATION_ERROR", "empty"},
		{"70 KiB body", "stars", big, 413, "PAYLOAD_TOO_LARGE", "body"},
		{"months missing", "premium", `{"recipient_username":"pandus"}`, 422, "VALIDATION_ERROR", "months"},
		{"months not allowed", "premium", `{"recipient_username":"pandus","months":4}`, 422, "VALIDATION_ERROR", "months must be 3, 6 or 12"},
		{"months wrong type", "premium", `{"recipient_username":"pandus","months":"3"}`, 422, "VALIDATION_ERROR", "months must be an integer"},
		{"quantity on a premium order", "premium", `{"recipient_username":"pandus","months":3,"quantity":100}`, 422, "VALIDATION_ERROR", `"quantity"`},
	}
	for _, withKey := range []bool{false, true} {
		for _, row := range rows {
			name := row.name
			if withKey {
				name += " (with Idempotency-Key)"
			}
			t.Run(name, func(t *testing.T) {
				var h []string
				if withKey {
					h = []string{"Idempotency-Key", uuid.NewString()}
				}
				r := te.call(t, "POST", "/api/v1/orders/"+row.path, key, row.body, h...).must(t, row.code, row.errCode)
				if !strings.Contains(r.Env.ErrorMessage, row.named) {
					t.Errorf("error_message %q does not name %q", r.Env.ErrorMessage, row.named)
				}
			})
		}
	}
	for _, k := range []string{strings.Repeat("k", 256), "naïve-key", "tab\tkey"} {
		r := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, ""), "Idempotency-Key", k).
			must(t, 422, "VALIDATION_ERROR")
		if !strings.Contains(r.Env.ErrorMessage, "Idempotency-Key") {
			t.Errorf("bad key %q: %s", k, r.Env.ErrorMessage)
		}
	}
	r := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, ""),
		"Idempotency-Key", "a", "Idempotency-Key", "b").must(t, 422, "VALIDATION_ERROR")
	if !strings.Contains(r.Env.ErrorMessage, "Idempotency-Key") {
		t.Errorf("two keys: %s", r.Env.ErrorMessage)
	}
	if l := te.call(t, "GET", "/api/v1/orders", key, "").must(t, 200).orders(t); len(l.Items) != 0 {
		t.Fatalf("invalid requests created %d orders", len(l.Items))
	}
}

func TestQueryAndPathValidation(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)
	for _, c := range []struct{ path, named string }{
		{"/api/v1/orders/abc", "id"},
		{"/api/v1/orders/0", "id"},
		{"/api/v1/orders/-3", "id"},
		{"/api/v1/orders/99999999999999999999", "id"},
		{"/api/v1/orders/abc/cancel", "id"},
		{"/api/v1/orders?limit=0", "limit"},
		{"/api/v1/orders?limit=101", "limit"},
		{"/api/v1/orders?limit=ten", "limit"},
		{"/api/v1/orders?cursor=nonsense", "cursor"},
		{"/api/v1/orders?status=lost", "status"},
		{"/api/v1/orders?order_type=gifts", "order_type"},
		{"/api/v1/balance/transactions?limit=500", "limit"},
		{"/api/v1/balance/transactions?cursor=!!", "cursor"},
		{"/api/v1/orders/stats/summary?from=yesterday", "from"},
		{"/api/v1/orders/stats/summary?to=2026-13-01T00:00:00Z", "to"},
		{"/api/v1/orders/stats/summary?from=2026-04-17T00:00:00Z&to=2026-04-16T00:00:00Z", "from"},
		{"/api/v1/pricing/estimate/stars", "quantity"},
		{"/api/v1/pricing/estimate/stars?quantity=many", "quantity"},
		{"/api/v1/pricing/estimate/stars?quantity=20000", "quantity"},
		{"/api/v1/pricing/estimate/premium?months=5", "months"},
		{"/api/v1/pricing/estimate/premium?months=-9223372036854775808", "months"},
		{"/api/v1/recipients/stars", "username"},
		{"/api/v1/recipients/premium?username=x!", "username"},
		{"/api/v1/orders/by-reference/" + strings.Repeat("r", 129), "client_reference"},
	} {
		method := "GET"
		if strings.HasSuffix(c.path, "/cancel") {
			method = "POST"
		}
		r := te.call(t, method, c.path, key, "").must(t, 422, "VALIDATION_ERROR")
		if !strings.Contains(r.Env.ErrorMessage, c.named) {
			t.Errorf("%s: %q does not name %s", c.path, r.Env.ErrorMessage, c.named)
		}
	}
}

// A partner never sees another partner's order.
func TestPartnersAreIsolated(t *testing.T) {
	te := newEnv(t)
	_, keyA := te.Partner(t)
	_, keyB := te.Partner(t)
	o := te.call(t, "POST", "/api/v1/orders/stars", keyA, starsBody("pandus", 100, `"client_reference":"shared-ref"`)).
		must(t, 200).order(t)
	id := itoa(int(o.ID))
	te.call(t, "GET", "/api/v1/orders/"+id, keyB, "").must(t, 404, "NOT_FOUND")
	te.call(t, "GET", "/api/v1/orders/by-memo/"+*o.PaymentMemo, keyB, "").must(t, 404, "NOT_FOUND")
	if l := te.call(t, "GET", "/api/v1/orders/by-reference/shared-ref", keyB, "").must(t, 200).orders(t); len(l.Items) != 0 || l.NextCursor != nil {
		t.Errorf("B finds A's order by reference: %+v", l)
	}
	te.call(t, "POST", "/api/v1/orders/"+id+"/cancel", keyB, "").must(t, 404, "NOT_FOUND")
	if l := te.call(t, "GET", "/api/v1/orders", keyB, "").must(t, 200).orders(t); len(l.Items) != 0 {
		t.Errorf("B lists A's orders: %+v", l.Items)
	}
	var st struct {
		TotalOrders int64 `json:"total_orders"`
	}
	te.call(t, "GET", "/api/v1/orders/stats/summary", keyB, "").must(t, 200).data(t, &st)
	if st.TotalOrders != 0 {
		t.Errorf("B's stats count A's order")
	}
	// A still sees it, and a cancel of it by A works once.
	te.call(t, "GET", "/api/v1/orders/"+id, keyA, "").must(t, 200)
	c := te.call(t, "POST", "/api/v1/orders/"+id+"/cancel", keyA, "").must(t, 200).order(t)
	if c.Status != "cancelled" {
		t.Errorf("cancel: %s", c.Status)
	}
	te.call(t, "POST", "/api/v1/orders/"+id+"/cancel", keyA, "{}").must(t, 409, "ORDER_NOT_CANCELLABLE")
	te.call(t, "POST", "/api/v1/orders/"+id+"/cancel", keyA, `{"reason":"x"}`).must(t, 422, "VALIDATION_ERROR")
	te.call(t, "GET", "/api/v1/orders/12345", keyA, "").must(t, 404, "NOT_FOUND")
}

// Paging over 250 orders newest first with limit 7 sees every order exactly
// once, while new orders (this partner's and another's) keep arriving.
func TestPagingWhileOrdersArrive(t *testing.T) {
	te := newEnv(t)
	p, key := te.Partner(t)
	other, _ := te.Partner(t)
	ctx := context.Background()
	create := func(pid int64) int64 {
		o, _, err := te.Shop.CreateOrder(ctx, pid, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100})
		if err != nil {
			t.Error(err)
			return 0
		}
		return o.ID
	}
	var mu sync.Mutex
	var ids []int64
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				id := create(p.ID)
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
				if (w+i)%5 == 0 {
					create(other.ID)
				}
			}
		}()
	}
	wg.Wait()
	slices.Sort(ids)
	slices.Reverse(ids)

	var seen []int64
	cursor, pages := "", 0
	for {
		path := "/api/v1/orders?limit=7"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		l := te.call(t, "GET", path, key, "").must(t, 200).orders(t)
		pages++
		for _, o := range l.Items {
			seen = append(seen, o.ID)
		}
		create(p.ID) // newer than everything paged so far
		create(other.ID)
		if l.NextCursor == nil {
			break
		}
		if len(l.Items) != 7 {
			t.Fatalf("page %d has %d items and a next_cursor", pages, len(l.Items))
		}
		cursor = *l.NextCursor
	}
	if !slices.Equal(seen, ids) {
		t.Fatalf("paging saw %d orders (%v…), want the 250 originals newest first", len(seen), seen[:min(10, len(seen))])
	}
	if pages != 36 {
		t.Errorf("%d pages, want 36", pages)
	}
	// Filters page the same way.
	l := te.call(t, "GET", "/api/v1/orders?limit=100&status=pending_payment&order_type=stars", key, "").must(t, 200).orders(t)
	if len(l.Items) != 100 || l.NextCursor == nil {
		t.Errorf("filtered page: %d items", len(l.Items))
	}
	te.call(t, "GET", "/api/v1/orders?order_type=premium", key, "").must(t, 200)
}

// GET /orders/by-reference/{ref} pages like GET /orders: newest first,
// limit (default 20) and cursor; more than 100 orders carrying one
// reference are all listed, each once, while new ones arrive.
func TestOrdersByReferencePaging(t *testing.T) {
	te := newEnv(t)
	p, key := te.Partner(t)
	other, keyOther := te.Partner(t)
	ctx := context.Background()
	create := func(pid int64, ref string) int64 {
		o, _, err := te.Shop.CreateOrder(ctx, pid, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus", Quantity: 100, ClientReference: &ref})
		if err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	var ids []int64
	for i := range 130 {
		ids = append(ids, create(p.ID, "invoice-9"))
		if i%10 == 0 {
			create(p.ID, "invoice-90")
			create(other.ID, "invoice-9")
		}
	}
	slices.Reverse(ids)

	first := te.call(t, "GET", "/api/v1/orders/by-reference/invoice-9", key, "").must(t, 200).orders(t)
	if len(first.Items) != 20 || first.NextCursor == nil || first.Items[0].ID != ids[0] {
		t.Fatalf("default page: %d items, next_cursor %v", len(first.Items), first.NextCursor)
	}
	var seen []int64
	cursor, pages := "", 0
	for {
		path := "/api/v1/orders/by-reference/invoice-9?limit=50"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		l := te.call(t, "GET", path, key, "").must(t, 200).orders(t)
		pages++
		for _, o := range l.Items {
			if o.ClientReference == nil || *o.ClientReference != "invoice-9" {
				t.Fatalf("order %d with reference %v on the page", o.ID, o.ClientReference)
			}
			seen = append(seen, o.ID)
		}
		create(p.ID, "invoice-9") // newer than everything paged so far
		if l.NextCursor == nil {
			break
		}
		if len(l.Items) != 50 {
			t.Fatalf("page %d has %d items and a next_cursor", pages, len(l.Items))
		}
		cursor = *l.NextCursor
	}
	if !slices.Equal(seen, ids) || pages != 3 {
		t.Fatalf("paging saw %d orders in %d pages, want the 130 newest first in 3", len(seen), pages)
	}
	if l := te.call(t, "GET", "/api/v1/orders/by-reference/invoice-9?limit=100", keyOther, "").must(t, 200).orders(t); len(l.Items) != 13 || l.NextCursor != nil {
		t.Errorf("the other partner's reference: %d items, next_cursor %v", len(l.Items), l.NextCursor)
	}
	for _, c := range []struct{ query, named string }{
		{"limit=0", "limit"}, {"limit=101", "limit"}, {"limit=ten", "limit"},
		{"cursor=nonsense", "cursor"}, {"cursor=" + url.QueryEscape(shop.EncodeCursor(0)), "cursor"},
	} {
		r := te.call(t, "GET", "/api/v1/orders/by-reference/invoice-9?"+c.query, key, "").must(t, 422, "VALIDATION_ERROR")
		if !strings.Contains(r.Env.ErrorMessage, c.named) {
			t.Errorf("%s: %q does not name %s", c.query, r.Env.ErrorMessage, c.named)
		}
	}
}

func TestPricingRecipientsStatsBalanceHealth(t *testing.T) {
	te := newEnv(t)
	_, key := te.Partner(t)

	e := te.call(t, "GET", "/api/v1/pricing/estimate/stars?quantity=100", key, "").must(t, 200)
	if got, want := string(e.Env.Data), `{"order_type":"stars","quantity":100,"base_usd":1.5,"price_usd":1.575,"price_ton":0.4375,"price_nanoton":"437500000","ton_usd":3.6,"fee_percent":5,"rate_source":"fixed","rate_updated_at":`; !strings.HasPrefix(got, want) {
		t.Errorf("estimate\n got %s\nwant %s…", got, want)
	}
	e = te.call(t, "GET", "/api/v1/pricing/estimate/premium?months=12", key, "").must(t, 200)
	if f := e.fields(t); string(f["months"]) != "12" || string(f["price_usd"]) != "30.4395" || string(f["price_nanoton"]) != `"8455416667"` {
		t.Errorf("premium estimate %s", e.Env.Data)
	}
	fee := te.call(t, "GET", "/api/v1/pricing/fee", key, "").must(t, 200)
	if got, want := string(fee.Env.Data), `{"fee_percent":5,"stars":{"min":50,"max":10000,"usd_per_star":0.015},"premium_usd":{"3":11.99,"6":15.99,"12":28.99},"order_ttl_seconds":900}`; got != want {
		t.Errorf("fee\n got %s\nwant %s", got, want)
	}
	rate := te.call(t, "GET", "/api/v1/pricing/ton-rate", key, "").must(t, 200).fields(t)
	if string(rate["ton_usd"]) != "3.6" || string(rate["source"]) != `"fixed"` {
		t.Errorf("rate %v", rate)
	}
	rc := te.call(t, "GET", "/api/v1/recipients/stars?username=@pandus", key, "").must(t, 200)
	if string(rc.Env.Data) != `{"username":"pandus","can_receive":true,"reason":null}` {
		t.Errorf("recipient %s", rc.Env.Data)
	}
	rc = te.call(t, "GET", "/api/v1/recipients/premium?username=ghost_missing", key, "").must(t, 200)
	var rv struct {
		CanReceive bool    `json:"can_receive"`
		Reason     *string `json:"reason"`
	}
	rc.data(t, &rv)
	if rv.CanReceive || rv.Reason == nil || *rv.Reason == "" {
		t.Errorf("missing recipient %s", rc.Env.Data)
	}

	te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, "")).must(t, 200)
	te.call(t, "POST", "/api/v1/orders/premium", key, `{"recipient_username":"pandus","months":3}`).must(t, 200)
	st := te.call(t, "GET", "/api/v1/orders/stats/summary?from=2020-01-01T00:00:00Z", key, "").must(t, 200)
	if got := keysOf(t, st.Env.Data); !slices.Equal(got, []string{"from", "to", "total_orders", "by_status", "by_type",
		"stars_delivered", "premium_months_delivered", "ton_volume_paid", "usdt_volume_paid"}) {
		t.Errorf("stats fields %v", got)
	}
	sf := st.fields(t)
	if string(sf["total_orders"]) != "2" || string(sf["from"]) != `"2020-01-01T00:00:00Z"` || string(sf["to"]) != "null" ||
		!strings.Contains(string(sf["by_type"]), `"premium":1`) || !strings.Contains(string(sf["by_status"]), `"pending_payment":2`) ||
		string(sf["ton_volume_paid"]) != `{"ton":0,"nanoton":"0"}` {
		t.Errorf("stats %s", st.Env.Data)
	}

	b := te.call(t, "GET", "/api/v1/balance", key, "").must(t, 200)
	var bv struct {
		BalanceTON     json.Number `json:"balance_ton"`
		BalanceNanoton string      `json:"balance_nanoton"`
		TopupAddress   string      `json:"topup_address"`
	}
	b.data(t, &bv)
	if bv.BalanceTON != "0" || bv.BalanceNanoton != "0" || !strings.HasPrefix(bv.TopupAddress, "0Q") || bv.TopupAddress == te.Shop.ServiceAddress() {
		t.Errorf("balance %s", b.Env.Data)
	}
	if l := te.call(t, "GET", "/api/v1/balance/transactions", key, "").must(t, 200); string(l.Env.Data) != `{"items":[],"next_cursor":null}` {
		t.Errorf("empty ledger %s", l.Env.Data)
	}

	h := te.call(t, "GET", "/api/v1/health", "", "").must(t, 200)
	var hv struct {
		Status string `json:"status"`
	}
	h.data(t, &hv)
	if hv.Status != "ok" {
		t.Errorf("health %s", h.Env.Data)
	}
	if h.Header.Get("RateLimit-Limit") != "" {
		t.Error("health is rate limited")
	}
}

func TestAuth(t *testing.T) {
	te := newEnv(t)
	p, key := te.Partner(t)
	for name, h := range map[string][]string{
		"no header":      nil,
		"basic scheme":   {"Authorization", "Basic dXNlcjpwYXNz"},
		"empty bearer":   {"Authorization", "Bearer "},
		"unknown key":    {"Authorization", "Bearer osk_" + strings.Repeat("A", 43)},
		"not an osk key": {"Authorization", "Bearer sk_live_123"},
	} {
		r := te.call(t, "GET", "/api/v1/balance", "", "", h...).must(t, 401, "UNAUTHORIZED")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", name)
		}
	}
	te.call(t, "GET", "/api/v1/balance", "", "", "Authorization", "bearer "+key).must(t, 200)
	// A rotated key is dead at once.
	if _, err := te.Shop.RotateKey(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
	te.call(t, "GET", "/api/v1/balance", key, "").must(t, 401, "UNAUTHORIZED")
	te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, "")).must(t, 401, "UNAUTHORIZED")
}

func TestRequestID(t *testing.T) {
	te := newEnv(t)
	r := te.call(t, "GET", "/api/v1/health", "", "", "X-Request-Id", "client-req.42")
	if r.Header.Get("X-Request-Id") != "client-req.42" {
		t.Errorf("sane incoming id not kept: %q", r.Header.Get("X-Request-Id"))
	}
	r = te.call(t, "GET", "/api/v1/health", "", "", "X-Request-Id", "bad id <script>")
	if _, err := uuid.Parse(r.Header.Get("X-Request-Id")); err != nil {
		t.Errorf("insane incoming id kept: %q", r.Header.Get("X-Request-Id"))
	}
	if !strings.Contains(te.log.String(), `"request_id":"client-req.42"`) {
		t.Error("access log lacks the request id")
	}
}

// expires_in (seconds, 60–86400) replaces orders.ttl for one ton_memo order;
// outside the range, not an integer, or on a balance order it is 422 naming
// the field; left out, orders.ttl (15 min) applies.
func TestOrderExpiresIn(t *testing.T) {
	te := newEnv(t, withClock())
	_, key := te.Partner(t)
	expiresAfter := func(o orderJSON) time.Duration {
		t.Helper()
		c, err1 := time.Parse(time.RFC3339, o.CreatedAt)
		e, err2 := time.Parse(time.RFC3339, *o.ExpiresAt)
		if err1 != nil || err2 != nil {
			t.Fatalf("times %q %v: %v %v", o.CreatedAt, o.ExpiresAt, err1, err2)
		}
		return e.Sub(c)
	}
	for extra, want := range map[string]time.Duration{
		"":                   15 * time.Minute,
		`"expires_in":60`:    time.Minute,
		`"expires_in":86400`: 24 * time.Hour,
		`"expires_in":3600`:  time.Hour,
	} {
		o := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, extra)).must(t, 200).order(t)
		if got := expiresAfter(o); got != want {
			t.Errorf("%s: expires after %s, want %s", extra, got, want)
		}
	}
	p := te.call(t, "POST", "/api/v1/orders/premium", key, `{"recipient_username":"pandus","months":3,"expires_in":120}`).must(t, 200).order(t)
	if got := expiresAfter(p); got != 2*time.Minute {
		t.Errorf("premium expires after %s", got)
	}
	for _, extra := range []string{`"expires_in":59`, `"expires_in":86401`, `"expires_in":0`, `"expires_in":-60`,
		`"expires_in":60.5`, `"expires_in":"600"`, `"expires_in":60,"payment_method":"balance"`} {
		e := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, extra)).must(t, 422, "VALIDATION_ERROR")
		if !strings.Contains(e.Env.ErrorMessage, "expires_in") {
			t.Errorf("%s: message %q does not name expires_in", extra, e.Env.ErrorMessage)
		}
	}
	// The short deadline is the one the expiry loop uses.
	o := te.call(t, "POST", "/api/v1/orders/stars", key, starsBody("pandus", 100, `"expires_in":60`)).must(t, 200).order(t)
	te.Clock.Advance(61 * time.Second)
	if _, err := te.Shop.ExpireDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := te.call(t, "GET", "/api/v1/orders/"+itoa(int(o.ID)), key, "").must(t, 200).order(t); got.Status != "expired" {
		t.Fatalf("after 61 s: %s", got.Status)
	}
}
