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
	"slices"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	liteapi "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/fulfil"
	"github.com/theopenmoney/openmoney/money"
	"github.com/theopenmoney/openmoney/ton"
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
	// it is shortened to end before every included Fragment link's
	// validUntil.
	MessageTTL time.Duration
	// ExpiryMargin is added to a message's valid_until before "not found"
	// counts as "never executed", in chain time (default 2 min, at least
	// 30 s; see expiredInView).
	ExpiryMargin time.Duration
	// PollInterval while waiting for the previous batch's seqno (default 1 s).
	PollInterval time.Duration
	// BounceWindow: when a destination's history cannot be read, a sent
	// payment counts as taken once the view reaches this far past it in
	// chain time without a bounce (default 30 s; negative: at once).
	BounceWindow time.Duration
	// MaxScan bounds the transactions one Lookup reads per account
	// (default 20000).
	MaxScan int
	// Archive connects to archival liteservers (ton.archive_config_url),
	// asked for history pages the current liteservers do not serve; dialled
	// once, when first needed. Nil: none.
	Archive func(ctx context.Context) (ton.TxLister, error)
	Now     func() time.Time
	Log     *slog.Logger
}

// Fees of one wallet message: what @ton/sandbox measured the wallet
// contracts paying beyond Fragment payments (import, gas, action and forward
// fees; TestBatchRunsInTonSandbox, docs/FRAGMENT.md "Fees"), fitted as a part
// per message plus a part per payment and raised by half as an upper bound,
// in nanotons. Measured: v5r1 6.09 mTON for 1 payment, 301.5 mTON for 255
// (4.9 + 1.16 per payment); v4r2 5.61 for 1, 9.14 for 4 (4.4 + 1.17).
var walletFees = map[int]struct{ base, perMessage int64 }{
	4: {base: 8_000_000, perMessage: 1_800_000},
	5: {base: 8_000_000, perMessage: 1_800_000},
}

// maxExternalBOC bounds a signed wallet message (validators refuse external
// messages larger than 64 KiB).
const maxExternalBOC = 60_000

// WalletPayer pays from the service wallet with tonutils-go. One batch is
// in flight at a time: SendBatch waits until the wallet's seqno has moved
// past the previous batch (or it can no longer run) before signing the next.
type WalletPayer struct {
	api     ChainAPI
	w       *wallet.Wallet // signing copy; its own API is never used
	version int            // 3, 4 or 5
	addr    *address.Address
	account Account
	opt     WalletPayerOptions

	mu   sync.Mutex // one SendBatch at a time
	last *SentBatch // the newest batch that may still run

	lookMu  sync.Mutex // one Lookup at a time: the caches below
	own     history    // the wallet's transactions
	dests   map[string]*history
	archive ton.TxLister // dialled on first need

	signedMu sync.Mutex
	signed   map[string]uint32 // ext hash → seqno of every message this payer signed (recent)

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
	version := 4
	switch c := cfg.(type) {
	case wallet.ConfigV5R1Final:
		version = 5
		if (c.NetworkGlobalID == wallet.TestnetGlobalID) != opts.Testnet {
			return nil, errors.New("fragment: the v5 service wallet belongs to the other network")
		}
	case wallet.Version:
		if c == wallet.V3R2 || c == wallet.V3R1 {
			version = 3
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
		opts.PollInterval = time.Second
	}
	if opts.BounceWindow < 0 {
		opts.BounceWindow = 0
	} else if opts.BounceWindow == 0 {
		opts.BounceWindow = 30 * time.Second
	}
	if opts.MaxScan <= 0 {
		opts.MaxScan = 20_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	addr := signer.Address()
	return &WalletPayer{
		api:     api,
		w:       signer,
		version: version,
		addr:    addr,
		account: Account{
			Address:         addr.StringRaw(),
			PublicKey:       hex.EncodeToString(pub),
			Chain:           chain,
			WalletStateInit: base64.StdEncoding.EncodeToString(siCell.ToBOCWithFlags(false)),
		},
		opt:    opts,
		dests:  map[string]*history{},
		signed: map[string]uint32{},
	}, nil
}

// Account is the wallet's TON Connect account.
func (p *WalletPayer) Account() Account { return p.account }

// MaxMessages is 255 for v5r1 and 4 for v4r2 and v3r2.
func (p *WalletPayer) MaxMessages() int {
	if p.version == 5 {
		return 255
	}
	return 4
}

// Fee bounds what a wallet message with n payments costs beyond them.
func (p *WalletPayer) Fee(n int) int64 {
	f := walletFees[max(p.version, 4)]
	return f.base + int64(n)*f.perMessage
}

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
	// Every "has it run?" judgement compares valid_until with it, never
	// with the local clock: the liteserver may be minutes behind.
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

// Seqno is the wallet's seqno at the newest view.
func (p *WalletPayer) Seqno(ctx context.Context) (uint32, error) {
	s, err := p.snap(ctx)
	return s.seqno, err
}

// Resume makes the next batch wait for b (recorded before a restart).
func (p *WalletPayer) Resume(b SentBatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil || b.Seqno >= p.last.Seqno {
		p.last = &b
	}
}

// Ready waits until the previous batch ran or can no longer run.
func (p *WalletPayer) Ready(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitPrevious(ctx)
}

// SendBatch signs the longest affordable prefix of ms with the next seqno,
// records it, then broadcasts it.
func (p *WalletPayer) SendBatch(ctx context.Context, ms []Message, reserve int64, record func(context.Context, SentBatch) error) (SentBatch, error) {
	if len(ms) == 0 {
		return SentBatch{}, errors.New("fragment: empty batch")
	}
	for _, m := range ms {
		if m.To == nil || m.Payload == nil || m.AmountNano <= 0 {
			return SentBatch{}, errors.New("fragment: incomplete message")
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.waitPrevious(ctx); err != nil {
		return SentBatch{}, err
	}
	s, err := p.snap(ctx)
	if err != nil {
		return SentBatch{}, err
	}
	// The funds check that counts: at the view the message is signed at,
	// after the previous batch has run (waitPrevious).
	bal, err := s.balance()
	if err != nil {
		return SentBatch{}, err
	}
	reserve = max(reserve, 0)
	n, sum := 0, int64(0)
	for n < len(ms) && n < p.MaxMessages() {
		next, err := money.Add(sum, ms[n].AmountNano)
		if err != nil || next+p.Fee(n+1)+reserve > bal {
			break
		}
		sum = next
		n++
	}
	if n == 0 {
		need := ms[0].AmountNano + p.Fee(1) + reserve
		return SentBatch{}, &fulfil.Hold{Reason: fulfil.HoldFunds, BalanceNano: bal, NeedNano: need,
			Detail: fmt.Sprintf("service wallet holds %s TON, the payment needs %s TON with fees and reserve; nothing signed",
				money.FormatTON(bal), money.FormatTON(need))}
	}
	now := p.opt.Now()
	for {
		sent, ext, err := p.sign(ctx, s, ms[:n], now)
		if err != nil {
			return SentBatch{}, err
		}
		if len(sent.BOC)*3/4 > maxExternalBOC && n > 1 {
			n = n * 3 / 4
			continue
		}
		sent.Balance = bal
		if err := record(ctx, sent); err != nil {
			return SentBatch{}, err
		}
		p.last = &sent
		p.remember(sent)
		if err := p.api.SendExternalMessage(ctx, ext); err != nil {
			return sent, fmt.Errorf("fragment: broadcast: %w", err)
		}
		p.opt.Log.Info("fragment: wallet message broadcast", "seqno", sent.Seqno, "payments", n, "total_nano", sum,
			"ext_hash", sent.ExtHash, "valid_until", sent.ValidUntil)
		return sent, nil
	}
}

// sign builds the external message carrying ms at snapshot s.
func (p *WalletPayer) sign(ctx context.Context, s snapshot, ms []Message, now time.Time) (SentBatch, *tlb.ExternalMessage, error) {
	ttl := p.opt.MessageTTL
	for _, m := range ms {
		if !m.ValidUntil.IsZero() {
			if left := m.ValidUntil.Sub(now) - 5*time.Second; left < ttl {
				ttl = left
			}
		}
	}
	if ttl < 10*time.Second {
		return SentBatch{}, nil, errors.New("fragment: a link expires too soon to send")
	}
	// tonutils-go stamps valid_until from the real clock: keep it relative
	// to ours (the same in production; tests run ahead of it).
	ttl += time.Until(now)
	if ttl < time.Second {
		return SentBatch{}, nil, errors.New("fragment: the clock is behind the real one; cannot stamp valid_until")
	}
	spec := p.w.GetSpec().(specSetter)
	spec.SetMessagesTTL(uint32(ttl / time.Second))
	seqno := s.seqno
	spec.SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return seqno, nil })
	deployed := s.acc.IsActive && s.acc.State != nil && s.acc.State.Status == tlb.AccountStatusActive
	msgs := make([]*wallet.Message, len(ms))
	items := make([]SentItem, len(ms))
	for i, m := range ms {
		msgs[i] = wallet.SimpleMessage(m.To, tlb.FromNanoTON(big.NewInt(m.AmountNano)), m.Payload)
		prefix, bits := bouncePrefix(m.Payload)
		items[i] = SentItem{To: m.To.StringRaw(), AmountNano: m.AmountNano, PayloadHash: hex.EncodeToString(m.Payload.Hash()),
			BouncePfx: prefix, BounceBits: bits}
	}
	ext, err := p.w.PrepareExternalMessageForMany(ctx, !deployed, msgs)
	if err != nil {
		return SentBatch{}, nil, fmt.Errorf("fragment: build wallet message: %w", err)
	}
	validUntil, gotSeqno, err := bodyHeader(ext.Body, p.version == 5)
	if err != nil || gotSeqno != seqno {
		return SentBatch{}, nil, fmt.Errorf("fragment: wallet message header check failed (seqno %d/%d): %v", gotSeqno, seqno, err)
	}
	extCell, err := tlb.ToCell(ext)
	if err != nil {
		return SentBatch{}, nil, fmt.Errorf("fragment: serialize wallet message: %w", err)
	}
	return SentBatch{
		Wallet:     p.addr.StringRaw(),
		Seqno:      seqno,
		ExtHash:    hex.EncodeToString(ext.Body.Hash()),
		BOC:        base64.StdEncoding.EncodeToString(extCell.ToBOCWithFlags(false)),
		ValidUntil: validUntil,
		AfterLT:    s.acc.LastTxLT,
		PreparedAt: now.Unix(),
		FeeNano:    p.Fee(len(ms)),
		Messages:   items,
	}, ext, nil
}

// waitPrevious blocks until the last batch sent (or resumed) ran or can no
// longer run (judged in chain time), so the next one gets a fresh seqno and
// is signed against a balance that already paid for it.
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
func (p *WalletPayer) Resend(ctx context.Context, b SentBatch) error {
	ext, err := decodeExternal(b.BOC)
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

// history caches an account's transactions (ascending by lt): those newer
// than floor up to top, read completely, and — when a range below could not
// be read — the run read above that gap. The chain's history does not
// change, so each Lookup only reads what is new, and asks for an unread
// range again every time until some server serves it.
type history struct {
	floor, top uint64
	txs        []*tlb.Transaction // (floor, top], complete
	// above: transactions newer than top read before an unread range; the
	// first one's prev link names the newest unread transaction.
	above []*tlb.Transaction
	ok    bool
}

// source is where history pages come from: the liteserver api is bound to,
// the others of its pool, then the archive.
func (p *WalletPayer) source(api ChainAPI) ton.HistorySource {
	return ton.HistorySource{API: api, Log: p.opt.Log, Archive: func(ctx context.Context) ton.TxLister {
		if p.archive == nil && p.opt.Archive != nil { // under lookMu
			a, err := p.opt.Archive(ctx)
			if err != nil {
				p.opt.Log.Warn("fragment: cannot connect to the archive liteservers", "err", err)
				return nil
			}
			p.archive = a
		}
		return p.archive
	}}
}

// since returns a's transactions with lt > floor as of account state acc
// (read at masterchain block head), reading only those newer than the
// cache. The history ends at floor or at a transaction with no predecessor,
// never where a server stops answering: a page no server serves is a
// *ton.HistoryGap, returned with what was read below and above it;
// the cache keeps what it had below the gap and the run above, so the gap is
// asked for again next time and nothing past it is ever taken as read.
func (p *WalletPayer) since(ctx context.Context, api ChainAPI, head uint32, a *address.Address, acc *tlb.Account, floor uint64, h *history) ([]*tlb.Transaction, error) {
	if !h.ok || h.floor > floor || acc.LastTxLT < h.top ||
		(len(h.above) > 0 && acc.LastTxLT < h.above[len(h.above)-1].LT) {
		*h = history{floor: floor, top: floor, ok: true}
	}
	src := p.source(api)
	var fresh []*tlb.Transaction // ascending, contiguous down from acc.LastTxLT
	lt, hash := acc.LastTxLT, acc.LastTxHash
	for lt > h.top {
		if n := len(h.above); n > 0 && h.above[n-1].LT == lt && bytes.Equal(h.above[n-1].Hash, hash) {
			fresh = slices.Concat(h.above, fresh)
			h.above = nil
			lt, hash = fresh[0].PrevTxLT, fresh[0].PrevTxHash
			continue
		}
		list, err := src.Page(ctx, a, lt, hash)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			h.above = fresh
			return slices.Concat(h.txs, fresh), &ton.HistoryGap{Account: a.StringRaw(), UpToLT: lt, AfterLT: h.top, Head: head, Err: err}
		}
		var keep []*tlb.Transaction
		for _, tx := range list {
			if tx.LT > h.top {
				keep = append(keep, tx)
			}
		}
		fresh = append(keep, fresh...)
		if len(fresh) > p.opt.MaxScan {
			*h = history{}
			return nil, fmt.Errorf("fragment: more than %d new transactions of %s; cannot scan", p.opt.MaxScan, a.StringRaw())
		}
		lt, hash = list[0].PrevTxLT, list[0].PrevTxHash
	}
	h.txs = append(h.txs, fresh...)
	h.above = nil
	if acc.LastTxLT > h.top {
		h.top = acc.LastTxLT
	}
	// forget what no batch needs any more
	i := 0
	for i < len(h.txs) && h.txs[i].LT <= floor {
		i++
	}
	h.txs, h.floor = h.txs[i:], floor
	return h.txs, nil
}

// remember notes a message this payer signed, so that a Lookup recognises
// it as ours when it takes the seqno of an earlier batch that expired (even
// before it is among the batches looked up).
func (p *WalletPayer) remember(s SentBatch) {
	p.signedMu.Lock()
	defer p.signedMu.Unlock()
	p.signed[s.ExtHash] = s.Seqno
	for h, q := range p.signed {
		if q+1024 < s.Seqno {
			delete(p.signed, h)
		}
	}
}

// ours reports whether ext hash h is a message this payer signed: one of
// the batches looked up, or one signed since the process started.
func (p *WalletPayer) ours(bs []SentBatch, h string) bool {
	for _, b := range bs {
		if b.ExtHash == h {
			return true
		}
	}
	p.signedMu.Lock()
	defer p.signedMu.Unlock()
	_, ok := p.signed[h]
	return ok
}

// sentRef is a payment found in the out messages of the transaction that ran
// its batch.
type sentRef struct {
	batch, item int
	createdLT   uint64
	txTime      time.Time
	afterIdx    int // index in the wallet's transactions of the batch's one
}

// Lookup reads, at one view, the wallet's transactions since the oldest
// batch was prepared and the destinations' transactions since the payments
// were sent, and tells what became of each batch and payment. The seqno and
// the transaction list come from the same block. A batch is "never ran"
// only when the seqno did not move past it and it expired in chain time, or
// when the message that took its seqno is in sight and is another of ours;
// a seqno that moved past while the batch's transaction is not in sight
// holds it (Hold), never expires it.
func (p *WalletPayer) Lookup(ctx context.Context, bs []SentBatch) ([]BatchOutcome, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	p.lookMu.Lock()
	defer p.lookMu.Unlock()
	snap, err := p.snap(ctx)
	if err != nil {
		return nil, err
	}
	floor := bs[0].AfterLT
	for _, b := range bs {
		floor = min(floor, b.AfterLT)
	}
	api := p.at(snap.block)
	var txs []*tlb.Transaction
	var gap *ton.HistoryGap
	if snap.acc.IsActive && snap.acc.LastTxLT > floor {
		txs, err = p.since(ctx, api, snap.block.SeqNo, p.addr, snap.acc, floor, &p.own)
		if err != nil && !errors.As(err, &gap) {
			return nil, err
		}
	}
	if gap != nil {
		p.opt.Log.Warn("fragment: the service wallet's history is not served in full; batches the seqno passed wait for it",
			"gap", gap.String())
	}
	outs := make([]BatchOutcome, len(bs))
	var sent []sentRef
	for i := range bs {
		outs[i], sent = p.batchOutcome(txs, gap, bs, i, snap, sent)
	}
	if len(sent) == 0 {
		return outs, nil
	}
	// The destinations' side: each sent payment is settled by the
	// destination's transaction that took it in, found by (our wallet,
	// created_lt); one not found in a destination history that cannot be
	// read (in full) falls back to watching for bounces on our wallet for
	// BounceWindow. An unread range is asked for again at every Lookup.
	byDest := map[string][]sentRef{}
	for _, r := range sent {
		to := bs[r.batch].Messages[r.item].To
		byDest[to] = append(byDest[to], r)
	}
	for to, refs := range byDest {
		floor := refs[0].createdLT
		for _, r := range refs {
			floor = min(floor, r.createdLT)
		}
		found, derr := p.destination(ctx, api, snap, to, floor-1)
		for _, r := range refs {
			item := &outs[r.batch].Items[r.item]
			if tx := found[r.createdLT]; tx != nil {
				item.DestTx = hex.EncodeToString(tx.Hash)
				if refused(tx, p.addr) {
					item.Status, item.Detail = StatusBounced, "the destination refused it in tx "+item.DestTx
				} else {
					item.Status = StatusConfirmed
				}
				continue
			}
			if derr != nil {
				p.fallback(txs, gap, bs, refs, r, snap.at, item, derr)
			}
		}
	}
	return outs, nil
}

// batchOutcome finds batch bs[bi] among the wallet's transactions (gap:
// a range of them could not be read).
func (p *WalletPayer) batchOutcome(txs []*tlb.Transaction, gap *ton.HistoryGap, bs []SentBatch, bi int, snap snapshot, sent []sentRef) (BatchOutcome, []sentRef) {
	b := bs[bi]
	want, _ := hex.DecodeString(b.ExtHash)
	view := snap.at
	for ti, tx := range txs {
		if tx == nil || tx.LT <= b.AfterLT || tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn {
			continue
		}
		ext, ok := tx.IO.In.Msg.(*tlb.ExternalMessage)
		if !ok || ext.Body == nil || !bytes.Equal(ext.Body.Hash(), want) {
			continue
		}
		out := BatchOutcome{Status: StatusConfirmed, TxHash: hex.EncodeToString(tx.Hash), LT: tx.LT,
			Time: time.Unix(int64(tx.Now), 0).UTC(), ChainTime: view, Items: make([]ItemOutcome, len(b.Messages))}
		// The out messages come in the order signed; a payment the balance
		// did not cover is missing (send mode +2 skips it).
		var list []tlb.Message
		if tx.IO.Out != nil {
			var err error
			if list, err = tx.IO.Out.ToSlice(); err != nil {
				// Which payments left cannot be told: "failed" would ask
				// Fragment again for every one that did. Pending; the
				// operator sees why (the batch's detail in /health).
				return BatchOutcome{Status: StatusPending, ChainTime: view, Detail: fmt.Sprintf(
					"the wallet transaction %s ran the message (seqno %d) but its out messages cannot be read: %v",
					hex.EncodeToString(tx.Hash), b.Seqno, err)}, sent
			}
		}
		j := 0
		for _, m := range list {
			im, ok := m.Msg.(*tlb.InternalMessage)
			if !ok || im.DstAddr == nil {
				continue
			}
			for j < len(b.Messages) && !sameTransfer(im, b.Messages[j]) {
				j++
			}
			if j == len(b.Messages) {
				break
			}
			sent = append(sent, sentRef{batch: bi, item: j, createdLT: im.CreatedLT, txTime: out.Time, afterIdx: ti})
			j++
		}
		for k := range out.Items {
			out.Items[k].Status = StatusFailed
			out.Items[k].Detail = "the wallet ran the message but this payment did not leave it (balance too low when it ran?)"
		}
		for _, r := range sent {
			if r.batch == bi {
				out.Items[r.item] = ItemOutcome{Status: StatusPending}
			}
		}
		return out, sent
	}
	if snap.seqno > b.Seqno {
		return p.passed(txs, gap, bs, b, snap), sent
	}
	if expiredInView(b.ValidUntil, view, p.opt.ExpiryMargin) {
		// The seqno did not move past it: it never ran, and can no longer.
		return BatchOutcome{Status: StatusExpired, ChainTime: view, Detail: fmt.Sprintf("the message expired at %s without running (chain view at %s)",
			time.Unix(b.ValidUntil, 0).UTC().Format(time.RFC3339), view.Format(time.RFC3339))}, sent
	}
	out := BatchOutcome{Status: StatusPending, ChainTime: view}
	if p.opt.Now().Unix() > b.ValidUntil+int64(p.opt.ExpiryMargin/time.Second) {
		out.Hold = fulfil.HoldChainBehind
		out.Detail = fmt.Sprintf("the chain view reaches %s (%s behind this clock); the message was valid until %s, so nothing can be concluded before the view passes %s",
			view.Format(time.RFC3339), p.opt.Now().Sub(view).Round(time.Second),
			time.Unix(b.ValidUntil, 0).UTC().Format(time.RFC3339),
			time.Unix(b.ValidUntil, 0).Add(p.opt.ExpiryMargin).UTC().Format(time.RFC3339))
	}
	return out, sent
}

// passed judges batch b, whose seqno the wallet has moved past and whose
// transaction is not among txs. Some message took seqno b.Seqno: found (the
// external-in transaction whose signed header carries that seqno), and it
// is another batch of ours (signed after b expired), b never ran; found and
// not ours, something else signs with the wallet: held, never paid again
// automatically. Not found: with a gap in the history read, b may well have
// run there (held until it is read); with the history read completely since
// b was signed, the seqno moved without any message at it in sight: held
// the same way as a foreign message.
func (p *WalletPayer) passed(txs []*tlb.Transaction, gap *ton.HistoryGap, bs []SentBatch, b SentBatch, snap snapshot) BatchOutcome {
	view := snap.at
	for _, tx := range txs {
		if tx == nil || tx.LT <= b.AfterLT || tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn {
			continue
		}
		ext, ok := tx.IO.In.Msg.(*tlb.ExternalMessage)
		if !ok || ext.Body == nil {
			continue
		}
		if _, seqno, err := bodyHeader(ext.Body, p.version == 5); err != nil || seqno != b.Seqno {
			continue
		}
		h := hex.EncodeToString(ext.Body.Hash())
		if p.ours(bs, h) {
			return BatchOutcome{Status: StatusExpired, ChainTime: view, Detail: fmt.Sprintf(
				"seqno %d was taken by another message of this service (ext %s, tx %x) after this one expired; this one never ran",
				b.Seqno, h, tx.Hash)}
		}
		return BatchOutcome{Status: StatusPending, ChainTime: view, Hold: fulfil.HoldWalletElsewhere, Detail: fmt.Sprintf(
			"a message this service did not sign took the service wallet's seqno %d (tx %x, lt %d, at %s), so this batch of %d payment(s) (ext %s) never ran; "+
				"something else signs with the wallet's key (another instance with the same seed, a wallet app, a leaked key). "+
				"Nothing is paid again automatically: stop the other signer, then release this batch naming the orders it paid (docs/OPERATIONS.md, \"Held deliveries\")",
			b.Seqno, tx.Hash, tx.LT, time.Unix(int64(tx.Now), 0).UTC().Format(time.RFC3339), len(b.Messages), b.ExtHash)}
	}
	if gap != nil {
		return BatchOutcome{Status: StatusPending, ChainTime: view, Hold: fulfil.HoldWalletHistory, Detail: fmt.Sprintf(
			"the wallet's seqno is %d, past this batch's %d, and its transaction is not among those read: %v. "+
				"It may have run there; nothing is concluded, refunded or paid again until the history is read — check the liteservers (ton.config_url) or set ton.archive_config_url",
			snap.seqno, b.Seqno, gap)}
	}
	return BatchOutcome{Status: StatusPending, ChainTime: view, Hold: fulfil.HoldWalletElsewhere, Detail: fmt.Sprintf(
		"the wallet's seqno is %d, past this batch's %d, yet no message with seqno %d is among its transactions since lt %d (read completely): "+
			"the wallet's state and history disagree with what this service signed. Nothing is paid again automatically (docs/OPERATIONS.md, \"Held deliveries\")",
		snap.seqno, b.Seqno, b.Seqno, b.AfterLT)}
}

func sameTransfer(im *tlb.InternalMessage, s SentItem) bool {
	return im.DstAddr.StringRaw() == s.To && im.Amount.Nano().Cmp(big.NewInt(s.AmountNano)) == 0 &&
		im.Body != nil && hex.EncodeToString(im.Body.Hash()) == s.PayloadHash
}

// destination returns the transactions of to (in the view) that took in a
// message of our wallet created after floor, by that message's created_lt.
// With a gap in to's history (a *ton.HistoryGap) it returns those found in
// what could be read, and the gap.
func (p *WalletPayer) destination(ctx context.Context, api ChainAPI, snap snapshot, to string, floor uint64) (map[uint64]*tlb.Transaction, error) {
	a, err := address.ParseRawAddr(to)
	if err != nil {
		return nil, err
	}
	acc, err := api.GetAccount(ctx, snap.block, a)
	if err != nil {
		return nil, fmt.Errorf("fragment: destination account: %w", err)
	}
	if !acc.IsActive || acc.LastTxLT == 0 {
		return nil, errors.New("the destination has no history in the view")
	}
	h := p.dests[to]
	if h == nil {
		h = &history{}
		p.dests[to] = h
	}
	txs, err := p.since(ctx, api, snap.block.SeqNo, a, acc, floor, h)
	var gap *ton.HistoryGap
	if err != nil && !errors.As(err, &gap) {
		return nil, err
	}
	out := map[uint64]*tlb.Transaction{}
	for _, tx := range txs {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			continue
		}
		in, ok := tx.IO.In.Msg.(*tlb.InternalMessage)
		if ok && in.SrcAddr != nil && in.SrcAddr.Equals(p.addr) {
			out[in.CreatedLT] = tx
		}
	}
	return out, err
}

// refused: the destination's transaction sent our message back bounced.
func refused(tx *tlb.Transaction, wallet *address.Address) bool {
	if ton.BouncedBack(tx) {
		return true
	}
	if tx.IO.Out == nil {
		return false
	}
	list, err := tx.IO.Out.ToSlice()
	if err != nil {
		return false
	}
	for _, m := range list {
		if im, ok := m.Msg.(*tlb.InternalMessage); ok && im.Bounced && im.DstAddr != nil && im.DstAddr.Equals(wallet) {
			return true
		}
	}
	return false
}

// fallback settles payment r when its destination's history cannot be
// read: a bounce from the destination carrying its payload's first bits
// after the batch ran means refused, when no other unsettled payment of this
// lookup could have caused it; no such bounce within BounceWindow of chain
// time means taken, once the wallet's history after the payment has been
// read without a gap (gap). An ambiguous bounce keeps the payments pending (the
// operator sees them waiting).
func (p *WalletPayer) fallback(txs []*tlb.Transaction, gap *ton.HistoryGap, bs []SentBatch, refs []sentRef, r sentRef, view time.Time, item *ItemOutcome, why error) {
	s := bs[r.batch].Messages[r.item]
	alike := 0
	for _, o := range refs {
		os := bs[o.batch].Messages[o.item]
		if os.BouncePfx == s.BouncePfx && os.BounceBits == s.BounceBits {
			alike++
		}
	}
	for _, later := range txs[r.afterIdx+1:] {
		if !bounceOf(later, s) {
			continue
		}
		if alike > 1 {
			item.Detail = fmt.Sprintf("a bounce came back that %d payments could have caused, and the destination's history cannot be read (%v)", alike, why)
			return
		}
		item.Status, item.Detail = StatusBounced, "bounce received in tx "+hex.EncodeToString(later.Hash)
		return
	}
	if gap != nil && gap.UpToLT > txs[r.afterIdx].LT {
		// The wallet's history after the payment has an unread range: a
		// bounce may be there, so silence proves nothing yet.
		item.Detail = fmt.Sprintf("the destination's history cannot be read (%v), nor the wallet's after the payment (%v)", why, gap)
		return
	}
	if view.Sub(r.txTime) >= p.opt.BounceWindow {
		item.Status = StatusConfirmed
		item.Detail = fmt.Sprintf("no bounce within %s (the destination's history cannot be read: %v)", p.opt.BounceWindow, why)
	}
}

// bounceOf: an incoming bounced message from the destination whose body
// starts with 0xffffffff and the first bits of our payload (0xfffffffe: the
// newer full-body bounce format).
func bounceOf(tx *tlb.Transaction, s SentItem) bool {
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
