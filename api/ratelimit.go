package api

import (
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bounds of the in-memory limiter table.
const (
	maxLimiters = 100_000
	sweepEvery  = time.Minute
)

// limiters keeps one token bucket per key (a partner, or a client IP on
// unauthenticated routes, for failed authentications and admin requests),
// in memory. The table is bounded: a bucket idle
// long enough to have refilled is forgotten (a new one is identical), and
// past maxLimiters the least recently used go first.
type limiters struct {
	rate  rate.Limit
	burst int
	now   func() time.Time
	// fill is how long an empty bucket takes to refill; idle longer, it is full.
	fill time.Duration

	mu        sync.Mutex
	m         map[string]*limEntry
	lastSweep time.Time
}

type limEntry struct {
	lim  *rate.Limiter
	last time.Time // guarded by limiters.mu
}

// limitResult is one decision and what the RateLimit-* headers say.
type limitResult struct {
	ok         bool
	limit      int // the burst: requests allowed at once
	remaining  int // whole tokens left
	reset      int // seconds until the bucket is full again
	retryAfter int // seconds until the next request is allowed (when !ok)
}

func newLimiters(perSecond float64, burst int, now func() time.Time) *limiters {
	r := rate.Limit(perSecond)
	if perSecond <= 0 || math.IsInf(perSecond, 1) || math.IsNaN(perSecond) {
		r = rate.Inf // config.Validate forbids this; be safe rather than block everyone
	}
	if burst < 1 {
		burst = 1
	}
	l := &limiters{rate: r, burst: burst, now: now, m: map[string]*limEntry{}, lastSweep: now()}
	if r != rate.Inf {
		l.fill = time.Duration(float64(burst) / float64(r) * float64(time.Second))
	}
	return l
}

// take spends one token of key's bucket.
func (l *limiters) take(key string) limitResult {
	now := l.now()
	l.mu.Lock()
	e := l.m[key]
	if e == nil {
		if len(l.m) >= maxLimiters || now.Sub(l.lastSweep) >= sweepEvery {
			l.sweep(now)
		}
		e = &limEntry{lim: rate.NewLimiter(l.rate, l.burst)}
		l.m[key] = e
	}
	e.last = now
	l.mu.Unlock()

	return l.result(e.lim.AllowN(now, 1), e.lim, now)
}

// peek reports key's bucket as take would, without spending a token: ok
// when one is there.
func (l *limiters) peek(key string) limitResult {
	now := l.now()
	l.mu.Lock()
	e := l.m[key]
	l.mu.Unlock()
	if e == nil {
		return limitResult{ok: true, limit: l.burst, remaining: l.burst}
	}
	return l.result(e.lim.TokensAt(now) >= 1, e.lim, now)
}

// result describes lim at now after a decision ok.
func (l *limiters) result(ok bool, lim *rate.Limiter, now time.Time) limitResult {
	res := limitResult{limit: l.burst, ok: ok}
	if l.rate == rate.Inf {
		res.remaining = l.burst
		return res
	}
	tokens := lim.TokensAt(now)
	res.remaining = max(0, int(math.Floor(tokens)))
	res.reset = ceilSeconds((float64(l.burst) - tokens) / float64(l.rate))
	if !res.ok {
		res.retryAfter = max(1, ceilSeconds((1-tokens)/float64(l.rate)))
	}
	return res
}

func ceilSeconds(s float64) int {
	if s <= 0 {
		return 0
	}
	return int(math.Ceil(s))
}

// sweep drops idle buckets and, over the bound, the least recently used.
// Called with l.mu held.
func (l *limiters) sweep(now time.Time) {
	l.lastSweep = now
	idle := max(l.fill, time.Second)
	for k, e := range l.m {
		if now.Sub(e.last) > idle {
			delete(l.m, k)
		}
	}
	if len(l.m) < maxLimiters {
		return
	}
	type kl struct {
		k string
		t time.Time
	}
	all := make([]kl, 0, len(l.m))
	for k, e := range l.m {
		all = append(all, kl{k, e.last})
	}
	slices.SortFunc(all, func(a, b kl) int { return a.t.Compare(b.t) })
	for _, x := range all[:len(all)/10+1] {
		delete(l.m, x.k)
	}
}

// size is the number of buckets held (tests).
func (l *limiters) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
