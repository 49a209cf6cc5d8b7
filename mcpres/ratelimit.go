package mcpres

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter is a token bucket (golang.org/x/time/rate) per caller, in a
// map of bounded size. It counts tools/call only. It is per process: with
// several instances behind a load balancer each has its own buckets,
// which is enough to stop a runaway agent loop.
//
// A caller over the limit gets a tool result with isError set that says
// when to retry, not HTTP 429: the model reads the message and can wait,
// whereas clients treat a non-2xx answer to a POST as a transport failure
// (some reconnect in a loop).
type rateLimiter struct {
	limit rate.Limit
	burst int
	max   int
	// idle is how long a bucket takes to fill up again; a caller unseen
	// for that long is indistinguishable from a new one and may be
	// forgotten.
	idle time.Duration

	mu      sync.Mutex
	callers map[string]*callerBucket
}

type callerBucket struct {
	lim  *rate.Limiter
	last time.Time
}

// newRateLimiter returns nil when rl turns the limit off.
func newRateLimiter(rl RateLimit) *rateLimiter {
	if rl.PerMinute <= 0 {
		return nil
	}
	limit := rate.Limit(float64(rl.PerMinute) / 60)
	return &rateLimiter{
		limit:   limit,
		burst:   rl.Burst,
		max:     rl.MaxCallers,
		idle:    time.Duration(float64(rl.Burst) / float64(limit) * float64(time.Second)),
		callers: make(map[string]*callerBucket),
	}
}

// rateKey identifies a caller: the user and the client acting for them.
func rateKey(ti *TokenInfo) string { return ti.Subject + "\x00" + ti.ClientID }

// allow takes one token from key's bucket at now. When the bucket is
// empty it returns false and how long until a token is there.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.callers[key]
	if b == nil {
		if len(l.callers) >= l.max {
			l.evict(now)
		}
		b = &callerBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.callers[key] = b
	}
	b.last = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(l.limit) * float64(time.Second)))
	return false, max(wait, time.Millisecond)
}

// evict forgets every caller idle long enough to have a full bucket, and
// if that frees nothing, the one seen longest ago. Called with mu held.
func (l *rateLimiter) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, b := range l.callers {
		if now.Sub(b.last) >= l.idle {
			delete(l.callers, k)
			continue
		}
		if oldestKey == "" || b.last.Before(oldest) {
			oldestKey, oldest = k, b.last
		}
	}
	if len(l.callers) >= l.max && oldestKey != "" {
		delete(l.callers, oldestKey)
	}
}

// size is the number of callers tracked, for tests.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.callers)
}
