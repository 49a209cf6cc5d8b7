package mcpres

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestDNSRebindingAndCORS(t *testing.T) {
	f := newFixture(t, nil)
	u, _ := url.Parse(f.issuer)
	port := u.Port()

	// Bad Host: 403 with a JSON body, before authentication.
	for _, host := range []string{"evil.example.com", "evil.example.com:" + port, "127.0.0.1.evil.example.com:" + port} {
		resp, b := f.request(http.MethodPost, "/mcp", "alice-token", initializeBody, map[string]string{"Host": host})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), `"error":"forbidden"`) {
			t.Errorf("Host %s: %d %s", host, resp.StatusCode, b)
		}
	}
	// Loopback names on the resource's port are fine.
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "LOCALHOST:" + port} {
		resp, b := f.request(http.MethodPost, "/mcp", "alice-token", initializeBody, map[string]string{"Host": host})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: %d %s", host, resp.StatusCode, b)
		}
	}

	// Bad Origin: 403 without CORS headers.
	for _, origin := range []string{"https://evil.example.com", "null", "http://localhost.evil.example.com"} {
		resp, b := f.request(http.MethodPost, "/mcp", "alice-token", initializeBody, map[string]string{"Origin": origin})
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("Origin %s: %d %s %v", origin, resp.StatusCode, b, resp.Header)
		}
		resp, _ = f.request(http.MethodOptions, "/mcp", "", "", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("preflight Origin %s: %d", origin, resp.StatusCode)
		}
	}

	// Allowed origins: the issuer's own, and (resource on loopback) any
	// loopback origin such as MCP Inspector's.
	for _, origin := range []string{f.issuer, "http://localhost:6274", "http://127.0.0.1:9999"} {
		resp, b := f.request(http.MethodPost, "/mcp", "alice-token", initializeBody, map[string]string{"Origin": origin})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Origin %s: %d %s", origin, resp.StatusCode, b)
		}
		checkCORS(t, resp, origin)

		// 401 and 403 carry CORS headers too, so WWW-Authenticate is readable.
		resp, _ = f.request(http.MethodPost, "/mcp", "", initializeBody, map[string]string{"Origin": origin})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("401: %d", resp.StatusCode)
		}
		checkCORS(t, resp, origin)
		resp, _ = f.request(http.MethodPost, "/mcp", "alice-noscope-token",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fetch","arguments":{"id":"x"}}}`,
			map[string]string{"Origin": origin, "MCP-Protocol-Version": "2025-11-25"})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("403: %d", resp.StatusCode)
		}
		checkCORS(t, resp, origin)

		// Preflight: before authentication, no credentials needed.
		resp, b = f.request(http.MethodOptions, "/mcp", "", "", map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version"})
		if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
			t.Fatalf("preflight: %d %s", resp.StatusCode, b)
		}
		checkCORS(t, resp, origin)
		if got := resp.Header.Get("Access-Control-Allow-Methods"); got != "GET, POST, DELETE, OPTIONS" {
			t.Errorf("Allow-Methods %q", got)
		}
		if got := resp.Header.Get("Access-Control-Allow-Headers"); got != "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID, Mcp-Method, Mcp-Name, DPoP" {
			t.Errorf("Allow-Headers %q", got)
		}
	}
	// No Origin (not a browser): no CORS headers, still served.
	resp, _ := f.request(http.MethodPost, "/mcp", "alice-token", initializeBody, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no Origin: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func checkCORS(t *testing.T, resp *http.Response, origin string) {
	t.Helper()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
	}
	if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
		t.Errorf("no Vary: Origin: %v", resp.Header.Values("Vary"))
	}
	if got := resp.Header.Get("Access-Control-Expose-Headers"); got != "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version, DPoP-Nonce" {
		t.Errorf("Expose-Headers %q", got)
	}
	if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("Allow-Credentials set")
	}
}

// A production (non-loopback) deployment: loopback origins are not
// allowed unless listed; configured hosts and origins are.
func TestHostAndOriginPolicyProduction(t *testing.T) {
	st := openStore(t)
	srv, err := New(Config{
		Issuer:         "https://auth.example.com",
		AllowedHosts:   []string{"internal.example.net", "proxy.local:8080"},
		AllowedOrigins: []string{"https://inspector.example.com", "http://localhost:6274"},
	}, st, &fakeVerifier{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, origin string
		want         int
	}{
		{"auth.example.com", "", http.StatusUnauthorized},
		{"auth.example.com:443", "", http.StatusUnauthorized},
		{"AUTH.example.com.", "", http.StatusUnauthorized},
		{"auth.example.com:8443", "", http.StatusForbidden},
		{"localhost", "", http.StatusForbidden},
		{"127.0.0.1", "", http.StatusForbidden},
		{"internal.example.net:1234", "", http.StatusUnauthorized},
		{"proxy.local:8080", "", http.StatusUnauthorized},
		{"proxy.local:8081", "", http.StatusForbidden},
		{"", "", http.StatusForbidden},
		{"auth.example.com", "https://auth.example.com", http.StatusUnauthorized},
		{"auth.example.com", "https://auth.example.com:443", http.StatusUnauthorized},
		{"auth.example.com", "http://auth.example.com", http.StatusForbidden},
		{"auth.example.com", "https://inspector.example.com", http.StatusUnauthorized},
		{"auth.example.com", "http://localhost:6274", http.StatusUnauthorized},
		{"auth.example.com", "http://localhost:6275", http.StatusForbidden},
		{"auth.example.com", "http://127.0.0.1:6274", http.StatusForbidden},
		{"auth.example.com", "https://evil.example.com", http.StatusForbidden},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodPost, "https://auth.example.com/mcp", strings.NewReader(initializeBody))
		r.Host = tc.host
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("Host %q Origin %q: %d, want %d", tc.host, tc.origin, w.Code, tc.want)
		}
	}

	// "*" allows any origin and any host.
	open, err := New(Config{Issuer: "https://auth.example.com", AllowedOrigins: []string{"*"}, AllowedHosts: []string{"*"}}, st, &fakeVerifier{})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "https://elsewhere.example.org/mcp", strings.NewReader(initializeBody))
	r.Header.Set("Origin", "https://anything.example.org")
	w := httptest.NewRecorder()
	open.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || w.Header().Get("Access-Control-Allow-Origin") != "https://anything.example.org" {
		t.Errorf("open policy: %d %v", w.Code, w.Header())
	}
}

func TestSplitHostEntry(t *testing.T) {
	tests := []struct {
		in, name, port string
		ok             bool
	}{
		{"Example.COM", "example.com", "", true},
		{"example.com.:80", "example.com", "80", true},
		{"[::1]:8080", "::1", "8080", true},
		{"[::1]", "::1", "", true},
		{"::1", "", "", false},
		{"example.com:http", "", "", false},
		{"a/b", "", "", false},
		{"user@host", "", "", false},
		{"", "", "", false},
		{":80", "", "", false},
	}
	for _, tc := range tests {
		name, port, err := splitHostEntry(tc.in)
		if (err == nil) != tc.ok || name != tc.name || port != tc.port {
			t.Errorf("splitHostEntry(%q) = %q, %q, %v", tc.in, name, port, err)
		}
	}
}
