package ton

import (
	"encoding/hex"
	"testing"
	"unicode/utf8"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// FuzzDecodeBody feeds arbitrary message bodies (an op code and snake data,
// as any wallet could send) to the comment decoder: it never panics, a text
// comment round-trips exactly, and anything else is kept whole as BOC hex.
func FuzzDecodeBody(f *testing.F) {
	f.Add(uint32(0), []byte("STARS-a1b2c3"))
	f.Add(uint32(0), []byte(""))
	f.Add(uint32(0), []byte{0xff, 0xfe})
	f.Add(uint32(0x0f8a7ea5), []byte("jetton transfer"))
	f.Add(uint32(0), make([]byte, 400)) // spans several cells
	f.Fuzz(func(t *testing.T, op uint32, data []byte) {
		if len(data) > 4000 {
			return
		}
		b := cell.BeginCell().MustStoreUInt(uint64(op), 32)
		if err := b.StoreBinarySnake(data); err != nil {
			return
		}
		body := b.EndCell()
		comment, payload := decodeBody(body)
		if op == 0 && utf8.Valid(data) {
			if comment != string(data) || payload != "" {
				t.Fatalf("text comment %q decoded as %q / %q", data, comment, payload)
			}
			return
		}
		if comment != "" {
			t.Fatalf("op %#x decoded as a comment %q", op, comment)
		}
		raw, err := hex.DecodeString(payload)
		if err != nil {
			t.Fatalf("payload not hex: %v", err)
		}
		back, err := cell.FromBOC(raw)
		if err != nil || string(back.Hash()) != string(body.Hash()) {
			t.Fatalf("payload does not round-trip to the same cell: %v", err)
		}
	})
}
