package authz

import (
	"container/list"
	"context"
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
// ID Metadata Documents, jwks_uri key sets): a bounded LRU of outcomes,
// one fetch at a time per URL however many requests wait for it, and
// stale-if-error in the spirit of RFC 5861 — when a refetch fails because
// the site is unavailable (fetch.Error's Unavailable: no connection, a
// time-out, a 5xx or 429), the value fetched before stands in for retry
// at a time, until staleFor after it expired. Any other failure replaces
// it at once. It is safe for concurrent use.
type remoteCache[V any] struct {
	what     string        // what it holds, for the log
	keyAttr  string        // the log attribute of a key
	staleFor time.Duration // how long past its expiry a value may stand in
	retry    time.Duration // how long a stand-in lasts before the site is asked again
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex
	entries *lru[*remoteEntry[V]]
	group   singleflight.Group
}

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
	return &remoteCache[V]{what: what, keyAttr: keyAttr, staleFor: staleFor, retry: retry, now: now, log: log, entries: newLRU[*remoteEntry[V]](max)}
}

// get returns the entry of key: the cached one when fresh says it may
// serve, else what load returns (or the stand-in described above). load
// runs for every caller waiting on key at once, with a context that does
// not end with the first caller's: the fetcher's own time limit bounds it.
// The error is ctx's, when the caller stops waiting.
func (c *remoteCache[V]) get(ctx context.Context, key string, fresh func(e *remoteEntry[V], now time.Time) bool, load func(ctx context.Context) *remoteEntry[V]) (*remoteEntry[V], error) {
	c.mu.Lock()
	prev, ok := c.entries.get(key)
	c.mu.Unlock()
	if ok && fresh(prev, c.now()) {
		return prev, nil
	}
	ch := c.group.DoChan(key, func() (any, error) {
		lctx := context.WithoutCancel(ctx)
		e := load(lctx)
		now := c.now()
		switch {
		case e.err == nil:
			e.staleUntil = e.expires.Add(c.staleFor)
		case e.unavailable && ok && prev.err == nil && now.Before(prev.staleUntil):
			c.log.WarnContext(lctx, c.what+" unavailable; using the copy fetched before",
				c.keyAttr, key, "error", e.err, "stale_until", prev.staleUntil)
			e = &remoteEntry[V]{val: prev.val, fetchedAt: now, expires: now.Add(c.retry), staleUntil: prev.staleUntil}
		}
		c.mu.Lock()
		c.entries.put(key, e)
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
