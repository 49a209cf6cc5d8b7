package authz

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauthz/mcpauthz/store"
)

// registerJSON registers md over /register and returns the client
// information response, requiring 201.
func (e *testEnv) registerJSON(md map[string]any) map[string]any {
	e.t.Helper()
	resp, err := http.Post(e.URL+"/register", "application/json", strings.NewReader(string(mustJSON(md))))
	if err != nil {
		e.t.Fatal(err)
	}
	var out map[string]any
	decodeJSON(e.t, resp, &out)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("register: %d %v", resp.StatusCode, out)
	}
	return out
}

// wantTokenError checks a 401 invalid_client whose description holds want.
func wantTokenError(t *testing.T, tr tokenResponse, want string) {
	t.Helper()
	desc, _ := tr.Body["error_description"].(string)
	if tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" || !strings.Contains(desc, want) {
		t.Errorf("token = %d %v, want 401 invalid_client with %q", tr.Status, tr.Body, want)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	e := newTestEnv(t)
	key := newClientKey(t, jose.ES256, "k1")
	info := e.registerJSON(map[string]any{
		"client_name":                "Keyed",
		"redirect_uris":              []string{"http://127.0.0.1/callback"},
		"grant_types":                []string{"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt",
		"jwks":                       jwks(key),
	})
	id := info["client_id"].(string)
	if _, ok := info["client_secret"]; ok {
		t.Errorf("a private_key_jwt client got a secret: %v", info)
	}
	if _, ok := info["client_secret_expires_at"]; ok {
		t.Errorf("a private_key_jwt client got client_secret_expires_at: %v", info)
	}
	if info["token_endpoint_auth_method"] != "private_key_jwt" || info["jwks"] == nil {
		t.Errorf("registration echo: %v", info)
	}
	now := e.Clock.Now
	sign := func(a assertion) string { return key.sign(t, e.URL, id, a, now()) }

	// The code flow, authenticated with an assertion; a runtime port on
	// the portless loopback redirect URI.
	c := testClient{ID: id, Redirect: "http://127.0.0.1:45678/callback"}
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, nil))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "client_id": {id}, "redirect_uri": {c.Redirect}}
	if tr := e.token(form, "", ""); tr.Status != http.StatusUnauthorized || !strings.Contains(tr.Body["error_description"].(string), "authenticates with private_key_jwt") {
		t.Errorf("token without an assertion = %d %v", tr.Status, tr.Body)
	}
	good := sign(assertion{})
	tr := e.token(withAssertion(form, good), "", "")
	if tr.Status != http.StatusOK || tr.Refresh == "" {
		t.Fatalf("token with an assertion: %d %v", tr.Status, tr.Body)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.Refresh}}
	tr2 := e.token(withAssertion(refresh, sign(assertion{Aud: e.URL})), "", "")
	if tr2.Status != http.StatusOK {
		t.Fatalf("refresh (aud the issuer, no client_id): %d %v", tr2.Status, tr2.Body)
	}
	refresh.Set("refresh_token", tr2.Refresh)

	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, tt := range []struct {
		name string
		tok  string
		want string // "" for success
	}{
		{"a replayed assertion", good, "already used"},
		{"aud an array with the token endpoint", sign(assertion{Aud: []string{"https://other.example", e.URL + "/token"}}), ""},
		{"aud the issuer with a slash", sign(assertion{Aud: e.URL + "/"}), ""},
		{"a wrong audience", sign(assertion{Aud: "https://other.example/token"}), "aud claim must be the token endpoint"},
		{"the introspection endpoint at the token endpoint", sign(assertion{Aud: e.URL + "/introspect"}), "aud claim must be"},
		{"an expired assertion", sign(assertion{IAT: now().Add(-3 * time.Minute), Exp: now().Add(-2 * time.Minute)}), "has expired"},
		{"expired within the leeway", sign(assertion{IAT: now().Add(-time.Minute), Exp: now().Add(-10 * time.Second)}), ""},
		{"a long-lived assertion", sign(assertion{Exp: now().Add(time.Hour)}), "lives too long"},
		{"exp long after iat", sign(assertion{IAT: now().Add(-10 * time.Minute), Exp: now().Add(time.Minute)}), "lives too long"},
		{"iat in the future", sign(assertion{IAT: now().Add(2 * time.Minute), Exp: now().Add(3 * time.Minute)}), "iat is in the future"},
		{"no exp", sign(assertion{NoExp: true}), "no exp claim"},
		{"another key with the same kid", newClientKey(t, jose.ES256, "k1").sign(t, e.URL, id, assertion{}, now()), `does not verify with the client's key 'k1'`},
		{"another key without kid", newClientKey(t, jose.ES256, "").sign(t, e.URL, id, assertion{}, now()), "does not verify with any of the client's keys"},
		{"iss not the client", sign(assertion{Iss: "someone"}), "iss claim must be the client_id"},
		{"sub not the client", sign(assertion{Sub: "someone"}), "sub claim must be the client_id"},
		{"unsigned", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "is not a JWT signed with one of ES256, EdDSA, PS256, RS256"},
		{"garbage", "not-a-jwt", "is not a JWT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form := withAssertion(cc, tt.tok)
			form.Set("client_id", id)
			tr := e.token(form, "", "")
			if tt.want == "" {
				if tr.Status != http.StatusOK {
					t.Errorf("token = %d %v, want 200", tr.Status, tr.Body)
				}
				return
			}
			wantTokenError(t, tr, tt.want)
		})
	}

	// A refresh with a replayed assertion fails too, and leaves the
	// refresh token usable.
	wantTokenError(t, e.token(withAssertion(refresh, good), "", ""), "already used")
	if tr := e.token(withAssertion(refresh, sign(assertion{})), "", ""); tr.Status != http.StatusOK {
		t.Errorf("refresh after a refused replay: %d %v", tr.Status, tr.Body)
	}
	// Two authentication methods at once.
	if tr := e.token(withAssertion(url.Values{"grant_type": {"client_credentials"}, "client_secret": {"x"}}, sign(assertion{})), "", ""); tr.Status != http.StatusBadRequest || tr.Error != "invalid_request" {
		t.Errorf("assertion and secret: %d %v", tr.Status, tr.Body)
	}
	if tr := e.token(withAssertion(cc, sign(assertion{})), id, "x"); tr.Status != http.StatusBadRequest || tr.Error != "invalid_request" {
		t.Errorf("assertion and Basic: %d %v", tr.Status, tr.Body)
	}
	// A public client cannot present an assertion.
	pub := e.registerPublic("http://127.0.0.1:7777/callback")
	wantTokenError(t, e.token(withAssertion(cc, key.sign(t, e.URL, pub.ID, assertion{}, now())), "", ""), "authenticates with none")
	// An unknown client.
	wantTokenError(t, e.token(withAssertion(cc, key.sign(t, e.URL, "nobody", assertion{}, now())), "", ""), "not registered here")

	// RFC 7592: a private_key_jwt client may replace its keys but cannot
	// become public or get a secret.
	put := func(md map[string]any) (int, map[string]any) {
		md["client_id"] = id
		req, _ := http.NewRequest(http.MethodPut, info["registration_client_uri"].(string), strings.NewReader(string(mustJSON(md))))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+info["registration_access_token"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		decodeJSON(t, resp, &out)
		return resp.StatusCode, out
	}
	for _, method := range []string{"none", "client_secret_basic"} {
		if status, out := put(map[string]any{"redirect_uris": []string{"http://127.0.0.1/callback"}, "token_endpoint_auth_method": method}); status != http.StatusBadRequest || !strings.Contains(out["error_description"].(string), "cannot change") {
			t.Errorf("PUT to %s: %d %v", method, status, out)
		}
	}
	k2 := newClientKey(t, jose.PS256, "k2")
	if status, out := put(map[string]any{"redirect_uris": []string{"http://127.0.0.1/callback"}, "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(k2)}); status != http.StatusOK || out["client_secret"] != nil {
		t.Fatalf("PUT new keys: %d %v", status, out)
	}
	if tr := e.token(withAssertion(cc, k2.sign(t, e.URL, id, assertion{}, now())), "", ""); tr.Status != http.StatusOK {
		t.Errorf("token with the new key: %d %v", tr.Status, tr.Body)
	}
	wantTokenError(t, e.token(withAssertion(cc, sign(assertion{})), "", ""), "does not verify")
}

func TestPrivateKeyJWTAlgorithms(t *testing.T) {
	e := newTestEnv(t)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			key := newClientKey(t, alg, "")
			info := e.registerJSON(map[string]any{
				"client_name": "Machine " + string(alg), "grant_types": []string{"client_credentials"},
				"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(key),
				"token_endpoint_auth_signing_alg": string(alg),
			})
			id := info["client_id"].(string)
			tr := e.token(withAssertion(url.Values{"grant_type": {"client_credentials"}}, key.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", "")
			if tr.Status != http.StatusOK || tr.Access == "" {
				t.Fatalf("token: %d %v", tr.Status, tr.Body)
			}
		})
	}
	// A client that registered one algorithm cannot use another, even with
	// a key of its set.
	ec, ed := newClientKey(t, jose.ES256, "ec"), newClientKey(t, jose.EdDSA, "ed")
	info := e.registerJSON(map[string]any{
		"client_name": "Pinned", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(ec, ed), "token_endpoint_auth_signing_alg": "ES256",
	})
	id := info["client_id"].(string)
	wantTokenError(t, e.token(withAssertion(url.Values{"grant_type": {"client_credentials"}}, ed.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", ""), "registered token_endpoint_auth_signing_alg ES256")

	md := e.Server.Metadata()
	if !slices.Contains(md.TokenEndpointAuthMethodsSupported, "private_key_jwt") || !slices.Equal(md.TokenEndpointAuthSigningAlgValuesSupported, []string{"ES256", "EdDSA", "PS256", "RS256"}) {
		t.Errorf("metadata: %v %v", md.TokenEndpointAuthMethodsSupported, md.TokenEndpointAuthSigningAlgValuesSupported)
	}
}

// TestPrivateKeyJWTWithJWKSURI checks a client whose keys are at a
// jwks_uri: fetched through the guarded fetcher, refetched after a key
// rotation, and refused on a private address without the development
// switch.
func TestPrivateKeyJWTWithJWKSURI(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.FetchAllowLoopback = true })
	ds := newDocServer(t)
	k1, k2 := newClientKey(t, jose.ES256, "k1"), newClientKey(t, jose.RS256, "k2")
	uri := ds.json("/jwks.json", jwks(k1))
	info := e.registerJSON(map[string]any{
		"client_name": "Rotating", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri,
	})
	id := info["client_id"].(string)
	cc := url.Values{"grant_type": {"client_credentials"}}
	if tr := e.token(withAssertion(cc, k1.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", ""); tr.Status != http.StatusOK {
		t.Fatalf("token: %d %v", tr.Status, tr.Body)
	}
	ds.json("/jwks.json", jwks(k1, k2)) // rotation
	wantTokenError(t, e.token(withAssertion(cc, k2.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", ""), "does not verify with the client's key 'k2'")
	e.Clock.Advance(jwksRefetchInterval + time.Second)
	if tr := e.token(withAssertion(cc, k2.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", ""); tr.Status != http.StatusOK {
		t.Fatalf("token with the new key after the refetch interval: %d %v", tr.Status, tr.Body)
	}
	if n := ds.count("/jwks.json"); n != 2 {
		t.Errorf("jwks_uri fetched %d times, want 2", n)
	}
	// The client's site fails: the key set fetched before stands in for
	// jwksStaleIfError past its expiry, then the client is refused.
	ds.set("/jwks.json", docResponse{Status: http.StatusInternalServerError})
	e.Clock.Advance(jwksDefaultTTL + time.Second)
	if tr := e.token(withAssertion(cc, k2.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", ""); tr.Status != http.StatusOK {
		t.Fatalf("token while the jwks_uri fails, within jwksStaleIfError: %d %v", tr.Status, tr.Body)
	}
	e.Clock.Advance(jwksStaleIfError)
	wantTokenError(t, e.token(withAssertion(cc, k2.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", ""), "cannot be used: it could not be fetched: unexpected status 500")

	// Without the development switch: refused at registration, and a
	// client stored with such a jwks_uri anyway is refused at the token
	// endpoint, without a fetch.
	strict := newTestEnv(t)
	for _, bad := range []string{"https://10.0.0.1/jwks.json", uri} {
		resp, err := http.Post(strict.URL+"/register", "application/json", strings.NewReader(string(mustJSON(map[string]any{
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": bad,
		}))))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		decodeJSON(t, resp, &out)
		if resp.StatusCode != http.StatusBadRequest || out["error"] != "invalid_client_metadata" || !strings.Contains(out["error_description"].(string), "jwks_uri") {
			t.Errorf("register with jwks_uri %s: %d %v", bad, resp.StatusCode, out)
		}
	}
	before := ds.count("/jwks.json")
	for _, tt := range []struct{ uri, want string }{
		{"https://10.0.0.1/jwks.json", "address 10.0.0.1 is private (RFC 1918)"},
		{"https://169.254.169.254/jwks.json", "address 169.254.169.254 is link-local"},
		{uri, "address 127.0.0.1 is loopback"},
	} {
		md := []byte(`{"jwks_uri":` + string(mustJSON(tt.uri)) + `}`)
		c := &store.Client{ID: "svc-" + tt.uri[len(tt.uri)-12:], Name: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"docs:read"}, TokenEndpointAuthMethod: "private_key_jwt", Source: "cli", Metadata: md}
		if err := strict.Store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		wantTokenError(t, strict.token(withAssertion(cc, k1.sign(t, strict.URL, c.ID, assertion{}, strict.Clock.Now())), "", ""), tt.want)
	}
	if ds.count("/jwks.json") != before {
		t.Error("the strict server fetched a loopback jwks_uri")
	}
}

// TestPrivateKeyJWTAtIntrospectionAndRevocation checks assertions at the
// other endpoints that authenticate clients.
func TestPrivateKeyJWTAtIntrospectionAndRevocation(t *testing.T) {
	e := newTestEnv(t)
	key := newClientKey(t, jose.EdDSA, "svc")
	svc := &store.Client{ID: "svc", Name: "Resource server", GrantTypes: []string{"client_credentials"}, Scopes: []string{"docs:read"},
		TokenEndpointAuthMethod: "private_key_jwt", Source: "cli", Introspect: true, Metadata: mustJSON(map[string]any{"jwks": jwks(key)})}
	if err := e.Store.CreateClient(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
	user := e.codeFlow(e.newBrowser(), e.registerPublic("http://127.0.0.1:7777/callback"))
	post := func(path string, form url.Values) (int, map[string]any) {
		resp, err := http.PostForm(e.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if resp.ContentLength != 0 {
			json.NewDecoder(resp.Body).Decode(&out)
		}
		resp.Body.Close()
		return resp.StatusCode, out
	}
	for _, aud := range []string{e.URL + "/introspect", e.URL + "/token", e.URL} {
		status, out := post("/introspect", withAssertion(url.Values{"token": {user.Access}}, key.sign(t, e.URL, "svc", assertion{Aud: aud}, e.Clock.Now())))
		if status != http.StatusOK || out["active"] != true {
			t.Errorf("introspect with aud %s: %d %v", aud, status, out)
		}
	}
	status, _ := post("/introspect", withAssertion(url.Values{"token": {user.Access}}, key.sign(t, e.URL, "svc", assertion{Aud: e.URL + "/revoke"}, e.Clock.Now())))
	if status != http.StatusUnauthorized {
		t.Errorf("introspect with aud /revoke: %d", status)
	}
	// The service revokes its own token.
	tr := e.token(withAssertion(url.Values{"grant_type": {"client_credentials"}}, key.sign(t, e.URL, "svc", assertion{}, e.Clock.Now())), "", "")
	if tr.Status != http.StatusOK {
		t.Fatalf("token: %d %v", tr.Status, tr.Body)
	}
	if status, out := post("/revoke", withAssertion(url.Values{"token": {tr.Access}}, key.sign(t, e.URL, "svc", assertion{Aud: e.URL + "/revoke"}, e.Clock.Now()))); status != http.StatusOK {
		t.Errorf("revoke: %d %v", status, out)
	}
	if e.active(tr.Access) {
		t.Error("revoked token still active")
	}
}

// TestCIMDPrivateKeyJWT runs a metadata-document client that authenticates
// with private_key_jwt, its key in the document, and checks that a
// document that becomes unusable makes the token endpoint answer
// invalid_client.
func TestCIMDPrivateKeyJWT(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.FetchAllowLoopback = true })
	ds := newDocServer(t)
	key := newClientKey(t, jose.ES256, "doc-key")
	id := ds.URL + "/oauth/client.json"
	ds.set("/oauth/client.json", docResponse{Body: mustJSON(map[string]any{
		"client_id": id, "client_name": "Keyed app", "redirect_uris": []string{"http://127.0.0.1/callback"},
		"token_endpoint_auth_methods_supported": []string{"none", "private_key_jwt"}, "jwks": jwks(key),
	}), Header: http.Header{"Cache-Control": {"max-age=300"}}})
	c := testClient{ID: id, Redirect: "http://127.0.0.1:52000/callback"}
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, nil))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {c.Redirect}, "resource": {e.URL + "/mcp"}}
	wantTokenError(t, e.token(withAssertion(form, newClientKey(t, jose.ES256, "doc-key").sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", ""), "does not verify")
	tr := e.token(withAssertion(form, key.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", "")
	if tr.Status != http.StatusOK {
		t.Fatalf("token: %d %v", tr.Status, tr.Body)
	}
	// The document goes away: once the cache expires, the client is gone.
	ds.set("/oauth/client.json", docResponse{Status: http.StatusNotFound})
	e.Clock.Advance(cimdMinTTL + time.Second)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.Refresh}}
	wantTokenError(t, e.token(withAssertion(refresh, key.sign(t, e.URL, id, assertion{}, e.Clock.Now())), "", ""), "it could not be fetched: unexpected status 404")
}

// FuzzClientAssertion posts any client_assertion for a private_key_jwt
// client to the token endpoint: the answer is a token or a 400/401 in
// OAuth's terms (invalid_client, invalid_request), never a server error.
func FuzzClientAssertion(f *testing.F) {
	e := newTestEnv(f)
	key := newClientKey(f, jose.ES256, "k1")
	id := e.registerJSON(map[string]any{
		"client_name":                "Keyed",
		"redirect_uris":              []string{"http://127.0.0.1/callback"},
		"grant_types":                []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt",
		"jwks":                       jwks(key),
	})["client_id"].(string)
	now := e.Clock.Now()
	f.Add(key.sign(f, e.URL, id, assertion{}, now))
	f.Add(key.sign(f, e.URL, id, assertion{Aud: []string{e.URL, e.URL + "/token"}}, now))
	f.Add(newClientKey(f, jose.EdDSA, "k1").sign(f, e.URL, id, assertion{}, now))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.e30.AAAA")
	f.Add("a.b.c.d.e")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {tok}}
		resp, err := http.PostForm(e.URL+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
		}
		switch code, _ := body["error"].(string); {
		case resp.StatusCode == http.StatusOK && body["access_token"] != nil:
		case resp.StatusCode == http.StatusUnauthorized && code == "invalid_client":
		case resp.StatusCode == http.StatusBadRequest && code == "invalid_request":
		default:
			t.Fatalf("status %d, body %v", resp.StatusCode, body)
		}
	})
}
