package ton

import (
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Jetton message operations (TEP-74).
const (
	OpJettonTransfer         = 0x0f8a7ea5 // owner → its jetton wallet: send
	OpJettonInternalTransfer = 0x178d4519 // jetton wallet → jetton wallet (or master → wallet: mint)
	OpJettonNotification     = 0x7362d09c // jetton wallet → its owner: "you received"
	OpJettonExcesses         = 0xd53276db // leftover TON back to the response address
)

// AssetUSDT is the asset name of Tether's USD₮ jetton (6 decimals).
const AssetUSDT = "USDT"

// USDTDecimals: 1 USDT = 10^6 units.
const USDTDecimals = 6

// The USDT jetton masters (ton.jettons.usdt.master when unset).
const (
	// MainnetUSDTMaster is Tether's USD₮ on TON (docs.ton.org, Tether).
	MainnetUSDTMaster = "EQCxE6mUtQJKFnGfaROTKOt1lZbDiiX1kCixRv7Nw2Id_sDs"
	// TestnetUSDTMaster is the testnet USD₮ ("USDTTT") that TON's own
	// tooling uses as its testnet USDT (docs/TON.md says where it is named).
	TestnetUSDTMaster = "kQD0GKBM8ZbryVk2aESmzfU6b9b_8era_IkvBSELujFZPsyy"
)

// DefaultUSDTMaster is the network's USDT master (the sandbox uses testnet's).
func DefaultUSDTMaster(network string) string {
	if network == NetworkMainnet {
		return MainnetUSDTMaster
	}
	return TestnetUSDTMaster
}

// JettonWallet is one of our jetton wallets: the wallet contract of Master's
// jetton owned by Owner (the service wallet or a partner's top-up address).
// Only transfers into such a wallet are jetton payments; all addresses raw.
type JettonWallet struct {
	Asset  string `json:"asset"`
	Master string `json:"master"`
	Owner  string `json:"owner"`
	Wallet string `json:"wallet"`
}

// JettonTransfer is the jetton side of a Transfer into one of our jetton
// wallets (Transfer.To is then the wallet's owner, so the shop routes it like
// TON sent to that owner).
type JettonTransfer struct {
	Asset  string `json:"asset"`
	Master string `json:"master"`
	// Wallet is our jetton wallet that took the jettons in.
	Wallet string `json:"wallet"`
	// Units is the jetton amount in its smallest unit (USDT: 10^-6).
	Units int64 `json:"units"`
	// SourceWallet is the jetton wallet (or the master, for a mint) that
	// sent the internal_transfer; Transfer.From is its owner ("from").
	SourceWallet string `json:"source_wallet,omitempty"`
	QueryID      uint64 `json:"query_id,omitempty"`
	// ForwardNano is forward_ton_amount: TON the sender paid for a
	// notification to our owner (0: none was sent).
	ForwardNano int64 `json:"forward_nano,omitempty"`
}

// internalTransfer is a decoded internal_transfer body:
//
//	internal_transfer#178d4519 query_id:uint64 amount:(VarUInteger 16) from:MsgAddress
//	    response_address:MsgAddress forward_ton_amount:(VarUInteger 16)
//	    forward_payload:(Either Cell ^Cell) = InternalMsgBody;
type internalTransfer struct {
	queryID    uint64
	amount     *big.Int
	from       *address.Address
	forwardTON *big.Int
	comment    string
	payloadHex string
}

var errNotInternalTransfer = errors.New("not an internal_transfer")

func decodeInternalTransfer(body *cell.Cell) (internalTransfer, error) {
	var it internalTransfer
	if body == nil {
		return it, errNotInternalTransfer
	}
	s := body.BeginParse()
	op, err := s.LoadUInt(32)
	if err != nil || op != OpJettonInternalTransfer {
		return it, errNotInternalTransfer
	}
	if it.queryID, err = s.LoadUInt(64); err != nil {
		return it, fmt.Errorf("internal_transfer query_id: %w", err)
	}
	if it.amount, err = s.LoadVarUInt(16); err != nil {
		return it, fmt.Errorf("internal_transfer amount: %w", err)
	}
	if it.from, err = s.LoadAddr(); err != nil {
		return it, fmt.Errorf("internal_transfer from: %w", err)
	}
	if _, err = s.LoadAddr(); err != nil {
		return it, fmt.Errorf("internal_transfer response_address: %w", err)
	}
	if it.forwardTON, err = s.LoadVarUInt(16); err != nil {
		return it, fmt.Errorf("internal_transfer forward_ton_amount: %w", err)
	}
	it.comment, it.payloadHex = forwardPayload(s)
	return it, nil
}

// forwardPayload reads forward_payload:(Either Cell ^Cell) from s: the memo
// when it is a text comment (op 0 + snake string, inline or in the ref),
// else the payload as BOC hex (nothing when absent or empty). A missing
// Either bit (some senders omit the payload when forward_ton_amount is 0)
// reads as no payload.
func forwardPayload(s *cell.Slice) (comment, payloadHex string) {
	inRef, err := s.LoadBoolBit()
	if err != nil {
		return "", ""
	}
	var p *cell.Cell
	if inRef {
		if p, err = s.LoadRefCell(); err != nil {
			return "", ""
		}
	} else if p, err = s.ToCell(); err != nil {
		return "", ""
	}
	return decodeBody(p)
}

// jettonNotification reports whether body is a transfer_notification: a
// jetton wallet telling its owner it received jettons. It is never a
// payment here: anyone's jetton wallet (a fake jetton's too) can send one
// with any amount and memo. Only the internal_transfer into our own jetton
// wallet counts.
func jettonNotification(body *cell.Cell) bool {
	if body == nil {
		return false
	}
	op, err := body.BeginParse().LoadUInt(32)
	return err == nil && op == OpJettonNotification
}

// txSucceeded reports whether an ordinary transaction ran to the end: the
// compute phase succeeded, the actions (if any) were carried out, nothing
// was aborted and nothing bounced. A jetton wallet's internal_transfer
// counts only then: a failed one bounces the jettons back to the sender.
func txSucceeded(tx *tlb.Transaction) bool {
	var d tlb.TransactionDescriptionOrdinary
	switch v := tx.Description.(type) {
	case tlb.TransactionDescriptionOrdinary:
		d = v
	case *tlb.TransactionDescriptionOrdinary:
		if v == nil {
			return false
		}
		d = *v
	default:
		return false
	}
	if d.Aborted || d.BouncePhase != nil || d.Destroyed {
		return false
	}
	var vm tlb.ComputePhaseVM
	switch p := d.ComputePhase.Phase.(type) {
	case tlb.ComputePhaseVM:
		vm = p
	case *tlb.ComputePhaseVM:
		if p == nil {
			return false
		}
		vm = *p
	default:
		return false // skipped: no code ran, nothing was received
	}
	if !vm.Success {
		return false
	}
	return d.ActionPhase == nil || d.ActionPhase.Success
}

// JettonTransferFromTx turns a transaction of our jetton wallet w into a
// Transfer (ok=false when it carries no message, as TransferFromTx).
//
// An inbound internal_transfer is a jetton payment: Incoming, To = w.Owner,
// From = the sender's owner ("from"), Jetton.Units = the amount, Comment =
// the memo in the forward payload (inline or in its ref; forward_ton_amount
// may be 0, so no notification need exist). It is Bounced — pays nothing —
// unless the transaction succeeded (txSucceeded): the wallet contract
// checks that the message comes from the master or from the jetton wallet
// of "from", and throws otherwise, so a forged internal_transfer fails and
// bounces. Every other message into the wallet (its owner's transfer
// request, returned bounces, excesses, plain TON) moves no jettons to us:
// Incoming=false.
func JettonTransferFromTx(w JettonWallet, workchain int32, tx *tlb.Transaction) (Transfer, bool) {
	t, ok := TransferFromTx(workchain, tx)
	if !ok {
		return t, false
	}
	j := &JettonTransfer{Asset: w.Asset, Master: w.Master, Wallet: w.Wallet}
	t.Jetton, t.To, t.JettonNotice = j, w.Owner, false
	if tx.IO.In.MsgType != tlb.MsgTypeInternal || !t.Incoming {
		t.Incoming = false
		return t, true
	}
	in := tx.IO.In.AsInternal()
	it, err := decodeInternalTransfer(in.Body)
	if err != nil {
		// Not jettons coming in: TON only, or the wallet's own business.
		t.Incoming = false
		return t, true
	}
	j.SourceWallet = t.From
	j.QueryID = it.queryID
	j.Units = nanoInt64(it.amount)
	j.ForwardNano = nanoInt64(it.forwardTON)
	t.From = ""
	if it.from != nil && it.from.Type() == address.StdAddress {
		t.From = it.from.StringRaw()
	}
	t.Comment, t.PayloadHex = it.comment, it.payloadHex
	t.Bounced = t.Bounced || !txSucceeded(tx)
	return t, true
}

// JettonTransferBody builds an internal_transfer body as a sender's jetton
// wallet does (the sandbox chain and tests use it): amount units from owner
// from, forward_ton_amount forwardNano and the memo as a text comment in the
// forward payload's ref.
func JettonTransferBody(queryID uint64, units int64, from string, forwardNano int64, memo string) (*cell.Cell, error) {
	fromAddr, err := ParseAddress(from)
	if err != nil {
		return nil, err
	}
	b := cell.BeginCell().MustStoreUInt(OpJettonInternalTransfer, 32).MustStoreUInt(queryID, 64).
		MustStoreBigVarUInt(big.NewInt(units), 16).MustStoreAddr(fromAddr).MustStoreAddr(fromAddr).
		MustStoreBigVarUInt(big.NewInt(forwardNano), 16)
	if memo == "" {
		return b.MustStoreBoolBit(false).EndCell(), nil
	}
	c, err := jettonComment(memo)
	if err != nil {
		return nil, err
	}
	return b.MustStoreBoolBit(true).MustStoreRef(c).EndCell(), nil
}

// JettonNotificationBody builds a transfer_notification body carrying memo,
// as any jetton wallet (a fake jetton's included) may send it to its owner.
func JettonNotificationBody(queryID uint64, units int64, from string, memo string) (*cell.Cell, error) {
	fromAddr, err := ParseAddress(from)
	if err != nil {
		return nil, err
	}
	c, err := jettonComment(memo)
	if err != nil {
		return nil, err
	}
	return cell.BeginCell().MustStoreUInt(OpJettonNotification, 32).MustStoreUInt(queryID, 64).
		MustStoreBigVarUInt(big.NewInt(units), 16).MustStoreAddr(fromAddr).
		MustStoreBoolBit(true).MustStoreRef(c).EndCell(), nil
}

func jettonComment(text string) (*cell.Cell, error) {
	if !utf8.ValidString(text) {
		return nil, errors.New("ton: comment is not valid UTF-8")
	}
	return wallet.CreateCommentCell(text)
}
