package simchain

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// A wallet as the chain runs it: what the v4r2 and v5r1 contracts check
// before accepting an external message (signature, wallet id, valid_until,
// seqno) and the send actions they then perform. The contracts' own code is
// run by @ton/sandbox in the npm cross-check; here it is re-implemented from
// the same message layouts tonutils-go signs, so the payer's messages are
// parsed the way the contracts parse them.

type walletVersion int

const (
	v4r2 walletVersion = 4
	v5r1 walletVersion = 5
)

// v5 wallet message op ("sign") and send action tag.
const (
	v5OpSigned   = 0x7369676e
	actionSend   = 0x0ec3c86d
	maxV4Actions = 4
	maxV5Actions = 255
)

type walletState struct {
	version walletVersion
	pub     ed25519.PublicKey
	// id is the v4 subwallet id or the v5 serialized wallet id.
	id    uint32
	seqno uint32
}

var codeHashes = func() map[string]walletVersion {
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	out := map[string]walletVersion{}
	for v, cfg := range map[walletVersion]wallet.VersionConfig{
		v4r2: wallet.V4R2,
		v5r1: wallet.ConfigV5R1Final{NetworkGlobalID: wallet.MainnetGlobalID},
	} {
		si, err := wallet.GetStateInit(pub, cfg, 0)
		if err != nil {
			panic(err)
		}
		out[string(si.Code.Hash())] = v
	}
	return out
}()

// parseStateInit reads a wallet's state init (base64 BOC): its version by
// code hash, key, id and seqno from its data. It also returns the address
// hash the state init gives.
func parseStateInit(b64 string) (*walletState, []byte, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, nil, fmt.Errorf("state init: %w", err)
	}
	c, err := cell.FromBOC(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("state init: %w", err)
	}
	var si tlb.StateInit
	if err := tlb.LoadFromCell(&si, c.BeginParse()); err != nil {
		return nil, nil, fmt.Errorf("state init: %w", err)
	}
	if si.Code == nil || si.Data == nil {
		return nil, nil, errors.New("state init without code or data")
	}
	v, ok := codeHashes[string(si.Code.Hash())]
	if !ok {
		return nil, nil, errors.New("state init: not a v4r2 or v5r1 wallet")
	}
	w := &walletState{version: v}
	d := si.Data.BeginParse()
	switch v {
	case v4r2:
		w.seqno = uint32(d.MustLoadUInt(32))
		w.id = uint32(d.MustLoadUInt(32))
	case v5r1:
		d.MustLoadBoolBit() // signature allowed
		w.seqno = uint32(d.MustLoadUInt(32))
		w.id = uint32(d.MustLoadUInt(32))
	}
	pub, err := d.LoadSlice(256)
	if err != nil {
		return nil, nil, fmt.Errorf("state init data: %w", err)
	}
	w.pub = ed25519.PublicKey(pub)
	return w, c.Hash(), nil
}

// signedMessage is a parsed external message body.
type signedMessage struct {
	id         uint32
	validUntil uint32
	seqno      uint32
	actions    []sendAction
}

type sendAction struct {
	mode uint8
	msg  *cell.Cell // MessageRelaxed
}

// errRejected is a message the wallet would not accept (the liteserver
// answers such a broadcast with an error, and no transaction happens).
var errRejected = errors.New("external message was not accepted by the wallet")

func rejected(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errRejected, fmt.Sprintf(format, args...))
}

// parse checks the signature and reads body the way w's contract does.
func (w *walletState) parse(body *cell.Cell) (*signedMessage, error) {
	if body == nil {
		return nil, rejected("no body")
	}
	var (
		signed *cell.Cell
		sig    []byte
	)
	sl := body.BeginParse()
	switch w.version {
	case v4r2:
		var err error
		if sig, err = sl.LoadSlice(512); err != nil {
			return nil, rejected("short body")
		}
		if signed, err = sl.Copy().ToCell(); err != nil {
			return nil, rejected("body: %v", err)
		}
	case v5r1:
		n := body.BitsSize()
		if n < 512+32*4+2 {
			return nil, rejected("short body")
		}
		head, err := sl.Copy().LoadSlice(n - 512)
		if err != nil {
			return nil, rejected("body: %v", err)
		}
		b := cell.BeginCell().MustStoreSlice(head, n-512)
		for i := 0; i < int(body.RefsNum()); i++ {
			r, err := body.PeekRef(i)
			if err != nil {
				return nil, rejected("body: %v", err)
			}
			b.MustStoreRef(r)
		}
		signed = b.EndCell()
		tail := body.BeginParse()
		tail.MustLoadSlice(n - 512)
		sig = tail.MustLoadSlice(512)
	}
	if !ed25519.Verify(w.pub, signed.Hash(), sig) {
		return nil, rejected("bad signature")
	}
	m := &signedMessage{}
	p := signed.BeginParse()
	if w.version == v5r1 {
		if op, err := p.LoadUInt(32); err != nil || op != v5OpSigned {
			return nil, rejected("not a signed v5 request")
		}
	}
	id, err1 := p.LoadUInt(32)
	vu, err2 := p.LoadUInt(32)
	sq, err3 := p.LoadUInt(32)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, rejected("header: %v", err)
	}
	m.id, m.validUntil, m.seqno = uint32(id), uint32(vu), uint32(sq)
	switch w.version {
	case v4r2:
		if op, err := p.LoadUInt(8); err != nil || op != 0 {
			return nil, rejected("v4 op %d is not a simple send", op)
		}
		for p.RefsNum() > 0 {
			mode, err := p.LoadUInt(8)
			if err != nil {
				return nil, rejected("send mode: %v", err)
			}
			msg, err := p.LoadRefCell()
			if err != nil {
				return nil, rejected("send message: %v", err)
			}
			m.actions = append(m.actions, sendAction{mode: uint8(mode), msg: msg})
		}
		if len(m.actions) > maxV4Actions {
			return nil, rejected("%d messages", len(m.actions))
		}
	case v5r1:
		has, err := p.LoadBoolBit()
		if err != nil {
			return nil, rejected("out list: %v", err)
		}
		if has {
			list, err := p.LoadRefCell()
			if err != nil {
				return nil, rejected("out list: %v", err)
			}
			if m.actions, err = v5Actions(list); err != nil {
				return nil, rejected("out list: %v", err)
			}
		}
		if other, err := p.LoadBoolBit(); err != nil || other {
			return nil, rejected("extended actions are not supported")
		}
	}
	return m, nil
}

// v5Actions unrolls out_list$_ prev:^(OutList n) action:OutAction, in the
// order the actions run (the first added is the deepest).
func v5Actions(list *cell.Cell) ([]sendAction, error) {
	var out []sendAction
	for cur := list; cur.RefsNum() > 0 || cur.BitsSize() > 0; {
		if len(out) == maxV5Actions {
			return nil, fmt.Errorf("more than %d actions", maxV5Actions)
		}
		sl := cur.BeginParse()
		prev, err := sl.LoadRefCell()
		if err != nil {
			return nil, err
		}
		if tag, err := sl.LoadUInt(32); err != nil || tag != actionSend {
			return nil, fmt.Errorf("action tag %x is not send_msg", tag)
		}
		mode, err := sl.LoadUInt(8)
		if err != nil {
			return nil, err
		}
		msg, err := sl.LoadRefCell()
		if err != nil {
			return nil, err
		}
		out = append(out, sendAction{mode: uint8(mode), msg: msg})
		cur = prev
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// check is what the contract verifies against its state at time now (unix
// seconds): the wallet id, the seqno and valid_until > now.
func (w *walletState) check(m *signedMessage, now uint32) error {
	switch {
	case m.id != w.id:
		return rejected("wallet id %d, want %d", m.id, w.id)
	case m.seqno != w.seqno:
		return rejected("seqno %d, the wallet is at %d", m.seqno, w.seqno)
	case m.validUntil <= now:
		return rejected("valid_until %d has passed (chain time %d)", m.validUntil, now)
	}
	return nil
}

func sameBody(a, b *cell.Cell) bool { return bytes.Equal(a.Hash(), b.Hash()) }

// WalletGenesis is the genesis account of w, a v4r2 or v5r1 wallet (as
// ton.Keys derives it), deployed and holding balance nanotons.
func WalletGenesis(w *wallet.Wallet, balance int64) (Account, error) {
	key := w.PrivateKey()
	if key == nil {
		return Account{}, errors.New("simchain: the wallet has no key")
	}
	pub := key.Public().(ed25519.PublicKey)
	wc := int8(w.Address().Workchain())
	for _, cfg := range []wallet.VersionConfig{
		wallet.V4R2,
		wallet.ConfigV5R1Final{NetworkGlobalID: wallet.MainnetGlobalID, Workchain: wc},
		wallet.ConfigV5R1Final{NetworkGlobalID: wallet.TestnetGlobalID, Workchain: wc},
	} {
		a, err := wallet.AddressFromPubKey(pub, cfg, w.GetSubwalletID(), wc)
		if err != nil || !bytes.Equal(a.Data(), w.Address().Data()) {
			continue
		}
		si, err := wallet.GetStateInit(pub, cfg, w.GetSubwalletID())
		if err != nil {
			return Account{}, err
		}
		c, err := tlb.ToCell(si)
		if err != nil {
			return Account{}, err
		}
		return Account{Address: w.Address().StringRaw(), Balance: balance, StateInit: base64.StdEncoding.EncodeToString(c.ToBOCWithFlags(false))}, nil
	}
	return Account{}, errors.New("simchain: not a v4r2 or v5r1 wallet")
}
