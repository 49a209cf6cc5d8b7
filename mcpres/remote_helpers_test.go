package mcpres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/store"
)

// testAS is a real mcpauthz authorization server on a temporary SQLite
// store, served over loopback at its issuer URL.
type testAS struct {
	t      *testing.T
	URL    string // the issuer
	Server *authz.Server
	Store  *store.DB
	hasher *authz.SecretHasher

	jwksFetches    atomic.Int32
	introspections atomic.Int32
}

const (
	asUserPassword = "correct horse battery staple"
	otherResource  = "https://other.example.com/mcp"
)

// newTestAS starts an authorization server whose tokens are for resource
// (and otherResource), on clock, with a user alice (ID u-alice). opts
// adjust its configuration.
func newTestAS(t *testing.T, clock *testClock, resource string, opts ...func(*authz.Config)) *testAS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	st, err := store.Open(t.Context(), store.Config{DSN: filepath.Join(t.TempDir(), "as.db"), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	master := make([]byte, authz.MasterKeySize)
	_, _ = rand.Read(master)
	secrets, err := authz.DeriveSecrets(master)
	if err != nil {
		t.Fatal(err)
	}
	argon := authz.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}
	cfg := authz.Config{Issuer: issuer, Resources: []string{resource, otherResource}, Secrets: secrets, Now: clock.Now, Argon2: argon}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := authz.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := authz.NewPasswordHasher(argon).Hash(asUserPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(t.Context(), &store.User{ID: aliceID, Name: "alice", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	as := &testAS{t: t, URL: issuer, Server: srv, Store: st, hasher: authz.NewSecretHasher(secrets.ClientSecret)}
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			as.jwksFetches.Add(1)
		case "/introspect":
			as.introspections.Add(1)
		}
		srv.ServeHTTP(w, r)
	})
	ts := httptest.NewUnstartedServer(counting)
	_ = ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return as
}

// addClient stores a confidential client the way `mcpauthz client add`
// does and returns its ID and secret.
func (as *testAS) addClient(introspect bool, grants ...string) (string, string) {
	as.t.Helper()
	id, secret := "svc-"+rand.Text()[:10], rand.Text()+rand.Text()
	err := as.Store.CreateClient(as.t.Context(), &store.Client{
		ID: id, Name: "Service", SecretHash: as.hasher.Sum([]byte(secret)), GrantTypes: grants,
		Scopes: []string{"docs:read"}, TokenEndpointAuthMethod: "client_secret_basic", Introspect: introspect, Source: "cli",
	})
	if err != nil {
		as.t.Fatal(err)
	}
	return id, secret
}

// post posts a form to an endpoint of the AS, with Basic credentials and
// a DPoP proof when given, and decodes the JSON answer.
func (as *testAS) post(path string, form url.Values, user, pass, proof string) (int, http.Header, map[string]any) {
	as.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, as.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		as.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

// clientCredentials gets a client_credentials token; extra adds form
// parameters (resource, ...).
func (as *testAS) clientCredentials(id, secret string, extra url.Values) string {
	as.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		form[k] = v
	}
	status, _, body := as.post("/token", form, id, secret, "")
	tok, _ := body["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		as.t.Fatalf("client_credentials: %d %v", status, body)
	}
	return tok
}

var consentIDRE = regexp.MustCompile(`name="consent_id" value="([^"]+)"`)

// userToken runs the authorization-code flow for alice with a public
// client, as her browser and the client would, and redeems the code for
// resource. With key, the token request carries a DPoP proof and the
// token comes back DPoP-bound.
func (as *testAS) userToken(resource string, key *proofKey, now time.Time) (token, tokenType string) {
	t := as.t
	t.Helper()
	redirect := "http://127.0.0.1:7777/callback"
	resp, err := http.Post(as.URL+"/register", "application/json", strings.NewReader(
		`{"client_name":"Test App","redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	clientID, _ := reg["client_id"].(string)
	if resp.StatusCode != http.StatusCreated || clientID == "" {
		t.Fatalf("register: %d %v", resp.StatusCode, reg)
	}

	vb := make([]byte, 32)
	_, _ = rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	authURL := as.URL + "/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"state-123456"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {resource}, "scope": {"docs:read"},
	}.Encode()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == http.MethodGet {
			resp, err = browser.Get(u)
		} else {
			resp, err = browser.PostForm(u, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do(http.MethodGet, authURL, nil)
	if resp.StatusCode == http.StatusOK && strings.Contains(body, `name="password"`) {
		if r, _ := do(http.MethodPost, as.URL+"/login", url.Values{"username": {"alice"}, "password": {asUserPassword}, "return": {"/account"}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: status %d", r.StatusCode)
		}
		resp, body = do(http.MethodGet, authURL, nil)
	}
	if resp.StatusCode == http.StatusOK {
		m := consentIDRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no consent form: %.300s", body)
		}
		resp, body = do(http.MethodPost, as.URL+"/consent", url.Values{"consent_id": {m[1]}, "decision": {"allow"}})
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: %d %.300s", resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	proof := ""
	if key != nil {
		proof = key.sign(t, map[string]any{"jti": rand.Text(), "htm": "POST", "htu": as.URL + "/token", "iat": now.Unix()})
	}
	status, _, tb := as.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"client_id": {clientID}, "redirect_uri": {redirect}, "resource": {resource}}, "", "", proof)
	token, _ = tb["access_token"].(string)
	tokenType, _ = tb["token_type"].(string)
	if status != http.StatusOK || token == "" {
		t.Fatalf("token: %d %v", status, tb)
	}
	return token, tokenType
}

// newRemote builds a RemoteVerifier against as for resource.
func (as *testAS) newRemote(resource string, clock *testClock, tweak func(*RemoteConfig)) (*RemoteVerifier, error) {
	cfg := RemoteConfig{Issuer: as.URL, Resource: resource, Now: clock.Now}
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithTimeout(as.t.Context(), 10*time.Second)
	defer cancel()
	return NewRemoteVerifier(ctx, cfg)
}

func (as *testAS) mustRemote(resource string, clock *testClock, tweak func(*RemoteConfig)) *RemoteVerifier {
	as.t.Helper()
	v, err := as.newRemote(resource, clock, tweak)
	if err != nil {
		as.t.Fatalf("NewRemoteVerifier: %v", err)
	}
	return v
}
