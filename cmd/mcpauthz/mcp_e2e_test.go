package main

// End-to-end tests of the MCP resource server (/mcp) behind the real
// authorization server, with MCP clients nobody here wrote:
//
//   - TestInteropMCPSDK runs testdata/node/mcp-sdk-flow.mjs, the official
//     TypeScript SDK's Client and StreamableHTTPClientTransport with an
//     OAuthClientProvider: the SDK does discovery from the 401, dynamic
//     registration and PKCE itself; Chromium signs in and allows.
//   - TestMCPWithGoSDKThroughRealAS gets tokens for two users through
//     /register, /authorize, the login and consent forms and /token, then
//     uses the official go-sdk client to check per-user visibility of
//     documents imported with the real `docs import` command, and that
//     revocation (on /account and at /revoke) locks the client out at once.
//
// TestInteropMCPSDK needs node, testdata/node/node_modules (which `make
// test` installs) and Chromium; without them it skips, except with
// CI=true, where it fails. TestMCPWithGoSDKThroughRealAS needs neither.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/store"
)

// nodeScript is a node process that talks JSON lines: it prints on stdout
// and reads from stdin.
type nodeScript struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	lines  *bufio.Scanner
	stderr bytes.Buffer
	waited bool
	err    error
}

// startNodeScript runs `node script args...` in testdata/node, bound to
// ctx. It is killed, if still running, when the test ends, and its stderr
// is logged if the test failed.
func startNodeScript(ctx context.Context, t *testing.T, node, script string, args ...string) *nodeScript {
	t.Helper()
	p := &nodeScript{t: t}
	p.cmd = exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	p.cmd.Dir = filepath.Join("testdata", "node")
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if p.stdout, err = p.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	p.lines = bufio.NewScanner(p.stdout)
	p.lines.Buffer(make([]byte, 0, 64<<10), 1<<20)
	t.Cleanup(func() {
		if !p.waited {
			p.cmd.Process.Kill()
			p.wait()
		}
		if t.Failed() {
			t.Logf("node %s stderr:\n%s", script, p.stderr.String())
		}
	})
	return p
}

// wait closes stdin, drains stdout and returns the exit status (once).
func (p *nodeScript) wait() error {
	if !p.waited {
		p.waited = true
		p.stdin.Close()
		io.Copy(io.Discard, p.stdout)
		p.err = p.cmd.Wait()
	}
	return p.err
}

// readLine returns the next line the script printed; it fails the test if
// the script exited first.
func (p *nodeScript) readLine(what string) []byte {
	p.t.Helper()
	if !p.lines.Scan() {
		p.t.Fatalf("node printed no %s (%v); exit: %v", what, p.lines.Err(), p.wait())
	}
	return slices.Clone(p.lines.Bytes())
}

func (p *nodeScript) writeLine(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, s+"\n"); err != nil {
		p.t.Fatalf("write to node: %v", err)
	}
}

// mcpSDKResult is the last line mcp-sdk-flow.mjs prints.
type mcpSDKResult struct {
	OK              bool   `json:"ok"`
	Error           string `json:"error"`
	ProtocolVersion string `json:"protocol_version"`
	ServerInfo      struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"server_info"`
	ClientID            string            `json:"client_id"`
	RegisteredClientIDs []string          `json:"registered_client_ids"`
	Invalidated         []string          `json:"invalidated"`
	AuthorizeParams     map[string]string `json:"authorize_params"`
	TokenType           string            `json:"token_type"`
	Scope               string            `json:"scope"`
	HasRefreshToken     bool              `json:"has_refresh_token"`
	Tools               []string          `json:"tools"`
	// Kept raw to check that a result has exactly id, title and url.
	SearchResults []map[string]json.RawMessage `json:"search_results"`
	Fetched       struct {
		ID         string         `json:"id"`
		Title      string         `json:"title"`
		URL        string         `json:"url"`
		TextLength int            `json:"text_length"`
		Metadata   map[string]any `json:"metadata"`
	} `json:"fetched"`
}

// TestInteropMCPSDK connects the official TypeScript MCP SDK to /mcp with
// nothing but the MCP URL: the SDK gets a 401, discovers the protected
// resource metadata and the authorization server, registers, and sends
// the browser to /authorize with PKCE and the resource; Chromium signs in
// and allows; the SDK redeems the code, connects again and calls the tools.
func TestInteropMCPSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		needTool(t, "node is required for TestInteropMCPSDK: install Node.js 20 or later, then run `make test`")
	}
	if _, err := os.Stat(filepath.Join("testdata", "node", "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		needTool(t, "cmd/mcpauthz/testdata/node/node_modules/@modelcontextprotocol/sdk is missing: run `make test`, which installs it (npm ci in cmd/mcpauthz/testdata/node)")
	}
	s := startServer(t)
	cb := newCallbackServer(t)
	ctx := newBrowser(t)
	if clients, err := s.Store.ListClients(ctx); err != nil || len(clients) != 0 {
		t.Fatalf("before the SDK runs: clients %v, %v; want none", clients, err)
	}

	p := startNodeScript(ctx, t, node, "mcp-sdk-flow.mjs", s.Resource, cb.RedirectURI)

	var first struct {
		AuthorizeURL string `json:"authorize_url"`
		OK           *bool  `json:"ok"`
		Error        string `json:"error"`
	}
	line := p.readLine("authorization URL")
	if err := json.Unmarshal(line, &first); err != nil || first.AuthorizeURL == "" {
		if first.Error != "" {
			t.Fatalf("the MCP SDK failed before the authorization request: %s", first.Error)
		}
		t.Fatalf("node's first line is not the authorization URL: %s", line)
	}
	au, err := url.Parse(first.AuthorizeURL)
	if err != nil || !strings.HasPrefix(first.AuthorizeURL, s.URL+"/authorize?") {
		t.Fatalf("authorization URL %s is not at the issuer's /authorize (%v)", first.AuthorizeURL, err)
	}
	q := au.Query()
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("redirect_uri") != cb.RedirectURI || q.Get("resource") != s.Resource || q.Get("state") == "" {
		t.Errorf("the SDK's authorization request lacks PKCE S256, the redirect URI, the resource %s or a state: %s", s.Resource, first.AuthorizeURL)
	}
	// The SDK registered before it sent the browser off.
	clients, err := s.Store.ListClients(ctx)
	if err != nil || len(clients) != 1 {
		t.Fatalf("after discovery and registration: clients %d, %v; want exactly 1", len(clients), err)
	}
	reg := clients[0]
	if reg.Source != "dcr" || reg.ID != q.Get("client_id") || reg.TokenEndpointAuthMethod != "none" || reg.SecretHash != nil ||
		!slices.Equal(reg.RedirectURIs, []string{cb.RedirectURI}) || reg.Name != "MCP TypeScript SDK interop" {
		t.Errorf("registered client: source %q, id %q (authorize has %q), auth %q, secret %t, redirect URIs %v, name %q",
			reg.Source, reg.ID, q.Get("client_id"), reg.TokenEndpointAuthMethod, reg.SecretHash != nil, reg.RedirectURIs, reg.Name)
	}

	got := authorizeInBrowser(ctx, t, s, cb, first.AuthorizeURL)
	if got.Query().Get("iss") != s.URL {
		t.Errorf("callback iss = %q, want %q", got.Query().Get("iss"), s.URL)
	}
	screenshot(ctx, t, "mcp-sdk-callback")
	p.writeLine(got.String())

	line = p.readLine("result")
	var res mcpSDKResult
	if err := json.Unmarshal(line, &res); err != nil {
		t.Fatalf("node's result line is not JSON: %s", line)
	}
	if err := p.wait(); err != nil {
		t.Errorf("node: %v", err)
	}
	if !res.OK {
		t.Fatalf("MCP SDK flow failed: %s", res.Error)
	}
	t.Logf("MCP SDK: protocol %s, server %s %s, client %s, token %s scope %q refresh %t",
		res.ProtocolVersion, res.ServerInfo.Name, res.ServerInfo.Version, res.ClientID, res.TokenType, res.Scope, res.HasRefreshToken)

	if res.ClientID != reg.ID || !slices.Equal(res.RegisteredClientIDs, []string{reg.ID}) {
		t.Errorf("the SDK used client %q and saved %v; the store has %q", res.ClientID, res.RegisteredClientIDs, reg.ID)
	}
	if len(res.Invalidated) != 0 {
		t.Errorf("the SDK invalidated credentials %v: some OAuth step failed and was retried", res.Invalidated)
	}
	if !strings.EqualFold(res.TokenType, "bearer") || !res.HasRefreshToken {
		t.Errorf("tokens: type %q, refresh token %t", res.TokenType, res.HasRefreshToken)
	}
	if res.ProtocolVersion == "" {
		t.Errorf("no negotiated protocol version")
	}
	if res.ServerInfo.Name != "mcpauthz" {
		t.Errorf("server name %q, want mcpauthz", res.ServerInfo.Name)
	}

	tools := slices.Sorted(slices.Values(res.Tools))
	if !slices.Equal(tools, []string{"fetch", "search"}) {
		t.Errorf("tools = %v, want exactly search and fetch", res.Tools)
	}
	if len(res.SearchResults) == 0 {
		t.Fatal("search for \"authorization\" found nothing (the embedded README should match)")
	}
	for i, r := range res.SearchResults {
		keys := slices.Sorted(maps.Keys(r))
		if !slices.Equal(keys, []string{"id", "title", "url"}) {
			t.Errorf("search result %d has keys %v, want exactly id, title, url", i, keys)
		}
		var id, title, u string
		json.Unmarshal(r["id"], &id)
		json.Unmarshal(r["title"], &title)
		json.Unmarshal(r["url"], &u)
		if id == "" || title == "" || u != s.URL+"/docs/"+id {
			t.Errorf("search result %d: id %q, title %q, url %q (want %q)", i, id, title, u, s.URL+"/docs/"+id)
		}
	}
	var firstID string
	json.Unmarshal(res.SearchResults[0]["id"], &firstID)
	if res.Fetched.ID != firstID || res.Fetched.TextLength <= 0 || res.Fetched.Title == "" || res.Fetched.URL != s.URL+"/docs/"+firstID {
		t.Errorf("fetch of %q: id %q, title %q, url %q, text length %d", firstID, res.Fetched.ID, res.Fetched.Title, res.Fetched.URL, res.Fetched.TextLength)
	}
	if res.Fetched.Metadata["visibility"] != "public" {
		t.Errorf("fetched document metadata %v, want visibility public (an embedded document)", res.Fetched.Metadata)
	}

	// What the server kept: still the one registered client, and alice's
	// consent for it.
	if clients, err := s.Store.ListClients(context.Background()); err != nil || len(clients) != 1 {
		t.Errorf("after the flow: %d clients, %v; want 1", len(clients), err)
	}
	if c, err := s.Store.GetConsent(context.Background(), s.UserID, reg.ID, s.Resource); err != nil || !slices.Contains(c.Scopes, "docs:read") || c.Resource != s.Resource {
		t.Errorf("consent of alice for the SDK client: %+v, %v", c, err)
	}
}

// formBrowser is a person's browser reduced to net/http: a cookie jar and
// no automatic redirects, posting the login and consent forms as a
// browser would (the pages themselves are covered by browser_test.go).
type formBrowser struct {
	s        *testServer
	hc       *http.Client
	user     string
	password string
}

func newFormBrowser(t *testing.T, s *testServer, user, password string) *formBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &formBrowser{s: s, user: user, password: password, hc: &http.Client{
		Jar:           jar,
		Timeout:       e2eTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *formBrowser) do(t *testing.T, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.s.URL + path
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(raw)
}

// hiddenField returns the value of the form field name in page.
func hiddenField(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `"\s+value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no field %s in the page:\n%s", name, page)
	}
	return html.UnescapeString(m[1])
}

// authorize runs the authorization code flow with PKCE for the default
// resource and scope docs:read: /authorize, the login form, the consent
// form (allow), then /token. It returns the tokens.
func (b *formBrowser) authorize(t *testing.T, clientID, redirectURI string) tokenResponse {
	t.Helper()
	s := b.s
	pk, state := newPKCE(), newState()
	resp, page := b.do(t, http.MethodGet, s.authorizeURL(clientID, redirectURI, state, pk.Challenge, "docs:read"), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/login"`) {
		t.Fatalf("%s: /authorize without a session: status %d, want the login page:\n%s", b.user, resp.StatusCode, page)
	}
	ret := hiddenField(t, page, "return")
	resp, page = b.do(t, http.MethodPost, "/login", url.Values{"username": {b.user}, "password": {b.password}, "return": {ret}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != ret {
		t.Fatalf("%s: login: status %d, Location %q, want 303 to %q:\n%s", b.user, resp.StatusCode, resp.Header.Get("Location"), ret, page)
	}
	resp, page = b.do(t, http.MethodGet, ret, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/consent"`) {
		t.Fatalf("%s: /authorize after login: status %d, want the consent page:\n%s", b.user, resp.StatusCode, page)
	}
	resp, page = b.do(t, http.MethodPost, "/consent", url.Values{"consent_id": {hiddenField(t, page, "consent_id")}, "decision": {"allow"}})
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || err != nil || !strings.HasPrefix(loc.String(), redirectURI+"?") {
		t.Fatalf("%s: consent: status %d, Location %q, want a redirect to %s:\n%s", b.user, resp.StatusCode, resp.Header.Get("Location"), redirectURI, page)
	}
	code := checkCallback(t, s, loc, state, "")

	resp, raw := s.postForm(t, "/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"client_id":     {clientID},
		"code_verifier": {pk.Verifier},
		"resource":      {s.Resource},
	})
	var tok tokenResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("%s: token: status %d: %s", b.user, resp.StatusCode, raw)
	}
	if tok.Scope != "docs:read" {
		t.Errorf("%s: token scope %q, want docs:read", b.user, tok.Scope)
	}
	return tok
}

// mcpExchange is one HTTP exchange with the MCP endpoint.
type mcpExchange struct {
	Method    string
	Status    int
	Challenge string // WWW-Authenticate
}

// bearerRecorder adds the access token to every request and records each
// exchange, so tests can look at what the go-sdk client does not expose.
type bearerRecorder struct {
	token string
	mu    sync.Mutex
	log   []mcpExchange
}

func (b *bearerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		b.mu.Lock()
		b.log = append(b.log, mcpExchange{Method: req.Method, Status: resp.StatusCode, Challenge: strings.Join(resp.Header.Values("WWW-Authenticate"), "\n")})
		b.mu.Unlock()
	}
	return resp, err
}

// lastPOST returns the last POST exchange.
func (b *bearerRecorder) lastPOST() (mcpExchange, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.log) - 1; i >= 0; i-- {
		if b.log[i].Method == http.MethodPost {
			return b.log[i], true
		}
	}
	return mcpExchange{}, false
}

// mcpUser is a go-sdk client session of one user.
type mcpUser struct {
	name string
	cs   *mcp.ClientSession
	rec  *bearerRecorder
	s    *testServer
}

// connectMCP connects the official go-sdk client to /mcp with token.
func connectMCP(ctx context.Context, t *testing.T, s *testServer, name, token string) *mcpUser {
	t.Helper()
	rec := &bearerRecorder{token: token}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpauthz-e2e-" + name, Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   s.Resource,
		HTTPClient: &http.Client{Transport: rec, Timeout: e2eTimeout},
		MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatalf("%s: connect to %s: %v", name, s.Resource, err)
	}
	t.Cleanup(func() { cs.Close() })
	if ir := cs.InitializeResult(); ir != nil {
		t.Logf("%s: go-sdk connected, protocol %s, server %s %s", name, ir.ProtocolVersion, ir.ServerInfo.Name, ir.ServerInfo.Version)
	}
	return &mcpUser{name: name, cs: cs, rec: rec, s: s}
}

// call calls a tool and returns whether it reported an error and the text
// of its one content item.
func (u *mcpUser) call(ctx context.Context, t *testing.T, tool string, args map[string]any) (bool, string) {
	t.Helper()
	res, err := u.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %s %v: %v", u.name, tool, args, err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("%s: %s %v: %d content items, want 1", u.name, tool, args, len(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("%s: %s %v: content is %T, want text", u.name, tool, args, res.Content[0])
	}
	return res.IsError, tc.Text
}

// search returns the IDs search finds for query, checking each result's
// shape.
func (u *mcpUser) search(ctx context.Context, t *testing.T, query string) []string {
	t.Helper()
	isErr, text := u.call(ctx, t, "search", map[string]any{"query": query})
	if isErr {
		t.Fatalf("%s: search %q: error %s", u.name, query, text)
	}
	var out struct {
		Results []map[string]string `json:"results"`
	}
	if err := json.Unmarshal([]byte(text), &out); err != nil || out.Results == nil {
		t.Fatalf("%s: search %q: %v in %s", u.name, query, err, text)
	}
	var ids []string
	for _, r := range out.Results {
		if keys := slices.Sorted(maps.Keys(r)); !slices.Equal(keys, []string{"id", "title", "url"}) || r["url"] != u.s.URL+"/docs/"+r["id"] {
			t.Errorf("%s: search %q: result %v", u.name, query, r)
		}
		ids = append(ids, r["id"])
	}
	return ids
}

// fetchedDoc is the JSON of a fetch result.
type fetchedDoc struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	URL      string `json:"url"`
	Metadata struct {
		Owner      string `json:"owner"`
		Visibility string `json:"visibility"`
	} `json:"metadata"`
}

// fetch fetches id and requires success.
func (u *mcpUser) fetch(ctx context.Context, t *testing.T, id string) fetchedDoc {
	t.Helper()
	isErr, text := u.call(ctx, t, "fetch", map[string]any{"id": id})
	if isErr {
		t.Fatalf("%s: fetch %s: error %s", u.name, id, text)
	}
	var d fetchedDoc
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		t.Fatalf("%s: fetch %s: %v in %s", u.name, id, err, text)
	}
	if d.ID != id || d.Text == "" || d.URL != u.s.URL+"/docs/"+id {
		t.Errorf("%s: fetch %s: id %q, url %q, text %d bytes", u.name, id, d.ID, d.URL, len(d.Text))
	}
	return d
}

// fetchRefused fetches id, requires isError and returns the message.
func (u *mcpUser) fetchRefused(ctx context.Context, t *testing.T, id string) string {
	t.Helper()
	isErr, text := u.call(ctx, t, "fetch", map[string]any{"id": id})
	if !isErr {
		t.Fatalf("%s: fetch %s succeeded, want an error; got %s", u.name, id, text)
	}
	return text
}

// toolNames lists the tools, sorted.
func (u *mcpUser) toolNames(ctx context.Context, t *testing.T) []string {
	t.Helper()
	res, err := u.cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("%s: tools/list: %v", u.name, err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// expectLockedOut requires the next tool call to fail with HTTP 401 and a
// Bearer challenge with error="invalid_token".
func (u *mcpUser) expectLockedOut(ctx context.Context, t *testing.T, why string) {
	t.Helper()
	res, err := u.cs.CallTool(ctx, &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"query": "fixturemarker"}})
	if err == nil {
		t.Fatalf("%s: search after %s succeeded (isError %t): %v", u.name, why, res.IsError, res.Content)
	}
	ex, ok := u.rec.lastPOST()
	if !ok || ex.Status != http.StatusUnauthorized {
		t.Fatalf("%s: after %s: last POST %+v, want 401 (client error: %v)", u.name, why, ex, err)
	}
	if !strings.HasPrefix(ex.Challenge, "Bearer ") || !strings.Contains(ex.Challenge, `error="invalid_token"`) ||
		!strings.Contains(ex.Challenge, `resource_metadata="`+u.s.URL+`/.well-known/oauth-protected-resource/mcp"`) {
		t.Errorf("%s: after %s: WWW-Authenticate %q, want a Bearer challenge with error=\"invalid_token\" and the resource metadata", u.name, why, ex.Challenge)
	}
	t.Logf("%s: after %s: %d, WWW-Authenticate: %s", u.name, why, ex.Status, ex.Challenge)
}

// addUser creates a user with a random password and returns the password.
func (s *testServer) addUser(t *testing.T, name string) string {
	t.Helper()
	pw := "pw-" + newID()
	hash, err := authz.NewPasswordHasher(testArgon2Params).Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.CreateUser(t.Context(), &store.User{ID: newID(), Name: name, PasswordHash: hash}); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return pw
}

// importDoc writes a Markdown file and imports it with the real `mcpauthz
// docs import` command into the running server's database, returning the
// new document's ID.
func (s *testServer) importDoc(t *testing.T, file, content string, flags ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cli(t, s.App.Config.DB, "", append([]string{"docs", "import", path}, flags...)...)
	var rows []docRow
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0].ID == "" {
		t.Fatalf("docs import %s %v: exit %d, stdout %s, stderr %s", file, flags, code, out, errs)
	}
	return rows[0].ID
}

// TestMCPWithGoSDKThroughRealAS checks per-user visibility and revocation
// end to end: real tokens from the real flow, the official go-sdk client,
// documents imported by the real CLI.
func TestMCPWithGoSDKThroughRealAS(t *testing.T) {
	s := startServer(t) // with alice
	ctx, cancel := context.WithTimeout(t.Context(), e2eTimeout)
	defer cancel()
	bobPassword := s.addUser(t, "bob")

	// Every document has the word fixturemarker and one word of its own.
	privateID := s.importDoc(t, "alice-private.md",
		"# Alice's private notes\n\nThe quokkazephyr launch is secret. fixturemarker\n", "--owner", "alice")
	sharedID := s.importDoc(t, "alice-shared-with-bob.md",
		"# Plan shared with Bob\n\nThe vortexmarmalade budget, for Alice and Bob. fixturemarker\n", "--owner", "alice", "--share", "bob")
	publicID := s.importDoc(t, "public-notice.md",
		"# Public notice\n\nThe pelicanharbor meeting is open to all. fixturemarker\n", "--public")

	cb := newCallbackServer(t)
	client := s.registerPublic(t, "go-sdk e2e", cb.RedirectURI)
	aliceB := newFormBrowser(t, s, s.UserName, s.Password)
	bobB := newFormBrowser(t, s, "bob", bobPassword)
	aliceTok := aliceB.authorize(t, client.ClientID, cb.RedirectURI)
	bobTok := bobB.authorize(t, client.ClientID, cb.RedirectURI)
	cb.expectNothing(t) // the redirects were read, not followed

	alice := connectMCP(ctx, t, s, "alice", aliceTok.AccessToken)
	bob := connectMCP(ctx, t, s, "bob", bobTok.AccessToken)
	for _, u := range []*mcpUser{alice, bob} {
		if names := u.toolNames(ctx, t); !slices.Equal(names, []string{"fetch", "search"}) {
			t.Errorf("%s: tools %v, want exactly search and fetch", u.name, names)
		}
	}

	// alice sees all three.
	for word, id := range map[string]string{"quokkazephyr": privateID, "vortexmarmalade": sharedID, "pelicanharbor": publicID} {
		if got := alice.search(ctx, t, word); !slices.Equal(got, []string{id}) {
			t.Errorf("alice: search %q = %v, want [%s]", word, got, id)
		}
	}
	if got, want := slices.Sorted(slices.Values(alice.search(ctx, t, "fixturemarker"))), slices.Sorted(slices.Values([]string{privateID, sharedID, publicID})); !slices.Equal(got, want) {
		t.Errorf("alice: search fixturemarker = %v, want %v", got, want)
	}
	for id, vis := range map[string]string{privateID: "private", sharedID: "shared", publicID: "public"} {
		d := alice.fetch(ctx, t, id)
		wantOwner := "alice"
		if vis == "public" {
			wantOwner = ""
		}
		if d.Metadata.Visibility != vis || d.Metadata.Owner != wantOwner {
			t.Errorf("alice: fetch %s: visibility %q owner %q, want %q %q", id, d.Metadata.Visibility, d.Metadata.Owner, vis, wantOwner)
		}
	}

	// bob neither finds nor fetches alice's private document, and cannot
	// tell it from one that does not exist.
	if got := bob.search(ctx, t, "quokkazephyr"); len(got) != 0 {
		t.Errorf("bob: search for the word of alice's private document found %v", got)
	}
	unknownID := "no-such-document-" + newID()
	unknownMsg := bob.fetchRefused(ctx, t, unknownID)
	privateMsg := bob.fetchRefused(ctx, t, privateID)
	if want := strings.ReplaceAll(unknownMsg, unknownID, privateID); privateMsg != want {
		t.Errorf("bob: fetch of alice's private document says %q; for an unknown id it says %q", privateMsg, unknownMsg)
	}
	if strings.Contains(privateMsg, "quokkazephyr") || strings.Contains(privateMsg, "Alice's private") {
		t.Errorf("bob: the refusal leaks the document: %q", privateMsg)
	}
	// ... but finds and fetches the shared and the public one.
	if got := bob.search(ctx, t, "vortexmarmalade"); !slices.Equal(got, []string{sharedID}) {
		t.Errorf("bob: search vortexmarmalade = %v, want [%s]", got, sharedID)
	}
	if got := bob.search(ctx, t, "pelicanharbor"); !slices.Equal(got, []string{publicID}) {
		t.Errorf("bob: search pelicanharbor = %v, want [%s]", got, publicID)
	}
	if got, want := slices.Sorted(slices.Values(bob.search(ctx, t, "fixturemarker"))), slices.Sorted(slices.Values([]string{sharedID, publicID})); !slices.Equal(got, want) {
		t.Errorf("bob: search fixturemarker = %v, want %v", got, want)
	}
	if d := bob.fetch(ctx, t, sharedID); d.Metadata.Visibility != "shared" || d.Metadata.Owner != "alice" || !strings.Contains(d.Text, "vortexmarmalade") {
		t.Errorf("bob: fetch shared: %+v", d)
	}
	if d := bob.fetch(ctx, t, publicID); d.Metadata.Visibility != "public" || !strings.Contains(d.Text, "pelicanharbor") {
		t.Errorf("bob: fetch public: %+v", d)
	}

	// alice revokes the client on /account: her token stops working at
	// once; bob's, for the same client, does not.
	resp, page := aliceB.do(t, http.MethodPost, "/account/revoke", url.Values{"client_id": {client.ClientID}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/account?notice=revoked") {
		t.Fatalf("alice: POST /account/revoke: status %d, Location %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	alice.expectLockedOut(ctx, t, "revoking the client on /account")
	resp, raw := s.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {aliceTok.RefreshToken}, "client_id": {client.ClientID}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), `"invalid_grant"`) {
		t.Errorf("alice: refresh after revoking on /account: status %d: %s; want 400 invalid_grant", resp.StatusCode, raw)
	}
	if got := bob.search(ctx, t, "vortexmarmalade"); !slices.Equal(got, []string{sharedID}) {
		t.Errorf("bob after alice revoked: search = %v, want [%s]", got, sharedID)
	}

	// bob's access token revoked at /revoke (RFC 7009) by the client.
	resp, raw = s.postForm(t, "/revoke", url.Values{"token": {bobTok.AccessToken}, "token_type_hint": {"access_token"}, "client_id": {client.ClientID}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke bob's access token: status %d: %s", resp.StatusCode, raw)
	}
	bob.expectLockedOut(ctx, t, "revoking his access token at /revoke")
}
