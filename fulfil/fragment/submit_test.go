package fragment

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
)

// sendHeldPayer stops in SendBatch (before signing) until released.
type sendHeldPayer struct {
	Payer
	entered chan struct{}
	release chan struct{}
}

func (s *sendHeldPayer) SendBatch(ctx context.Context, ms []Message, reserve int64, record func(context.Context, SentBatch) error) (SentBatch, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Payer.SendBatch(ctx, ms, reserve, record)
}

// submitWaitsForTheBatcher says whether a goroutine is in pipeline.submit
// waiting for the batcher's answer (its caller's context ended while the
// batcher held the payment): a blocking receive, not the select before it.
func submitWaitsForTheBatcher() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("[chan receive")) && bytes.Contains(g, []byte("(*pipeline).submit")) {
			return true
		}
	}
	return false
}

// A Deliver whose context ends while the batcher holds its payment, which
// the batcher then puts back unsigned (here: a batch loaded meanwhile has
// not been looked up, and the look-ups never answer), returns: the payment
// is answered with the context's error, not left in the queue with its
// caller waiting for an answer nothing would give.
func TestCancelledPaymentPutBackIsAnswered(t *testing.T) {
	_, srv := newFakeFragment(t)
	wp, chain := newTestPayer(t, func(o *WalletPayerOptions) { o.BounceWindow = -1 })
	g := newGatedPayer(wp) // look-ups never answer
	held := &sendHeldPayer{Payer: g, entered: make(chan struct{}), release: make(chan struct{})}
	recs := shop.PayerRecords{Store: testStore(t)}
	reconciled(t, recs, wp)
	p := newTestProvider(t, srv.URL, held, func(o *Options) { o.Records = recs; o.ResendAfter = time.Hour; o.ConfirmTimeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Not deliverAsync: its cleanup would wait for a Deliver that never
	// returns (the defect), so the test would hang instead of failing.
	done := make(chan error, 1)
	go func() {
		_, err := p.Deliver(ctx, starsReq("alice_user", 100), noSave)
		done <- err
	}()
	select {
	case <-held.entered:
	case err := <-done:
		t.Fatalf("Deliver returned before its payment was signed: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the batcher never took the payment")
	}
	// While the batcher holds the payment: a batch from the store (another
	// instance's) is followed, not looked up yet; the caller gives up.
	pl := p.pipe.Load()
	pl.add(&domain.PayerBatch{ID: 1 << 40, Wallet: wp.Account().Address, Seqno: 1 << 20, CreatedAt: time.Now(), Messages: 1}, nil, false)
	cancel()
	waitLong(t, "the cancelled Deliver waiting for the batcher's answer", submitWaitsForTheBatcher)
	close(held.release)
	err := recv(t, "the cancelled Deliver", done)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver: %v; want the context's error", err)
	}
	pl.mu.Lock()
	left := len(pl.ready)
	pl.mu.Unlock()
	if sends, _ := g.counts(); left != 0 || sends != 1 || paymentsOnChain(chain) != 0 || len(records(t, p, 7)) != 0 {
		t.Fatalf("%d payments left in the queue, %d batches asked to sign, %d payments on chain, records %v; want 0, 1, 0, none",
			left, sends, paymentsOnChain(chain), records(t, p, 7))
	}
}
