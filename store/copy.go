package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/theopenmoney/openmoney/domain"
)

// Dumper is implemented by the Tx of stores Copy can read from: full walks
// of the record kinds Tx itself only looks up by key.
type Dumper interface {
	ForEachMeta(fn func(key string, val []byte) error) error
	ForEachAPIKey(fn func(*domain.APIKey) error) error
	ForEachIdem(fn func(*domain.IdemRecord) error) error
	// ForEachOutbox walks every channel's pending items.
	ForEachOutbox(fn func(*domain.OutboxItem) error) error
	ForEachWebhook(fn func(*domain.Webhook) error) error
	ForEachWebhookDelivery(fn func(*domain.WebhookDelivery) error) error
}

// Restorer is implemented by the Tx of stores Copy can write to: it writes
// records whose ids were assigned elsewhere, keeping them, and moves the id
// sequences past them.
type Restorer interface {
	// RestorePartner stores p with its balance and ledger count as given
	// (PutPartner keeps the stored ones).
	RestorePartner(p *domain.Partner) error
	// RestoreLedger stores e with its own e.ID (AppendLedger assigns one).
	RestoreLedger(e *domain.LedgerEntry) error
	// RestoreWebhookDelivery stores d with its own d.ID.
	RestoreWebhookDelivery(d *domain.WebhookDelivery) error
	// RestoreAudit stores a with its own a.ID.
	RestoreAudit(a *domain.AuditEntry) error
	// RestoreSandboxTx stores a sandbox chain record under its own seq.
	RestoreSandboxTx(seq uint64, data []byte) error
	// BumpSequences makes every Next*/Append* id larger than any stored id.
	BumpSequences() error
}

// copyBatch is how many records Copy writes per destination transaction.
const copyBatch = 500

// Copy copies every record of from into to, ids included: meta (seeds,
// cursors), partners and their indexes, api key hashes, orders, ledger rows,
// seen tx hashes, unmatched deposits, parked transfers, the operators' audit
// log, the Fragment payer's batches and messages, idempotency records, outbox items, webhooks and their delivery log,
// and the sandbox chain. to must be empty (no meta, partners, orders or
// ledger rows); both stores must not be in use by a running service. It reads from one snapshot of from and writes in
// batches; progress (may be nil) gets a line per record kind. Check both
// sides with shop.Check afterwards.
func Copy(ctx context.Context, from, to Store, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	if err := to.View(ctx, func(tx Tx) error {
		if _, ok := tx.(Restorer); !ok {
			return fmt.Errorf("store: copy: destination %T cannot restore records", tx)
		}
		if d, ok := tx.(Dumper); ok {
			n := 0
			if err := d.ForEachMeta(func(string, []byte) error { n++; return nil }); err != nil {
				return err
			}
			if n > 0 {
				return errors.New("store: copy: destination is not empty (meta)")
			}
		}
		if ps, err := tx.ListPartners(0, 1); err != nil || len(ps) > 0 {
			return errors.Join(err, errNotEmpty(len(ps) > 0, "partners"))
		}
		n := 0
		stop := errors.New("stop")
		if err := tx.ForEachOrder(func(*domain.Order) error { n++; return stop }); err != nil && !errors.Is(err, stop) {
			return err
		}
		if err := tx.ForEachLedger(func(*domain.LedgerEntry) error { n++; return stop }); err != nil && !errors.Is(err, stop) {
			return err
		}
		return errNotEmpty(n > 0, "orders or ledger")
	}); err != nil {
		return err
	}
	return from.View(ctx, func(src Tx) error {
		d, ok := src.(Dumper)
		if !ok {
			return fmt.Errorf("store: copy: source %T cannot be dumped", src)
		}
		c := &copier{ctx: ctx, to: to, out: progress}
		steps := []struct {
			kind string
			walk func(put func(func(Tx) error) error) error
		}{
			{"meta", func(put func(func(Tx) error) error) error {
				return d.ForEachMeta(func(k string, v []byte) error {
					return put(func(tx Tx) error { return tx.PutMeta(k, v) })
				})
			}},
			{"partners", func(put func(func(Tx) error) error) error {
				var after int64
				for {
					ps, err := src.ListPartners(after, copyBatch)
					if err != nil || len(ps) == 0 {
						return err
					}
					for i := range ps {
						p := ps[i]
						if err := put(func(tx Tx) error { return tx.(Restorer).RestorePartner(&p) }); err != nil {
							return err
						}
						after = p.ID
					}
				}
			}},
			{"api keys", func(put func(func(Tx) error) error) error {
				return d.ForEachAPIKey(func(k *domain.APIKey) error {
					return put(func(tx Tx) error { return tx.PutAPIKey(k, true) })
				})
			}},
			{"orders", func(put func(func(Tx) error) error) error {
				return src.ForEachOrder(func(o *domain.Order) error {
					return put(func(tx Tx) error { return tx.CreateOrder(o) })
				})
			}},
			{"ledger rows", func(put func(func(Tx) error) error) error {
				return src.ForEachLedger(func(e *domain.LedgerEntry) error {
					return put(func(tx Tx) error { return tx.(Restorer).RestoreLedger(e) })
				})
			}},
			{"seen tx hashes", func(put func(func(Tx) error) error) error {
				return src.ForEachSeen(func(s *domain.SeenTx) error {
					return put(func(tx Tx) error { return tx.PutSeen(s) })
				})
			}},
			{"unmatched deposits", func(put func(func(Tx) error) error) error {
				var after int64
				for {
					us, err := src.ListUnmatched(after, copyBatch)
					if err != nil || len(us) == 0 {
						return err
					}
					for i := range us {
						u := us[i]
						if err := put(func(tx Tx) error { return tx.PutUnmatched(&u) }); err != nil {
							return err
						}
						after = u.ID
					}
				}
			}},
			{"parked transfers", func(put func(func(Tx) error) error) error {
				var after int64
				for {
					ps, err := src.ListParked(after, copyBatch, false)
					if err != nil || len(ps) == 0 {
						return err
					}
					for i := range ps {
						p := ps[i]
						if err := put(func(tx Tx) error { return tx.PutParked(&p) }); err != nil {
							return err
						}
						after = p.ID
					}
				}
			}},
			{"audit rows", func(put func(func(Tx) error) error) error {
				var after int64
				for {
					as, err := src.ListAudit(after, copyBatch)
					if err != nil || len(as) == 0 {
						return err
					}
					for i := range as {
						a := as[i]
						if err := put(func(tx Tx) error { return tx.(Restorer).RestoreAudit(&a) }); err != nil {
							return err
						}
						after = a.ID
					}
				}
			}},
			{"payer batches and their messages", func(put func(func(Tx) error) error) error {
				var after int64
				for {
					bs, err := src.ListPayerBatches(after, copyBatch, false)
					if err != nil || len(bs) == 0 {
						return err
					}
					for i := range bs {
						b := bs[i]
						ms, err := src.PayerMessages(b.ID)
						if err != nil {
							return err
						}
						if err := put(func(tx Tx) error {
							if err := tx.PutPayerBatch(&b); err != nil {
								return err
							}
							for j := range ms {
								if err := tx.PutPayerMessage(&ms[j]); err != nil {
									return err
								}
							}
							return nil
						}); err != nil {
							return err
						}
						after = b.ID
					}
				}
			}},
			{"idempotency records", func(put func(func(Tx) error) error) error {
				return d.ForEachIdem(func(r *domain.IdemRecord) error {
					return put(func(tx Tx) error { return tx.PutIdem(r) })
				})
			}},
			{"outbox items", func(put func(func(Tx) error) error) error {
				return d.ForEachOutbox(func(it *domain.OutboxItem) error {
					return put(func(tx Tx) error { return tx.PutOutbox(it) })
				})
			}},
			{"webhooks", func(put func(func(Tx) error) error) error {
				return d.ForEachWebhook(func(w *domain.Webhook) error {
					return put(func(tx Tx) error { return tx.PutWebhook(w) })
				})
			}},
			{"webhook deliveries", func(put func(func(Tx) error) error) error {
				return d.ForEachWebhookDelivery(func(w *domain.WebhookDelivery) error {
					return put(func(tx Tx) error { return tx.(Restorer).RestoreWebhookDelivery(w) })
				})
			}},
			{"sandbox chain", func(put func(func(Tx) error) error) error {
				var after uint64
				for {
					rs, err := src.SandboxTxAfter(after, copyBatch)
					if err != nil || len(rs) == 0 {
						return err
					}
					for _, r := range rs {
						if err := put(func(tx Tx) error { return tx.(Restorer).RestoreSandboxTx(r.Seq, r.Data) }); err != nil {
							return err
						}
						after = r.Seq
					}
				}
			}},
		}
		for _, s := range steps {
			n := 0
			err := s.walk(func(w func(Tx) error) error {
				n++
				return c.add(w)
			})
			if err == nil {
				err = c.flush()
			}
			if err != nil {
				return fmt.Errorf("store: copy %s: %w", s.kind, err)
			}
			fmt.Fprintf(progress, "%-20s %d\n", s.kind, n)
		}
		if err := to.Update(ctx, func(tx Tx) error { return tx.(Restorer).BumpSequences() }); err != nil {
			return fmt.Errorf("store: copy: sequences: %w", err)
		}
		return nil
	})
}

func errNotEmpty(notEmpty bool, what string) error {
	if notEmpty {
		return fmt.Errorf("store: copy: destination is not empty (%s)", what)
	}
	return nil
}

// copier buffers writes and applies them copyBatch at a time. Each write
// closes over its own record, so a retried Update re-applies the same batch.
type copier struct {
	ctx     context.Context
	to      Store
	out     io.Writer
	pending []func(Tx) error
}

func (c *copier) add(w func(Tx) error) error {
	c.pending = append(c.pending, w)
	if len(c.pending) >= copyBatch {
		return c.flush()
	}
	return nil
}

func (c *copier) flush() error {
	if len(c.pending) == 0 {
		return nil
	}
	batch := c.pending
	c.pending = nil
	return c.to.Update(c.ctx, func(tx Tx) error {
		for _, w := range batch {
			if err := w(tx); err != nil {
				return err
			}
		}
		return nil
	})
}
