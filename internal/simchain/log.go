package simchain

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"syscall"
)

// The chain's file is an append-only log of records, each
// [4-byte length][4-byte CRC-32 (Castagnoli) of the payload][JSON payload].
// The first record is the genesis (config and t0); every later one is an
// entry (a transfer or an external message) stamped with its accept time.
// Several processes may hold the file open: appends take an exclusive flock,
// reads a shared one, so a reader never sees half of an append. A record cut
// short by a crash is ignored by readers and cut off by the next appender.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const recordHeader = 8

// maxRecord bounds one record (an external message BOC is at most 64 KiB on
// the real network; base64 and JSON add a third).
const maxRecord = 1 << 20

func encodeRecord(v any) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(payload) > maxRecord {
		return nil, fmt.Errorf("simchain: record of %d bytes", len(payload))
	}
	out := make([]byte, recordHeader, recordHeader+len(payload))
	binary.BigEndian.PutUint32(out, uint32(len(payload)))
	binary.BigEndian.PutUint32(out[4:], crc32.Checksum(payload, castagnoli))
	return append(out, payload...), nil
}

// readRecords decodes the complete records in b; n is how many bytes they
// span (a torn tail is left out).
func readRecords(b []byte) (recs [][]byte, n int) {
	for len(b)-n >= recordHeader {
		size := int(binary.BigEndian.Uint32(b[n:]))
		sum := binary.BigEndian.Uint32(b[n+4:])
		if size > maxRecord || len(b)-n-recordHeader < size {
			break
		}
		payload := b[n+recordHeader : n+recordHeader+size]
		if crc32.Checksum(payload, castagnoli) != sum {
			break
		}
		recs = append(recs, payload)
		n += recordHeader + size
	}
	return recs, n
}

// flock takes (how = LOCK_SH | LOCK_EX) or releases (LOCK_UN) the file lock.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// readFrom returns the file's bytes from off to its end.
func readFrom(f *os.File, off int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() <= off {
		return nil, nil
	}
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}

// appendRecords writes recs at off (cutting off any torn tail first) and
// syncs the file: the entries are durable when it returns. The caller holds
// the exclusive lock.
func appendRecords(f *os.File, off int64, recs [][]byte) error {
	if err := f.Truncate(off); err != nil {
		return err
	}
	if _, err := f.WriteAt(bytes.Join(recs, nil), off); err != nil {
		return err
	}
	return f.Sync()
}
