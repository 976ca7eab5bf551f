package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// Fill writes a few records of every kind into st, through the Tx contract.
func Fill(t testing.TB, st store.Store) {
	t.Helper()
	err := st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.PutMeta("wallet_seed", []byte("one two three")); err != nil {
			return err
		}
		if err := tx.PutMeta("listener_cursor", []byte{1, 2, 3}); err != nil {
			return err
		}
		for i := range 3 {
			pid, err := tx.NextPartnerID()
			if err != nil {
				return err
			}
			p := &domain.Partner{ID: pid, CreatedAt: t0, Name: fmt.Sprintf("p%d", i), TelegramUserID: int64(100 + i),
				TopupAddressRaw: fmt.Sprintf("0:%064x", pid), SubwalletID: uint32(pid), ActiveKeyHash: fmt.Sprintf("k%d", i),
				USDTWallet: fmt.Sprintf("0:%064x", 1000+pid), USDTMaster: "0:" + strings.Repeat("e", 64)}
			if err := tx.PutPartner(p); err != nil {
				return err
			}
			for j := range 3 {
				if err := tx.AppendLedger(&domain.LedgerEntry{PartnerID: pid, Type: domain.LedgerTopup, AmountNano: int64(j+1) * 1e9,
					TxHash: fmt.Sprintf("t%d-%d", i, j), CreatedAt: t0}); err != nil {
					return err
				}
			}
			if err := tx.AppendLedger(&domain.LedgerEntry{PartnerID: pid, Type: domain.LedgerTopup, Currency: domain.CurrencyUSDT,
				AmountUSDT: int64(i+1) * 1_500_000, TxHash: fmt.Sprintf("u%d", i), CreatedAt: t0}); err != nil {
				return err
			}
			if err := tx.PutAPIKey(&domain.APIKey{Hash: p.ActiveKeyHash, PartnerID: pid, Prefix: "osk", CreatedAt: t0}, true); err != nil {
				return err
			}
			if err := tx.PutAPIKey(&domain.APIKey{Hash: fmt.Sprintf("old%d", i), PartnerID: pid, CreatedAt: t0, RevokedAt: at(time.Hour)}, true); err != nil {
				return err
			}
			for j, status := range []domain.Status{domain.StatusPendingPayment, domain.StatusPaid, domain.StatusCompleted} {
				memo := ""
				if status != domain.StatusPaid {
					memo = fmt.Sprintf("M-%d-%d", i, j)
				}
				if _, err := newOrder(tx, pid, status, "stars", memo, fmt.Sprintf("ref-%d", j%2)); err != nil {
					return err
				}
			}
			if err := tx.PutIdem(&domain.IdemRecord{PartnerID: pid, Key: "idem", Fingerprint: "f", CreatedAt: t0, Status: 201, Body: []byte("{}")}); err != nil {
				return err
			}
			if err := tx.PutWebhook(&domain.Webhook{PartnerID: pid, URL: "https://x.example/h", Events: []string{"order.paid"}, Secret: "whsec", CreatedAt: t0}); err != nil {
				return err
			}
			if err := tx.AppendWebhookDelivery(&domain.WebhookDelivery{PartnerID: pid, EventID: "evt_1", EventType: "order.paid", Attempt: 1, At: t0, Final: "delivered"}); err != nil {
				return err
			}
			for _, ch := range []domain.Channel{domain.ChannelTelegram, domain.ChannelWebhook} {
				if err := tx.AppendOutbox(&domain.OutboxItem{Channel: ch, PartnerID: pid, Type: "order.paid", CreatedAt: t0, NextAttemptAt: t0}); err != nil {
					return err
				}
			}
			if err := tx.PutSeen(&domain.SeenTx{Hash: fmt.Sprintf("s%d", i), Kind: domain.SeenLedger, RefID: 1, SeenAt: t0}); err != nil {
				return err
			}
			if err := tx.PutUnmatched(&domain.Unmatched{TxHash: fmt.Sprintf("u%d", i), AmountNano: 5, SeenAt: t0, Comment: "x\x00y"}); err != nil {
				return err
			}
			pk := &domain.Parked{TxHash: fmt.Sprintf("p%d", i), AmountNano: 1<<63 - 1, Incoming: true, Error: "overflows", ParkedAt: t0}
			if i == 1 {
				pk.ResolvedAt, pk.Resolution, pk.ResolvedKind, pk.ResolvedRefID = at(time.Hour), domain.ParkedAssigned, domain.SeenLedger, 1
			}
			if err := tx.PutParked(pk); err != nil {
				return err
			}
			if err := tx.AppendAudit(&domain.AuditEntry{At: t0, Actor: "op", Action: "parked.assign", ParkedID: pk.ID, PartnerID: pid}); err != nil {
				return err
			}
			if _, err := tx.AppendSandboxTx([]byte(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
				return err
			}
			pb := &domain.PayerBatch{Wallet: "0:aa", Seqno: uint32(i), ExtHash: fmt.Sprintf("e%d", i), CreatedAt: t0, Messages: 2}
			if i == 1 {
				pb.SettledAt = at(time.Hour)
			}
			if err := tx.PutPayerBatch(pb); err != nil {
				return err
			}
			for j := range 2 {
				if err := tx.PutPayerMessage(&domain.PayerMessage{BatchID: pb.ID, Index: j, OrderID: int64(100*i + j), ReqID: "r", AmountNano: 1}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("fill: %v", err)
	}
}

// Dump renders every record of st (through Tx and store.Dumper) as text,
// in a backend-independent order, for comparing two stores.
func Dump(t testing.TB, st store.Store) string {
	t.Helper()
	var b strings.Builder
	line := func(kind string, v any) {
		data, _ := json.Marshal(v)
		fmt.Fprintf(&b, "%s %s\n", kind, data)
	}
	var lines []string
	err := st.View(context.Background(), func(tx store.Tx) error {
		d, ok := tx.(store.Dumper)
		if !ok {
			return fmt.Errorf("%T is not a store.Dumper", tx)
		}
		if err := d.ForEachMeta(func(k string, v []byte) error { line("meta "+k, v); return nil }); err != nil {
			return err
		}
		for after := int64(0); ; {
			ps, err := tx.ListPartners(after, 100)
			if err != nil {
				return err
			}
			if len(ps) == 0 {
				break
			}
			for _, p := range ps {
				line("partner", p)
				after = p.ID
				os, err := tx.ListOrders(p.ID, store.OrderQuery{Limit: 1000})
				if err != nil {
					return err
				}
				for _, o := range os {
					line("partner order", o.ID)
				}
				ls, err := tx.ListLedger(p.ID, 0, 1000)
				if err != nil {
					return err
				}
				for _, e := range ls {
					line("partner ledger", e.ID)
				}
				for _, r := range []string{"ref-0", "ref-1"} {
					os, err := tx.OrdersByReference(p.ID, r, 0, 100)
					if err != nil {
						return err
					}
					for _, o := range os {
						line("reference "+r, o.ID)
					}
				}
				if q, err := tx.PartnerByTelegram(p.TelegramUserID); err == nil {
					line("by telegram", q.ID)
				}
				if q, err := tx.PartnerByTopupAddress(p.TopupAddressRaw); err == nil {
					line("by address", q.ID)
				}
				ds, err := tx.ListWebhookDeliveries(p.ID, 0, 100)
				if err != nil {
					return err
				}
				for _, d := range ds {
					line("partner delivery", d.ID)
				}
			}
		}
		steps := []error{
			d.ForEachAPIKey(func(k *domain.APIKey) error { line("key", k); return nil }),
			tx.ForEachOrder(func(o *domain.Order) error {
				line("order", o)
				return nil
			}),
			tx.ForEachLedger(func(e *domain.LedgerEntry) error { line("ledger", e); return nil }),
			tx.ForEachSeen(func(s *domain.SeenTx) error { line("seen", s); return nil }),
			d.ForEachIdem(func(r *domain.IdemRecord) error { line("idem", r); return nil }),
			d.ForEachOutbox(func(it *domain.OutboxItem) error { line("outbox", it); return nil }),
			d.ForEachWebhook(func(w *domain.Webhook) error { line("webhook", w); return nil }),
			d.ForEachWebhookDelivery(func(w *domain.WebhookDelivery) error { line("delivery", w); return nil }),
		}
		for _, err := range steps {
			if err != nil {
				return err
			}
		}
		us, err := tx.ListUnmatched(0, 1000)
		if err != nil {
			return err
		}
		for _, u := range us {
			line("unmatched", u)
		}
		pks, err := tx.ListParked(0, 1000, false)
		if err != nil {
			return err
		}
		for _, p := range pks {
			line("parked", p)
		}
		open, err := tx.ListParked(0, 1000, true)
		if err != nil {
			return err
		}
		for _, p := range open {
			line("parked open", p.ID)
		}
		as, err := tx.ListAudit(0, 1000)
		if err != nil {
			return err
		}
		for _, a := range as {
			line("audit", a)
		}
		bs, err := tx.ListPayerBatches(0, 1000, false)
		if err != nil {
			return err
		}
		for _, pb := range bs {
			line("payer batch", pb)
			ms, err := tx.PayerMessages(pb.ID)
			if err != nil {
				return err
			}
			for _, m := range ms {
				line("payer message", m)
				byOrder, err := tx.OrderPayerMessages(m.OrderID)
				if err != nil {
					return err
				}
				line("payer message by order", []any{m.OrderID, len(byOrder)})
			}
		}
		openBatches, err := tx.ListPayerBatches(0, 1000, true)
		if err != nil {
			return err
		}
		for _, pb := range openBatches {
			line("payer batch open", pb.ID)
		}
		sb, err := tx.SandboxTxAfter(0, 1000)
		if err != nil {
			return err
		}
		for _, s := range sb {
			line("sandbox", s)
		}
		due, err := tx.DueExpiries(t0.Add(1000*time.Hour), 1000)
		if err != nil {
			return err
		}
		line("due", due)
		dq, err := tx.DeliveryQueue(0, 1000)
		if err != nil {
			return err
		}
		line("delivery queue", dq)
		dd, err := tx.DueDeliveries(t0.Add(1000*time.Hour), 1000)
		if err != nil {
			return err
		}
		line("delivery due", dd)
		return nil
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	lines = strings.Split(strings.TrimSpace(b.String()), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// RunCopy proves store.Copy from → to: every record arrives with its id and
// indexes, the copy refuses a non-empty destination, and ids assigned in the
// destination afterwards are larger than every copied one.
func RunCopy(t *testing.T, from, to store.Store) {
	ctx := context.Background()
	Fill(t, from)
	var progress bytes.Buffer
	if err := store.Copy(ctx, from, to, &progress); err != nil {
		t.Fatalf("copy: %v", err)
	}
	t.Logf("copy:\n%s", progress.String())
	want, got := Dump(t, from), Dump(t, to)
	if want != got {
		t.Errorf("copy differs from source:\n--- source\n%s\n--- copy\n%s", want, got)
	}
	if err := store.Copy(ctx, from, to, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second copy into the same store: %v, want a not-empty error", err)
	}
	var maxOrder, maxLedger, maxPartner, maxOutbox, maxUnmatched, maxDelivery, maxParked, maxAudit, maxBatch int64
	var maxSeq uint64
	view(t, from, func(tx store.Tx) error {
		_ = tx.ForEachOrder(func(o *domain.Order) error { maxOrder = max(maxOrder, o.ID); return nil })
		_ = tx.ForEachLedger(func(e *domain.LedgerEntry) error { maxLedger = max(maxLedger, e.ID); return nil })
		ps, _ := tx.ListPartners(0, 1000)
		maxPartner = ps[len(ps)-1].ID
		_ = tx.(store.Dumper).ForEachOutbox(func(it *domain.OutboxItem) error { maxOutbox = max(maxOutbox, it.ID); return nil })
		us, _ := tx.ListUnmatched(0, 1000)
		maxUnmatched = us[len(us)-1].ID
		_ = tx.(store.Dumper).ForEachWebhookDelivery(func(d *domain.WebhookDelivery) error { maxDelivery = max(maxDelivery, d.ID); return nil })
		sb, _ := tx.SandboxTxAfter(0, 1000)
		maxSeq = sb[len(sb)-1].Seq
		pks, _ := tx.ListParked(0, 1000, false)
		maxParked = pks[len(pks)-1].ID
		as, _ := tx.ListAudit(0, 1000)
		maxAudit = as[len(as)-1].ID
		bs, _ := tx.ListPayerBatches(0, 1000, false)
		maxBatch = bs[len(bs)-1].ID
		return nil
	})
	var it *domain.OutboxItem
	update(t, to, func(tx store.Tx) error {
		check := func(what string, got, max int64, err error) {
			if err != nil || got <= max {
				t.Errorf("%s after copy: %d (err %v), want > %d", what, got, err, max)
			}
		}
		id, err := tx.NextOrderID()
		check("NextOrderID", id, maxOrder, err)
		id, err = tx.NextPartnerID()
		check("NextPartnerID", id, maxPartner, err)
		e := &domain.LedgerEntry{PartnerID: 1}
		err = tx.AppendLedger(e)
		check("AppendLedger", e.ID, maxLedger, err)
		it = &domain.OutboxItem{Channel: domain.ChannelTelegram}
		if err := tx.AppendOutbox(it); err != nil {
			t.Errorf("AppendOutbox after copy: %v", err)
		}
		u := &domain.Unmatched{TxHash: "new"}
		err = tx.PutUnmatched(u)
		check("PutUnmatched", u.ID, maxUnmatched, err)
		d := &domain.WebhookDelivery{PartnerID: 1}
		err = tx.AppendWebhookDelivery(d)
		check("AppendWebhookDelivery", d.ID, maxDelivery, err)
		pk := &domain.Parked{TxHash: "new"}
		err = tx.PutParked(pk)
		check("PutParked", pk.ID, maxParked, err)
		a := &domain.AuditEntry{Action: "x"}
		err = tx.AppendAudit(a)
		check("AppendAudit", a.ID, maxAudit, err)
		pb := &domain.PayerBatch{Wallet: "0:bb"}
		err = tx.PutPayerBatch(pb)
		check("PutPayerBatch", pb.ID, maxBatch, err)
		seq, err := tx.AppendSandboxTx([]byte("x"))
		check("AppendSandboxTx", int64(seq), int64(maxSeq), err)
		return nil
	})
	// An outbox id is assigned by the commit at the latest.
	if it.ID <= maxOutbox {
		t.Errorf("AppendOutbox after copy: %d, want > %d", it.ID, maxOutbox)
	}
}
