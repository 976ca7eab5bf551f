package fragment

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/theopenmoney/openmoney/money"
)

// response is one decoded answer of Fragment's /api endpoint. Fragment answers
// JSON objects, usually with HTTP 200 even for errors ({"error": "..."}); each
// field is read leniently (strings or numbers) because the public clients
// disagree on types and Fragment has changed them before.
type response struct {
	OK         *bool
	Error      string // "" when the answer carries no error
	HasError   bool
	Found      *found
	ReqID      string
	Amount     string // TON decimal text from init*Request, separators removed
	NeedVerify bool
	NeedTON    bool
	Tx         *linkTx
	Confirm    *confirmInfo
	Keys       []string // top-level keys, for logs
}

type found struct {
	Recipient string
	Name      string
}

// linkTx is the TON Connect transaction of a get*Link answer.
type linkTx struct {
	ValidUntil int64 // unix seconds; 0 when absent
	From       string
	Messages   []linkMessage
}

type linkMessage struct {
	Address string
	Amount  string // nanotons, integer text
	Payload string // base64 BOC
}

// confirmInfo is what Fragment's own page posts back after a wallet signed
// (seen as confirm_method "confirmReq" with confirm_params {"id": req_id}).
type confirmInfo struct {
	Method string            `json:"method"`
	Params map[string]string `json:"params,omitempty"`
}

const maxResponseBytes = 1 << 20

var errNotJSON = errors.New("fragment: answer is not a JSON object")

// decodeResponse parses a Fragment answer. It never panics on any input.
func decodeResponse(body []byte) (*response, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errNotJSON
	}
	var top map[string]json.RawMessage
	if err := unmarshalNumber(body, &top); err != nil || top == nil {
		return nil, errNotJSON
	}
	r := &response{}
	for k := range top {
		r.Keys = append(r.Keys, k)
	}
	if raw, ok := top["ok"]; ok {
		b := flexBool(raw)
		r.OK = &b
	}
	if raw, ok := top["error"]; ok && !isNull(raw) {
		r.HasError = true
		r.Error = errorText(raw)
	}
	r.ReqID, _ = flexString(top["req_id"])
	if a, ok := flexString(top["amount"]); ok {
		r.Amount = strings.ReplaceAll(strings.TrimSpace(a), ",", "")
	}
	r.NeedVerify = flexBool(top["need_verify"])
	r.NeedTON = flexBool(top["need_ton"])
	if raw, ok := top["found"]; ok {
		var f map[string]json.RawMessage
		if unmarshalNumber(raw, &f) == nil && f != nil {
			r.Found = &found{}
			r.Found.Recipient, _ = flexString(f["recipient"])
			r.Found.Name, _ = flexString(f["name"])
		}
	}
	if raw, ok := top["transaction"]; ok {
		r.Tx = decodeTx(raw)
	}
	if m, ok := flexString(top["confirm_method"]); ok && validMethodName(m) {
		r.Confirm = &confirmInfo{Method: m, Params: map[string]string{}}
		var params map[string]json.RawMessage
		if unmarshalNumber(top["confirm_params"], &params) == nil {
			for k, v := range params {
				if s, ok := flexString(v); ok && validMethodName(k) {
					r.Confirm.Params[k] = s
				}
			}
		}
	}
	return r, nil
}

func decodeTx(raw json.RawMessage) *linkTx {
	var t map[string]json.RawMessage
	if unmarshalNumber(raw, &t) != nil || t == nil {
		return nil
	}
	tx := &linkTx{}
	if s, ok := flexString(t["validUntil"]); ok {
		tx.ValidUntil, _ = strconv.ParseInt(s, 10, 64)
	}
	tx.From, _ = flexString(t["from"])
	var msgs []json.RawMessage
	if unmarshalNumber(t["messages"], &msgs) == nil {
		for _, m := range msgs {
			var mm map[string]json.RawMessage
			if unmarshalNumber(m, &mm) != nil || mm == nil {
				tx.Messages = append(tx.Messages, linkMessage{})
				continue
			}
			var lm linkMessage
			lm.Address, _ = flexString(mm["address"])
			lm.Amount, _ = flexString(mm["amount"])
			lm.Payload, _ = flexString(mm["payload"])
			tx.Messages = append(tx.Messages, lm)
		}
	}
	return tx
}

func unmarshalNumber(raw []byte, v any) error {
	if len(raw) == 0 {
		return errors.New("empty")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// flexString reads a JSON string or number as text.
func flexString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var v any
	if unmarshalNumber(raw, &v) != nil {
		return "", false
	}
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	}
	return "", false
}

// flexBool reads true, 1, "1", "true" as true.
func flexBool(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	var v any
	if unmarshalNumber(raw, &v) != nil {
		return false
	}
	switch t := v.(type) {
	case bool:
		return t
	case json.Number:
		return t.String() != "0"
	case string:
		return t == "1" || strings.EqualFold(t, "true")
	}
	return false
}

// errorText reads "error": "text" and the nested {"error": {"error": "text"}}
// shape some clients handle.
func errorText(raw json.RawMessage) string {
	if s, ok := flexString(raw); ok {
		return strings.TrimSpace(s)
	}
	var m map[string]json.RawMessage
	if unmarshalNumber(raw, &m) == nil {
		for _, k := range []string{"error", "message", "text"} {
			if s, ok := flexString(m[k]); ok {
				return strings.TrimSpace(s)
			}
		}
	}
	return "unknown error"
}

var methodNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

func validMethodName(s string) bool { return methodNameRe.MatchString(s) }

// errKind is how an error answer from Fragment is handled.
type errKind int

const (
	kindOther     errKind = iota // a problem with this request: refund
	kindSession                  // the session/hash is bad: provider unavailable
	kindBadHash                  // "Bad request": the api hash is stale
	kindRecipient                // the username cannot receive
	kindTransient                // try again later
)

// classifyError maps Fragment's error texts (see docs/FRAGMENT.md) to kinds.
func classifyError(text string) errKind {
	t := strings.ToLower(text)
	switch {
	case t == "bad request":
		return kindBadHash
	case strings.Contains(t, "session expired"), strings.Contains(t, "auth_session_expired"),
		strings.Contains(t, "access denied"), strings.Contains(t, "unauthorized"),
		strings.Contains(t, "log in"), strings.Contains(t, "login"), strings.Contains(t, "not logged"):
		return kindSession
	case strings.Contains(t, "no telegram users found"), strings.Contains(t, "assigned to a user"),
		strings.Contains(t, "user not found"), strings.Contains(t, "can't gift"), strings.Contains(t, "cannot gift"),
		strings.Contains(t, "already subscribed"), strings.Contains(t, "not found"),
		strings.Contains(t, "can't be gifted"), strings.Contains(t, "cannot receive"):
		return kindRecipient
	case strings.Contains(t, "too many requests"), strings.Contains(t, "flood"), strings.Contains(t, "try again later"):
		return kindTransient
	}
	return kindOther
}

// offer is a payable Fragment request: the req_id and the one message to send.
type offer struct {
	ReqID      string
	Amount     string // init's TON amount, informative
	To         string // destination as given
	AmountNano int64
	Payload    string // base64 BOC as given
	ValidUntil time.Time
	From       string
	Confirm    *confirmInfo
}

// parseLink validates a get*Link answer into the message to pay. It checks
// everything that can be checked before money moves.
func parseLink(r *response) (offer, error) {
	var o offer
	if r.Tx == nil {
		return o, errors.New("no transaction in the answer")
	}
	if len(r.Tx.Messages) != 1 {
		return o, fmt.Errorf("transaction has %d messages, want exactly 1", len(r.Tx.Messages))
	}
	m := r.Tx.Messages[0]
	if m.Address == "" {
		return o, errors.New("message without address")
	}
	n, err := parseNano(m.Amount)
	if err != nil {
		return o, err
	}
	if _, err := decodePayload(m.Payload); err != nil {
		return o, err
	}
	if r.Tx.ValidUntil <= 0 {
		return o, errors.New("transaction without validUntil")
	}
	vu := r.Tx.ValidUntil
	if vu > 1e11 { // milliseconds
		vu /= 1000
	}
	o.To, o.AmountNano, o.Payload = m.Address, n, m.Payload
	o.ValidUntil = time.Unix(vu, 0).UTC()
	o.From = r.Tx.From
	o.Confirm = r.Confirm
	return o, nil
}

// parseNano reads an amount of nanotons written as an integer string; a
// decimal point is refused (it would be TON, a known client bug).
func parseNano(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 19 {
		return 0, fmt.Errorf("bad amount %q (want nanotons as an integer string)", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad amount %q (want nanotons as an integer string)", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad amount %q (want a positive number of nanotons)", s)
	}
	return n, nil
}

// tonToNano reads init's "amount" (TON decimal, maybe with separators).
func tonToNano(s string) (int64, bool) {
	n, err := money.ParseTON(strings.ReplaceAll(strings.TrimSpace(s), ",", ""))
	return n, err == nil
}

const maxPayloadChars = 8192

// decodePayload decodes Fragment's base64 BOC payload (standard or URL
// alphabet, padded or not) into the cell to forward as is.
func decodePayload(s string) (*cell.Cell, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("message without payload (no Ref#, refusing to pay)")
	}
	if len(s) > maxPayloadChars {
		return nil, errors.New("payload too large")
	}
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("payload is not base64: %w", err)
	}
	c, err := safeFromBOC(raw)
	if err != nil {
		return nil, fmt.Errorf("payload is not a BOC: %w", err)
	}
	return c, nil
}

// maxBOCCells bounds the cells of a BOC we parse (a comment payload has a
// handful; a signed wallet message a few more).
const maxBOCCells = 256

// safeFromBOC guards cell.FromBOC against hostile input: it checks the header
// counts first (tonutils-go allocates by the declared counts, so a forged
// header can exhaust memory) and turns parser panics into errors.
func safeFromBOC(raw []byte) (c *cell.Cell, err error) {
	if err := checkBOCHeader(raw); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("malformed BOC: %v", r)
		}
	}()
	return cell.FromBOC(raw)
}

// checkBOCHeader validates the serialized_boc header: magic, size ≤ 4,
// off_bytes ≤ 8, 1 ≤ roots ≤ cells ≤ maxBOCCells, data within the input.
func checkBOCHeader(raw []byte) error {
	if len(raw) < 6 || !bytes.Equal(raw[:4], []byte{0xB5, 0xEE, 0x9C, 0x72}) {
		return errors.New("not a BOC")
	}
	size, off := int(raw[4]&7), int(raw[5])
	if size < 1 || size > 4 || off < 1 || off > 8 {
		return errors.New("bad BOC header sizes")
	}
	pos := 6
	read := func(n int) (uint64, bool) {
		if pos+n > len(raw) {
			return 0, false
		}
		var v uint64
		for _, b := range raw[pos : pos+n] {
			v = v<<8 | uint64(b)
		}
		pos += n
		return v, true
	}
	cells, ok1 := read(size)
	roots, ok2 := read(size)
	absent, ok3 := read(size)
	total, ok4 := read(off)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return errors.New("truncated BOC header")
	}
	if cells == 0 || cells > maxBOCCells || roots == 0 || roots > cells || absent > cells || total > uint64(len(raw)) {
		return fmt.Errorf("implausible BOC header (cells %d, roots %d, size %d)", cells, roots, total)
	}
	return nil
}

// payloadComment returns the text comment of a payload cell, for logs.
func payloadComment(c *cell.Cell) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	sl := c.BeginParse()
	op, err := sl.LoadUInt(32)
	if err != nil || op != 0 {
		return ""
	}
	s, _ = sl.LoadStringSnake()
	return s
}
