package authz

import (
	"container/list"
	"sync"
	"time"
)

// throttleMaxKeys caps the keys a Throttle tracks; beyond it the key with
// the oldest latest failure is dropped.
const throttleMaxKeys = 100_000

// Throttle limits failed logins per key (the caller passes opaque keys such
// as "user:<name>" and "ip:<addr>"): once a key has maxFailures failures
// within the sliding window, Allowed refuses it until the oldest of them
// leaves the window. Memory is bounded: stale keys are evicted as it goes
// and at most 100,000 keys are kept. A Throttle is safe for concurrent use.
type Throttle struct {
	max     int
	window  time.Duration
	now     func() time.Time
	maxKeys int

	mu    sync.Mutex
	keys  map[string]*list.Element // of *throttleEntry
	order *list.List               // front = least recently failed
}

type throttleEntry struct {
	key      string
	failures []time.Time // oldest first, at most max, all within the window
}

// NewThrottle returns a Throttle allowing fewer than maxFailures failures
// per key within window. now is the clock (nil means time.Now); maxFailures
// below 1 means 5 and a window below 1ns means 15 minutes.
func NewThrottle(maxFailures int, window time.Duration, now func() time.Time) *Throttle {
	if maxFailures < 1 {
		maxFailures = 5
	}
	if window <= 0 {
		window = 15 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{
		max:     maxFailures,
		window:  window,
		now:     now,
		maxKeys: throttleMaxKeys,
		keys:    map[string]*list.Element{},
		order:   list.New(),
	}
}

// Allowed reports whether an attempt for keys may go ahead: false when any
// key has reached the failure limit within the window. retryAfter is then
// the longest time until one of those keys is allowed again (the oldest
// counted failure leaving the window); it is zero when ok.
func (t *Throttle) Allowed(keys ...string) (ok bool, retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.evictStale(now)
	for _, k := range keys {
		el, found := t.keys[k]
		if !found {
			continue
		}
		e := el.Value.(*throttleEntry)
		t.prune(e, now)
		if len(e.failures) == 0 {
			t.remove(el)
			continue
		}
		if len(e.failures) >= t.max {
			if d := e.failures[0].Add(t.window).Sub(now); d > retryAfter {
				retryAfter = d
			}
		}
	}
	return retryAfter == 0, retryAfter
}

// Failure records a failed attempt against each of keys.
func (t *Throttle) Failure(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.evictStale(now)
	for i, k := range keys {
		if seenBefore(keys[:i], k) {
			continue
		}
		el, found := t.keys[k]
		var e *throttleEntry
		if found {
			e = el.Value.(*throttleEntry)
			t.prune(e, now)
			t.order.MoveToBack(el)
		} else {
			e = &throttleEntry{key: k, failures: make([]time.Time, 0, 1)}
			t.keys[k] = t.order.PushBack(e)
		}
		if len(e.failures) >= t.max {
			// Keep only the latest max failures: those decide when the
			// key is allowed again.
			n := copy(e.failures, e.failures[len(e.failures)-t.max+1:])
			e.failures = e.failures[:n]
		}
		e.failures = append(e.failures, now)
	}
	for len(t.keys) > t.maxKeys {
		t.remove(t.order.Front())
	}
}

// Success forgets the failures of keys (call it after a good login).
func (t *Throttle) Success(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if el, found := t.keys[k]; found {
			t.remove(el)
		}
	}
}

// prune drops failures that have left the window.
func (t *Throttle) prune(e *throttleEntry, now time.Time) {
	cutoff := now.Add(-t.window)
	i := 0
	for i < len(e.failures) && !e.failures[i].After(cutoff) {
		i++
	}
	if i > 0 {
		e.failures = append(e.failures[:0], e.failures[i:]...)
	}
}

// evictStale removes keys whose latest failure has left the window. Keys
// are ordered by latest failure, so it stops at the first live one.
func (t *Throttle) evictStale(now time.Time) {
	cutoff := now.Add(-t.window)
	for el := t.order.Front(); el != nil; el = t.order.Front() {
		e := el.Value.(*throttleEntry)
		if len(e.failures) > 0 && e.failures[len(e.failures)-1].After(cutoff) {
			return
		}
		t.remove(el)
	}
}

func (t *Throttle) remove(el *list.Element) {
	e := t.order.Remove(el).(*throttleEntry)
	delete(t.keys, e.key)
}

func seenBefore(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}
