package shop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	// ReturnURL (ton_memo orders) is where the checkout page sends the
	// customer back to once the order is settled; nil for none.
	ReturnURL *string
	// ExpiresIn (seconds, MinExpiresIn–MaxExpiresIn) replaces orders.ttl for
	// this ton_memo order; nil keeps orders.ttl.
	ExpiresIn *int64
	// IdempotencyKey (optional) makes creation exactly once per partner and
	// key, for IdempotencyTTL: the key is written with the order, in its
	// transaction. A later request with the key and the same order (the
	// same fields, once validated) gets that order as it was created
	// (domain.Order.AsCreated); with another order, IDEMPOTENCY_KEY_REUSED;
	// when the key holds something else (the API's stored answer to a
	// refused request), ErrKeyTaken.
	IdempotencyKey string
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
	switch req.PaymentCurrency {
	case domain.CurrencyTON:
	case domain.CurrencyUSDT:
		if !s.usdt.on {
			return validation("payment_currency", "payment_currency", "payment_currency must be TON: USDT is not accepted by this service")
		}
	default:
		if s.usdt.on {
			return validation("payment_currency", "payment_currency", "payment_currency must be TON or USDT")
		}
		return validation("payment_currency", "payment_currency", "payment_currency must be TON")
	}
	if req.ClientReference != nil {
		if err := validReference(*req.ClientReference); err != nil {
			return err
		}
	}
	if req.ReturnURL != nil {
		if req.PaymentMethod != domain.MethodTonMemo {
			return validation("return_url", "return_url", "return_url applies to ton_memo orders only (a balance order has no checkout page)")
		}
		if err := ValidReturnURL(*req.ReturnURL, s.SandboxMode()); err != nil {
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

var errIdemReused = newErr(CodeIdempotencyReused, "Idempotency-Key", "idempotency_reused",
	"this Idempotency-Key was already used with a different request")

// ErrKeyTaken is CreateOrder's answer when the Idempotency-Key holds a
// record that is not an order (IdemSave's: the answer to another request,
// which the API replays or refuses).
var ErrKeyTaken = newErr(CodeIdempotencyInProgress, "Idempotency-Key", "idempotency_key_taken",
	"this Idempotency-Key holds the answer to another request")

// digest identifies the order a validated request asks for; the
// Idempotency-Key's record keeps it.
func (r *OrderRequest) digest() string {
	b := make([]byte, 0, 128)
	b = append(b, r.Kind...)
	b = append(b, 0)
	b = strconv.AppendInt(b, r.Quantity, 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(r.Months), 10)
	b = append(b, 0)
	b = append(b, r.RecipientUsername...)
	b = append(b, 0)
	b = append(b, r.PaymentMethod...)
	b = append(b, 0)
	b = append(b, r.PaymentCurrency...)
	if r.ClientReference != nil {
		b = append(append(b, "\x00ref\x00"...), *r.ClientReference...)
	}
	if r.ExpiresIn != nil {
		b = strconv.AppendInt(append(b, "\x00ttl\x00"...), *r.ExpiresIn, 10)
	}
	if r.ReturnURL != nil {
		b = append(append(b, "\x00return\x00"...), *r.ReturnURL...)
	}
	sum := sha256.Sum256(b)
	return "order:" + hex.EncodeToString(sum[:])
}

// CreateOrder validates, checks the recipient, prices and stores an order. A
// balance order is paid from the balance in the same transaction (402 when
// short). With an IdempotencyKey that an earlier request with the same order
// used, it returns that order as it was created, and replayed.
func (s *Shop) CreateOrder(ctx context.Context, partnerID int64, req OrderRequest) (o *domain.Order, replayed bool, err error) {
	if err := s.validate(&req); err != nil {
		return nil, false, err
	}
	o, err = s.createOrder(ctx, partnerID, req)
	if req.IdempotencyKey != "" && err != nil {
		// The key was taken (by an earlier request, or one committed
		// meanwhile), or this request was refused before reaching it (the
		// provider down, the rate stale): an order the key holds stands.
		prev, perr := s.idemOrder(ctx, partnerID, req.IdempotencyKey, req.digest())
		if prev != nil || perr != nil {
			return prev, prev != nil, perr
		}
	}
	if err != nil {
		var be *Error
		if errors.As(err, &be) {
			return nil, false, be
		}
		return nil, false, fmt.Errorf("shop: create order: %w", err)
	}
	if o.Status == domain.StatusPaid {
		s.kickDelivery()
	}
	return o, false, nil
}

// createOrder creates a validated order (and its key), or returns
// store.ErrExists when the key is taken.
func (s *Shop) createOrder(ctx context.Context, partnerID int64, req OrderRequest) (*domain.Order, error) {
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
	if req.ReturnURL != nil {
		o.ReturnURL = *req.ReturnURL
	}
	if req.PaymentCurrency == domain.CurrencyUSDT {
		o.PriceUSDT, o.UsdtUSD = q.PriceUSDT, q.UsdtUSD
		if req.PaymentMethod == domain.MethodTonMemo {
			o.USDTMaster = s.usdt.link
		}
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
			cur, price := ord.PaymentCurrency, ord.Price()
			balance := balanceIn(p, cur)
			if _, err := s.credit(tx, p, cur, domain.LedgerOrderPayment, -price, ord.ID, ""); errors.Is(err, store.ErrOverdraw) {
				return newErr(CodeInsufficientBalance, "payment_method", "insufficient_balance",
					"balance %s is less than the price %s", FormatAmount(cur, balance), FormatAmount(cur, price))
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
				Fingerprint: req.digest(), OrderID: ord.ID, CreatedAt: now}
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
			return nil, derr
		}
		if dropped {
			err = s.write(ctx, create)
		}
	}
	return result, err
}

// idemOrder returns, as it was created, the order the live record of key
// holds when it was made for the same order (digest); nil when the key holds
// no live record; errIdemReused for another order, ErrKeyTaken for a record
// that is not an order's.
func (s *Shop) idemOrder(ctx context.Context, partnerID int64, key, digest string) (*domain.Order, error) {
	var o *domain.Order
	err := s.st.Read(ctx, func(tx store.Tx) error {
		rec, err := tx.GetIdem(partnerID, key)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && s.now().Sub(rec.CreatedAt) >= IdempotencyTTL):
			return nil
		case err != nil:
			return err
		case rec.OrderID == 0:
			return ErrKeyTaken
		case rec.Fingerprint != digest:
			return errIdemReused
		}
		got, err := tx.GetOrder(rec.OrderID)
		if err == nil {
			o = got.AsCreated()
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

// IdemSave stores the API's answer to a request under its key, unless the
// key holds a live record already: an identical request's answer stays
// (nil), another request's refuses this one (IDEMPOTENCY_KEY_REUSED).
func (s *Shop) IdemSave(ctx context.Context, r domain.IdemRecord) error {
	return s.update(ctx, func(tx *txn) error {
		prev, err := tx.GetIdem(r.PartnerID, r.Key)
		switch {
		case err == nil && s.now().Sub(prev.CreatedAt) < IdempotencyTTL:
			if prev.Fingerprint != r.Fingerprint {
				return errIdemReused
			}
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		rec := r
		rec.OrderID, rec.CreatedAt = 0, s.now()
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

// OrdersByReference pages through the partner's orders carrying
// client_reference ref, newest first, like ListOrders. Errors:
// VALIDATION_ERROR (client_reference, limit, cursor).
func (s *Shop) OrdersByReference(ctx context.Context, partnerID int64, ref, cursor string, limit int) (Page[domain.Order], error) {
	if err := validReference(ref); err != nil {
		return Page[domain.Order]{}, err
	}
	limit, err := checkLimit(limit)
	if err != nil {
		return Page[domain.Order]{}, err
	}
	before, err := DecodeCursor(cursor)
	if err != nil {
		return Page[domain.Order]{}, err
	}
	var items []domain.Order
	err = s.st.Read(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.OrdersByReference(partnerID, ref, before, limit+1)
		return err
	})
	if err != nil {
		return Page[domain.Order]{}, err
	}
	return pageOf(items, limit, func(o domain.Order) int64 { return o.ID }), nil
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
	return pageOf(items, limit, func(o domain.Order) int64 { return o.ID }), nil
}

// pageOf makes a page of up to limit items from a read of limit+1: the
// extra one only tells that another page follows.
func pageOf[T any](items []T, limit int, id func(T) int64) Page[T] {
	page := Page[T]{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = EncodeCursor(id(items[limit-1]))
	}
	return page
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
	VolumePaidNano         int64 // TON orders paid
	VolumePaidUSDT         int64 // USDT orders paid, in USDT units
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
				vol := &st.VolumePaidNano
				if o.PaymentCurrency == domain.CurrencyUSDT {
					vol = &st.VolumePaidUSDT
				}
				v, err := addNano(*vol, o.Price())
				if err != nil {
					ovf = err
					return false
				}
				*vol = v
			}
			return true
		})
	})
	if err == nil {
		err = ovf
	}
	return st, err
}
