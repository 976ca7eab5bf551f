package shop_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
	"github.com/theopenmoney/openmoney/store"
)

var allStatuses = []domain.Status{domain.StatusPendingPayment, domain.StatusPaid, domain.StatusProcessing,
	domain.StatusCompleted, domain.StatusFailed, domain.StatusRefunded, domain.StatusExpired, domain.StatusCancelled}

// legalMoves is the state machine as the contract describes it; the shop's
// table must be exactly this.
var legalMoves = map[[2]domain.Status]bool{
	{"", domain.StatusPendingPayment}:                     true,
	{"", domain.StatusPaid}:                               true,
	{domain.StatusPendingPayment, domain.StatusPaid}:      true,
	{domain.StatusPendingPayment, domain.StatusExpired}:   true,
	{domain.StatusPendingPayment, domain.StatusCancelled}: true,
	{domain.StatusExpired, domain.StatusPaid}:             true,
	{domain.StatusPaid, domain.StatusProcessing}:          true,
	{domain.StatusProcessing, domain.StatusCompleted}:     true,
	{domain.StatusProcessing, domain.StatusRefunded}:      true,
}

// TestTransitionTable walks every (from, to) pair of statuses, creation
// included: a legal move writes the order with its new status; every other
// move is refused with an *IllegalMoveError and writes nothing.
func TestTransitionTable(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, _ := env.Partner(t)
	for _, from := range append([]domain.Status{""}, allStatuses...) {
		for _, to := range allStatuses {
			legal := legalMoves[[2]domain.Status{from, to}]
			if shop.Legal(from, to) != legal {
				t.Errorf("Legal(%q, %q) = %v, want %v", from, to, !legal, legal)
			}
			var o domain.Order
			err := env.Store.Update(ctx, func(tx store.Tx) error {
				id, err := tx.NextOrderID()
				if err != nil {
					return err
				}
				o = domain.Order{ID: id, PartnerID: p.ID, Status: from, Type: domain.KindStars, StarsAmount: 100,
					RecipientUsername: "pandus", PriceNano: 1, PaymentMethod: domain.MethodBalance,
					PaymentCurrency: domain.CurrencyTON, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
				if from == "" {
					return nil
				}
				return tx.CreateOrder(&o)
			})
			if err != nil {
				t.Fatal(err)
			}
			err = shop.MoveOrder(ctx, env.Shop, &o, to)
			var got *domain.Order
			gerr := env.Store.View(ctx, func(tx store.Tx) error {
				var err error
				got, err = tx.GetOrder(o.ID)
				return err
			})
			var ime *shop.IllegalMoveError
			switch {
			case legal && err != nil:
				t.Errorf("%q → %q: %v, want the move made", from, to, err)
			case legal && (gerr != nil || got.Status != to):
				t.Errorf("%q → %q: stored %+v, %v; want status %q", from, to, got, gerr, to)
			case !legal && !errors.As(err, &ime):
				t.Errorf("%q → %q: %v, want an *IllegalMoveError", from, to, err)
			case !legal && from == "" && !errors.Is(gerr, store.ErrNotFound):
				t.Errorf("%q → %q refused, yet the order was created: %+v, %v", from, to, got, gerr)
			case !legal && from != "" && (gerr != nil || got.Status != from):
				t.Errorf("%q → %q refused, yet the stored order is %+v, %v", from, to, got, gerr)
			}
		}
	}
}

// TestStatusChangesOnlyThroughTheTable: no code of the shop but the
// transition function assigns an order's status.
func TestStatusChangesOnlyThroughTheTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	assign := regexp.MustCompile(`\.Status\s*=[^=]|\bStatus:\s*domain\.Status`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "transitions.go" || f == "health.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if assign.MatchString(line) {
				t.Errorf("%s:%d sets a status outside move (transitions.go): %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
