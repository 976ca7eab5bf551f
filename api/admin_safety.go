package api

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/view"
)

// Operator routes for parked transfers, manual deliveries and the audit log
// (see adminRoutes). The money rules are shop's; these translate.

// actor is who performs an operator action: the name the body gives
// (optional) and the client address.
func actor(r *http.Request, name *string) shop.Actor {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return shop.Actor{Name: deref(name), Remote: host}
}

func int64Ptr(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

// ParkedView is one parked transfer as the operator sees it.
type ParkedView struct {
	ID               int64       `json:"id"`
	TxHash           string      `json:"tx_hash"`
	LT               string      `json:"lt"`
	ChainTime        string      `json:"chain_time"`
	From             *string     `json:"from"`
	To               string      `json:"to"`
	AmountTON        json.Number `json:"amount_ton"`
	AmountNanoton    string      `json:"amount_nanoton"`
	Comment          *string     `json:"comment"`
	PayloadHex       *string     `json:"payload_hex,omitempty"`
	Incoming         bool        `json:"incoming"`
	Bounced          bool        `json:"bounced"`
	Error            string      `json:"error"`
	ParkedAt         string      `json:"parked_at"`
	FailedAttempts   int         `json:"failed_attempts"`
	LastAttemptError *string     `json:"last_attempt_error"`
	ResolvedAt       *string     `json:"resolved_at"`
	Resolution       *string     `json:"resolution"`
	ResolvedKind     *string     `json:"resolved_kind"`
	ResolvedRefID    *int64      `json:"resolved_ref_id"`
}

func parkedView(p *domain.Parked) ParkedView {
	return ParkedView{ID: p.ID, TxHash: p.TxHash, LT: strconv.FormatUint(p.LT, 10), ChainTime: view.Time(p.ChainTime),
		From: view.StrPtr(p.From), To: p.To, AmountTON: view.TON(p.AmountNano), AmountNanoton: view.Nano(p.AmountNano),
		Comment: view.StrPtr(p.Comment), PayloadHex: view.StrPtr(p.PayloadHex), Incoming: p.Incoming, Bounced: p.Bounced,
		Error: p.Error, ParkedAt: view.Time(p.ParkedAt), FailedAttempts: p.FailedAttempts,
		LastAttemptError: view.StrPtr(p.LastAttemptError), ResolvedAt: view.TimePtr(p.ResolvedAt), Resolution: view.StrPtr(string(p.Resolution)),
		ResolvedKind: view.StrPtr(string(p.ResolvedKind)), ResolvedRefID: int64Ptr(p.ResolvedRefID)}
}

// handleAdminParked is GET /admin/parked?status=open&limit=&cursor=, oldest first.
func (srv *server) handleAdminParked() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		after, limit, err := adminPage(r)
		if err != nil {
			return nil, err
		}
		openOnly := false
		switch st := r.URL.Query().Get("status"); st {
		case "":
		case "open":
			openOnly = true
		default:
			return nil, invalid("status", "status must be open (or absent for all), got %q", clip(st))
		}
		ps, err := srv.shop.ParkedTransfers(r.Context(), after, limit, openOnly)
		if err != nil {
			return nil, err
		}
		var last int64
		if len(ps) > 0 {
			last = ps[len(ps)-1].ID
		}
		return listView(ps, nextCursor(len(ps), limit, last), parkedView), nil
	})
}

// handleAdminParkedOne is GET /admin/parked/{id}.
func (srv *server) handleAdminParkedOne() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := adminID(r, "parked transfer")
		if err != nil {
			return nil, err
		}
		p, err := srv.shop.ParkedTransfer(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return parkedView(p), nil
	})
}

// ParkedResolutionView answers POST /admin/parked/{id}/retry and /assign:
// the resolved record, where the money went (outcome: order, ledger,
// unmatched or ignored), the partner and the first ledger row written.
type ParkedResolutionView struct {
	Parked    ParkedView      `json:"parked"`
	Outcome   domain.SeenKind `json:"outcome"`
	OrderID   *int64          `json:"order_id"`
	PartnerID *int64          `json:"partner_id"`
	Ledger    *view.Ledger    `json:"ledger"`
}

func parkedResolutionView(res *shop.ParkedResolution) ParkedResolutionView {
	v := ParkedResolutionView{Parked: parkedView(&res.Parked), Outcome: res.Outcome.Kind,
		OrderID: int64Ptr(res.Outcome.OrderID), PartnerID: int64Ptr(res.PartnerID)}
	if res.Ledger != nil {
		l := view.LedgerOf(res.Ledger)
		v.Ledger = &l
	}
	return v
}

type operatorBody struct {
	Operator *string `json:"operator"`
}

// handleAdminParkedRetry is POST /admin/parked/{id}/retry {operator?}.
func (srv *server) handleAdminParkedRetry() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := adminID(r, "parked transfer")
		if err != nil {
			return nil, err
		}
		var b operatorBody
		if err := decodeOptional(r, &b); err != nil {
			return nil, err
		}
		res, err := srv.shop.RetryParked(r.Context(), id, actor(r, b.Operator))
		if err != nil {
			return nil, err
		}
		return parkedResolutionView(&res), nil
	})
}

// handleAdminParkedAssign is POST /admin/parked/{id}/assign {order_id | partner_id, operator?}.
func (srv *server) handleAdminParkedAssign() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := adminID(r, "parked transfer")
		if err != nil {
			return nil, err
		}
		var b assignBody
		if err := decodeJSON(r, &b); err != nil {
			return nil, err
		}
		res, err := srv.shop.AssignParked(r.Context(), id, shop.AssignTarget{OrderID: deref(b.OrderID),
			PartnerID: deref(b.PartnerID), By: actor(r, b.Operator)})
		if err != nil {
			return nil, err
		}
		return parkedResolutionView(&res), nil
	})
}

// AdminOrderView is an order as the operator sees it: with its partner, and
// the refund row when a manual delivery was marked failed.
type AdminOrderView struct {
	PartnerID int64        `json:"partner_id"`
	Order     view.Order   `json:"order"`
	Refund    *view.Ledger `json:"refund"`
}

func (srv *server) adminOrderView(o *domain.Order) AdminOrderView {
	return AdminOrderView{PartnerID: o.PartnerID, Order: srv.orderView(o)}
}

// handleAdminDeliveries is GET /admin/deliveries?limit=&cursor=: orders
// waiting for delivery, oldest (lowest id) first.
func (srv *server) handleAdminDeliveries() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		after, limit, err := adminPage(r)
		if err != nil {
			return nil, err
		}
		os, err := srv.shop.PendingDeliveries(r.Context(), after, limit)
		if err != nil {
			return nil, err
		}
		var last int64
		if len(os) > 0 {
			last = os[len(os)-1].ID
		}
		return listView(os, nextCursor(len(os), limit, last), srv.adminOrderView), nil
	})
}

type markDeliveredBody struct {
	Operator  *string `json:"operator"`
	Reference *string `json:"reference"`
}

type markFailedBody struct {
	Operator *string `json:"operator"`
	Reason   *string `json:"reason"`
}

// handleAdminMarkDelivered is POST /admin/orders/{id}/mark-delivered {operator?, reference?}.
func (srv *server) handleAdminMarkDelivered() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := adminID(r, "order")
		if err != nil {
			return nil, err
		}
		var b markDeliveredBody
		if err := decodeOptional(r, &b); err != nil {
			return nil, err
		}
		o, err := srv.shop.MarkDelivered(r.Context(), id, shop.ManualMark{By: actor(r, b.Operator), Reference: deref(b.Reference)})
		if err != nil {
			return nil, err
		}
		return srv.adminOrderView(o), nil
	})
}

// handleAdminMarkFailed is POST /admin/orders/{id}/mark-failed {reason, operator?}.
func (srv *server) handleAdminMarkFailed() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		id, err := adminID(r, "order")
		if err != nil {
			return nil, err
		}
		var b markFailedBody
		if err := decodeJSON(r, &b); err != nil {
			return nil, err
		}
		o, e, err := srv.shop.MarkFailed(r.Context(), id, shop.ManualMark{By: actor(r, b.Operator), Reason: deref(b.Reason)})
		if err != nil {
			return nil, err
		}
		v := srv.adminOrderView(o)
		if e != nil {
			l := view.LedgerOf(e)
			v.Refund = &l
		}
		return v, nil
	})
}

// AuditView is one operator action.
type AuditView struct {
	ID          int64   `json:"id"`
	At          string  `json:"at"`
	Actor       string  `json:"actor"`
	Remote      *string `json:"remote"`
	Action      string  `json:"action"`
	OrderID     *int64  `json:"order_id"`
	PartnerID   *int64  `json:"partner_id"`
	ParkedID    *int64  `json:"parked_id"`
	UnmatchedID *int64  `json:"unmatched_id"`
	LedgerID    *int64  `json:"ledger_id"`
	Detail      *string `json:"detail"`
}

func auditView(a *domain.AuditEntry) AuditView {
	return AuditView{ID: a.ID, At: view.Time(a.At), Actor: a.Actor, Remote: view.StrPtr(a.Remote), Action: a.Action,
		OrderID: int64Ptr(a.OrderID), PartnerID: int64Ptr(a.PartnerID), ParkedID: int64Ptr(a.ParkedID),
		UnmatchedID: int64Ptr(a.UnmatchedID), LedgerID: int64Ptr(a.LedgerID), Detail: view.StrPtr(a.Detail)}
}

// handleAdminAudit is GET /admin/audit?limit=&cursor=, oldest first.
func (srv *server) handleAdminAudit() http.Handler {
	return srv.api(func(r *http.Request) (any, error) {
		after, limit, err := adminPage(r)
		if err != nil {
			return nil, err
		}
		as, err := srv.shop.AuditLog(r.Context(), after, limit)
		if err != nil {
			return nil, err
		}
		var last int64
		if len(as) > 0 {
			last = as[len(as)-1].ID
		}
		return listView(as, nextCursor(len(as), limit, last), auditView), nil
	})
}
