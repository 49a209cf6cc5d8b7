package authz

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
)

// dpopKey is a client's DPoP key pair.
type dpopKey struct {
	priv *ecdsa.PrivateKey
	jkt  string
}

func newDPoPKey(t *testing.T) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: priv.Public()}
	jkt, err := dpop.Thumbprint(&jwk)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: priv, jkt: jkt}
}

// proof makes a DPoP proof (RFC 9449 §4.2) the way a client does.
func (k *dpopKey) proof(t *testing.T, method, htu string, iat time.Time, extra map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"jti": randomToken(12), "htm": method, "htu": htu, "iat": iat.Unix()}
	for key, v := range extra {
		claims[key] = v
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// dpopCode runs the authorization step and returns the code and verifier.
func (e *testEnv) dpopCode(c testClient, extra url.Values) (code, verifier string) {
	e.t.Helper()
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, extra))
	return loc.Query().Get("code"), verifier
}

func TestDPoPBindsTokensAndRefresh(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	key := newDPoPKey(t)
	htu := e.URL + "/token"
	code, verifier := e.dpopCode(c, nil)
	tr := e.tokenDPoP(codeForm(c, code, verifier), key.proof(t, "POST", htu, e.Clock.Now(), nil), "", "")
	if tr.Status != http.StatusOK || tr.Body["token_type"] != "DPoP" {
		t.Fatalf("token with proof: %d %v", tr.Status, tr.Body)
	}
	claims, _ := verifyWithJWKS(t, e, tr.Access)
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
		t.Errorf("cnf = %v, want jkt %s", claims["cnf"], key.jkt)
	}
	at, err := e.Server.VerifyAccessToken(t.Context(), tr.Access)
	if err != nil || at.JKT != key.jkt {
		t.Errorf("VerifyAccessToken: %v %+v", err, at)
	}

	// The public client's refresh token is bound to the key.
	if r := e.tokenDPoP(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.Refresh}, "client_id": {c.ID}}, "", "", ""); r.Status != http.StatusBadRequest || r.Error != "invalid_dpop_proof" {
		t.Errorf("refresh without proof: %d %v", r.Status, r.Body)
	}
	other := newDPoPKey(t)
	if r := e.tokenDPoP(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.Refresh}, "client_id": {c.ID}}, other.proof(t, "POST", htu, e.Clock.Now(), nil), "", ""); r.Status != http.StatusBadRequest || r.Error != "invalid_dpop_proof" {
		t.Errorf("refresh with another key: %d %v", r.Status, r.Body)
	}
	r := e.tokenDPoP(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.Refresh}, "client_id": {c.ID}}, key.proof(t, "POST", htu, e.Clock.Now(), nil), "", "")
	if r.Status != http.StatusOK || r.Body["token_type"] != "DPoP" {
		t.Fatalf("refresh with the same key: %d %v", r.Status, r.Body)
	}
	if c2, _ := verifyWithJWKS(t, e, r.Access); c2["cnf"].(map[string]any)["jkt"] != key.jkt {
		t.Errorf("refreshed token cnf %v", c2["cnf"])
	}
}

func TestDPoPProofRejections(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	key := newDPoPKey(t)
	htu := e.URL + "/token"
	now := e.Clock.Now()
	replayed := key.proof(t, "POST", htu, now, nil)
	code, verifier := e.dpopCode(c, nil)
	if r := e.tokenDPoP(codeForm(c, code, verifier), replayed, "", ""); r.Status != http.StatusOK {
		t.Fatalf("first use: %d %v", r.Status, r.Body)
	}
	cases := map[string]string{
		"garbage":    "not-a-jwt",
		"empty jws":  "a.b.c",
		"wrong htu":  key.proof(t, "POST", e.URL+"/other", now, nil),
		"wrong htm":  key.proof(t, "GET", htu, now, nil),
		"stale iat":  key.proof(t, "POST", htu, now.Add(-10*time.Minute), nil),
		"future iat": key.proof(t, "POST", htu, now.Add(10*time.Minute), nil),
		"replayed":   replayed,
	}
	for name, proof := range cases {
		code, verifier := e.dpopCode(c, nil)
		r := e.tokenDPoP(codeForm(c, code, verifier), proof, "", "")
		if r.Status != http.StatusBadRequest || r.Error != "invalid_dpop_proof" || r.Body["error_description"] == "" {
			t.Errorf("%s: %d %v, want 400 invalid_dpop_proof with a description", name, r.Status, r.Body)
		}
	}
}

func TestDPoPJKTBindsTheCode(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	key := newDPoPKey(t)
	htu := e.URL + "/token"
	for name, tc := range map[string]struct {
		proof string
		want  string
	}{
		"no proof":    {"", "invalid_dpop_proof"},
		"another key": {newDPoPKey(t).proof(t, "POST", htu, e.Clock.Now(), nil), "invalid_dpop_proof"},
		"the key":     {key.proof(t, "POST", htu, e.Clock.Now(), nil), ""},
	} {
		code, verifier := e.dpopCode(c, url.Values{"dpop_jkt": {key.jkt}})
		r := e.tokenDPoP(codeForm(c, code, verifier), tc.proof, "", "")
		if tc.want == "" && (r.Status != http.StatusOK || r.Body["token_type"] != "DPoP") {
			t.Errorf("%s: %d %v", name, r.Status, r.Body)
		} else if tc.want != "" && r.Error != tc.want {
			t.Errorf("%s: %d %v, want %s", name, r.Status, r.Body, tc.want)
		}
	}
	_, challenge := pkce()
	resp, body := e.newBrowser().get(e.authorizeURL(c, challenge, url.Values{"dpop_jkt": {"short"}}))
	if loc, _ := authorizeErrorTo(t, resp, body); loc.Query().Get("error") != "invalid_request" {
		t.Errorf("malformed dpop_jkt: %d %s", resp.StatusCode, loc)
	}
}

func TestDPoPRequiredByClientOrPolicy(t *testing.T) {
	e := newTestEnv(t)
	body := `{"client_name":"Bound","redirect_uris":["http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true}`
	resp, _ := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
	var reg map[string]any
	decodeJSON(t, resp, &reg)
	if reg["dpop_bound_access_tokens"] != true {
		t.Errorf("registration echo %v", reg)
	}
	bound := testClient{ID: reg["client_id"].(string), Redirect: "http://127.0.0.1:7777/cb"}
	code, verifier := e.dpopCode(bound, nil)
	if r := e.tokenDPoP(codeForm(bound, code, verifier), "", "", ""); r.Error != "invalid_dpop_proof" {
		t.Errorf("dpop_bound_access_tokens client without proof: %d %v", r.Status, r.Body)
	}
	// Other clients keep getting Bearer tokens without a proof.
	plain := e.registerPublic("http://127.0.0.1:7777/callback")
	if r := e.codeFlow(e.newBrowser(), plain); r.Status != http.StatusOK || !strings.EqualFold(r.Body["token_type"].(string), "bearer") {
		t.Errorf("client without DPoP: %d %v", r.Status, r.Body)
	}

	strict := newTestEnv(t, func(c *Config) { c.DPoP.Require = true })
	c := strict.registerPublic("http://127.0.0.1:7777/callback")
	code, verifier = strict.dpopCode(c, nil)
	if r := strict.tokenDPoP(codeForm(c, code, verifier), "", "", ""); r.Error != "invalid_dpop_proof" {
		t.Errorf("server-wide policy without proof: %d %v", r.Status, r.Body)
	}
}

func TestDPoPNonceRoundTrip(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.DPoP.RequireNonce = true })
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	key := newDPoPKey(t)
	code, verifier := e.dpopCode(c, nil)
	r := e.tokenDPoP(codeForm(c, code, verifier), key.proof(t, "POST", e.URL+"/token", e.Clock.Now(), nil), "", "")
	nonce := r.Header.Get("DPoP-Nonce")
	if r.Status != http.StatusBadRequest || r.Error != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("proof without nonce: %d %v nonce %q", r.Status, r.Body, nonce)
	}
	r = e.tokenDPoP(codeForm(c, code, verifier), key.proof(t, "POST", e.URL+"/token", e.Clock.Now(), map[string]any{"nonce": nonce}), "", "")
	if r.Status != http.StatusOK || r.Body["token_type"] != "DPoP" {
		t.Fatalf("proof with nonce: %d %v", r.Status, r.Body)
	}
	if r.Header.Get("DPoP-Nonce") == "" {
		t.Error("no fresh DPoP-Nonce on success")
	}
}

func TestClientCredentialsWithDPoPAndMetadata(t *testing.T) {
	e := newTestEnv(t)
	id, secret := e.addService(true, "client_credentials")
	key := newDPoPKey(t)
	r := e.tokenDPoP(url.Values{"grant_type": {"client_credentials"}}, key.proof(t, "POST", e.URL+"/token", e.Clock.Now(), nil), id, secret)
	if r.Status != http.StatusOK || r.Body["token_type"] != "DPoP" {
		t.Fatalf("client_credentials with DPoP: %d %v", r.Status, r.Body)
	}
	_, _, body := e.introspectHTTP(id, secret, r.Access, "")
	if body["token_type"] != "DPoP" || body["cnf"].(map[string]any)["jkt"] != key.jkt {
		t.Errorf("introspection of a DPoP token: %v", body)
	}
	resp, _ := http.Get(e.URL + "/.well-known/oauth-authorization-server")
	var md map[string]any
	decodeJSON(t, resp, &md)
	algs, _ := md["dpop_signing_alg_values_supported"].([]any)
	if len(algs) == 0 || md["introspection_endpoint"] != e.URL+"/introspect" || md["jwks_uri"] != e.URL+"/jwks" {
		t.Errorf("metadata: dpop algs %v introspection %v jwks %v", algs, md["introspection_endpoint"], md["jwks_uri"])
	}
	for _, a := range algs {
		if a == "none" || strings.HasPrefix(a.(string), "HS") {
			t.Errorf("advertises %v", a)
		}
	}
}

// TestCorrectableTokenErrorKeepsTheCode: a code exchange refused for a
// mistake the client can correct — no DPoP proof for a dpop_jkt-bound code
// or a client that must use DPoP, another configured resource than the
// code's — leaves the code redeemable, as a wrong redirect_uri does; the
// corrected retry gets its tokens instead of invalid_grant.
func TestCorrectableTokenErrorKeepsTheCode(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Resources = []string{c.Issuer + "/mcp", "https://other.example/mcp"} })
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	key := newDPoPKey(t)
	htu := e.URL + "/token"

	code, verifier := e.dpopCode(c, nil)
	f := codeForm(c, code, verifier)
	f.Set("redirect_uri", "http://127.0.0.1:7777/other")
	if r := e.token(f, "", ""); r.Error != "invalid_grant" {
		t.Fatalf("wrong redirect_uri: %d %v", r.Status, r.Body)
	}
	if r := e.token(codeForm(c, code, verifier), "", ""); r.Status != http.StatusOK {
		t.Errorf("retry after a wrong redirect_uri: %d %v", r.Status, r.Body)
	}

	code, verifier = e.dpopCode(c, url.Values{"dpop_jkt": {key.jkt}})
	if r := e.tokenDPoP(codeForm(c, code, verifier), "", "", ""); r.Error != "invalid_dpop_proof" {
		t.Fatalf("dpop_jkt code without a proof: %d %v", r.Status, r.Body)
	}
	if r := e.tokenDPoP(codeForm(c, code, verifier), key.proof(t, "POST", htu, e.Clock.Now(), nil), "", ""); r.Status != http.StatusOK || r.Body["token_type"] != "DPoP" {
		t.Errorf("retry with the proof: %d %v", r.Status, r.Body)
	}

	code, verifier = e.dpopCode(c, nil)
	f = codeForm(c, code, verifier)
	f.Set("resource", "https://other.example/mcp")
	if r := e.token(f, "", ""); r.Error != "invalid_target" {
		t.Fatalf("another resource: %d %v", r.Status, r.Body)
	}
	f.Set("resource", e.URL+"/mcp")
	if r := e.token(f, "", ""); r.Status != http.StatusOK {
		t.Errorf("retry with the code's resource: %d %v", r.Status, r.Body)
	}

	body := `{"client_name":"Bound","redirect_uris":["http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true}`
	resp, err := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	decodeJSON(t, resp, &reg)
	bound := testClient{ID: reg["client_id"].(string), Redirect: "http://127.0.0.1:7777/cb"}
	code, verifier = e.dpopCode(bound, nil)
	if r := e.tokenDPoP(codeForm(bound, code, verifier), "", "", ""); r.Error != "invalid_dpop_proof" {
		t.Fatalf("DPoP-bound client without a proof: %d %v", r.Status, r.Body)
	}
	if r := e.tokenDPoP(codeForm(bound, code, verifier), key.proof(t, "POST", htu, e.Clock.Now(), nil), "", ""); r.Status != http.StatusOK {
		t.Errorf("retry with the proof: %d %v", r.Status, r.Body)
	}
}
