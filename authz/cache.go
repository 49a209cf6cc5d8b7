package authz

import (
	"container/list"
	"net/http"
	"strconv"
	"strings"
	"time"
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
