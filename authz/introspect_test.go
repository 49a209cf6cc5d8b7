package authz

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauthz/mcpauthz/store"
)

// addService stores a confidential client the way `mcpauthz client add`
// does and returns its ID and secret.
func (e *testEnv) addService(introspect bool, grants ...string) (string, string) {
	e.t.Helper()
	id, secret := randomToken(12), randomToken(32)
	err := e.Store.CreateClient(e.t.Context(), &store.Client{
		ID: id, Name: "Service", SecretHash: e.Server.hasher.Sum([]byte(secret)), GrantTypes: grants,
		Scopes: []string{"docs:read"}, TokenEndpointAuthMethod: "client_secret_basic", Introspect: introspect, Source: "cli",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id, secret
}

func (e *testEnv) introspectHTTP(user, pass, token, hint string) (int, http.Header, map[string]any) {
	e.t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

func TestIntrospection(t *testing.T) {
	e := newTestEnv(t)
	rsID, rsSecret := e.addService(true, "client_credentials")
	otherID, otherSecret := e.addService(false, "client_credentials")
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	tok := e.codeFlow(e.newBrowser(), c)

	for name, creds := range map[string][2]string{
		"no credentials":    {"", ""},
		"wrong secret":      {rsID, "wrong"},
		"not allowed":       {otherID, otherSecret},
		"public client":     {c.ID, ""},
		"unknown client id": {"nope", "x"},
	} {
		status, _, body := e.introspectHTTP(creds[0], creds[1], tok.Access, "")
		if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("%s: %d %v, want 401 invalid_client", name, status, body)
		}
	}

	status, h, body := e.introspectHTTP(rsID, rsSecret, tok.Access, "")
	if status != http.StatusOK || body["active"] != true || !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Fatalf("introspect access token: %d %v %v", status, h, body)
	}
	for k, want := range map[string]any{"scope": "docs:read", "client_id": c.ID, "sub": "u-alice", "username": testUser, "iss": e.URL, "token_type": "Bearer"} {
		if body[k] != want {
			t.Errorf("%s = %v, want %v", k, body[k], want)
		}
	}
	if aud, _ := body["aud"].([]any); len(aud) != 1 || aud[0] != e.URL+"/mcp" {
		t.Errorf("aud = %v", body["aud"])
	}
	if body["exp"] == nil || body["iat"] == nil || body["cnf"] != nil {
		t.Errorf("exp/iat/cnf: %v", body)
	}
	if _, _, body := e.introspectHTTP(rsID, rsSecret, tok.Refresh, "refresh_token"); body["active"] != true || body["client_id"] != c.ID {
		t.Errorf("introspect refresh token: %v", body)
	}

	// Revoked, garbage and tampered tokens are inactive, with nothing else said.
	resp, _ := http.PostForm(e.URL+"/revoke", url.Values{"token": {tok.Access}, "client_id": {c.ID}})
	resp.Body.Close()
	for name, t2 := range map[string]string{"revoked": tok.Access, "garbage": "garbage", "tampered": tok.Access[:len(tok.Access)-4] + "AAAA", "empty-ish": "a.b.c"} {
		status, _, body := e.introspectHTTP(rsID, rsSecret, t2, "")
		if status != http.StatusOK || len(body) != 1 || body["active"] != false {
			t.Errorf("%s: %d %v, want 200 {active:false}", name, status, body)
		}
	}
	if status, _, body := e.introspectHTTP(rsID, rsSecret, "", ""); status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("no token: %d %v", status, body)
	}
}

func TestClientCredentials(t *testing.T) {
	e := newTestEnv(t)
	id, secret := e.addService(false, "client_credentials")
	tr := e.token(url.Values{"grant_type": {"client_credentials"}}, id, secret)
	if tr.Status != http.StatusOK || tr.Body["scope"] != "docs:read" || tr.Refresh != "" {
		t.Fatalf("client_credentials: %d %v", tr.Status, tr.Body)
	}
	claims, _ := verifyWithJWKS(t, e, tr.Access)
	if claims["sub"] != id || claims["client_id"] != id || claims["aud"] != e.URL+"/mcp" {
		t.Errorf("claims %v", claims)
	}
	if r := e.token(url.Values{"grant_type": {"client_credentials"}, "resource": {"https://other.example/"}}, id, secret); r.Error != "invalid_target" {
		t.Errorf("other resource: %d %v", r.Status, r.Body)
	}
	if r := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, id, secret); r.Error != "invalid_scope" {
		t.Errorf("unknown scope: %d %v", r.Status, r.Body)
	}
	if r := e.token(url.Values{"grant_type": {"client_credentials"}}, id, "wrong"); r.Status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d %v", r.Status, r.Body)
	}
	codeOnly, codeSecret := e.addService(false, "authorization_code")
	if r := e.token(url.Values{"grant_type": {"client_credentials"}}, codeOnly, codeSecret); r.Status != http.StatusBadRequest || r.Error != "unauthorized_client" {
		t.Errorf("client without the grant: %d %v", r.Status, r.Body)
	}
	pub := e.registerPublic("http://127.0.0.1:7777/cb")
	if r := e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {pub.ID}}, "", ""); r.Status < 400 || r.Status >= 500 {
		t.Errorf("public client: %d %v", r.Status, r.Body)
	}
}
