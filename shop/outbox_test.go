package shop_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/ton"
)

// stuckNotifier hangs on one partner's events until released and records
// the others'.
type stuckNotifier struct {
	stuck   int64
	release chan struct{}
	mu      sync.Mutex
	got     []int64
	seen    chan int64
}

func (n *stuckNotifier) Notify(ctx context.Context, p *domain.Partner, it *domain.OutboxItem) error {
	if p.ID == n.stuck {
		<-n.release
	}
	n.mu.Lock()
	n.got = append(n.got, p.ID)
	n.mu.Unlock()
	n.seen <- p.ID
	return nil
}

// One partner's endpoint hanging must not hold up another partner's events.
func TestOutboxSlowPartnerDoesNotBlockOthers(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	a, err := env.Shop.TelegramPartner(ctx, shop.TelegramUser{ID: 1, ChatID: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Shop.TelegramPartner(ctx, shop.TelegramUser{ID: 2, ChatID: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*domain.Partner{a, b} {
		if _, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: txHash(), To: p.TopupAddress, AmountNano: 1e9, Incoming: true, ChainTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	n := &stuckNotifier{stuck: a.ID, release: make(chan struct{}), seen: make(chan int64, 4)}
	done := make(chan error, 1)
	go func() { done <- env.Shop.SendOutbox(ctx, domain.ChannelTelegram, n) }()
	select {
	case id := <-n.seen:
		if id != b.ID {
			t.Fatalf("first delivery to partner %d, want %d", id, b.ID)
		}
	case <-time.After(time.Minute): // A hangs until released: only a broken outbox waits this long
		t.Fatal("partner B's event waited for partner A's hanging endpoint")
	}
	close(n.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 2 {
		t.Fatalf("delivered %v", n.got)
	}
}
