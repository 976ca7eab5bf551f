package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
)

// paidTimeout bounds the wait for one payment to be matched.
const paidTimeout = 30 * time.Second

// benchPayments lands a steady stream of sandbox transfers (rate per second,
// for d) paying pending orders, with the shop's background loops running,
// and returns the latency from SandboxTransfer until the order has left
// pending_payment, sorted. Shop-level calls; the order is polled every ms
// at first, then at a tenth of the time waited.
func benchPayments(ctx context.Context, s *shop.Shop, partners []int64, rate int, d time.Duration) ([]time.Duration, error) {
	count := max(int(float64(rate)*d.Seconds()), 20)
	orders := make([]*domain.Order, count)
	var wg sync.WaitGroup
	errs := make(chan error, count)
	sem := make(chan struct{}, 16)
	for i := range orders {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			o, _, err := s.CreateOrder(ctx, partners[i%len(partners)], shop.OrderRequest{Kind: domain.KindStars,
				RecipientUsername: "pandus", Quantity: 100, PaymentMethod: domain.MethodTonMemo})
			if err != nil {
				errs <- fmt.Errorf("bench: order to pay: %w", err)
				return
			}
			orders[i] = o
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}

	lat := make([]time.Duration, count)
	payErrs := make(chan error, count)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i, o := range orders {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := payAndWait(ctx, s, o.PartnerID, o)
			if err != nil {
				payErrs <- err
				return
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	close(payErrs)
	if err := <-payErrs; err != nil {
		return nil, err
	}
	slices.Sort(lat)
	return lat, nil
}

func payAndWait(ctx context.Context, s *shop.Shop, partnerID int64, o *domain.Order) (time.Duration, error) {
	start := time.Now()
	_, err := s.SandboxTransfer(ctx, partnerID, shop.SandboxTransferRequest{ToAddress: o.PaymentAddress,
		AmountNano: o.PriceNano, Comment: o.PaymentMemo})
	if err != nil {
		return 0, fmt.Errorf("bench: sandbox transfer: %w", err)
	}
	for {
		got, err := s.Order(ctx, partnerID, o.ID)
		if err != nil {
			return 0, fmt.Errorf("bench: poll order: %w", err)
		}
		switch got.Status {
		case domain.StatusPendingPayment:
		case domain.StatusPaid, domain.StatusProcessing, domain.StatusCompleted:
			return time.Since(start), nil
		default:
			return 0, fmt.Errorf("bench: order %d became %s, not paid", o.ID, got.Status)
		}
		if time.Since(start) > paidTimeout {
			return 0, fmt.Errorf("bench: order %d not paid after %s", o.ID, paidTimeout)
		}
		// Poll at a tenth of the time waited so far (1–20 ms): the answer
		// is late by at most ~10 %, and on PostgreSQL, where every poll is
		// a query, slow payments are not slowed further by the polling.
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(min(max(time.Since(start)/10, time.Millisecond), 20*time.Millisecond)):
		}
	}
}

// quantile of sorted durations (q in [0,1]).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}
