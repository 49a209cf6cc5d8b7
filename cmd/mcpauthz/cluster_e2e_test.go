package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/store"
	"github.com/mcpauthz/mcpauthz/store/storetest"
)

// startCluster runs n instances of mcpauthz, as a deployment does: one
// issuer, one master key, one PostgreSQL database (a schema of its own),
// behind a load balancer at the issuer's address that sends each request
// to the next instance in turn. So every two requests in a row of any flow
// are served by different instances. The returned server is the load
// balancer; App and Store are the first instance's.
func startCluster(t *testing.T, n int) *testServer {
	t.Helper()
	dsn := storetest.PostgresSchema(t)
	lb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + lb.Addr().String()
	master := base64.StdEncoding.EncodeToString(randomBytes(t, authz.MasterKeySize))
	var backends []*url.URL
	var first *App
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fc := defaultFileConfig()
		fc.Addr, fc.Issuer, fc.DB, fc.MasterKey, fc.LogLevel = ln.Addr().String(), issuer, dsn, master, "debug"
		logs := newTestLog(t, fmt.Sprintf("instance %d log", i))
		ctx, cancel := context.WithCancel(context.Background())
		app, err := openApp(ctx, fc, newLogger(fc, logs), logs)
		if err != nil {
			cancel()
			t.Fatalf("instance %d: %v", i, err)
		}
		done := make(chan error, 1)
		go func() { done <- app.serve(ctx, ln) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("instance %d: serve: %v", i, err)
			}
			if err := app.Close(); err != nil {
				t.Errorf("instance %d: close: %v", i, err)
			}
		})
		if first == nil {
			first = app
		}
		backends = append(backends, &url.URL{Scheme: "http", Host: ln.Addr().String()})
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(backends[(next.Add(1)-1)%uint64(len(backends))])
		pr.Out.Host = pr.In.Host // the issuer's host, as behind a real proxy
	}}
	hs := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(lb)
	t.Cleanup(func() { hs.Close() })

	s := &testServer{URL: issuer, Resource: issuer + "/mcp", App: first, Store: first.Store, UserName: "alice", Password: rand.Text()}
	hash, err := authz.NewPasswordHasher(testArgon2Params).Hash(s.Password)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: newID(), Name: s.UserName, PasswordHash: hash}
	if err := first.Store.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	s.UserID = u.ID
	return s
}

// TestClusterOnPostgres runs the flows of a deployment with two instances
// on one PostgreSQL database, each request served by the other instance
// than the one before: registration, sign-in and consent (the session and
// the pending request live in the cookie), the code exchange, the MCP
// tools, refresh rotation and its reuse detection, revocation seen at once
// at /mcp, and a DPoP proof that is single-use across the instances.
func TestClusterOnPostgres(t *testing.T) {
	c := startCluster(t, 2)
	const redirect = "http://127.0.0.1:9/callback"
	client := c.registerPublic(t, "cluster app", redirect)
	tok := newFormBrowser(t, c, c.UserName, c.Password).authorize(t, client.ClientID, redirect)

	ctx, cancel := context.WithTimeout(t.Context(), e2eTimeout)
	defer cancel()
	u := connectMCP(ctx, t, c, "alice", tok.AccessToken)
	isErr, text := u.call(ctx, t, "search", map[string]any{"query": "authorization server"})
	var found struct {
		Results []struct{ ID, Title string } `json:"results"`
	}
	if isErr || json.Unmarshal([]byte(text), &found) != nil || len(found.Results) == 0 {
		t.Fatalf("search (PostgreSQL full-text search over the embedded documents): %v %s", isErr, text)
	}
	if isErr, text := u.call(ctx, t, "fetch", map[string]any{"id": found.Results[0].ID}); isErr || !strings.Contains(text, found.Results[0].ID) {
		t.Errorf("fetch %s: %v %s", found.Results[0].ID, isErr, text)
	}

	// Refresh on one instance; the old refresh token on the next is reuse.
	refresh := func(rt string) (int, tokenResponse, string) {
		resp, raw := c.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client.ClientID}})
		var tr tokenResponse
		json.Unmarshal(raw, &tr)
		return resp.StatusCode, tr, string(raw)
	}
	status, rotated, raw := refresh(tok.RefreshToken)
	if status != http.StatusOK || rotated.AccessToken == "" {
		t.Fatalf("refresh: %d %s", status, raw)
	}
	if status, _, raw := refresh(tok.RefreshToken); status != http.StatusBadRequest || !strings.Contains(raw, "invalid_grant") {
		t.Errorf("a rotated-out refresh token on another instance: %d %s", status, raw)
	}

	// Revocation on one instance; the next refuses the token at once.
	if status, _ := postMCP(t, c.Resource, rotated.AccessToken); status != http.StatusOK {
		t.Fatalf("the refreshed access token at /mcp: %d", status)
	}
	if resp, raw := c.postForm(t, "/revoke", url.Values{"token": {rotated.AccessToken}, "client_id": {client.ClientID}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, raw)
	}
	for range 2 { // both instances
		if status, challenge := postMCP(t, c.Resource, rotated.AccessToken); status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("a revoked token at /mcp: %d %q", status, challenge)
		}
	}

	// A DPoP proof is single-use across the instances.
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"client", "add", "--name", "svc", "--grant", "client_credentials", "--db", c.App.Config.DB},
		strings.NewReader(""), &out, &errb, envOf(map[string]string{"MCPAUTHZ_MASTER_KEY": c.App.Config.MasterKey})); code != 0 {
		t.Fatalf("client add: %s", errb.String())
	}
	var svc map[string]string
	if err := json.Unmarshal([]byte(out.String()), &svc); err != nil {
		t.Fatal(err)
	}
	proof := signProof(t, http.MethodPost, c.URL+"/token")
	for i, want := range []string{`"token_type":"DPoP"`, `"error":"invalid_dpop_proof"`} {
		status, body := postFormAs(ctx, t, c, "/token", url.Values{"grant_type": {"client_credentials"}},
			svc["client_id"], svc["client_secret"], http.Header{"Dpop": {proof}})
		if !strings.Contains(string(body), want) {
			t.Errorf("proof use %d: %d %s, want %s", i+1, status, body, want)
		}
	}
}

// signProof is a DPoP proof (RFC 9449 §4.2) by a new ES256 key.
func signProof(t *testing.T, method, htu string) string {
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
	claims, _ := json.Marshal(map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": time.Now().Unix()})
	jws, err := signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
