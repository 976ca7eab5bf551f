package fragment

import (
	"context"

	"github.com/theopenmoney/openmoney/domain"
)

// Records is where the payer keeps its batches (one signed wallet message
// each) and each order's payment inside them, so that after a crash or a
// restart a payment is followed, never made again. The service keeps them
// in its own store beside the orders (shop.PayerRecords), so they are
// backed up and copied with them. Every method that writes does so in one
// transaction.
type Records interface {
	// OpenBatches returns every batch not yet settled, oldest first.
	OpenBatches(ctx context.Context) ([]domain.PayerBatch, error)
	// Batch returns one batch.
	Batch(ctx context.Context, id int64) (*domain.PayerBatch, error)
	// BatchWithMessages returns one batch and its messages by index, read
	// together.
	BatchWithMessages(ctx context.Context, id int64) (*domain.PayerBatch, []domain.PayerMessage, error)
	// OrderPayments returns an order's payments, oldest batch first.
	OrderPayments(ctx context.Context, orderID int64) ([]domain.PayerMessage, error)
	// RecordBatch stores a new batch and its messages before the batch is
	// broadcast; it assigns b.ID and sets each message's BatchID.
	RecordBatch(ctx context.Context, b *domain.PayerBatch, msgs []domain.PayerMessage) error
	// RecordOutcomes stores batches and messages whose outcome changed.
	RecordOutcomes(ctx context.Context, batches []domain.PayerBatch, msgs []domain.PayerMessage) error
	// AccountedSeqno is the wallet seqno the records account for: one past
	// the newest batch recorded for wallet (or an operator's
	// reconciliation, a settled batch without payments), 0 when there is
	// none. A wallet whose seqno on chain is higher has sent messages these
	// records do not know (walletguard.go).
	AccountedSeqno(ctx context.Context, wallet string) (uint32, error)
}
