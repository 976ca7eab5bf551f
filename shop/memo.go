package shop

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// A payment memo is the order kind and six base-36 characters, derived from
// the order id by a keyed permutation of the 36⁶ codes (memoCipher): unique
// by construction, so it needs no uniqueness probe and no index, and the id
// comes back from the memo by the inverse permutation. The key is random per
// store and kept in its meta, so memos stay unguessable in sequence and do
// not reveal order volume. (Random memos in a unique index were the other
// scheme; docs/PERFORMANCE.md has the measurement that dropped them.)

// memoAlphabet is the code's digits.
const memoAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// memoSpace is the number of six-character base-36 codes.
const memoSpace = 36 * 36 * 36 * 36 * 36 * 36 // 2 176 782 336

// memoKeyMeta names the store meta value holding the memo cipher key.
const memoKeyMeta = "memo_key"

// memoRounds of the Feistel network; more than the 4 Luby–Rackoff needs, as
// the halves are only 16 bits.
const memoRounds = 8

// memoCipher is a format-preserving permutation of [0, memoSpace): a
// balanced Feistel network on 32 bits with AES as the round function,
// restricted to the domain by cycle walking (memoSpace is about 2³¹, so a
// walk takes two steps on average).
type memoCipher struct {
	block cipher.Block
}

func newMemoCipher(key []byte) (*memoCipher, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("shop: memo key is %d bytes, want 16", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &memoCipher{block: b}, nil
}

// round is the round function; buf is 32 bytes of scratch (the block
// cipher's arguments escape, so callers allocate it once per walk).
func (c *memoCipher) round(buf []byte, r int, half uint16) uint16 {
	in, out := buf[:16], buf[16:32]
	clear(in)
	in[0] = byte(r)
	binary.BigEndian.PutUint16(in[1:], half)
	c.block.Encrypt(out, in)
	return binary.BigEndian.Uint16(out)
}

func (c *memoCipher) permute(buf []byte, x uint32) uint32 {
	l, r := uint16(x>>16), uint16(x)
	for i := range memoRounds {
		l, r = r, l^c.round(buf, i, r)
	}
	return uint32(l)<<16 | uint32(r)
}

func (c *memoCipher) unpermute(buf []byte, x uint32) uint32 {
	l, r := uint16(x>>16), uint16(x)
	for i := memoRounds - 1; i >= 0; i-- {
		l, r = r^c.round(buf, i, l), l
	}
	return uint32(l)<<16 | uint32(r)
}

// encrypt maps v < memoSpace to a code < memoSpace (cycle walking).
func (c *memoCipher) encrypt(v uint32) uint32 {
	buf := make([]byte, 32)
	for v = c.permute(buf, v); v >= memoSpace; v = c.permute(buf, v) {
	}
	return v
}

// decrypt is encrypt's inverse on [0, memoSpace).
func (c *memoCipher) decrypt(v uint32) uint32 {
	buf := make([]byte, 32)
	for v = c.unpermute(buf, v); v >= memoSpace; v = c.unpermute(buf, v) {
	}
	return v
}

// memo is the derived memo of order id of kind, or false when the id is
// beyond the code space.
func (c *memoCipher) memo(kind domain.Kind, id int64) (string, bool) {
	if id <= 0 || id >= memoSpace {
		return "", false
	}
	v := c.encrypt(uint32(id))
	var code [6]byte
	for i := 5; i >= 0; i-- {
		code[i] = memoAlphabet[v%36]
		v /= 36
	}
	return strings.ToUpper(string(kind)) + "-" + string(code[:]), true
}

// orderID is the id whose derived memo memo (canonical form) would be, or
// false when memo is not of the form KIND-xxxxxx.
func (c *memoCipher) orderID(memo string) (int64, bool) {
	_, code, ok := strings.Cut(memo, "-")
	if !ok || len(code) != 6 {
		return 0, false
	}
	var v uint32
	for i := range len(code) {
		d := strings.IndexByte(memoAlphabet, code[i])
		if d < 0 {
			return 0, false
		}
		v = v*36 + uint32(d)
	}
	return int64(c.decrypt(v)), true
}

// memoCipherFor returns the store's memo cipher, creating its key in tx when the
// store has none yet. The cipher is cached only once the key is known to be
// committed (see keepMemoCipher), since tx may still roll back.
func (s *Shop) memoCipherFor(tx store.Tx, create bool) (*memoCipher, error) {
	if c := s.memo.Load(); c != nil {
		return c, nil
	}
	key, err := tx.GetMeta(memoKeyMeta)
	if errors.Is(err, store.ErrNotFound) {
		if !create {
			return nil, nil // no order has a derived memo yet
		}
		key = make([]byte, 16)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := tx.PutMeta(memoKeyMeta, key); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return newMemoCipher(key)
}

// keepMemoCipher caches c after the transaction that read or wrote its key
// committed.
func (s *Shop) keepMemoCipher(c *memoCipher) {
	if c != nil {
		s.memo.CompareAndSwap(nil, c)
	}
}

// memoCipher returns the store's memo cipher for a new order, creating its
// key (in a serializable transaction of its own, so two instances agree on
// one key) when the store has none yet.
func (s *Shop) memoCipher(ctx context.Context) (*memoCipher, error) {
	if c := s.memo.Load(); c != nil {
		return c, nil
	}
	var c *memoCipher
	err := s.update(ctx, func(tx *txn) error {
		var err error
		c, err = s.memoCipherFor(tx, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.keepMemoCipher(c)
	return c, nil
}

// errMemoSpace: order ids have outgrown the six-character memo codes
// (2 176 782 335 ton_memo orders); memos would need a seventh character.
var errMemoSpace = errors.New("shop: order id beyond the memo code space (2 176 782 335 orders)")

// Memo is the payment memo order id of kind has (or will have), for tools
// that write orders directly (openmoney bench's data set). It creates the
// store's memo key when the store has none yet.
func (s *Shop) Memo(ctx context.Context, kind domain.Kind, id int64) (string, error) {
	c, err := s.memoCipher(ctx)
	if err != nil {
		return "", err
	}
	m, ok := c.memo(kind, id)
	if !ok {
		return "", errMemoSpace
	}
	return m, nil
}

// assignMemo gives a new ton_memo order (its ID set) its derived memo.
func (s *Shop) assignMemo(c *memoCipher, o *domain.Order) error {
	m, ok := c.memo(o.Type, o.ID)
	if !ok {
		return errMemoSpace
	}
	o.PaymentMemo = m
	return nil
}

// findMemo finds the order whose payment memo is memo (canonical form); c
// may be nil: no order has a memo yet.
func (s *Shop) findMemo(tx store.Tx, c *memoCipher, memo string) (*domain.Order, error) {
	if c == nil {
		return nil, store.ErrNotFound
	}
	id, ok := c.orderID(memo)
	if !ok || id <= 0 {
		return nil, store.ErrNotFound
	}
	o, err := tx.GetOrder(id)
	if err != nil {
		return nil, err
	}
	if o.PaymentMemo != memo {
		return nil, store.ErrNotFound
	}
	return o, nil
}
