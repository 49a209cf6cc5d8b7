package authz

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

// postForm posts form to path, with HTTP Basic when user is set, and
// returns the status, the headers and the decoded JSON body (nil if none).
func (e *testEnv) postForm(path string, form url.Values, user, pass string) (int, http.Header, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

// TestErrorDescriptionCharacters: error_description holds only what RFC
// 6749 §5.2 allows (%x20-21 / %x23-5B / %x5D-7E), whatever the request
// sent and whatever our own text says ("RFC 6749 §3.3"), at the token,
// registration and authorization endpoints.
func TestErrorDescriptionCharacters(t *testing.T) {
	e := newTestEnv(t)
	check := func(where string, desc any) {
		t.Helper()
		d, _ := desc.(string)
		if d == "" {
			t.Errorf("%s: no error_description", where)
		}
		if i := strings.IndexFunc(d, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }); i >= 0 {
			t.Errorf("%s: error_description %q has %q at %d", where, d, d[i:], i)
		}
	}
	_, _, body := e.postForm("/token", url.Values{"grant_type": {"pa\"ss\\wörd"}}, "", "")
	if body["error"] != "unsupported_grant_type" {
		t.Errorf("token: %v", body)
	}
	check("token", body["error_description"])

	resp, err := http.Post(e.URL+"/register", "application/json", strings.NewReader(`{"redirect_uris":["https://a.example/cb"],"scope":"a\"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	decodeJSON(t, resp, &reg)
	if reg["error"] != "invalid_client_metadata" {
		t.Errorf("register: %v", reg)
	}
	check("register", reg["error_description"])

	c := e.registerPublic("http://127.0.0.1:7777/callback")
	_, challenge := pkce()
	r, page := e.newBrowser().get(e.authorizeURL(c, challenge, url.Values{"dpop_jkt": {"x"}}))
	loc, _ := authorizeErrorTo(t, r, page)
	check("authorize", loc.Query().Get("error_description"))
}

// TestTokenEndpointErrorCodes: the RFC 6749 §5.2 error for each mistake.
func TestTokenEndpointErrorCodes(t *testing.T) {
	e := newTestEnv(t)
	svc, secret := e.addService(false, "client_credentials")
	pub := e.registerPublic("http://127.0.0.1:7777/callback")
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
		challenge  bool
	}{
		{"wrong secret with Basic", cc, svc, "wrong", http.StatusUnauthorized, "invalid_client", true},
		{"no client authentication at all", cc, "", "", http.StatusUnauthorized, "invalid_client", true},
		{"public client asks for client_credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {pub.ID}}, "", "", http.StatusBadRequest, "unauthorized_client", false},
		{"grant_type twice", url.Values{"grant_type": {"client_credentials", "refresh_token"}}, svc, secret, http.StatusBadRequest, "invalid_request", false},
		{"scope twice", url.Values{"grant_type": {"client_credentials"}, "scope": {"docs:read", "docs:read"}}, svc, secret, http.StatusBadRequest, "invalid_request", false},
		{"client_id twice", url.Values{"grant_type": {"client_credentials"}, "client_id": {svc, pub.ID}, "client_secret": {secret}}, "", "", http.StatusBadRequest, "invalid_request", false},
		{"resource twice is allowed (RFC 8707)", url.Values{"grant_type": {"client_credentials"}, "resource": {e.URL + "/mcp", e.URL + "/mcp"}}, svc, secret, http.StatusOK, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := e.postForm("/token", tc.form, tc.user, tc.pass)
			if status != tc.status || body["error"] != nilIfEmpty(tc.code) {
				t.Errorf("%d %v, want %d %q", status, body, tc.status, tc.code)
			}
			if got := h.Get("WWW-Authenticate"); tc.challenge != strings.HasPrefix(got, "Basic ") {
				t.Errorf("WWW-Authenticate %q, want a Basic challenge: %v", got, tc.challenge)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
			}
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestRefreshCannotWidenScope: RFC 6749 §6, the scope of a refresh request
// must not exceed the original grant; the same or less is served with the
// granted scope.
func TestRefreshCannotWidenScope(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	tr := e.codeFlow(e.newBrowser(), c)
	for _, tc := range []struct {
		scope  string
		status int
		code   string
	}{
		{"docs:read docs:write", http.StatusBadRequest, "invalid_scope"},
		{"admin", http.StatusBadRequest, "invalid_scope"},
		{"docs:read", http.StatusOK, ""},
		{"docs:read offline_access", http.StatusOK, ""},
		{"", http.StatusOK, ""},
	} {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.Refresh}, "client_id": {c.ID}}
		if tc.scope != "" {
			form.Set("scope", tc.scope)
		}
		r := e.token(form, "", "")
		if r.Status != tc.status || r.Error != tc.code {
			t.Fatalf("refresh with scope %q: %d %v, want %d %q", tc.scope, r.Status, r.Body, tc.status, tc.code)
		}
		if r.Status == http.StatusOK {
			if r.Body["scope"] != "docs:read" {
				t.Errorf("refresh with scope %q granted %v", tc.scope, r.Body["scope"])
			}
			tr = r
		}
	}
}

// failingRevocations is a store whose revocations fail.
type failingRevocations struct{ store.Store }

func (failingRevocations) RevokeRequests(context.Context, store.RequestKind, string) error {
	return errors.New("database is locked")
}

// TestRevocationErrors: RFC 7009 §2.1 and §2.2.1.
func TestRevocationErrors(t *testing.T) {
	e := newTestEnv(t)
	a := e.registerPublic("http://127.0.0.1:7777/callback")
	b := e.registerPublic("http://127.0.0.1:7778/callback")
	ta := e.codeFlow(e.newBrowser(), a)

	status, _, body := e.postForm("/revoke", url.Values{"client_id": {a.ID}}, "", "")
	if status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("no token: %d %v, want 400 invalid_request", status, body)
	}
	status, _, body = e.postForm("/revoke", url.Values{"client_id": {a.ID}, "token": {ta.Access, ta.Refresh}}, "", "")
	if status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("two tokens: %d %v, want 400 invalid_request", status, body)
	}
	status, _, body = e.postForm("/revoke", url.Values{"client_id": {b.ID}, "token": {ta.Refresh}}, "", "")
	if status != http.StatusBadRequest || body["error"] != "unauthorized_client" {
		t.Errorf("another client's token: %d %v, want 400 unauthorized_client", status, body)
	}
	if !e.active(ta.Access) {
		t.Fatal("another client revoked the token")
	}
	status, h, _ := e.postForm("/revoke", url.Values{"token": {ta.Refresh}}, "", "")
	if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("no client: %d %q, want 401 with a Basic challenge", status, h.Get("WWW-Authenticate"))
	}
	status, _, _ = e.postForm("/revoke", url.Values{"client_id": {a.ID}, "token": {"unknown-token"}}, "", "")
	if status != http.StatusOK {
		t.Errorf("unknown token: %d, want 200", status)
	}

	// The store fails: 503, and the token stays valid.
	real := e.Server.storage.st
	e.Server.storage.st = failingRevocations{real}
	status, h, body = e.postForm("/revoke", url.Values{"client_id": {a.ID}, "token": {ta.Access}, "token_type_hint": {"access_token"}}, "", "")
	e.Server.storage.st = real
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || body["error"] == nil {
		t.Errorf("store failure: %d %v (Retry-After %q), want 503 with an error", status, body, h.Get("Retry-After"))
	}
	if !e.active(ta.Access) {
		t.Error("the token is inactive although the revocation failed")
	}
	status, _, _ = e.postForm("/revoke", url.Values{"client_id": {a.ID}, "token": {ta.Access}}, "", "")
	if status != http.StatusOK || e.active(ta.Access) {
		t.Errorf("retry: %d, still active %v", status, e.active(ta.Access))
	}
}

// TestRevokeRotatedRefreshToken: revoking a refresh token that was already
// rotated ends the family, as presenting it at the token endpoint does.
func TestRevokeRotatedRefreshToken(t *testing.T) {
	for _, wait := range []time.Duration{0, time.Minute} { // within and past the reuse grace
		e := newTestEnv(t)
		c := e.registerPublic("http://127.0.0.1:7777/callback")
		t1 := e.codeFlow(e.newBrowser(), c)
		t2 := e.refresh(c, t1.Refresh)
		if t2.Status != http.StatusOK {
			t.Fatalf("refresh: %d %v", t2.Status, t2.Body)
		}
		e.Clock.Advance(wait)
		if status, _, body := e.postForm("/revoke", url.Values{"client_id": {c.ID}, "token": {t1.Refresh}}, "", ""); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, body)
		}
		if e.active(t2.Access) {
			t.Errorf("after %v: the newest access token is still active", wait)
		}
		if r := e.refresh(c, t2.Refresh); r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Errorf("after %v: the newest refresh token still works: %d %v", wait, r.Status, r.Body)
		}
	}
}

// TestOneClientAuthenticationMethod: RFC 6749 §2.3 / OAuth 2.1 §2.4, one
// method per request: HTTP Basic with a secret in the body as well, or
// with a body client_id naming another client, is refused, never decided
// by the header alone.
func TestOneClientAuthenticationMethod(t *testing.T) {
	e := newTestEnv(t)
	svc, secret := e.addService(false, "client_credentials")
	pub := e.registerPublic("http://127.0.0.1:7777/callback")
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
	}{
		{"Basic and a different body secret", url.Values{"grant_type": {"client_credentials"}, "client_secret": {"not-the-secret"}}, svc, secret},
		{"Basic and the same body secret", url.Values{"grant_type": {"client_credentials"}, "client_secret": {secret}}, svc, secret},
		{"Basic and another body client_id", url.Values{"grant_type": {"client_credentials"}, "client_id": {"someone-else"}}, svc, secret},
		{"public client: Basic without password and a body secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_secret": {"anything"}}, pub.ID, ""},
	} {
		status, _, body := e.postForm("/token", tc.form, tc.user, tc.pass)
		if status != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Errorf("%s: %d %v, want 400 invalid_request", tc.name, status, body)
		}
	}
	// The same client_id in the body as in Basic is fine.
	status, _, body := e.postForm("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {svc}}, svc, secret)
	if status != http.StatusOK {
		t.Errorf("Basic and the same body client_id: %d %v", status, body)
	}
}
