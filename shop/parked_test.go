package shop_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/pricing"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// topup is a transfer of amount to p's top-up address.
func topup(p *domain.Partner, amount int64) ton.Transfer {
	return ton.Transfer{Hash: txHash(), To: p.TopupAddress, AmountNano: amount, Incoming: true}
}

// poisoned returns a partner with a balance and the overflow transfer to
// its top-up address (max int64 nanotons: its credit overflows the balance).
func poisoned(t *testing.T, env *shoptest.Env, balance int64) (*domain.Partner, ton.Transfer) {
	t.Helper()
	p, _ := env.Partner(t)
	if _, err := env.Shop.ApplyTransfer(ctx, topup(p, balance)); err != nil {
		t.Fatal(err)
	}
	return p, topup(p, math.MaxInt64)
}

func mustCheck(t *testing.T, env *shoptest.Env) shop.Report {
	t.Helper()
	rep, err := shop.Check(ctx, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("integrity check: %s", strings.Join(rep.Violations, "\n"))
	}
	return rep
}

func TestPoisonTransferIsParkedAndTheBatchGoesOn(t *testing.T) {
	rec := &recorder{}
	env := shoptest.New(t, shoptest.Options{Observer: rec})
	a, poison := poisoned(t, env, 1e9)
	b, _ := env.Partner(t)
	o := newOrder(t, env, b.ID)
	pay := ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: o.PriceNano, Comment: o.PaymentMemo,
		ChainTime: o.CreatedAt, Incoming: true}
	after := topup(a, 5)
	outs, err := env.Shop.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{pay, poison, after}, Cursor: "77"})
	if err != nil {
		t.Fatalf("a batch with a poison transfer failed: %v", err)
	}
	if len(outs) != 3 || outs[0].Kind != domain.SeenOrder || outs[1].Kind != domain.SeenParked || outs[1].ParkedID == 0 ||
		outs[2].Kind != domain.SeenLedger {
		t.Fatalf("outcomes %+v", outs)
	}
	if got, _ := env.Shop.Order(ctx, b.ID, o.ID); got.Status != domain.StatusPaid {
		t.Fatalf("the other partner's order is %s", got.Status)
	}
	if bal, _ := env.Shop.Balance(ctx, a.ID); bal.Nano != 1e9+5 {
		t.Fatalf("poisoned partner's balance %d, want the transfers around the poison credited", bal.Nano)
	}
	var cursor string
	_ = env.Store.View(ctx, func(tx store.Tx) error { v, _ := tx.GetMeta("chain_cursor"); cursor = string(v); return nil })
	if cursor != "77" {
		t.Fatalf("cursor %q: the batch's cursor must be saved with it", cursor)
	}
	pk, err := env.Shop.ParkedTransfer(ctx, outs[1].ParkedID)
	if err != nil {
		t.Fatal(err)
	}
	if pk.TxHash != poison.Hash || pk.AmountNano != math.MaxInt64 || !strings.Contains(pk.Error, "overflows") || !pk.Open() ||
		pk.To != a.TopupAddress || !pk.Incoming {
		t.Fatalf("parked record %+v", pk)
	}
	// a replay (restart, another liteserver) is recognised: nothing changes
	before := snapshot(t, env)
	outs, err = env.Shop.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{pay, poison, after}, Cursor: "77"})
	if err != nil || !outs[1].Replayed || outs[1].Kind != domain.SeenParked || outs[1].ParkedID != pk.ID {
		t.Fatalf("replay: %+v %v", outs, err)
	}
	if snapshot(t, env) != before {
		t.Fatal("replaying a batch with a parked transfer changed something")
	}
	if n, _ := env.Shop.ParkedCount(ctx); n != 1 {
		t.Fatalf("parked count %d", n)
	}
	rep := mustCheck(t, env)
	if rep.Parked != 1 || rep.ParkedResolved != 0 {
		t.Fatalf("report %+v", rep)
	}
	h := env.Shop.Health(ctx)
	if h.Status != "degraded" || h.Payments.ParkedTransfers != 1 {
		t.Fatalf("health with a parked transfer: %+v", h)
	}
	if _, received := rec.snapshot(); received != o.PriceNano+1e9+5 {
		t.Fatalf("received %d: a parked transfer is not received", received)
	}
	if rec.parked.Load() != 1 {
		t.Fatalf("observer told %d parked", rec.parked.Load())
	}
}

// flakyStore fails PartnerByTopupAddress for one address: once (a transient
// error), always, or with a panic.
type flakyStore struct {
	store.Store
	addr   string
	fails  atomic.Int32 // transient failures left
	always atomic.Bool
	panics atomic.Bool
}

type flakyTx struct {
	store.Tx
	s *flakyStore
}

func (f *flakyStore) Update(ctx2 context.Context, fn func(store.Tx) error) error {
	return f.Store.Update(ctx2, func(tx store.Tx) error { return fn(flakyTx{tx, f}) })
}

func (f *flakyStore) Write(ctx2 context.Context, fn func(store.Tx) error) error {
	return f.Store.Write(ctx2, func(tx store.Tx) error { return fn(flakyTx{tx, f}) })
}

func (t flakyTx) PartnerByTopupAddress(raw string) (*domain.Partner, error) {
	if raw == t.s.addr && t.s.panics.Load() {
		var m map[string]int
		//lint:ignore SA5000 the deliberate bug in the rules that the test recovers from
		m["boom"]++
	}
	if raw == t.s.addr && (t.s.always.Load() || t.s.fails.Add(-1) >= 0) {
		return nil, errors.New("pg: connection reset by peer")
	}
	return t.Tx.PartnerByTopupAddress(raw)
}

// A failure inside the rules that does not repeat is not a poison: the
// batch runs again and the transfer is credited; one that repeats is parked.
// A failing store parks nothing: the whole batch fails and is retried.
func TestPerTransferFailureVersusStorageFailure(t *testing.T) {
	base := shoptest.New(t, shoptest.Options{})
	p, _ := base.Partner(t)
	raw, err := ton.RawAddress(p.TopupAddress)
	if err != nil {
		t.Fatal(err)
	}
	fs := &flakyStore{Store: base.Store, addr: raw}
	s, err := shop.New(shop.Deps{Config: base.Config, Store: fs, Keys: base.Keys, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed("3.6", time.Now()), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}

	fs.fails.Store(1) // transient
	outs, err := s.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{topup(p, 7)}})
	if err != nil || outs[0].Kind != domain.SeenLedger {
		t.Fatalf("transient failure: %+v %v", outs, err)
	}

	fs.always.Store(true) // persistent for this transfer
	outs, err = s.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{topup(p, 8)}})
	if err != nil || outs[0].Kind != domain.SeenParked {
		t.Fatalf("persistent failure: %+v %v", outs, err)
	}
	if pk, _ := s.ParkedTransfer(ctx, outs[0].ParkedID); !strings.Contains(pk.Error, "connection reset") {
		t.Fatalf("parked with %q", pk.Error)
	}
	fs.always.Store(false)

	fs.panics.Store(true) // a panic in the rules parks the transfer, the listener lives on
	outs, err = s.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{topup(p, 9)}})
	if err != nil || outs[0].Kind != domain.SeenParked {
		t.Fatalf("panic: %+v %v", outs, err)
	}
	if pk, _ := s.ParkedTransfer(ctx, outs[0].ParkedID); !strings.HasPrefix(pk.Error, "panic: assignment to entry in nil map") {
		t.Fatalf("parked with %q", pk.Error)
	}
	fs.panics.Store(false)
	if bal, _ := s.Balance(ctx, p.ID); bal.Nano != 7 {
		t.Fatalf("balance %d, want only the transient one credited", bal.Nano)
	}

	// the store itself fails: nothing parked, the batch fails
	down := &downStore{Store: base.Store}
	s2, err := shop.New(shop.Deps{Config: base.Config, Store: down, Keys: base.Keys, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed("3.6", time.Now()), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{topup(p, 9)}}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("storage failure: %v", err)
	}
	if n, _ := base.Shop.ParkedCount(ctx); n != 2 {
		t.Fatalf("%d parked after a storage failure, want only the two earlier ones", n)
	}
	mustCheck(t, base)
}

// downStore commits nothing.
type downStore struct{ store.Store }

func (downStore) Update(context.Context, func(store.Tx) error) error {
	return errors.New("store: disk full")
}

func (downStore) Write(context.Context, func(store.Tx) error) error {
	return errors.New("store: disk full")
}

// Retry re-runs the rules: refused while the cause remains (the attempt is
// counted and audited), exactly once when it is gone, under concurrent calls.
func TestRetryParkedExactlyOnce(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	a, poison := poisoned(t, env, price100)
	outs, err := env.Shop.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{poison}})
	if err != nil {
		t.Fatal(err)
	}
	id := outs[0].ParkedID

	// still overflowing: refused, counted, still parked
	_, err = env.Shop.RetryParked(ctx, id, shop.Actor{Name: "alice", Remote: "192.0.2.7"})
	if shop.ErrorCode(err) != shop.CodeTransferRefused || !strings.Contains(err.Error(), "overflows") {
		t.Fatalf("retry while the balance would overflow: %v", err)
	}
	pk, _ := env.Shop.ParkedTransfer(ctx, id)
	if !pk.Open() || pk.FailedAttempts != 1 || !strings.Contains(pk.LastAttemptError, "overflows") {
		t.Fatalf("after a refused retry: %+v", pk)
	}
	mustCheck(t, env)

	// the partner spends its balance: the same transfer now fits
	if _, _, err := env.Shop.CreateOrder(ctx, a.ID, shop.OrderRequest{Kind: domain.KindStars, RecipientUsername: "pandus",
		Quantity: 100, PaymentMethod: domain.MethodBalance}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	results := make([]shop.ParkedResolution, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = env.Shop.RetryParked(ctx, id, shop.Actor{Name: "bob"})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case err == nil:
			t.Fatalf("two retries succeeded")
		case shop.ErrorCode(err) != shop.CodeAlreadyResolved:
			t.Fatalf("a losing retry: %v, want ALREADY_RESOLVED", err)
		}
	}
	if won < 0 {
		t.Fatal("no retry succeeded")
	}
	r := results[won]
	if r.Parked.Open() || r.Parked.Resolution != domain.ParkedRetried || r.Outcome.Kind != domain.SeenLedger || r.Ledger == nil ||
		r.Ledger.Type != domain.LedgerTopup || r.Ledger.AmountNano != math.MaxInt64 || r.PartnerID != a.ID ||
		r.Parked.ResolvedKind != domain.SeenLedger || r.Parked.ResolvedRefID != r.Ledger.ID {
		t.Fatalf("retry result %+v", r)
	}
	if bal, _ := env.Shop.Balance(ctx, a.ID); bal.Nano != math.MaxInt64 {
		t.Fatalf("balance %d", bal.Nano)
	}
	rep := mustCheck(t, env)
	if rep.Parked != 0 || rep.ParkedResolved != 1 {
		t.Fatalf("report %+v", rep)
	}
	log, err := env.Shop.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Action != shop.AuditParkedRefused || log[0].Actor != "alice" || log[0].Remote != "192.0.2.7" ||
		log[1].Action != shop.AuditParkedRetry || log[1].Actor != "bob" || log[1].ParkedID != id || log[1].LedgerID != r.Ledger.ID {
		t.Fatalf("audit log %+v", log)
	}
	if h := env.Shop.Health(ctx); h.Payments.ParkedTransfers != 0 || h.Status != "ok" {
		t.Fatalf("health after the retry: %+v", h)
	}
}

// A retried transfer follows the payment rules as they stand: here it pays
// the order it names (the failure was elsewhere).
func TestRetryParkedPaysTheOrder(t *testing.T) {
	base := shoptest.New(t, shoptest.Options{})
	p, _ := base.Partner(t)
	o := newOrder(t, base, p.ID)
	fs := &failOrders{Store: base.Store}
	fs.on.Store(true)
	s, err := shop.New(shop.Deps{Config: base.Config, Store: fs, Keys: base.Keys, Provider: fulfil.Sandbox{},
		Rates: pricing.NewFixed("3.6", time.Now()), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	pay := ton.Transfer{Hash: txHash(), To: o.PaymentAddress, AmountNano: o.PriceNano, Comment: o.PaymentMemo, ChainTime: o.CreatedAt, Incoming: true}
	outs, err := s.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{pay}})
	if err != nil || outs[0].Kind != domain.SeenParked {
		t.Fatalf("%+v %v", outs, err)
	}
	fs.on.Store(false) // "the fix"
	r, err := s.RetryParked(ctx, outs[0].ParkedID, shop.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome.Kind != domain.SeenOrder || r.Outcome.OrderID != o.ID || r.PartnerID != p.ID || r.Ledger != nil {
		t.Fatalf("retry %+v", r)
	}
	if got, _ := s.Order(ctx, p.ID, o.ID); got.Status != domain.StatusPaid || got.ReceivedNano != o.PriceNano {
		t.Fatalf("order %+v", got)
	}
	if log, _ := s.AuditLog(ctx, 0, 10); len(log) != 1 || log[0].Actor != "admin" || log[0].OrderID != o.ID {
		t.Fatalf("audit %+v", log)
	}
	mustCheck(t, base)
}

// failOrders fails every PutOrder while on.
type failOrders struct {
	store.Store
	on atomic.Bool
}

type failOrdersTx struct {
	store.Tx
	on *atomic.Bool
}

func (f *failOrders) Update(c context.Context, fn func(store.Tx) error) error {
	return f.Store.Update(c, func(tx store.Tx) error { return fn(failOrdersTx{tx, &f.on}) })
}

func (f *failOrders) Write(c context.Context, fn func(store.Tx) error) error {
	return f.Store.Write(c, func(tx store.Tx) error { return fn(failOrdersTx{tx, &f.on}) })
}

func (t failOrdersTx) PutOrder(o *domain.Order) error {
	if t.on.Load() {
		return errors.New("order record too large")
	}
	return t.Tx.PutOrder(o)
}

func TestAssignParkedExactlyOnce(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	_, poison := poisoned(t, env, 1e9)
	outs, err := env.Shop.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{poison}})
	if err != nil {
		t.Fatal(err)
	}
	id := outs[0].ParkedID
	b, _ := env.Partner(t) // balance 0: max int64 fits
	o := newOrder(t, env, b.ID)

	// validation, unknown targets and a refused credit change nothing
	if _, err := env.Shop.AssignParked(ctx, id, shop.AssignTarget{}); shop.ErrorCode(err) != shop.CodeValidation {
		t.Fatalf("no target: %v", err)
	}
	if _, err := env.Shop.AssignParked(ctx, id, shop.AssignTarget{PartnerID: 999}); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("unknown partner: %v", err)
	}
	if _, err := env.Shop.AssignParked(ctx, 999, shop.AssignTarget{PartnerID: b.ID}); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("unknown parked: %v", err)
	}
	a, _ := env.Shop.Partner(ctx, 1)
	if _, err := env.Shop.AssignParked(ctx, id, shop.AssignTarget{PartnerID: a.ID}); shop.ErrorCode(err) != shop.CodeTransferRefused {
		t.Fatalf("assign to the overflowing balance: %v", err)
	}
	mustCheck(t, env)

	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	results := make([]shop.ParkedResolution, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = env.Shop.AssignParked(ctx, id, shop.AssignTarget{OrderID: o.ID, By: shop.Actor{Name: "carol"}})
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		if err == nil {
			wins++
			r := results[i]
			if r.Ledger == nil || r.Ledger.Type != domain.LedgerLatePayment || r.Ledger.OrderID != o.ID || r.Ledger.PartnerID != b.ID ||
				r.Ledger.TxHash != poison.Hash || r.Parked.Resolution != domain.ParkedAssigned || r.PartnerID != b.ID {
				t.Fatalf("assignment %+v", r)
			}
		} else if shop.ErrorCode(err) != shop.CodeAlreadyResolved {
			t.Fatalf("a losing assignment: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d assignments succeeded, want exactly 1", wins)
	}
	if _, err := env.Shop.RetryParked(ctx, id, shop.Actor{}); shop.ErrorCode(err) != shop.CodeAlreadyResolved {
		t.Fatalf("retry after assign: %v", err)
	}
	if bal, _ := env.Shop.Balance(ctx, b.ID); bal.Nano != math.MaxInt64 {
		t.Fatalf("balance %d", bal.Nano)
	}
	if got, _ := env.Shop.Order(ctx, b.ID, o.ID); got.Status != domain.StatusPendingPayment {
		t.Fatalf("assigning to an order changed it: %s", got.Status)
	}
	rep := mustCheck(t, env)
	if rep.Parked != 0 || rep.ParkedResolved != 1 {
		t.Fatalf("report %+v", rep)
	}
	log, _ := env.Shop.AuditLog(ctx, 0, 100)
	last := log[len(log)-1]
	if last.Action != shop.AuditParkedAssign || last.Actor != "carol" || last.OrderID != o.ID || last.PartnerID != b.ID {
		t.Fatalf("audit %+v", log)
	}
}

// The check sees a parked transfer that was credited behind its back, and
// a seen record pointing at no parked record.
func TestCheckParkedConsistency(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	_, poison := poisoned(t, env, 1e9)
	outs, err := env.Shop.ApplyBatch(ctx, ton.Batch{Transfers: []ton.Transfer{poison}})
	if err != nil {
		t.Fatal(err)
	}
	err = env.Store.Update(ctx, func(tx store.Tx) error {
		pk, err := tx.GetParked(outs[0].ParkedID)
		if err != nil {
			return err
		}
		now := pk.ParkedAt
		pk.ResolvedAt, pk.Resolution, pk.ResolvedKind, pk.ResolvedRefID = &now, domain.ParkedAssigned, domain.SeenLedger, 99
		if err := tx.PutParked(pk); err != nil {
			return err
		}
		return tx.PutSeen(&domain.SeenTx{Hash: "ab", Kind: domain.SeenParked, RefID: 42})
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := shop.Check(ctx, env.Store)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rep.Violations, "\n")
	for _, want := range []string{"parked 1: resolved (assigned) but tx " + poison.Hash + " is not accounted",
		"tx ab: seen as parked transfer 42, which is not an open parked record"} {
		if !strings.Contains(got, want) {
			t.Errorf("violations lack %q:\n%s", want, got)
		}
	}
}

// switchStore fails every Update and Write while down.
type switchStore struct {
	store.Store
	down atomic.Bool
}

func (s *switchStore) Update(c context.Context, fn func(store.Tx) error) error {
	if s.down.Load() {
		return errors.New("store: disk full")
	}
	return s.Store.Update(c, fn)
}

func (s *switchStore) Write(c context.Context, fn func(store.Tx) error) error {
	if s.down.Load() {
		return errors.New("store: disk full")
	}
	return s.Store.Write(c, fn)
}

// A listener that cannot record its batches is a degraded health, with the
// error, until a batch goes through.
func TestListenerFailuresDegradeHealth(t *testing.T) {
	base := shoptest.New(t, shoptest.Options{})
	p, _ := base.Partner(t)
	ss := &switchStore{Store: base.Store}
	rec := &recorder{}
	s, err := shop.New(shop.Deps{Config: base.Config, Store: ss, Keys: base.Keys, Chain: base.Sandbox, Sandbox: base.Sandbox,
		Provider: fulfil.Sandbox{}, Rates: pricing.NewFixed("3.6", time.Now()), Version: "test", Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	if h := s.Health(ctx); h.Status != "ok" {
		t.Fatalf("health before: %+v", h)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	ss.down.Store(true)
	if _, err := base.Sandbox.Append(ctx, topup(p, 11)); err != nil {
		t.Fatal(err)
	}
	var h shop.Health
	waitFor(t, "a degraded health", func() bool { h = s.Health(ctx); return h.Status == "degraded" })
	if !strings.Contains(h.Payments.ListenerError, "disk full") || h.Payments.ListenerErrorAt == nil || h.Payments.ListenerFailures < 1 {
		t.Fatalf("health while failing: %+v", h.Payments)
	}
	if rec.failed.Load() < 1 {
		t.Fatal("the observer was not told")
	}
	ss.down.Store(false)
	waitFor(t, "the top-up credited", func() bool { b, _ := s.Balance(ctx, p.ID); return b.Nano == 11 })
	waitFor(t, "health ok again", func() bool { h = s.Health(ctx); return h.Status == "ok" && h.Payments.ListenerError == "" })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
