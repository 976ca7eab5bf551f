package simchain

import (
	"context"
	"errors"
	"slices"

	"github.com/xssnick/tonutils-go/tl"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

// Pool is the node switching of a liteserver pool, for fakes that play a
// pool of several liteservers (some lying, some lacking history): a
// tonutils-go LiteClient that is "sticky" like the real one. StickyContext
// binds an unbound context to node 1; StickyContextNextNode binds it to the
// lowest node it was not bound to yet, and fails once every node was. The
// fake reads the node a call is bound to with NodeOf (0: none). Raw queries
// are not served.
type Pool struct {
	// Nodes is how many nodes the pool has when asked; a fake that changes
	// its size reads it under its own lock.
	Nodes func() uint32
}

type poolNodeKey struct{}
type poolUsedKey struct{}

// NodeOf is the node ctx is bound to (0: none).
func NodeOf(ctx context.Context) uint32 {
	n, _ := ctx.Value(poolNodeKey{}).(uint32)
	return n
}

func (Pool) QueryLiteserver(context.Context, tl.Serializable, tl.Serializable) error {
	return errors.New("fake: raw queries are not served")
}

func (Pool) StickyContext(ctx context.Context) context.Context {
	if NodeOf(ctx) != 0 {
		return ctx
	}
	return context.WithValue(ctx, poolNodeKey{}, uint32(1))
}

func (p Pool) StickyContextNextNode(ctx context.Context) (context.Context, error) {
	used, _ := ctx.Value(poolUsedKey{}).([]uint32)
	if cur := NodeOf(ctx); cur != 0 {
		used = append(slices.Clone(used), cur)
	}
	nodes := p.Nodes()
	for id := uint32(1); id <= nodes; id++ {
		if !slices.Contains(used, id) {
			return context.WithValue(context.WithValue(ctx, poolUsedKey{}, used), poolNodeKey{}, id), nil
		}
	}
	return ctx, errors.New("fake: no more nodes left")
}

func (p Pool) StickyContextNextNodeBalanced(ctx context.Context) (context.Context, error) {
	return p.StickyContextNextNode(ctx)
}

func (Pool) StickyNodeID(ctx context.Context) uint32 { return NodeOf(ctx) }

var _ tonapi.LiteClient = Pool{}
