package authz

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegistrationRateLimit(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Registration.MaxPerMinute = 3 })
	body := `{"client_name":"x","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`
	post := func() *http.Response {
		resp, err := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 3 {
		if r := post(); r.StatusCode != http.StatusCreated {
			t.Fatalf("registration %d: %d", i+1, r.StatusCode)
		}
	}
	r := post()
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth registration in a minute: %d (Retry-After %q), want 429", r.StatusCode, r.Header.Get("Retry-After"))
	}
	e.Clock.Advance(61 * time.Second)
	if r := post(); r.StatusCode != http.StatusCreated {
		t.Errorf("after the window: %d", r.StatusCode)
	}
}

// TestRegistrationRateLimitPerIPv6Prefix: addresses of one IPv6 /64 share
// a count (one host or subscriber holds the whole /64); another /64 has
// its own, and registrations sent at once cannot all pass.
func TestRegistrationRateLimitPerIPv6Prefix(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.Registration.MaxPerMinute = 2
		c.TrustedProxies = []string{"127.0.0.1", "::1"}
	})
	body := `{"client_name":"x","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`
	post := func(from string) int {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	got := []int{post("2001:db8:1:2::10"), post("2001:db8:1:2::11"), post("2001:db8:1:2:ffff::1"), post("2001:db8:1:3::10")}
	want := []int{http.StatusCreated, http.StatusCreated, http.StatusTooManyRequests, http.StatusCreated}
	if !slices.Equal(got, want) {
		t.Errorf("registrations from one /64 and then another: %v, want %v", got, want)
	}
	codes := parallel(t, 12, func() int { return post("198.51.100.9") })
	created := 0
	for _, c := range codes {
		if c == http.StatusCreated {
			created++
		}
	}
	// Under contention all may be refused; never more than the limit.
	if created > 2 {
		t.Errorf("%d of 12 simultaneous registrations from one address were served, want at most 2: %v", created, codes)
	}
	for ; created < 2; created++ {
		if c := post("198.51.100.9"); c != http.StatusCreated {
			t.Fatalf("registration %d after the burst: %d", created+1, c)
		}
	}
	if c := post("198.51.100.9"); c != http.StatusTooManyRequests {
		t.Errorf("third registration: %d, want 429", c)
	}
}
