package ton

import (
	"encoding/hex"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
)

// The scripted chain of fakechain_test.go for the external tests of this
// directory (package ton_test), which run the listener into a real shop.

// FakeChain is the scripted chain (a pool of liteservers, some of which may
// lie); it implements ChainAPI.
type FakeChain = fakeChain

// Lie is what a lying liteserver does (LieLookup, LieBlockData, LieTx).
type Lie = lie

const (
	LieLookup    = lieLookup
	LieBlockData = lieBlockData
	LieTx        = lieTx
)

// NewFakeChain is a chain at its genesis.
func NewFakeChain(t testing.TB) *FakeChain { return newFakeChain(t) }

// FakeListenerOptions are fast listener options over c.
func FakeListenerOptions(t testing.TB, c *FakeChain, watched ...string) ListenerOptions {
	return fakeOptions(t, c, watched...)
}

// FakeAccount is a made-up account address, raw, named after who.
func FakeAccount(who string) string { return "0:" + hex.EncodeToString(fakeHash(who)) }

// Pay is an internal transfer from → to of nano nanotons with a text
// comment, as the chain records it on to's account (not yet in a block).
func (c *fakeChain) Pay(from, to string, nano int64, comment string) *tlb.Transaction {
	return c.tx(txOpts{to: to, from: from, nano: nano, body: commentCell(comment)})
}

// Mine puts txs in a new shard block and commits it; it returns the
// masterchain seqno.
func (c *fakeChain) Mine(txs ...*tlb.Transaction) uint32 { return c.mine(txs...) }

// Forge makes the liars know an invented masterchain block seqno (the
// newest real one's seqno) committing an invented shard block with txs.
func (c *fakeChain) Forge(seqno uint32, txs ...*tlb.Transaction) { c.forge(seqno, txs...) }

// SetHidden keeps the newest n masterchain blocks from being served.
func (c *fakeChain) SetHidden(n int) { c.setHidden(n) }

// SetLies makes every liteserver of the pool tell l (0: all honest).
func (c *fakeChain) SetLies(l Lie) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := uint32(1); n <= c.nodes; n++ {
		c.lies[n] = l
	}
}

// SetTamper replaces how a LieTx liar changes a transaction.
func (c *fakeChain) SetTamper(f func(*tlb.Transaction)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tamper = f
}

// CallCount is how many times method was called.
func (c *fakeChain) CallCount(method string) int { return c.callCount(method) }

// WaitUntil polls cond for up to d and fails the test after.
var WaitUntil = waitUntilTimeout

// TxHash is a transaction's hash as the listener reports it (Transfer.Hash).
func TxHash(tx *tlb.Transaction) string { return hashOf(tx) }
