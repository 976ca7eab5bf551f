package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/view"
)

// apiFunc is a handler body: it returns the data of a 200 answer or an error.
type apiFunc func(r *http.Request) (any, error)

// api adapts an apiFunc: success → 200 envelope, error → writeError.
func (srv *server) api(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := fn(r)
		if err != nil {
			srv.writeError(w, r, err)
			return
		}
		srv.writeOK(w, r, data)
	})
}

// Request bodies. Pointers tell a missing field from a zero one.

type starsOrderBody struct {
	RecipientUsername *string `json:"recipient_username"`
	Quantity          *int64  `json:"quantity"`
	PaymentMethod     *string `json:"payment_method"`
	PaymentCurrency   *string `json:"payment_currency"`
	ClientReference   *string `json:"client_reference"`
	ReturnURL         *string `json:"return_url"`
	ExpiresIn         *int64  `json:"expires_in"`
}

type premiumOrderBody struct {
	RecipientUsername *string `json:"recipient_username"`
	Months            *int    `json:"months"`
	PaymentMethod     *string `json:"payment_method"`
	PaymentCurrency   *string `json:"payment_currency"`
	ClientReference   *string `json:"client_reference"`
	ReturnURL         *string `json:"return_url"`
	ExpiresIn         *int64  `json:"expires_in"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// handleCreateOrder is POST /orders/stars and /orders/premium.
func (srv *server) handleCreateOrder(kind domain.Kind) http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		req := shop.OrderRequest{Kind: kind}
		if kind == domain.KindStars {
			var b starsOrderBody
			if err := decodeJSON(r, &b); err != nil {
				return nil, err
			}
			if b.RecipientUsername == nil {
				return nil, invalid("recipient_username", "recipient_username is required")
			}
			if b.Quantity == nil {
				return nil, invalid("quantity", "quantity is required")
			}
			req.RecipientUsername, req.Quantity = *b.RecipientUsername, *b.Quantity
			req.PaymentMethod, req.PaymentCurrency, req.ClientReference = domain.Method(deref(b.PaymentMethod)), domain.Currency(deref(b.PaymentCurrency)), b.ClientReference
			req.ExpiresIn, req.ReturnURL = b.ExpiresIn, b.ReturnURL
		} else {
			var b premiumOrderBody
			if err := decodeJSON(r, &b); err != nil {
				return nil, err
			}
			if b.RecipientUsername == nil {
				return nil, invalid("recipient_username", "recipient_username is required")
			}
			if b.Months == nil {
				return nil, invalid("months", "months is required")
			}
			req.RecipientUsername, req.Months = *b.RecipientUsername, *b.Months
			req.PaymentMethod, req.PaymentCurrency, req.ClientReference = domain.Method(deref(b.PaymentMethod)), domain.Currency(deref(b.PaymentCurrency)), b.ClientReference
			req.ExpiresIn, req.ReturnURL = b.ExpiresIn, b.ReturnURL
		}
		ri := infoFrom(r.Context())
		req.IdempotencyKey = ri.idemKey
		o, replayed, err := srv.shop.CreateOrder(r.Context(), partnerID(r.Context()), req)
		if err != nil {
			return nil, err
		}
		// A replay is the order as it was created: the first answer again.
		ri.replayed = replayed
		return srv.orderView(o), nil
	})
}

// handleGetOrder is GET /orders/{id}.
func (srv *server) handleGetOrder() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := pathID(r)
		if err != nil {
			return nil, err
		}
		o, err := srv.shop.Order(r.Context(), partnerID(r.Context()), id)
		if err != nil {
			return nil, err
		}
		return srv.orderView(o), nil
	})
}

// handleListOrders is GET /orders?status=&order_type=&limit=&cursor=.
func (srv *server) handleListOrders() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		limit, err := queryInt(r, "limit", 1, 100, 20)
		if err != nil {
			return nil, err
		}
		q := r.URL.Query()
		page, err := srv.shop.ListOrders(r.Context(), partnerID(r.Context()), shop.OrderFilter{
			Status: domain.Status(q.Get("status")), Type: domain.Kind(q.Get("order_type")), Limit: int(limit), Cursor: q.Get("cursor")})
		if err != nil {
			return nil, err
		}
		return listView(page.Items, page.NextCursor, srv.orderView), nil
	})
}

// handleOrderByMemo is GET /orders/by-memo/{memo}.
func (srv *server) handleOrderByMemo() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		o, err := srv.shop.OrderByMemo(r.Context(), partnerID(r.Context()), r.PathValue("memo"))
		if err != nil {
			return nil, err
		}
		return srv.orderView(o), nil
	})
}

// handleOrdersByReference is GET /orders/by-reference/{ref}?limit=&cursor=:
// the partner's orders carrying it, newest first, paged like GET /orders; a
// list, so an empty one when none does.
func (srv *server) handleOrdersByReference() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		limit, err := queryInt(r, "limit", 1, 100, 20)
		if err != nil {
			return nil, err
		}
		page, err := srv.shop.OrdersByReference(r.Context(), partnerID(r.Context()), r.PathValue("ref"), r.URL.Query().Get("cursor"), int(limit))
		if err != nil {
			return nil, err
		}
		return listView(page.Items, page.NextCursor, srv.orderView), nil
	})
}

// handleStats is GET /orders/stats/summary?from=&to=.
func (srv *server) handleStats() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		from, err := queryTime(r, "from")
		if err != nil {
			return nil, err
		}
		to, err := queryTime(r, "to")
		if err != nil {
			return nil, err
		}
		st, err := srv.shop.OrderStats(r.Context(), partnerID(r.Context()), from, to)
		if err != nil {
			return nil, err
		}
		return statsView(st), nil
	})
}

// handleCancelOrder is POST /orders/{id}/cancel (no body, or {}).
func (srv *server) handleCancelOrder() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := pathID(r)
		if err != nil {
			return nil, err
		}
		if err := decodeOptional(r, &struct{}{}); err != nil {
			return nil, err
		}
		o, err := srv.shop.CancelOrder(r.Context(), partnerID(r.Context()), id)
		if err != nil {
			return nil, err
		}
		return srv.orderView(o), nil
	})
}

// handleRate is GET /pricing/ton-rate.
func (srv *server) handleRate() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		rate, err := srv.shop.Rate(r.Context())
		if err != nil {
			return nil, err
		}
		return RateView{TonUSD: view.Decimal(rate.TonUSD), Source: rate.Source, UpdatedAt: view.Time(rate.UpdatedAt)}, nil
	})
}

// handleFee is GET /pricing/fee.
func (srv *server) handleFee() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		return feeView(srv.shop.Fees()), nil
	})
}

// handleEstimate is GET /pricing/estimate/stars?quantity= and
// /pricing/estimate/premium?months=.
func (srv *server) handleEstimate(kind domain.Kind) http.Handler {
	param := "quantity"
	if kind == domain.KindPremium {
		param = "months"
	}
	return srv.api(func(r *http.Request) (any, error) {
		n, err := queryRequiredInt(r, param)
		if err != nil {
			return nil, err
		}
		q, err := srv.shop.Estimate(r.Context(), kind, n)
		if err != nil {
			return nil, err
		}
		return estimateView(q), nil
	})
}

// handleRecipient is GET /recipients/stars?username= and /recipients/premium.
func (srv *server) handleRecipient(kind domain.Kind) http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		rc, err := srv.shop.CheckRecipient(r.Context(), kind, r.URL.Query().Get("username"))
		if err != nil {
			return nil, err
		}
		return RecipientView{Username: rc.Username, CanReceive: rc.CanReceive, Reason: view.StrPtr(rc.Reason)}, nil
	})
}

// handleBalance is GET /balance.
func (srv *server) handleBalance() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		b, err := srv.shop.Balance(r.Context(), partnerID(r.Context()))
		if err != nil {
			return nil, err
		}
		return BalanceView{BalanceTON: view.TON(b.Nano), BalanceNanoton: view.Nano(b.Nano),
			BalanceUSDT: view.USDT(b.USDT), BalanceUSDTUnits: view.Nano(b.USDT), TopupAddress: b.TopupAddress}, nil
	})
}

// handleLedger is GET /balance/transactions?limit=&cursor=, newest first.
func (srv *server) handleLedger() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		limit, err := queryInt(r, "limit", 1, 100, 20)
		if err != nil {
			return nil, err
		}
		page, err := srv.shop.Ledger(r.Context(), partnerID(r.Context()), r.URL.Query().Get("cursor"), int(limit))
		if err != nil {
			return nil, err
		}
		return listView(page.Items, page.NextCursor, view.LedgerOf), nil
	})
}

// handleHealth is GET /health (no auth): 200 with status ok or degraded.
func (srv *server) handleHealth() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		return srv.shop.Health(r.Context()), nil
	})
}

type sandboxPartnerBody struct {
	Name *string `json:"name"`
}

// handleSandboxPartner is POST /sandbox/partners (sandbox only, no auth):
// a partner and its key, without Telegram.
func (srv *server) handleSandboxPartner() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		var b sandboxPartnerBody
		if err := decodeOptional(r, &b); err != nil {
			return nil, err
		}
		name := strings.TrimSpace(deref(b.Name))
		if len(name) > 64 {
			return nil, invalid("name", "name must be at most 64 characters")
		}
		if name == "" {
			name = "sandbox partner"
		}
		p, err := srv.shop.CreatePartner(r.Context(), name)
		if err != nil {
			return nil, err
		}
		k, err := srv.shop.IssueKey(r.Context(), p.ID)
		if err != nil {
			return nil, err
		}
		return SandboxPartnerView{PartnerID: p.ID, APIKey: k.Key}, nil
	})
}

type sandboxTransferBody struct {
	Asset         *string         `json:"asset"`
	ToAddress     *string         `json:"to_address"`
	AmountNanoton *string         `json:"amount_nanoton"`
	AmountTON     json.RawMessage `json:"amount_ton"`
	AmountUnits   *string         `json:"amount_units"`
	Comment       *string         `json:"comment"`
}

// handleSandboxTransfer is POST /sandbox/transfers (sandbox only): an
// incoming transfer lands on the simulated chain. For TON (asset absent or
// "TON") the amount is amount_nanoton (a decimal string) or amount_ton (a
// JSON number with at most 9 decimals, read exactly from its text); for
// "USDT" and "FAKE_USDT" it is amount_units (USDT units as a decimal string).
func (srv *server) handleSandboxTransfer() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		var b sandboxTransferBody
		if err := decodeJSON(r, &b); err != nil {
			return nil, err
		}
		if b.ToAddress == nil {
			return nil, invalid("to_address", "to_address is required")
		}
		if asset := deref(b.Asset); asset == string(domain.CurrencyUSDT) || asset == shop.AssetFakeUSDT {
			if b.AmountNanoton != nil || (len(b.AmountTON) > 0 && string(b.AmountTON) != "null") {
				return nil, invalid("amount_units", "a %s transfer takes amount_units (USDT units, 1 USDT = \"1000000\"), not a TON amount", asset)
			}
			if b.AmountUnits == nil {
				return nil, invalid("amount_units", "amount_units is required for asset %s", asset)
			}
			v, err := money.ParseNano(*b.AmountUnits)
			if err != nil || v == 0 {
				return nil, invalid("amount_units", "amount_units must be a positive whole number of USDT units as a string (1 USDT = \"1000000\")")
			}
			hash, err := srv.shop.SandboxTransfer(r.Context(), partnerID(r.Context()), shop.SandboxTransferRequest{
				Asset: asset, ToAddress: *b.ToAddress, AmountUnits: v, Comment: deref(b.Comment)})
			if err != nil {
				return nil, err
			}
			return SandboxTransferView{TxHash: hash}, nil
		} else if asset != "" && asset != string(domain.CurrencyTON) {
			return nil, invalid("asset", "asset must be TON, USDT or FAKE_USDT")
		}
		if b.AmountUnits != nil {
			return nil, invalid("amount_units", "amount_units is for asset USDT or FAKE_USDT; a TON transfer takes amount_nanoton or amount_ton")
		}
		hasTON := len(b.AmountTON) > 0 && string(b.AmountTON) != "null"
		var nano int64
		switch {
		case b.AmountNanoton != nil && hasTON:
			return nil, invalid("amount_nanoton", "send either amount_nanoton or amount_ton, not both")
		case b.AmountNanoton != nil:
			v, err := money.ParseNano(*b.AmountNanoton)
			if err != nil || v == 0 {
				return nil, invalid("amount_nanoton", "amount_nanoton must be a positive whole number of nanotons as a string, e.g. \"437500000\"")
			}
			nano = v
		case hasTON:
			text := string(b.AmountTON)
			if !view.IsJSONNumber(text) {
				return nil, invalid("amount_ton", "amount_ton must be a number, got %s", jsonKind(text[0]))
			}
			v, err := money.ParseTON(text)
			if err != nil || v == 0 {
				return nil, invalid("amount_ton", "amount_ton must be a positive number of TON with at most 9 decimals, e.g. 0.4375")
			}
			nano = v
		default:
			return nil, invalid("amount_nanoton", "amount_nanoton or amount_ton is required")
		}
		hash, err := srv.shop.SandboxTransfer(r.Context(), partnerID(r.Context()), shop.SandboxTransferRequest{
			ToAddress: *b.ToAddress, AmountNano: nano, Comment: deref(b.Comment)})
		if err != nil {
			return nil, err
		}
		return SandboxTransferView{TxHash: hash}, nil
	})
}
