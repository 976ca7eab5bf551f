package fragment

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/fulfil"
)

// The wallet guard. Every batch is recorded before it is broadcast, so the
// service wallet's seqno on chain is never more than one past the newest
// batch in the records — unless the records lost some: the store was
// restored from a backup taken before a batch was recorded and broadcast
// (or someone signed with the service wallet's key elsewhere). The orders
// that batch paid for then look paid and not delivered, and paying them
// again would pay Fragment twice. So the provider compares the two — the
// seqno on chain read first, then the records, so a batch recorded in
// between never looks unknown — when it starts, before every batch (at the
// seqno the batch is signed at, inside its record step: nothing is
// broadcast when it fails) and, while tripped, at most every guardRecheck.
// While the chain is ahead every delivery is held
// (fulfil.HoldWalletUnrecorded) until an operator reconciles
// (shop.ReconcileWallet records the seqno reconciled up to).

// guardRecheck is how often a tripped guard looks again (a reconciliation
// asks at once: RecheckWallet).
const guardRecheck = 10 * time.Second

type walletGuard struct {
	mu       sync.Mutex
	checked  bool         // a check has succeeded once
	checking bool         // a Deliver call is checking: the others do not
	hold     *fulfil.Hold // tripped: every delivery returns it
	at       time.Time    // when the tripped guard was last checked
}

// WalletSeqnos reads the service wallet's raw address, its seqno on chain
// (proven, at the newest view) and the seqno the payment records account
// for, in that order. chain > accounted: the wallet sent messages the
// records do not know.
func (p *Provider) WalletSeqnos(ctx context.Context) (wallet string, chain, accounted uint32, err error) {
	wallet = p.wallet.Account().Address
	if chain, err = p.wallet.Seqno(ctx); err != nil {
		return wallet, 0, 0, fmt.Errorf("fragment: the service wallet's seqno: %w", err)
	}
	if accounted, err = p.records.AccountedSeqno(ctx, wallet); err != nil {
		return wallet, 0, 0, fmt.Errorf("fragment: the payment records' last seqno: %w", err)
	}
	return wallet, chain, accounted, nil
}

// RecheckWallet makes the next delivery check the guard again at once
// (after a reconciliation).
func (p *Provider) RecheckWallet() {
	p.guard.mu.Lock()
	p.guard.checked = false
	p.guard.mu.Unlock()
}

// unrecorded is the hold of a wallet whose seqno on chain is past what the
// records account for.
func unrecorded(wallet string, chain, accounted uint32) *fulfil.Hold {
	return &fulfil.Hold{Reason: fulfil.HoldWalletUnrecorded, Detail: fmt.Sprintf(
		"the service wallet %s has run %d message(s) this store has no record of (seqno %d on chain, the store's payment records end at %d): "+
			"was the store restored from a backup taken before they were sent? Paying now could pay Fragment twice, so nothing is paid. "+
			"Find the wallet's messages with seqno %d to %d in an explorer, see which orders they paid, "+
			"then POST /admin/payer/reconcile with wallet_seqno %d and those orders (docs/OPERATIONS.md, \"Unrecorded wallet payments\"); deliveries resume after that",
		wallet, chain-accounted, chain, accounted, accounted, chain-1, chain)}
}

// guarded returns the guard's hold when the wallet is ahead of the
// records, checking the chain when no check has succeeded yet or the hold
// is guardRecheck old (one caller checks; the others go on with what is
// known). A chain or store that cannot be read is logged and not held for:
// the check before each batch, which cannot be skipped, is the one that
// counts.
func (p *Provider) guarded(ctx context.Context) error {
	g := &p.guard
	g.mu.Lock()
	due := !g.checking && (!g.checked || g.hold != nil && p.now().Sub(g.at) >= guardRecheck)
	h := g.hold
	g.checking = g.checking || due
	g.mu.Unlock()
	if !due {
		if h != nil {
			return h
		}
		return nil
	}
	defer func() {
		g.mu.Lock()
		g.checking = false
		g.mu.Unlock()
	}()
	wallet, chain, accounted, err := p.WalletSeqnos(ctx)
	if err != nil {
		p.log.Warn("fragment: cannot compare the wallet's seqno with the payment records; checking again before the next batch", "err", err)
		if h != nil {
			return h
		}
		return nil
	}
	if h := p.trip(wallet, chain, accounted); h != nil {
		return h
	}
	return nil
}

// trip records the outcome of one comparison and returns the hold, if any.
func (p *Provider) trip(wallet string, chain, accounted uint32) *fulfil.Hold {
	g := &p.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	was := g.hold
	g.checked, g.at, g.hold = true, p.now(), nil
	if chain > accounted {
		g.hold = unrecorded(wallet, chain, accounted)
		if was == nil {
			p.log.Error("fragment: the service wallet sent messages this store has no record of; every delivery is held",
				"wallet", wallet, "seqno_chain", chain, "seqno_recorded", accounted)
		}
		return g.hold
	}
	if was != nil {
		p.log.Info("fragment: the wallet's messages are accounted for again; deliveries resume", "seqno", chain)
	}
	return nil
}

// checkBatch is the guard before a batch is recorded: s is signed at the
// wallet's seqno on chain, read before the records are.
func (p *Provider) checkBatch(ctx context.Context, s SentBatch) error {
	accounted, err := p.records.AccountedSeqno(ctx, s.Wallet)
	if err != nil {
		return fmt.Errorf("fragment: the payment records' last seqno: %w", err)
	}
	if h := p.trip(s.Wallet, s.Seqno, accounted); h != nil {
		return h
	}
	return nil
}
