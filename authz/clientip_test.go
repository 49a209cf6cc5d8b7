package authz

import (
	"net/http/httptest"
	"testing"
)

func TestClientIPBehindTrustedProxies(t *testing.T) {
	proxies, err := parseTrustedProxies([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{trustedProxies: proxies}
	cases := []struct {
		name, remote, xff, want string
	}{
		{"direct client", "203.0.113.9:5000", "198.51.100.1", "203.0.113.9"},
		{"through a proxy", "10.1.2.3:5000", "198.51.100.1", "198.51.100.1"},
		{"forged left-most entry", "10.1.2.3:5000", "1.2.3.4, 198.51.100.1", "198.51.100.1"},
		{"two proxies", "10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"IPv6 loopback proxy", "[::1]:5000", "2001:db8::7", "2001:db8::7"},
		{"proxy without header", "10.1.2.3:5000", "", "10.1.2.3"},
		{"malformed header", "10.1.2.3:5000", "not-an-ip", "10.1.2.3"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := s.clientIP(r); got != tc.want {
			t.Errorf("%s: clientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := parseTrustedProxies([]string{"nonsense"}); err == nil {
		t.Error("a bad entry was accepted")
	}
	// Without trusted proxies the header is ignored.
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = "10.1.2.3:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := (&Server{}).clientIP(r); got != "10.1.2.3" {
		t.Errorf("no trusted proxies: %q", got)
	}
}

func TestThrottleAddr(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":               "198.51.100.7",
		"::ffff:198.51.100.7":        "198.51.100.7",
		"2001:db8:1:2::10":           "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:1:2:3":    "2001:db8:1:2::/64",
		"2001:db8:1:3::10":           "2001:db8:1:3::/64",
		"fe80::1%eth0":               "fe80::/64",
		"::1":                        "::/64",
		"not an address":             "not an address",
		"2001:db8:1:2:3:4:5:6:7:8:9": "2001:db8:1:2:3:4:5:6:7:8:9",
	} {
		if got := throttleAddr(in); got != want {
			t.Errorf("throttleAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
