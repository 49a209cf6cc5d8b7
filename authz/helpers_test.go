package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/mcpauthz/mcpauthz/store"
)

// testArgon2 keeps password hashing cheap in tests.
var testArgon2 = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a test clock: real time plus an offset the test can advance.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// testEnv is a real Server on a real SQLite file, served over loopback.
type testEnv struct {
	t      testing.TB
	URL    string // the issuer
	Server *Server
	Store  store.Store
	Clock  *clock
	path   string
}

const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
)

// newTestEnv starts a server whose issuer is its own loopback URL, with a
// user alice. opts adjust the configuration.
func newTestEnv(t testing.TB, opts ...func(*Config)) *testEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	path := filepath.Join(t.TempDir(), "authz.db")
	st, err := store.Open(t.Context(), store.Config{DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := make([]byte, 32)
	rand.Read(master)
	secrets, err := DeriveSecrets(master)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	cfg := Config{Issuer: issuer, Secrets: secrets, Now: clk.Now, Argon2: testArgon2}
	if os.Getenv("MCPAUTHZ_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := s.passwords.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(t.Context(), &store.User{ID: "u-alice", Name: testUser, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return &testEnv{t: t, URL: issuer, Server: s, Store: st, Clock: clk, path: path}
}

// testClient is a registered client and the redirect URI it uses.
type testClient struct {
	ID, Secret, Redirect string
}

// registerPublic registers a public client over /register.
func (e *testEnv) registerPublic(redirect string) testClient {
	e.t.Helper()
	body := `{"client_name":"Test App","redirect_uris":["` + redirect + `"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`
	resp, err := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("register: %d %v", resp.StatusCode, out)
	}
	return testClient{ID: out["client_id"].(string), Redirect: redirect}
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// standing in for a person's browser where the page itself is not under
// test (the pages are tested in Chromium in cmd/mcpauthz).
type browser struct {
	t testing.TB
	c *http.Client
}

func (e *testEnv) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) login(issuer, user, password string) *http.Response {
	b.t.Helper()
	resp, _ := b.post(issuer+"/login", url.Values{"username": {user}, "password": {password}, "return": {"/account"}})
	return resp
}

var consentIDRE = regexp.MustCompile(`name="consent_id" value="([^"]+)"`)

// pkce returns a verifier and its S256 challenge (RFC 7636 §4.2).
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeURL builds an authorization request.
func (e *testEnv) authorizeURL(c testClient, challenge string, extra url.Values) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ID},
		"redirect_uri":          {c.Redirect},
		"state":                 {"state-123456"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"resource":              {e.URL + "/mcp"},
	}
	for k, v := range extra {
		if len(v) == 0 || v[0] == "" {
			q.Del(k)
		} else {
			q[k] = v
		}
	}
	return e.URL + "/authorize?" + q.Encode()
}

// authorize logs in (if needed), approves consent (if asked) and returns the
// redirect the client receives.
func (e *testEnv) authorize(b *browser, authURL string) *url.URL {
	e.t.Helper()
	resp, body := b.get(authURL)
	if resp.StatusCode == http.StatusOK && strings.Contains(body, `name="password"`) {
		if r := b.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
			e.t.Fatalf("login: status %d", r.StatusCode)
		}
		resp, body = b.get(authURL)
	}
	if resp.StatusCode == http.StatusOK {
		m := consentIDRE.FindStringSubmatch(body)
		if m == nil {
			e.t.Fatalf("no consent form in page: %.500s", body)
		}
		resp, body = b.post(e.URL+"/consent", url.Values{"consent_id": {m[1]}, "decision": {"allow"}})
	}
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("authorize: status %d, body %.300s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return loc
}

// tokenResponse is a token endpoint answer.
type tokenResponse struct {
	Status  int
	Header  http.Header
	Body    map[string]any
	Access  string
	Refresh string
	Error   string
}

func (e *testEnv) token(form url.Values, basicUser, basicPass string) tokenResponse {
	e.t.Helper()
	return e.tokenDPoP(form, "", basicUser, basicPass)
}

// tokenDPoP posts a token request, with a DPoP header when proof is set and
// HTTP Basic client authentication when basicUser is (RFC 6749 §2.3.1
// form-encodes both parts).
func (e *testEnv) tokenDPoP(form url.Values, proof, basicUser, basicPass string) tokenResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	tr := tokenResponse{Status: resp.StatusCode, Header: resp.Header}
	json.NewDecoder(resp.Body).Decode(&tr.Body)
	tr.Access, _ = tr.Body["access_token"].(string)
	tr.Refresh, _ = tr.Body["refresh_token"].(string)
	tr.Error, _ = tr.Body["error"].(string)
	return tr
}

// codeFlow runs the whole flow for c and returns the token response.
func (e *testEnv) codeFlow(b *browser, c testClient) tokenResponse {
	e.t.Helper()
	verifier, challenge := pkce()
	loc := e.authorize(b, e.authorizeURL(c, challenge, nil))
	code := loc.Query().Get("code")
	if code == "" {
		e.t.Fatalf("no code in redirect %s", loc)
	}
	return e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}, "resource": {e.URL + "/mcp"}}, "", "")
}

func (e *testEnv) refresh(c testClient, rt string) tokenResponse {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ID}}, "", "")
}

// introspect checks a token through the server's own fosite introspection,
// as the in-process MCP resource does.
func (e *testEnv) active(tok string) bool {
	e.t.Helper()
	_, ok := e.introspect(tok)
	return ok
}

// introspect returns the stored request behind an access token.
func (e *testEnv) introspect(tok string) (fosite.AccessRequester, bool) {
	e.t.Helper()
	_, ar, err := e.Server.provider.IntrospectToken(e.t.Context(), tok, fosite.AccessToken, e.Server.newSession("", ""))
	return ar, err == nil
}

func (e *testEnv) dbPath() string { return e.path }

func decodeJSON(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", resp.Request.URL, err)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// codeForm is the token request that redeems code for c (RFC 6749 §4.1.3,
// RFC 7636 §4.5).
func codeForm(c testClient, code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}}
}
