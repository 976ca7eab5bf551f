package ton

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// listenerCursor is the listener's resume point, stored by the shop as an
// opaque string in the same transaction as the credits it covers:
//
//	mc:<seqno>:<utime>
//
// seqno is the last masterchain block whose transactions (its own and those
// of every shard block it commits) are all in batches fn has accepted; utime
// is that block's generation time (unix seconds). Following resumes at
// seqno+1 with the shard tops committed by seqno as "already seen". utime is
// what backfill needs when the blocks are gone: every transaction not yet
// delivered was made after roughly that time.
type listenerCursor struct {
	seqno uint32
	utime uint32
}

func (c listenerCursor) String() string {
	return fmt.Sprintf("mc:%d:%d", c.seqno, c.utime)
}

func (c listenerCursor) time() time.Time { return time.Unix(int64(c.utime), 0).UTC() }

// parseCursor reads a cursor; ok=false for the empty cursor (first start).
func parseCursor(s string) (c listenerCursor, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return c, false, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "mc" {
		return c, false, fmt.Errorf("ton: bad listener cursor %q (want mc:<seqno>:<utime>)", s)
	}
	seq, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return c, false, fmt.Errorf("ton: bad listener cursor %q: seqno: %w", s, err)
	}
	ut, err := strconv.ParseUint(parts[2], 10, 32)
	if err != nil {
		return c, false, fmt.Errorf("ton: bad listener cursor %q: time: %w", s, err)
	}
	return listenerCursor{seqno: uint32(seq), utime: uint32(ut)}, true, nil
}

// CursorInfo describes a listener cursor for operators (ton-check): the
// masterchain seqno it stands at and that block's time. ok=false for "".
func CursorInfo(cursor string) (seqno uint32, at time.Time, ok bool, err error) {
	c, ok, err := parseCursor(cursor)
	if err != nil || !ok {
		return 0, time.Time{}, ok, err
	}
	return c.seqno, c.time(), true, nil
}
