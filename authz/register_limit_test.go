package authz

import (
	"net/http"
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
