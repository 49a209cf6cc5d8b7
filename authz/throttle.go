package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

// Throttle limits attempts per key (the caller passes opaque keys such as
// "user:<name>" and "ip:<addr>"): once a key has maxFailures attempts
// counted within the sliding window, Reserve refuses it until the oldest
// of them leaves the window. The failures live in the store (store.Attempts), so
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

const (
	// pendingRetry is the wait given when a key is full only because of
	// attempts whose outcome is not known yet.
	pendingRetry = 2 * time.Second
	// pendingStale is when a pending attempt counts as settled: its
	// outcome takes a password check, not a minute.
	pendingStale = time.Minute
	// pendingLookahead bounds, in multiples of the limit, how many of a
	// full key's latest attempts are read to find its settled ones.
	pendingLookahead = 8
)

// Reservation is an attempt counted before it is made (see Reserve).
type Reservation struct {
	t   *Throttle
	ids map[string]int64 // key → the attempt recorded against it
}

// Reserve counts one attempt against each of keys (a key given twice
// counts once) before the caller makes it, and reports whether the
// attempt may go ahead: false when a key already had the maximum number
// of attempts within the window, settled ones or others still pending.
// Counting first is what makes the limit hold for attempts made at the
// same time, on one instance or several: of attempts that pass, each saw
// every earlier one recorded, so no more than the maximum pass.
//
// A passed attempt is pending until the caller settles it (Settle: it
// failed, or counts whatever its outcome), releases it (Release,
// ReleaseAll: it does not count) or clears its keys (Success). A refused
// attempt is withdrawn at once, so retrying while locked out does not
// prolong the lock-out. retryAfter is then the longest time until one of
// the full keys admits an attempt again: until the oldest of its latest
// settled attempts leaves the window, or, when the key is full only
// because of attempts still pending, pendingRetry (they are about to
// settle or be released). A pending attempt older than pendingStale
// counts as settled (its instance may have stopped). An error is the
// store's: the caller cannot tell, so it should refuse.
func (t *Throttle) Reserve(ctx context.Context, keys ...string) (res *Reservation, ok bool, retryAfter time.Duration, err error) {
	now := t.now()
	hashed := make([]string, 0, len(keys))
	uniq := make([]string, 0, len(keys))
	for i, k := range keys {
		if !slices.Contains(keys[:i], k) {
			uniq = append(uniq, k)
			hashed = append(hashed, t.hash(k))
		}
	}
	ids, err := t.st.AddAttempts(ctx, hashed, now, now.Add(t.window), true)
	if err != nil {
		return nil, false, 0, err
	}
	res = &Reservation{t: t, ids: make(map[string]int64, len(uniq))}
	for i, k := range uniq {
		res.ids[k] = ids[i]
	}
	since := now.Add(-t.window)
	full := false
	for _, h := range hashed {
		at, err := t.st.RecentAttempts(ctx, h, since, t.max+1)
		if err != nil {
			return nil, false, 0, errors.Join(err, t.st.DeleteAttempts(ctx, ids...))
		}
		if len(at) > t.max {
			full = true
		}
	}
	if !full {
		return res, true, 0, nil
	}
	if err := t.st.DeleteAttempts(ctx, ids...); err != nil {
		return nil, false, 0, err
	}
	for _, h := range hashed {
		at, err := t.st.RecentAttempts(ctx, h, since, pendingLookahead*t.max)
		if err != nil {
			return nil, false, 0, err
		}
		if len(at) < t.max {
			continue // not full (any more) without this attempt
		}
		var settled []time.Time
		for _, a := range at {
			if !a.Pending || now.Sub(a.At) > pendingStale {
				settled = append(settled, a.At)
			}
		}
		wait := pendingRetry
		if len(settled) >= t.max {
			wait = settled[t.max-1].Add(t.window).Sub(now)
		}
		retryAfter = max(retryAfter, wait)
	}
	// Attempts released meanwhile may leave no key full; the attempt is
	// refused all the same, with a short wait.
	if retryAfter <= 0 {
		retryAfter = pendingRetry
	}
	return nil, false, retryAfter, nil
}

// Settle marks the reserved attempt as made: it stays counted until the
// window moves past it (a failed sign-in; a registration). A nil
// Reservation settles nothing.
func (r *Reservation) Settle(ctx context.Context) error {
	if r == nil {
		return nil
	}
	return r.t.st.SettleAttempts(ctx, slices.Collect(maps.Values(r.ids))...)
}

// Release withdraws the reserved attempt from each of keys (keys it was
// not reserved against are ignored), e.g. the address's count after a
// successful sign-in. A nil Reservation releases nothing.
func (r *Reservation) Release(ctx context.Context, keys ...string) error {
	if r == nil {
		return nil
	}
	var ids []int64
	for _, k := range keys {
		if id, ok := r.ids[k]; ok {
			ids = append(ids, id)
			delete(r.ids, k)
		}
	}
	return r.t.st.DeleteAttempts(ctx, ids...)
}

// ReleaseAll withdraws the whole reservation: the attempt was not made.
func (r *Reservation) ReleaseAll(ctx context.Context) error {
	if r == nil {
		return nil
	}
	return r.Release(ctx, slices.Collect(maps.Keys(r.ids))...)
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
