package shop

import (
	"sync"
	"time"
)

// listenerFailWindow is how long a payment listener failure keeps health
// degraded without a later successful batch: longer than the listener's
// longest restart backoff (30 s), so a listener failing over and over stays
// degraded, while one that failed once and has had nothing to apply since
// clears by itself.
const listenerFailWindow = 2 * time.Minute

// listenerState is what the payment listener loop last went through, for
// health.
type listenerState struct {
	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	lastOKAt  time.Time
	failures  int // in a row since the last batch applied
}

func (s *Shop) listenFailed(err error) {
	s.listen.mu.Lock()
	s.listen.lastErr, s.listen.lastErrAt = clipParked(err.Error(), 500), s.now()
	s.listen.failures++
	s.listen.mu.Unlock()
	if po, ok := s.obs.(PaymentsObserver); ok {
		po.ListenerFailed()
	}
}

func (s *Shop) listenOK() {
	s.listen.mu.Lock()
	s.listen.lastOKAt, s.listen.failures = s.now(), 0
	s.listen.mu.Unlock()
}

// PaymentsHealth is the part of health about incoming payments: transfers
// parked for the operator, and the payment listener's recent failures.
type PaymentsHealth struct {
	ParkedTransfers int `json:"parked_transfers"`
	// ListenerError is the payment listener's last failure while it is
	// failing (no batch applied since, within the last two minutes), with
	// its time and how many times in a row.
	ListenerError    string     `json:"listener_error,omitempty"`
	ListenerErrorAt  *time.Time `json:"listener_error_at,omitempty"`
	ListenerFailures int        `json:"listener_failures,omitempty"`
}

// listenerHealth fills the listener part of h; false when failing.
func (s *Shop) listenerHealth(h *PaymentsHealth) bool {
	s.listen.mu.Lock()
	defer s.listen.mu.Unlock()
	l := &s.listen
	if l.lastErr == "" || !l.lastErrAt.After(l.lastOKAt) || s.now().Sub(l.lastErrAt) > listenerFailWindow {
		return true
	}
	at := l.lastErrAt
	h.ListenerError, h.ListenerErrorAt, h.ListenerFailures = l.lastErr, &at, l.failures
	return false
}
