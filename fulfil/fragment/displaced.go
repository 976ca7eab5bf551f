package fragment

import (
	"context"
	"fmt"

	"github.com/theopenmoney/openmoney/fulfil"
)

// Displaced batches. A message this service did not sign took the seqno of
// an open batch (fulfil.HoldWalletElsewhere): the batch never ran, but
// something else signs with the wallet's key, so its orders are never paid
// again automatically and nothing else is paid while it is open. An
// operator who has stopped the other signer and looked its message up
// settles the batch (shop.ReleaseBatch, in the payment records); the provider then
// stops following it.

// DisplacedBatches are the open batches held because a message this
// service did not sign took their seqno: batch id → what the payer found.
func (p *Provider) DisplacedBatches() map[int64]string {
	out := map[int64]string{}
	pl := p.pipe.Load()
	if pl == nil {
		return out
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for id, b := range pl.open {
		if b.held != nil && b.held.Hold == fulfil.HoldWalletElsewhere {
			out[id] = b.held.Detail
		}
	}
	return out
}

// Reread reads batch id from the payment records again and, when it is settled there
// (an operator settled it), stops following it. The orders delivered were
// completed by the release: a delivery of theirs still in flight is never
// paid (pay refuses them): the deliveries waiting on
// it read its payments' outcomes from the records.
func (p *Provider) Reread(ctx context.Context, id int64, delivered []int64) error {
	pl := p.pipe.Load()
	if pl == nil {
		return nil
	}
	pl.mu.Lock()
	for _, o := range delivered {
		pl.released[o] = true
	}
	pl.mu.Unlock()
	rec, msgs, err := p.records.BatchWithMessages(ctx, id)
	if err != nil {
		return fmt.Errorf("fragment: payment batch %d: %w", id, err)
	}
	if rec.Open() {
		return nil
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if b, ok := pl.open[id]; ok {
		b.rec, b.msgs = *rec, msgs
		delete(pl.open, id)
		pl.notify(b)
		p.log.Warn("fragment: payment batch settled by an operator", "batch", id, "seqno", rec.Seqno, "payments", summary(msgs))
	}
	return nil
}
