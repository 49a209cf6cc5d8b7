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
	e := newTestEnv(t, func(c *Config) { c.AccessTokenLifetime = time.Hour })
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	published := func(kid string) bool {
		return strings.Contains(string(e.Server.Keys().JWKS(t.Context())), kid)
	}
	reload := func() {
		if err := e.Server.Keys().Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// A new deployment signs with its first key at once, and a key that
	// replaces one not yet published for the lead time signs at once too.
	t0 := e.codeFlow(e.newBrowser(), c)
	_, h0 := verifyWithJWKS(t, e, t0.Access)
	first, err := e.Server.Keys().Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !first.Signing || first.SignsFrom != nil {
		t.Errorf("replacing a key minutes old: %+v, want it signing at once", first)
	}

	// Later rotations publish the new key first: the old one signs until
	// every instance and every cache of /jwks has the new one.
	e.Clock.Advance(keyPublishLead + time.Minute)
	reload()
	t1 := e.codeFlow(e.newBrowser(), c)
	_, h1 := verifyWithJWKS(t, e, t1.Access)
	if h1.KeyID != first.ID || h1.KeyID == h0.KeyID {
		t.Fatalf("signed by %s, want the rotated key %s", h1.KeyID, first.ID)
	}
	next, err := e.Server.Keys().Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if next.Signing || next.SignsFrom == nil || next.SignsFrom.Sub(e.Clock.Now().Add(keyPublishLead)).Abs() > time.Second {
		t.Errorf("new key: %+v, want published, signing from now + %v", next, keyPublishLead)
	}
	if !published(next.ID) || !published(h1.KeyID) {
		t.Error("the new key or the retired one is not published")
	}
	if _, h := verifyWithJWKS(t, e, e.codeFlow(e.newBrowser(), c).Access); h.KeyID != h1.KeyID {
		t.Errorf("right after the rotation, signed by %s, want the old key %s", h.KeyID, h1.KeyID)
	}
	e.Clock.Advance(keyPublishLead)
	reload()
	t2 := e.codeFlow(e.newBrowser(), c)
	if _, h2 := verifyWithJWKS(t, e, t2.Access); h2.KeyID != next.ID {
		t.Fatalf("after the lead time, signed by %s, want the new key %s", h2.KeyID, next.ID)
	}
	// The old key is still published and the old token still works.
	verifyWithJWKS(t, e, t1.Access)
	if !e.active(t1.Access) {
		t.Error("a token signed by the retired key stopped working")
	}
	// It signed until the lead time was over; after the longest token
	// lifetime from then it is no longer published.
	e.Clock.Advance(e.Server.cfg.AccessTokenLifetime + 10*time.Minute + time.Second)
	reload()
	if published(h1.KeyID) {
		t.Error("the retired key is still published after every token it signed expired")
	}
	list, err := e.Server.Keys().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list {
		if k.ID == h1.KeyID && (k.Published || k.Signing) {
			t.Errorf("retired key listed as %+v", k)
		}
	}
}
