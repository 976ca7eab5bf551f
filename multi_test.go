package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/store/pg/pgtest"
)

// leaderOf asks an instance's health whether it holds the leader lock.
func leaderOf(c *client) bool {
	code, data, err := c.do(context.Background(), "GET", "/health", nil, "")
	if err != nil || code != 200 {
		return false
	}
	comp, _ := data["components"].(map[string]any)
	l, _ := comp["leader"].(map[string]any)
	v, _ := l["leader"].(bool)
	return v
}

// Three instances of the binary on one PostgreSQL: orders and payments through
// all three, the leader (which runs the chain listener) killed with SIGKILL
// mid-stream, another takes over; nothing is lost or counted twice. A new
// third instance starts, and 50 concurrent balance orders spread over the
// three against a balance for 7 give exactly 7 orders and 43 × 402.
func TestThreeInstancesOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "c.yaml")
	cfg := fmt.Sprintf("http: {listen: \"127.0.0.1:0\"}\nstore: {driver: postgres, dsn: %q}\napi: {rate_limit: {per_second: 100000, burst: 100000}}\n", dsn)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	var inst []*child
	for i := 0; i < 3; i++ {
		inst = append(inst, startChild(t, cfgPath))
	}
	defer func() {
		for _, c := range inst {
			if c != nil {
				c.cmd.Process.Signal(syscall.SIGKILL)
				<-c.done
			}
		}
	}()
	// One partner created through each instance; every partner is then
	// served by every instance.
	var keys, bases []string
	for _, c := range inst {
		bases = append(bases, c.base)
		code, data, err := (&client{http: hc, base: c.base}).do(context.Background(), "POST", "/sandbox/partners", nil, "")
		if err != nil || code != 200 {
			t.Fatalf("partner: %d %v", code, err)
		}
		keys = append(keys, data["api_key"].(string))
	}
	on := func(instance, partner int) *client {
		return &client{http: hc, base: bases[instance], key: keys[partner]}
	}
	clients := make([]*client, 3)
	for i, c := range inst {
		clients[i] = &client{http: hc, base: c.base, key: keys[0]}
	}
	leader := -1
	deadline := time.Now().Add(time.Minute)
	for leader < 0 && time.Now().Before(deadline) {
		for i, c := range clients {
			if leaderOf(c) {
				leader = i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if leader < 0 {
		t.Fatal("no instance became leader")
	}

	// Orders through every instance, each paid through another one.
	var mu sync.Mutex
	paid := map[int64]string{} // order id → its partner's key
	var wg sync.WaitGroup
	pay := func(round int) {
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := on((w+round)%3, w%3)
				code, o, err := c.do(context.Background(), "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100}, fmt.Sprintf("o-%d-%d", round, w))
				if err != nil || code != 200 {
					return // the killed instance refuses; not acknowledged
				}
				p := on((w+round+1)%3, w%3)
				code, _, err = p.do(context.Background(), "POST", "/sandbox/transfers", map[string]any{"to_address": o["payment_address"], "amount_nanoton": o["price_nanoton"], "comment": o["payment_memo"]}, "")
				if err == nil && code == 200 {
					mu.Lock()
					paid[int64(o["id"].(float64))] = keys[w%3]
					mu.Unlock()
				}
			}()
		}
	}
	pay(0)
	wg.Wait()
	pay(1)
	inst[leader].cmd.Process.Signal(syscall.SIGKILL) // mid-stream
	<-inst[leader].done
	inst[leader] = nil
	wg.Wait()
	pay(2)
	wg.Wait()
	var alive []*client
	var aliveIdx []int
	for i, c := range clients {
		if i != leader {
			alive = append(alive, c)
			aliveIdx = append(aliveIdx, i)
		}
	}
	// Every acknowledged payment ends with its order completed, through the new leader.
	deadline = time.Now().Add(30 * time.Second)
	for id, key := range paid {
		for {
			_, o, err := (&client{http: hc, base: bases[aliveIdx[0]], key: key}).do(context.Background(), "GET", fmt.Sprintf("/orders/%d", id), nil, "")
			if err == nil && o["status"] == "completed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %d never completed after the leader died: %v", id, o)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !leaderOf(alive[0]) && !leaderOf(alive[1]) {
		t.Fatal("no instance took over the leader lock")
	}
	// A new instance in place of the killed one: three again.
	inst[leader] = startChild(t, cfgPath)
	alive = append(alive, &client{http: hc, base: inst[leader].base, key: keys[0]})

	// 50 concurrent balance orders over the three instances against a
	// balance covering 7.
	_, bal, _ := alive[0].do(context.Background(), "GET", "/balance", nil, "")
	price := int64(437500000)
	code, _, err := alive[1].do(context.Background(), "POST", "/sandbox/transfers", map[string]any{"to_address": bal["topup_address"], "amount_nanoton": fmt.Sprint(7*price + 1000)}, "")
	if err != nil || code != 200 {
		t.Fatalf("top-up: %d %v", code, err)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		_, b, _ := alive[0].do(context.Background(), "GET", "/balance", nil, "")
		if b["balance_nanoton"] == fmt.Sprint(7*price+1000) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("top-up not credited: %v", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ok, short int
	other := map[int]int{}
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, _, _ := alive[i%3].do(context.Background(), "POST", "/orders/stars", map[string]any{"recipient_username": "pandus", "quantity": 100, "payment_method": "balance"}, fmt.Sprintf("b-%d", i))
			mu.Lock()
			defer mu.Unlock()
			switch code {
			case 200:
				ok++
			case 402:
				short++
			default:
				other[code]++
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok != 7 || short != 43 {
		t.Fatalf("balance orders over 3 instances: %d ok, %d short (402), other answers %v; want 7 and 43", ok, short, other)
	}
	_, b, _ := alive[0].do(context.Background(), "GET", "/balance", nil, "")
	if b["balance_nanoton"] != "1000" {
		t.Fatalf("balance after: %v", b["balance_nanoton"])
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "-config", cfgPath}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("integrity check: %v\n%s", err, out.String())
	}
	t.Logf("%d paid orders across 3 instances, leader %d killed, %s", len(paid), leader, bytes.TrimSpace(out.Bytes()))
}
