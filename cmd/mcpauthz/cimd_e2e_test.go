package main

// End-to-end tests of Client ID Metadata Documents and private_key_jwt: a
// real mcpauthz with the development switch --fetch-allow-loopback, a
// local server publishing the client's document (and keys), and a client
// whose client_id is that document's URL.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// cimdPublisher is a client's web site on 127.0.0.1 that publishes its
// Client ID Metadata Document at /oauth/client.json.
type cimdPublisher struct {
	*httptest.Server
	ClientID string // URL + "/oauth/client.json"
	Host     string // host:port of the document, the client's identity
	fetches  atomic.Int64
}

// publishCIMD serves a document with the members of doc plus client_id.
func publishCIMD(t *testing.T, doc map[string]any) *cimdPublisher {
	t.Helper()
	p := &cimdPublisher{}
	var body []byte
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/client.json" {
			http.NotFound(w, r)
			return
		}
		p.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	}))
	t.Cleanup(p.Close)
	p.ClientID = p.URL + "/oauth/client.json"
	p.Host = strings.TrimPrefix(p.URL, "http://")
	doc["client_id"] = p.ClientID
	body, _ = json.Marshal(doc)
	return p
}

// startCIMDServer runs mcpauthz with the development switch on.
func startCIMDServer(t *testing.T) *testServer {
	return startServer(t, withConfig(func(fc *FileConfig) { fc.FetchAllowLoopback = true }))
}

// assertionSigner signs RFC 7523 client assertions for one client.
type assertionSigner struct {
	clientID string
	kid      string
	key      *ecdsa.PrivateKey
}

func newAssertionSigner(t *testing.T, kid string) *assertionSigner {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &assertionSigner{kid: kid, key: k}
}

// jwks is the public JWK Set of the signer's key, as a JSON value.
func (a *assertionSigner) jwks() map[string]any {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: a.key.Public(), KeyID: a.kid, Algorithm: "ES256", Use: "sig"}}})
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// sign returns a fresh assertion for the token endpoint of s.
func (a *assertionSigner) sign(t *testing.T, s *testServer) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: a.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", a.kid))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := josejwt.Signed(signer).Claims(josejwt.Claims{
		Issuer: a.clientID, Subject: a.clientID, Audience: josejwt.Audience{s.URL + "/token"},
		ID: rand.Text(), IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// authenticate adds the client's credentials to a token request: its
// client_id (auth none), or an assertion (private_key_jwt).
func (a *assertionSigner) authenticate(t *testing.T, s *testServer, clientID string, form url.Values) url.Values {
	if a == nil {
		form.Set("client_id", clientID)
		return form
	}
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", a.sign(t, s))
	return form
}

// cimdFlow runs login, consent, code, token and refresh for the client
// whose document p publishes, with the HTTP form browser, on a runtime
// redirect port the document does not name. signer is nil for a public
// client.
func cimdFlow(t *testing.T, s *testServer, p *cimdPublisher, signer *assertionSigner) tokenResponse {
	t.Helper()
	cb := newCallbackServer(t) // http://127.0.0.1:<runtime port>/callback
	b := newFormBrowser(t, s, s.UserName, s.Password)
	pk, state := newPKCE(), newState()

	resp, page := b.do(t, http.MethodGet, s.authorizeURL(p.ClientID, cb.RedirectURI, state, pk.Challenge, ""), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/login"`) || !strings.Contains(page, "CIMD Test App") {
		t.Fatalf("/authorize: status %d, want the sign-in page naming the app:\n%s", resp.StatusCode, page)
	}
	if docURL, _ := url.Parse(p.ClientID); !strings.Contains(page, "published by <strong class=\"host\">"+docURL.Host+"</strong>") {
		t.Errorf("the sign-in page does not name the document's host %s", docURL.Host)
	}
	ret := hiddenField(t, page, "return")
	if resp, page = b.do(t, http.MethodPost, "/login", url.Values{"username": {s.UserName}, "password": {s.Password}, "return": {ret}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d:\n%s", resp.StatusCode, page)
	}
	resp, page = b.do(t, http.MethodGet, ret, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/consent"`) {
		t.Fatalf("/authorize after login: status %d, want the consent page:\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{
		`<span class="app-host">` + p.Host + `</span> wants access`, // the verified identity, prominently
		`<p class="destination-host">127.0.0.1</p>`,                 // where the person is sent back
		"CIMD Test App",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the consent page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "Name not verified") {
		t.Error("the consent page calls a metadata-document client's name unverified registration data")
	}
	resp, page = b.do(t, http.MethodPost, "/consent", url.Values{"consent_id": {hiddenField(t, page, "consent_id")}, "decision": {"allow"}})
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), cb.RedirectURI+"?") {
		t.Fatalf("consent: status %d, Location %q, want the runtime redirect %s:\n%s", resp.StatusCode, resp.Header.Get("Location"), cb.RedirectURI, page)
	}
	code := checkCallback(t, s, loc, state, "")

	form := signer.authenticate(t, s, p.ClientID, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cb.RedirectURI},
		"code_verifier": {pk.Verifier}, "resource": {s.Resource},
	})
	tok := postToken(t, s, form)
	if tok.RefreshToken == "" || tok.Scope != "docs:read" {
		t.Fatalf("token response %+v", tok)
	}
	refreshed := postToken(t, s, signer.authenticate(t, s, p.ClientID, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}))
	if refreshed.AccessToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh response %+v", refreshed)
	}
	at, err := s.App.Authz.VerifyAccessToken(t.Context(), refreshed.AccessToken)
	if err != nil || at.ClientID != p.ClientID || at.Subject != s.UserID {
		t.Fatalf("refreshed access token: %v %+v", err, at)
	}

	// The person's account page lists the app under its host.
	_, page = b.do(t, http.MethodGet, "/account", nil)
	if !strings.Contains(page, "CIMD Test App") || !strings.Contains(page, p.Host) {
		t.Errorf("the account page does not list the app with its host %s:\n%s", p.Host, page)
	}
	return refreshed
}

// postToken POSTs a token request and requires 200.
func postToken(t *testing.T, s *testServer, form url.Values) tokenResponse {
	t.Helper()
	resp, raw := s.postForm(t, "/token", form)
	var tok tokenResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token (%s): status %d: %s", form.Get("grant_type"), resp.StatusCode, raw)
	}
	return tok
}

// TestCIMDEndToEnd: a public client identified by its metadata document,
// whose redirect URI is the portless http://127.0.0.1/callback, signs a
// person in through a real server and uses the MCP server.
func TestCIMDEndToEnd(t *testing.T) {
	s := startCIMDServer(t)
	p := publishCIMD(t, map[string]any{
		"client_name":                "CIMD Test App",
		"client_uri":                 "https://app.example",
		"redirect_uris":              []string{"http://127.0.0.1/callback", "http://localhost/callback"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	})

	resp, err := http.Get(s.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	methods, _ := md["token_endpoint_auth_methods_supported"].([]any)
	if md["client_id_metadata_document_supported"] != true || !slices.Contains(methods, any("none")) || !slices.Contains(methods, any("private_key_jwt")) {
		t.Errorf("metadata does not advertise CIMD with none: %v", md)
	}

	tok := cimdFlow(t, s, p, nil)
	ctx, cancel := context.WithTimeout(t.Context(), e2eTimeout)
	defer cancel()
	if tools := connectMCP(ctx, t, s, "cimd", tok.AccessToken).toolNames(ctx, t); !slices.Contains(tools, "search") {
		t.Errorf("tools/list with the CIMD client's token = %v", tools)
	}
	if n := p.fetches.Load(); n != 1 {
		t.Errorf("the document was fetched %d times, want once (it may be cached for an hour)", n)
	}
	if _, err := s.Store.GetClient(t.Context(), p.ClientID); err == nil {
		t.Error("the CIMD client was stored in the clients table")
	}
}

// TestCIMDPrivateKeyJWTEndToEnd: the same with a client that authenticates
// at the token endpoint with private_key_jwt, its public key in the
// document.
func TestCIMDPrivateKeyJWTEndToEnd(t *testing.T) {
	s := startCIMDServer(t)
	signer := newAssertionSigner(t, "cimd-key-1")
	p := publishCIMD(t, map[string]any{
		"client_name":                           "CIMD Test App",
		"redirect_uris":                         []string{"http://127.0.0.1/callback"},
		"token_endpoint_auth_method":            "private_key_jwt",
		"token_endpoint_auth_methods_supported": []string{"none", "private_key_jwt"},
		"token_endpoint_auth_signing_alg":       "ES256",
		"jwks":                                  signer.jwks(),
	})
	signer.clientID = p.ClientID
	cimdFlow(t, s, p, signer)

	// Without an assertion, or with a replayed one, the token endpoint
	// answers 401 invalid_client.
	assertion := signer.sign(t, s)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	s.postForm(t, "/token", form)
	for name, f := range map[string]url.Values{
		"no assertion": {"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {p.ClientID}},
		"replayed":     form,
	} {
		resp, raw := s.postForm(t, "/token", f)
		if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(raw, []byte(`"invalid_client"`)) {
			t.Errorf("%s: status %d %s, want 401 invalid_client", name, resp.StatusCode, raw)
		}
	}
}

// TestBrowserCIMDConsent shows the consent page of a metadata-document
// client in Chromium: the document's host is the heading.
func TestBrowserCIMDConsent(t *testing.T) {
	s := startCIMDServer(t)
	p := publishCIMD(t, map[string]any{
		"client_name":   "CIMD Test App",
		"redirect_uris": []string{"http://127.0.0.1/callback"},
	})
	cb := newCallbackServer(t)
	ctx := newBrowser(t)
	pk, state := newPKCE(), newState()
	browse(ctx, t, s.authorizeURL(p.ClientID, cb.RedirectURI, state, pk.Challenge, ""))
	submitLogin(ctx, t, s.UserName, s.Password)
	if !isConsentPage(ctx, t) {
		t.Fatal("no consent page after login")
	}
	for _, c := range []struct{ sel, want string }{
		{"h1 .app-host", p.Host},
		{"h1", "wants access"},
		{".identity-note", "CIMD Test App"},
		{".destination-host", "127.0.0.1"},
		{".details", p.ClientID},
	} {
		if got := text(ctx, t, c.sel); !strings.Contains(got, c.want) {
			t.Errorf("consent page %s = %q, want it to contain %q", c.sel, got, c.want)
		}
	}
	screenshot(ctx, t, "consent-cimd")
	decide(ctx, t, "allow")
	code := checkCallback(t, s, cb.wait(ctx, t), state, "")
	exchangeCode(t, s, p.ClientID, cb.RedirectURI, code, pk.Verifier)
}

// TestFetchAllowLoopbackSwitch: the development switch is refused, naming
// its key, unless the issuer is loopback, from the flag, the environment
// and the file alike; when on, the server warns that it is unsafe.
func TestFetchAllowLoopbackSwitch(t *testing.T) {
	db := t.TempDir() + "/switch.db"
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"flag": {[]string{"serve", "--fetch-allow-loopback", "--issuer", "https://auth.example.com", "--db", db}, nil},
		"env":  {[]string{"serve", "--issuer", "https://auth.example.com", "--db", db}, map[string]string{"MCPAUTHZ_FETCH_ALLOW_LOOPBACK": "true"}},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"MCPAUTHZ_MASTER_KEY": key}
			for k, v := range tc.env {
				env[k] = v
			}
			var out, errb strings.Builder
			code := run(t.Context(), tc.args, strings.NewReader(""), &out, &errb, envOf(env))
			if code != 1 || !strings.Contains(errb.String(), "fetch_allow_loopback") || !strings.Contains(errb.String(), "UNSAFE") {
				t.Errorf("exit %d, stderr %q; want 1 naming fetch_allow_loopback", code, errb.String())
			}
		})
	}

	// On a loopback issuer it starts, with a warning.
	fc := defaultFileConfig()
	fc.DB = t.TempDir() + "/ok.db"
	fc.MasterKey = key
	fc.FetchAllowLoopback = true
	var logs syncBuffer
	app, err := openApp(t.Context(), fc, newLogger(fc, &logs), &logs)
	if err != nil {
		t.Fatalf("openApp with a loopback issuer: %v", err)
	}
	app.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "UNSAFE: fetch_allow_loopback is on") {
		t.Errorf("no startup warning:\n%s", logs.String())
	}
	if f, _ := loadConfig("", envOf(map[string]string{"MCPAUTHZ_FETCH_ALLOW_LOOPBACK": "1", "MCPAUTHZ_CIMD_MODE": "allowlist", "MCPAUTHZ_CIMD_ALLOWED_HOSTS": "chatgpt.com, *.claude.ai"})); !f.FetchAllowLoopback || f.CIMD.Mode != "allowlist" || !slices.Equal(f.CIMD.AllowedHosts, []string{"chatgpt.com", "*.claude.ai"}) {
		t.Errorf("environment: %+v %+v", f.FetchAllowLoopback, f.CIMD)
	}
}

// TestClientAddPrivateKeyJWT: `client add --auth-method private_key_jwt`
// with a JWK Set file or a jwks_uri, checked as a registration would be,
// and the client authenticating at the token endpoint with an assertion.
func TestClientAddPrivateKeyJWT(t *testing.T) {
	s := startServer(t)
	db := s.App.Config.DB
	signer := newAssertionSigner(t, "svc-1")
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, _ := json.Marshal(v)
		p := dir + "/" + name
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	set := write("jwks.json", signer.jwks())
	one := write("one.json", signer.jwks()["keys"].([]any)[0])
	private := write("private.json", map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}}})

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"no keys", []string{"--auth-method", "private_key_jwt"}, 2, "exactly one of --jwks-uri URL or --jwks-file FILE"},
		{"both", []string{"--auth-method", "private_key_jwt", "--jwks-file", set, "--jwks-uri", "https://svc.example/jwks.json"}, 2, "exactly one"},
		{"public", []string{"--auth-method", "private_key_jwt", "--jwks-file", set, "--public"}, 2, "drop --public"},
		{"keys without the method", []string{"--jwks-file", set}, 2, "go with --auth-method private_key_jwt"},
		{"private key", []string{"--auth-method", "private_key_jwt", "--jwks-file", private}, 1, "private or symmetric key"},
		{"private address", []string{"--auth-method", "private_key_jwt", "--jwks-uri", "https://10.0.0.1/jwks.json"}, 1, "address 10.0.0.1 is private (RFC 1918)"},
		{"bad alg", []string{"--auth-method", "private_key_jwt", "--jwks-file", set, "--signing-alg", "HS256"}, 1, "token_endpoint_auth_signing_alg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"client", "add", "--name", "svc", "--grant", "client_credentials"}, tc.args...)
			code, _, errs := cli(t, db, "", args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errs, tc.code, tc.want)
			}
		})
	}

	for _, file := range []string{set, one} {
		code, out, errs := cli(t, db, "", "client", "add", "--name", "svc", "--grant", "client_credentials", "--auth-method", "private_key_jwt", "--jwks-file", file, "--signing-alg", "ES256")
		var created map[string]string
		if code != 0 || json.Unmarshal([]byte(out), &created) != nil || created["client_id"] == "" {
			t.Fatalf("client add: %d %q %q", code, out, errs)
		}
		if _, ok := created["client_secret"]; ok {
			t.Errorf("a private_key_jwt client got a secret: %s", out)
		}
		signer.clientID = created["client_id"]
		tok := postToken(t, s, signer.authenticate(t, s, "", url.Values{"grant_type": {"client_credentials"}}))
		if tok.AccessToken == "" {
			t.Fatalf("no access token: %+v", tok)
		}
	}
	if _, out, _ := cli(t, db, "", "client", "list"); !strings.Contains(out, `"token_endpoint_auth_method": "private_key_jwt"`) && !strings.Contains(out, `"token_endpoint_auth_method":"private_key_jwt"`) {
		t.Errorf("client list: %s", out)
	}
}
