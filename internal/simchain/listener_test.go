package simchain_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/internal/simchain"
	"github.com/theopenmoney/openmoney/ton"
)

// The real listener follows the simulated chain through ton.ChainAPI, from a
// cold start and again from its cursor after the chain moved on.
func TestListenerFollowsTheSimulatedChain(t *testing.T) {
	keys, err := ton.NewKeys(ton.NewSeed(), "v5r1", ton.NetworkTestnet)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := simchain.WalletGenesis(keys.Wallet(), 1e9)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chain")
	const step = 100 * time.Millisecond
	if err := simchain.Create(path, simchain.Config{BlockInterval: step, Accounts: []simchain.Account{acc}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	c, err := simchain.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	customer := "0:" + fmt.Sprintf("%064x", 7)
	send := func(from, n int) {
		var ts []simchain.Transfer
		for i := from; i < from+n; i++ {
			ts = append(ts, simchain.Transfer{From: customer, To: keys.ServiceAddressRaw(), AmountNano: int64(1000 + i), Body: simchain.Comment(fmt.Sprintf("order %d", i))})
		}
		if err := c.Send(ts...); err != nil {
			t.Fatal(err)
		}
	}
	stream := func(cursor string, want int) string {
		t.Helper()
		l := ton.NewListener(ton.ListenerOptions{Network: "testnet", Watched: []string{keys.ServiceAddressRaw()},
			Dial: func(context.Context) (ton.ChainAPI, error) { return c, nil }, PollInterval: step / 4, RetryMin: step})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		got := map[string]bool{}
		last := cursor
		err := l.Stream(ctx, cursor, func(_ context.Context, b ton.Batch) error {
			for _, tr := range b.Transfers {
				if !tr.Incoming || tr.To != keys.ServiceAddressRaw() {
					t.Errorf("transfer %+v", tr)
				}
				got[tr.Comment] = true
			}
			last = b.Cursor
			if len(got) >= want {
				cancel()
			}
			return nil
		})
		if err != nil || len(got) != want {
			t.Fatalf("listener saw %d of %d transfers: %v (status %+v)", len(got), want, err, l.Status())
		}
		return last
	}
	go func() { time.Sleep(3 * step); send(0, 300) }()
	cur := stream("", 300)
	send(300, 5)
	time.Sleep(10 * step)
	stream(cur, 5)
}
