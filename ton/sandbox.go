package ton

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/theopenmoney/openmoney/store"
)

// Sandbox is the simulated chain of sandbox mode. Its transactions are kept in
// the store (so they survive restarts) and streamed through the same Source
// interface as the real chain; the listener cannot tell them apart.
type Sandbox struct {
	st   store.Store
	now  func() time.Time
	mu   sync.Mutex
	wake chan struct{} // closed and replaced on every append
	poll time.Duration
}

// NewSandbox returns the simulated chain over st.
func NewSandbox(st store.Store, now func() time.Time) *Sandbox {
	if now == nil {
		now = time.Now
	}
	return &Sandbox{st: st, now: now, wake: make(chan struct{}), poll: time.Second}
}

// Append lands a transfer on the simulated chain: durable when it returns.
// Hash (32 random bytes, hex) and ChainTime (now) are set when empty; LT is
// the chain sequence ×1000.
func (s *Sandbox) Append(ctx context.Context, t Transfer) (Transfer, error) {
	if t.Hash == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return Transfer{}, fmt.Errorf("sandbox: hash: %w", err)
		}
		t.Hash = hex.EncodeToString(b[:])
	}
	if t.ChainTime.IsZero() {
		t.ChainTime = s.now().UTC().Truncate(time.Second)
	}
	data, err := json.Marshal(t)
	if err != nil {
		return Transfer{}, fmt.Errorf("sandbox: encode: %w", err)
	}
	var seq uint64
	err = s.st.Update(ctx, func(tx store.Tx) error {
		var err error
		seq, err = tx.AppendSandboxTx(data)
		return err
	})
	if err != nil {
		return Transfer{}, fmt.Errorf("sandbox: append: %w", err)
	}
	if t.LT == 0 {
		t.LT = seq * 1000
	}
	s.signal()
	return t, nil
}

func (s *Sandbox) signal() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *Sandbox) waitCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// Stream implements Source: every stored transaction after cursor (a sequence
// number in decimal), in order, in batches of up to 100.
func (s *Sandbox) Stream(ctx context.Context, cursor string, fn func(context.Context, Batch) error) error {
	var after uint64
	if cursor != "" {
		v, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return fmt.Errorf("sandbox: bad cursor %q: %w", cursor, err)
		}
		after = v
	}
	for {
		wake := s.waitCh() // taken before reading so no append is missed
		var recs []store.SandboxTx
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			recs, err = tx.SandboxTxAfter(after, 100)
			return err
		})
		if err != nil {
			return fmt.Errorf("sandbox: read: %w", err)
		}
		if len(recs) > 0 {
			b := Batch{Cursor: strconv.FormatUint(recs[len(recs)-1].Seq, 10)}
			for _, r := range recs {
				var t Transfer
				if err := json.Unmarshal(r.Data, &t); err != nil {
					return fmt.Errorf("sandbox: decode tx %d: %w", r.Seq, err)
				}
				if t.LT == 0 {
					t.LT = r.Seq * 1000
				}
				b.Transfers = append(b.Transfers, t)
			}
			if err := fn(ctx, b); err != nil {
				return err
			}
			after = recs[len(recs)-1].Seq
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-time.After(s.poll):
		}
	}
}

// Status: the simulated chain is always connected and never lags.
func (s *Sandbox) Status() Status {
	now := s.now().UTC()
	return Status{Network: NetworkSandbox, Connected: true, LastBlockTime: now}
}
