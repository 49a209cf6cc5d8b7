package mcpres

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// checkChallenge parses WWW-Authenticate and compares it with want
// (parameter → value), requiring exactly one Bearer challenge.
func checkChallenge(t *testing.T, resp *http.Response, want map[string]string) {
	t.Helper()
	vals := resp.Header.Values("WWW-Authenticate")
	if len(vals) != 1 {
		t.Fatalf("WWW-Authenticate: %q, want one header", vals)
	}
	chs, err := oauthex.ParseWWWAuthenticate(vals)
	if err != nil {
		t.Fatalf("parse WWW-Authenticate %q: %v", vals[0], err)
	}
	if len(chs) != 1 || chs[0].Scheme != "bearer" {
		t.Fatalf("challenges %+v, want one Bearer", chs)
	}
	if len(chs[0].Params) != len(want) {
		t.Errorf("challenge params %q, want %q", chs[0].Params, want)
	}
	for k, v := range want {
		if got := chs[0].Params[k]; got != v {
			t.Errorf("challenge %s = %q, want %q (header %q)", k, got, v, vals[0])
		}
	}
	if !strings.HasPrefix(vals[0], "Bearer ") {
		t.Errorf("challenge %q does not start with the Bearer scheme", vals[0])
	}
}

func TestUnauthorized(t *testing.T) {
	f := newFixture(t, nil)
	prm := f.issuer + "/.well-known/oauth-protected-resource/mcp"
	invalid := func(desc string) map[string]string {
		return map[string]string{"resource_metadata": prm, "scope": "docs:read", "error": "invalid_token", "error_description": desc}
	}
	tests := []struct {
		name string
		auth string
		want map[string]string
	}{
		{"no token", "", map[string]string{"resource_metadata": prm, "scope": "docs:read"}},
		{"other scheme", "Basic YWxpY2U6cHc=", map[string]string{"resource_metadata": prm, "scope": "docs:read"}},
		{"DPoP scheme not supported yet", "DPoP alice-token", map[string]string{"resource_metadata": prm, "scope": "docs:read"}},
		{"unknown", "Bearer nope", invalid("the access token is invalid, expired or revoked")},
		{"revoked", "Bearer revoked-token", invalid("the access token is invalid, expired or revoked")},
		{"expired", "Bearer expired-token", invalid("the access token has expired")},
		{"no expiry", "Bearer noexpiry-token", invalid("the access token has expired")},
		{"wrong audience", "Bearer wrong-aud-token", invalid("the access token was not issued for this resource (" + f.resource + ")")},
		{"audience with slash", "Bearer slash-aud-token", invalid("the access token was not issued for this resource (" + f.resource + ")")},
		{"no subject", "Bearer no-subject-token", invalid("the access token does not act for a user")},
		{"DPoP-bound as bearer", "Bearer dpop-bound-token", invalid("the access token is bound to a DPoP key and cannot be used as a bearer token")},
		{"empty bearer", "Bearer", invalid("the bearer token is empty or malformed")},
		{"malformed bearer", "Bearer a,b", invalid("the bearer token is empty or malformed")},
		{"two tokens", "Bearer a b", invalid("the bearer token is empty or malformed")},
	}
	for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		for _, tc := range tests {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				body := ""
				if method == http.MethodPost {
					body = initializeBody
				}
				hdr := map[string]string{}
				if tc.auth != "" {
					hdr["Authorization"] = tc.auth
				}
				resp, b := f.request(method, "/mcp", "", body, hdr)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401; body %s", resp.StatusCode, b)
				}
				checkChallenge(t, resp, tc.want)
				var e struct {
					Error       string `json:"error"`
					Description string `json:"error_description"`
				}
				if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
					t.Errorf("body %q is not a JSON error: %v", b, err)
				}
				if got := resp.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control %q", got)
				}
				if strings.Contains(string(b), "alice-token") {
					t.Errorf("body echoes the token: %s", b)
				}
			})
		}
	}

	// The exact header text of the two basic forms.
	resp, _ := f.request(http.MethodPost, "/mcp", "", initializeBody, nil)
	if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer resource_metadata="`+prm+`", scope="docs:read"`; got != want {
		t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
	}
	resp, _ = f.request(http.MethodGet, "/mcp", "expired-token", "", nil)
	if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer resource_metadata="`+prm+`", scope="docs:read", error="invalid_token", error_description="the access token has expired"`; got != want {
		t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
	}
	if strings.Contains(f.logs.String(), "alice-token") || strings.Contains(f.logs.String(), "expired-token") {
		t.Errorf("a token reached the logs:\n%s", f.logs)
	}
}

// A GET or DELETE with a valid token gets what go-sdk's stateless mode
// answers (405), never 401: ChatGPT's idle GET must not loop.
func TestValidTokenGETAndDELETE(t *testing.T) {
	f := newFixture(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		resp, b := f.request(method, "/mcp", "alice-token", "", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405; body %s", method, resp.StatusCode, b)
		}
		if resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: unexpected challenge %q", method, resp.Header.Get("WWW-Authenticate"))
		}
	}
	resp, b := f.request(http.MethodPost, "/mcp", "alice-token", initializeBody, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST initialize: %d %s", resp.StatusCode, b)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("initialize Content-Type %q, want application/json", got)
	}
	if resp.Header.Get("Mcp-Session-Id") != "" {
		t.Errorf("stateless server set Mcp-Session-Id %q", resp.Header.Get("Mcp-Session-Id"))
	}
}

// Tokens in the query string are refused with 400 invalid_request, with
// or without a header token.
func TestQueryStringTokenRefused(t *testing.T) {
	f := newFixture(t, nil)
	prm := f.srv.ResourceMetadataURL()
	for _, token := range []string{"", "alice-token"} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			body := ""
			if method == http.MethodPost {
				body = initializeBody
			}
			resp, b := f.request(method, "/mcp?access_token=alice-token", token, body, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s header token %q: status %d, want 400; %s", method, token, resp.StatusCode, b)
			}
			checkChallenge(t, resp, map[string]string{"resource_metadata": prm, "scope": "docs:read", "error": "invalid_request",
				"error_description": "access tokens are accepted only in the Authorization header, not in the query string"})
		}
	}
	// Two Authorization headers.
	req, _ := http.NewRequest(http.MethodPost, f.resource, strings.NewReader(initializeBody))
	req.Header.Add("Authorization", "Bearer alice-token")
	req.Header.Add("Authorization", "Bearer bob-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("two Authorization headers: status %d, want 400", resp.StatusCode)
	}
}

// A verifier that cannot decide yields 503 with a generic body, logged at
// Error.
func TestVerifierFailure(t *testing.T) {
	f := newFixture(t, nil)
	resp, b := f.request(http.MethodPost, "/mcp", "broken-token", initializeBody, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503; %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "database") || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("503 leaks details or challenges: %s %q", b, resp.Header.Get("WWW-Authenticate"))
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "database is locked") {
		t.Errorf("verifier failure not logged at Error:\n%s", logs)
	}
	if strings.Contains(logs, "broken-token") {
		t.Errorf("token in logs:\n%s", logs)
	}
}

// A tools/call of a tool whose scope the token lacks is a 403 step-up
// challenge; the token sees no tools at all.
func TestScopeGating(t *testing.T) {
	f := newFixture(t, nil)
	prm := f.srv.ResourceMetadataURL()
	for _, tool := range []string{"search", "fetch"} {
		resp, _ := f.rpc("alice-noscope-token", "tools/call", map[string]any{"name": tool, "arguments": map[string]any{"query": "x", "id": "y"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: status %d, want 403", tool, resp.StatusCode)
		}
		checkChallenge(t, resp, map[string]string{"resource_metadata": prm, "scope": "docs:read", "error": "insufficient_scope",
			"error_description": "the " + tool + " tool needs the scope docs:read"})
	}
	// A batch (2025-03-26) with one forbidden call is refused as a whole.
	batch := `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{"query":"x"}}}]`
	resp, _ := f.request(http.MethodPost, "/mcp", "alice-noscope-token", batch, map[string]string{"MCP-Protocol-Version": "2025-03-26"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("batch: status %d, want 403", resp.StatusCode)
	}

	for _, version := range []string{"", "2025-11-25", "2025-03-26"} {
		cs := f.connect("alice-noscope-token", version)
		res, err := cs.ListTools(t.Context(), nil)
		if err != nil {
			t.Fatalf("ListTools: %v", err)
		}
		if len(res.Tools) != 0 {
			t.Errorf("version %q: a token without docs:read sees tools %v", version, res.Tools)
		}
		if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"query": "wombat"}}); err == nil {
			t.Errorf("version %q: CallTool search without docs:read succeeded", version)
		}
	}
	// ping and tools/list work without the scope.
	if resp, r := f.rpc("alice-noscope-token", "ping", nil); resp.StatusCode != http.StatusOK || r.Error != nil {
		t.Errorf("ping: %d %+v", resp.StatusCode, r)
	}
}

// The body the middleware peeks at is bounded.
func TestBodyTooLarge(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 512 })
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"` + strings.Repeat("a", 1000) + `"}}}`
	resp, b := f.request(http.MethodPost, "/mcp", "alice-token", big, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413; %s", resp.StatusCode, b)
	}
}

func TestExtractCredentials(t *testing.T) {
	tests := []struct {
		header   []string
		wantTok  string
		wantCode string
	}{
		{nil, "", ""},
		{[]string{"Bearer abc.DEF-_~+/=="}, "abc.DEF-_~+/==", ""},
		{[]string{"bearer   abc"}, "abc", ""},
		{[]string{"BEARER abc"}, "abc", ""},
		{[]string{"Basic abc"}, "", ""},
		{[]string{"Bearer"}, "", errInvalidToken},
		{[]string{"Bearer =abc"}, "", errInvalidToken},
		{[]string{"Bearer ab=c"}, "", errInvalidToken},
		{[]string{"Bearer " + strings.Repeat("a", maxTokenLength+1)}, "", errInvalidToken},
		{[]string{"Bearer a", "Bearer b"}, "", errInvalidRequest},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest(http.MethodGet, "http://x/mcp", nil)
		for _, h := range tc.header {
			r.Header.Add("Authorization", h)
		}
		c, aerr := extractCredentials(r, false)
		switch {
		case tc.wantCode != "":
			if aerr == nil || aerr.code != tc.wantCode {
				t.Errorf("%q: error %+v, want %s", tc.header, aerr, tc.wantCode)
			}
		case aerr != nil:
			t.Errorf("%q: unexpected error %+v", tc.header, aerr)
		case tc.wantTok == "" && c != nil:
			t.Errorf("%q: credentials %+v, want none", tc.header, c)
		case tc.wantTok != "" && (c == nil || c.token != tc.wantTok || c.scheme != "bearer"):
			t.Errorf("%q: credentials %+v, want bearer %q", tc.header, c, tc.wantTok)
		}
	}
}
