package ton

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonapi "github.com/xssnick/tonutils-go/ton"
)

// An account's history is read back from a proven starting point (the
// account state's last transaction, or a transaction's prev link), one page
// at a time. A page nobody serves is a gap, never the end of the history:
// the history ends only at a transaction with no predecessor (prev lt 0), or
// at the bound the reader needs. The listener (backfill) and the Fragment
// payer (its wallet's and Fragment's histories) read it this one way.

// HistoryPageSize is how many transactions one ListTransactions call asks for.
const HistoryPageSize = 16

// maxHistoryNodes bounds how many other liteservers one history page is asked of.
const maxHistoryNodes = 8

// TxLister is the part of the liteserver client that reads an account's
// history (tonutils-go's ListTransactions: up to num transactions ending
// with (lt, txHash), oldest first, each checked against the previous one's
// link).
type TxLister interface {
	ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error)
}

// HistorySource reads history pages from API's liteserver, then from other
// liteservers of its pool (when API is tonutils-go's client, or forwards its
// Client), then from the archive.
type HistorySource struct {
	API TxLister
	// Archive returns the archival liteservers (ton.archive_config_url),
	// dialled when first needed; nil or a nil answer: none.
	Archive func(ctx context.Context) TxLister
	Log     *slog.Logger // nil: silent
	// Failed, when set, is told of every failed answer (the listener counts
	// unproven ones).
	Failed func(error)
}

// Page returns the page of a's transactions ending with (lt, hash), oldest
// first. The transaction exists (a proven link or account state names it),
// so an empty answer or tonutils-go's ErrNoTransactionsWereFound means the
// server lacks it: the next server is asked, and when none serves it the
// error wraps ErrNoTransactionsWereFound — a gap for the caller, never the
// end of the history.
func (s HistorySource) Page(ctx context.Context, a *address.Address, lt uint64, hash []byte) ([]*tlb.Transaction, error) {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	page := func(ctx context.Context, api TxLister) ([]*tlb.Transaction, error) {
		txs, err := api.ListTransactions(ctx, a, HistoryPageSize, lt, hash)
		if err == nil && len(txs) == 0 {
			err = tonapi.ErrNoTransactionsWereFound
		}
		if errors.Is(err, tonapi.ErrNoTransactionsWereFound) {
			err = fmt.Errorf("transaction lt %d not served: %w", lt, err)
		}
		if err != nil && s.Failed != nil {
			s.Failed(err)
		}
		return txs, err
	}
	txs, err := page(ctx, s.API)
	if err == nil || ctx.Err() != nil {
		return txs, err
	}
	log.Warn("account history page not served; asking other liteservers", "account", a.StringRaw(), "lt", lt, "err", err)
	if sc, ok := s.API.(stickyClient); ok {
		if c := sc.Client(); c != nil {
			nctx := ctx
			for range maxHistoryNodes {
				var e error
				if nctx, e = c.StickyContextNextNode(nctx); e != nil {
					break // every server of the pool was asked
				}
				if txs, err = page(nctx, s.API); err == nil {
					return txs, nil
				}
			}
		}
	}
	if s.Archive != nil {
		if arch := s.Archive(ctx); arch != nil {
			if txs, err = page(ctx, arch); err == nil {
				log.Info("account history page read from the archive", "account", a.StringRaw(), "lt", lt)
				return txs, nil
			}
		}
	}
	return nil, err
}

// HistoryGap is a range of an account's history no liteserver could serve:
// its transactions at and before lt UpToLT, back to Since (the listener) or
// down to AfterLT, exclusive (the payer).
type HistoryGap struct {
	Account string    // raw address
	UpToLT  uint64    // the newest unread transaction (a proven link names it)
	Since   time.Time // backfill needs everything back to this time
	AfterLT uint64    // or everything after this lt
	Head    uint32    // masterchain block the history was read at
	Err     error     // the last answer
}

func (g HistoryGap) String() string {
	back := "back to " + g.Since.UTC().Format(time.RFC3339)
	if g.Since.IsZero() {
		back = fmt.Sprintf("down to lt %d", g.AfterLT)
	}
	return fmt.Sprintf("account %s: transactions at and before lt %d, %s, unread (history as of masterchain block %d): %v",
		g.Account, g.UpToLT, back, g.Head, g.Err)
}

// Error makes one gap an error (errors.Is(err, ErrHistoryGap) holds).
func (g *HistoryGap) Error() string { return ErrHistoryGap.Error() + ": " + g.String() }

// Is makes errors.Is(g, ErrHistoryGap) hold.
func (g *HistoryGap) Is(target error) bool { return target == ErrHistoryGap }

// Unwrap is the last answer.
func (g *HistoryGap) Unwrap() error { return g.Err }

// ErrHistoryGap: an account's history could not be read; whoever needed it
// did not move past it (the listener's cursor, the payer's conclusions).
var ErrHistoryGap = errors.New("account history gap")
