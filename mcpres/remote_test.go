package mcpres

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/authz/dpop"
)

const testResource = "https://mcp.example.com/mcp"

func newClock() *testClock { return &testClock{t: time.Now()} }

// JWT access tokens of a real mcpauthz, verified with its JWKS alone.
func TestRemoteVerifierJWT(t *testing.T) {
	clock := newClock()
	as := newTestAS(t, clock, testResource)
	v := as.mustRemote(testResource, clock, nil)
	ctx := t.Context()
	id, secret := as.addClient(false, "client_credentials")

	// A client_credentials token: no user (sub == client_id).
	tok := as.clientCredentials(id, secret, nil)
	ti, err := v.VerifyAccessToken(ctx, tok)
	if err != nil {
		t.Fatalf("client_credentials token: %v", err)
	}
	if ti.Subject != "" || ti.ClientID != id || !reflect.DeepEqual(ti.Scopes, []string{"docs:read"}) ||
		!reflect.DeepEqual(ti.Audience, []string{testResource}) || ti.JKT != "" {
		t.Errorf("TokenInfo %+v", ti)
	}
	if d := ti.ExpiresAt.Sub(clock.Now()); d < 14*time.Minute || d > 16*time.Minute {
		t.Errorf("expires in %s, want the 15-minute lifetime", d)
	}

	// A user's token.
	userTok, typ := as.userToken(testResource, nil, clock.Now())
	ti, err = v.VerifyAccessToken(ctx, userTok)
	if err != nil || typ != "bearer" && typ != "Bearer" {
		t.Fatalf("user token (%s): %v", typ, err)
	}
	if ti.Subject != aliceID || ti.ClientID == "" || ti.ClientID == aliceID {
		t.Errorf("user TokenInfo %+v", ti)
	}

	// A token for another resource.
	other := as.clientCredentials(id, secret, url.Values{"resource": {otherResource}})
	if _, err := v.VerifyAccessToken(ctx, other); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("token for another resource: %v", err)
	}

	// Tampered: the payload changed, the signature kept.
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"docs:read"`, `"docs:write"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	if _, err := v.VerifyAccessToken(ctx, tampered); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("tampered token: %v", err)
	}
	// alg none with the same claims.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	if _, err := v.VerifyAccessToken(ctx, none); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("alg none: %v", err)
	}
	// An opaque string, with no introspection configured.
	if _, err := v.VerifyAccessToken(ctx, "opaque-token"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("opaque token without introspection: %v", err)
	}
	if n := as.introspections.Load(); n != 0 {
		t.Errorf("%d introspections in JWT mode", n)
	}

	// Key rotation: the new kid is unknown until the JWKS is fetched
	// again, at most once per 10 s.
	fetches := as.jwksFetches.Load()
	if _, err := as.Server.Keys().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	rotated := as.clientCredentials(id, secret, nil)
	clock.Advance(jwksMinInterval + time.Second)
	if _, err := v.VerifyAccessToken(ctx, rotated); err != nil {
		t.Fatalf("token signed by the new key: %v", err)
	}
	if got := as.jwksFetches.Load(); got != fetches+1 {
		t.Errorf("JWKS fetched %d times after the rotation, want 1", got-fetches)
	}
	// The old key is still published: older tokens still verify.
	if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
		t.Errorf("token of the retired key: %v", err)
	}
	// A token with an unknown kid right after a fetch: refused without a
	// new fetch.
	if _, err := as.Server.Keys().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	again := as.clientCredentials(id, secret, nil)
	if _, err := v.VerifyAccessToken(ctx, again); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("unknown kid within 10 s of a fetch: %v", err)
	}
	if got := as.jwksFetches.Load(); got != fetches+1 {
		t.Errorf("JWKS fetched again within 10 s (%d fetches)", got-fetches)
	}

	// Expiry: the fake clock passes the 15-minute lifetime and the
	// leeway.
	clock.Advance(16 * time.Minute)
	if _, err := v.VerifyAccessToken(ctx, userTok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expired token: %v", err)
	}
}

// Opaque tokens through RFC 7662 introspection, with the cache.
func TestRemoteVerifierIntrospection(t *testing.T) {
	clock := newClock()
	as := newTestAS(t, clock, testResource, func(c *authz.Config) { c.TokenFormat = authz.TokenFormatOpaque })
	rsID, rsSecret := as.addClient(true, "client_credentials")
	v := as.mustRemote(testResource, clock, func(c *RemoteConfig) {
		c.IntrospectionClientID, c.IntrospectionClientSecret = rsID, rsSecret
	})
	ctx := t.Context()
	id, secret := as.addClient(false, "client_credentials")
	tok := as.clientCredentials(id, secret, nil)
	if strings.Count(tok, ".") == 2 {
		t.Fatalf("the AS issued a JWT in opaque mode: %s", tok)
	}

	ti, err := v.VerifyAccessToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Subject != "" || ti.ClientID != id || !reflect.DeepEqual(ti.Scopes, []string{"docs:read"}) ||
		!reflect.DeepEqual(ti.Audience, []string{testResource}) || ti.ExpiresAt.IsZero() {
		t.Errorf("TokenInfo %+v", ti)
	}
	if n := as.introspections.Load(); n != 1 {
		t.Errorf("%d introspections, want 1", n)
	}
	// Cached.
	if _, err := v.VerifyAccessToken(ctx, tok); err != nil || as.introspections.Load() != 1 {
		t.Errorf("second check: %v, %d introspections", err, as.introspections.Load())
	}
	// A user token carries the user.
	userTok, _ := as.userToken(testResource, nil, clock.Now())
	if ti, err := v.VerifyAccessToken(ctx, userTok); err != nil || ti.Subject != aliceID || ti.Username != "alice" {
		t.Errorf("user token: %v %+v", err, ti)
	}

	// Revocation is seen once the cached answer expires.
	if status, _, body := as.post("/revoke", url.Values{"token": {tok}}, id, secret, ""); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
	if _, err := v.VerifyAccessToken(ctx, tok); err != nil {
		t.Errorf("within the cache TTL the revoked token is still accepted (documented): %v", err)
	}
	clock.Advance(DefaultIntrospectionCacheTTL + time.Second)
	if _, err := v.VerifyAccessToken(ctx, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoked token after the cache TTL: %v", err)
	}

	// Negative answers are cached too.
	n := as.introspections.Load()
	for range 3 {
		if _, err := v.VerifyAccessToken(ctx, "no-such-token"); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("unknown token: %v", err)
		}
	}
	if got := as.introspections.Load(); got != n+1 {
		t.Errorf("%d introspections for one unknown token asked three times, want 1", got-n)
	}
	clock.Advance(DefaultIntrospectionCacheTTL + time.Second)
	_, _ = v.VerifyAccessToken(ctx, "no-such-token")
	if got := as.introspections.Load(); got != n+2 {
		t.Errorf("negative answer not refreshed after the TTL (%d introspections)", got-n)
	}
}

// A positive answer is never reused past the token's exp, whatever the
// cache TTL.
func TestRemoteIntrospectionCacheStopsAtExpiry(t *testing.T) {
	clock := newClock()
	as := newTestAS(t, clock, testResource, func(c *authz.Config) {
		c.TokenFormat = authz.TokenFormatOpaque
		c.AccessTokenLifetime = time.Minute
	})
	rsID, rsSecret := as.addClient(true, "client_credentials")
	v := as.mustRemote(testResource, clock, func(c *RemoteConfig) {
		c.IntrospectionClientID, c.IntrospectionClientSecret = rsID, rsSecret
		c.CacheTTL = MaxIntrospectionCacheTTL
	})
	id, secret := as.addClient(false, "client_credentials")
	tok := as.clientCredentials(id, secret, nil)
	if _, err := v.VerifyAccessToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute + time.Second)
	_, _ = v.VerifyAccessToken(t.Context(), tok)
	if n := as.introspections.Load(); n != 2 {
		t.Errorf("%d introspections, want 2 (the cache entry ends at exp)", n)
	}
	clock.Advance(jwtLeeway)
	if _, err := v.VerifyAccessToken(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expired token: %v", err)
	}
}

// Introspection credentials the AS refuses fail loudly: an error that is
// not ErrInvalidToken (503 at the endpoint, logged at Error), never a
// silent "every token is invalid".
func TestRemoteIntrospectionBadCredentials(t *testing.T) {
	clock := newClock()
	as := newTestAS(t, clock, testResource, func(c *authz.Config) { c.TokenFormat = authz.TokenFormatOpaque })
	rsID, _ := as.addClient(true, "client_credentials")
	notAllowedID, notAllowedSecret := as.addClient(false, "client_credentials")
	id, secret := as.addClient(false, "client_credentials")
	tok := as.clientCredentials(id, secret, nil)
	for name, creds := range map[string][2]string{
		"wrong secret":              {rsID, "wrong-secret"},
		"client may not introspect": {notAllowedID, notAllowedSecret},
	} {
		v := as.mustRemote(testResource, clock, func(c *RemoteConfig) {
			c.IntrospectionClientID, c.IntrospectionClientSecret = creds[0], creds[1]
		})
		_, err := v.VerifyAccessToken(t.Context(), tok)
		if err == nil || errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "refused the client credentials") {
			t.Errorf("%s: %v, want a configuration error", name, err)
		}
		// Not cached: the next call asks again.
		n := as.introspections.Load()
		_, _ = v.VerifyAccessToken(t.Context(), tok)
		if as.introspections.Load() != n+1 {
			t.Errorf("%s: a failure was cached", name)
		}
	}

	// Through the resource server: 503 and an Error log.
	f := newFixtureWith(t, nil, func(f *fixture) TokenVerifier {
		return as.mustRemote(f.resource, clock, func(c *RemoteConfig) {
			c.IntrospectionClientID, c.IntrospectionClientSecret = rsID, "wrong-secret"
		})
	})
	resp, _ := f.request(http.MethodPost, "/mcp", "some-opaque-token", initializeBody, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "refused the client credentials") ||
		strings.Contains(logs, "wrong-secret") || strings.Contains(logs, "some-opaque-token") {
		t.Errorf("logs:\n%s", logs)
	}
}

// AlwaysIntrospect sends JWTs to introspection too, so revocation shows
// within the cache TTL.
func TestRemoteAlwaysIntrospect(t *testing.T) {
	clock := newClock()
	as := newTestAS(t, clock, testResource)
	rsID, rsSecret := as.addClient(true, "client_credentials")
	v := as.mustRemote(testResource, clock, func(c *RemoteConfig) {
		c.IntrospectionClientID, c.IntrospectionClientSecret = rsID, rsSecret
		c.AlwaysIntrospect = true
		c.CacheTTL = 5 * time.Second
	})
	jwtOnly := as.mustRemote(testResource, clock, nil)
	id, secret := as.addClient(false, "client_credentials")
	tok := as.clientCredentials(id, secret, nil)
	if _, err := v.VerifyAccessToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if as.introspections.Load() != 1 {
		t.Errorf("JWT not introspected with AlwaysIntrospect")
	}
	if status, _, _ := as.post("/revoke", url.Values{"token": {tok}}, id, secret, ""); status != http.StatusOK {
		t.Fatal(status)
	}
	clock.Advance(6 * time.Second)
	if _, err := v.VerifyAccessToken(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoked JWT with AlwaysIntrospect: %v", err)
	}
	// JWT verification alone sees revocation only at expiry.
	if _, err := jwtOnly.VerifyAccessToken(t.Context(), tok); err != nil {
		t.Errorf("JWT-only verifier: %v (revocation is not visible to it until exp)", err)
	}
}

// The remote resource server end to end: a real AS issues DPoP-bound
// tokens; the resource, on its own store, verifies them with the JWKS or
// by introspection and checks the proofs.
func TestRemoteResourceServerDPoP(t *testing.T) {
	for _, mode := range []string{"jwt", "introspection"} {
		t.Run(mode, func(t *testing.T) {
			var as *testAS
			var key *proofKey
			f := newFixtureWith(t, func(f *fixture, c *Config) {
				as = newTestAS(t, f.clock, f.resource, func(ac *authz.Config) {
					if mode == "introspection" {
						ac.TokenFormat = authz.TokenFormatOpaque
					}
				})
				c.Issuer, c.Resource, c.DocumentBaseURL = as.URL, f.resource, f.issuer
				v, err := dpop.New(dpop.Config{Replay: f.st, IsReplay: isStoreReplay, Now: f.clock.Now, ReplayKeyPrefix: "dpop:rs:",
					Nonces: dpop.NewNonceSource([]byte("0123456789abcdef0123456789abcdef"), 0, f.clock.Now)})
				if err != nil {
					t.Fatal(err)
				}
				c.DPoP = v
			}, func(f *fixture) TokenVerifier {
				return as.mustRemote(f.resource, f.clock, func(c *RemoteConfig) {
					if mode == "introspection" {
						c.IntrospectionClientID, c.IntrospectionClientSecret = as.addClient(true, "client_credentials")
					}
				})
			})
			key = newProofKey(t)
			tok, typ := as.userToken(f.resource, key, f.clock.Now())
			if typ != "DPoP" {
				t.Fatalf("token_type %q, want DPoP", typ)
			}
			d := &dpopFixture{fixture: f, key: key, other: newProofKey(t)}
			proof := func(k *proofKey) string {
				return k.sign(t, proofClaims(http.MethodPost, f.resource, tok, f.clock.Now()))
			}
			resp := d.send("/mcp", tok, searchCall, proof(key))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("DPoP call: %d %q\n%s", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), f.logs)
			}
			if resp.Header.Get("DPoP-Nonce") == "" {
				t.Error("no DPoP-Nonce on success")
			}
			resp = d.send("/mcp", tok, searchCall, proof(d.other))
			wantChallenges(t, resp, 401, d.dpopChallenge(`, error="invalid_dpop_proof", error_description="the DPoP proof key does not match the key the token or code is bound to"`))
			resp, _ = f.request(http.MethodPost, "/mcp", tok, searchCall, nil)
			wantChallenges(t, resp, 401,
				d.bearerChallenge(`, error="invalid_token", error_description="the access token is bound to a DPoP key and cannot be used as a bearer token"`),
				d.dpopChallenge(""))

			// A user's Bearer token works beside it, through the go-sdk.
			bearer, _ := as.userToken(f.resource, nil, f.clock.Now())
			cs := f.connect(bearer, "")
			res := callTool(t, cs, "search", map[string]any{"query": "wombat"})
			if text := textOf(t, res); res.IsError || !strings.Contains(text, "wombat") || !strings.Contains(text, `"url":"`+f.issuer+`/docs/`) {
				t.Errorf("bearer search: %s", text)
			}
			// A client_credentials token acts for no user: refused.
			id, secret := as.addClient(false, "client_credentials")
			svc := as.clientCredentials(id, secret, url.Values{"resource": {f.resource}})
			resp, _ = f.request(http.MethodPost, "/mcp", svc, initializeBody, nil)
			wantChallenges(t, resp, 401,
				d.bearerChallenge(`, error="invalid_token", error_description="the access token does not act for a user"`), d.dpopChallenge(""))
		})
	}
}

// fakeAS serves metadata and a JWKS for a key the test signs with, to
// check each claim rule on hand-made tokens.
type fakeAS struct {
	down     atomic.Bool // the JWKS answers 502
	withdraw atomic.Bool // the JWKS is empty
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	kid      string
	meta     map[string]any
	jwks     []byte
}

func newFakeAS(t *testing.T) *fakeAS {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAS{key: priv, kid: "k1"}
	f.jwks, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.meta = map[string]any{"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/jwks"}
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.meta)
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if f.withdraw.Load() {
			_, _ = w.Write([]byte(`{"keys":[]}`))
			return
		}
		_, _ = w.Write(f.jwks)
	})
	return f
}

// sign makes a token with these header extras and claims.
func (f *fakeAS) sign(t *testing.T, typ, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// TestRemoteJWTExpLeewayAtMCP: the clock skew tolerated on a JWT's exp
// holds at /mcp too, as it does for nbf and iat; past it the token is
// refused with invalid_token.
func TestRemoteJWTExpLeewayAtMCP(t *testing.T) {
	as := newFakeAS(t)
	f := newFixtureWith(t, func(fx *fixture, c *Config) {
		c.Issuer, c.Resource, c.AllowedHosts = as.srv.URL, testResource, []string{"*"}
	}, func(fx *fixture) TokenVerifier {
		v, err := NewRemoteVerifier(t.Context(), RemoteConfig{Issuer: as.srv.URL, Resource: testResource, Now: fx.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
	now := f.clock.Now()
	token := func(exp time.Time) string {
		return as.sign(t, "at+jwt", "k1", map[string]any{"iss": as.srv.URL, "sub": aliceID, "aud": testResource, "client_id": "c-1",
			"scope": "docs:read", "iat": now.Add(-10 * time.Minute).Unix(), "exp": exp.Unix()})
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	hdr := map[string]string{"MCP-Protocol-Version": "2025-06-18"}
	if resp, body := f.request(http.MethodPost, "/mcp", token(now.Add(-10*time.Second)), ping, hdr); resp.StatusCode != http.StatusOK {
		t.Errorf("10 s past exp, within the leeway: %d %s, want 200", resp.StatusCode, body)
	}
	resp, _ := f.request(http.MethodPost, "/mcp", token(now.Add(-jwtLeeway-time.Second)), ping, hdr)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("past the leeway: %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestRemoteJWTClaims(t *testing.T) {
	clock := newClock()
	as := newFakeAS(t)
	v, err := NewRemoteVerifier(t.Context(), RemoteConfig{Issuer: as.srv.URL, Resource: testResource, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now().Unix()
	good := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": as.srv.URL, "sub": "u-1", "aud": testResource, "client_id": "c-1", "scope": "docs:read profile",
			"jti": "j", "iat": now, "exp": now + 600}
		if edit != nil {
			edit(c)
		}
		return c
	}
	valid := []struct {
		name  string
		token string
		check func(*TokenInfo) bool
	}{
		{"good", as.sign(t, "at+jwt", "k1", good(nil)), func(ti *TokenInfo) bool {
			return ti.Subject == "u-1" && ti.ClientID == "c-1" && reflect.DeepEqual(ti.Scopes, []string{"docs:read", "profile"}) &&
				ti.ExpiresAt.Unix() == now+600+int64(jwtLeeway/time.Second) && ti.JKT == ""
		}},
		{"application/at+jwt", as.sign(t, "application/at+jwt", "k1", good(nil)), nil},
		{"aud array", as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["aud"] = []string{"x", testResource} })), nil},
		{"client credentials", as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["sub"] = "c-1" })),
			func(ti *TokenInfo) bool { return ti.Subject == "" && ti.ClientID == "c-1" }},
		{"DPoP-bound", as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": "abc"} })),
			func(ti *TokenInfo) bool { return ti.JKT == "abc" }},
		{"iat within leeway", as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["iat"] = now + 20 })), nil},
		{"no kid, one key", as.sign(t, "at+jwt", "", good(nil)), nil},
	}
	for _, tc := range valid {
		ti, err := v.VerifyAccessToken(t.Context(), tc.token)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if tc.check != nil && !tc.check(ti) {
			t.Errorf("%s: %+v", tc.name, ti)
		}
	}
	invalid := map[string]string{
		"wrong iss":         as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["iss"] = "https://evil.example.com" })),
		"iss case-folded":   as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { delete(c, "iss"); c["ISS"] = as.srv.URL })),
		"wrong aud":         as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["aud"] = "https://other.example.com/mcp" })),
		"aud with slash":    as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["aud"] = testResource + "/" })),
		"no aud":            as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { delete(c, "aud") })),
		"expired":           as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["exp"] = now - 61 })),
		"no exp":            as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { delete(c, "exp") })),
		"exp a string":      as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["exp"] = "soon" })),
		"iat in the future": as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["iat"] = now + 120 })),
		"nbf in the future": as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["nbf"] = now + 120 })),
		"no sub":            as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { delete(c, "sub") })),
		"no client_id":      as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { delete(c, "client_id") })),
		"mTLS-bound":        as.sign(t, "at+jwt", "k1", good(func(c map[string]any) { c["cnf"] = map[string]any{"x5t#S256": "abc"} })),
		"typ JWT":           as.sign(t, "JWT", "k1", good(nil)),
		"unknown kid":       as.sign(t, "at+jwt", "k9", good(nil)),
	}
	for name, tok := range invalid {
		if _, err := v.VerifyAccessToken(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}

	fresh := func(kid string) string {
		return as.sign(t, "at+jwt", kid, good(func(c map[string]any) { c["iat"], c["exp"] = clock.Now().Unix(), clock.Now().Unix()+600 }))
	}
	// A key the AS withdrew stops being trusted once the cached set is
	// older than five minutes.
	as.withdraw.Store(true)
	clock.Advance(jwksMaxAge + time.Second)
	if _, err := v.VerifyAccessToken(t.Context(), fresh("k1")); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("withdrawn key: %v", err)
	}
	as.withdraw.Store(false)
	clock.Advance(jwksMinInterval + time.Second)
	if _, err := v.VerifyAccessToken(t.Context(), fresh("k1")); err != nil {
		t.Errorf("key published again: %v", err)
	}
	// The AS's JWKS goes away: a known kid still verifies from the
	// cached set, an unknown one cannot be decided (503).
	as.down.Store(true)
	clock.Advance(jwksMaxAge + time.Second)
	if _, err := v.VerifyAccessToken(t.Context(), fresh("k1")); err != nil {
		t.Errorf("known kid with the JWKS down: %v", err)
	}
	clock.Advance(jwksMinInterval + time.Second)
	_, err = v.VerifyAccessToken(t.Context(), fresh("k7"))
	if err == nil || errors.Is(err, ErrInvalidToken) {
		t.Errorf("unknown kid with the JWKS down: %v, want a non-invalid_token error", err)
	}
}

func TestNewRemoteVerifierErrors(t *testing.T) {
	fake := newFakeAS(t)
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("a", 2<<20) + `"}`))
	}))
	defer big.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fake.srv.URL+r.URL.Path, http.StatusFound)
	}))
	defer redirect.Close()
	empty := httptest.NewServer(http.NotFoundHandler())
	defer empty.Close()

	tests := []struct {
		name string
		cfg  RemoteConfig
		want string
	}{
		{"http issuer", RemoteConfig{Issuer: "http://as.example.com", Resource: testResource}, "OAuth 2.1 requires https"},
		{"no resource", RemoteConfig{Issuer: fake.srv.URL}, "remote resource: required"},
		{"id without secret", RemoteConfig{Issuer: fake.srv.URL, Resource: testResource, IntrospectionClientID: "x"}, "set both or neither"},
		{"always without credentials", RemoteConfig{Issuer: fake.srv.URL, Resource: testResource, AlwaysIntrospect: true}, "always_introspect needs"},
		{"cache too long", RemoteConfig{Issuer: fake.srv.URL, Resource: testResource, CacheTTL: time.Hour}, "longer than 5m0s"},
		{"issuer mismatch", RemoteConfig{Issuer: strings.Replace(fake.srv.URL, "127.0.0.1", "localhost", 1), Resource: testResource}, "names the issuer"},
		{"no metadata", RemoteConfig{Issuer: empty.URL, Resource: testResource}, "answered HTTP 404"},
		{"oversized metadata", RemoteConfig{Issuer: big.URL, Resource: testResource}, "larger than 1048576 bytes"},
		{"redirect not followed", RemoteConfig{Issuer: redirect.URL, Resource: testResource}, "answered HTTP 302"},
		{"credentials but no introspection endpoint", RemoteConfig{Issuer: fake.srv.URL, Resource: testResource,
			IntrospectionClientID: "a", IntrospectionClientSecret: "b"}, "has no introspection_endpoint"},
	}
	for _, tc := range tests {
		_, err := NewRemoteVerifier(t.Context(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// An AS without jwks_uri needs introspection credentials.
	delete(fake.meta, "jwks_uri")
	if _, err := NewRemoteVerifier(t.Context(), RemoteConfig{Issuer: fake.srv.URL, Resource: testResource}); err == nil ||
		!strings.Contains(err.Error(), "publishes no jwks_uri") {
		t.Errorf("no jwks_uri: %v", err)
	}
	// A jwks_uri over plain http on another host is refused.
	fake.meta["jwks_uri"] = "http://keys.example.com/jwks"
	if _, err := NewRemoteVerifier(t.Context(), RemoteConfig{Issuer: fake.srv.URL, Resource: testResource}); err == nil ||
		!strings.Contains(err.Error(), "not an https URL") {
		t.Errorf("http jwks_uri: %v", err)
	}
}

// TestRemoteJWTWithoutKid: kid is optional (RFC 7515 §4.1.4); a token
// without one verifies against whichever key of the set signed it, also
// while the authorization server publishes two keys (a rotation).
func TestRemoteJWTWithoutKid(t *testing.T) {
	clock := newClock()
	as := newFakeAS(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	as.jwks, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: other.Public(), KeyID: "k0", Algorithm: "ES256", Use: "sig"},
		{Key: as.key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"},
	}})
	v, err := NewRemoteVerifier(t.Context(), RemoteConfig{Issuer: as.srv.URL, Resource: testResource, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now().Unix()
	claims := map[string]any{"iss": as.srv.URL, "sub": "u-1", "aud": testResource, "client_id": "c-1", "scope": "docs:read", "iat": now, "exp": now + 600}
	if _, err := v.VerifyAccessToken(t.Context(), as.sign(t, "at+jwt", "", claims)); err != nil {
		t.Errorf("no kid, two keys: %v", err)
	}
	// A key outside the set still fails.
	stranger := &fakeAS{}
	stranger.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := v.VerifyAccessToken(t.Context(), stranger.sign(t, "at+jwt", "", claims)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("no kid, signed by a key outside the set: %v", err)
	}
}

// TestRemoteIntrospectionAnswers: what a third-party authorization
// server's introspection may say (RFC 7662 §2.2) and how it is taken.
func TestRemoteIntrospectionAnswers(t *testing.T) {
	clock := newClock()
	as := newFakeAS(t)
	var answer atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/introspect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer.Load())
	})
	isrv := httptest.NewServer(mux)
	t.Cleanup(isrv.Close)
	as.meta["introspection_endpoint"] = isrv.URL + "/introspect"
	v, err := NewRemoteVerifier(t.Context(), RemoteConfig{Issuer: as.srv.URL, Resource: testResource, Now: clock.Now,
		IntrospectionClientID: "rs", IntrospectionClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now().Unix()
	base := func(edit func(map[string]any)) map[string]any {
		m := map[string]any{"active": true, "token_type": "Bearer", "sub": "u-1", "client_id": "c-1",
			"aud": testResource, "scope": "docs:read", "exp": now + 600, "iss": as.srv.URL}
		edit(m)
		return m
	}
	for i, tc := range []struct {
		name   string
		answer map[string]any
		ok     bool
		check  func(*TokenInfo) bool
	}{
		{"no exp: valid while cached", base(func(m map[string]any) { delete(m, "exp") }), true,
			func(ti *TokenInfo) bool { return ti.ExpiresAt.Equal(clock.Now().Add(DefaultIntrospectionCacheTTL)) }},
		{"DPoP with cnf.jkt", base(func(m map[string]any) { m["token_type"] = "DPoP"; m["cnf"] = map[string]any{"jkt": "abc"} }), true,
			func(ti *TokenInfo) bool { return ti.JKT == "abc" }},
		{"DPoP without cnf: refused, never a bearer token", base(func(m map[string]any) { m["token_type"] = "DPoP" }), false, nil},
		{"exp not a number", base(func(m map[string]any) { m["exp"] = "soon" }), false, nil},
	} {
		answer.Store(tc.answer)
		ti, err := v.VerifyAccessToken(t.Context(), fmt.Sprintf("opaque-token-%d", i))
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.ok && tc.check != nil && !tc.check(ti):
			t.Errorf("%s: %+v", tc.name, ti)
		case !tc.ok && !errors.Is(err, ErrInvalidToken):
			t.Errorf("%s: %+v, %v; want ErrInvalidToken", tc.name, ti, err)
		}
	}
}
