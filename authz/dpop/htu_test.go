package dpop

import (
	"strings"
	"testing"
	"time"
)

func TestNormalizeHTU(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"https://as.example.com/token", "https://as.example.com/token"},
		{"HTTPS://AS.Example.COM/token", "https://as.example.com/token"},
		{"https://as.example.com:443/token", "https://as.example.com/token"},
		{"http://as.example.com:80/token", "http://as.example.com/token"},
		{"http://as.example.com:443/token", "http://as.example.com:443/token"},
		{"https://as.example.com:80/token", "https://as.example.com:80/token"},
		{"https://as.example.com:08443/token", "https://as.example.com:8443/token"},
		{"https://as.example.com:/token", "https://as.example.com/token"},
		{"https://as.example.com", "https://as.example.com/"},
		{"https://as.example.com?x=1", "https://as.example.com/"},
		{"https://as.example.com/token?x=1#f", "https://as.example.com/token"},
		{"https://as.example.com/token?", "https://as.example.com/token"},
		{"https://as.example.com/token#", "https://as.example.com/token"},
		{"https://as.example.com/Token", "https://as.example.com/Token"},
		{"https://as.example.com/a/./b/../c", "https://as.example.com/a/c"},
		{"https://as.example.com/a/%2E%2E/c", "https://as.example.com/c"},
		{"https://as.example.com/../../c", "https://as.example.com/c"},
		{"https://as.example.com/a/..", "https://as.example.com/"},
		{"https://as.example.com/a//b/", "https://as.example.com/a//b/"},
		{"https://as.example.com/%7euser/%41", "https://as.example.com/~user/A"},
		{"https://as.example.com/a%2fb", "https://as.example.com/a%2Fb"},
		{"https://as.example.com/a%2Fb", "https://as.example.com/a%2Fb"},
		{"https://as.example.com/sp%20ace", "https://as.example.com/sp%20ace"},
		{"https://as.example.com/é", "https://as.example.com/%C3%A9"},
		{"https://as.example.com/%c3%a9", "https://as.example.com/%C3%A9"},
		{"https://[::1]:8443/mcp", "https://[::1]:8443/mcp"},
		{"https://[::1]:443/mcp", "https://[::1]/mcp"},
		{"https://[2001:DB8::1]/mcp", "https://[2001:db8::1]/mcp"},
		{"http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/mcp"},
		{"", ""},
		{"/token", ""},
		{"//as.example.com/token", ""},
		{"as.example.com/token", ""},
		{"ftp://as.example.com/token", ""},
		{"urn:ietf:params:oauth", ""},
		{"https:opaque", ""},
		{"https://user:pw@as.example.com/token", ""},
		{"https://user@as.example.com/token", ""},
		{"https://:443/token", ""},
		{"https://as.example.com:99999/token", ""},
		{"https://as.example.com:abc/token", ""},
		{"https://[fe80::1%25en0]/token", ""},
		{"https://bad host/token", ""},
		{"https://as.example.com/%zz", ""},
		{"https://as.example.com/" + strings.Repeat("a", MaxProofSize), ""},
	}
	for _, tt := range tests {
		got, err := NormalizeHTU(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeHTU(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeHTU(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestRemoveDotSegments(t *testing.T) {
	// RFC 3986 §5.2.4 and §5.4 examples, path parts only.
	tests := map[string]string{
		"/a/b/c/./../../g":   "/a/g",
		"mid/content=5/../6": "mid/6",
		"/./g":               "/g",
		"/b/c/.":             "/b/c/",
		"/b/c/./":            "/b/c/",
		"/b/c/..":            "/b/",
		"/b/c/../g":          "/b/g",
		"/..":                "/",
		"/../g":              "/g",
		"/g.":                "/g.",
		"/.g":                "/.g",
		"/g..":               "/g..",
		"/..g":               "/..g",
		"..":                 "",
		".":                  "",
		"../x":               "x",
	}
	for in, want := range tests {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNonceSource(t *testing.T) {
	now := testNow
	clock := func() time.Time { return now }
	n := NewNonceSource(testSecret, time.Minute, clock)
	if n.Step() != time.Minute {
		t.Fatalf("Step = %v", n.Step())
	}
	a := n.Nonce()
	if len(a) != 43 || !n.Valid(a) {
		t.Fatalf("fresh nonce %q not valid", a)
	}
	if n.Nonce() != a {
		t.Fatal("nonce changed within a step")
	}
	// Another instance with the same secret accepts it; one with another
	// secret does not.
	if !NewNonceSource(testSecret, time.Minute, clock).Valid(a) {
		t.Error("same secret, other instance: refused")
	}
	if NewNonceSource([]byte("another secret, also 32 bytes ok"), time.Minute, clock).Valid(a) {
		t.Error("other secret: accepted")
	}
	// Next step: still valid (previous step); step after: stale.
	now = now.Add(time.Minute)
	if n.Nonce() == a || !n.Valid(a) {
		t.Error("nonce not valid in the next step")
	}
	now = now.Add(time.Minute)
	if n.Valid(a) {
		t.Error("nonce valid two steps later")
	}
	// A nonce from the future is not accepted.
	now = testNow
	future := NewNonceSource(testSecret, time.Minute, func() time.Time { return testNow.Add(time.Minute) }).Nonce()
	if n.Valid(future) {
		t.Error("next step's nonce accepted")
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), a + "A", a[:42]} {
		if n.Valid(bad) {
			t.Errorf("Valid(%q)", bad)
		}
	}
	var nilSource *NonceSource
	if nilSource.Nonce() != "" || nilSource.Valid(a) {
		t.Error("nil NonceSource")
	}
	// Defaults and clamping.
	if NewNonceSource(testSecret, 0, nil).Step() != DefaultNonceStep {
		t.Error("default step")
	}
	if NewNonceSource(testSecret, time.Millisecond, nil).Step() != time.Second {
		t.Error("minimum step")
	}
	// Steps before the epoch floor correctly.
	pre := NewNonceSource(testSecret, time.Minute, func() time.Time { return time.Unix(-30, 0) })
	if pre.counter() != -1 {
		t.Errorf("counter before the epoch = %d", pre.counter())
	}
	// The secret is copied.
	s := append([]byte(nil), testSecret...)
	m := NewNonceSource(s, time.Minute, clock)
	b := m.Nonce()
	s[0] ^= 1
	if !m.Valid(b) {
		t.Error("NonceSource shares the caller's secret slice")
	}
}
