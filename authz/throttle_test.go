package authz

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

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
	clk := newThrottleTestClock()
	th := NewThrottle(5, 15*time.Minute, clk.Now)
	keys := []string{"user:alice", "ip:192.0.2.1"}
	for i := range 5 {
		if ok, ra := th.Allowed(keys...); !ok || ra != 0 {
			t.Fatalf("attempt %d refused (retryAfter %v)", i+1, ra)
		}
		th.Failure(keys...)
		clk.Advance(time.Minute)
	}
	// Five failures at t0..t0+4m; now is t0+5m. The sixth is refused until
	// the first failure leaves the window at t0+15m.
	ok, ra := th.Allowed(keys...)
	if ok {
		t.Fatal("sixth attempt allowed")
	}
	if ra != 10*time.Minute {
		t.Errorf("retryAfter = %v, want 10m", ra)
	}
	clk.Advance(10*time.Minute - time.Nanosecond)
	if ok, ra := th.Allowed(keys...); ok || ra != time.Nanosecond {
		t.Errorf("just before the window: ok=%v retryAfter=%v", ok, ra)
	}
	clk.Advance(time.Nanosecond)
	if ok, ra := th.Allowed(keys...); !ok || ra != 0 {
		t.Errorf("after the window: ok=%v retryAfter=%v", ok, ra)
	}
	// Four failures are still in the window: one more locks again, now
	// until the second failure (t0+1m) leaves it.
	th.Failure(keys...)
	if ok, ra := th.Allowed(keys...); ok || ra != time.Minute {
		t.Errorf("re-locked: ok=%v retryAfter=%v, want false 1m", ok, ra)
	}
	clk.Advance(time.Hour)
	if ok, _ := th.Allowed(keys...); !ok {
		t.Error("refused long after the window")
	}
}

func TestThrottleAnyKeyLocks(t *testing.T) {
	clk := newThrottleTestClock()
	th := NewThrottle(3, time.Minute, clk.Now)
	for range 3 {
		th.Failure("ip:10.0.0.1")
	}
	if ok, _ := th.Allowed("user:bob", "ip:10.0.0.1"); ok {
		t.Error("locked IP allowed with another user")
	}
	if ok, _ := th.Allowed("user:bob", "ip:10.0.0.2"); !ok {
		t.Error("other IP refused")
	}
	if ok, _ := th.Allowed("user:bob"); !ok {
		t.Error("user refused although only the IP failed")
	}
	// retryAfter is the longest over the locked keys.
	clk.Advance(30 * time.Second)
	for range 3 {
		th.Failure("user:bob")
	}
	if ok, ra := th.Allowed("user:bob", "ip:10.0.0.1"); ok || ra != time.Minute {
		t.Errorf("ok=%v retryAfter=%v, want false 1m", ok, ra)
	}
}

func TestThrottleSuccessClears(t *testing.T) {
	clk := newThrottleTestClock()
	th := NewThrottle(2, time.Minute, clk.Now)
	th.Failure("user:a", "ip:1")
	th.Failure("user:a", "ip:1")
	if ok, _ := th.Allowed("user:a"); ok {
		t.Fatal("not locked")
	}
	th.Success("user:a")
	if ok, _ := th.Allowed("user:a"); !ok {
		t.Error("Success did not clear user:a")
	}
	if ok, _ := th.Allowed("ip:1"); ok {
		t.Error("Success cleared a key it was not given")
	}
	th.Success("ip:1", "never:seen")
	if ok, _ := th.Allowed("ip:1"); !ok {
		t.Error("Success did not clear ip:1")
	}
}

func TestThrottleKeysIndependent(t *testing.T) {
	clk := newThrottleTestClock()
	th := NewThrottle(1, time.Minute, clk.Now)
	th.Failure("user:a")
	if ok, _ := th.Allowed("user:a"); ok {
		t.Error("user:a allowed")
	}
	for _, k := range []string{"user:b", "user:A", "ip:user:a", ""} {
		if ok, _ := th.Allowed(k); !ok {
			t.Errorf("%q refused", k)
		}
	}
	if ok, _ := th.Allowed(); !ok {
		t.Error("no keys refused")
	}
	// A key repeated in one call counts once.
	th.Failure("user:c", "user:c")
	th2 := NewThrottle(2, time.Minute, clk.Now)
	th2.Failure("k", "k")
	if ok, _ := th2.Allowed("k"); !ok {
		t.Error("duplicate key counted twice")
	}
}

func TestThrottleDefaults(t *testing.T) {
	th := NewThrottle(0, 0, nil)
	if th.max != 5 || th.window != 15*time.Minute || th.now == nil {
		t.Errorf("defaults: max=%d window=%v", th.max, th.window)
	}
	th.Failure("x")
	if ok, _ := th.Allowed("x"); !ok {
		t.Error("one failure locked")
	}
}

func TestThrottleMemoryBounded(t *testing.T) {
	clk := newThrottleTestClock()
	th := NewThrottle(3, time.Minute, clk.Now)
	th.maxKeys = 100
	for i := range 1000 {
		th.Failure(fmt.Sprintf("ip:%d", i))
	}
	if n := len(th.keys); n != 100 || th.order.Len() != 100 {
		t.Fatalf("%d keys (%d in order), want 100", n, th.order.Len())
	}
	// The newest keys survive; the oldest were dropped.
	if _, ok := th.keys["ip:999"]; !ok {
		t.Error("newest key dropped")
	}
	if _, ok := th.keys["ip:0"]; ok {
		t.Error("oldest key kept")
	}
	// A key failing again moves to the back and survives eviction.
	th.Failure("ip:900")
	for i := range 99 {
		th.Failure(fmt.Sprintf("new:%d", i))
	}
	if _, ok := th.keys["ip:900"]; !ok {
		t.Error("recently failed key evicted")
	}
	// Stale keys go once the window passes.
	clk.Advance(time.Minute)
	th.Failure("fresh")
	if n := len(th.keys); n != 1 {
		t.Errorf("%d keys after the window, want 1", n)
	}
	clk.Advance(time.Minute)
	th.Allowed("anything")
	if n := len(th.keys); n != 0 {
		t.Errorf("%d keys after Allowed past the window, want 0", n)
	}
	// Failures per key are bounded by maxFailures.
	for range 50 {
		th.Failure("hammer")
	}
	if n := len(th.keys["hammer"].Value.(*throttleEntry).failures); n != 3 {
		t.Errorf("%d failures kept for one key, want 3", n)
	}
}

func TestThrottleConcurrent(t *testing.T) {
	clk := newThrottleTestClock()
	th := NewThrottle(5, time.Minute, clk.Now)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprintf("user:%d", (g+i)%20)
				ip := fmt.Sprintf("ip:%d", i%7)
				th.Allowed(k, ip)
				switch i % 5 {
				case 0, 1, 2:
					th.Failure(k, ip)
				case 3:
					th.Success(k)
				case 4:
					clk.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.keys) != th.order.Len() {
		t.Errorf("map has %d keys, list %d", len(th.keys), th.order.Len())
	}
	for k, el := range th.keys {
		e := el.Value.(*throttleEntry)
		if e.key != k || len(e.failures) > 5 {
			t.Errorf("entry %q: key %q, %d failures", k, e.key, len(e.failures))
		}
	}
}
