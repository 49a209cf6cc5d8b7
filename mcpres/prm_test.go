package mcpres

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestProtectedResourceMetadata(t *testing.T) {
	f := newFixture(t, nil)
	want := map[string]any{
		"resource":                 f.issuer + "/mcp",
		"authorization_servers":    []any{f.issuer},
		"scopes_supported":         []any{"docs:read"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "mcpauthz documents",
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		resp, b := f.request(http.MethodGet, path, "", "", map[string]string{"Origin": "https://evil.example.com"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", path, got)
		}
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: Allow-Credentials set", path)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", path, got, want)
		}
		if strings.Contains(string(b), "null") {
			t.Errorf("%s: null in %s", path, b)
		}
		if strings.HasSuffix(got["resource"].(string), "/") {
			t.Errorf("resource ends with a slash")
		}

		// Preflight.
		resp, _ = f.request(http.MethodOptions, path, "", "", map[string]string{
			"Origin": "http://localhost:6274", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "mcp-protocol-version"})
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "MCP-Protocol-Version") {
			t.Errorf("%s preflight: %d %v", path, resp.StatusCode, resp.Header)
		}
		// HEAD: headers only.
		resp, b = f.request(http.MethodHead, path, "", "", nil)
		if resp.StatusCode != http.StatusOK || len(b) != 0 {
			t.Errorf("%s HEAD: %d %q", path, resp.StatusCode, b)
		}
		resp, _ = f.request(http.MethodPost, path, "", "{}", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s POST: %d", path, resp.StatusCode)
		}
	}
	// The same document as the accessor.
	m := f.srv.ProtectedResourceMetadata()
	if m.Resource != f.resource || !reflect.DeepEqual(m.AuthorizationServers, []string{f.issuer}) || m.ResourceName != "mcpauthz documents" {
		t.Errorf("ProtectedResourceMetadata() = %+v", m)
	}
	m.ScopesSupported[0] = "mutated"
	if f.srv.ProtectedResourceMetadata().ScopesSupported[0] != "docs:read" {
		t.Errorf("ProtectedResourceMetadata returns shared slices")
	}
	if got := f.srv.ResourceMetadataURL(); got != f.issuer+"/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("ResourceMetadataURL %q", got)
	}

	// Every other path under the prefix is 404, never 5xx.
	for _, path := range []string{"/.well-known/oauth-protected-resource/other", "/.well-known/oauth-protected-resource/mcp/x",
		"/.well-known/oauth-protected-resource/", "/.well-known/oauth-protected-resource/mcp/"} {
		resp, _ := f.request(http.MethodGet, path, "", "", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, resp.StatusCode)
		}
	}
}

// A resource with a longer path gets its metadata at the matching
// path-suffixed URL.
func TestProtectedResourceMetadataCustomPath(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Resource = c.Issuer + "/tenant/mcp"
		c.ResourceName = "Tenant docs"
		c.ScopesSupported = []string{"docs:read", "docs:write"}
	})
	resp, b := f.request(http.MethodGet, "/.well-known/oauth-protected-resource/tenant/mcp", "", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := `{"resource":"` + f.issuer + `/tenant/mcp","authorization_servers":["` + f.issuer + `"],"scopes_supported":["docs:read","docs:write"],"bearer_methods_supported":["header"],"resource_name":"Tenant docs"}` + "\n"
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if resp, _ := f.request(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", "", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("old path: %d", resp.StatusCode)
	}
	// The endpoint moved with it; the challenge names the new metadata URL.
	resp, _ = f.request(http.MethodPost, "/tenant/mcp", "", initializeBody, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"),
		`resource_metadata="`+f.issuer+`/.well-known/oauth-protected-resource/tenant/mcp"`) ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="docs:read docs:write"`) {
		t.Errorf("challenge %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
