package authz

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestValidateRedirectURI(t *testing.T) {
	long := "https://a.example/" + strings.Repeat("x", maxRedirectURILen)
	tests := []struct {
		name    string
		uri     string
		allowed []string
		ok      bool
	}{
		// What real clients register.
		{"claude", "https://claude.ai/api/mcp/auth_callback", nil, true},
		{"claude.com", "https://claude.com/api/mcp/auth_callback", nil, true},
		{"chatgpt legacy", "https://chatgpt.com/connector_platform_oauth_redirect", nil, true},
		{"chatgpt per connector", "https://chatgpt.com/connector/oauth/abc123", nil, true},
		{"vscode loopback", "http://127.0.0.1:33418/", nil, true},
		{"vscode loopback no port", "http://127.0.0.1/", nil, true},
		{"vscode web", "https://vscode.dev/redirect", nil, true},
		{"cursor private scheme", "cursor://anysphere.cursor-mcp/oauth/callback", nil, true},
		{"cursor web", "https://www.cursor.com/agents/mcp/oauth/callback", nil, true},
		{"cursor localhost", "http://localhost:8787/callback", nil, true},
		{"inspector", "http://localhost:6274/oauth/callback", nil, true},
		{"inspector cli", "http://127.0.0.1:6276/oauth/callback", nil, true},
		{"ipv6 loopback", "http://[::1]:8080/cb", nil, true},
		{"ipv6 loopback no port", "http://[::1]/cb", nil, true},
		{"https loopback", "https://localhost:8443/cb", nil, true},
		{"query kept", "https://a.example/cb?tenant=1", nil, true},
		{"reverse domain scheme", "com.example.app:/oauth2redirect/example-provider", nil, true},
		{"opaque private scheme", "myapp:callback", nil, true},
		{"https with port", "https://a.example:8443/cb", nil, true},
		{"max length", "https://a.example/" + strings.Repeat("x", maxRedirectURILen-len("https://a.example/")), nil, true},

		// Hostile or malformed.
		{"empty", "", nil, false},
		{"javascript", "javascript:alert(1)", nil, false},
		{"javascript upper", "JAVASCRIPT:alert(1)", nil, false},
		{"javascript mixed", "JavaScript://%0aalert(1)", nil, false},
		{"javascript slashes", "javascript://a.example/%0Aalert(1)", nil, false},
		{"vbscript", "vbscript:msgbox(1)", nil, false},
		{"data", "data:text/html,<script>alert(1)</script>", nil, false},
		{"data base64", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", nil, false},
		{"file", "file:///etc/passwd", nil, false},
		{"blob", "blob:https://a.example/uuid", nil, false},
		{"about", "about:blank", nil, false},
		{"filesystem", "filesystem:https://a.example/temporary/x", nil, false},
		{"http non-loopback", "http://evil.com/cb", nil, false},
		{"http example", "http://a.example/cb", nil, false},
		{"fragment", "https://a.com/cb#frag", nil, false},
		{"empty fragment", "https://a.com/cb#", nil, false},
		{"user info", "https://user@a.com/cb", nil, false},
		{"user and password", "https://user:pw@a.com/cb", nil, false},
		{"loopback user info", "http://127.0.0.1:80@evil.com/cb", nil, false},
		{"loopback prefix host", "http://127.0.0.1.evil.com/cb", nil, false},
		{"localhost prefix host", "http://localhost.evil.com/", nil, false},
		{"localhost trailing dot", "http://localhost./cb", nil, false},
		{"decimal ip loopback", "http://2130706433/cb", nil, false},
		{"short ip loopback", "http://127.1/cb", nil, false},
		{"hex ip", "http://0x7f.0.0.1/cb", nil, false},
		{"percent host", "http://local%68ost/cb", nil, false},
		{"ipv6 zone", "http://[::1%25eth0]/cb", nil, false},
		{"protocol relative", "//evil.com", nil, false},
		{"protocol relative path", "//evil.com/cb", nil, false},
		{"relative path", "/cb", nil, false},
		{"relative", "cb", nil, false},
		{"https without slashes", "https:evil.com", nil, false},
		{"https empty host", "https:///cb", nil, false},
		{"https only port", "https://:443/cb", nil, false},
		{"bad port", "https://a.example:99999/cb", nil, false},
		{"port zero", "http://127.0.0.1:0/cb", nil, false},
		{"leading space", " https://a.example/cb", nil, false},
		{"trailing space", "https://a.example/cb ", nil, false},
		{"inner space", "https://a.example/c b", nil, false},
		{"tab", "https://a.example/\tcb", nil, false},
		{"newline", "https://a.example/cb\n", nil, false},
		{"nul", "https://a.example/cb\x00", nil, false},
		{"del", "https://a.example/cb\x7f", nil, false},
		{"backslash", `https://a.example\@evil.com/cb`, nil, false},
		{"backslash loopback", `http://127.0.0.1\@evil.com/cb`, nil, false},
		{"non-ascii", "https://exämple.com/cb", nil, false},
		{"non-ascii path", "https://a.example/cällback", nil, false},
		{"punycode fine", "https://xn--exmple-cua.com/cb", nil, true},
		{"empty label", "https://a..example/cb", nil, false},
		{"too long", long, nil, false},
		{"scheme only", "https:", nil, false},
		{"bad scheme", "1http://a.example/cb", nil, false},

		// The operator's allowlist.
		{"allowlist exact", "https://claude.ai/api/mcp/auth_callback", []string{"claude.ai", "chatgpt.com"}, true},
		{"allowlist case", "https://Claude.AI/api/mcp/auth_callback", []string{"claude.ai"}, true},
		{"allowlist wildcard", "https://insiders.vscode.dev/redirect", []string{"*.vscode.dev"}, true},
		{"allowlist deep wildcard", "https://a.b.example.com/cb", []string{"*.example.com"}, true},
		{"allowlist wildcard not apex", "https://example.com/cb", []string{"*.example.com"}, false},
		{"allowlist wildcard suffix trick", "https://evilexample.com/cb", []string{"*.example.com"}, false},
		{"allowlist miss", "https://evil.com/cb", []string{"claude.ai"}, false},
		{"allowlist suffix trick", "https://claude.ai.evil.com/cb", []string{"claude.ai"}, false},
		{"allowlist ignores loopback", "http://127.0.0.1:33418/", []string{"claude.ai"}, true},
		{"allowlist ignores https loopback", "https://localhost/cb", []string{"claude.ai"}, true},
		{"allowlist ignores private scheme", "cursor://anysphere.cursor-mcp/oauth/callback", []string{"claude.ai"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRedirectURI(tt.uri, tt.allowed)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateRedirectURI(%q) = %v, want nil", tt.uri, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateRedirectURI(%q) = nil, want invalid_redirect_uri", tt.uri)
			}
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Code != codeInvalidRedirectURI || e.Status != 400 {
				t.Fatalf("ValidateRedirectURI(%q) = %#v, want *Error invalid_redirect_uri, status 400", tt.uri, err)
			}
			if tt.uri != "" && !strings.Contains(e.Description, "redirect URI") {
				t.Errorf("description %q does not name the URI", e.Description)
			}
			if len(e.Description) > 400 {
				t.Errorf("description is %d bytes long", len(e.Description))
			}
		})
	}
}

func TestMatchRedirectURI(t *testing.T) {
	tests := []struct {
		name       string
		registered []string
		requested  string
		want       bool
	}{
		{"exact https", []string{"https://claude.ai/api/mcp/auth_callback"}, "https://claude.ai/api/mcp/auth_callback", true},
		{"second of several", []string{"https://a.example/cb", "cursor://anysphere.cursor-mcp/oauth/callback"}, "cursor://anysphere.cursor-mcp/oauth/callback", true},
		{"https trailing slash", []string{"https://a.example/cb"}, "https://a.example/cb/", false},
		{"https other port", []string{"https://a.example/cb"}, "https://a.example:8443/cb", false},
		{"https case", []string{"https://a.example/cb"}, "https://a.example/CB", false},
		{"https host case", []string{"https://a.example/cb"}, "https://A.example/cb", false},
		{"https extra query", []string{"https://a.example/cb"}, "https://a.example/cb?x=1", false},
		{"https fragment", []string{"https://a.example/cb"}, "https://a.example/cb#x", false},
		{"https loopback port not ignored", []string{"https://localhost/cb"}, "https://localhost:8443/cb", false},
		{"private scheme port not ignored", []string{"cursor://anysphere.cursor-mcp/oauth/callback"}, "cursor://anysphere.cursor-mcp:1/oauth/callback", false},
		{"empty requested", []string{""}, "", false},
		{"registered javascript never matches", []string{"javascript:alert(1)"}, "javascript:alert(1)", false},
		{"registered data never matches", []string{"DATA:text/html,x"}, "DATA:text/html,x", false},
		{"registered fragment never matches", []string{"https://a.example/cb#x"}, "https://a.example/cb#x", false},
		{"registered space never matches", []string{"https://a.example/c b"}, "https://a.example/c b", false},
		{"registered relative never matches", []string{"/cb"}, "/cb", false},
		{"nothing registered", nil, "https://a.example/cb", false},

		// RFC 8252 §7.3: any port on loopback.
		{"portless registered", []string{"http://127.0.0.1/callback"}, "http://127.0.0.1:53211/callback", true},
		{"portless localhost", []string{"http://localhost/callback"}, "http://localhost:3118/callback", true},
		{"ported registered portless requested", []string{"http://127.0.0.1:33418/"}, "http://127.0.0.1/", true},
		{"vscode port change", []string{"http://127.0.0.1:33418/"}, "http://127.0.0.1:33419/", true},
		{"ipv6", []string{"http://[::1]/cb"}, "http://[::1]:5000/cb", true},
		{"ipv6 ported", []string{"http://[::1]:8080/cb"}, "http://[::1]:9090/cb", true},
		{"empty port", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:/cb", true},
		{"loopback with query", []string{"http://127.0.0.1/cb?a=1"}, "http://127.0.0.1:5/cb?a=1", true},
		{"loopback no path", []string{"http://127.0.0.1"}, "http://127.0.0.1:8000", true},
		{"localhost vs 127", []string{"http://localhost/callback"}, "http://127.0.0.1:3118/callback", false},
		{"127 vs localhost", []string{"http://127.0.0.1/callback"}, "http://localhost:3118/callback", false},
		{"127 vs ::1", []string{"http://127.0.0.1/cb"}, "http://[::1]:5/cb", false},
		{"loopback path differs", []string{"http://127.0.0.1/callback"}, "http://127.0.0.1:5/other", false},
		{"loopback trailing slash", []string{"http://127.0.0.1/callback"}, "http://127.0.0.1:5/callback/", false},
		{"loopback query differs", []string{"http://127.0.0.1/cb?a=1"}, "http://127.0.0.1:5/cb?a=2", false},
		{"loopback query added", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:5/cb?a=1", false},
		{"loopback https vs http", []string{"https://127.0.0.1/cb"}, "http://127.0.0.1:5/cb", false},
		{"loopback http vs https", []string{"http://127.0.0.1/cb"}, "https://127.0.0.1:5/cb", false},
		{"loopback fragment", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:5/cb#x", false},
		{"loopback user info", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:5@evil.com/cb", false},
		{"loopback user info before", []string{"http://127.0.0.1/cb"}, "http://x@127.0.0.1:5/cb", false},
		{"loopback evil suffix", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1.evil.com:5/cb", false},
		{"localhost evil suffix", []string{"http://localhost/"}, "http://localhost.evil.com/", false},
		{"loopback backslash", []string{"http://127.0.0.1/cb"}, `http://127.0.0.1:5\@evil.com/cb`, false},
		{"loopback bad port", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:abc/cb", false},
		{"loopback port out of range", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:70000/cb", false},
		{"loopback two ports", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:5:6/cb", false},
		{"loopback whitespace", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:5/cb ", false},
		{"non-loopback http port", []string{"http://a.example/cb"}, "http://a.example:5/cb", false},
		{"upper scheme exact only", []string{"HTTP://127.0.0.1/cb"}, "HTTP://127.0.0.1:5/cb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchRedirectURI(tt.registered, tt.requested); got != tt.want {
				t.Errorf("MatchRedirectURI(%q, %q) = %v, want %v", tt.registered, tt.requested, got, tt.want)
			}
		})
	}
}

func TestRedirectHost(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"https://claude.ai/api/mcp/auth_callback", "claude.ai"},
		{"https://Chatgpt.COM:443/connector_platform_oauth_redirect", "chatgpt.com"},
		{"http://127.0.0.1:33418/", "127.0.0.1"},
		{"http://localhost:6274/oauth/callback", "localhost"},
		{"http://[::1]:8080/cb", "[::1]"},
		{"cursor://anysphere.cursor-mcp/oauth/callback", "cursor://anysphere.cursor-mcp"},
		{"com.example.app:/oauth2redirect", "com.example.app:"},
		{"%", ""},
		{"/relative", ""},
	}
	for _, tt := range tests {
		if got := redirectHost(tt.uri); got != tt.want {
			t.Errorf("redirectHost(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}

// redirectSeeds are URIs, good and bad, for the fuzz targets.
var redirectSeeds = []string{
	"https://claude.ai/api/mcp/auth_callback",
	"https://chatgpt.com/connector_platform_oauth_redirect",
	"http://127.0.0.1:33418/",
	"http://127.0.0.1/callback",
	"http://localhost:6274/oauth/callback",
	"http://[::1]:8080/cb",
	"cursor://anysphere.cursor-mcp/oauth/callback",
	"com.example.app:/oauth2redirect",
	"javascript:alert(1)",
	"JAVASCRIPT:alert(1)",
	"data:text/html,<script>alert(1)</script>",
	"file:///etc/passwd",
	"http://evil.com/cb",
	"https://a.com/cb#frag",
	"https://user@a.com/cb",
	"http://127.0.0.1.evil.com/cb",
	"http://localhost.evil.com/",
	"http://127.0.0.1:80@evil.com/",
	`http://127.0.0.1\@evil.com/`,
	"//evil.com",
	"https:evil.com",
	" https://a.example/cb",
	"",
}

// FuzzValidateRedirectURI checks that ValidateRedirectURI never panics and
// that whatever it accepts is safe to redirect to.
func FuzzValidateRedirectURI(f *testing.F) {
	for _, s := range redirectSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := ValidateRedirectURI(raw, nil)
		if err != nil {
			if e, ok := errors.AsType[*Error](err); !ok || e.Code != codeInvalidRedirectURI {
				t.Fatalf("ValidateRedirectURI(%q) = %v, not an invalid_redirect_uri *Error", raw, err)
			}
			return
		}
		checkSafeRedirectURI(t, raw)
		if redirectHost(raw) == "" {
			t.Errorf("redirectHost(%q) is empty for an accepted URI", raw)
		}
		if !MatchRedirectURI([]string{raw}, raw) {
			t.Errorf("accepted URI %q does not match itself", raw)
		}
	})
}

// checkSafeRedirectURI fails t unless raw, an accepted redirect URI, is
// safe: absolute, no dangerous scheme, fragment or user info, http only on
// loopback.
func checkSafeRedirectURI(t *testing.T, raw string) {
	t.Helper()
	lower := strings.ToLower(raw)
	for _, s := range []string{"javascript:", "vbscript:", "data:", "file:", "blob:", "about:"} {
		if strings.HasPrefix(lower, s) {
			t.Fatalf("accepted %q", raw)
		}
	}
	if strings.ContainsAny(raw, "#\\ \t\r\n") || len(raw) > maxRedirectURILen {
		t.Fatalf("accepted %q", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.User != nil || u.Fragment != "" {
		t.Fatalf("accepted %q (parse: %v)", raw, err)
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		t.Fatalf("accepted %q without a host", raw)
	}
	if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
		t.Fatalf("accepted http on non-loopback %q", raw)
	}
}

// checkMatchable fails t if raw, a URI MatchRedirectURI accepted, has a
// refused scheme, a fragment or unsafe characters.
func checkMatchable(t *testing.T, raw string) {
	t.Helper()
	lower := strings.ToLower(raw)
	for _, s := range []string{"javascript:", "vbscript:", "data:", "file:", "blob:", "about:"} {
		if strings.HasPrefix(lower, s) {
			t.Fatalf("matched %q", raw)
		}
	}
	if strings.ContainsAny(raw, "#\\ \t\r\n") {
		t.Fatalf("matched %q", raw)
	}
}

// FuzzMatchRedirectURI checks that MatchRedirectURI never panics, is
// symmetric for one registered URI, and never lets a requested URI reach
// another host or scheme than a registered one.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, r := range redirectSeeds {
		f.Add(r, r)
	}
	f.Add("http://127.0.0.1/callback", "http://127.0.0.1:53211/callback")
	f.Add("http://[::1]/cb", "http://[::1]:1/cb")
	f.Add("http://localhost/cb", "http://127.0.0.1:5/cb")
	f.Add("http://127.0.0.1/cb", "http://127.0.0.1:5@evil.com/cb")
	f.Add("http://127.0.0.1/cb", `http://127.0.0.1:5\@evil.com/cb`)
	f.Fuzz(func(t *testing.T, registered, requested string) {
		got := MatchRedirectURI([]string{registered}, requested)
		if got != MatchRedirectURI([]string{requested}, registered) {
			t.Fatalf("MatchRedirectURI is not symmetric for %q, %q", registered, requested)
		}
		if got {
			checkMatchable(t, requested)
		}
		if !got || registered == requested {
			return
		}
		// A match that is not exact must be a loopback port difference.
		ru, err1 := url.Parse(registered)
		qu, err2 := url.Parse(requested)
		if err1 != nil || err2 != nil {
			t.Fatalf("%q matched %q but they do not parse: %v, %v", registered, requested, err1, err2)
		}
		if qu.Scheme != "http" || ru.Scheme != "http" || qu.Hostname() != ru.Hostname() || !IsLoopbackHost(qu.Hostname()) {
			t.Fatalf("%q matched %q across scheme or host", registered, requested)
		}
		if qu.User != nil || qu.Fragment != "" || strings.Contains(requested, "#") || qu.Path != ru.Path || qu.RawQuery != ru.RawQuery {
			t.Fatalf("%q matched %q with a different path, query, fragment or user", registered, requested)
		}
		if err := ValidateRedirectURI(registered, nil); err == nil {
			checkSafeRedirectURI(t, requested)
		}
	})
}
