package authz

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// verifyWithJWKS verifies an access token the way a resource server would:
// with the keys fetched from jwks_uri, nothing else.
func verifyWithJWKS(t *testing.T, e *testEnv, tok string) (map[string]any, jose.Header) {
	t.Helper()
	resp, err := http.Get(e.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("jwks: %v: %s", err, body)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key: %s", body)
		}
	}
	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("access token is not a JWS: %v", err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS %s", parsed.Headers[0].KeyID, body)
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return claims, parsed.Headers[0]
}

func TestJWTAccessTokensFollowRFC9068(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	t1 := e.codeFlow(e.newBrowser(), c)
	claims, h := verifyWithJWKS(t, e, t1.Access)
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" || h.Algorithm != "ES256" {
		t.Errorf("header typ %v alg %s, want at+jwt ES256", h.ExtraHeaders[jose.HeaderType], h.Algorithm)
	}
	want := map[string]any{"iss": e.URL, "sub": "u-alice", "aud": e.URL + "/mcp", "client_id": c.ID, "scope": "docs:read"}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	for _, k := range []string{"jti", "iat", "exp"} {
		if claims[k] == nil {
			t.Errorf("claim %s missing", k)
		}
	}
	if _, ok := claims["cnf"]; ok {
		t.Error("a Bearer token carries cnf")
	}
	exp := int64(claims["exp"].(float64)) - int64(claims["iat"].(float64))
	if exp < 895 || exp > 905 {
		t.Errorf("exp - iat = %d s, want the 15-minute lifetime", exp)
	}

	// A refreshed token has its own iat and jti (ory/fosite#774).
	e.Clock.Advance(3 * time.Second)
	t2 := e.refresh(c, t1.Refresh)
	c2, _ := verifyWithJWKS(t, e, t2.Access)
	if c2["jti"] == claims["jti"] || c2["iat"] == claims["iat"] {
		t.Errorf("refreshed token reuses jti/iat: %v %v vs %v %v", c2["jti"], c2["iat"], claims["jti"], claims["iat"])
	}
}

func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	t1 := e.codeFlow(e.newBrowser(), c)
	_, h1 := verifyWithJWKS(t, e, t1.Access)
	if _, err := e.Server.Keys().Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	t2 := e.codeFlow(e.newBrowser(), c)
	_, h2 := verifyWithJWKS(t, e, t2.Access)
	if h1.KeyID == h2.KeyID {
		t.Fatal("rotation did not change the signing key")
	}
	// The old key is still published and the old token still works.
	verifyWithJWKS(t, e, t1.Access)
	if !e.active(t1.Access) {
		t.Error("a token signed by the retired key stopped working")
	}
	// After the longest token lifetime the retired key is gone.
	e.Clock.Advance(30 * time.Minute)
	if err := e.Server.Keys().Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(e.Server.Keys().JWKS(t.Context())), h1.KeyID) {
		t.Error("the retired key is still published after every token it signed expired")
	}
}
