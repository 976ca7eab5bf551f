package store

import (
	"context"

	"github.com/theopenmoney/openmoney/domain"
)

// SandboxLog is the sandbox chain's log (ton.SandboxLog) kept in a Store:
// each call is a transaction of its own.
type SandboxLog struct{ Store Store }

// AppendSandboxTx appends data in an Update: durable when it returns.
func (l SandboxLog) AppendSandboxTx(ctx context.Context, data []byte) (uint64, error) {
	var seq uint64
	err := l.Store.Update(ctx, func(tx Tx) error {
		var err error
		seq, err = tx.AppendSandboxTx(data)
		return err
	})
	return seq, err
}

// SandboxTxAfter reads up to limit entries after seq.
func (l SandboxLog) SandboxTxAfter(ctx context.Context, seq uint64, limit int) ([]domain.SandboxTx, error) {
	var recs []domain.SandboxTx
	err := l.Store.View(ctx, func(tx Tx) error {
		var err error
		recs, err = tx.SandboxTxAfter(seq, limit)
		return err
	})
	return recs, err
}
