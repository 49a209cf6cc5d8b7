package main

// Interop test of DPoP (RFC 9449) with a client nobody here wrote: the npm
// package oauth4webapi and its own DPoP implementation (proofs, ath,
// nonce caching), against a real mcpauthz that requires DPoP nonces, with
// a headless Chromium for the login and consent (see e2e_helpers_test.go).
//
// Like TestInteropOAuth4WebAPI it needs node and testdata/node/node_modules,
// which `make test` installs (npm ci in cmd/mcpauthz/testdata/node), and
// Chromium. Without them it skips, except with CI=true, where it fails.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// oauth4webapiDPoPResult is the last line oauth4webapi-dpop-flow.mjs prints.
type oauth4webapiDPoPResult struct {
	OK          bool   `json:"ok"`
	Error       string `json:"error"`
	Code        string `json:"code"`
	Cause       string `json:"cause"`
	Issuer      string `json:"issuer"`
	ClientID    string `json:"client_id"`
	CallbackIss string `json:"callback_iss"`
	JKT         string `json:"jkt"`
	OtherJKT    string `json:"other_jkt"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	// The token types of the refresh with the same key, and of the one
	// after the refused refresh with another key.
	RefreshTokenType      string `json:"refresh_token_type"`
	RefreshAgainTokenType string `json:"refresh_again_token_type"`
	MCP                   struct {
		ProtocolVersion   string   `json:"protocol_version"`
		ServerName        string   `json:"server_name"`
		Tools             []string `json:"tools"`
		ToolsAfterRefresh []string `json:"tools_after_refresh"`
		SearchResults     []struct {
			ID, Title, URL string
		} `json:"search_results"`
	} `json:"mcp"`
	// Every use_dpop_nonce answer the script retried, in order.
	NonceErrors []struct {
		Step   string `json:"step"`
		Status int    `json:"status"`
		From   string `json:"from"` // "as" (error body) or "rs" (WWW-Authenticate)
	} `json:"nonce_errors"`
	OtherKeyRefresh struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"other_key_refresh"`
	RevokedAccessMCP struct {
		Status int    `json:"status"`
		Scheme string `json:"scheme"`
		Error  string `json:"error"`
	} `json:"revoked_access_mcp"`
	RevokedRefresh struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"revoked_refresh"`
}

// dpopIntrospection is the part of an RFC 7662 answer this test checks.
type dpopIntrospection struct {
	Active    bool     `json:"active"`
	TokenType string   `json:"token_type"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"sub"`
	Scope     string   `json:"scope"`
	Audience  []string `json:"aud"`
	Cnf       *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// postFormAs POSTs form to the server's path, optionally with HTTP
// Basic credentials and extra headers (a DPoP proof), bounded by ctx, and
// returns the status and body.
func postFormAs(ctx context.Context, t *testing.T, s *testServer, path string, form url.Values, user, password string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(password))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp.StatusCode, body
}

// TestInteropOAuth4WebAPIDPoP runs testdata/node/oauth4webapi-dpop-flow.mjs
// against a server that requires DPoP nonces: code + PKCE + dpop_jkt +
// DPoP, MCP calls with DPoP, refresh with the same key and with another,
// use_dpop_nonce round trips at the token endpoint (whose nonce /mcp then accepts). In the
// middle, this test introspects the script's DPoP-bound access token
// (active, token_type DPoP, cnf.jkt the script's key), revokes it at
// /revoke and introspects it again (inactive); the script then finds it
// refused at /mcp, revokes its refresh token and finds that refused too.
func TestInteropOAuth4WebAPIDPoP(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		needTool(t, "node is required for TestInteropOAuth4WebAPIDPoP: install Node.js 20 or later, then run `make test`")
	}
	if _, err := os.Stat(filepath.Join("testdata", "node", "node_modules", "oauth4webapi", "package.json")); err != nil {
		needTool(t, "cmd/mcpauthz/testdata/node/node_modules is missing: run `make test`, which installs it (npm ci in cmd/mcpauthz/testdata/node)")
	}
	s := startServer(t, withConfig(func(fc *FileConfig) { fc.DPoP.RequireNonce = true }))
	docID := s.importDoc(t, "dpop-notes.md", "# DPoP notes\n\nThe kestrelquasar rollout binds every token to a key.\n", "--owner", s.UserName)

	// A service's introspection credentials, made by the real CLI.
	var out, errb strings.Builder
	code := run(t.Context(), []string{"client", "add", "--name", "rs", "--grant", "client_credentials", "--introspect", "--db", s.App.Config.DB},
		strings.NewReader(""), &out, &errb, envOf(map[string]string{"MCPAUTHZ_MASTER_KEY": s.App.Config.MasterKey}))
	var rs struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if code != 0 || json.Unmarshal([]byte(out.String()), &rs) != nil || rs.ClientID == "" || rs.ClientSecret == "" {
		t.Fatalf("client add --introspect: exit %d, stdout %s, stderr %s", code, out.String(), errb.String())
	}

	cb := newCallbackServer(t)
	ctx := newBrowser(t)
	introspect := func(token string) (dpopIntrospection, string) {
		t.Helper()
		status, body := postFormAs(ctx, t, s, "/introspect", url.Values{"token": {token}}, rs.ClientID, rs.ClientSecret, nil)
		var in dpopIntrospection
		if status != http.StatusOK || json.Unmarshal(body, &in) != nil {
			t.Fatalf("introspect: status %d, body %s", status, body)
		}
		return in, string(body)
	}

	p := startNodeScript(ctx, t, node, "oauth4webapi-dpop-flow.mjs", s.URL, cb.RedirectURI, s.Resource, "kestrelquasar")

	// 1. The authorization request, with dpop_jkt.
	var first struct {
		AuthorizeURL string `json:"authorize_url"`
		DPoPJKT      string `json:"dpop_jkt"`
		Error        string `json:"error"`
	}
	line := p.readLine("authorization URL")
	if err := json.Unmarshal(line, &first); err != nil || first.AuthorizeURL == "" {
		if first.Error != "" {
			t.Fatalf("oauth4webapi failed before the authorization request: %s", first.Error)
		}
		t.Fatalf("node's first line is not the authorization URL: %s", line)
	}
	au, err := url.Parse(first.AuthorizeURL)
	if err != nil || !strings.HasPrefix(first.AuthorizeURL, s.URL+"/authorize?") {
		t.Fatalf("authorization URL %s is not at the issuer's /authorize (%v)", first.AuthorizeURL, err)
	}
	if q := au.Query(); len(first.DPoPJKT) != 43 || q.Get("dpop_jkt") != first.DPoPJKT || q.Get("resource") != s.Resource || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorization request lacks dpop_jkt %q, the resource or PKCE S256: %s", first.DPoPJKT, first.AuthorizeURL)
	}

	// 2. Sign in and allow; the script redeems the code and uses the tokens.
	got := authorizeInBrowser(ctx, t, s, cb, first.AuthorizeURL)
	p.writeLine(got.String())

	// 3. The script's current access token: introspect, revoke, introspect.
	var mid struct {
		AccessToken string `json:"access_token"`
		JKT         string `json:"jkt"`
		ClientID    string `json:"client_id"`
		OK          *bool  `json:"ok"`
		Error       string `json:"error"`
		Code        string `json:"code"`
		Cause       string `json:"cause"`
	}
	line = p.readLine("access token")
	if err := json.Unmarshal(line, &mid); err != nil || mid.AccessToken == "" {
		if mid.Error != "" {
			t.Fatalf("oauth4webapi DPoP flow failed: %s (code %s, cause %s)", mid.Error, mid.Code, mid.Cause)
		}
		t.Fatalf("node's second line is not the access token: %s", line)
	}
	if mid.JKT != first.DPoPJKT {
		t.Errorf("the script's key thumbprint %q is not the dpop_jkt %q it sent", mid.JKT, first.DPoPJKT)
	}
	in, raw := introspect(mid.AccessToken)
	if !in.Active || in.TokenType != "DPoP" || in.Cnf == nil || in.Cnf.JKT != mid.JKT {
		t.Errorf("introspection of the DPoP-bound access token: %s; want active, token_type DPoP, cnf.jkt %s", raw, mid.JKT)
	}
	if in.ClientID != mid.ClientID || in.Subject != s.UserID || in.Scope != "docs:read" || !slices.Contains(in.Audience, s.Resource) {
		t.Errorf("introspection: %s; want client_id %s, sub %s, scope docs:read, aud %s", raw, mid.ClientID, s.UserID, s.Resource)
	}
	// The JWT itself carries the same confirmation (RFC 9449 §6.1).
	var claims struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if parts := strings.Split(mid.AccessToken, "."); len(parts) != 3 {
		t.Errorf("the access token is not a JWT")
	} else if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(payload, &claims) != nil || claims.Cnf.JKT != mid.JKT {
		t.Errorf("access token claims %s: cnf.jkt %q, want %q (%v)", payload, claims.Cnf.JKT, mid.JKT, err)
	}

	status, body := postFormAs(ctx, t, s, "/revoke", url.Values{"token": {mid.AccessToken}, "token_type_hint": {"access_token"}, "client_id": {mid.ClientID}}, "", "", nil)
	if status != http.StatusOK {
		t.Fatalf("revoke the access token: status %d, body %s", status, body)
	}
	if in, raw := introspect(mid.AccessToken); in.Active || strings.TrimSpace(raw) != `{"active":false}` {
		t.Errorf("introspection of the revoked access token: %s, want {\"active\":false}", raw)
	}
	p.writeLine("revoked")

	// 4. The result.
	line = p.readLine("result")
	var res oauth4webapiDPoPResult
	if err := json.Unmarshal(line, &res); err != nil {
		t.Fatalf("node's result line is not JSON: %s", line)
	}
	if err := p.wait(); err != nil {
		t.Errorf("node: %v", err)
	}
	if !res.OK {
		t.Fatalf("oauth4webapi DPoP flow failed: %s (code %s, cause %s)", res.Error, res.Code, res.Cause)
	}
	t.Logf("oauth4webapi DPoP: %s", line)

	if res.Issuer != s.URL || res.CallbackIss != s.URL || res.ClientID != mid.ClientID {
		t.Errorf("issuer %q, callback iss %q, client %q; want %q, %q, %q", res.Issuer, res.CallbackIss, res.ClientID, s.URL, s.URL, mid.ClientID)
	}
	if res.JKT != first.DPoPJKT || res.OtherJKT == "" || res.OtherJKT == res.JKT {
		t.Errorf("key thumbprints: %q and other %q, want %q and another", res.JKT, res.OtherJKT, first.DPoPJKT)
	}
	for what, tt := range map[string]string{"code grant": res.TokenType, "refresh": res.RefreshTokenType, "refresh after the other key": res.RefreshAgainTokenType} {
		if !strings.EqualFold(tt, "DPoP") {
			t.Errorf("%s: token_type %q, want DPoP", what, tt)
		}
	}
	if res.Scope != "docs:read" {
		t.Errorf("scope %q, want docs:read", res.Scope)
	}

	// MCP with DPoP: the tools, and alice's document found by search.
	if res.MCP.ProtocolVersion == "" || res.MCP.ServerName != "mcpauthz" {
		t.Errorf("MCP initialize: protocol version %q, server %q", res.MCP.ProtocolVersion, res.MCP.ServerName)
	}
	for _, tools := range [][]string{res.MCP.Tools, res.MCP.ToolsAfterRefresh} {
		if !slices.Contains(tools, "search") || !slices.Contains(tools, "fetch") {
			t.Errorf("MCP tools/list: %v, want search and fetch", tools)
		}
	}
	if len(res.MCP.SearchResults) != 1 || res.MCP.SearchResults[0].ID != docID {
		t.Errorf("MCP search kestrelquasar: %+v, want the one document %s", res.MCP.SearchResults, docID)
	}

	// The nonce round trips: the first token request was answered
	// use_dpop_nonce (400 with a DPoP-Nonce header), and so was the other
	// key's first proof, which had no nonce (oauth4webapi keeps nonces per
	// key handle). The MCP server on the same origin accepts the token
	// endpoint's nonces (one nonce key), so /mcp needs no round trip of its
	// own; its use_dpop_nonce challenge is covered in mcpres.
	nonceSteps := map[string]int{}
	for i, ne := range res.NonceErrors {
		nonceSteps[ne.Step]++
		if ne.From != "as" || ne.Status != http.StatusBadRequest {
			t.Errorf("nonce error %d: %+v, want 400 from the token endpoint only", i, ne)
		}
	}
	if len(res.NonceErrors) == 0 || res.NonceErrors[0].Step != "code" {
		t.Errorf("nonce errors %+v: want use_dpop_nonce first on the code grant", res.NonceErrors)
	}
	if nonceSteps["refresh with another key"] != 1 {
		t.Errorf("nonce errors %+v: want one on the other key's first refresh", res.NonceErrors)
	}
	for step, n := range nonceSteps {
		if n != 1 {
			t.Errorf("step %q was answered use_dpop_nonce %d times, want at most once (the retry carries the nonce)", step, n)
		}
	}

	// Refusals.
	if res.OtherKeyRefresh.Status != http.StatusBadRequest || res.OtherKeyRefresh.Error != "invalid_dpop_proof" {
		t.Errorf("refresh with another key: %+v, want 400 invalid_dpop_proof", res.OtherKeyRefresh)
	}
	if res.RevokedAccessMCP.Status != http.StatusUnauthorized || res.RevokedAccessMCP.Scheme != "dpop" || res.RevokedAccessMCP.Error != "invalid_token" {
		t.Errorf("MCP with the revoked access token: %+v, want 401 with a DPoP challenge, invalid_token", res.RevokedAccessMCP)
	}
	if res.RevokedRefresh.Status != http.StatusBadRequest || res.RevokedRefresh.Error != "invalid_grant" {
		t.Errorf("refresh with the revoked refresh token: %+v, want 400 invalid_grant", res.RevokedRefresh)
	}
}
