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

	"github.com/theopenmoney/openmoney/domain"
)

// SandboxLog is where the sandbox chain keeps its transactions, so they
// survive restarts: an append-only log of encoded transfers (the service
// store, through store.SandboxLog).
type SandboxLog interface {
	// AppendSandboxTx stores data durably and returns its sequence number;
	// sequences increase in commit order, so a reader following
	// SandboxTxAfter never skips one.
	AppendSandboxTx(ctx context.Context, data []byte) (uint64, error)
	// SandboxTxAfter returns up to limit entries with a sequence above seq,
	// in order.
	SandboxTxAfter(ctx context.Context, seq uint64, limit int) ([]domain.SandboxTx, error)
}

// Sandbox is the simulated chain of sandbox mode. Its transactions are kept in
// a SandboxLog and streamed through the same Source interface as the real
// chain; the listener cannot tell them apart.
type Sandbox struct {
	log  SandboxLog
	now  func() time.Time
	mu   sync.Mutex
	wake chan struct{} // closed and replaced on every append
	poll time.Duration
}

// NewSandbox returns the simulated chain kept in log.
func NewSandbox(log SandboxLog, now func() time.Time) *Sandbox {
	if now == nil {
		now = time.Now
	}
	return &Sandbox{log: log, now: now, wake: make(chan struct{}), poll: time.Second}
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
	seq, err := s.log.AppendSandboxTx(ctx, data)
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
		recs, err := s.log.SandboxTxAfter(ctx, after, 100)
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

// SandboxJettonTransfer is what the listener reports when units of w's
// jetton arrive in our jetton wallet w from the owner from with memo: the
// internal_transfer body a sender's wallet builds (forward_ton_amount 1
// nanoton, the memo in the forward payload), read back by the listener's
// own decoder. The message's TON (0.05) is the sender's fees, not credited.
func SandboxJettonTransfer(w JettonWallet, from string, units int64, memo string) (Transfer, error) {
	fromRaw, err := RawAddress(from)
	if err != nil {
		return Transfer{}, fmt.Errorf("sandbox: jetton sender: %w", err)
	}
	source, err := SandboxJettonWallet(w.Master, fromRaw)
	if err != nil {
		return Transfer{}, err
	}
	body, err := JettonTransferBody(0, units, fromRaw, 1, memo)
	if err != nil {
		return Transfer{}, fmt.Errorf("sandbox: jetton transfer body: %w", err)
	}
	it, err := decodeInternalTransfer(body)
	if err != nil {
		return Transfer{}, fmt.Errorf("sandbox: jetton transfer body: %w", err)
	}
	return Transfer{From: it.from.StringRaw(), To: w.Owner, AmountNano: 50_000_000, Incoming: true,
		Comment: it.comment, PayloadHex: it.payloadHex,
		Jetton: &JettonTransfer{Asset: w.Asset, Master: w.Master, Wallet: w.Wallet, Units: nanoInt64(it.amount),
			SourceWallet: source, QueryID: it.queryID, ForwardNano: nanoInt64(it.forwardTON)}}, nil
}

// SandboxJettonNotice is what the listener reports when a jetton wallet
// that is not ours (fakeWallet: a fake jetton's) sends our owner a
// transfer_notification of units with memo and tonNano attached: a TON
// message flagged JettonNotice, read by the listener's own body decoder.
func SandboxJettonNotice(owner, fakeWallet, from string, units, tonNano int64, memo string) (Transfer, error) {
	body, err := JettonNotificationBody(0, units, from, memo)
	if err != nil {
		return Transfer{}, fmt.Errorf("sandbox: notification body: %w", err)
	}
	t := Transfer{From: fakeWallet, To: owner, AmountNano: tonNano, Incoming: true}
	t.Comment, t.PayloadHex, t.JettonNotice = inboundBody(body)
	return t, nil
}
