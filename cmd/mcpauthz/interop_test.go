package main

// Interop tests: OAuth clients nobody here wrote, golang.org/x/oauth2 and
// the npm package oauth4webapi, against a real mcpauthz, with a headless
// Chromium for the login and consent (see e2e_helpers_test.go).
//
// TestInteropOAuth4WebAPI needs node and testdata/node/node_modules, which
// `make test` installs (npm ci in cmd/mcpauthz/testdata/node). Without them
// it skips, except with CI=true, where it fails.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// asMetadata is the part of the RFC 8414 metadata the clients use. Issuer
// is kept raw to compare it byte for byte.
type asMetadata struct {
	Issuer                        json.RawMessage `json:"issuer"`
	AuthorizationEndpoint         string          `json:"authorization_endpoint"`
	TokenEndpoint                 string          `json:"token_endpoint"`
	RegistrationEndpoint          string          `json:"registration_endpoint"`
	RevocationEndpoint            string          `json:"revocation_endpoint"`
	CodeChallengeMethodsSupported []string        `json:"code_challenge_methods_supported"`
	IssParameterSupported         bool            `json:"authorization_response_iss_parameter_supported"`
}

// discover GETs the metadata and checks the issuer is the configured one,
// byte for byte, as MCP clients compare it.
func discover(t *testing.T, s *testServer) asMetadata {
	t.Helper()
	resp, err := http.Get(s.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: status %d, %v, body %s", resp.StatusCode, err, body)
	}
	var md asMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		t.Fatalf("metadata: %v in %s", err, body)
	}
	if want := `"` + s.URL + `"`; string(md.Issuer) != want {
		t.Errorf("metadata issuer is %s, want exactly %s", md.Issuer, want)
	}
	if md.AuthorizationEndpoint != s.URL+"/authorize" || md.TokenEndpoint != s.URL+"/token" || md.RegistrationEndpoint != s.URL+"/register" {
		t.Errorf("metadata endpoints: %s", body)
	}
	if len(md.CodeChallengeMethodsSupported) != 1 || md.CodeChallengeMethodsSupported[0] != "S256" || !md.IssParameterSupported {
		t.Errorf("metadata must advertise S256 only and the iss parameter: %s", body)
	}
	return md
}

// TestInteropGoOAuth2 runs golang.org/x/oauth2 through discovery, dynamic
// registration, the authorization code flow with PKCE and a resource, a
// forced refresh with rotation, and the reuse of the rotated-out token.
func TestInteropGoOAuth2(t *testing.T) {
	// A long reuse grace keeps the token family alive after the reuse
	// below, so that the new refresh token's later use is deterministic.
	s := startServer(t, withConfig(func(fc *FileConfig) { fc.Tokens.RefreshReuseGrace = 5 * time.Minute }))
	cb := newCallbackServer(t)
	md := discover(t, s)
	client := s.registerPublic(t, "x/oauth2 interop", cb.RedirectURI)
	ctx := newBrowser(t)

	conf := &oauth2.Config{
		ClientID: client.ClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:   md.AuthorizationEndpoint,
			TokenURL:  md.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: cb.RedirectURI,
		Scopes:      []string{"docs:read"},
	}
	verifier := oauth2.GenerateVerifier()
	state := newState()
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", s.Resource))
	code := checkCallback(t, s, authorizeInBrowser(ctx, t, s, cb, authURL), state, "")

	octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := conf.Exchange(octx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", s.Resource))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if !strings.EqualFold(tok.TokenType, "Bearer") || tok.AccessToken == "" || tok.RefreshToken == "" || !tok.Valid() {
		t.Fatalf("Exchange: token type %q, access %t, refresh %t, valid %t", tok.TokenType, tok.AccessToken != "", tok.RefreshToken != "", tok.Valid())
	}
	if scope, _ := tok.Extra("scope").(string); scope != "docs:read" {
		t.Errorf("Exchange: scope %q, want docs:read", scope)
	}

	// Force a refresh: the token source sees an expired access token.
	expired := &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	refreshed, err := conf.TokenSource(octx, expired).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if refreshed.AccessToken == tok.AccessToken || !refreshed.Valid() {
		t.Errorf("refresh: no new valid access token")
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: the refresh token was not rotated")
	}

	// The rotated-out refresh token is refused with invalid_grant.
	_, err = conf.TokenSource(octx, expired).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh with the rotated-out refresh token: %v, want a RetrieveError with invalid_grant", err)
	}

	// The current one still works (within the reuse grace) and rotates again.
	again, err := conf.TokenSource(octx, &oauth2.Token{RefreshToken: refreshed.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil {
		t.Fatalf("refresh with the current refresh token: %v", err)
	}
	if again.RefreshToken == "" || again.RefreshToken == refreshed.RefreshToken {
		t.Errorf("second refresh: the refresh token was not rotated")
	}
}

// oauth4webapiResult is the last line the node script prints.
type oauth4webapiResult struct {
	OK             bool   `json:"ok"`
	Error          string `json:"error"`
	Code           string `json:"code"`
	Cause          string `json:"cause"`
	Issuer         string `json:"issuer"`
	ClientID       string `json:"client_id"`
	CallbackIss    string `json:"callback_iss"`
	TokenType      string `json:"token_type"`
	Scope          string `json:"scope"`
	RefreshRotated bool   `json:"refresh_rotated"`
	OldRefresh     struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"old_refresh"`
	RevokedRefresh struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"revoked_refresh"`
}

// TestInteropOAuth4WebAPI runs testdata/node/oauth4webapi-flow.mjs, a client
// built on the npm package oauth4webapi, and does its browser part: the
// script prints the authorization URL, Chromium signs in and allows, and
// the URL the loopback redirect URI received goes to the script's stdin.
func TestInteropOAuth4WebAPI(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		needTool(t, "node is required for TestInteropOAuth4WebAPI: install Node.js 20 or later, then run `make test`")
	}
	dir := filepath.Join("testdata", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oauth4webapi", "package.json")); err != nil {
		needTool(t, "cmd/mcpauthz/testdata/node/node_modules is missing: run `make test`, which installs it (npm ci in cmd/mcpauthz/testdata/node)")
	}
	s := startServer(t)
	cb := newCallbackServer(t)
	ctx := newBrowser(t)

	cmd := exec.CommandContext(ctx, node, "oauth4webapi-flow.mjs", s.URL, cb.RedirectURI, s.Resource)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	waited := false
	wait := func() error {
		waited = true
		stdin.Close()
		io.Copy(io.Discard, stdout)
		return cmd.Wait()
	}
	defer func() {
		if !waited {
			cmd.Process.Kill()
			wait()
		}
		if t.Failed() {
			t.Logf("node stderr:\n%s", stderr.String())
		}
	}()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 0, 64<<10), 1<<20)
	readLine := func(what string) []byte {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("node printed no %s (%v); exit: %v", what, lines.Err(), wait())
		}
		return lines.Bytes()
	}

	var first struct {
		AuthorizeURL string `json:"authorize_url"`
		Error        string `json:"error"`
	}
	line := readLine("authorization URL")
	if err := json.Unmarshal(line, &first); err != nil || first.AuthorizeURL == "" {
		if first.Error != "" {
			t.Fatalf("oauth4webapi failed before the authorization request: %s", first.Error)
		}
		t.Fatalf("node's first line is not the authorization URL: %s", line)
	}
	if !strings.HasPrefix(first.AuthorizeURL, s.URL+"/authorize?") {
		t.Fatalf("authorization URL %s is not at the issuer's /authorize", first.AuthorizeURL)
	}

	got := authorizeInBrowser(ctx, t, s, cb, first.AuthorizeURL)
	if _, err := io.WriteString(stdin, got.String()+"\n"); err != nil {
		t.Fatalf("write the callback URL to node: %v", err)
	}

	line = readLine("result")
	var res oauth4webapiResult
	if err := json.Unmarshal(line, &res); err != nil {
		t.Fatalf("node's result line is not JSON: %s", line)
	}
	if err := wait(); err != nil {
		t.Errorf("node: %v", err)
	}
	if !res.OK {
		t.Fatalf("oauth4webapi flow failed: %s (code %s, cause %s)", res.Error, res.Code, res.Cause)
	}
	if res.Issuer != s.URL || res.CallbackIss != s.URL {
		t.Errorf("issuer %q, callback iss %q, want %q", res.Issuer, res.CallbackIss, s.URL)
	}
	if !strings.EqualFold(res.TokenType, "bearer") || res.Scope != "docs:read" || !res.RefreshRotated {
		t.Errorf("tokens: type %q, scope %q, rotated %t", res.TokenType, res.Scope, res.RefreshRotated)
	}
	if res.OldRefresh.Error != "invalid_grant" || res.RevokedRefresh.Error != "invalid_grant" {
		t.Errorf("reused refresh token: %+v, revoked refresh token: %+v; want invalid_grant for both", res.OldRefresh, res.RevokedRefresh)
	}
	t.Logf("oauth4webapi: %s", line)
}
