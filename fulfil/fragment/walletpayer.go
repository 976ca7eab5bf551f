package fragment

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/money"
)

// ChainAPI is the part of tonutils-go's ton.APIClientWrapped the WalletPayer
// uses; pass ton.NewAPIClient(pool).WithRetry().
type ChainAPI interface {
	CurrentMasterchainInfo(ctx context.Context) (*liteapi.BlockIDExt, error)
	// GetBlockData reads the masterchain block a snapshot is taken at; the
	// library checks the block's hash against the id, so its generation
	// times are proven (see viewTime).
	GetBlockData(ctx context.Context, block *liteapi.BlockIDExt) (*tlb.Block, error)
	GetAccount(ctx context.Context, block *liteapi.BlockIDExt, addr *address.Address) (*tlb.Account, error)
	RunGetMethod(ctx context.Context, block *liteapi.BlockIDExt, addr *address.Address, method string, params ...interface{}) (*liteapi.ExecutionResult, error)
	ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error)
	SendExternalMessage(ctx context.Context, msg *tlb.ExternalMessage) error
}

// tonutils-go's API client satisfies ChainAPI.
var _ ChainAPI = liteapi.APIClientWrapped(nil)

// WalletPayerOptions tune a WalletPayer. Zero values take the defaults.
type WalletPayerOptions struct {
	Testnet bool // TON Connect chain "-3" instead of "-239"
	// MessageTTL is the wallet message's lifetime (default and max 3 min);
	// it is shortened to end before the Fragment link's validUntil.
	MessageTTL time.Duration
	// ExpiryMargin is added to a message's valid_until before "not found"
	// counts as "never executed", in chain time (default 2 min, at least
	// 30 s; see expiredInView).
	ExpiryMargin time.Duration
	// PollInterval while waiting for the previous message's seqno (default 2 s).
	PollInterval time.Duration
	// MaxScan bounds the transactions one Lookup reads (default 1000).
	MaxScan int
	Now     func() time.Time
	Log     *slog.Logger
}

// WalletPayer pays from the service wallet with tonutils-go. One message is
// in flight at a time: Send waits until the wallet's seqno has moved past
// the previous message (or it expired) before signing the next.
type WalletPayer struct {
	api     ChainAPI
	w       *wallet.Wallet // signing copy; its own API is never used
	v5      bool
	addr    *address.Address
	account Account
	opt     WalletPayerOptions

	mu   sync.Mutex
	last *SentMessage

	viewMu    sync.Mutex
	viewBlock *liteapi.BlockIDExt // the last block viewTime read
	viewAt    time.Time           // and its answer
}

type specSetter interface {
	SetMessagesTTL(uint32)
	SetSeqnoFetcher(func(ctx context.Context, subWallet uint32) (uint32, error))
}

// NewWalletPayer wraps the service wallet w (e.g. ton.Keys.Wallet(); its own
// API may be nil) to pay through api. The wallet version (v3r2, v4r2, v5r1)
// is recognised from w's address.
func NewWalletPayer(w *wallet.Wallet, api ChainAPI, opts WalletPayerOptions) (*WalletPayer, error) {
	if w == nil || api == nil {
		return nil, errors.New("fragment: NewWalletPayer needs a wallet and a chain API")
	}
	key := w.PrivateKey()
	if key == nil {
		return nil, errors.New("fragment: the service wallet has no private key")
	}
	pub := key.Public().(ed25519.PublicKey)
	sub := w.GetSubwalletID()
	wc := int8(w.Address().Workchain())
	candidates := []wallet.VersionConfig{
		wallet.V4R2,
		wallet.ConfigV5R1Final{NetworkGlobalID: wallet.MainnetGlobalID, Workchain: wc},
		wallet.ConfigV5R1Final{NetworkGlobalID: wallet.TestnetGlobalID, Workchain: wc},
		wallet.V3R2,
		wallet.V4R1,
		wallet.V3R1,
	}
	var cfg wallet.VersionConfig
	for _, c := range candidates {
		a, err := wallet.AddressFromPubKey(pub, c, sub, wc)
		if err == nil && bytes.Equal(a.Data(), w.Address().Data()) {
			cfg = c
			break
		}
	}
	if cfg == nil {
		return nil, errors.New("fragment: service wallet version not recognised (want v3r2, v4r2 or v5r1)")
	}
	signer, err := wallet.FromPrivateKeyWithOptions(nil, key, cfg, wallet.WithWorkchain(wc))
	if err != nil {
		return nil, fmt.Errorf("fragment: signing wallet: %w", err)
	}
	if signer.GetSubwalletID() != sub {
		if signer, err = signer.GetSubwallet(sub); err != nil {
			return nil, fmt.Errorf("fragment: signing subwallet: %w", err)
		}
	}
	if !bytes.Equal(signer.Address().Data(), w.Address().Data()) {
		return nil, errors.New("fragment: signing wallet address mismatch")
	}
	if _, ok := signer.GetSpec().(specSetter); !ok {
		return nil, errors.New("fragment: wallet version cannot set seqno/ttl")
	}
	si, err := wallet.GetStateInit(pub, cfg, sub)
	if err != nil {
		return nil, fmt.Errorf("fragment: state init: %w", err)
	}
	siCell, err := tlb.ToCell(si)
	if err != nil {
		return nil, fmt.Errorf("fragment: state init cell: %w", err)
	}
	_, v5 := cfg.(wallet.ConfigV5R1Final)
	if v5 {
		netTestnet := cfg.(wallet.ConfigV5R1Final).NetworkGlobalID == wallet.TestnetGlobalID
		if netTestnet != opts.Testnet {
			return nil, errors.New("fragment: the v5 service wallet belongs to the other network")
		}
	}
	chain := "-239"
	if opts.Testnet {
		chain = "-3"
	}
	if opts.MessageTTL <= 0 || opts.MessageTTL > 3*time.Minute {
		opts.MessageTTL = 3 * time.Minute
	}
	if opts.ExpiryMargin <= 0 {
		opts.ExpiryMargin = 2 * time.Minute
	} else if opts.ExpiryMargin < minExpiryMargin {
		opts.ExpiryMargin = minExpiryMargin
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	if opts.MaxScan <= 0 {
		opts.MaxScan = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	addr := signer.Address()
	return &WalletPayer{
		api:  api,
		w:    signer,
		v5:   v5,
		addr: addr,
		account: Account{
			Address:         addr.StringRaw(),
			PublicKey:       hex.EncodeToString(pub),
			Chain:           chain,
			WalletStateInit: base64.StdEncoding.EncodeToString(siCell.ToBOCWithFlags(false)),
		},
		opt: opts,
	}, nil
}

// Account is the wallet's TON Connect account.
func (p *WalletPayer) Account() Account { return p.account }

// at pins reads to block when the API supports it (liteservers may lag).
func (p *WalletPayer) at(b *liteapi.BlockIDExt) ChainAPI {
	if w, ok := p.api.(interface {
		WaitForBlock(uint32) liteapi.APIClientWrapped
	}); ok {
		return w.WaitForBlock(b.SeqNo)
	}
	return p.api
}

type snapshot struct {
	block *liteapi.BlockIDExt
	acc   *tlb.Account
	seqno uint32
	// at is the chain time the snapshot shows the wallet as of (viewTime).
	// Every "has it executed?" judgement compares valid_until with it,
	// never with the local clock: the liteserver may be minutes behind.
	at time.Time
}

// balance is the wallet balance in the snapshot, in nanotons.
func (s snapshot) balance() (int64, error) {
	if !s.acc.IsActive || s.acc.State == nil {
		return 0, nil
	}
	n := s.acc.State.Balance.Nano()
	if !n.IsInt64() {
		return 0, errors.New("fragment: wallet balance out of range")
	}
	return n.Int64(), nil
}

// snap reads the wallet account, its seqno and the view's chain time at one
// masterchain block.
func (p *WalletPayer) snap(ctx context.Context) (snapshot, error) {
	block, err := p.api.CurrentMasterchainInfo(ctx)
	if err != nil {
		return snapshot{}, fmt.Errorf("fragment: masterchain info: %w", err)
	}
	api := p.at(block)
	at, err := p.viewTime(ctx, api, block)
	if err != nil {
		return snapshot{}, err
	}
	acc, err := api.GetAccount(ctx, block, p.addr)
	if err != nil {
		return snapshot{}, fmt.Errorf("fragment: wallet account: %w", err)
	}
	s := snapshot{block: block, acc: acc, at: at}
	if !acc.IsActive || acc.State == nil || acc.State.Status != tlb.AccountStatusActive {
		return s, nil // not deployed: seqno 0
	}
	res, err := api.RunGetMethod(ctx, block, p.addr, "seqno")
	if err != nil {
		var ce liteapi.ContractExecError
		if errors.As(err, &ce) && ce.Code == liteapi.ErrCodeContractNotInitialized {
			return s, nil
		}
		return snapshot{}, fmt.Errorf("fragment: wallet seqno: %w", err)
	}
	n, err := res.Int(0)
	if err != nil || !n.IsUint64() || n.Uint64() > 1<<32-1 {
		return snapshot{}, fmt.Errorf("fragment: wallet seqno unreadable: %v", err)
	}
	s.seqno = uint32(n.Uint64())
	return s, nil
}

// Balance is the wallet balance in nanotons.
func (p *WalletPayer) Balance(ctx context.Context) (int64, error) {
	block, err := p.api.CurrentMasterchainInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("fragment: masterchain info: %w", err)
	}
	acc, err := p.at(block).GetAccount(ctx, block, p.addr)
	if err != nil {
		return 0, fmt.Errorf("fragment: wallet account: %w", err)
	}
	return snapshot{acc: acc}.balance()
}

// Send signs m with the next seqno, records it, then broadcasts it.
func (p *WalletPayer) Send(ctx context.Context, m Message, record func(context.Context, SentMessage) error) (SentMessage, error) {
	if m.To == nil || m.Payload == nil || m.AmountNano <= 0 {
		return SentMessage{}, errors.New("fragment: incomplete message")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.waitPrevious(ctx); err != nil {
		return SentMessage{}, err
	}
	s, err := p.snap(ctx)
	if err != nil {
		return SentMessage{}, err
	}
	// The funds check that counts: at the view the message is signed at,
	// after the previous message has run (waitPrevious).
	bal, err := s.balance()
	if err != nil {
		return SentMessage{}, err
	}
	if need := m.AmountNano + max(m.ReserveNano, 0); bal < need {
		return SentMessage{}, &fulfil.Hold{Reason: fulfil.HoldFunds, BalanceNano: bal, NeedNano: need,
			Detail: fmt.Sprintf("service wallet holds %s TON, the payment needs %s TON with the fee reserve; nothing signed",
				money.FormatTON(bal), money.FormatTON(need))}
	}
	now := p.opt.Now()
	ttl := p.opt.MessageTTL
	if !m.ValidUntil.IsZero() {
		if left := m.ValidUntil.Sub(now) - 5*time.Second; left < ttl {
			ttl = left
		}
	}
	if ttl < 10*time.Second {
		return SentMessage{}, errors.New("fragment: the link expires too soon to send")
	}
	spec := p.w.GetSpec().(specSetter)
	spec.SetMessagesTTL(uint32(ttl / time.Second))
	seqno := s.seqno
	spec.SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return seqno, nil })
	deployed := s.acc.IsActive && s.acc.State != nil && s.acc.State.Status == tlb.AccountStatusActive
	ext, err := p.w.PrepareExternalMessageForMany(ctx, !deployed, []*wallet.Message{
		wallet.SimpleMessage(m.To, tlb.FromNanoTON(big.NewInt(m.AmountNano)), m.Payload),
	})
	if err != nil {
		return SentMessage{}, fmt.Errorf("fragment: build wallet message: %w", err)
	}
	validUntil, gotSeqno, err := bodyHeader(ext.Body, p.v5)
	if err != nil || gotSeqno != seqno {
		return SentMessage{}, fmt.Errorf("fragment: wallet message header check failed (seqno %d/%d): %v", gotSeqno, seqno, err)
	}
	extCell, err := tlb.ToCell(ext)
	if err != nil {
		return SentMessage{}, fmt.Errorf("fragment: serialize wallet message: %w", err)
	}
	prefix, bits := bouncePrefix(m.Payload)
	sent := SentMessage{
		Wallet:      p.addr.StringRaw(),
		Seqno:       seqno,
		ExtHash:     hex.EncodeToString(ext.Body.Hash()),
		BOC:         base64.StdEncoding.EncodeToString(extCell.ToBOCWithFlags(false)),
		ValidUntil:  validUntil,
		AfterLT:     s.acc.LastTxLT,
		To:          m.To.StringRaw(),
		AmountNano:  m.AmountNano,
		PayloadHash: hex.EncodeToString(m.Payload.Hash()),
		PreparedAt:  now.Unix(),
		BouncePfx:   prefix,
		BounceBits:  bits,
	}
	if err := record(ctx, sent); err != nil {
		return SentMessage{}, err
	}
	p.last = &sent
	if err := p.api.SendExternalMessage(ctx, ext); err != nil {
		return sent, fmt.Errorf("fragment: broadcast: %w", err)
	}
	p.opt.Log.Info("fragment: wallet message broadcast", "seqno", seqno, "ext_hash", sent.ExtHash, "valid_until", validUntil)
	return sent, nil
}

// waitPrevious blocks until the last message sent by this process executed
// or can no longer execute (judged in chain time), so the next one gets a
// fresh seqno and is signed against a balance that already paid for it.
func (p *WalletPayer) waitPrevious(ctx context.Context) error {
	for p.last != nil {
		s, err := p.snap(ctx)
		if err == nil && (s.seqno > p.last.Seqno || expiredInView(p.last.ValidUntil, s.at, p.opt.ExpiryMargin)) {
			p.last = nil
			return nil
		}
		t := time.NewTimer(p.opt.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("fragment: waiting for the previous payment's seqno: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Resend broadcasts the saved signed message again.
func (p *WalletPayer) Resend(ctx context.Context, s SentMessage) error {
	ext, err := decodeExternal(s.BOC)
	if err != nil {
		return err
	}
	if err := p.api.SendExternalMessage(ctx, ext); err != nil {
		return fmt.Errorf("fragment: rebroadcast: %w", err)
	}
	return nil
}

func decodeExternal(b64 string) (*tlb.ExternalMessage, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("fragment: saved message BOC: %w", err)
	}
	c, err := safeFromBOC(raw)
	if err != nil {
		return nil, fmt.Errorf("fragment: saved message BOC: %w", err)
	}
	var ext tlb.ExternalMessage
	if err := tlb.LoadFromCell(&ext, c.BeginParse()); err != nil {
		return nil, fmt.Errorf("fragment: saved message: %w", err)
	}
	return &ext, nil
}

// Lookup reads the wallet's transactions since the message was prepared and
// tells what became of it. The seqno and the transaction list come from the
// same block, so "seqno moved past and not found" is a safe "never executed".
func (p *WalletPayer) Lookup(ctx context.Context, s SentMessage) (Outcome, error) {
	snap, err := p.snap(ctx)
	if err != nil {
		return Outcome{}, err
	}
	var txs []*tlb.Transaction // ascending by lt
	if snap.acc.IsActive && snap.acc.LastTxLT > s.AfterLT {
		api := p.at(snap.block)
		lt, hash := snap.acc.LastTxLT, snap.acc.LastTxHash
		for lt > s.AfterLT {
			list, err := api.ListTransactions(ctx, p.addr, 15, lt, hash)
			if errors.Is(err, liteapi.ErrNoTransactionsWereFound) || (err == nil && len(list) == 0) {
				break
			}
			if err != nil {
				return Outcome{}, fmt.Errorf("fragment: list wallet transactions: %w", err)
			}
			var keep []*tlb.Transaction
			for _, tx := range list {
				if tx.LT > s.AfterLT {
					keep = append(keep, tx)
				}
			}
			txs = append(keep, txs...)
			if len(txs) > p.opt.MaxScan {
				return Outcome{}, fmt.Errorf("fragment: more than %d wallet transactions since the payment; cannot scan", p.opt.MaxScan)
			}
			lt, hash = list[0].PrevTxLT, list[0].PrevTxHash
		}
	}
	out := analyze(txs, s, snap.seqno, snap.at, p.opt.ExpiryMargin)
	if out.Status == StatusPending && p.opt.Now().Unix() > s.ValidUntil+int64(p.opt.ExpiryMargin/time.Second) {
		out.Behind = true
		out.Detail = fmt.Sprintf("the chain view reaches %s (%s behind this clock); the message was valid until %s, so nothing can be concluded before the view passes %s",
			snap.at.Format(time.RFC3339), p.opt.Now().Sub(snap.at).Round(time.Second),
			time.Unix(s.ValidUntil, 0).UTC().Format(time.RFC3339),
			time.Unix(s.ValidUntil, 0).Add(p.opt.ExpiryMargin).UTC().Format(time.RFC3339))
	}
	return out, nil
}

// analyze decides the outcome of s from the wallet transactions after it was
// prepared (ascending) and the wallet seqno, both from one view whose chain
// time is view.
func analyze(txs []*tlb.Transaction, s SentMessage, seqno uint32, view time.Time, margin time.Duration) Outcome {
	want, _ := hex.DecodeString(s.ExtHash)
	for i, tx := range txs {
		if tx == nil || tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn {
			continue
		}
		ext, ok := tx.IO.In.Msg.(*tlb.ExternalMessage)
		if !ok || ext.Body == nil || !bytes.Equal(ext.Body.Hash(), want) {
			continue
		}
		out := Outcome{TxHash: hex.EncodeToString(tx.Hash), LT: tx.LT, Time: time.Unix(int64(tx.Now), 0).UTC(), ChainTime: view}
		if !sentTransfer(tx, s) {
			out.Status = StatusFailed
			out.Detail = "the wallet ran the message but no transfer left it (balance too low when it executed?)"
			return out
		}
		for _, later := range txs[i+1:] {
			if bounceOf(later, s) {
				out.Status = StatusBounced
				out.Detail = "bounce received in tx " + hex.EncodeToString(later.Hash)
				return out
			}
		}
		out.Status = StatusConfirmed
		return out
	}
	if seqno > s.Seqno {
		return Outcome{Status: StatusExpired, ChainTime: view, Detail: fmt.Sprintf("wallet seqno is %d, past %d, and the message is not among its transactions", seqno, s.Seqno)}
	}
	if expiredInView(s.ValidUntil, view, margin) {
		return Outcome{Status: StatusExpired, ChainTime: view, Detail: fmt.Sprintf("the message expired at %s without executing (chain view at %s)",
			time.Unix(s.ValidUntil, 0).UTC().Format(time.RFC3339), view.Format(time.RFC3339))}
	}
	return Outcome{Status: StatusPending, ChainTime: view}
}

func sentTransfer(tx *tlb.Transaction, s SentMessage) bool {
	if tx.IO.Out == nil {
		return false
	}
	list, err := tx.IO.Out.ToSlice()
	if err != nil {
		return false
	}
	for _, m := range list {
		im, ok := m.Msg.(*tlb.InternalMessage)
		if !ok || im.DstAddr == nil {
			continue
		}
		if im.DstAddr.StringRaw() == s.To && im.Amount.Nano().Cmp(big.NewInt(s.AmountNano)) == 0 {
			return true
		}
	}
	return false
}

// bounceOf: an incoming bounced message from the destination whose body
// starts with 0xffffffff and the first bits of our payload (0xfffffffe: the
// newer full-body bounce format).
func bounceOf(tx *tlb.Transaction, s SentMessage) bool {
	if tx == nil || tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		return false
	}
	im, ok := tx.IO.In.Msg.(*tlb.InternalMessage)
	if !ok || !im.Bounced || im.SrcAddr == nil || im.SrcAddr.StringRaw() != s.To || im.Body == nil {
		return false
	}
	sl := im.Body.BeginParse()
	op, err := sl.LoadUInt(32)
	if err != nil {
		return false
	}
	if op == 0xfffffffe {
		return true
	}
	if op != 0xffffffff {
		return false
	}
	if s.BounceBits == 0 {
		return true
	}
	got, err := sl.LoadSlice(uint(s.BounceBits))
	if err != nil {
		return false
	}
	return hex.EncodeToString(got) == s.BouncePfx
}

// bouncePrefix is what a bounce of payload carries: its first ≤256 bits.
func bouncePrefix(payload *cell.Cell) (string, int) {
	n := payload.BitsSize()
	if n > 256 {
		n = 256
	}
	b, err := payload.BeginParse().LoadSlice(n)
	if err != nil {
		return "", 0
	}
	return hex.EncodeToString(b), int(n)
}

// bodyHeader reads valid_until and seqno from a signed wallet message body
// (v3/v4: signature, subwallet, valid_until, seqno; v5: op, wallet id,
// valid_until, seqno, …, signature).
func bodyHeader(body *cell.Cell, v5 bool) (validUntil int64, seqno uint32, err error) {
	sl := body.BeginParse()
	if v5 {
		op, err := sl.LoadUInt(32)
		if err != nil || op != 0x7369676e {
			return 0, 0, errors.New("not a v5 signed external message")
		}
		if _, err := sl.LoadUInt(32); err != nil {
			return 0, 0, err
		}
	} else {
		if _, err := sl.LoadSlice(512); err != nil {
			return 0, 0, err
		}
		if _, err := sl.LoadUInt(32); err != nil {
			return 0, 0, err
		}
	}
	vu, err := sl.LoadUInt(32)
	if err != nil {
		return 0, 0, err
	}
	sq, err := sl.LoadUInt(32)
	if err != nil {
		return 0, 0, err
	}
	return int64(vu), uint32(sq), nil
}
