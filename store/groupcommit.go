package store

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many Update calls share one transaction, so a burst
// cannot build an unbounded transaction (DB.Batch's default MaxBatchSize).
const maxGroup = 1000

// errClosed is returned by Update after Close.
var errClosed = errors.New("store: closed")

// errSolo tells a caller that its function failed inside a group and must run
// again in a transaction of its own (the rest of the group was committed
// without it). Callers never see it.
var errSolo = errors.New("store: run alone")

// groupCall is one waiting Update.
type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// committer is group commit for bbolt: one writer goroutine takes every
// Update waiting at that moment, runs them in one read-write transaction
// and fsyncs once. Unlike DB.Batch it never waits on a timer: a lone write
// commits at once, and under load a transaction carries exactly the calls
// that queued while the previous one was being written, so the group size
// follows the disk and the CPU instead of MaxBatchDelay, and a single
// request's latency has no timer's floor (docs/PERFORMANCE.md). As with
// DB.Batch, a call
// whose function fails is taken out, the rest are committed without it, and
// the failed one runs again alone, so one request's error never undoes
// another's write; a function may therefore run more than once.
type committer struct {
	db    *bolt.DB
	prep  func(*bolt.Tx) // run at the start of every transaction
	queue chan *groupCall
	done  chan struct{}

	mu     sync.RWMutex // held shared while queueing, exclusively to close
	closed bool
}

func newCommitter(db *bolt.DB, prep func(*bolt.Tx)) *committer {
	c := &committer{db: db, prep: prep, queue: make(chan *groupCall, maxGroup), done: make(chan struct{})}
	go c.loop()
	return c
}

// update runs fn in a group transaction, durably committed before it
// returns nil.
func (c *committer) update(fn func(*bolt.Tx) error) error {
	call := &groupCall{fn: fn, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	c.queue <- call
	c.mu.RUnlock()
	err := <-call.done
	if errors.Is(err, errSolo) {
		// Alone; a panic now reaches the caller, as with DB.Batch.
		err = c.db.Update(func(tx *bolt.Tx) error { c.prep(tx); return fn(tx) })
	}
	return err
}

// close stops taking calls, commits the queued ones and waits for the writer.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	group := make([]*groupCall, 0, 64)
	for first := range c.queue {
		group = append(group[:0], first)
	drain:
		for len(group) < maxGroup {
			select {
			case call, ok := <-c.queue:
				if !ok {
					break drain
				}
				group = append(group, call)
			default:
				break drain
			}
		}
		c.run(group)
		clear(group) // drop the references until the next group
	}
}

// run commits group in one transaction, retrying without any member whose
// function fails (that member is told to run alone).
func (c *committer) run(group []*groupCall) {
	for len(group) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			c.prep(tx)
			for i, call := range group {
				if err := safely(call.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			group[failed].done <- errSolo
			group = append(group[:failed], group[failed+1:]...)
			continue
		}
		for _, call := range group {
			call.done <- err // nil, or the commit's own error for everyone
		}
		return
	}
}

// safely runs fn, turning a panic into an error so that one bad call cannot
// take the writer, and every other caller, down with it.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in transaction: %v", p)
		}
	}()
	return fn(tx)
}
