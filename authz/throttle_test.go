package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

// newTestThrottle is a Throttle on a new SQLite file, with a fake clock;
// throttles sharing st count the same failures (several instances).
func newTestThrottle(t testing.TB, st store.Attempts, max int, window time.Duration) (*testThrottle, *throttleTestClock) {
	t.Helper()
	if st == nil {
		db, err := store.Open(t.Context(), store.Config{DSN: filepath.Join(t.TempDir(), "throttle.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		st = db
	}
	clk := newThrottleTestClock()
	return &testThrottle{t: t, th: NewThrottle(st, []byte("test throttle key"), max, window, clk.Now)}, clk
}

// testThrottle calls a Throttle with the test's context and fails the
// test on a store error.
type testThrottle struct {
	t  testing.TB
	th *Throttle
}

// Probe reports whether an attempt for keys would be allowed, without
// counting one (a reservation released at once).
func (x *testThrottle) Probe(keys ...string) (bool, time.Duration) {
	x.t.Helper()
	res, ok, ra, err := x.th.Reserve(x.t.Context(), keys...)
	if err != nil {
		x.t.Fatalf("Reserve: %v", err)
	}
	if err := res.ReleaseAll(x.t.Context()); err != nil {
		x.t.Fatalf("ReleaseAll: %v", err)
	}
	return ok, ra
}

// Failure makes an attempt for keys that fails: it must be allowed, and
// it stays counted.
func (x *testThrottle) Failure(keys ...string) {
	x.t.Helper()
	res, ok, ra, err := x.th.Reserve(x.t.Context(), keys...)
	if err != nil || !ok {
		x.t.Fatalf("Reserve(%q) = %v, %v, %v; want an allowed attempt", keys, ok, ra, err)
	}
	if err := res.Settle(x.t.Context()); err != nil {
		x.t.Fatalf("Settle: %v", err)
	}
}

func (x *testThrottle) Success(keys ...string) {
	x.t.Helper()
	if err := x.th.Success(x.t.Context(), keys...); err != nil {
		x.t.Fatalf("Success: %v", err)
	}
}

// throttleTestClock is a settable clock for tests.
type throttleTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func newThrottleTestClock() *throttleTestClock {
	return &throttleTestClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *throttleTestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *throttleTestClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestThrottleLocksAfterMaxFailures(t *testing.T) {
	th, clk := newTestThrottle(t, nil, 5, 15*time.Minute)
	keys := []string{"user:alice", "ip:192.0.2.1"}
	for i := range 5 {
		if ok, ra := th.Probe(keys...); !ok || ra != 0 {
			t.Fatalf("attempt %d refused (retryAfter %v)", i+1, ra)
		}
		th.Failure(keys...)
		clk.Advance(time.Minute)
	}
	// Five failures at t0..t0+4m; now is t0+5m. The sixth is refused until
	// the first failure leaves the window at t0+15m.
	ok, ra := th.Probe(keys...)
	if ok {
		t.Fatal("sixth attempt allowed")
	}
	if ra != 10*time.Minute {
		t.Errorf("retryAfter = %v, want 10m", ra)
	}
	clk.Advance(10*time.Minute - time.Nanosecond)
	if ok, ra := th.Probe(keys...); ok || ra != time.Nanosecond {
		t.Errorf("just before the window: ok=%v retryAfter=%v", ok, ra)
	}
	clk.Advance(time.Nanosecond)
	if ok, ra := th.Probe(keys...); !ok || ra != 0 {
		t.Errorf("after the window: ok=%v retryAfter=%v", ok, ra)
	}
	// Four failures are still in the window: one more locks again, now
	// until the second failure (t0+1m) leaves it.
	th.Failure(keys...)
	if ok, ra := th.Probe(keys...); ok || ra != time.Minute {
		t.Errorf("re-locked: ok=%v retryAfter=%v, want false 1m", ok, ra)
	}
	clk.Advance(time.Hour)
	if ok, _ := th.Probe(keys...); !ok {
		t.Error("refused long after the window")
	}
}

func TestThrottleAnyKeyLocks(t *testing.T) {
	th, clk := newTestThrottle(t, nil, 3, time.Minute)
	for range 3 {
		th.Failure("ip:10.0.0.1")
	}
	if ok, _ := th.Probe("user:bob", "ip:10.0.0.1"); ok {
		t.Error("locked IP allowed with another user")
	}
	if ok, _ := th.Probe("user:bob", "ip:10.0.0.2"); !ok {
		t.Error("other IP refused")
	}
	if ok, _ := th.Probe("user:bob"); !ok {
		t.Error("user refused although only the IP failed")
	}
	// retryAfter is the longest over the locked keys.
	clk.Advance(30 * time.Second)
	for range 3 {
		th.Failure("user:bob")
	}
	if ok, ra := th.Probe("user:bob", "ip:10.0.0.1"); ok || ra != time.Minute {
		t.Errorf("ok=%v retryAfter=%v, want false 1m", ok, ra)
	}
}

func TestThrottleSuccessClears(t *testing.T) {
	th, _ := newTestThrottle(t, nil, 2, time.Minute)
	th.Failure("user:a", "ip:1")
	th.Failure("user:a", "ip:1")
	if ok, _ := th.Probe("user:a"); ok {
		t.Fatal("not locked")
	}
	th.Success("user:a")
	if ok, _ := th.Probe("user:a"); !ok {
		t.Error("Success did not clear user:a")
	}
	if ok, _ := th.Probe("ip:1"); ok {
		t.Error("Success cleared a key it was not given")
	}
	th.Success("ip:1", "never:seen")
	if ok, _ := th.Probe("ip:1"); !ok {
		t.Error("Success did not clear ip:1")
	}
}

func TestThrottleKeysIndependent(t *testing.T) {
	th, _ := newTestThrottle(t, nil, 1, time.Minute)
	th.Failure("user:a")
	if ok, _ := th.Probe("user:a"); ok {
		t.Error("user:a allowed")
	}
	for _, k := range []string{"user:b", "user:A", "ip:user:a", ""} {
		if ok, _ := th.Probe(k); !ok {
			t.Errorf("%q refused", k)
		}
	}
	if ok, _ := th.Probe(); !ok {
		t.Error("no keys refused")
	}
	// A key repeated in one call counts once.
	th.Failure("user:c", "user:c")
	th2, _ := newTestThrottle(t, nil, 2, time.Minute)
	th2.Failure("k", "k")
	if ok, _ := th2.Probe("k"); !ok {
		t.Error("duplicate key counted twice")
	}
}

func TestThrottleDefaults(t *testing.T) {
	th := NewThrottle(nil, nil, 0, 0, nil)
	if th.max != 5 || th.window != 15*time.Minute || th.now == nil {
		t.Errorf("defaults: max=%d window=%v", th.max, th.window)
	}
	x, _ := newTestThrottle(t, nil, 0, 0)
	for range 4 {
		x.Failure("x")
	}
	if ok, _ := x.Probe("x"); !ok {
		t.Error("four failures locked")
	}
	x.Failure("x")
	if ok, ra := x.Probe("x"); ok || ra != 15*time.Minute {
		t.Errorf("five failures: ok=%v retryAfter=%v, want false 15m", ok, ra)
	}
}

// TestThrottleSharedByInstances: two servers on one database (two
// Throttles on one store) count the same failures, so spreading attempts
// over instances gains nothing; and what the store holds are hashes, not
// names or addresses.
func TestThrottleSharedByInstances(t *testing.T) {
	db, err := store.Open(t.Context(), store.Config{DSN: filepath.Join(t.TempDir(), "shared.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, clk := newTestThrottle(t, db, 4, time.Minute)
	b := &testThrottle{t: t, th: NewThrottle(db, []byte("test throttle key"), 4, time.Minute, clk.Now)}
	a.Failure("user:alice")
	b.Failure("user:alice")
	a.Failure("user:alice")
	if ok, _ := b.Probe("user:alice"); !ok {
		t.Fatal("three failures locked")
	}
	b.Failure("user:alice")
	for name, x := range map[string]*testThrottle{"a": a, "b": b} {
		if ok, _ := x.Probe("user:alice"); ok {
			t.Errorf("instance %s allows alice after four failures over two instances", name)
		}
	}
	a.Success("user:alice")
	if ok, _ := b.Probe("user:alice"); !ok {
		t.Error("a success on one instance did not clear the other's count")
	}
	long := "user:" + strings.Repeat("x", 5000)
	a.Failure(long, "ip:192.0.2.1")
	var names []string
	if err := db.Gorm(t.Context()).Raw("SELECT name FROM attempts").Scan(&names).Error; err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 {
		t.Fatalf("attempts table holds %d rows, want 2", len(names))
	}
	plain := sha256.Sum256([]byte("ip:192.0.2.1")) // what a reader of the table could compute
	for _, n := range names {
		if len(n) != 64 || strings.Contains(n, "192.0.2.1") || strings.Contains(n, "xxx") || n == hex.EncodeToString(plain[:]) {
			t.Errorf("stored key %q is not a keyed hash", n)
		}
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th, clk := newTestThrottle(t, nil, 5, time.Minute)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				k := fmt.Sprintf("user:%d", (g+i)%20)
				ip := fmt.Sprintf("ip:%d", i%7)
				ctx := t.Context()
				res, _, _, err := th.th.Reserve(ctx, k, ip)
				if err != nil {
					t.Error(err)
				}
				switch i % 5 {
				case 0, 1, 2: // a failure: the attempt stays
					err = res.Settle(ctx)
				case 3:
					err = errors.Join(th.th.Success(ctx, k), res.Release(ctx, ip))
				case 4:
					err = res.ReleaseAll(ctx)
					clk.Advance(time.Second)
				}
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestThrottleParallelAttempts: attempts made at the same time, on one
// instance or two sharing the database, cannot all pass the check before
// any of them is counted: exactly the limit pass, and the refused ones
// leave no trace.
func TestThrottleParallelAttempts(t *testing.T) {
	db, err := store.Open(t.Context(), store.Config{DSN: filepath.Join(t.TempDir(), "parallel.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, clk := newTestThrottle(t, db, 5, time.Minute)
	b := NewThrottle(db, []byte("test throttle key"), 5, time.Minute, clk.Now)
	const n = 24
	passed := make([]bool, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		th := a.th
		if i%2 == 1 {
			th = b
		}
		wg.Go(func() {
			<-start
			_, ok, ra, err := th.Reserve(t.Context(), "user:alice", fmt.Sprintf("ip:%d", i))
			if err != nil {
				t.Error(err)
			}
			if !ok && ra <= 0 {
				t.Errorf("attempt %d refused with retryAfter %v", i, ra)
			}
			passed[i] = ok
		})
	}
	close(start)
	wg.Wait()
	count := 0
	for _, ok := range passed {
		if ok {
			count++
		}
	}
	// Under contention all may be refused (each saw the others counted);
	// never more than the limit pass, and the refused leave no trace.
	if count > 5 {
		t.Errorf("%d of %d simultaneous attempts passed, want at most 5", count, n)
	}
	stored := func() int {
		got, err := db.RecentAttempts(t.Context(), a.th.hash("user:alice"), clk.Now().Add(-time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	if got := stored(); got != count {
		t.Errorf("%d attempts stored, want the %d that passed: refused attempts must not count", got, count)
	}
	for ; count < 5; count++ {
		a.Failure("user:alice")
	}
	if ok, _ := a.Probe("user:alice"); ok {
		t.Error("a sixth attempt passes")
	}
}

// TestThrottleRelease: a released key forgets the attempt, the others
// keep it; releasing twice or a key not reserved does nothing.
func TestThrottleRelease(t *testing.T) {
	th, _ := newTestThrottle(t, nil, 1, time.Minute)
	res, ok, _, err := th.th.Reserve(t.Context(), "user:a", "ip:1")
	if err != nil || !ok {
		t.Fatalf("Reserve = %v, %v", ok, err)
	}
	for range 2 {
		if err := res.Release(t.Context(), "ip:1", "ip:never"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := th.Probe("ip:1"); !ok {
		t.Error("released key still counts the attempt")
	}
	if ok, _ := th.Probe("user:a"); ok {
		t.Error("a key that was not released lost the attempt")
	}
	var none *Reservation
	if err := errors.Join(none.Release(t.Context(), "x"), none.ReleaseAll(t.Context())); err != nil {
		t.Errorf("nil Reservation: %v", err)
	}
}

// TestThrottleStoreErrorRefuses: when the count cannot be written or
// read, Reserve says no (the login handler answers 500), never "allowed".
func TestThrottleStoreErrorRefuses(t *testing.T) {
	db, err := store.Open(t.Context(), store.Config{DSN: filepath.Join(t.TempDir(), "closed.db")})
	if err != nil {
		t.Fatal(err)
	}
	th := NewThrottle(db, []byte("test throttle key"), 3, time.Minute, nil)
	db.Close()
	if _, ok, _, err := th.Reserve(t.Context(), "user:alice"); ok || err == nil {
		t.Errorf("Reserve on a closed store = %v, %v; want false and an error", ok, err)
	}
}

// TestThrottlePendingAttempts: attempts still being checked count against
// the limit (so that simultaneous guesses cannot pass it), but a key full
// only of them asks for a retry in seconds, not for the whole window; once
// they settle as failures the window decides, and released (successful)
// ones stop counting.
func TestThrottlePendingAttempts(t *testing.T) {
	th, clk := newTestThrottle(t, nil, 5, 15*time.Minute)
	var inFlight []*Reservation
	for i := range 5 {
		res, ok, _, err := th.th.Reserve(t.Context(), fmt.Sprintf("user:u%d", i), "ip:203.0.113.1")
		if err != nil || !ok {
			t.Fatalf("sign-in %d: %v %v", i, ok, err)
		}
		inFlight = append(inFlight, res)
	}
	if ok, ra := th.Probe("user:bob", "ip:203.0.113.1"); ok || ra != pendingRetry {
		t.Errorf("address full of sign-ins being checked: ok=%v retryAfter=%v, want false %v", ok, ra, pendingRetry)
	}
	// Two succeed (released), three fail (settled): room for two more.
	for _, res := range inFlight[:2] {
		if err := res.Release(t.Context(), "ip:203.0.113.1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, res := range inFlight[2:] {
		if err := res.Settle(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute)
	th.Failure("user:bob", "ip:203.0.113.1")
	th.Failure("user:carol", "ip:203.0.113.1")
	if ok, ra := th.Probe("user:dave", "ip:203.0.113.1"); ok || ra != 14*time.Minute {
		t.Errorf("five settled failures: ok=%v retryAfter=%v, want false 14m", ok, ra)
	}
	// A pending attempt whose instance stopped counts as settled after a
	// minute.
	th2, clk2 := newTestThrottle(t, nil, 1, 15*time.Minute)
	if _, ok, _, err := th2.th.Reserve(t.Context(), "user:x"); err != nil || !ok {
		t.Fatal(ok, err)
	}
	clk2.Advance(2 * time.Minute)
	if ok, ra := th2.Probe("user:x"); ok || ra != 13*time.Minute {
		t.Errorf("stale pending attempt: ok=%v retryAfter=%v, want false 13m", ok, ra)
	}
}
