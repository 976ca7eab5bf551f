package ton

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"time"
	"unicode/utf8"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// accountRaw formats a std address as "wc:hex", the form Keys and RawAddress use.
func accountRaw(workchain int32, data []byte) string {
	return fmt.Sprintf("%d:%s", workchain, hex.EncodeToString(data))
}

// TransferFromTx turns a transaction of the account workchain:tx.AccountAddr
// into the Transfer the shop matches. ok=false for transactions that carry
// no message (tick-tock, storage, split/merge): nothing was paid.
//
//   - Inbound internal message: Incoming=true, From = sender, To = the
//     account, the amount, and the body as Comment (op 0 + snake text) or
//     else PayloadHex (BOC hex of the body). Bounced is set both for a
//     message that is itself a bounce (one of our sends came back) and for
//     one our account bounced back to its sender: in neither case did the
//     sender pay us. A jetton transfer_notification is flagged JettonNotice
//     and its memo is not read (the payment is the jettons arriving in our
//     jetton wallet; see JettonTransferFromTx).
//   - Inbound external message: the wallet's own send. Incoming=false,
//     From = the account, To = the first destination, AmountNano = the sum
//     sent, Comment = the first message's comment.
//
// Deciding that a transfer between two of our own wallets (a sweep) is not a
// deposit is the caller's job; see Listener.
func TransferFromTx(workchain int32, tx *tlb.Transaction) (Transfer, bool) {
	if tx == nil || tx.IO.In == nil || tx.IO.In.Msg == nil {
		return Transfer{}, false
	}
	account := accountRaw(workchain, tx.AccountAddr)
	t := Transfer{
		Hash:      hex.EncodeToString(tx.Hash),
		LT:        tx.LT,
		ChainTime: time.Unix(int64(tx.Now), 0).UTC(),
		To:        account,
	}
	switch tx.IO.In.MsgType {
	case tlb.MsgTypeInternal:
		in := tx.IO.In.AsInternal()
		t.Incoming = true
		if in.SrcAddr != nil {
			t.From = in.SrcAddr.StringRaw()
		}
		t.AmountNano = nanoInt64(in.Amount.Nano())
		t.Comment, t.PayloadHex, t.JettonNotice = inboundBody(in.Body)
		t.Bounced = in.Bounced || BouncedBack(tx)
		return t, true
	case tlb.MsgTypeExternalIn:
		t.From = account
		if tx.IO.Out != nil {
			outs, err := tx.IO.Out.ToSlice()
			if err == nil {
				first := true
				var sum big.Int
				for _, m := range outs {
					if m.MsgType != tlb.MsgTypeInternal {
						continue
					}
					im := m.AsInternal()
					sum.Add(&sum, im.Amount.Nano())
					if first {
						first = false
						if im.DstAddr != nil {
							t.To = im.DstAddr.StringRaw()
						}
						t.Comment, t.PayloadHex = decodeBody(im.Body)
					}
				}
				t.AmountNano = nanoInt64(&sum)
			}
		}
		return t, true
	}
	return Transfer{}, false
}

// nanoInt64 clamps; no real TON amount (total supply ~5e18 nano) exceeds int64.
func nanoInt64(v *big.Int) int64 {
	if v == nil {
		return 0
	}
	if !v.IsInt64() {
		if v.Sign() < 0 {
			return 0
		}
		return int64(^uint64(0) >> 1)
	}
	return v.Int64()
}

// inboundBody reads an inbound message's body: a jetton
// transfer_notification is flagged and its memo not read (never a payment,
// see jettonNotification); any other body is decodeBody's.
func inboundBody(body *cell.Cell) (comment, payloadHex string, notice bool) {
	if jettonNotification(body) {
		return "", hex.EncodeToString(body.ToBOC()), true
	}
	comment, payloadHex = decodeBody(body)
	return comment, payloadHex, false
}

// decodeBody returns the text comment when body is op 0 followed by a snake
// UTF-8 string, else the whole body as BOC hex so nothing sent is lost (an
// empty body yields neither).
func decodeBody(body *cell.Cell) (comment, payloadHex string) {
	if body == nil || (body.BitsSize() == 0 && body.RefsNum() == 0) {
		return "", ""
	}
	s := body.BeginParse()
	if op, err := s.LoadUInt(32); err == nil && op == 0 {
		if text, err := s.LoadStringSnake(); err == nil && utf8.ValidString(text) {
			return text, ""
		}
	}
	return "", hex.EncodeToString(body.ToBOC())
}

// BouncedBack reports whether the transaction's bounce phase returned the
// inbound value to its sender.
func BouncedBack(tx *tlb.Transaction) bool {
	var bp *tlb.BouncePhase
	switch d := tx.Description.(type) {
	case tlb.TransactionDescriptionOrdinary:
		bp = d.BouncePhase
	case *tlb.TransactionDescriptionOrdinary:
		bp = d.BouncePhase
	}
	if bp == nil {
		return false
	}
	switch bp.Phase.(type) {
	case tlb.BouncePhaseOk, *tlb.BouncePhaseOk:
		return true
	}
	return false
}
