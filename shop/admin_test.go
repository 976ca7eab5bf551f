package shop_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
	"github.com/theopenmoney/openmoney/ton"
)

// unmatchedDeposit lands a transfer to the service wallet whose comment
// matches nothing, and returns the deposit kept for the operator.
func unmatchedDeposit(t *testing.T, env *shoptest.Env, amount int64) domain.Unmatched {
	t.Helper()
	h := txHash()
	out, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: h, To: env.Shop.ServiceAddress(), AmountNano: amount,
		Comment: "no such memo", ChainTime: time.Now(), Incoming: true})
	if err != nil || out.Kind != domain.SeenUnmatched {
		t.Fatalf("apply: %+v, %v", out, err)
	}
	us, err := env.Shop.UnmatchedDeposits(ctx, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.TxHash == h {
			return u
		}
	}
	t.Fatalf("deposit %s not listed", h)
	return domain.Unmatched{}
}

func TestAssignUnmatched(t *testing.T) {
	t.Run("to an order → late_payment on the order's partner, with the tx hash", func(t *testing.T) {
		env := shoptest.New(t, shoptest.Options{})
		p, _ := env.Partner(t)
		o := newOrder(t, env, p.ID)
		u := unmatchedDeposit(t, env, 123)
		a, err := env.Shop.AssignUnmatched(ctx, u.ID, shop.AssignTarget{OrderID: o.ID})
		if err != nil {
			t.Fatal(err)
		}
		if a.Ledger.Type != domain.LedgerLatePayment || a.Ledger.PartnerID != p.ID || a.Ledger.OrderID != o.ID ||
			a.Ledger.TxHash != u.TxHash || a.Ledger.AmountNano != 123 {
			t.Fatalf("ledger row %+v", a.Ledger)
		}
		if a.Unmatched.AssignedAt == nil || a.Unmatched.AssignedLedgerID != a.Ledger.ID {
			t.Fatalf("deposit %+v", a.Unmatched)
		}
		if got := ledgerTypes(t, env, p.ID); !slices.Equal(got, []string{"late_payment:123"}) {
			t.Fatalf("ledger %v", got)
		}
		if got, _ := env.Shop.Order(ctx, p.ID, o.ID); got.Status != domain.StatusPendingPayment || got.ReceivedNano != 0 {
			t.Fatalf("order changed: %s received %d", got.Status, got.ReceivedNano)
		}
		env.Check(t)
	})
	t.Run("to a partner → topup; listed as assigned", func(t *testing.T) {
		env := shoptest.New(t, shoptest.Options{})
		p, _ := env.Partner(t)
		u := unmatchedDeposit(t, env, 5_000_000_000)
		a, err := env.Shop.AssignUnmatched(ctx, u.ID, shop.AssignTarget{PartnerID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if a.Ledger.Type != domain.LedgerTopup || a.Ledger.OrderID != 0 || a.Ledger.BalanceAfterNano != 5_000_000_000 {
			t.Fatalf("ledger row %+v", a.Ledger)
		}
		if b, _ := env.Shop.Balance(ctx, p.ID); b.Nano != 5_000_000_000 {
			t.Fatalf("balance %d", b.Nano)
		}
		us, _ := env.Shop.UnmatchedDeposits(ctx, 0, 0)
		if len(us) != 1 || us[0].AssignedLedgerID != a.Ledger.ID {
			t.Fatalf("listed %+v", us)
		}
		rep, err := env.Shop.IntegrityReport(ctx)
		if err != nil || len(rep.Violations) != 0 || rep.Unmatched != 1 || rep.LedgerRows != 1 {
			t.Fatalf("report %+v, %v", rep, err)
		}
	})
	t.Run("twice → ALREADY_ASSIGNED, nothing changes", func(t *testing.T) {
		env := shoptest.New(t, shoptest.Options{})
		p, _ := env.Partner(t)
		q, _ := env.Partner(t)
		u := unmatchedDeposit(t, env, 77)
		if _, err := env.Shop.AssignUnmatched(ctx, u.ID, shop.AssignTarget{PartnerID: p.ID}); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, env)
		_, err := env.Shop.AssignUnmatched(ctx, u.ID, shop.AssignTarget{PartnerID: q.ID})
		if shop.ErrorCode(err) != shop.CodeAlreadyAssigned {
			t.Fatalf("second assign: %v", err)
		}
		if snapshot(t, env) != before {
			t.Fatal("a refused assignment changed the store")
		}
		env.Check(t)
	})
	t.Run("concurrent assigns → exactly one wins", func(t *testing.T) {
		env := shoptest.New(t, shoptest.Options{})
		p, _ := env.Partner(t)
		u := unmatchedDeposit(t, env, 1000)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = env.Shop.AssignUnmatched(ctx, u.ID, shop.AssignTarget{PartnerID: p.ID})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case shop.ErrorCode(err) != shop.CodeAlreadyAssigned:
				t.Fatalf("unexpected %v", err)
			}
		}
		if b, _ := env.Shop.Balance(ctx, p.ID); ok != 1 || b.Nano != 1000 {
			t.Fatalf("%d succeeded, balance %d", ok, b.Nano)
		}
		env.Check(t)
	})
	for _, tc := range []struct {
		name   string
		id     int64
		target func(p *domain.Partner) shop.AssignTarget
		code   shop.Code
	}{
		{"no target → VALIDATION_ERROR", 1, func(*domain.Partner) shop.AssignTarget { return shop.AssignTarget{} }, shop.CodeValidation},
		{"both targets → VALIDATION_ERROR", 1, func(p *domain.Partner) shop.AssignTarget { return shop.AssignTarget{OrderID: 1, PartnerID: p.ID} }, shop.CodeValidation},
		{"unknown deposit → NOT_FOUND", 99, func(p *domain.Partner) shop.AssignTarget { return shop.AssignTarget{PartnerID: p.ID} }, shop.CodeNotFound},
		{"unknown order → NOT_FOUND", 1, func(*domain.Partner) shop.AssignTarget { return shop.AssignTarget{OrderID: 999} }, shop.CodeNotFound},
		{"unknown partner → NOT_FOUND", 1, func(*domain.Partner) shop.AssignTarget { return shop.AssignTarget{PartnerID: 999} }, shop.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := shoptest.New(t, shoptest.Options{})
			p, _ := env.Partner(t)
			unmatchedDeposit(t, env, 10)
			before := snapshot(t, env)
			_, err := env.Shop.AssignUnmatched(ctx, tc.id, tc.target(p))
			if shop.ErrorCode(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if snapshot(t, env) != before {
				t.Fatal("a refused assignment changed the store")
			}
		})
	}
}

// TestCheckFlagsBadAssignments writes broken assignments straight into the
// store and expects the integrity check to name them.
func TestCheckFlagsBadAssignments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		breakU func(t *testing.T, env *shoptest.Env, p *domain.Partner, u domain.Unmatched)
		want   string
	}{
		{"a second ledger row for the same deposit → double assignment", func(t *testing.T, env *shoptest.Env, p *domain.Partner, u domain.Unmatched) {
			if _, err := env.Shop.AssignUnmatched(ctx, u.ID, shop.AssignTarget{PartnerID: p.ID}); err != nil {
				t.Fatal(err)
			}
			appendRow(t, env, p, u)
		}, "double assignment"},
		{"a ledger row for a deposit never marked assigned", func(t *testing.T, env *shoptest.Env, p *domain.Partner, u domain.Unmatched) {
			appendRow(t, env, p, u)
		}, "not assigned but credited"},
		{"a deposit marked assigned without a row", func(t *testing.T, env *shoptest.Env, p *domain.Partner, u domain.Unmatched) {
			err := env.Store.Update(ctx, func(tx store.Tx) error {
				now := time.Now()
				u.AssignedAt, u.AssignedLedgerID = &now, 42
				return tx.PutUnmatched(&u)
			})
			if err != nil {
				t.Fatal(err)
			}
		}, "no row carries tx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := shoptest.New(t, shoptest.Options{})
			p, _ := env.Partner(t)
			u := unmatchedDeposit(t, env, 500)
			tc.breakU(t, env, p, u)
			rep, err := shop.Check(ctx, env.Store)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(rep.Violations, "\n"), tc.want) {
				t.Fatalf("violations %q, want one containing %q", rep.Violations, tc.want)
			}
		})
	}
}

// appendRow credits the deposit's amount to p again, bypassing the shop.
func appendRow(t *testing.T, env *shoptest.Env, p *domain.Partner, u domain.Unmatched) {
	t.Helper()
	err := env.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.GetPartner(p.ID)
		if err != nil {
			return err
		}
		cur.BalanceNano += u.AmountNano
		e := &domain.LedgerEntry{PartnerID: p.ID, Type: domain.LedgerTopup, AmountNano: u.AmountNano,
			BalanceAfterNano: cur.BalanceNano, TxHash: u.TxHash, CreatedAt: time.Now()}
		if err := tx.AppendLedger(e); err != nil {
			return err
		}
		return tx.PutPartner(cur)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAdminPartnersAndRevoke(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, key := env.Partner(t)
	bare, err := env.Shop.CreatePartner(ctx, "no key yet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	ps, err := env.Shop.AdminPartners(ctx, 0, 10)
	if err != nil || len(ps) != 2 {
		t.Fatalf("%+v, %v", ps, err)
	}
	got := ps[0]
	if got.ID != p.ID || got.KeyStatus != shop.KeyActive || got.Key == nil || !strings.HasPrefix(key, got.Key.Prefix) ||
		got.Key.LastUsedAt == nil || got.TopupAddress == "" {
		t.Fatalf("partner with key: %+v %+v", got, got.Key)
	}
	if ps[1].ID != bare.ID || ps[1].KeyStatus != shop.KeyNone || ps[1].Key != nil {
		t.Fatalf("partner without key: %+v", ps[1])
	}
	if page, _ := env.Shop.AdminPartners(ctx, p.ID, 10); len(page) != 1 || page[0].ID != bare.ID {
		t.Fatalf("after %d: %+v", p.ID, page)
	}
	if _, err := env.Shop.AdminPartners(ctx, 0, 501); shop.ErrorCode(err) != shop.CodeValidation {
		t.Fatalf("limit 501: %v", err)
	}
	if err := env.Shop.RevokePartnerKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.Authenticate(ctx, key); shop.ErrorCode(err) != shop.CodeUnauthorized {
		t.Fatalf("revoked key still works: %v", err)
	}
	if err := env.Shop.RevokePartnerKey(ctx, p.ID); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("second revoke: %v", err)
	}
	if err := env.Shop.RevokePartnerKey(ctx, 999); shop.ErrorCode(err) != shop.CodeNotFound {
		t.Fatalf("unknown partner: %v", err)
	}
	if ps, _ := env.Shop.AdminPartners(ctx, 0, 10); ps[0].KeyStatus != shop.KeyNone {
		t.Fatalf("after revoke: %+v", ps[0])
	}
}

// recorder is a shop.Observer that remembers what it was told.
type recorder struct {
	mu       sync.Mutex
	events   []string
	received int64
	parked   atomic.Int32
	failed   atomic.Int32
}

func (r *recorder) TransfersParked(n int) { r.parked.Add(int32(n)) }
func (r *recorder) ListenerFailed()       { r.failed.Add(1) }

func (r *recorder) add(s string) { r.mu.Lock(); r.events = append(r.events, s); r.mu.Unlock() }
func (r *recorder) OrderTransition(from, to domain.Status) {
	r.add(fmt.Sprintf("%s→%s", from, to))
}
func (r *recorder) Received(_ domain.Currency, n int64) { r.mu.Lock(); r.received += n; r.mu.Unlock() }
func (r *recorder) Delivery(outcome string) {
	r.add("delivery:" + outcome)
}
func (r *recorder) Notification(channel domain.Channel, outcome string) {
	r.add(string(channel) + ":" + outcome)
}
func (r *recorder) snapshot() ([]string, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), r.received
}

func TestObserverSeesCommittedChanges(t *testing.T) {
	rec := &recorder{}
	env := shoptest.New(t, shoptest.Options{Observer: rec, Provider: &flaky{delivered: map[string]int{}}, Clock: true})
	p, _ := env.Partner(t)
	o := newOrder(t, env, p.ID)
	payOrder(t, env, o)
	// a replay of the same transfer is not received twice
	_, err := env.Shop.ApplyTransfer(ctx, ton.Transfer{Hash: fmt.Sprintf("%064x", hashN), To: o.PaymentAddress,
		AmountNano: o.PriceNano, Comment: o.PaymentMemo, ChainTime: o.CreatedAt, Incoming: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first attempt fails (retry), the second delivers
		if _, err := env.Shop.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(time.Minute)
	}
	if got, _ := env.Shop.Order(ctx, p.ID, o.ID); got.Status != domain.StatusCompleted {
		t.Fatalf("order %s", got.Status)
	}
	// a refused business call commits nothing and reports nothing
	if _, err := env.Shop.CancelOrder(ctx, p.ID, o.ID); shop.ErrorCode(err) != shop.CodeOrderNotCancellable {
		t.Fatalf("cancel: %v", err)
	}
	events, received := rec.snapshot()
	want := []string{"→pending_payment", "pending_payment→paid", "paid→processing", "delivery:retry", "processing→completed", "delivery:completed"}
	if !slices.Equal(events, want) {
		t.Fatalf("events %q\nwant   %q", events, want)
	}
	if received != o.PriceNano {
		t.Fatalf("received %d, want %d", received, o.PriceNano)
	}
}
