package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

// Throttle limits attempts per key (the caller passes opaque keys such as
// "user:<name>" and "ip:<addr>"): once a key has maxFailures failures
// within the sliding window, Allowed refuses it until the oldest of them
// leaves the window. The failures live in the store (store.Attempts), so
// every instance of a deployment counts the same ones; the store forgets
// them when they expire (DeleteExpired). Keys are stored as HMAC-SHA256
// under a server key: fixed-size, and no names or addresses in the table
// that a reader of the database could recover by trying them all (IPv4
// has only 2^32). Instances of one deployment derive the same key, so
// they count the same keys. A Throttle is safe for concurrent use.
type Throttle struct {
	st     store.Attempts
	key    []byte
	max    int
	window time.Duration
	now    func() time.Time
}

// NewThrottle returns a Throttle on st, hashing keys under key, allowing
// fewer than maxFailures failures per key within window. now is the clock
// (nil means time.Now); maxFailures below 1 means 5 and a window below 1ns
// means 15 minutes.
func NewThrottle(st store.Attempts, key []byte, maxFailures int, window time.Duration, now func() time.Time) *Throttle {
	if maxFailures < 1 {
		maxFailures = 5
	}
	if window <= 0 {
		window = 15 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{st: st, key: key, max: maxFailures, window: window, now: now}
}

// Allowed reports whether an attempt for keys may go ahead: false when any
// key has reached the failure limit within the window. retryAfter is then
// the longest time until one of those keys is allowed again (the oldest
// counted failure leaving the window); it is zero when ok. An error is the
// store's: the caller cannot tell, so it should refuse.
func (t *Throttle) Allowed(ctx context.Context, keys ...string) (ok bool, retryAfter time.Duration, err error) {
	now := t.now()
	for _, k := range keys {
		// The latest max failures decide: the oldest of them must leave
		// the window first.
		at, err := t.st.RecentAttempts(ctx, t.hash(k), now.Add(-t.window), t.max)
		if err != nil {
			return false, 0, err
		}
		if len(at) >= t.max {
			if d := at[len(at)-1].Add(t.window).Sub(now); d > retryAfter {
				retryAfter = d
			}
		}
	}
	return retryAfter == 0, retryAfter, nil
}

// Failure records a failed attempt against each of keys; a key given twice
// counts once.
func (t *Throttle) Failure(ctx context.Context, keys ...string) error {
	now := t.now()
	hashed := make([]string, 0, len(keys))
	for i, k := range keys {
		if !slices.Contains(keys[:i], k) {
			hashed = append(hashed, t.hash(k))
		}
	}
	return t.st.AddAttempts(ctx, hashed, now, now.Add(t.window))
}

// Success forgets the failures of keys (call it after a good login).
func (t *Throttle) Success(ctx context.Context, keys ...string) error {
	hashed := make([]string, len(keys))
	for i, k := range keys {
		hashed[i] = t.hash(k)
	}
	return t.st.ClearAttempts(ctx, hashed...)
}

// hash is how key is stored: hex HMAC-SHA256 under the throttle's key.
func (t *Throttle) hash(key string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))
}
