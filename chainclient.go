package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"

	"github.com/theopenmoney/openmoney/fulfil/fragment"
	"github.com/theopenmoney/openmoney/ton"
)

// chainAPI is what the listener (through dial) and the Fragment payer read
// and pay through.
type chainAPI interface {
	fragment.ChainAPI
	dial(ctx context.Context) (ton.ChainAPI, error)
}

var _ chainAPI = (*chainClient)(nil)

// chainClient is one liteserver client shared by the listener and the
// Fragment payer. It dials on first use, so start-up never waits for the
// network; a failed dial is retried by the next call.
type chainClient struct {
	cfg ton.DialConfig
	mu  sync.Mutex
	api tonapi.APIClientWrapped
}

func (c *chainClient) get(ctx context.Context) (tonapi.APIClientWrapped, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api != nil {
		return c.api, nil
	}
	api, err := ton.Dial(ctx, c.cfg)
	if err != nil {
		return nil, err
	}
	w, ok := api.(tonapi.APIClientWrapped)
	if !ok {
		return nil, fmt.Errorf("ton: dial returned %T, not a tonutils client", api)
	}
	c.api = w
	return w, nil
}

// WaitForBlock is the client for one snapshot of the Fragment payer
// (fragment.WalletPayer.at): every read through it is answered by a
// liteserver that has masterchain block seqno (tonutils-go prefixes each
// query with liteServer.waitMasterchainSeqno). Account and get-method reads
// name their block anyway, but ListTransactions names none: without the pin
// a server a block behind the snapshot could answer without the wallet's
// newest transaction — the batch's own. The payer takes a snapshot only
// after CurrentMasterchainInfo succeeded through this client, so it is
// dialled; if not, the returned client fails every call.
func (c *chainClient) WaitForBlock(seqno uint32) tonapi.APIClientWrapped {
	c.mu.Lock()
	api := c.api
	c.mu.Unlock()
	if api == nil {
		return tonapi.NewAPIClient(undialled{})
	}
	return api.WaitForBlock(seqno)
}

// undialled is a liteserver client before the first dial: every call fails.
type undialled struct{}

var errUndialled = errors.New("ton: not connected to the liteservers yet")

func (undialled) QueryLiteserver(context.Context, tl.Serializable, tl.Serializable) error {
	return errUndialled
}
func (undialled) StickyContext(ctx context.Context) context.Context { return ctx }
func (undialled) StickyContextNextNode(context.Context) (context.Context, error) {
	return nil, errUndialled
}
func (undialled) StickyContextNextNodeBalanced(context.Context) (context.Context, error) {
	return nil, errUndialled
}
func (undialled) StickyNodeID(context.Context) uint32 { return 0 }

// dial is the listener's Dial option.
func (c *chainClient) dial(ctx context.Context) (ton.ChainAPI, error) { return c.get(ctx) }

// The methods the Fragment payer calls (fragment.ChainAPI).

func (c *chainClient) CurrentMasterchainInfo(ctx context.Context) (*tonapi.BlockIDExt, error) {
	api, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return api.CurrentMasterchainInfo(ctx)
}

func (c *chainClient) GetBlockData(ctx context.Context, block *tonapi.BlockIDExt) (*tlb.Block, error) {
	api, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return api.GetBlockData(ctx, block)
}

func (c *chainClient) GetAccount(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	api, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return api.GetAccount(ctx, block, addr)
}

func (c *chainClient) RunGetMethod(ctx context.Context, block *tonapi.BlockIDExt, addr *address.Address, method string, params ...interface{}) (*tonapi.ExecutionResult, error) {
	api, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return api.RunGetMethod(ctx, block, addr, method, params...)
}

func (c *chainClient) ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error) {
	api, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return api.ListTransactions(ctx, addr, num, lt, txHash)
}

func (c *chainClient) SendExternalMessage(ctx context.Context, msg *tlb.ExternalMessage) error {
	api, err := c.get(ctx)
	if err != nil {
		return err
	}
	return api.SendExternalMessage(ctx, msg)
}

// walletBalance reads the service wallet's balance (shop.Deps.Wallet: the
// operators' alerts and /status), from the proven account state.
type walletBalance struct {
	c    chainAPI
	addr *address.Address
}

func (w walletBalance) Balance(ctx context.Context) (int64, error) {
	api := w.c
	head, err := api.CurrentMasterchainInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("service wallet balance: masterchain info: %w", err)
	}
	acc, err := api.GetAccount(ctx, head, w.addr)
	if err != nil {
		return 0, fmt.Errorf("service wallet balance: %w", err)
	}
	if acc == nil || !acc.IsActive || acc.State == nil {
		return 0, nil // never received anything: not deployed
	}
	n := acc.State.Balance.Nano()
	if !n.IsInt64() {
		return 0, fmt.Errorf("service wallet balance %s nanotons does not fit", n)
	}
	return n.Int64(), nil
}

// chainJettons finds our jetton wallets over the proven chain (shop.Deps.Jettons).
type chainJettons struct{ c ton.JettonChain }

func (j chainJettons) JettonWallet(ctx context.Context, master, owner string) (string, error) {
	return ton.ResolveJettonWallet(ctx, j.c, master, owner)
}
