package mcpres

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
	"github.com/mcpauthz/mcpauthz/store"
)

// proofKey is a client's DPoP key.
type proofKey struct {
	signer jose.Signer
	jkt    string
}

func newProofKey(t testing.TB) *proofKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: priv.Public()}
	jkt, err := dpop.Thumbprint(&pub)
	if err != nil {
		t.Fatal(err)
	}
	return &proofKey{signer: signer, jkt: jkt}
}

// sign makes a proof with exactly these claims.
func (k *proofKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims are a good proof's claims for method, url and token at now.
func proofClaims(method, url, token string, now time.Time) map[string]any {
	return map[string]any{
		"jti": rand.Text(),
		"htm": method,
		"htu": url,
		"iat": now.Unix(),
		"ath": dpop.AccessTokenHash(token),
	}
}

func isStoreReplay(err error) bool { return errors.Is(err, store.ErrReplay) }

// dpopFixture is a fixture with DPoP on: a verifier over the fixture's
// store and clock, and tokens bound to key.
type dpopFixture struct {
	*fixture
	key, other *proofKey
}

const dpopToken = "dpop-token-alice"

// newDPoPFixture starts a server whose Config.DPoP verifies proofs with
// the store as replay store; dcfg adjusts the dpop.Config and tweak the
// Config.
func newDPoPFixture(t testing.TB, dcfg func(*dpop.Config), tweak func(*Config)) *dpopFixture {
	t.Helper()
	f := newFixtureWith(t, func(f *fixture, c *Config) {
		dc := dpop.Config{
			Replay:          f.st,
			IsReplay:        isStoreReplay,
			Now:             f.clock.Now,
			ReplayKeyPrefix: "dpop:rs:",
		}
		if dcfg != nil {
			dcfg(&dc)
		}
		v, err := dpop.New(dc)
		if err != nil {
			t.Fatal(err)
		}
		c.DPoP = v
		if tweak != nil {
			tweak(c)
		}
	}, nil)
	d := &dpopFixture{fixture: f, key: newProofKey(t), other: newProofKey(t)}
	bound := *f.verifier.tokens["alice-token"]
	bound.JKT = d.key.jkt
	f.verifier.tokens[dpopToken] = &bound
	noscope := *f.verifier.tokens["alice-noscope-token"]
	noscope.JKT = d.key.jkt
	f.verifier.tokens["dpop-noscope-token"] = &noscope
	expired := *f.verifier.tokens["expired-token"]
	expired.JKT = d.key.jkt
	f.verifier.tokens["dpop-expired-token"] = &expired
	return d
}

const searchCall = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments":{"query":"wombat"}}}`

// send posts body to path with the DPoP scheme and the given proofs.
func (d *dpopFixture) send(path, token, body string, proofs ...string) *http.Response {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.http.URL+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	if token != "" {
		req.Header.Set("Authorization", "DPoP "+token)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := d.http.Client().Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// good is a good proof for a POST of dpopToken to /mcp.
func (d *dpopFixture) good() string {
	return d.key.sign(d.t, proofClaims(http.MethodPost, d.resource, dpopToken, d.clock.Now()))
}

// wantChallenges compares WWW-Authenticate with want, value by value.
func wantChallenges(t *testing.T, resp *http.Response, status int, want ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d", resp.StatusCode, status)
	}
	got := resp.Header.Values("WWW-Authenticate")
	if !slices.Equal(got, want) {
		t.Errorf("WWW-Authenticate\n got %q\nwant %q", got, want)
	}
}

const testAlgs = "ES256 EdDSA PS256 RS256"

func (d *dpopFixture) dpopChallenge(params string) string {
	return `DPoP algs="` + testAlgs + `", resource_metadata="` + d.srv.ResourceMetadataURL() + `", scope="docs:read"` + params
}

func (d *dpopFixture) bearerChallenge(params string) string {
	return `Bearer resource_metadata="` + d.srv.ResourceMetadataURL() + `", scope="docs:read"` + params
}

func TestDPoPAccepted(t *testing.T) {
	d := newDPoPFixture(t, nil, nil)
	resp := d.send("/mcp", dpopToken, searchCall, d.good())
	if resp.StatusCode != http.StatusOK || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("status %d, challenge %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	if resp.Header.Get("DPoP-Nonce") != "" {
		t.Errorf("DPoP-Nonce %q without a nonce source", resp.Header.Get("DPoP-Nonce"))
	}
	// The trailing-slash path is a URL of its own: htu must name it.
	resp = d.send("/mcp/", dpopToken, searchCall, d.key.sign(t, proofClaims(http.MethodPost, d.resource+"/", dpopToken, d.clock.Now())))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/mcp/: status %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	// The query is not part of htu (RFC 9449 §4.3).
	resp = d.send("/mcp?x=1", dpopToken, searchCall, d.key.sign(t, proofClaims(http.MethodPost, d.resource, dpopToken, d.clock.Now())))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with a query: status %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	// Bearer tokens keep working beside DPoP.
	if resp, r := d.rpc("alice-token", "tools/call", map[string]any{"name": "search", "arguments": map[string]any{"query": "wombat"}}); resp.StatusCode != http.StatusOK || r.Error != nil {
		t.Errorf("bearer token beside DPoP: %d %+v", resp.StatusCode, r)
	}
	if strings.Contains(d.logs.String(), dpopToken) {
		t.Errorf("token in logs:\n%s", d.logs)
	}
}

// A go-sdk client that signs a fresh proof per request, as a DPoP client
// library would, lists and calls the tools.
func TestDPoPGoSDKClient(t *testing.T) {
	d := newDPoPFixture(t, nil, nil)
	client := mcp.NewClient(&mcp.Implementation{Name: "dpop-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:             d.resource,
		HTTPClient:           &http.Client{Transport: &dpopTransport{t: t, key: d.key, token: dpopToken, now: d.clock.Now, base: d.http.Client().Transport}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res := callTool(t, cs, "search", map[string]any{"query": "wombat"})
	if res.IsError || !strings.Contains(textOf(t, res), "wombat") {
		t.Errorf("search: %+v", res)
	}
}

// dpopTransport adds "Authorization: DPoP" and a fresh proof for each
// request's method and URL, and uses the last DPoP-Nonce it was sent.
type dpopTransport struct {
	t     testing.TB
	key   *proofKey
	token string
	now   func() time.Time
	base  http.RoundTripper
	nonce atomic.Value // string
}

func (tr *dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = ""
	c := proofClaims(r.Method, u.String(), tr.token, tr.now())
	if n, _ := tr.nonce.Load().(string); n != "" {
		c["nonce"] = n
	}
	r.Header.Set("Authorization", "DPoP "+tr.token)
	r.Header.Set("DPoP", tr.key.sign(tr.t, c))
	resp, err := tr.base.RoundTrip(r)
	if err == nil && resp.Header.Get("DPoP-Nonce") != "" {
		tr.nonce.Store(resp.Header.Get("DPoP-Nonce"))
	}
	return resp, err
}

// Each refusal and its exact challenge.
func TestDPoPRejections(t *testing.T) {
	d := newDPoPFixture(t, nil, nil)
	now := d.clock.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := proofClaims(http.MethodPost, d.resource, dpopToken, now)
		edit(c)
		return c
	}
	invalidProof := func(desc string) string {
		return d.dpopChallenge(`, error="invalid_dpop_proof", error_description="` + desc + `"`)
	}
	invalidToken := func(desc string) string {
		return d.dpopChallenge(`, error="invalid_token", error_description="` + desc + `"`)
	}
	replayed := d.good()
	if resp := d.send("/mcp", dpopToken, searchCall, replayed); resp.StatusCode != http.StatusOK {
		t.Fatalf("first use of the proof: %d", resp.StatusCode)
	}
	tests := []struct {
		name   string
		token  string
		proofs []string
		status int
		want   string
	}{
		{"replayed proof", dpopToken, []string{replayed}, 401, invalidProof("the DPoP proof was already used (jti replay)")},
		{"proof by another key", dpopToken, []string{d.other.sign(t, claims(func(map[string]any) {}))}, 401,
			invalidProof("the DPoP proof key does not match the key the token or code is bound to")},
		{"wrong htm", dpopToken, []string{d.key.sign(t, claims(func(c map[string]any) { c["htm"] = "GET" }))}, 401,
			invalidProof("the DPoP proof htm 'GET' does not match the request method 'POST'")},
		{"wrong htu", dpopToken, []string{d.key.sign(t, claims(func(c map[string]any) { c["htu"] = "https://other.example.com/mcp" }))}, 401,
			invalidProof("the DPoP proof htu 'https://other.example.com/mcp' does not match the request URL '" + d.resource + "'")},
		{"htu of the metadata", dpopToken, []string{d.key.sign(t, claims(func(c map[string]any) { c["htu"] = d.srv.ResourceMetadataURL() }))}, 401,
			invalidProof("the DPoP proof htu '" + d.srv.ResourceMetadataURL() + "' does not match the request URL '" + d.resource + "'")},
		{"stale iat", dpopToken, []string{d.key.sign(t, claims(func(c map[string]any) { c["iat"] = now.Add(-3 * time.Minute).Unix() }))}, 401,
			invalidProof("the DPoP proof is too old (iat more than 2m0s ago)")},
		{"iat in the future", dpopToken, []string{d.key.sign(t, claims(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }))}, 401,
			invalidProof("the DPoP proof iat is more than 30s in the future")},
		{"missing ath", dpopToken, []string{d.key.sign(t, claims(func(c map[string]any) { delete(c, "ath") }))}, 401,
			invalidProof("the DPoP proof has no ath claim for the access token")},
		{"wrong ath", dpopToken, []string{d.key.sign(t, claims(func(c map[string]any) { c["ath"] = dpop.AccessTokenHash("alice-token") }))}, 401,
			invalidProof("the DPoP proof ath does not match the access token")},
		{"missing proof", dpopToken, nil, 401, invalidProof("no DPoP proof was sent: the DPoP scheme needs a DPoP header")},
		{"two proofs", dpopToken, []string{d.good(), d.good()}, 401, invalidProof("more than one DPoP header was sent")},
		{"garbage proof", dpopToken, []string{"not-a-jws"}, 401, invalidProof("the DPoP proof is not a compact JWS: it must have three parts")},
		{"unbound token with DPoP", "alice-token", []string{d.key.sign(t, proofClaims(http.MethodPost, d.resource, "alice-token", now))}, 401,
			invalidToken("the access token is not bound to a DPoP key; send it with the Bearer scheme")},
		{"unknown token with DPoP", "nope", []string{d.good()}, 401, invalidToken("the access token is invalid, expired or revoked")},
		{"expired bound token", "dpop-expired-token", []string{d.key.sign(t, proofClaims(http.MethodPost, d.resource, "dpop-expired-token", now))}, 401,
			invalidToken("the access token has expired")},
		{"malformed DPoP token", "a,b", []string{d.good()}, 401, invalidToken("the DPoP token is empty or malformed")},
		{"insufficient scope", "dpop-noscope-token", []string{d.key.sign(t, proofClaims(http.MethodPost, d.resource, "dpop-noscope-token", now))}, 403,
			`DPoP algs="` + testAlgs + `", resource_metadata="` + d.srv.ResourceMetadataURL() + `", scope="docs:read", error="insufficient_scope", error_description="the search tool needs the scope docs:read"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := d.send("/mcp", tc.token, searchCall, tc.proofs...)
			wantChallenges(t, resp, tc.status, tc.want)
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})
	}

	// Bearer clients keep their challenge first, with DPoP offered second.
	t.Run("bound token as bearer", func(t *testing.T) {
		resp, _ := d.request(http.MethodPost, "/mcp", dpopToken, searchCall, nil)
		wantChallenges(t, resp, 401,
			d.bearerChallenge(`, error="invalid_token", error_description="the access token is bound to a DPoP key and cannot be used as a bearer token"`),
			d.dpopChallenge(""))
	})
	t.Run("no credentials", func(t *testing.T) {
		resp, _ := d.request(http.MethodPost, "/mcp", "", initializeBody, nil)
		wantChallenges(t, resp, 401, d.bearerChallenge(""), d.dpopChallenge(""))
	})
	t.Run("bad bearer token", func(t *testing.T) {
		resp, _ := d.request(http.MethodPost, "/mcp", "nope", initializeBody, nil)
		wantChallenges(t, resp, 401,
			d.bearerChallenge(`, error="invalid_token", error_description="the access token is invalid, expired or revoked"`), d.dpopChallenge(""))
	})
	if logs := d.logs.String(); strings.Contains(logs, dpopToken) || strings.Contains(logs, replayed) {
		t.Errorf("token or proof in logs:\n%s", logs)
	}
}

// A proof that failed a check is not recorded: the same jti works once
// the request is right (the replay store is consulted last).
func TestDPoPRefusedProofNotRecorded(t *testing.T) {
	d := newDPoPFixture(t, nil, nil)
	c := proofClaims(http.MethodPost, d.resource, dpopToken, d.clock.Now())
	p := d.key.sign(t, c)
	if resp := d.send("/mcp", "dpop-expired-token", searchCall, p); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", resp.StatusCode)
	}
	if resp := d.send("/mcp", dpopToken, searchCall, p); resp.StatusCode != http.StatusOK {
		t.Errorf("the proof was burnt by a refused request: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
}

// The nonce round trip of RFC 9449 §9.
func TestDPoPNonce(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	d := newDPoPFixture(t, func(c *dpop.Config) {
		c.Nonces = dpop.NewNonceSource(secret, time.Minute, c.Now)
		c.RequireNonce = true
	}, nil)
	// First request: no nonce → 401 use_dpop_nonce with a DPoP-Nonce.
	resp := d.send("/mcp", dpopToken, searchCall, d.good())
	wantChallenges(t, resp, 401, d.dpopChallenge(`, error="use_dpop_nonce", error_description="a DPoP nonce is required; use the DPoP-Nonce response header"`))
	nonce := resp.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce with use_dpop_nonce")
	}
	// Retry with it → 200, and a fresh nonce again.
	c := proofClaims(http.MethodPost, d.resource, dpopToken, d.clock.Now())
	c["nonce"] = nonce
	resp = d.send("/mcp", dpopToken, searchCall, d.key.sign(t, c))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("retry with the nonce: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	if resp.Header.Get("DPoP-Nonce") == "" {
		t.Error("no DPoP-Nonce on a successful DPoP response")
	}
	// A nonce two steps old is stale: use_dpop_nonce again.
	d.clock.Advance(2*time.Minute + time.Second)
	c = proofClaims(http.MethodPost, d.resource, dpopToken, d.clock.Now())
	c["nonce"] = nonce
	resp = d.send("/mcp", dpopToken, searchCall, d.key.sign(t, c))
	wantChallenges(t, resp, 401, d.dpopChallenge(`, error="use_dpop_nonce", error_description="the DPoP nonce is invalid or expired; use the DPoP-Nonce response header"`))
	if n := resp.Header.Get("DPoP-Nonce"); n == "" || n == nonce {
		t.Errorf("DPoP-Nonce %q, want a fresh one", n)
	}
	// Bearer refusals carry a nonce too, and a browser may read it.
	resp, _ = d.request(http.MethodPost, "/mcp", "", initializeBody, map[string]string{"Origin": "http://localhost:6274"})
	if resp.Header.Get("DPoP-Nonce") == "" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Errorf("plain 401: DPoP-Nonce %q, expose %q", resp.Header.Get("DPoP-Nonce"), resp.Header.Get("Access-Control-Expose-Headers"))
	}
	// Preflight allows the DPoP header.
	resp, _ = d.request(http.MethodOptions, "/mcp", "", "", map[string]string{"Origin": "http://localhost:6274",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,dpop"})
	if !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "DPoP") {
		t.Errorf("preflight Allow-Headers %q", resp.Header.Get("Access-Control-Allow-Headers"))
	}

	// A client that follows DPoP-Nonce works through the go-sdk.
	client := mcp.NewClient(&mcp.Implementation{Name: "dpop-test", Version: "1"}, nil)
	tr := &dpopTransport{t: t, key: d.key, token: dpopToken, now: d.clock.Now, base: d.http.Client().Transport}
	tr.nonce.Store(d.srv.dpop.Nonce())
	cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: d.resource, HTTPClient: &http.Client{Transport: tr},
		DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if res := callTool(t, cs, "search", map[string]any{"query": "wombat"}); res.IsError {
		t.Errorf("search with nonces: %+v", res)
	}
}

func TestRequireDPoP(t *testing.T) {
	d := newDPoPFixture(t, nil, func(c *Config) { c.RequireDPoP = true })
	resp, _ := d.request(http.MethodPost, "/mcp", "alice-token", initializeBody, nil)
	wantChallenges(t, resp, 401, d.dpopChallenge(`, error="invalid_token", error_description="this MCP server accepts only DPoP-bound access tokens: Authorization: DPoP <token> and a DPoP proof (RFC 9449)"`))
	resp, _ = d.request(http.MethodPost, "/mcp", "", initializeBody, nil)
	wantChallenges(t, resp, 401, d.dpopChallenge(""))
	resp, _ = d.request(http.MethodPost, "/mcp?access_token=x", "", initializeBody, nil)
	wantChallenges(t, resp, 400, d.dpopChallenge(`, error="invalid_request", error_description="access tokens are accepted only in the Authorization header, not in the query string"`))
	if resp := d.send("/mcp", dpopToken, searchCall, d.good()); resp.StatusCode != http.StatusOK {
		t.Errorf("DPoP under RequireDPoP: %d", resp.StatusCode)
	}
	m := d.srv.ProtectedResourceMetadata()
	if !m.DPOPBoundAccessTokensRequired || !reflect.DeepEqual(m.DPOPSigningAlgValuesSupported, strings.Fields(testAlgs)) {
		t.Errorf("metadata %+v", m)
	}

	if _, err := New(Config{Issuer: "https://as.example.com", RequireDPoP: true}, d.st, d.verifier); err == nil ||
		!strings.Contains(err.Error(), "require_dpop needs a DPoP verifier") {
		t.Errorf("RequireDPoP without DPoP: %v", err)
	}
}

func TestDPoPMetadata(t *testing.T) {
	d := newDPoPFixture(t, nil, nil)
	resp, b := d.request(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", "", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got["dpop_signing_alg_values_supported"], []any{"ES256", "EdDSA", "PS256", "RS256"}) {
		t.Errorf("dpop_signing_alg_values_supported = %v", got["dpop_signing_alg_values_supported"])
	}
	if _, ok := got["dpop_bound_access_tokens_required"]; ok {
		t.Errorf("dpop_bound_access_tokens_required present without RequireDPoP: %s", b)
	}
}

// htu is the resource's origin whatever Host the request came with (an
// alias allowed by AllowedHosts, a proxy's upstream name).
func TestDPoPHTUIgnoresHost(t *testing.T) {
	d := newDPoPFixture(t, nil, func(c *Config) { c.AllowedHosts = []string{"mcp.internal"} })
	req, _ := http.NewRequest(http.MethodPost, d.http.URL+"/mcp", strings.NewReader(searchCall))
	req.Host = "mcp.internal"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "DPoP "+dpopToken)
	req.Header.Set("DPoP", d.good())
	resp, err := d.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	// A proof signed for the alias is refused.
	req, _ = http.NewRequest(http.MethodPost, d.http.URL+"/mcp", strings.NewReader(searchCall))
	req.Host = "mcp.internal"
	req.Header.Set("Authorization", "DPoP "+dpopToken)
	req.Header.Set("DPoP", d.key.sign(t, proofClaims(http.MethodPost, "http://mcp.internal/mcp", dpopToken, d.clock.Now())))
	resp, err = d.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("proof for the alias: status %d", resp.StatusCode)
	}
}

// failingReplay is a replay store that is down.
type failingReplay struct{}

func (failingReplay) UseNonce(context.Context, string, time.Time) error {
	return errors.New("database is locked")
}

// A replay store that cannot answer is a 503, not a refusal.
func TestDPoPReplayStoreDown(t *testing.T) {
	d := newDPoPFixture(t, func(c *dpop.Config) { c.Replay = failingReplay{} }, nil)
	resp := d.send("/mcp", dpopToken, searchCall, d.good())
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("status %d, challenge %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
	if !strings.Contains(d.logs.String(), "database is locked") {
		t.Errorf("not logged:\n%s", d.logs)
	}
}

func TestExtractCredentialsDPoP(t *testing.T) {
	for _, tc := range []struct {
		header     string
		acceptDPoP bool
		scheme     string
		code       string
	}{
		{"DPoP abc", true, schemeDPoP, ""},
		{"dpop abc", true, schemeDPoP, ""},
		{"DPoP abc", false, "", ""},
		{"DPoP", true, "", errInvalidToken},
		{"DPoP a b", true, "", errInvalidToken},
		{"DPoP", false, "", ""},
		{"Bearer abc", true, schemeBearer, ""},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://x/mcp", nil)
		r.Header.Set("Authorization", tc.header)
		c, aerr := extractCredentials(r, tc.acceptDPoP)
		switch {
		case tc.code != "":
			if aerr == nil || aerr.code != tc.code || aerr.dpop != (tc.header[:4] == "DPoP") {
				t.Errorf("%q: %+v, want %s", tc.header, aerr, tc.code)
			}
		case aerr != nil:
			t.Errorf("%q: %+v", tc.header, aerr)
		case tc.scheme == "" && c != nil, tc.scheme != "" && (c == nil || c.scheme != tc.scheme || c.token != "abc"):
			t.Errorf("%q (dpop %v): %+v, want %s", tc.header, tc.acceptDPoP, c, tc.scheme)
		}
	}
}

// FuzzAuthHeaders sends a tools/call with any Authorization and DPoP
// header values (such as net/http would deliver: no control characters).
// The answer is the call's result or a refusal in RFC 6750 / RFC 9449
// terms — 400, 401 with a challenge, or 403 — never a server error.
func FuzzAuthHeaders(f *testing.F) {
	d := newDPoPFixture(f, nil, nil)
	now := d.clock.Now()
	good := d.key.sign(f, proofClaims(http.MethodPost, d.resource, dpopToken, now))
	f.Add("DPoP "+dpopToken, good)
	f.Add("Bearer alice-token", "")
	f.Add("Bearer "+dpopToken, good)
	f.Add("DPoP "+dpopToken, good+","+good)
	f.Add("DPoP "+dpopToken, d.other.sign(f, proofClaims(http.MethodPost, d.resource, dpopToken, now)))
	f.Add("dpop  "+dpopToken+"==", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.")
	f.Add("Basic YTpi", "x")
	f.Add("", good)
	f.Fuzz(func(t *testing.T, authz, proof string) {
		for _, v := range []string{authz, proof} {
			if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				t.Skip("not a header value net/http would deliver")
			}
		}
		r := httptest.NewRequest(http.MethodPost, d.resource, strings.NewReader(searchCall))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("MCP-Protocol-Version", "2025-11-25")
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		w := httptest.NewRecorder()
		d.srv.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden:
		case http.StatusUnauthorized:
			if ch := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") && !strings.HasPrefix(ch, "DPoP ") {
				t.Fatalf("401 with the challenge %q", ch)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}
