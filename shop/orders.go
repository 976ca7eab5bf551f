package shop

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/store"
)

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// OrderRequest is a validated-by-shop order creation request.
type OrderRequest struct {
	Kind              domain.Kind
	RecipientUsername string
	Quantity          int64 // stars
	Months            int   // premium
	PaymentMethod     domain.Method
	PaymentCurrency   domain.Currency
	ClientReference   *string
	// ExpiresIn (seconds, MinExpiresIn–MaxExpiresIn) replaces orders.ttl for
	// this ton_memo order; nil keeps orders.ttl.
	ExpiresIn *int64
	// IdempotencyKey (optional) makes creation exactly-once per partner: the
	// order and the key are written in one transaction. Fingerprint identifies
	// the request body; the same key with another fingerprint is refused.
	IdempotencyKey string
	Fingerprint    string
	// Response, when set with an IdempotencyKey, renders the final reply for
	// the new order; it is stored with the key in the order's own
	// transaction, so a replay is byte-for-byte even after a crash. It must
	// be pure: the transaction may run more than once, and may still fail
	// after it ran (CreateOrder then returns another order, or an error).
	Response func(*domain.Order) (status int, body []byte, err error)
	// KeyChecked: the caller answers for a taken key itself (the API's
	// idempotency middleware replays what the key holds), so CreateOrder
	// does not look the key up: it inserts it with the order and returns
	// ErrKeyTaken when a request with the same key committed first.
	KeyChecked bool
}

// Bounds of OrderRequest.ExpiresIn, in seconds (a minute to a day).
const (
	MinExpiresIn = 60
	MaxExpiresIn = 86400
)

// NormalizeUsername strips one leading '@' and checks Telegram's rule:
// 5–32 chars of [A-Za-z0-9_], starting with a letter.
func NormalizeUsername(field, u string) (string, error) {
	u = strings.TrimSpace(u)
	u = strings.TrimPrefix(u, "@")
	if u == "" {
		return "", validation(field, "username_required", "%s is required", field)
	}
	if len(u) < 5 || len(u) > 32 {
		return "", validation(field, "username_format", "%s must be 5-32 characters of letters, digits and _, starting with a letter", field)
	}
	for i, r := range u {
		letter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if i == 0 && !letter {
			return "", validation(field, "username_format", "%s must be 5-32 characters of letters, digits and _, starting with a letter", field)
		}
		if !letter && !(r >= '0' && r <= '9') && r != '_' {
			return "", validation(field, "username_format", "%s must be 5-32 characters of letters, digits and _, starting with a letter", field)
		}
	}
	return u, nil
}

// RecipientCheck answers whether a username can receive.
type RecipientCheck struct {
	Username   string
	CanReceive bool
	Reason     string
}

// CheckRecipient asks the provider whether username can receive kind.
func (s *Shop) CheckRecipient(ctx context.Context, kind domain.Kind, username string) (RecipientCheck, error) {
	u, err := NormalizeUsername("username", username)
	if err != nil {
		return RecipientCheck{}, err
	}
	r, err := s.provider.CheckRecipient(ctx, kind, u)
	if err != nil {
		if errors.Is(err, fulfil.ErrUnavailable) {
			return RecipientCheck{}, newErr(CodeServiceUnavailable, "", "provider_unavailable",
				"the delivery provider is unavailable right now; retry later")
		}
		return RecipientCheck{}, fmt.Errorf("shop: recipient check: %w", err)
	}
	return RecipientCheck{Username: u, CanReceive: r.CanReceive, Reason: r.Reason}, nil
}

func validReference(ref string) error {
	if !utf8.ValidString(ref) {
		return validation("client_reference", "reference_format", "client_reference must be valid UTF-8 text")
	}
	if ref == "" || len(ref) > 128 {
		return validation("client_reference", "reference_format", "client_reference must be 1-128 printable characters")
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f {
			return validation("client_reference", "reference_format", "client_reference must be 1-128 printable characters")
		}
	}
	return nil
}

// validate checks a request in the order of its fields and normalises it.
func (s *Shop) validate(req *OrderRequest) error {
	u, err := NormalizeUsername("recipient_username", req.RecipientUsername)
	if err != nil {
		return err
	}
	req.RecipientUsername = u
	switch req.Kind {
	case domain.KindStars:
		if err := s.checkQuantity(req.Quantity); err != nil {
			return err
		}
	case domain.KindPremium:
		if err := s.checkMonths(req.Months); err != nil {
			return err
		}
	default:
		return validation("order_type", "order_type", "order_type must be stars or premium")
	}
	if req.PaymentMethod == "" {
		req.PaymentMethod = domain.MethodTonMemo
	}
	if req.PaymentMethod != domain.MethodTonMemo && req.PaymentMethod != domain.MethodBalance {
		return validation("payment_method", "payment_method", "payment_method must be ton_memo or balance")
	}
	if req.PaymentCurrency == "" {
		req.PaymentCurrency = domain.CurrencyTON
	}
	if req.PaymentCurrency != domain.CurrencyTON {
		return validation("payment_currency", "payment_currency", "payment_currency must be TON")
	}
	if req.ClientReference != nil {
		if err := validReference(*req.ClientReference); err != nil {
			return err
		}
	}
	if req.ExpiresIn != nil {
		if req.PaymentMethod != domain.MethodTonMemo {
			return validation("expires_in", "expires_in", "expires_in applies to ton_memo orders only (balance orders are paid at once)")
		}
		if n := *req.ExpiresIn; n < MinExpiresIn || n > MaxExpiresIn {
			return validation("expires_in", "expires_in", "expires_in must be between %d and %d seconds, got %d", MinExpiresIn, MaxExpiresIn, n)
		}
	}
	return nil
}

// CanonicalMemo normalises a transfer comment or memo for lookup: surrounding
// whitespace trimmed, prefix upper-case, code lower-case. Matching is thus
// case-insensitive (wallets and people retype memos); it is otherwise exact.
func CanonicalMemo(s string) string {
	s = strings.TrimSpace(s)
	prefix, code, ok := strings.Cut(s, "-")
	if !ok {
		return s
	}
	return strings.ToUpper(prefix) + "-" + strings.ToLower(code)
}

// PaymentLink is the ton:// deep link for an order.
func PaymentLink(o *domain.Order) string {
	if o.PaymentMethod != domain.MethodTonMemo {
		return ""
	}
	return "ton://transfer/" + o.PaymentAddress + "?amount=" + strconv.FormatInt(o.PriceNano, 10) + "&text=" + o.PaymentMemo
}

var errIdemReused = newErr(CodeIdempotencyReused, "Idempotency-Key", "idempotency_reused",
	"this Idempotency-Key was already used with a different request")

// ErrKeyTaken is CreateOrder's answer, with KeyChecked, when another request
// with the same Idempotency-Key committed first.
var ErrKeyTaken = newErr(CodeIdempotencyInProgress, "Idempotency-Key", "idempotency_key_taken",
	"a request with this Idempotency-Key was completed meanwhile; retry it to get that answer")

// CreateOrder validates, checks the recipient, prices and stores an order. A
// balance order is paid from the balance in the same transaction (402 when
// short). With an IdempotencyKey an earlier order made with it is returned.
func (s *Shop) CreateOrder(ctx context.Context, partnerID int64, req OrderRequest) (*domain.Order, error) {
	if err := s.validate(&req); err != nil {
		return nil, err
	}
	if req.IdempotencyKey != "" && !req.KeyChecked {
		if o, err := s.idemOrder(ctx, partnerID, req); o != nil || err != nil {
			return o, err
		}
	}
	if err := s.provider.Available(); err != nil {
		return nil, newErr(CodeServiceUnavailable, "", "provider_unavailable",
			"delivery is unavailable right now, so no order is taken; retry later")
	}
	rc, err := s.CheckRecipient(ctx, req.Kind, req.RecipientUsername)
	if err != nil {
		return nil, err
	}
	if !rc.CanReceive {
		kind := "Stars"
		if req.Kind == domain.KindPremium {
			kind = "Premium"
		}
		return nil, newErr(CodeRecipientNotFound, "recipient_username", "recipient_not_found",
			"recipient_username %s cannot receive Telegram %s", rc.Username, kind)
	}
	amount := req.Quantity
	if req.Kind == domain.KindPremium {
		amount = int64(req.Months)
	}
	q, err := s.Estimate(ctx, req.Kind, amount)
	if err != nil {
		return nil, err
	}
	if req.PaymentMethod == domain.MethodTonMemo {
		// The answer rendered inside the order's transaction carries the
		// checkout URL, whose secret is read (or created) outside it.
		if _, err := s.checkoutKeysFor(ctx); err != nil {
			return nil, err
		}
	}
	now := s.now()
	o := &domain.Order{PartnerID: partnerID, Type: req.Kind,
		RecipientUsername: req.RecipientUsername, PriceNano: q.PriceNano, PriceUSD: q.PriceUSD,
		TonUSD: q.TonUSD, FeePercent: q.FeePercent, PaymentMethod: req.PaymentMethod,
		PaymentCurrency: req.PaymentCurrency, CreatedAt: now, IdempotencyKey: req.IdempotencyKey}
	if req.Kind == domain.KindStars {
		o.StarsAmount = req.Quantity
	} else {
		o.PremiumMonths = req.Months
	}
	if req.ClientReference != nil {
		o.ClientReference = *req.ClientReference
	}
	var cipher *memoCipher
	if o.PaymentMethod == domain.MethodTonMemo {
		if cipher, err = s.memoCipher(ctx); err != nil {
			return nil, fmt.Errorf("shop: create order: %w", err)
		}
	}
	// One Write transaction that reads nothing it then writes: the id from
	// the sequence, the memo from the id, and inserts that the store's unique
	// keys check (the idempotency key: ErrExists) or its conditional debit
	// (the balance: ErrOverdraw).
	var result *domain.Order
	create := func(tx *txn) error {
		result = nil
		ord := *o
		id, err := tx.NextOrderID()
		if err != nil {
			return err
		}
		ord.ID = id
		var p *domain.Partner // the partner a move's event goes to: only a balance order's creation has one
		to := domain.StatusPendingPayment
		if ord.PaymentMethod == domain.MethodBalance {
			if p, err = tx.GetPartner(partnerID); err != nil {
				return err
			}
			to = domain.StatusPaid
			ord.PaidAt = &now
			balance := p.BalanceNano
			if _, err := s.credit(tx, p, domain.LedgerOrderPayment, -ord.PriceNano, ord.ID, ""); errors.Is(err, store.ErrOverdraw) {
				return newErr(CodeInsufficientBalance, "payment_method", "insufficient_balance",
					"balance %s TON is less than the price %s TON", formatTON(balance), formatTON(ord.PriceNano))
			} else if err != nil {
				return err
			}
		} else {
			ttl := s.cfg.Orders.TTL
			if req.ExpiresIn != nil {
				ttl = time.Duration(*req.ExpiresIn) * time.Second
			}
			exp := now.Add(ttl)
			ord.ExpiresAt = &exp
			ord.PaymentAddress = s.serviceAddr
			if err := s.assignMemo(cipher, &ord); err != nil {
				return err
			}
		}
		if err := s.move(tx, p, &ord, to); err != nil {
			return err
		}
		if req.IdempotencyKey != "" {
			rec := &domain.IdemRecord{PartnerID: partnerID, Key: req.IdempotencyKey,
				Fingerprint: req.Fingerprint, OrderID: ord.ID, CreatedAt: now}
			if req.Response != nil {
				if rec.Status, rec.Body, err = req.Response(&ord); err != nil {
					return err
				}
			}
			if err := tx.CreateIdem(rec); err != nil {
				return err
			}
		}
		result = &ord
		return nil
	}
	err = s.write(ctx, create)
	if errors.Is(err, store.ErrExists) && req.IdempotencyKey != "" {
		// A record past its time that the sweep has not removed yet takes
		// the key too: drop it and create again, once.
		var dropped bool
		if derr := s.update(ctx, func(tx *txn) error {
			var err error
			dropped, err = tx.DeleteIdem(partnerID, req.IdempotencyKey, now.Add(-IdempotencyTTL))
			return err
		}); derr != nil {
			return nil, fmt.Errorf("shop: create order: %w", derr)
		}
		if dropped {
			err = s.write(ctx, create)
		}
	}
	if errors.Is(err, store.ErrExists) && req.IdempotencyKey != "" {
		// A request with the same key committed first (another instance):
		// the caller's to answer, or its order, or IDEMPOTENCY_KEY_REUSED for
		// another body.
		if req.KeyChecked {
			return nil, ErrKeyTaken
		}
		if o, ierr := s.idemOrder(ctx, partnerID, req); o != nil || ierr != nil {
			return o, ierr
		}
	}
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return nil, be
		}
		return nil, fmt.Errorf("shop: create order: %w", err)
	}
	if result.Status == domain.StatusPaid {
		s.kickDelivery()
	}
	return result, nil
}

// idemOrder returns the order an earlier request with the same key created.
func (s *Shop) idemOrder(ctx context.Context, partnerID int64, req OrderRequest) (*domain.Order, error) {
	var o *domain.Order
	err := s.st.Read(ctx, func(tx store.Tx) error {
		rec, err := tx.GetIdem(partnerID, req.IdempotencyKey)
		if errors.Is(err, store.ErrNotFound) || (err == nil && s.now().Sub(rec.CreatedAt) >= IdempotencyTTL) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Fingerprint != req.Fingerprint {
			return errIdemReused
		}
		if rec.OrderID != 0 {
			o, err = tx.GetOrder(rec.OrderID)
		}
		return err
	})
	return o, err
}

// IdemLookup returns the live idempotency record of (partner, key), or nil.
func (s *Shop) IdemLookup(ctx context.Context, partnerID int64, key string) (*domain.IdemRecord, error) {
	var rec *domain.IdemRecord
	err := s.st.Read(ctx, func(tx store.Tx) error {
		r, err := tx.GetIdem(partnerID, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil && s.now().Sub(r.CreatedAt) < IdempotencyTTL {
			rec = r
		}
		return err
	})
	return rec, err
}

// IdemSave stores the final response of a request under its key, keeping the
// order id an order creation already recorded.
func (s *Shop) IdemSave(ctx context.Context, r domain.IdemRecord) error {
	return s.update(ctx, func(tx *txn) error {
		rec := r
		if prev, err := tx.GetIdem(r.PartnerID, r.Key); err == nil && s.now().Sub(prev.CreatedAt) < IdempotencyTTL {
			if prev.Fingerprint != r.Fingerprint {
				return errIdemReused
			}
			rec.OrderID = prev.OrderID
			rec.CreatedAt = prev.CreatedAt
		}
		if rec.CreatedAt.IsZero() {
			rec.CreatedAt = s.now()
		}
		return tx.PutIdem(&rec)
	})
}

func (s *Shop) ownOrder(tx store.Tx, partnerID int64, o *domain.Order, err error) (*domain.Order, error) {
	if errors.Is(err, store.ErrNotFound) || (err == nil && o.PartnerID != partnerID) {
		return nil, notFound("order")
	}
	return o, err
}

// Order returns one of the partner's orders (NOT_FOUND for others').
func (s *Shop) Order(ctx context.Context, partnerID, id int64) (*domain.Order, error) {
	var o *domain.Order
	err := s.st.Read(ctx, func(tx store.Tx) error {
		got, err := tx.GetOrder(id)
		o, err = s.ownOrder(tx, partnerID, got, err)
		return err
	})
	return o, err
}

// OrderByMemo finds one of the partner's orders by payment memo.
func (s *Shop) OrderByMemo(ctx context.Context, partnerID int64, memo string) (*domain.Order, error) {
	var o *domain.Order
	err := s.st.Read(ctx, func(tx store.Tx) error {
		c, err := s.memoCipherFor(tx, false)
		if err != nil {
			return err
		}
		s.keepMemoCipher(c) // read from committed data
		got, err := s.findMemo(tx, c, CanonicalMemo(memo))
		o, err = s.ownOrder(tx, partnerID, got, err)
		return err
	})
	return o, err
}

// MaxReferenceOrders bounds GET /orders/by-reference.
const MaxReferenceOrders = 100

// OrdersByReference returns the partner's orders carrying client_reference ref
// (oldest first, at most MaxReferenceOrders).
func (s *Shop) OrdersByReference(ctx context.Context, partnerID int64, ref string) ([]domain.Order, error) {
	if err := validReference(ref); err != nil {
		return nil, err
	}
	var out []domain.Order
	err := s.st.Read(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.OrdersByReference(partnerID, ref, MaxReferenceOrders)
		return err
	})
	return out, err
}

// Page is one page of a list; NextCursor is empty on the last page.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// OrderFilter selects orders for ListOrders.
type OrderFilter struct {
	Status domain.Status
	Type   domain.Kind
	Limit  int // 1–100, 0 = 20
	Cursor string
}

var orderStatuses = map[domain.Status]bool{domain.StatusPendingPayment: true, domain.StatusPaid: true,
	domain.StatusProcessing: true, domain.StatusCompleted: true, domain.StatusFailed: true,
	domain.StatusRefunded: true, domain.StatusExpired: true, domain.StatusCancelled: true}

// EncodeCursor and DecodeCursor make opaque page cursors from row ids.
func EncodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("id:" + strconv.FormatInt(id, 10)))
}

// DecodeCursor reads a cursor made by EncodeCursor ("" = first page).
func DecodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if v, ok := strings.CutPrefix(string(b), "id:"); ok {
			if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, validation("cursor", "cursor", "cursor is not valid; use next_cursor from the previous page")
}

func checkLimit(limit int) (int, error) {
	if limit == 0 {
		return 20, nil
	}
	if limit < 1 || limit > 100 {
		return 0, validation("limit", "limit_range", "limit must be between 1 and 100")
	}
	return limit, nil
}

// ListOrders pages through the partner's orders, newest first. Cursors are
// order ids, so pages stay stable while new orders are created.
func (s *Shop) ListOrders(ctx context.Context, partnerID int64, f OrderFilter) (Page[domain.Order], error) {
	if f.Status != "" && !orderStatuses[f.Status] {
		return Page[domain.Order]{}, validation("status", "status", "status must be one of pending_payment, paid, processing, completed, failed, refunded, expired, cancelled")
	}
	if f.Type != "" && f.Type != domain.KindStars && f.Type != domain.KindPremium {
		return Page[domain.Order]{}, validation("order_type", "order_type", "order_type must be stars or premium")
	}
	limit, err := checkLimit(f.Limit)
	if err != nil {
		return Page[domain.Order]{}, err
	}
	before, err := DecodeCursor(f.Cursor)
	if err != nil {
		return Page[domain.Order]{}, err
	}
	var items []domain.Order
	err = s.st.Read(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.ListOrders(partnerID, store.OrderQuery{Status: f.Status, Type: f.Type, Limit: limit + 1, BeforeID: before})
		return err
	})
	if err != nil {
		return Page[domain.Order]{}, err
	}
	page := Page[domain.Order]{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = EncodeCursor(items[limit-1].ID)
	}
	return page, nil
}

// CancelOrder cancels a pending_payment order (ORDER_NOT_CANCELLABLE otherwise).
func (s *Shop) CancelOrder(ctx context.Context, partnerID, id int64) (*domain.Order, error) {
	var o *domain.Order
	err := s.write(ctx, func(tx *txn) error {
		got, err := tx.GetOrder(id)
		if o, err = s.ownOrder(tx, partnerID, got, err); err != nil {
			return err
		}
		if o.Status != domain.StatusPendingPayment {
			return newErr(CodeOrderNotCancellable, "status", "not_cancellable",
				"order %d is %s; only pending_payment orders can be cancelled", o.ID, o.Status)
		}
		p, err := tx.GetPartner(partnerID)
		if err != nil {
			return err
		}
		// A partial payment already received goes to the balance, never lost.
		if err := s.returnPartial(tx, p, o); err != nil {
			return err
		}
		return s.move(tx, p, o, domain.StatusCancelled)
	})
	return o, err
}

// Stats summarises a partner's orders created in [from, to).
type Stats struct {
	From, To               *time.Time
	ByStatus               map[domain.Status]int64
	ByType                 map[domain.Kind]int64
	Total                  int64
	StarsDelivered         int64
	PremiumMonthsDelivered int64
	VolumePaidNano         int64
}

// OrderStats computes the summary over the partner's orders.
func (s *Shop) OrderStats(ctx context.Context, partnerID int64, from, to *time.Time) (Stats, error) {
	if from != nil && to != nil && !from.Before(*to) {
		return Stats{}, validation("from", "range", "from must be before to")
	}
	st := Stats{From: from, To: to, ByStatus: map[domain.Status]int64{}, ByType: map[domain.Kind]int64{}}
	for k := range orderStatuses {
		st.ByStatus[k] = 0
	}
	st.ByType[domain.KindStars], st.ByType[domain.KindPremium] = 0, 0
	var ovf error
	err := s.st.View(ctx, func(tx store.Tx) error {
		return tx.ForEachPartnerOrder(partnerID, func(o *domain.Order) bool {
			if to != nil && !o.CreatedAt.Before(*to) {
				return true
			}
			if from != nil && o.CreatedAt.Before(*from) {
				return false // newest first: everything after is older
			}
			st.Total++
			st.ByStatus[o.Status]++
			st.ByType[o.Type]++
			if o.Status == domain.StatusCompleted {
				st.StarsDelivered += o.StarsAmount
				st.PremiumMonthsDelivered += int64(o.PremiumMonths)
			}
			if o.PaidAt != nil {
				v, err := addNano(st.VolumePaidNano, o.PriceNano)
				if err != nil {
					ovf = err
					return false
				}
				st.VolumePaidNano = v
			}
			return true
		})
	})
	if err == nil {
		err = ovf
	}
	return st, err
}
