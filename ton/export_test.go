package ton

import (
	"context"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
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
// newest real one's seqno) committing an invented shard block with txs; it
// returns the invented block's id (the liars serve its data under it).
func (c *fakeChain) Forge(seqno uint32, txs ...*tlb.Transaction) *tonapi.BlockIDExt {
	return c.forge(seqno, txs...).block.id.Copy()
}

// MasterID is the id of the real masterchain block seqno.
func (c *fakeChain) MasterID(seqno uint32) *tonapi.BlockIDExt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.masters[seqno-c.base].id.Copy()
}

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

// GuardedHead is c with its masterchain head, once Anchor is called,
// answered by a scripted liteserver through the client Dial builds
// (tonutils-go's Secure policy under guardClient) anchored at a trusted
// block. Everything else is c's.
type GuardedHead struct {
	*FakeChain
	mu     sync.Mutex
	ls     *scriptedLS
	client *provenClient
}

func NewGuardedHead(c *FakeChain) *GuardedHead { return &GuardedHead{FakeChain: c} }

// Anchor answers the head from now on through a client that trusts
// trusted, with head and, when asked, proof.
func (g *GuardedHead) Anchor(trusted, head *tonapi.BlockIDExt, proof tonapi.PartialBlockProof) {
	ls := &scriptedLS{head: head, proof: proof}
	client := newProvenClient(&guardClient{ls}, trusted)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ls, g.client = ls, client
}

// Answer changes what the anchored liteserver answers.
func (g *GuardedHead) Answer(head *tonapi.BlockIDExt, proof tonapi.PartialBlockProof) {
	g.scripted().answer(head, proof)
}

// ProofsAsked is how many proofs the anchored liteserver was asked for.
func (g *GuardedHead) ProofsAsked() int { return g.scripted().proofsAsked() }

func (g *GuardedHead) scripted() *scriptedLS {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ls
}

func (g *GuardedHead) GetMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error) {
	g.mu.Lock()
	client := g.client
	g.mu.Unlock()
	if client == nil {
		return g.FakeChain.GetMasterchainInfo(ctx)
	}
	return client.GetMasterchainInfo(ctx)
}

func (g *GuardedHead) CurrentMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error) {
	return g.GetMasterchainInfo(ctx)
}
