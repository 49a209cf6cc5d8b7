package main

// Helpers of the end-to-end tests (browser_test.go, interop_test.go): a real
// mcpauthz on a loopback port, a headless Chromium driven by chromedp, a
// loopback "client" that receives the authorization redirect, and the small
// OAuth chores around them.
//
// Chromium is found at $CHROME_PATH, /usr/bin/chromium or on PATH
// (chromium, chromium-browser, google-chrome, headless-shell). Without it the
// browser tests skip, except with CI=true, where they fail.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/store"
)

// e2eTimeout bounds each browser and interop test.
const e2eTimeout = 60 * time.Second

// testArgon2Params make the test user's password hash cheap: login tests
// verify it many times, under the race detector, on two cores.
var testArgon2Params = authz.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// inCI reports whether the tests run in CI, where missing tools are errors.
func inCI() bool { return os.Getenv("CI") == "true" }

// needTool skips the test, or fails it in CI, because a tool it needs is
// missing.
func needTool(t testing.TB, msg string) {
	t.Helper()
	if inCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// testLog collects the output of a server or browser and prints it only when
// the test fails (or MCPAUTHZ_TEST_LOG is set), so -v stays readable.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newTestLog(t testing.TB, name string) *testLog {
	l := &testLog{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("MCPAUTHZ_TEST_LOG") != "" {
			t.Logf("%s:\n%s", name, l.String())
		}
	})
	return l
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) Logf(format string, args ...any) {
	fmt.Fprintf(l, format+"\n", args...)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testServer is a running mcpauthz.
type testServer struct {
	URL      string // the issuer, http://127.0.0.1:<port>, also where it listens
	Resource string // the default resource, URL + "/mcp"
	App      *App
	Store    store.Store
	UserID   string
	UserName string
	Password string
}

// serverOption adjusts the configuration of startServer.
type serverOption func(*FileConfig)

// withConfig changes the FileConfig before the server opens.
func withConfig(f func(*FileConfig)) serverOption { return f }

// withScopes configures the scopes the server knows (all of them default).
func withScopes(scopes ...ScopeConfig) serverOption {
	return func(fc *FileConfig) { fc.Scopes = scopes }
}

// startServer runs mcpauthz, as `mcpauthz serve` does, on a free loopback
// port with the issuer http://127.0.0.1:<port>, a fresh SQLite file and a
// random master key, and creates the user returned in UserName and
// Password. It stops when the test ends.
func startServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	logs := newTestLog(t, "server log")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	issuer := "http://" + ln.Addr().String()
	fc := defaultFileConfig()
	fc.Addr = ln.Addr().String()
	fc.Issuer = issuer
	fc.DB = filepath.Join(t.TempDir(), "mcpauthz.db")
	fc.MasterKey = base64.StdEncoding.EncodeToString(randomBytes(t, authz.MasterKeySize))
	fc.LogLevel = "debug"
	for _, o := range opts {
		o(&fc)
	}

	ctx, cancel := context.WithCancel(context.Background())
	app, err := openApp(ctx, fc, newLogger(fc, logs), logs)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("openApp: %v", err)
	}
	s := &testServer{
		URL:      issuer,
		Resource: issuer + "/mcp",
		App:      app,
		Store:    app.Store,
		UserName: "alice",
		Password: rand.Text(),
	}
	hash, err := authz.NewPasswordHasher(testArgon2Params).Hash(s.Password)
	if err == nil {
		u := &store.User{ID: newID(), Name: s.UserName, PasswordHash: hash}
		err = app.Store.CreateUser(ctx, u)
		s.UserID = u.ID
	}
	if err != nil {
		cancel()
		ln.Close()
		app.Close()
		t.Fatalf("create test user: %v", err)
	}

	done := make(chan error, 1)
	go func() { done <- app.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := app.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// registeredClient is the part of an RFC 7591 client information response
// the tests use.
type registeredClient struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

// register registers a client by POSTing md to /register, as MCP clients
// do, and requires 201 Created.
func (s *testServer) register(t testing.TB, md map[string]any) registeredClient {
	t.Helper()
	body, _ := json.Marshal(md)
	resp, err := http.Post(s.URL+"/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: status %d, body %s", resp.StatusCode, raw)
	}
	var c registeredClient
	if err := json.Unmarshal(raw, &c); err != nil || c.ClientID == "" {
		t.Fatalf("register: bad response %s (%v)", raw, err)
	}
	return c
}

// registerPublic registers a public client (PKCE only) with the
// authorization_code and refresh_token grants.
func (s *testServer) registerPublic(t testing.TB, name string, redirectURIs ...string) registeredClient {
	t.Helper()
	return s.register(t, map[string]any{
		"client_name":                name,
		"redirect_uris":              redirectURIs,
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
	})
}

// pkce is a PKCE verifier and its S256 challenge.
type pkce struct{ Verifier, Challenge string }

func newPKCE() pkce {
	v := oauth2.GenerateVerifier()
	return pkce{Verifier: v, Challenge: oauth2.S256ChallengeFromVerifier(v)}
}

// newState returns a fresh state parameter.
func newState() string { return "state-" + newID() }

// authorizeURL is an authorization request for the default resource; an
// empty state or scope leaves the parameter out.
func (s *testServer) authorizeURL(clientID, redirectURI, state, challenge, scope string) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"resource":              {s.Resource},
	}
	if state != "" {
		q.Set("state", state)
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	return s.URL + "/authorize?" + q.Encode()
}

// tokenResponse is a successful token endpoint response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
}

// postForm POSTs form to path with plain net/http and returns the response
// with its body read.
func (s *testServer) postForm(t testing.TB, path string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.PostForm(s.URL+path, form)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp, body
}

// callbackServer is the loopback redirect URI of a native client
// (RFC 8252 §7.3). Every request to /callback is reported on Got; requests
// to /unregistered, a path no client registers, on Stray.
type callbackServer struct {
	*httptest.Server
	RedirectURI string // URL + "/callback"
	Got         chan *url.URL
	Stray       chan *url.URL
}

func newCallbackServer(t testing.TB) *callbackServer {
	cb := &callbackServer{Got: make(chan *url.URL, 8), Stray: make(chan *url.URL, 8)}
	record := func(ch chan *url.URL) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			u := *r.URL
			u.Scheme, u.Host = "http", r.Host
			select {
			case ch <- &u:
			default:
				t.Errorf("callback server: too many requests, dropped %s", u.String())
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<!doctype html><title>Callback</title><h1>The client got the response.</h1>")
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", record(cb.Got))
	mux.HandleFunc("/unregistered", record(cb.Stray))
	cb.Server = httptest.NewServer(mux)
	cb.RedirectURI = cb.URL + "/callback"
	t.Cleanup(cb.Close)
	return cb
}

// wait returns the next redirect the callback received.
func (cb *callbackServer) wait(ctx context.Context, t testing.TB) *url.URL {
	t.Helper()
	select {
	case u := <-cb.Got:
		return u
	case <-ctx.Done():
		t.Fatalf("the client's redirect URI was never called: %v", ctx.Err())
		return nil
	}
}

// expectNothing fails if the callback server received any request.
func (cb *callbackServer) expectNothing(t testing.TB) {
	t.Helper()
	select {
	case u := <-cb.Got:
		t.Errorf("the redirect URI was called: %s", u)
	case u := <-cb.Stray:
		t.Errorf("an unregistered redirect URI was called: %s", u)
	default:
	}
}

// chromePath finds the Chromium binary.
func chromePath() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CHROME_PATH=%s: %w", p, err)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium at /usr/bin/chromium or on PATH and CHROME_PATH is not set")
}

// newBrowser starts a headless Chromium with a fresh profile and returns
// the context of its first tab, bounded by e2eTimeout. The browser closes
// when the test ends. Without Chromium the test skips (fails with CI=true).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := chromePath()
	if err != nil {
		needTool(t, "chromium is required in CI: install it (apt-get install -y chromium) or set CHROME_PATH: "+err.Error())
	}
	profile := t.TempDir()
	logs := newTestLog(t, "chromium log")
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// No automatic https upgrade of the http loopback URLs.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,MediaRouter"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1024, 768),
		chromedp.CombinedOutput(logs),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(logs.Logf), chromedp.WithErrorf(logs.Logf))
	// Registered after TempDir, so it runs first: the browser has exited
	// before its profile is removed.
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser without the deadline: the first Run binds the
	// browser's life to its context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	tctx, cancel := context.WithTimeout(ctx, e2eTimeout)
	t.Cleanup(cancel)
	return tctx
}

// browse navigates to u and returns the response of the document the tab
// ends on (after redirects).
func browse(ctx context.Context, t testing.TB, u string) *network.Response {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		t.Fatalf("navigate to %s: %v", u, err)
	}
	return resp
}

// submitLogin fills in the login form of the current page, submits it and
// returns the response of the page that follows.
func submitLogin(ctx context.Context, t testing.TB, user, password string) *network.Response {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"] input[name=username]`)),
		chromedp.SetValue(chromedp.CSS(`form[action="/login"] input[name=username]`), user),
		chromedp.SetValue(chromedp.CSS(`form[action="/login"] input[name=password]`), password),
	); err != nil {
		t.Fatalf("fill in the login form: %v", err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	if err != nil {
		t.Fatalf("submit the login form: %v", err)
	}
	return resp
}

// decide clicks Allow or Deny (decision "allow" or "deny") on the consent
// page and returns the response of the page that follows.
func decide(ctx context.Context, t testing.TB, decision string) *network.Response {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/consent"] button[name=decision][value=`+decision+`]`)))
	if err != nil {
		t.Fatalf("click %s on the consent page: %v", decision, err)
	}
	return resp
}

// text returns the visible text of the first element matching the CSS
// selector sel, waiting for it to be visible.
func text(ctx context.Context, t testing.TB, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// exists reports whether the current page has an element matching sel,
// without waiting.
func exists(ctx context.Context, t testing.TB, sel string) bool {
	t.Helper()
	js, _ := json.Marshal(sel)
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+string(js)+`) !== null`))
	if err != nil {
		t.Fatalf("look for %s: %v", sel, err)
	}
	return ok
}

// isConsentPage and isLoginPage tell the pages apart by their forms.
func isConsentPage(ctx context.Context, t testing.TB) bool {
	return exists(ctx, t, `form[action="/consent"] input[name=consent_id]`)
}

func isLoginPage(ctx context.Context, t testing.TB) bool {
	return exists(ctx, t, `form[action="/login"] input[name=password]`)
}

// screenshot saves a PNG of the whole page in testdata/screenshots (which
// git ignores) for people to look at, and returns its absolute path.
func screenshot(ctx context.Context, t testing.TB, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// authorizeInBrowser drives the browser through an authorization: it opens
// authURL, signs in if the login page shows, allows on the consent page if
// it shows, and returns the redirect the callback server received.
func authorizeInBrowser(ctx context.Context, t testing.TB, s *testServer, cb *callbackServer, authURL string) *url.URL {
	t.Helper()
	browse(ctx, t, authURL)
	if isLoginPage(ctx, t) {
		submitLogin(ctx, t, s.UserName, s.Password)
	}
	if isConsentPage(ctx, t) {
		decide(ctx, t, "allow")
	}
	return cb.wait(ctx, t)
}

// checkCallback checks the redirect to the client: the state, the issuer
// (RFC 9207) and either a code or the error want ("" for success). It
// returns the code.
func checkCallback(t testing.TB, s *testServer, got *url.URL, state, wantError string) string {
	t.Helper()
	q := got.Query()
	if q.Get("state") != state {
		t.Errorf("callback state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != s.URL {
		t.Errorf("callback iss = %q, want the issuer %q", q.Get("iss"), s.URL)
	}
	if q.Get("error") != wantError {
		t.Fatalf("callback error = %q (%s), want %q; callback %s", q.Get("error"), q.Get("error_description"), wantError, got)
	}
	if wantError == "" && q.Get("code") == "" {
		t.Fatalf("callback has no code: %s", got)
	}
	if wantError != "" && q.Has("code") {
		t.Errorf("error callback carries a code: %s", got)
	}
	return q.Get("code")
}
