package authz

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// lru is a map bounded to max entries that evicts the least recently used
// one. It is not safe for concurrent use: its owner holds a lock.
type lru[V any] struct {
	max int
	ll  *list.List // front: most recently used
	m   map[string]*list.Element
}

type lruItem[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

// get returns the value of key and marks it as used.
func (c *lru[V]) get(key string) (V, bool) {
	if el, ok := c.m[key]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*lruItem[V]).val, true
	}
	var zero V
	return zero, false
}

// put sets the value of key, evicting the least recently used entry when
// the map is full.
func (c *lru[V]) put(key string, v V) {
	if el, ok := c.m[key]; ok {
		el.Value.(*lruItem[V]).val = v
		c.ll.MoveToFront(el)
		return
	}
	c.m[key] = c.ll.PushFront(&lruItem[V]{key: key, val: v})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*lruItem[V]).key)
	}
}

// remove deletes key, if present.
func (c *lru[V]) remove(key string) {
	if el, ok := c.m[key]; ok {
		c.ll.Remove(el)
		delete(c.m, key)
	}
}

// len returns the number of entries.
func (c *lru[V]) len() int { return c.ll.Len() }

// cacheLifetime is how long a fetched document may be used, from its HTTP
// caching headers (RFC 9111 §4.2.1), clamped to [lo, hi]:
//   - no-store or no-cache: lo (the document is still used for lo, so that
//     a client cannot make the server fetch on every request);
//   - s-maxage or max-age (the first that parses, in that order);
//   - otherwise Expires, relative to Date (or now without one); an Expires
//     that does not parse means already expired (lo);
//   - with none of these, def.
func cacheLifetime(h http.Header, now time.Time, lo, hi, def time.Duration) time.Duration {
	clamp := func(d time.Duration) time.Duration { return min(max(d, lo), hi) }
	var maxAge, sMaxAge time.Duration = -1, -1
	for _, v := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			arg = strings.Trim(strings.TrimSpace(arg), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return lo
			case "max-age":
				if n, err := strconv.ParseInt(arg, 10, 64); err == nil && n >= 0 && maxAge < 0 {
					maxAge = time.Duration(min(n, int64(hi/time.Second)+1)) * time.Second
				}
			case "s-maxage":
				if n, err := strconv.ParseInt(arg, 10, 64); err == nil && n >= 0 && sMaxAge < 0 {
					sMaxAge = time.Duration(min(n, int64(hi/time.Second)+1)) * time.Second
				}
			}
		}
	}
	switch {
	case sMaxAge >= 0:
		return clamp(sMaxAge)
	case maxAge >= 0:
		return clamp(maxAge)
	}
	if exp := h.Get("Expires"); exp != "" {
		t, err := http.ParseTime(exp)
		if err != nil {
			return lo
		}
		ref := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			ref = d
		}
		return clamp(t.Sub(ref))
	}
	return clamp(def)
}

// remoteCache keeps what was fetched from URLs that clients name (Client
// ID Metadata Documents, jwks_uri key sets): bounded LRUs of outcomes,
// one fetch at a time per URL however many requests wait for it, and
// stale-if-error in the spirit of RFC 5861 — when a refetch fails because
// the site is unavailable (fetch.Error's Unavailable: no connection, a
// time-out, a 5xx or 429), the value fetched before stands in for retry
// at a time, until staleFor after it expired. Any other failure replaces
// it at once. It is safe for concurrent use.
//
// Anyone can name a URL, so failures are kept apart from values: a flood
// of URLs that fail evicts other failures, never a client's document (or
// the copy that would stand in for it). And at most maxFetchesInFlight
// fetches run at once; past that a lookup that needs one fails at once
// with errFetchBusy (not remembered), while cached values keep serving.
type remoteCache[V any] struct {
	what     string        // what it holds, for the log
	keyAttr  string        // the log attribute of a key
	staleFor time.Duration // how long past its expiry a value may stand in
	retry    time.Duration // how long a stand-in lasts before the site is asked again
	now      func() time.Time
	log      *slog.Logger

	mu       sync.Mutex
	entries  *lru[*remoteEntry[V]] // values
	failures *lru[*remoteEntry[V]] // failures (no key is in both)
	group    singleflight.Group
	slots    chan struct{} // one per fetch in flight
}

// maxFetchesInFlight bounds the fetches one remoteCache runs at once. The
// fetcher's time limit (a few seconds) bounds each.
const maxFetchesInFlight = 32

// errFetchBusy is the failure of a lookup that needed a fetch while
// maxFetchesInFlight were running.
var errFetchBusy = errors.New("too many documents are being fetched at once; try again in a moment")

// remoteEntry is the outcome of one fetch: a value, or why there is none.
type remoteEntry[V any] struct {
	val       V
	err       error // nil for a value
	fetchedAt time.Time
	expires   time.Time
	// staleUntil, for a value, is how long it may stand in for one that
	// cannot be fetched: expires plus the cache's staleFor.
	staleUntil time.Time
	// unavailable, for a failure, says the site could not be reached or
	// was failing.
	unavailable bool
}

func newRemoteCache[V any](what, keyAttr string, max int, staleFor, retry time.Duration, now func() time.Time, log *slog.Logger) *remoteCache[V] {
	return &remoteCache[V]{what: what, keyAttr: keyAttr, staleFor: staleFor, retry: retry, now: now, log: log,
		entries: newLRU[*remoteEntry[V]](max), failures: newLRU[*remoteEntry[V]](max), slots: make(chan struct{}, maxFetchesInFlight)}
}

// lookup returns the entry of key, a value or a failure. c.mu is held.
func (c *remoteCache[V]) lookup(key string) (*remoteEntry[V], bool) {
	if e, ok := c.entries.get(key); ok {
		return e, true
	}
	return c.failures.get(key)
}

// store makes e the entry of key. c.mu is held.
func (c *remoteCache[V]) store(key string, e *remoteEntry[V]) {
	if e.err == nil {
		c.failures.remove(key)
		c.entries.put(key, e)
	} else {
		c.entries.remove(key)
		c.failures.put(key, e)
	}
}

// get returns the entry of key: the cached one when fresh says it may
// serve, else what load returns (or the stand-in described above). load
// runs for every caller waiting on key at once, with a context that does
// not end with the first caller's: the fetcher's own time limit bounds it.
// The error is ctx's, when the caller stops waiting.
func (c *remoteCache[V]) get(ctx context.Context, key string, fresh func(e *remoteEntry[V], now time.Time) bool, load func(ctx context.Context) *remoteEntry[V]) (*remoteEntry[V], error) {
	c.mu.Lock()
	prev, ok := c.lookup(key)
	c.mu.Unlock()
	if ok && fresh(prev, c.now()) {
		return prev, nil
	}
	ch := c.group.DoChan(key, func() (any, error) {
		lctx := context.WithoutCancel(ctx)
		var e *remoteEntry[V]
		select {
		case c.slots <- struct{}{}:
			e = load(lctx)
			<-c.slots
		default:
			e = &remoteEntry[V]{err: errFetchBusy, unavailable: true}
		}
		now := c.now()
		switch {
		case e.err == nil:
			e.staleUntil = e.expires.Add(c.staleFor)
		case e.unavailable && ok && prev.err == nil && now.Before(prev.staleUntil):
			c.log.WarnContext(lctx, c.what+" unavailable; using the copy fetched before",
				c.keyAttr, key, "error", e.err, "stale_until", prev.staleUntil)
			e = &remoteEntry[V]{val: prev.val, fetchedAt: now, expires: now.Add(c.retry), staleUntil: prev.staleUntil}
		case errors.Is(e.err, errFetchBusy):
			c.log.WarnContext(lctx, c.what+" not fetched: too many fetches at once", c.keyAttr, key)
			return e, nil // not remembered: the next request may fetch
		}
		c.mu.Lock()
		c.store(key, e)
		c.mu.Unlock()
		return e, nil
	})
	select {
	case res := <-ch:
		return res.Val.(*remoteEntry[V]), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
