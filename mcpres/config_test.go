package mcpres

import (
	"strings"
	"testing"
)

func TestNewValidates(t *testing.T) {
	st := openStore(t)
	v := &fakeVerifier{}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"defaults", Config{Issuer: "https://auth.example.com"}, ""},
		{"loopback http", Config{Issuer: "http://127.0.0.1:8080"}, ""},
		{"issuer with path", Config{Issuer: "https://example.com/t1"}, ""},
		{"no issuer", Config{}, "issuer: required"},
		{"relative issuer", Config{Issuer: "/auth"}, "not an absolute URL"},
		{"http issuer", Config{Issuer: "http://auth.example.com"}, "http on a non-loopback host"},
		{"issuer slash", Config{Issuer: "https://auth.example.com/"}, "must not end with a slash"},
		{"issuer query", Config{Issuer: "https://auth.example.com?x=1"}, "query"},
		{"resource slash", Config{Issuer: "https://a.example.com", Resource: "https://a.example.com/mcp/"}, "must not end with a slash"},
		{"resource root", Config{Issuer: "https://a.example.com", Resource: "https://b.example.com"}, "needs a path"},
		{"resource fragment", Config{Issuer: "https://a.example.com", Resource: "https://a.example.com/mcp#x"}, "fragment"},
		{"resource braces", Config{Issuer: "https://a.example.com", Resource: "https://a.example.com/{x}"}, "plain"},
		{"resource host upper case", Config{Issuer: "https://a.example.com", Resource: "https://MCP.example.com:443/mcp"}, `as "https://mcp.example.com/mcp"`},
		{"resource dot segment", Config{Issuer: "https://a.example.com", Resource: "https://a.example.com/x/../mcp"}, `as "https://a.example.com/mcp"`},
		{"scope missing", Config{Issuer: "https://a.example.com", ScopesSupported: []string{"other"}}, `must contain "docs:read"`},
		{"bad scope", Config{Issuer: "https://a.example.com", ScopesSupported: []string{"docs:read", `a"b`}}, "not a valid scope"},
		{"bad host", Config{Issuer: "https://a.example.com", AllowedHosts: []string{"https://x"}}, "allowed_hosts"},
		{"bad origin", Config{Issuer: "https://a.example.com", AllowedOrigins: []string{"example.com"}}, "allowed_origins"},
		{"origin with path", Config{Issuer: "https://a.example.com", AllowedOrigins: []string{"https://x.example.com/app"}}, "allowed_origins"},
		{"negative rate", Config{Issuer: "https://a.example.com", RateLimit: &RateLimit{PerMinute: -1}}, "rate_limit"},
		{"search limit", Config{Issuer: "https://a.example.com", SearchLimit: 1000}, "search_limit"},
		{"body limit", Config{Issuer: "https://a.example.com", MaxBodyBytes: -1}, "max_body_bytes"},
		{"document base", Config{Issuer: "https://a.example.com", DocumentBaseURL: "https://docs.example.com"}, ""},
		{"bad document base", Config{Issuer: "https://a.example.com", DocumentBaseURL: "http://docs.example.com"}, "document_base_url"},
		{"require DPoP without DPoP", Config{Issuer: "https://a.example.com", RequireDPoP: true}, "require_dpop needs"},
	}
	for _, tc := range tests {
		s, err := New(tc.cfg, st, v)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		case tc.want == "" && s.cfg.Resource != tc.cfg.Issuer+"/mcp":
			t.Errorf("%s: resource %q", tc.name, s.cfg.Resource)
		}
	}
	if _, err := New(Config{Issuer: "https://a.example.com"}, nil, v); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := New(Config{Issuer: "https://a.example.com"}, st, nil); err == nil {
		t.Error("nil verifier accepted")
	}
	// Several problems are reported at once.
	_, err := New(Config{Issuer: "http://x.example.com", SearchLimit: -1, MaxBodyBytes: -1}, st, v)
	if err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Errorf("joined errors: %v", err)
	}
}

func TestChallengeQuoting(t *testing.T) {
	c := challenge{scheme: "Bearer", params: []authParam{{"error_description", "bad \"quote\" and \\ and \n"}}}
	if got, want := c.String(), `Bearer error_description="bad 'quote' and ? and ?"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
