package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

const regTestIssuer = "https://auth.example.com"

var regTestNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// regTestEnv is a registrar on a fresh SQLite store, served through a mux
// with the routes the server uses.
type regTestEnv struct {
	g   *registrar
	st  *store.DB
	dir string // the database's directory
	mux *http.ServeMux
}

func newRegTestEnv(t *testing.T, pol RegistrationPolicy) *regTestEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{DSN: filepath.Join(dir, "mcpauthz.db")})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{
		Issuer:        regTestIssuer,
		Scopes:        []Scope{{Name: "docs:read"}, {Name: "docs:write"}},
		DefaultScopes: []string{"docs:read"},
		Registration:  pol,
		Now:           func() time.Time { return regTestNow },
	}
	g := newRegistrar(cfg, st, NewSecretHasher(bytes.Repeat([]byte{7}, 32)))
	mux := http.NewServeMux()
	mux.HandleFunc("/register", g.serveRegister)
	mux.HandleFunc("/register/{client_id}", g.serveClientConfig)
	return &regTestEnv{g: g, st: st, dir: dir, mux: mux}
}

// do sends a request with an optional bearer token and JSON body and
// returns the response with its decoded JSON object (nil when there is no
// body). It fails t if a body is not a JSON object or holds a null.
func (e *regTestEnv) do(t *testing.T, method, path, token, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.serve(t, req)
}

func (e *regTestEnv) serve(t *testing.T, req *http.Request) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	if rec.Body.Len() == 0 {
		return rec, nil
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", req.Method, req.URL.Path, rec.Body, err)
	}
	for k, v := range m {
		if v == nil {
			t.Errorf("%s %s: member %q is null in %s", req.Method, req.URL.Path, k, rec.Body)
		}
	}
	return rec, m
}

// register registers body and returns the response members; it fails t
// unless the answer is 201.
func (e *regTestEnv) register(t *testing.T, body string) map[string]any {
	t.Helper()
	rec, m := e.do(t, http.MethodPost, "/register", "", body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /register = %d %s, want 201", rec.Code, rec.Body)
	}
	return m
}

// dbContains reports whether any file of the database holds s.
func (e *regTestEnv) dbContains(t *testing.T, s string) bool {
	t.Helper()
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		b, err := os.ReadFile(filepath.Join(e.dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func wantRegError(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any, status int, code string) {
	t.Helper()
	if rec.Code != status || m["error"] != code {
		t.Fatalf("got %d %s, want %d with error %s", rec.Code, rec.Body, status, code)
	}
	if code == codeInvalidToken {
		if h := rec.Header().Get("WWW-Authenticate"); h != `Bearer error="invalid_token"` {
			t.Errorf("WWW-Authenticate = %q", h)
		}
	}
}

func TestRegisterRealClients(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		confidential bool
		echo         map[string]any // members the response must hold
		absent       []string       // members it must not hold
	}{{
		name:         "claude web connector",
		body:         `{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"client_secret_post","scope":"docs:read"}`,
		confidential: true,
		echo: map[string]any{
			"client_name":                "Claude",
			"redirect_uris":              []any{"https://claude.ai/api/mcp/auth_callback"},
			"grant_types":                []any{"authorization_code", "refresh_token"},
			"response_types":             []any{"code"},
			"token_endpoint_auth_method": "client_secret_post",
			"scope":                      "docs:read",
		},
	}, {
		name: "claude desktop",
		body: `{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`,
		echo: map[string]any{"token_endpoint_auth_method": "none", "scope": "docs:read"},
	}, {
		name: "cursor",
		body: `{"redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback","https://www.cursor.com/agents/mcp/oauth/callback","http://localhost:8787/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"Cursor"}`,
		echo: map[string]any{"redirect_uris": []any{"cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"}},
	}, {
		name: "vs code",
		body: `{"client_name":"Visual Studio Code","client_uri":"https://code.visualstudio.com","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"redirect_uris":["https://insiders.vscode.dev/redirect","https://vscode.dev/redirect","http://127.0.0.1/","http://127.0.0.1:33418/"],"token_endpoint_auth_method":"none","application_type":"native"}`,
		echo: map[string]any{"client_uri": "https://code.visualstudio.com", "application_type": "native"},
	}, {
		name: "mcp inspector",
		body: `{"redirect_uris":["http://localhost:6274/oauth/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"MCP Inspector","client_uri":"https://github.com/modelcontextprotocol/inspector"}`,
		echo: map[string]any{"redirect_uris": []any{"http://localhost:6274/oauth/callback"}},
	}, {
		name: "chatgpt",
		body: `{"client_name":"ChatGPT","redirect_uris":["https://chatgpt.com/connector_platform_oauth_redirect"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`,
		echo: map[string]any{"client_name": "ChatGPT"},
	}, {
		name:         "defaults: no name, no method, unknown members",
		body:         `{"redirect_uris":["https://a.example/cb"],"jwks_uri":"https://a.example/jwks","x-extra":1,"client_id":"mine","client_secret":"mine"}`,
		confidential: true,
		echo: map[string]any{
			"token_endpoint_auth_method": "client_secret_basic",
			"grant_types":                []any{"authorization_code", "refresh_token"},
			"response_types":             []any{"code"},
			"scope":                      "docs:read",
		},
		absent: []string{"client_name", "jwks_uri", "x-extra", "client_uri", "logo_uri", "contacts"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRegTestEnv(t, RegistrationPolicy{})
			rec, m := e.do(t, http.MethodPost, "/register", "", tt.body)
			if rec.Code != http.StatusCreated {
				t.Fatalf("POST /register = %d %s, want 201", rec.Code, rec.Body)
			}
			id, _ := m["client_id"].(string)
			regToken, _ := m["registration_access_token"].(string)
			if len(id) < 20 || id == "mine" || len(regToken) < 43 {
				t.Fatalf("client_id %q, registration_access_token %q", id, regToken)
			}
			if got, want := m["registration_client_uri"], regTestIssuer+"/register/"+id; got != want {
				t.Errorf("registration_client_uri = %v, want %s", got, want)
			}
			if loc := rec.Header().Get("Location"); loc != regTestIssuer+"/register/"+id {
				t.Errorf("Location = %q", loc)
			}
			if got := m["client_id_issued_at"]; got != float64(regTestNow.Unix()) {
				t.Errorf("client_id_issued_at = %v, want %d", got, regTestNow.Unix())
			}
			secret, hasSecret := m["client_secret"].(string)
			exp, hasExp := m["client_secret_expires_at"]
			if tt.confidential {
				if !hasSecret || len(secret) < 43 || secret == "mine" || !hasExp || exp != float64(0) {
					t.Errorf("confidential client: client_secret %q, client_secret_expires_at %v", secret, exp)
				}
			} else if hasSecret || hasExp {
				t.Errorf("public client got client_secret %q / client_secret_expires_at %v", secret, exp)
			}
			for k, want := range tt.echo {
				if !reflect.DeepEqual(m[k], want) {
					t.Errorf("%s = %#v, want %#v", k, m[k], want)
				}
			}
			for _, k := range tt.absent {
				if v, ok := m[k]; ok {
					t.Errorf("%s = %#v, want absent", k, v)
				}
			}

			c, err := e.st.GetClient(t.Context(), id)
			if err != nil {
				t.Fatalf("GetClient: %v", err)
			}
			if c.Source != "dcr" {
				t.Errorf("Source = %q, want dcr", c.Source)
			}
			if err := e.g.hasher.Verify(c.RegistrationTokenHash, []byte(regToken)); err != nil {
				t.Errorf("stored registration token hash does not verify: %v", err)
			}
			if tt.confidential {
				if err := e.g.hasher.Verify(c.SecretHash, []byte(secret)); err != nil {
					t.Errorf("stored secret hash does not verify: %v", err)
				}
				if e.dbContains(t, secret) {
					t.Error("the raw client secret is in the database")
				}
			} else if c.SecretHash != nil {
				t.Errorf("public client has SecretHash %x", c.SecretHash)
			}
			if e.dbContains(t, regToken) {
				t.Error("the raw registration access token is in the database")
			}
			if !e.dbContains(t, id) {
				t.Error("dbContains does not find the client_id: the raw-secret checks prove nothing")
			}
			if _, named := tt.echo["client_name"]; !named && m["client_name"] == nil && c.Name != unnamedClientName {
				t.Errorf("Name = %q for a client without client_name", c.Name)
			}
		})
	}
}

func TestRegisterRefusals(t *testing.T) {
	const good = `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"malformed json", "POST", "application/json", `{"redirect_uris":`, 400, codeInvalidClientMetadata},
		{"json array", "POST", "application/json", `[]`, 400, codeInvalidClientMetadata},
		{"wrong type", "POST", "application/json", `{"redirect_uris":"https://a.example/cb"}`, 400, codeInvalidClientMetadata},
		{"bad redirect", "POST", "application/json", `{"redirect_uris":["http://evil.com/cb"]}`, 400, codeInvalidRedirectURI},
		{"javascript redirect", "POST", "application/json", `{"redirect_uris":["javascript:alert(1)"]}`, 400, codeInvalidRedirectURI},
		{"private_key_jwt", "POST", "application/json", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, 400, codeInvalidClientMetadata},
		{"form body", "POST", "application/x-www-form-urlencoded", `redirect_uris=https://a.example/cb`, 400, codeInvalidClientMetadata},
		{"text/plain json", "POST", "text/plain", good, 400, codeInvalidClientMetadata},
		{"no content type", "POST", "", good, 400, codeInvalidClientMetadata},
		{"too large", "POST", "application/json", `{"client_name":"` + strings.Repeat("a", 2000) + `"}`, 413, codeInvalidClientMetadata},
		{"GET", "GET", "", "", 405, codeInvalidRequest},
	}
	e := newRegTestEnv(t, RegistrationPolicy{MaxBodyBytes: 1024})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/register", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec, m := e.serve(t, req)
			wantRegError(t, rec, m, tt.status, tt.code)
			if d, _ := m["error_description"].(string); d == "" {
				t.Errorf("no error_description in %s", rec.Body)
			}
		})
	}
	t.Run("charset parameter is fine", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/register", strings.NewReader(good))
		req.Header.Set("Content-Type", "Application/JSON; charset=utf-8")
		if rec, _ := e.serve(t, req); rec.Code != http.StatusCreated {
			t.Errorf("got %d %s, want 201", rec.Code, rec.Body)
		}
	})
	t.Run("too large without Content-Length", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/register", strings.NewReader(`{"client_name":"`+strings.Repeat("a", 2000)+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = -1
		rec, m := e.serve(t, req)
		wantRegError(t, rec, m, http.StatusRequestEntityTooLarge, codeInvalidClientMetadata)
	})
	clients, err := e.st.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 1 {
		t.Errorf("%d clients stored, want only the one accepted", len(clients))
	}
}

func TestRegisterModes(t *testing.T) {
	const body = `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`
	t.Run("off", func(t *testing.T) {
		e := newRegTestEnv(t, RegistrationPolicy{Mode: RegistrationOff})
		if e.g.enabled() {
			t.Error("enabled() = true")
		}
		rec, m := e.do(t, http.MethodPost, "/register", "", body)
		wantRegError(t, rec, m, http.StatusForbidden, codeAccessDenied)
		if m["error_description"] != "dynamic client registration is disabled" {
			t.Errorf("error_description = %v", m["error_description"])
		}
		rec, m = e.do(t, http.MethodGet, "/register/abc", "token", "")
		wantRegError(t, rec, m, http.StatusForbidden, codeAccessDenied)
	})
	t.Run("token", func(t *testing.T) {
		const iat = "initial-access-token-0123456789"
		e := newRegTestEnv(t, RegistrationPolicy{Mode: RegistrationToken, InitialAccessToken: iat})
		if !e.g.enabled() {
			t.Error("enabled() = false")
		}
		for _, tok := range []string{"", "wrong", iat + "x", iat[:len(iat)-1]} {
			rec, m := e.do(t, http.MethodPost, "/register", tok, body)
			wantRegError(t, rec, m, http.StatusUnauthorized, codeInvalidToken)
		}
		req := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Basic "+iat)
		rec, m := e.serve(t, req)
		wantRegError(t, rec, m, http.StatusUnauthorized, codeInvalidToken)

		if rec, _ := e.do(t, http.MethodPost, "/register", iat, body); rec.Code != http.StatusCreated {
			t.Errorf("with the initial access token: %d %s, want 201", rec.Code, rec.Body)
		}
		req = httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "bearer "+iat)
		if rec, _ := e.serve(t, req); rec.Code != http.StatusCreated {
			t.Errorf("with a lower-case scheme: %d %s, want 201", rec.Code, rec.Body)
		}
	})
	t.Run("allowed redirect hosts", func(t *testing.T) {
		e := newRegTestEnv(t, RegistrationPolicy{AllowedRedirectHosts: []string{"claude.ai", "*.vscode.dev"}})
		e.register(t, `{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`)
		e.register(t, `{"redirect_uris":["https://insiders.vscode.dev/redirect","http://127.0.0.1/"]}`)
		e.register(t, `{"redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback"]}`)
		rec, m := e.do(t, http.MethodPost, "/register", "", `{"redirect_uris":["https://chatgpt.com/connector_platform_oauth_redirect"]}`)
		wantRegError(t, rec, m, http.StatusBadRequest, codeInvalidRedirectURI)
	})
}

func TestClientConfigurationEndpoint(t *testing.T) {
	e := newRegTestEnv(t, RegistrationPolicy{})
	reg := e.register(t, `{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"token_endpoint_auth_method":"client_secret_post","logo_uri":"https://claude.ai/logo.png"}`)
	id, token, secret := reg["client_id"].(string), reg["registration_access_token"].(string), reg["client_secret"].(string)
	path := "/register/" + id
	other := e.register(t, `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`)
	otherToken := other["registration_access_token"].(string)

	t.Run("read", func(t *testing.T) {
		rec, m := e.do(t, http.MethodGet, path, token, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("GET = %d %s", rec.Code, rec.Body)
		}
		want := map[string]any{}
		for k, v := range reg {
			want[k] = v
		}
		delete(want, "client_secret") // only its hash is kept
		if !reflect.DeepEqual(m, want) {
			t.Errorf("GET = %v\nwant %v", m, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, tt := range []struct{ name, path, token string }{
			{"no token", path, ""},
			{"wrong token", path, "wrong"},
			{"another client's token", path, otherToken},
			{"the client secret", path, secret},
			{"unknown client", "/register/nope", token},
		} {
			for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
				body := ""
				if method == http.MethodPut {
					body = `{"client_id":"` + id + `","redirect_uris":["https://evil.com/cb"]}`
				}
				rec, m := e.do(t, method, tt.path, tt.token, body)
				if rec.Code != http.StatusUnauthorized || m["error"] != codeInvalidToken {
					t.Errorf("%s, %s: %d %s, want 401 invalid_token", tt.name, method, rec.Code, rec.Body)
				}
			}
		}
		rec, m := e.do(t, http.MethodPost, path, token, `{}`)
		wantRegError(t, rec, m, http.StatusMethodNotAllowed, codeInvalidRequest)
		if c, err := e.st.GetClient(t.Context(), id); err != nil || len(c.RedirectURIs) != 1 {
			t.Errorf("client changed or gone after refused requests: %+v, %v", c, err)
		}
	})
	t.Run("update refusals", func(t *testing.T) {
		for _, tt := range []struct{ name, body, code string }{
			{"no client_id", `{"redirect_uris":["https://claude.ai/cb2"],"token_endpoint_auth_method":"client_secret_post"}`, codeInvalidClientMetadata},
			{"other client_id", `{"client_id":"` + other["client_id"].(string) + `","redirect_uris":["https://claude.ai/cb2"],"token_endpoint_auth_method":"client_secret_post"}`, codeInvalidClientMetadata},
			{"client_id number", `{"client_id":7}`, codeInvalidClientMetadata},
			{"wrong client_secret", `{"client_id":"` + id + `","client_secret":"chosen","redirect_uris":["https://claude.ai/cb2"],"token_endpoint_auth_method":"client_secret_post"}`, codeInvalidClientMetadata},
			{"to public", `{"client_id":"` + id + `","redirect_uris":["https://claude.ai/cb2"],"token_endpoint_auth_method":"none"}`, codeInvalidClientMetadata},
			{"bad redirect", `{"client_id":"` + id + `","redirect_uris":["http://evil.com/cb"],"token_endpoint_auth_method":"client_secret_post"}`, codeInvalidRedirectURI},
			{"malformed", `{"client_id":`, codeInvalidClientMetadata},
		} {
			rec, m := e.do(t, http.MethodPut, path, token, tt.body)
			if rec.Code != http.StatusBadRequest || m["error"] != tt.code {
				t.Errorf("%s: %d %s, want 400 %s", tt.name, rec.Code, rec.Body, tt.code)
			}
		}
	})
	t.Run("update", func(t *testing.T) {
		body := `{"client_id":"` + id + `","client_secret":"` + secret + `","client_name":"Claude 2",
			"redirect_uris":["https://claude.ai/api/mcp/auth_callback","https://claude.com/api/mcp/auth_callback"],
			"token_endpoint_auth_method":"client_secret_basic","scope":"docs:read docs:write",
			"registration_access_token":"ignored","client_id_issued_at":1,"client_secret_expires_at":5}`
		rec, m := e.do(t, http.MethodPut, path, token, body)
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT = %d %s", rec.Code, rec.Body)
		}
		if m["client_name"] != "Claude 2" || m["token_endpoint_auth_method"] != "client_secret_basic" ||
			m["scope"] != "docs:read docs:write" || m["registration_access_token"] != token ||
			m["client_secret_expires_at"] != float64(0) || m["client_id_issued_at"] != float64(regTestNow.Unix()) {
			t.Errorf("PUT = %s", rec.Body)
		}
		if _, ok := m["logo_uri"]; ok {
			t.Errorf("logo_uri omitted from PUT but kept: %s", rec.Body)
		}
		if _, ok := m["client_secret"]; ok {
			t.Errorf("PUT returned a client_secret: %s", rec.Body)
		}
		c, err := e.st.GetClient(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != "Claude 2" || len(c.RedirectURIs) != 2 || c.TokenEndpointAuthMethod != "client_secret_basic" || c.Source != "dcr" {
			t.Errorf("stored %+v", c)
		}
		if e.g.hasher.Verify(c.SecretHash, []byte(secret)) != nil || e.g.hasher.Verify(c.RegistrationTokenHash, []byte(token)) != nil {
			t.Error("the secret or registration token changed")
		}
		if rec, m := e.do(t, http.MethodGet, path, token, ""); rec.Code != 200 || m["client_name"] != "Claude 2" {
			t.Errorf("GET after PUT = %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("delete", func(t *testing.T) {
		at := &store.Request{
			Kind: store.KindAccess, Signature: "sig-" + id, RequestID: "req-" + id, ClientID: id,
			RequestedAt: regTestNow, ExpiresAt: regTestNow.Add(time.Hour), Session: []byte("{}"), Active: true,
		}
		if err := e.st.CreateRequest(t.Context(), at); err != nil {
			t.Fatal(err)
		}
		rec, m := e.do(t, http.MethodDelete, path, token, "")
		if rec.Code != http.StatusNoContent || m != nil {
			t.Fatalf("DELETE = %d %s, want 204 and no body", rec.Code, rec.Body)
		}
		if _, err := e.st.GetClient(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetClient after DELETE: %v, want ErrNotFound", err)
		}
		if _, err := e.st.GetRequest(t.Context(), store.KindAccess, at.Signature); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRequest after DELETE: %v, want ErrNotFound", err)
		}
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			rec, m := e.do(t, method, path, token, "")
			wantRegError(t, rec, m, http.StatusUnauthorized, codeInvalidToken)
		}
		if _, err := e.st.GetClient(t.Context(), other["client_id"].(string)); err != nil {
			t.Errorf("the other client: %v", err)
		}
	})
}

func TestClientConfigurationPublicClient(t *testing.T) {
	e := newRegTestEnv(t, RegistrationPolicy{})
	reg := e.register(t, `{"client_name":"Cursor","redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback"],"token_endpoint_auth_method":"none"}`)
	id, token := reg["client_id"].(string), reg["registration_access_token"].(string)
	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"client_id":"` + id + `","redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback"]}`, 400}, // defaults to client_secret_basic
		{`{"client_id":"` + id + `","client_secret":"x","token_endpoint_auth_method":"none","redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback"]}`, 400},
		{`{"client_id":"` + id + `","token_endpoint_auth_method":"none","redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback","http://localhost:8787/callback"]}`, 200},
	} {
		rec, m := e.do(t, http.MethodPut, "/register/"+id, token, tt.body)
		if rec.Code != tt.status {
			t.Errorf("PUT %s = %d %s, want %d", tt.body, rec.Code, rec.Body, tt.status)
		}
		if _, ok := m["client_secret_expires_at"]; ok {
			t.Errorf("public client got client_secret_expires_at: %s", rec.Body)
		}
	}
	// The client registered no name: the echo stays honest after a read.
	rec, m := e.do(t, http.MethodGet, "/register/"+id, token, "")
	if rec.Code != 200 || m["client_name"] != nil {
		t.Errorf("GET = %d %s, want no client_name", rec.Code, rec.Body)
	}
}

func TestClientConfigurationCLIClient(t *testing.T) {
	e := newRegTestEnv(t, RegistrationPolicy{})
	const token = "a-token-somebody-guessed-0123456789"
	for _, c := range []*store.Client{
		{ID: "cli-1", Name: "batch", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic", Source: "cli"},
		// Even with a registration token hash, a cli client is not managed here.
		{ID: "cli-2", Name: "odd", GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic", Source: "cli", RegistrationTokenHash: e.g.hasher.Sum([]byte(token))},
	} {
		if err := e.st.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			rec, m := e.do(t, method, "/register/"+c.ID, token, "")
			wantRegError(t, rec, m, http.StatusUnauthorized, codeInvalidToken)
		}
		if _, err := e.st.GetClient(t.Context(), c.ID); err != nil {
			t.Errorf("%s: %v", c.ID, err)
		}
	}
}

func TestBearerCredential(t *testing.T) {
	for _, tt := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"Basic abc", "", false},
		{"Bearerabc", "", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", tt.header)
		if got, ok := bearerCredential(r); got != tt.want || ok != tt.ok {
			t.Errorf("bearerCredential(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}
