package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/view"
)

// The operator's routes under /api/v1/admin (see adminRoutes): present only
// when admin.token is set, authenticated with Authorization: Bearer
// <admin.token>. Partner keys never open them.

// AdminRoutes lists the operator's routes (served only when admin.token is set).
func AdminRoutes() []Route {
	defs := (&server{}).adminRoutes()
	out := make([]Route, len(defs))
	for i, d := range defs {
		out[i] = d.Route
	}
	return out
}

var errAdminUnauthorized = &shop.Error{Code: shop.CodeUnauthorized, Field: "Authorization",
	Message: "missing or wrong admin token; send Authorization: Bearer <admin.token>"}

// adminAuth admits a request carrying Authorization: Bearer <admin.token>.
// The comparison is constant-time over SHA-256 digests, so neither the
// token's content nor its length leaks through timing. A failure is logged
// at WARN (client IP, route, reason; never the token) and spends one of the
// address's failed-authentication tokens, shared with the partner routes.
func (srv *server) adminAuth(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(srv.adminToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if srv.authBlocked(w, r) {
			return
		}
		h := r.Header.Get("Authorization")
		scheme, token, _ := strings.Cut(h, " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if srv.adminToken == "" || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			reason := "wrong token"
			switch {
			case h == "":
				reason = "missing"
			case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "":
				reason = "malformed"
			}
			srv.authFailed(w, r, "admin", reason, errAdminUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// adminID parses the {id} path value of an admin route.
func adminID(r *http.Request, what string) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] == '+' {
		return 0, invalid("id", "id must be a positive integer %s id, got %q", what, clip(s))
	}
	return id, nil
}

// adminPage reads ?limit (1–500, default 100) and ?cursor (next_cursor of the
// previous page) of an ascending admin list.
func adminPage(r *http.Request) (after int64, limit int, err error) {
	l, err := queryInt(r, "limit", 1, 500, 100)
	if err != nil {
		return 0, 0, err
	}
	after, err = shop.DecodeCursor(r.URL.Query().Get("cursor"))
	return after, int(l), err
}

// nextCursor is the cursor after the last item of a full page ("" when the
// page was the last).
func nextCursor(n, limit int, lastID int64) string {
	if n < limit {
		return ""
	}
	return shop.EncodeCursor(lastID)
}

// UnmatchedView is one unmatched deposit as the operator sees it.
type UnmatchedView struct {
	ID               int64       `json:"id"`
	TxHash           string      `json:"tx_hash"`
	LT               string      `json:"lt"`
	ChainTime        string      `json:"chain_time"`
	From             string      `json:"from"`
	To               string      `json:"to"`
	AmountTON        json.Number `json:"amount_ton"`
	AmountNanoton    string      `json:"amount_nanoton"`
	Comment          *string     `json:"comment"`
	PayloadHex       *string     `json:"payload_hex,omitempty"`
	SeenAt           string      `json:"seen_at"`
	AssignedAt       *string     `json:"assigned_at"`
	AssignedLedgerID *int64      `json:"assigned_ledger_id"`
}

func unmatchedView(u *domain.Unmatched) UnmatchedView {
	v := UnmatchedView{ID: u.ID, TxHash: u.TxHash, LT: strconv.FormatUint(u.LT, 10), ChainTime: view.Time(u.ChainTime),
		From: u.From, To: u.To, AmountTON: view.TON(u.AmountNano), AmountNanoton: view.Nano(u.AmountNano),
		Comment: view.StrPtr(u.Comment), PayloadHex: view.StrPtr(u.PayloadHex), SeenAt: view.Time(u.SeenAt), AssignedAt: view.TimePtr(u.AssignedAt)}
	if u.AssignedLedgerID != 0 {
		id := u.AssignedLedgerID
		v.AssignedLedgerID = &id
	}
	return v
}

// handleAdminUnmatched is GET /admin/unmatched?limit=&cursor=, oldest first.
func (srv *server) handleAdminUnmatched() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		after, limit, err := adminPage(r)
		if err != nil {
			return nil, err
		}
		us, err := srv.shop.UnmatchedDeposits(r.Context(), after, limit)
		if err != nil {
			return nil, err
		}
		var last int64
		if len(us) > 0 {
			last = us[len(us)-1].ID
		}
		return listView(us, nextCursor(len(us), limit, last), unmatchedView), nil
	})
}

type assignBody struct {
	OrderID   *int64  `json:"order_id"`
	PartnerID *int64  `json:"partner_id"`
	Operator  *string `json:"operator"`
}

// AssignView is the answer of POST /admin/unmatched/{id}/assign.
type AssignView struct {
	Unmatched UnmatchedView `json:"unmatched"`
	Ledger    view.Ledger   `json:"ledger"`
	PartnerID int64         `json:"partner_id"`
}

// handleAdminAssign is POST /admin/unmatched/{id}/assign {order_id | partner_id}.
func (srv *server) handleAdminAssign() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := adminID(r, "unmatched deposit")
		if err != nil {
			return nil, err
		}
		var b assignBody
		if err := decodeJSON(r, &b); err != nil {
			return nil, err
		}
		a, err := srv.shop.AssignUnmatched(r.Context(), id, shop.AssignTarget{OrderID: deref(b.OrderID), PartnerID: deref(b.PartnerID),
			By: actor(r, b.Operator)})
		if err != nil {
			return nil, err
		}
		return AssignView{Unmatched: unmatchedView(&a.Unmatched), Ledger: view.LedgerOf(&a.Ledger), PartnerID: a.Ledger.PartnerID}, nil
	})
}

// IntegrityView is GET /admin/integrity: ok is false when any invariant is broken.
type IntegrityView struct {
	OK         bool `json:"ok"`
	Partners   int  `json:"partners"`
	Orders     int  `json:"orders"`
	LedgerRows int  `json:"ledger_rows"`
	SeenTx     int  `json:"seen_tx"`
	Unmatched  int  `json:"unmatched"`
	// Parked transfers waiting for the operator (not a violation), and
	// those resolved.
	Parked         int      `json:"parked"`
	ParkedResolved int      `json:"parked_resolved"`
	Violations     []string `json:"violations"`
}

// handleAdminIntegrity is GET /admin/integrity (200 whatever the outcome;
// the report says ok or lists the violations).
func (srv *server) handleAdminIntegrity() http.Handler {
	// The check reads the whole store: on a large one it outlasts the
	// server's WriteTimeout.
	return longWrite(integrityWrite, srv.api(func(r *http.Request) (any, error) {
		rep, err := srv.shop.IntegrityReport(r.Context())
		if err != nil {
			return nil, err
		}
		v := IntegrityView{OK: len(rep.Violations) == 0, Partners: rep.Partners, Orders: rep.Orders,
			LedgerRows: rep.LedgerRows, SeenTx: rep.SeenTx, Unmatched: rep.Unmatched, Parked: rep.Parked,
			ParkedResolved: rep.ParkedResolved, Violations: rep.Violations}
		if v.Violations == nil {
			v.Violations = []string{}
		}
		return v, nil
	}))
}

// handleAdminHeld is GET /admin/deliveries/held: the deliveries held for the
// service wallet's funds or the chain view, the wallet balance against what
// they need, and what the service owes (orders awaiting delivery, partner
// balances). Kept off the public /health, which shows only the summary.
func (srv *server) handleAdminHeld() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		return srv.shop.HeldReport(r.Context())
	})
}

// integrityWrite bounds GET /admin/integrity instead of the server's WriteTimeout.
const integrityWrite = 15 * time.Minute

// KeyView describes a partner key without revealing it.
type KeyView struct {
	Prefix     string  `json:"prefix"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
}

// AdminPartnerView is one partner in GET /admin/partners.
type AdminPartnerView struct {
	ID             int64       `json:"id"`
	Name           string      `json:"name"`
	CreatedAt      string      `json:"created_at"`
	TelegramUserID *int64      `json:"telegram_user_id"`
	TopupAddress   string      `json:"topup_address"`
	BalanceTON     json.Number `json:"balance_ton"`
	BalanceNanoton string      `json:"balance_nanoton"`
	// The USDT balance (kept when USDT is turned off later).
	BalanceUSDT      json.Number `json:"balance_usdt"`
	BalanceUSDTUnits string      `json:"balance_usdt_units"`
	LedgerRows       int64       `json:"ledger_rows"`
	KeyStatus        string      `json:"key_status"` // none | active
	Key              *KeyView    `json:"key"`
}

func adminPartnerView(p *shop.AdminPartner) AdminPartnerView {
	v := AdminPartnerView{ID: p.ID, Name: p.Name, CreatedAt: view.Time(p.CreatedAt), TopupAddress: p.TopupAddress,
		BalanceTON: view.TON(p.BalanceNano), BalanceNanoton: view.Nano(p.BalanceNano),
		BalanceUSDT: view.USDT(p.BalanceUSDT), BalanceUSDTUnits: view.Nano(p.BalanceUSDT), LedgerRows: p.LedgerCount,
		KeyStatus: p.KeyStatus}
	if p.TelegramUserID != 0 {
		id := p.TelegramUserID
		v.TelegramUserID = &id
	}
	if p.Key != nil {
		v.Key = &KeyView{Prefix: p.Key.Prefix, CreatedAt: view.Time(p.Key.CreatedAt), LastUsedAt: view.TimePtr(p.Key.LastUsedAt)}
	}
	return v
}

// handleAdminPartners is GET /admin/partners?limit=&cursor=, oldest first.
func (srv *server) handleAdminPartners() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		after, limit, err := adminPage(r)
		if err != nil {
			return nil, err
		}
		ps, err := srv.shop.AdminPartners(r.Context(), after, limit)
		if err != nil {
			return nil, err
		}
		var last int64
		if len(ps) > 0 {
			last = ps[len(ps)-1].ID
		}
		return listView(ps, nextCursor(len(ps), limit, last), adminPartnerView), nil
	})
}

// RevokedView is the answer of POST /admin/partners/{id}/revoke-key.
type RevokedView struct {
	PartnerID int64  `json:"partner_id"`
	KeyStatus string `json:"key_status"`
}

// handleAdminRevokeKey is POST /admin/partners/{id}/revoke-key (no body);
// 404 when the partner has no active key.
func (srv *server) handleAdminRevokeKey() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := adminID(r, "partner")
		if err != nil {
			return nil, err
		}
		if err := decodeOptional(r, &struct{}{}); err != nil {
			return nil, err
		}
		if err := srv.shop.RevokePartnerKey(r.Context(), id); err != nil {
			return nil, err
		}
		return RevokedView{PartnerID: id, KeyStatus: shop.KeyNone}, nil
	})
}
