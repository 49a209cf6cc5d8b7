package mcpres

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RateLimit = &RateLimit{PerMinute: 60, Burst: 3} })
	alice := f.connect("alice-token", "2025-11-25")
	call := func() (bool, string) {
		res := callTool(t, alice, "search", map[string]any{"query": "wombat"})
		return res.IsError, textOf(t, res)
	}
	for i := range 3 {
		if isErr, text := call(); isErr {
			t.Fatalf("call %d within the burst refused: %s", i+1, text)
		}
	}
	isErr, text := call()
	if !isErr || text != "Rate limit exceeded: at most 60 tool calls a minute (bursts of 3). Retry after 1 second." {
		t.Fatalf("call after the burst: isError %v, %q", isErr, text)
	}
	if !strings.Contains(f.logs.String(), `"outcome":"rate_limited"`) {
		t.Errorf("rate limiting not logged")
	}
	// Another caller, and the same user through another client, have
	// buckets of their own; tools/list is not limited.
	if res := callTool(t, f.connect("bob-token", "2025-11-25"), "search", map[string]any{"query": "wombat"}); res.IsError {
		t.Errorf("bob limited by alice's calls")
	}
	if res := callTool(t, f.connect("alice-other-client", ""), "fetch", map[string]any{"id": f.docs["public"]}); res.IsError {
		t.Errorf("alice's other client limited: %s", textOf(t, res))
	}
	if _, err := alice.ListTools(t.Context(), nil); err != nil {
		t.Errorf("tools/list limited: %v", err)
	}
	// A second later one token is back.
	f.clock.Advance(time.Second)
	if isErr, text := call(); isErr {
		t.Errorf("after 1s: %s", text)
	}
	if isErr, _ := call(); !isErr {
		t.Errorf("second call after 1s not limited")
	}
}

func TestRateLimitDisabled(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RateLimit = &RateLimit{PerMinute: 0} })
	if f.srv.limiter != nil {
		t.Fatal("limiter on")
	}
	cs := f.connect("alice-token", "2025-11-25")
	for range 40 {
		if res := callTool(t, cs, "search", map[string]any{"query": "wombat"}); res.IsError {
			t.Fatalf("limited: %s", textOf(t, res))
		}
	}
}

func TestRateLimiterBounded(t *testing.T) {
	l := newRateLimiter(RateLimit{PerMinute: 60, Burst: 2, MaxCallers: 3})
	now := time.Unix(1_000_000, 0)
	for i := range 10 {
		if ok, _ := l.allow(fmt.Sprint("caller", i), now.Add(time.Duration(i)*time.Millisecond)); !ok {
			t.Fatalf("new caller %d refused", i)
		}
		if n := l.size(); n > 3 {
			t.Fatalf("tracking %d callers, max 3", n)
		}
	}
	// The most recent callers are kept: caller9 is still limited.
	l.allow("caller9", now.Add(10*time.Millisecond))
	if ok, wait := l.allow("caller9", now.Add(11*time.Millisecond)); ok || wait <= 0 || wait > time.Second {
		t.Errorf("caller9: ok %v, wait %v", ok, wait)
	}
	// Idle callers (full buckets) are dropped first.
	later := now.Add(time.Hour)
	l.allow("fresh", later)
	if n := l.size(); n != 1 {
		t.Errorf("after idle eviction: %d callers, want 1", n)
	}
}

func TestRateLimitDefaults(t *testing.T) {
	c := Config{Issuer: "https://a.example.com"}.withDefaults()
	if rl := c.RateLimit; rl.PerMinute != 120 || rl.Burst != 30 || rl.MaxCallers != DefaultRateLimitCallers {
		t.Errorf("defaults %+v", rl)
	}
	c = Config{RateLimit: &RateLimit{PerMinute: 10}}.withDefaults()
	if c.RateLimit.Burst != 10 {
		t.Errorf("burst %d, want min(30, 10)", c.RateLimit.Burst)
	}
}
