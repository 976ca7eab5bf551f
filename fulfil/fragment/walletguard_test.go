package fragment

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
)

func wantWalletHold(t *testing.T, err error, detail string) {
	t.Helper()
	var h *fulfil.Hold
	if !errors.As(err, &h) || h.Reason != fulfil.HoldWalletUnrecorded || !errors.Is(err, fulfil.ErrHeld) {
		t.Fatalf("err = %v, want a %s hold", err, fulfil.HoldWalletUnrecorded)
	}
	if !strings.Contains(h.Detail, detail) || !strings.Contains(h.Detail, "/admin/payer/reconcile") {
		t.Errorf("hold detail %q: want %q and what to do", h.Detail, detail)
	}
}

// A wallet that ran messages the records do not know (a store restored
// from an older backup): every delivery is held before Fragment is even
// asked for a link, nothing is sent; once the records account for the
// wallet's seqno (a reconciliation) and the guard looks again, it pays.
func TestGuardHoldsWhileTheWalletIsAheadOfTheRecords(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	payer.seqno = 3 // three messages this store never recorded
	p := newTestProvider(t, srv.URL, payer, nil)
	for range 2 {
		_, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
		wantWalletHold(t, err, "has run 3 message(s) this store has no record of (seqno 3 on chain, the store's payment records end at 0)")
	}
	if payer.sentCount() != 0 || payer.batchCount() != 0 || f.count("getBuyStarsLink") != 0 {
		t.Fatalf("held, yet %d payments sent, %d batches, %d links asked for", payer.sentCount(), payer.batchCount(), f.count("getBuyStarsLink"))
	}
	wallet, chain, accounted, err := p.WalletSeqnos(context.Background())
	if err != nil || wallet != testAccount.Address || chain != 3 || accounted != 0 {
		t.Fatalf("WalletSeqnos = %s %d %d %v", wallet, chain, accounted, err)
	}
	// The operator's reconciliation: the records account for seqno 3.
	now := time.Now()
	if err := p.records.RecordBatch(context.Background(), &domain.PayerBatch{Wallet: testAccount.Address, Seqno: 2, CreatedAt: now, SettledAt: &now}, nil); err != nil {
		t.Fatal(err)
	}
	p.RecheckWallet()
	res, err := p.Deliver(context.Background(), starsReq("alice_user", 100), noSave)
	if err != nil || res.TxHash == "" {
		t.Fatalf("after the reconciliation: %+v %v", res, err)
	}
	if payer.sentCount() != 1 {
		t.Fatalf("%d payments sent, want 1", payer.sentCount())
	}
}

// The guard before every batch: a message the records do not know runs
// between two batches (someone signed with the service wallet's key); the
// next batch is signed at that seqno, refused in its record step (nothing
// broadcast) and every delivery is held from then on.
func TestGuardChecksBeforeEveryBatch(t *testing.T) {
	f, srv := newFakeFragment(t)
	payer := newFakePayer()
	p := newTestProvider(t, srv.URL, payer, nil)
	r1 := starsReq("alice_user", 100)
	if _, err := p.Deliver(context.Background(), r1, noSave); err != nil {
		t.Fatal(err)
	}
	payer.mu.Lock()
	payer.seqno++ // a message from elsewhere
	payer.mu.Unlock()
	r2 := starsReq("alice_user", 200)
	r2.Ref, r2.OrderID = "order-9", 9
	_, err := p.Deliver(context.Background(), r2, noSave)
	wantWalletHold(t, err, "has run 1 message(s) this store has no record of (seqno 2 on chain, the store's payment records end at 1)")
	if payer.sentCount() != 1 || payer.batchCount() != 1 {
		t.Fatalf("%d payments sent in %d batches, want only the first", payer.sentCount(), payer.batchCount())
	}
	if n := len(records(t, p, 9)); n != 0 {
		t.Fatalf("the refused batch left %d records", n)
	}
	links := f.count("getBuyStarsLink")
	_, err = p.Deliver(context.Background(), r2, noSave)
	wantWalletHold(t, err, "seqno 2 on chain")
	if f.count("getBuyStarsLink") != links || payer.sentCount() != 1 {
		t.Fatal("a held delivery asked Fragment for a link or paid")
	}
}
