package authz

import (
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauthz/mcpauthz/store"
)

func TestCheckClientIDURL(t *testing.T) {
	tests := []struct {
		id            string
		allowLoopback bool
		want          string // "" for a valid URL, else part of the reason
	}{
		{"https://chatgpt.com/oauth/client.json", false, ""},
		{"https://claude.ai/oauth/claude-code-client-metadata", false, ""},
		{"https://app.example:8443/c?v=1", false, ""},
		{"http://127.0.0.1:8080/client.json", true, ""},
		{"http://localhost:8080/client.json", true, ""},
		{"http://127.0.0.1:8080/client.json", false, "must use https"},
		{"http://app.example/client.json", true, "must use https"},
		{"ftp://app.example/client.json", false, "must use https"},
		{"https://app.example", false, "must have a path"},
		{"https://app.example/", false, "must have a path"},
		{"https://app.example/a/../client.json", false, ". or .. path segments"},
		{"https://app.example/./client.json", false, ". or .. path segments"},
		{"https://app.example/client.json#x", false, "fragment"},
		{"https://user:pw@app.example/client.json", false, "user information"},
		{"https://app.example/ client.json", false, "printable ASCII"},
		{"https:///client.json", false, "malformed"},
		{"https://app.example/" + strings.Repeat("a", 2100), false, "longer than"},
	}
	for _, tt := range tests {
		_, got := checkClientIDURL(tt.id, tt.allowLoopback)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("checkClientIDURL(%.60q, %v) = %q, want %q", tt.id, tt.allowLoopback, got, tt.want)
		}
	}
}

const testCIMDID = "https://app.example/oauth/client.json"

// cimdDoc is a valid document for testCIMDID with the members of extra
// added (a nil value deletes one).
func cimdDoc(extra map[string]any) string {
	doc := map[string]any{
		"client_id":     testCIMDID,
		"client_name":   "App",
		"redirect_uris": []string{"https://app.example/callback"},
	}
	for k, v := range extra {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

func TestParseClientIDMetadataDocument(t *testing.T) {
	key := newClientKey(t, jose.ES256, "k1")
	keySet := jwks(key)
	keySetJSON, _ := json.Marshal(keySet)
	private := map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}}}
	pol := MetadataPolicy{Scopes: []string{"docs:read", "docs:write"}, DefaultScopes: []string{"docs:read"}}
	loopPol := pol
	loopPol.AllowLoopbackFetch = true
	codeRefresh := []string{"authorization_code", "refresh_token"}

	type want struct {
		method string
		grants []string
		scope  string
		keys   bool
	}
	tests := []struct {
		name string
		doc  string
		pol  MetadataPolicy
		want *want  // nil: an error is expected
		err  string // part of the error description
	}{
		{"minimal", cimdDoc(nil), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"portless loopback redirect", cimdDoc(map[string]any{"redirect_uris": []string{"http://127.0.0.1/callback", "http://localhost/callback"}}), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"unknown members ignored", cimdDoc(map[string]any{"x-vendor": map[string]any{"a": 1}, "software_statement": "eyJ", "client_name#fr": "Appli"}), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"explicit none", cimdDoc(map[string]any{"token_endpoint_auth_method": "none"}), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"private_key_jwt with jwks_uri", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks.json", "token_endpoint_auth_signing_alg": "RS256"}), pol, &want{"private_key_jwt", codeRefresh, "docs:read", true}, ""},
		{"private_key_jwt with jwks", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": keySet}), pol, &want{"private_key_jwt", codeRefresh, "docs:read", true}, ""},
		{"jwks with HTML characters and spaces", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(strings.Replace(string(keySetJSON), `"kid":"k1"`, ` "kid" : "<k&1>" `, 1))}), pol, &want{"private_key_jwt", codeRefresh, "docs:read", true}, ""},
		{"methods supported picks private_key_jwt with keys", cimdDoc(map[string]any{"token_endpoint_auth_methods_supported": []string{"none", "private_key_jwt"}, "jwks_uri": "https://app.example/jwks.json"}), pol, &want{"private_key_jwt", codeRefresh, "docs:read", true}, ""},
		{"methods supported picks none without keys", cimdDoc(map[string]any{"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "none"}}), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"methods supported without a usable one", cimdDoc(map[string]any{"token_endpoint_auth_methods_supported": []string{"client_secret_basic"}}), pol, nil, "lists neither none nor private_key_jwt"},
		{"methods supported private_key_jwt only, no keys", cimdDoc(map[string]any{"token_endpoint_auth_methods_supported": []string{"private_key_jwt"}}), pol, nil, "lists neither none nor private_key_jwt"},
		{"none ignores keys", cimdDoc(map[string]any{"token_endpoint_auth_method": "none", "jwks": keySet}), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"secret method", cimdDoc(map[string]any{"token_endpoint_auth_method": "client_secret_basic"}), pol, nil, "cannot be used by a metadata-document client"},
		{"client_secret", cimdDoc(map[string]any{"client_secret": "s"}), pol, nil, "client_secret must not appear"},
		{"client_secret null", cimdDoc(map[string]any{"client_secret": json.RawMessage("null")}), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"client_secret_expires_at", cimdDoc(map[string]any{"client_secret_expires_at": 0}), pol, nil, "client_secret_expires_at must not appear"},
		{"private_key_jwt without keys", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt"}), pol, nil, "needs the client's public keys"},
		{"jwks and jwks_uri", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": keySet, "jwks_uri": "https://app.example/jwks.json"}), pol, nil, "not both"},
		{"jwks with a private key", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": private}), pol, nil, "private or symmetric key"},
		{"jwks not an object", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": string(keySetJSON)}), pol, nil, "jwks must be a JSON object"},
		{"jwks_uri on a private address", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://10.0.0.1/jwks.json"}), pol, nil, "address 10.0.0.1 is private (RFC 1918)"},
		{"jwks_uri on loopback http", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://127.0.0.1:9/jwks.json"}), pol, nil, "jwks_uri"},
		{"jwks_uri on loopback http with the switch", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://127.0.0.1:9/jwks.json"}), loopPol, &want{"private_key_jwt", codeRefresh, "docs:read", true}, ""},
		{"HS256", cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks.json", "token_endpoint_auth_signing_alg": "HS256"}), pol, nil, "token_endpoint_auth_signing_alg"},
		{"other grant types ignored", cimdDoc(map[string]any{"grant_types": []string{"authorization_code", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_credentials"}}), pol, &want{"none", []string{"authorization_code"}, "docs:read", false}, ""},
		{"no authorization_code", cimdDoc(map[string]any{"grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code"}}), pol, nil, "must include authorization_code"},
		{"response type token", cimdDoc(map[string]any{"response_types": []string{"token"}}), pol, nil, "must include code"},
		{"unknown scopes ignored", cimdDoc(map[string]any{"scope": "openid docs:write offline_access profile"}), pol, &want{"none", codeRefresh, "docs:write", false}, ""},
		{"only unknown scopes", cimdDoc(map[string]any{"scope": "openid email"}), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"no client_id", cimdDoc(map[string]any{"client_id": nil}), pol, nil, "client_id is missing"},
		{"other client_id", cimdDoc(map[string]any{"client_id": "https://evil.example/oauth/client.json"}), pol, nil, "is not the URL the document was fetched from"},
		{"client_id with a trailing slash", cimdDoc(map[string]any{"client_id": testCIMDID + "/"}), pol, nil, "is not the URL"},
		{"client_id in another case", cimdDoc(map[string]any{"client_id": "https://APP.example/oauth/client.json"}), pol, nil, "is not the URL"},
		{"no client_name", cimdDoc(map[string]any{"client_name": nil}), pol, nil, "client_name is required"},
		{"blank client_name", cimdDoc(map[string]any{"client_name": "  "}), pol, nil, "client_name is required"},
		{"bidi client_name", cimdDoc(map[string]any{"client_name": "Chat\u202eGPT"}), pol, nil, "bidirectional"},
		{"client_name number", cimdDoc(map[string]any{"client_name": 7}), pol, nil, "client_name must be a string"},
		{"no redirect_uris", cimdDoc(map[string]any{"redirect_uris": nil}), pol, nil, "redirect_uris is required"},
		{"empty redirect_uris", cimdDoc(map[string]any{"redirect_uris": []string{}}), pol, nil, "redirect_uris is required"},
		{"http redirect", cimdDoc(map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}), pol, nil, "uses http on a non-loopback host"},
		{"javascript redirect", cimdDoc(map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}), pol, nil, "forbidden scheme"},
		{"logo on another host is kept", cimdDoc(map[string]any{"logo_uri": "https://cdn.example/logo.png"}), pol, &want{"none", codeRefresh, "docs:read", false}, ""},
		{"bad logo", cimdDoc(map[string]any{"logo_uri": "javascript:x"}), pol, nil, "logo_uri"},
		{"not JSON", `{"client_id":`, pol, nil, "the document is not valid JSON"},
		{"array", `[]`, pol, nil, "the document must be a JSON object"},
		{"two objects", cimdDoc(nil) + "{}", pol, nil, "the document must hold a single JSON object"},
		{"empty", ``, pol, nil, "the document is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ParseClientIDMetadataDocument([]byte(tt.doc), testCIMDID, tt.pol)
			if tt.want == nil {
				e, ok := errors.AsType[*Error](err)
				if !ok || !strings.Contains(e.Description, tt.err) || e.Status != http.StatusBadRequest {
					t.Fatalf("err = %v, want a 400 *Error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if md.TokenEndpointAuthMethod != tt.want.method || !slices.Equal(md.GrantTypes, tt.want.grants) || md.Scope != tt.want.scope || (len(md.JWKS) > 0 || md.JWKSURI != "") != tt.want.keys {
				t.Errorf("got method %s grants %q scope %q jwks %s jwks_uri %q; want %+v", md.TokenEndpointAuthMethod, md.GrantTypes, md.Scope, md.JWKS, md.JWKSURI, *tt.want)
			}
			checkAcceptedCIMD(t, md, tt.pol)
		})
	}
}

// checkAcceptedCIMD fails t unless md, accepted by
// ParseClientIDMetadataDocument, is a client the server can serve safely.
func checkAcceptedCIMD(t *testing.T, md *ClientMetadata, p MetadataPolicy) {
	t.Helper()
	if strings.TrimSpace(md.ClientName) == "" {
		t.Fatal("accepted a document without client_name")
	}
	if len(md.RedirectURIs) == 0 {
		t.Fatal("accepted a document without redirect_uris")
	}
	for _, u := range md.RedirectURIs {
		if err := ValidateRedirectURI(u, p.AllowedRedirectHosts); err != nil {
			t.Fatalf("accepted redirect URI %q: %v", u, err)
		}
		checkSafeRedirectURI(t, u)
	}
	if !slices.Contains(md.GrantTypes, "authorization_code") || !slices.Equal(md.ResponseTypes, []string{"code"}) {
		t.Fatalf("grant types %q, response types %q", md.GrantTypes, md.ResponseTypes)
	}
	for _, g := range md.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			t.Fatalf("accepted grant type %q", g)
		}
	}
	switch md.TokenEndpointAuthMethod {
	case "none":
		if len(md.JWKS) > 0 || md.JWKSURI != "" || md.TokenEndpointAuthSigningAlg != "" {
			t.Fatal("public client with keys")
		}
	case "private_key_jwt":
		if (len(md.JWKS) > 0) == (md.JWKSURI != "") {
			t.Fatalf("private_key_jwt with jwks %s and jwks_uri %q", md.JWKS, md.JWKSURI)
		}
		if len(md.JWKS) > 0 {
			if _, err := parseJWKS(md.JWKS); err != nil {
				t.Fatalf("accepted jwks %s: %v", md.JWKS, err)
			}
		}
		if a := md.TokenEndpointAuthSigningAlg; a != "" && !supportedAssertionAlg(a) {
			t.Fatalf("accepted signing alg %q", a)
		}
	default:
		t.Fatalf("accepted auth method %q", md.TokenEndpointAuthMethod)
	}
	if md.Scope == "" {
		t.Fatal("empty scope")
	}
	for _, s := range strings.Fields(md.Scope) {
		if !slices.Contains(p.Scopes, s) {
			t.Fatalf("accepted unknown scope %q", s)
		}
	}
	c := cimdClient(testCIMDID, md)
	if c.Source != ClientSourceCIMD || c.ID != testCIMDID {
		t.Fatalf("client %+v", c)
	}
	back, err := ClientMetadataOf(c)
	if err != nil || !reflect.DeepEqual(back, md) {
		t.Fatalf("store round trip: %v\n got %+v\nwant %+v", err, back, md)
	}
}

// FuzzParseClientIDMetadataDocument checks that ParseClientIDMetadataDocument
// never panics, fails only with a 400 invalid_client_metadata or
// invalid_redirect_uri, and accepts only documents the server can serve
// safely. Its seeds are the fixtures of real clients and broken documents.
func FuzzParseClientIDMetadataDocument(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "cimd", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			f.Fatal(err)
		}
		if !strings.Contains(name, "mismatch") {
			doc["client_id"] = testCIMDID
		}
		b, _ = json.Marshal(doc)
		f.Add(b)
	}
	for _, s := range []string{
		cimdDoc(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "jwks": map[string]any{"keys": []any{map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}}}),
		cimdDoc(map[string]any{"jwks": map[string]any{"keys": []any{}}, "token_endpoint_auth_methods_supported": []string{"private_key_jwt"}}),
		cimdDoc(map[string]any{"redirect_uris": []string{"http://[::1]/cb", "cursor://anysphere.cursor-mcp/oauth/callback"}, "scope": "docs:read docs:read"}),
		`{"client_id":"https://app.example/oauth/client.json","client_name":null,"redirect_uris":[null]}`,
		`{"client_id":1}`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	pol := MetadataPolicy{Scopes: []string{"docs:read", "docs:write"}, DefaultScopes: []string{"docs:read"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		md, err := ParseClientIDMetadataDocument(body, testCIMDID, pol)
		if err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok || (e.Code != codeInvalidClientMetadata && e.Code != codeInvalidRedirectURI) || e.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400 invalid_client_metadata or invalid_redirect_uri", err)
			}
			return
		}
		checkAcceptedCIMD(t, md, pol)
	})
}

// TestCIMDFixtures serves the published documents of real clients, and
// broken ones, from a local server and runs each through the server's
// authorization endpoint (the sign-in page for a good one, an error page,
// never a redirect, for a bad one) and token endpoint (401 invalid_client
// for a bad one).
func TestCIMDFixtures(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.FetchAllowLoopback = true })
	strict := newTestEnv(t) // no development switch
	ds := newDocServer(t)
	big := cimdDoc(map[string]any{"client_uri": "https://app.example/" + strings.Repeat("x", 1990), "policy_uri": "https://app.example/" + strings.Repeat("y", 1990), "tos_uri": "https://app.example/" + strings.Repeat("z", 1990)})

	tests := []struct {
		name     string
		env      *testEnv
		serve    func() string // serves the document, returns the client_id
		redirect string        // the runtime redirect_uri
		method   string        // the client's auth method; "" if refused
		reason   string        // part of the refusal
	}{
		{"chatgpt", e, func() string { return ds.fixture(t, "chatgpt.json", "/chatgpt/oauth/client.json", false) },
			"https://chatgpt.com/connector_platform_oauth_redirect", "private_key_jwt", ""},
		{"chatgpt methods supported", e, func() string {
			return ds.fixture(t, "chatgpt-methods-supported.json", "/chatgpt/oauth/client2.json", false)
		}, "https://chatgpt.com/connector/oauth/abc123", "private_key_jwt", ""},
		{"claude code on a runtime port", e, func() string {
			return ds.fixture(t, "claude-code.json", "/oauth/claude-code-client-metadata", false)
		}, "http://127.0.0.1:53118/callback", "none", ""},
		{"claude code on localhost", e, func() string {
			return ds.fixture(t, "claude-code.json", "/oauth/claude-code-client-metadata", false)
		}, "http://localhost:3118/callback", "none", ""},
		{"claude.ai", e, func() string { return ds.fixture(t, "claude-ai.json", "/oauth/mcp-oauth-client-metadata", false) },
			"https://claude.ai/api/mcp/auth_callback", "none", ""},
		{"vscode on another port", e, func() string { return ds.fixture(t, "vscode.json", "/oauth/client-metadata.json", false) },
			"http://127.0.0.1:40123/", "none", ""},
		{"vscode web", e, func() string { return ds.fixture(t, "vscode.json", "/oauth/client-metadata.json", false) },
			"https://vscode.dev/redirect", "none", ""},

		{"unregistered redirect", e, func() string { return ds.fixture(t, "claude-code.json", "/oauth/claude-code-client-metadata", false) },
			"http://127.0.0.1:53118/other", "", "redirect_uri is not registered"},
		{"client_id mismatch", e, func() string {
			ds.fixture(t, "broken-client-id-mismatch.json", "/broken/mismatch.json", true)
			return ds.URL + "/broken/mismatch.json"
		}, "https://evil.example/callback", "", "is not the URL the document was fetched from"},
		{"missing redirect_uris", e, func() string { return ds.fixture(t, "broken-no-redirect-uris.json", "/broken/noredirect.json", false) },
			"https://app.example/callback", "", "redirect_uris is required"},
		{"private_key_jwt without keys", e, func() string {
			return ds.fixture(t, "broken-private-key-jwt-no-keys.json", "/broken/nokeys.json", false)
		}, "https://app.example/callback", "", "needs the client's public keys"},
		{"client secret", e, func() string { return ds.fixture(t, "broken-client-secret.json", "/broken/secret.json", false) },
			"https://app.example/callback", "", "client_secret must not appear"},
		{"oversized", e, func() string {
			id := ds.URL + "/broken/big.json"
			ds.set("/broken/big.json", docResponse{Body: []byte(strings.Replace(big, testCIMDID, id, 1))})
			return id
		}, "https://app.example/callback", "", "response is larger than 5120 bytes"},
		{"wrong content type", e, func() string {
			id := ds.URL + "/broken/html"
			ds.set("/broken/html", docResponse{ContentType: "text/html; charset=utf-8", Body: []byte(strings.Replace(cimdDoc(nil), testCIMDID, id, 1))})
			return id
		}, "https://app.example/callback", "", "unexpected Content-Type text/html"},
		{"redirect", e, func() string {
			ds.fixture(t, "claude-code.json", "/moved/target.json", false)
			return ds.set("/moved/client.json", docResponse{Status: http.StatusFound, Header: http.Header{"Location": {ds.URL + "/moved/target.json"}}})
		}, "http://127.0.0.1:53118/callback", "", "redirect (status 302) not followed"},
		{"not found", e, func() string { return ds.URL + "/missing.json" },
			"https://app.example/callback", "", "unexpected status 404"},
		{"not JSON", e, func() string {
			return ds.set("/broken/notjson.json", docResponse{ContentType: "application/json", Body: []byte("<html>")})
		}, "https://app.example/callback", "", "the document is not valid JSON"},
		{"http without the development switch", strict, func() string {
			return ds.fixture(t, "claude-code.json", "/oauth/claude-code-client-metadata", false)
		}, "http://127.0.0.1:53118/callback", "", "the URL must use https"},
		{"https to a private address", strict, func() string { return "https://10.1.2.3/oauth/client.json" },
			"https://app.example/callback", "", "address 10.1.2.3 is private (RFC 1918)"},
		{"https to loopback without the switch", strict, func() string { return "https://127.0.0.1/oauth/client.json" },
			"https://app.example/callback", "", "address 127.0.0.1 is loopback"},
		{"no path", e, func() string { return ds.URL }, "https://app.example/callback", "", "the URL must have a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.serve()
			_, challenge := pkce()
			authURL := tt.env.authorizeURL(testClient{ID: id, Redirect: tt.redirect}, challenge, nil)
			resp, body := tt.env.newBrowser().get(authURL)
			text := html.UnescapeString(body)
			if resp.StatusCode/100 == 3 || resp.Header.Get("Location") != "" {
				t.Fatalf("/authorize redirected (%d to %s): never redirect for an unusable client", resp.StatusCode, resp.Header.Get("Location"))
			}
			if tt.method != "" {
				if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) {
					t.Fatalf("/authorize = %d, want the sign-in page:\n%.600s", resp.StatusCode, text)
				}
				c, err := tt.env.Server.client(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if c.TokenEndpointAuthMethod != tt.method || c.Source != ClientSourceCIMD || c.ID != id {
					t.Errorf("client %s: method %s source %s, want %s cimd", c.ID, c.TokenEndpointAuthMethod, c.Source, tt.method)
				}
				if _, err := tt.env.Store.GetClient(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("a CIMD client reached the clients table: %v", err)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, tt.reason) {
				t.Fatalf("/authorize = %d, want 400 and an error page naming %q:\n%.800s", resp.StatusCode, tt.reason, text)
			}
			if tt.reason == "redirect_uri is not registered" {
				return // the document itself is fine
			}
			tr := tt.env.token(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {strings.Repeat("v", 43)}, "client_id": {id}, "redirect_uri": {tt.redirect}}, "", "")
			desc, _ := tr.Body["error_description"].(string)
			if tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" || !strings.Contains(desc, strings.ReplaceAll(tt.reason, `"`, `'`)) {
				t.Errorf("/token = %d %v, want 401 invalid_client naming %q", tr.Status, tr.Body, tt.reason)
			}
		})
	}
}

// TestCIMDPolicy checks the operator's policy: off, an allowlist, and the
// metadata that advertises (or not) the feature.
func TestCIMDPolicy(t *testing.T) {
	ds := newDocServer(t)
	id := ds.fixture(t, "claude-code.json", "/oauth/claude-code-client-metadata", false)
	for _, tt := range []struct {
		name       string
		policy     CIMDPolicy
		ok         bool
		reason     string
		advertised bool
	}{
		{"open", CIMDPolicy{}, true, "", true},
		{"allowlisted", CIMDPolicy{Mode: CIMDAllowlist, AllowedHosts: []string{"claude.ai", "127.0.0.1"}}, true, "", true},
		{"wildcard does not match an IP", CIMDPolicy{Mode: CIMDAllowlist, AllowedHosts: []string{"*.0.0.1"}}, false, "does not accept metadata documents from 127.0.0.1", true},
		{"not allowlisted", CIMDPolicy{Mode: CIMDAllowlist, AllowedHosts: []string{"chatgpt.com", "*.claude.ai"}}, false, "does not accept metadata documents from 127.0.0.1", true},
		{"off", CIMDPolicy{Mode: CIMDOff}, false, "does not accept Client ID Metadata Documents", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) { c.FetchAllowLoopback = true; c.CIMD = tt.policy })
			before := ds.count("/oauth/claude-code-client-metadata")
			_, challenge := pkce()
			resp, body := e.newBrowser().get(e.authorizeURL(testClient{ID: id, Redirect: "http://127.0.0.1:4000/callback"}, challenge, nil))
			if tt.ok != (resp.StatusCode == http.StatusOK) || !strings.Contains(html.UnescapeString(body), tt.reason) {
				t.Errorf("/authorize = %d, want ok=%v with %q:\n%.500s", resp.StatusCode, tt.ok, tt.reason, body)
			}
			if !tt.ok && ds.count("/oauth/claude-code-client-metadata") != before {
				t.Error("a refused client_id was fetched")
			}
			md := e.Server.Metadata()
			if md.ClientIDMetadataDocumentSupported != tt.advertised || !slices.Contains(md.TokenEndpointAuthMethodsSupported, "none") {
				t.Errorf("client_id_metadata_document_supported = %v, auth methods %v", md.ClientIDMetadataDocumentSupported, md.TokenEndpointAuthMethodsSupported)
			}
			raw, _ := json.Marshal(md)
			if !tt.advertised && strings.Contains(string(raw), "client_id_metadata_document_supported") {
				t.Errorf("metadata mentions CIMD although it is off: %s", raw)
			}
		})
	}
}

// TestCIMDCodeFlow runs a whole flow for a metadata-document client whose
// document names a portless loopback redirect URI: the consent page shows
// the document's host, and code, token and refresh work; the account page
// finds the client too.
func TestCIMDCodeFlow(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.FetchAllowLoopback = true })
	ds := newDocServer(t)
	id := ds.fixture(t, "claude-code.json", "/oauth/claude-code-client-metadata", false)
	c := testClient{ID: id, Redirect: "http://127.0.0.1:61234/callback"}
	b := e.newBrowser()
	verifier, challenge := pkce()
	authURL := e.authorizeURL(c, challenge, nil)
	if r := b.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	resp, body := b.get(authURL)
	host := strings.TrimPrefix(ds.URL, "http://")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<span class="app-host">`+host+`</span> wants access`) || !strings.Contains(body, "Claude Code") || !strings.Contains(body, "127.0.0.1") {
		t.Fatalf("consent page does not show the document host %s:\n%s", host, body)
	}
	if strings.Contains(body, "Name not verified") || strings.Contains(body, "app-logo") {
		t.Errorf("consent page for a CIMD client: %s", body)
	}
	m := consentIDRE.FindStringSubmatch(body)
	resp, _ = b.post(e.URL+"/consent", url.Values{"consent_id": {m[1]}, "decision": {"allow"}})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Host != "127.0.0.1:61234" || loc.Query().Get("code") == "" {
		t.Fatalf("consent: %d %s", resp.StatusCode, loc)
	}
	tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "client_id": {id}, "redirect_uri": {c.Redirect}, "resource": {e.URL + "/mcp"}}, "", "")
	if tr.Status != http.StatusOK || tr.Refresh == "" {
		t.Fatalf("token: %d %v", tr.Status, tr.Body)
	}
	at, err := e.Server.VerifyAccessToken(t.Context(), tr.Access)
	if err != nil || at.ClientID != id {
		t.Fatalf("access token: %v %+v", err, at)
	}
	if tr2 := e.refresh(c, tr.Refresh); tr2.Status != http.StatusOK {
		t.Fatalf("refresh: %d %v", tr2.Status, tr2.Body)
	}
	// A reconnect asking for no more skips the consent screen.
	_, challenge = pkce()
	if resp, _ := b.get(e.authorizeURL(c, challenge, nil)); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("reconnect: %d, want the code at once", resp.StatusCode)
	}
	_, body = b.get(e.URL + "/account")
	if !strings.Contains(body, "Claude Code") || !strings.Contains(body, "Published by <strong class=\"host\">"+host) {
		t.Errorf("account page does not show the CIMD client:\n%s", body)
	}
	if n := ds.count("/oauth/claude-code-client-metadata"); n != 1 {
		t.Errorf("the document was fetched %d times, want once (cached)", n)
	}
}

func TestCIMDLogoOnlyFromTheSameHost(t *testing.T) {
	mk := func(id, logo string) *store.Client {
		md := &ClientMetadata{ClientName: "A", LogoURI: logo, TokenEndpointAuthMethod: "none"}
		return cimdClient(id, md)
	}
	for _, tt := range []struct {
		id, logo, want string
	}{
		{"https://chatgpt.com/oauth/client.json", "https://chatgpt.com/logo.png", "https://chatgpt.com/logo.png"},
		{"https://chatgpt.com/oauth/client.json", "https://CHATGPT.com/logo.png", "https://CHATGPT.com/logo.png"},
		{"https://chatgpt.com/oauth/client.json", "https://persistent.oaistatic.com/logo.png", ""},
		{"https://vscode.dev/oauth/client-metadata.json", "https://code.visualstudio.com/assets/branding/code-stable.png", ""},
		{"https://chatgpt.com/oauth/client.json", "http://chatgpt.com/logo.png", ""},
		{"https://chatgpt.com/oauth/client.json", "https://chatgpt.com.evil.example/logo.png", ""},
		{"http://127.0.0.1:8080/c.json", "http://127.0.0.1:8080/logo.png", ""},
	} {
		if got := cimdLogo(mk(tt.id, tt.logo)); got != tt.want {
			t.Errorf("cimdLogo(%s, %s) = %q, want %q", tt.id, tt.logo, got, tt.want)
		}
	}
	dcr := &store.Client{ID: "x", Source: "dcr", Metadata: []byte(`{"logo_uri":"https://x.example/l.png"}`)}
	if cimdLogo(dcr) != "" || cimdHost(dcr) != "" {
		t.Error("a registered client's logo or host is shown")
	}
}

// TestConsentPageVerified renders the consent page of a metadata-document
// client: the host is the heading, the self-chosen name only beside it,
// the logo only when given, and every value escaped.
func TestConsentPageVerified(t *testing.T) {
	p, err := NewPages("https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	render := func(d ConsentPage) string {
		w := httptest.NewRecorder()
		p.Consent(w, d)
		return w.Body.String()
	}
	body := render(ConsentPage{ClientName: "<script>x</script>", ClientHost: "chatgpt.com", Verified: true, LogoURI: "https://chatgpt.com/logo.png?a=1&b=<2>", RedirectHost: "chatgpt.com", ConsentID: "c"})
	for _, want := range []string{
		`<h1 id="consent-heading"><span class="app-host">chatgpt.com</span> wants access</h1>`,
		`<img class="app-logo" src="https://chatgpt.com/logo.png?a=1&amp;b=%3c2%3e"`,
		`&lt;script&gt;x&lt;/script&gt;`,
		`<p class="destination-host">chatgpt.com</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("verified consent page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "Name not verified") {
		t.Errorf("verified consent page:\n%s", body)
	}
	body = render(ConsentPage{ClientName: "Dyn", Unverified: true, RedirectHost: "app.example", ConsentID: "c"})
	if !strings.Contains(body, `<span class="app-name">Dyn</span> wants access`) || !strings.Contains(body, "Name not verified") || strings.Contains(body, "app-logo") || strings.Contains(body, "app-host") {
		t.Errorf("registered client's consent page:\n%s", body)
	}
}
