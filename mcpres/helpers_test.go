package mcpres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fakeVerifier maps tokens to what the authorization server would say.
type fakeVerifier struct {
	tokens map[string]*TokenInfo
	errs   map[string]error
}

func (v *fakeVerifier) VerifyAccessToken(_ context.Context, token string) (*TokenInfo, error) {
	if err, ok := v.errs[token]; ok {
		return nil, err
	}
	if ti, ok := v.tokens[token]; ok {
		c := *ti
		return &c, nil
	}
	return nil, fmt.Errorf("unknown token: %w", ErrInvalidToken)
}

// Test users.
const (
	aliceID = "u-alice"
	bobID   = "u-bob"
	carolID = "u-carol"
)

// testTokens is the table tokens → TokenInfo the fake verifier knows.
func testTokens(resource string, now time.Time) map[string]*TokenInfo {
	valid := func(sub, name, client string, scopes ...string) *TokenInfo {
		return &TokenInfo{Subject: sub, Username: name, ClientID: client, Scopes: scopes,
			Audience: []string{resource}, ExpiresAt: now.Add(time.Hour)}
	}
	m := map[string]*TokenInfo{
		"alice-token":         valid(aliceID, "alice", "client-a", "docs:read"),
		"alice-other-client":  valid(aliceID, "alice", "client-b", "docs:read"),
		"bob-token":           valid(bobID, "bob", "client-a", "docs:read"),
		"carol-token":         valid(carolID, "carol", "client-a", "docs:read"),
		"alice-noscope-token": valid(aliceID, "alice", "client-a", "profile"),
		"expired-token":       valid(aliceID, "alice", "client-a", "docs:read"),
		"noexpiry-token":      valid(aliceID, "alice", "client-a", "docs:read"),
		"wrong-aud-token":     valid(aliceID, "alice", "client-a", "docs:read"),
		"slash-aud-token":     valid(aliceID, "alice", "client-a", "docs:read"),
		"no-subject-token":    valid("", "", "client-a", "docs:read"),
		"dpop-bound-token":    valid(aliceID, "alice", "client-a", "docs:read"),
	}
	m["expired-token"].ExpiresAt = now.Add(-time.Second)
	m["noexpiry-token"].ExpiresAt = time.Time{}
	m["wrong-aud-token"].Audience = []string{"https://other.example.com/mcp"}
	m["slash-aud-token"].Audience = []string{resource + "/"}
	m["dpop-bound-token"].JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	return m
}

// fixture is a running resource server over loopback with a real store.
type fixture struct {
	t        testing.TB
	st       *store.DB
	srv      *Server
	http     *httptest.Server
	issuer   string
	resource string
	logs     *syncBuffer
	docs     map[string]string // name → document ID
	clock    *testClock
	verifier *fakeVerifier // nil when the fixture was built with another verifier
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink safe for the handler goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// openStore opens a fresh SQLite store in t.TempDir().
func openStore(t testing.TB) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DSN: filepath.Join(t.TempDir(), "x.db")})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newFixture starts a server; tweak adjusts the Config before New.
func newFixture(t *testing.T, tweak func(*Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, func(_ *fixture, c *Config) {
		if tweak != nil {
			tweak(c)
		}
	}, nil)
}

// newFixtureWith starts a server; tweak adjusts the Config before New and
// can use the fixture's store and clock; verifier, when not nil, replaces
// the fake verifier.
func newFixtureWith(t testing.TB, tweak func(*fixture, *Config), verifier func(*fixture) TokenVerifier) *fixture {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	var err error

	f := &fixture{t: t, st: st, logs: &syncBuffer{}, docs: map[string]string{},
		clock: &testClock{t: time.Now()}}
	for _, u := range []store.User{{ID: aliceID, Name: "alice"}, {ID: bobID, Name: "bob"}, {ID: carolID, Name: "carol"}} {
		u.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
	}
	put := func(name string, d store.Document) {
		got, err := st.PutDocument(ctx, &d)
		if err != nil {
			t.Fatalf("PutDocument %s: %v", name, err)
		}
		f.docs[name] = got.ID
	}
	put("alice-private", store.Document{Title: "Alpha budget plan", Body: "The zephyr budget for 2026 is <confidential> & final.",
		Format: "markdown", OwnerID: aliceID, Visibility: store.VisibilityPrivate})
	put("alice-shared", store.Document{Title: "Roadmap quokka", Body: "Quokka roadmap shared with bob.",
		Format: "text", OwnerID: aliceID, Visibility: store.VisibilityShared, SharedWith: []string{bobID}})
	put("public", store.Document{Title: "Employee handbook", Body: "The handbook: holidays, wombat policy.",
		Format: "html", OwnerID: bobID, Visibility: store.VisibilityPublic})
	put("server-public", store.Document{Title: "Server wombat notes", Body: "Notes of the server about the wombat.",
		Format: "text", Visibility: store.VisibilityPublic})

	mux := http.NewServeMux()
	f.http = httptest.NewServer(mux)
	t.Cleanup(f.http.Close)
	f.issuer = f.http.URL
	f.resource = f.issuer + "/mcp"
	cfg := Config{
		Issuer: f.issuer,
		Now:    f.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(f, &cfg)
	}
	var v TokenVerifier
	if verifier != nil {
		v = verifier(f)
	} else {
		f.verifier = &fakeVerifier{
			tokens: testTokens(f.resource, f.clock.Now()),
			errs: map[string]error{
				"revoked-token": fmt.Errorf("token revoked: %w", ErrInvalidToken),
				"broken-token":  errors.New("database is locked"),
			},
		}
		v = f.verifier
	}
	f.srv, err = New(cfg, st, v)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.srv.Mount(mux)
	return f
}

// request sends a raw HTTP request to the server and returns the response
// with its body read.
func (f *fixture) request(method, path, token string, body string, hdr map[string]string) (*http.Response, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	if method == http.MethodGet && path == "/mcp" {
		req.Header.Set("Accept", "text/event-stream")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := f.http.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, b
}

// rpcResponse is a JSON-RPC response as the server sends it.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// rpc posts one JSON-RPC request in protocol 2025-11-25 (stateless, no
// initialize needed) and returns the HTTP response and the decoded reply.
func (f *fixture) rpc(token, method string, params any) (*http.Response, *rpcResponse) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	resp, b := f.request(http.MethodPost, "/mcp", token, string(body), map[string]string{"MCP-Protocol-Version": "2025-11-25"})
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var r rpcResponse
	if err := json.Unmarshal(b, &r); err != nil {
		f.t.Fatalf("decode %s reply %q: %v", method, b, err)
	}
	return resp, &r
}

// bearerTransport adds the Authorization header, as an MCP client would.
type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (t bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(r)
}

// connect opens a go-sdk client session with token at protocol version
// (empty: the SDK's latest, 2026-07-28 with server/discover).
func (f *fixture) connect(token, version string) *mcp.ClientSession {
	f.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpres-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:             f.resource,
		HTTPClient:           &http.Client{Transport: bearerTransport{token: token, base: f.http.Client().Transport}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		f.t.Fatalf("connect (%q, %q): %v", token, version, err)
	}
	f.t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// callTool calls a tool through a go-sdk session.
func callTool(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool %s: %v", name, err)
	}
	return res
}

// textOf returns the text of the only content item, failing otherwise.
func textOf(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("content has %d items, want 1: %+v", len(res.Content), res.Content)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content[0] is %T, want text", res.Content[0])
	}
	return tc.Text
}

// decodeStrict decodes JSON into v, refusing unknown fields and trailing data.
func decodeStrict(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("strict decode of %q: %v", s, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after JSON in %q", s)
	}
}
