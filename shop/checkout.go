package shop

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// Checkout: every ton_memo order has a hosted payment page at
// <public URL>/pay/<token> (the api package serves it).
//
// The token is derived, not stored: 16 bytes that hide the order id (AES-128
// of a version tag and the id) followed by a 128-bit tag (HMAC-SHA-256 of
// those 16 bytes, truncated), both keyed from a 32-byte secret drawn from
// crypto/rand once per store and kept in its meta, like the memo key.
// base64url without padding: 43 characters. Guessing a valid token means
// guessing the tag (2⁻¹²⁸ per try); the token names one order only and does
// not reveal its id or the store's order volume. Deriving it costs no write
// per order (order creation is the service's tightest figure), needs no
// index in either store and works for every order ever made; the price is
// that one link cannot be revoked alone — replacing the secret revokes them
// all (docs/CHECKOUT.md).

// CheckoutPath prefixes the payment page of an order.
const CheckoutPath = "/pay/"

// checkoutKeyMeta names the store meta value holding the checkout secret.
const checkoutKeyMeta = "checkout_key"

// checkoutSecretLen is the size of the per-store secret.
const checkoutSecretLen = 32

// CheckoutTokenLen is the length of a checkout token: base64url of 32 bytes.
const CheckoutTokenLen = 43

// tokenMagic is the plaintext's first half: a format tag and version.
const tokenMagic = "omck\x00\x00\x00\x01"

// checkoutKeys are the token keys derived from the store's secret.
type checkoutKeys struct {
	block cipher.Block // AES-128: the order id inside the token
	macs  sync.Pool    // of HMAC-SHA-256 keyed for the tag (Reset keeps the key: no rehash per token)
}

func newCheckoutKeys(secret []byte) (*checkoutKeys, error) {
	if len(secret) != checkoutSecretLen {
		return nil, fmt.Errorf("shop: checkout secret is %d bytes, want %d", len(secret), checkoutSecretLen)
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	b, err := aes.NewCipher(derive("openmoney checkout token: order id")[:16])
	if err != nil {
		return nil, err
	}
	macKey := derive("openmoney checkout token: tag")
	k := &checkoutKeys{block: b}
	k.macs.New = func() any { return hmac.New(sha256.New, macKey) }
	return k, nil
}

// tag writes the 16-byte tag of sealed into dst.
func (k *checkoutKeys) tag(dst, sealed []byte) {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(sealed)
	var sum [sha256.Size]byte
	copy(dst, h.Sum(sum[:0])[:16])
	k.macs.Put(h)
}

// appendToken appends the checkout token of order id to dst.
func (k *checkoutKeys) appendToken(dst []byte, id int64) []byte {
	var buf [32]byte
	copy(buf[:8], tokenMagic)
	binary.BigEndian.PutUint64(buf[8:16], uint64(id))
	k.block.Encrypt(buf[:16], buf[:16])
	k.tag(buf[16:], buf[:16])
	return base64.RawURLEncoding.AppendEncode(dst, buf[:])
}

// token is the checkout token of order id.
func (k *checkoutKeys) token(id int64) string { return string(k.appendToken(nil, id)) }

// orderID returns the order a token names; false for anything this store
// did not issue (the tag is checked, in constant time, before anything else).
func (k *checkoutKeys) orderID(tok string) (int64, bool) {
	if len(tok) != CheckoutTokenLen {
		return 0, false
	}
	var buf [33]byte
	n, err := base64.RawURLEncoding.Strict().Decode(buf[:], []byte(tok))
	if err != nil || n != 32 {
		return 0, false
	}
	var want [16]byte
	k.tag(want[:], buf[:16])
	if !hmac.Equal(buf[16:32], want[:]) {
		return 0, false
	}
	k.block.Decrypt(buf[:16], buf[:16])
	if string(buf[:8]) != tokenMagic {
		return 0, false
	}
	id := int64(binary.BigEndian.Uint64(buf[8:16]))
	return id, id > 0
}

// newCheckoutSecret draws the per-store secret.
func newCheckoutSecret(r io.Reader) ([]byte, error) {
	b := make([]byte, checkoutSecretLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("shop: checkout secret: %w", err)
	}
	return b, nil
}

// checkoutKeysFor returns the store's checkout keys, creating the secret the
// first time any store instance needs it (in one transaction: two instances
// racing on PostgreSQL serialise, and the loser reads the winner's secret).
// It must not be called inside a store transaction.
func (s *Shop) checkoutKeysFor(ctx context.Context) (*checkoutKeys, error) {
	if k := s.checkout.Load(); k != nil {
		return k, nil
	}
	var secret []byte
	err := s.st.View(ctx, func(tx store.Tx) error {
		v, err := tx.GetMeta(checkoutKeyMeta)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		secret = v
		return err
	})
	if err == nil && secret == nil {
		err = s.update(ctx, func(tx *txn) error {
			v, err := tx.GetMeta(checkoutKeyMeta)
			if err == nil {
				secret = v
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if secret, err = newCheckoutSecret(rand.Reader); err != nil {
				return err
			}
			return tx.PutMeta(checkoutKeyMeta, secret)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("shop: checkout secret: %w", err)
	}
	k, err := newCheckoutKeys(secret)
	if err != nil {
		return nil, err
	}
	s.checkout.CompareAndSwap(nil, k)
	return s.checkout.Load(), nil
}

// PublicURL is where customers and partners reach the service, without a
// trailing slash: http.public_url, or, when that is unset (the sandbox
// default), http://<http.listen> with a wildcard host read as localhost —
// good for this machine only.
func (s *Shop) PublicURL() string {
	if u := s.cfg.HTTP.PublicURL; u != "" {
		return strings.TrimSuffix(u, "/")
	}
	return listenURL(s.cfg.HTTP.Listen)
}

func listenURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// CheckoutToken is the token of o's payment page; "" for orders without
// one (balance orders) or when the store's secret cannot be read (logged).
func (s *Shop) CheckoutToken(o *domain.Order) string {
	if o.PaymentMethod != domain.MethodTonMemo || o.ID <= 0 {
		return ""
	}
	k, err := s.checkoutKeysFor(context.Background())
	if err != nil {
		s.log.Error("checkout token unavailable", "order_id", o.ID, "err", err)
		return ""
	}
	return k.token(o.ID)
}

// CheckoutURL is o's payment page, <PublicURL>/pay/<token>; "" for
// balance orders. Every order view carries it, so it is cheap: the keys
// are cached, the HMAC state pooled.
func (s *Shop) CheckoutURL(o *domain.Order) string {
	if o.PaymentMethod != domain.MethodTonMemo || o.ID <= 0 {
		return ""
	}
	k, err := s.checkoutKeysFor(context.Background())
	if err != nil {
		s.log.Error("checkout URL unavailable", "order_id", o.ID, "err", err)
		return ""
	}
	base := s.PublicURL()
	b := make([]byte, 0, len(base)+len(CheckoutPath)+CheckoutTokenLen)
	b = append(append(b, base...), CheckoutPath...)
	b = k.appendToken(b, o.ID)
	return string(b)
}

// OrderByCheckoutToken returns the order a checkout token names; NOT_FOUND
// for a malformed token, one another store issued, a forged one, and for
// orders that have no payment page.
func (s *Shop) OrderByCheckoutToken(ctx context.Context, token string) (*domain.Order, error) {
	k, err := s.checkoutKeysFor(ctx)
	if err != nil {
		return nil, err
	}
	id, ok := k.orderID(token)
	if !ok {
		return nil, notFound("order")
	}
	var o *domain.Order
	err = s.st.View(ctx, func(tx store.Tx) error {
		got, err := tx.GetOrder(id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && got.PaymentMethod != domain.MethodTonMemo) {
			return notFound("order")
		}
		o = got
		return err
	})
	return o, err
}

// AmountDue is what a ton_memo order still waits for: its price less what
// arrived, 0 once covered (and for orders no longer waiting).
func AmountDue(o *domain.Order) int64 {
	price, got := o.Price(), o.Received()
	if o.Status != domain.StatusPendingPayment || got >= price {
		return 0
	}
	return price - got
}

// DueLink is the ton:// link paying what o still waits for: its
// payment_link while nothing arrived, the rest after a partial payment; ""
// when nothing is due.
func DueLink(o *domain.Order) string {
	due := AmountDue(o)
	if due == 0 || o.PaymentMethod != domain.MethodTonMemo {
		return ""
	}
	return o.TransferLink(due)
}

// WalletRequest is the one message a wallet is asked to send for an order
// (TON Connect's sendTransaction).
type WalletRequest struct {
	Address    string // TON: payment_address (non-bounceable); USDT: the payer's jetton wallet (bounceable)
	AmountNano int64  // what is due
	Payload    string // base64 bag of cells of the memo's comment cell
	ValidUntil time.Time
	ChainID    string // TON Connect's CHAIN: "-239" mainnet, "-3" testnet (and sandbox)
}

// WalletRequestFor builds the wallet request of a TON ton_memo order that
// is still waiting for money; nil when it is not. A USDT order's request
// depends on the payer's wallet: PayerWalletRequest.
func (s *Shop) WalletRequestFor(o *domain.Order) (*WalletRequest, error) {
	due := AmountDue(o)
	if o.PaymentMethod != domain.MethodTonMemo || o.PaymentCurrency != domain.CurrencyTON || due == 0 || o.ExpiresAt == nil {
		return nil, nil
	}
	payload, err := ton.CommentBOC(o.PaymentMemo)
	if err != nil {
		return nil, fmt.Errorf("shop: wallet request of order %d: %w", o.ID, err)
	}
	return &WalletRequest{Address: o.PaymentAddress, AmountNano: due, Payload: payload,
		ValidUntil: *o.ExpiresAt, ChainID: ton.ChainID(s.cfg.TON.Network)}, nil
}

// PayerWalletUsable reports whether a USDT order still waiting for money can
// be paid through TON Connect (PayerWalletRequest, once the payer's wallet
// is connected).
func (s *Shop) PayerWalletUsable(o *domain.Order) bool {
	return s.usdt.on && s.usdt.resolver != nil && o.PaymentMethod == domain.MethodTonMemo &&
		o.PaymentCurrency == domain.CurrencyUSDT && AmountDue(o) > 0 && o.ExpiresAt != nil
}

// PayerWalletRequest builds the TON Connect request that pays what a USDT
// order still waits for from the connected wallet payer: one message to the
// payer's own USDT jetton wallet (of the configured master, resolved as our
// own jetton wallets are: ton.ResolveJettonWallet over the proven chain;
// the sandbox derives it) carrying a TEP-74 transfer of the units due to
// our owner address (payment_address), leftover TON back to the payer,
// forward_ton_amount 1 nanoton and the memo as the forward payload's
// comment, with ton.JettonPayAttachNano attached for the fees. nil when the
// order is not payable that way; a VALIDATION_ERROR naming "address" for a
// payer address that is not one; SERVICE_UNAVAILABLE when the jetton wallet
// cannot be resolved now.
func (s *Shop) PayerWalletRequest(ctx context.Context, o *domain.Order, payer string) (*WalletRequest, error) {
	if !s.PayerWalletUsable(o) {
		return nil, nil
	}
	pa, err := ton.ParseAddress(payer)
	if err != nil || pa.Workchain() != 0 {
		return nil, validation("address", "address", "address must be the connected wallet's TON address (basechain)")
	}
	jw, err := s.usdt.resolver.JettonWallet(ctx, s.usdt.master, pa.StringRaw())
	if err != nil {
		s.log.Warn("checkout: the payer's USDT jetton wallet cannot be resolved", "order_id", o.ID, "err", err)
		return nil, newErr(CodeServiceUnavailable, "", "", "the payer's USDT jetton wallet cannot be found right now; pay with the link or the QR code, or retry")
	}
	to, err := ton.ParseAddress(jw)
	if err != nil {
		return nil, fmt.Errorf("shop: payer jetton wallet %q: %w", jw, err)
	}
	to.SetBounce(true) // a jetton wallet is a contract: a failed transfer must bounce back
	to.SetTestnetOnly(s.cfg.TON.Network != ton.NetworkMainnet)
	payload, err := ton.JettonTransferBOC(uint64(o.ID), AmountDue(o), o.PaymentAddress, pa.StringRaw(), o.PaymentMemo)
	if err != nil {
		return nil, fmt.Errorf("shop: jetton wallet request of order %d: %w", o.ID, err)
	}
	return &WalletRequest{Address: to.String(), AmountNano: ton.JettonPayAttachNano, Payload: payload,
		ValidUntil: *o.ExpiresAt, ChainID: ton.ChainID(s.cfg.TON.Network)}, nil
}

// Network is ton.network: sandbox, testnet or mainnet.
func (s *Shop) Network() string { return s.cfg.TON.Network }

// Now is the shop's clock (UTC), so pages count down against the same time
// that expires orders.
func (s *Shop) Now() time.Time { return s.now() }

// TelegramOrders lists the orders of the partner a Telegram user is (the
// bot's users order as partners of their own), newest first; none when the
// user never used the bot.
func (s *Shop) TelegramOrders(ctx context.Context, userID int64, limit int) ([]domain.Order, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	var out []domain.Order
	err := s.st.View(ctx, func(tx store.Tx) error {
		p, err := tx.PartnerByTelegram(userID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = tx.ListOrders(p.ID, store.OrderQuery{Limit: limit})
		return err
	})
	return out, err
}
