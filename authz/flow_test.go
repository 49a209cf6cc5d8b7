package authz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

func TestCodeFlowIssuesTokensAndStoresOnlySignatures(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	b := e.newBrowser()
	verifier, challenge := pkce()
	loc := e.authorize(b, e.authorizeURL(c, challenge, nil))
	q := loc.Query()
	if q.Get("state") != "state-123456" || q.Get("iss") != e.URL || q.Get("code") == "" {
		t.Fatalf("redirect = %s; want code, state and iss=%s", loc, e.URL)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != "http://127.0.0.1:7777/callback" {
		t.Fatalf("redirected to %s", got)
	}
	tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}, "resource": {e.URL + "/mcp"}}, "", "")
	if tr.Status != http.StatusOK {
		t.Fatalf("token: %d %v", tr.Status, tr.Body)
	}
	if tr.Body["token_type"] != "Bearer" || tr.Access == "" || tr.Refresh == "" || tr.Body["scope"] != "docs:read" {
		t.Fatalf("token response %v", tr.Body)
	}
	if exp, _ := tr.Body["expires_in"].(float64); exp < 800 || exp > 900 {
		t.Errorf("expires_in = %v, want about 900 (15 minutes)", tr.Body["expires_in"])
	}
	if cc := tr.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q", cc)
	}
	ar, ok := e.introspect(tr.Access)
	if !ok {
		t.Fatal("fresh access token is not active")
	}
	if aud := ar.GetGrantedAudience(); len(aud) != 1 || aud[0] != e.URL+"/mcp" {
		t.Errorf("audience = %v, want [%s/mcp]", aud, e.URL)
	}
	if ar.GetSession().GetSubject() != "u-alice" {
		t.Errorf("subject = %q", ar.GetSession().GetSubject())
	}

	// A database reader finds no usable token or code.
	e.Store.Close()
	dir := filepath.Dir(e.dbPath())
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for name, secret := range map[string]string{"access token": tr.Access, "refresh token": tr.Refresh, "code": q.Get("code"), "password": testPassword} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s found in plain in %s", name, f)
			}
		}
	}
}

func TestCodeIsSingleUseAndReuseRevokesTokens(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, nil))
	form := codeForm(c, loc.Query().Get("code"), verifier)
	first := e.token(form, "", "")
	if first.Status != http.StatusOK {
		t.Fatalf("first exchange: %d %v", first.Status, first.Body)
	}
	second := e.token(form, "", "")
	if second.Status != http.StatusBadRequest || second.Error != "invalid_grant" {
		t.Fatalf("second exchange: %d %v, want 400 invalid_grant", second.Status, second.Body)
	}
	if e.active(first.Access) {
		t.Error("access token issued from a reused code is still active")
	}
	if r := e.refresh(c, first.Refresh); r.Error != "invalid_grant" {
		t.Errorf("refresh token issued from a reused code: %d %v", r.Status, r.Body)
	}
}

func TestConcurrentCodeRedemptionHasOneWinner(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, nil))
	form := codeForm(c, loc.Query().Get("code"), verifier)
	results := parallel(t, 8, func() tokenResponse { return e.token(form, "", "") })
	wins := 0
	for _, r := range results {
		switch {
		case r.Status == http.StatusOK:
			wins++
		case r.Status == http.StatusBadRequest && r.Error == "invalid_grant":
		default:
			t.Errorf("concurrent redemption: %d %v", r.Status, r.Body)
		}
	}
	if wins != 1 {
		t.Errorf("%d redemptions succeeded, want exactly 1", wins)
	}
}

func TestRefreshRotates(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	t1 := e.codeFlow(e.newBrowser(), c)
	t2 := e.refresh(c, t1.Refresh)
	if t2.Status != http.StatusOK || t2.Refresh == "" || t2.Refresh == t1.Refresh || t2.Access == t1.Access {
		t.Fatalf("refresh: %d %v", t2.Status, t2.Body)
	}
	if !e.active(t2.Access) {
		t.Error("refreshed access token inactive")
	}
	if e.active(t1.Access) {
		t.Error("the access token of a rotated-out refresh token is still active")
	}
	if t3 := e.refresh(c, t2.Refresh); t3.Status != http.StatusOK {
		t.Errorf("second refresh: %d %v", t3.Status, t3.Body)
	}
}

func TestRefreshReuseWithinGraceKeepsFamily(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	t1 := e.codeFlow(e.newBrowser(), c)
	t2 := e.refresh(c, t1.Refresh)
	if t2.Status != http.StatusOK {
		t.Fatal(t2.Body)
	}
	e.Clock.Advance(2 * time.Second) // inside the default 5 s grace
	again := e.refresh(c, t1.Refresh)
	if again.Status != http.StatusBadRequest || again.Error != "invalid_grant" {
		t.Fatalf("reuse within grace: %d %v, want 400 invalid_grant", again.Status, again.Body)
	}
	if !e.active(t2.Access) {
		t.Error("reuse within the grace window revoked the family")
	}
	if t3 := e.refresh(c, t2.Refresh); t3.Status != http.StatusOK {
		t.Errorf("the current refresh token stopped working: %d %v", t3.Status, t3.Body)
	}
}

func TestRefreshReuseAfterGraceRevokesFamily(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	t1 := e.codeFlow(e.newBrowser(), c)
	t2 := e.refresh(c, t1.Refresh)
	if t2.Status != http.StatusOK {
		t.Fatal(t2.Body)
	}
	e.Clock.Advance(10 * time.Second)
	again := e.refresh(c, t1.Refresh)
	if again.Status != http.StatusBadRequest || again.Error != "invalid_grant" {
		t.Fatalf("reuse after grace: %d %v, want 400 invalid_grant", again.Status, again.Body)
	}
	if e.active(t2.Access) {
		t.Error("family access token still active after detected reuse")
	}
	if t3 := e.refresh(c, t2.Refresh); t3.Error != "invalid_grant" {
		t.Errorf("family refresh token still works after detected reuse: %d %v", t3.Status, t3.Body)
	}
}

func TestConcurrentRefreshHasOneWinner(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	t1 := e.codeFlow(e.newBrowser(), c)
	results := parallel(t, 8, func() tokenResponse { return e.refresh(c, t1.Refresh) })
	var winner tokenResponse
	wins := 0
	for _, r := range results {
		switch {
		case r.Status == http.StatusOK:
			wins++
			winner = r
		case r.Status == http.StatusBadRequest && r.Error == "invalid_grant":
		default:
			t.Errorf("concurrent refresh: %d %v", r.Status, r.Body)
		}
	}
	if wins != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", wins)
	}
	if r := e.refresh(c, winner.Refresh); r.Status != http.StatusOK {
		t.Errorf("the winner's refresh token was revoked by honest concurrent refreshes: %d %v", r.Status, r.Body)
	}
}

func TestRevokingRefreshTokenRevokesFamily(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	t1 := e.codeFlow(e.newBrowser(), c)
	resp, err := http.PostForm(e.URL+"/revoke", url.Values{"token": {t1.Refresh}, "token_type_hint": {"refresh_token"}, "client_id": {c.ID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if e.active(t1.Access) {
		t.Error("access token still active after its refresh token was revoked")
	}
	if r := e.refresh(c, t1.Refresh); r.Error != "invalid_grant" {
		t.Errorf("revoked refresh token: %d %v", r.Status, r.Body)
	}
	// Unknown tokens are 200 too (RFC 7009 §2.2).
	resp, _ = http.PostForm(e.URL+"/revoke", url.Values{"token": {"nonsense"}, "client_id": {c.ID}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("revoke unknown token: %d", resp.StatusCode)
	}
}

// authorizeErrorTo returns where an authorization error for the client
// leads: the Location of a redirect (redirected true), or the "Return to"
// link of the error page shown instead. It fails t if there is neither.
func authorizeErrorTo(t *testing.T, resp *http.Response, body string) (loc *url.URL, redirected bool) {
	t.Helper()
	if resp.StatusCode == http.StatusSeeOther {
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return loc, true
	}
	m := regexp.MustCompile(`id="return-to-app" href="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusBadRequest || m == nil {
		t.Fatalf("status %d, want a 303 to the client or a 400 page linking to it: %.600s", resp.StatusCode, body)
	}
	loc, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return loc, false
}

// TestAuthorizeErrorsRedirectOnlyWhereTrusted: an erroneous request is sent
// back to the redirect URI at once only when the server trusts it — the
// operator created the client, or the signed-in person approved that
// redirect URI before. A redirect URI anyone could register gets a page
// with a link instead, so the issuer's domain is no open redirector
// (RFC 9700 §4.11.2). Denying on the consent screen, which named the
// host, redirects at once.
func TestAuthorizeErrorsRedirectOnlyWhereTrusted(t *testing.T) {
	e := newTestEnv(t)
	_, challenge := pkce()
	bad := url.Values{"scope": {"docs:read admin"}}

	// Anyone's: a page with a link, before and after signing in.
	evil := e.registerPublic("https://evil.example/land")
	b := e.newBrowser()
	resp, body := b.get(e.authorizeURL(evil, challenge, bad))
	if loc, redirected := authorizeErrorTo(t, resp, body); redirected || loc.Host != "evil.example" || loc.Query().Get("error") != "invalid_scope" {
		t.Errorf("self-registered client, nobody signed in: redirected %v to %s; want a page linking to evil.example with invalid_scope", redirected, loc)
	}
	if !strings.Contains(body, "Return to evil.example") {
		t.Errorf("the page does not say where the link leads: %.1500s", body)
	}
	b.login(e.URL, testUser, testPassword)
	resp, body = b.get(e.authorizeURL(evil, challenge, bad))
	if _, redirected := authorizeErrorTo(t, resp, body); redirected {
		t.Error("self-registered client never approved: redirected at once")
	}
	// A private-use scheme survives in the link (html/template would
	// blank it out as unsafe).
	app := e.registerPublic("cursor://anysphere.cursor-mcp/oauth/callback")
	resp, body = b.get(e.authorizeURL(app, challenge, bad))
	if loc, _ := authorizeErrorTo(t, resp, body); loc.Scheme != "cursor" || loc.Query().Get("error") != "invalid_scope" {
		t.Errorf("private-use scheme: link to %s", loc)
	}

	// Approved by this person: redirected at once.
	e.authorize(b, e.authorizeURL(evil, challenge, nil))
	resp, body = b.get(e.authorizeURL(evil, challenge, bad))
	if loc, redirected := authorizeErrorTo(t, resp, body); !redirected || loc.Query().Get("error") != "invalid_scope" {
		t.Errorf("approved redirect URI: redirected %v to %s, want a 303 with invalid_scope", redirected, loc)
	}
	// ... but not for someone else, or nobody.
	resp, body = e.newBrowser().get(e.authorizeURL(evil, challenge, bad))
	if _, redirected := authorizeErrorTo(t, resp, body); redirected {
		t.Error("approved by someone else, nobody signed in: redirected at once")
	}

	// Created by the operator: redirected at once, signed in or not.
	op := &store.Client{ID: "operator-app", Name: "Operator's app", RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"docs:read"},
		TokenEndpointAuthMethod: "none", Source: ClientSourceCLI}
	if err := e.Store.CreateClient(t.Context(), op); err != nil {
		t.Fatal(err)
	}
	resp, body = e.newBrowser().get(e.authorizeURL(testClient{ID: op.ID, Redirect: "https://app.example/cb"}, challenge, bad))
	if loc, redirected := authorizeErrorTo(t, resp, body); !redirected || loc.Host != "app.example" {
		t.Errorf("operator's client: redirected %v to %s, want a 303", redirected, loc)
	}

	// Deny on the consent screen: redirected at once.
	other := e.registerPublic("https://other.example/cb")
	_, page := b.get(e.authorizeURL(other, challenge, nil))
	m := consentIDRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no consent screen")
	}
	resp, body = b.post(e.URL+"/consent", url.Values{"consent_id": {m[1]}, "decision": {"deny"}})
	if loc, redirected := authorizeErrorTo(t, resp, body); !redirected || loc.Query().Get("error") != "access_denied" {
		t.Errorf("deny: redirected %v to %s, want a 303 with access_denied", redirected, loc)
	}
}

// TestAuthorizeRequestProblemsBeforeSignIn: requests that can only fail
// fail before the sign-in form, as the redirectable error RFC 6749
// §4.1.2.1 names, not as a page that strands the client or a form that
// strands the person.
func TestAuthorizeRequestProblemsBeforeSignIn(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	_, challenge := pkce()
	body := `{"client_name":"Batch","redirect_uris":["http://127.0.0.1:7777/cb"],"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`
	resp, err := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	decodeJSON(t, resp, &reg)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register a client_credentials client: %d %v", resp.StatusCode, reg)
	}
	batch := testClient{ID: reg["client_id"].(string), Redirect: "http://127.0.0.1:7777/cb"}

	base, err := url.Parse(e.authorizeURL(c, challenge, nil))
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(q url.Values)) string {
		q := base.Query()
		edit(q)
		u := *base
		u.RawQuery = q.Encode()
		return u.String()
	}
	tests := []struct {
		name, url, code, desc string
		state                 bool // the state is echoed
	}{
		{"client_credentials only", e.authorizeURL(batch, challenge, nil), "unauthorized_client", "authorization code flow", true},
		{"state too long to keep", e.authorizeURL(c, challenge, url.Values{"state": {strings.Repeat("s", 5000)}}), "invalid_request", "too large", true},
		{"state too long for the session cookie", e.authorizeURL(c, challenge, url.Values{"state": {strings.Repeat("s", 3000)}}), "invalid_request", "too large", true},
		{"state twice", with(func(q url.Values) { q["state"] = []string{"a", "b"} }), "invalid_request", "state was sent more than once", false},
		{"code_challenge twice", with(func(q url.Values) { q.Add("code_challenge", challenge) }), "invalid_request", "code_challenge was sent more than once", true},
		{"no response_type", with(func(q url.Values) { q.Del("response_type") }), "invalid_request", "no response_type", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, page := e.newBrowser().get(tt.url)
			if strings.Contains(page, `name="password"`) {
				t.Fatal("shows the sign-in form for a request that can only fail")
			}
			loc, _ := authorizeErrorTo(t, resp, page)
			q := loc.Query()
			if q.Get("error") != tt.code || !strings.Contains(q.Get("error_description"), tt.desc) || q.Get("iss") != e.URL {
				t.Errorf("error for the client: %s; want %s (%q) with iss", loc, tt.code, tt.desc)
			}
			if got := q.Has("state"); got != tt.state {
				t.Errorf("state echoed: %v, want %v (%s)", got, tt.state, loc)
			}
		})
	}
}

// TestConsentScreenSaysWhatItKnows: an app that registered no name is not
// blamed for choosing ours ("Unnamed client"), and a private-use scheme
// redirect ("chatgpt.com:/cb") is shown as an app on the device, not as
// the web site it looks like.
func TestConsentScreenSaysWhatItKnows(t *testing.T) {
	e := newTestEnv(t)
	b := e.newBrowser()
	b.login(e.URL, testUser, testPassword)
	_, challenge := pkce()
	register := func(body string) string {
		resp, _ := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
		var reg map[string]any
		decodeJSON(t, resp, &reg)
		return reg["client_id"].(string)
	}
	id := register(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`)
	_, page := b.get(e.authorizeURL(testClient{ID: id, Redirect: "https://app.example/cb"}, challenge, nil))
	if !strings.Contains(page, "An app wants access") || strings.Contains(page, "Unnamed client") || strings.Contains(page, "chosen by the app itself") {
		t.Errorf("consent screen of a client without a name: %.2500s", page)
	}
	id = register(`{"client_name":"ChatGPT","redirect_uris":["chatgpt.com:/connector/oauth"],"token_endpoint_auth_method":"none"}`)
	_, page = b.get(e.authorizeURL(testClient{ID: id, Redirect: "chatgpt.com:/connector/oauth"}, challenge, nil))
	if !strings.Contains(page, `<p class="destination-host">an app on this device</p>`) || !strings.Contains(page, `<code class="destination-scheme">chatgpt.com:</code>`) {
		t.Errorf("consent screen of a private-use scheme redirect: %.2500s", page)
	}
}

// TestConsentPerResource: with several resources, a consent for one does
// not replace the consent for another: switching between them asks once
// for each, and /account shows the app once with both.
func TestConsentPerResource(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Resources = []string{c.Issuer + "/mcp", "https://other.example/mcp"} })
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	b := e.newBrowser()
	b.login(e.URL, testUser, testPassword)
	_, challenge := pkce()
	for _, res := range []string{e.URL + "/mcp", "https://other.example/mcp"} {
		e.authorize(b, e.authorizeURL(c, challenge, url.Values{"resource": {res}}))
	}
	for _, res := range []string{e.URL + "/mcp", "https://other.example/mcp"} {
		if r, _ := b.get(e.authorizeURL(c, challenge, url.Values{"resource": {res}})); r.StatusCode != http.StatusSeeOther {
			t.Errorf("back to %s: %d, want 303 (remembered)", res, r.StatusCode)
		}
	}
	_, account := b.get(e.URL + "/account")
	if n := strings.Count(account, `name="client_id" value="`+c.ID+`"`); n != 1 {
		t.Errorf("the app appears %d times on /account, want once", n)
	}
	for _, res := range []string{e.URL + "/mcp", "https://other.example/mcp"} {
		if !strings.Contains(account, `<code class="resource">`+res+`</code>`) {
			t.Errorf("/account does not name %s", res)
		}
	}
}

// TestConsentScreensInSeveralTabs: a second consent screen (another tab,
// an app that retried) does not make the first unanswerable; each is
// answered once; past maxPendingConsents the oldest expires.
func TestConsentScreensInSeveralTabs(t *testing.T) {
	e := newTestEnv(t)
	b := e.newBrowser()
	b.login(e.URL, testUser, testPassword)
	screen := func(c testClient) string {
		t.Helper()
		_, challenge := pkce()
		_, page := b.get(e.authorizeURL(c, challenge, nil))
		m := consentIDRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no consent screen for %s", c.ID)
		}
		return m[1]
	}
	answer := func(id string) int {
		r, _ := b.post(e.URL+"/consent", url.Values{"consent_id": {id}, "decision": {"allow"}})
		return r.StatusCode
	}
	first, second := screen(e.registerPublic("https://one.example/cb")), screen(e.registerPublic("https://two.example/cb"))
	if got := answer(first); got != http.StatusSeeOther {
		t.Errorf("the first tab after a second opened: %d, want 303", got)
	}
	if got := answer(second); got != http.StatusSeeOther {
		t.Errorf("the second tab: %d, want 303", got)
	}
	if got := answer(first); got != http.StatusBadRequest {
		t.Errorf("the first tab answered again: %d, want 400", got)
	}
	var ids []string
	for i := range maxPendingConsents + 1 {
		ids = append(ids, screen(e.registerPublic(fmt.Sprintf("https://tab%d.example/cb", i))))
	}
	if got := answer(ids[0]); got != http.StatusBadRequest {
		t.Errorf("the oldest of %d screens: %d, want 400 (expired)", len(ids), got)
	}
	for _, id := range ids[1:] {
		if got := answer(id); got != http.StatusSeeOther {
			t.Errorf("one of the newest %d screens: %d, want 303", maxPendingConsents, got)
		}
	}
}

func TestAuthorizeRejectsBeforeLogin(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	_, challenge := pkce()
	redirecting := []struct {
		name  string
		extra url.Values
		code  string
	}{
		{"no PKCE", url.Values{"code_challenge": {""}, "code_challenge_method": {""}}, "invalid_request"},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		{"PKCE without method", url.Values{"code_challenge_method": {""}}, "invalid_request"},
		{"implicit", url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		{"other resource", url.Values{"resource": {"https://evil.example/mcp"}}, "invalid_target"},
		{"other path", url.Values{"resource": {e.URL + "/other"}}, "invalid_target"},
		{"unknown scope", url.Values{"scope": {"docs:read admin"}}, "invalid_scope"},
		{"form_post", url.Values{"response_mode": {"form_post"}}, "invalid_request"},
	}
	for _, tc := range redirecting {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.newBrowser().get(e.authorizeURL(c, challenge, tc.extra))
			loc, redirected := authorizeErrorTo(t, resp, body)
			if redirected {
				t.Errorf("redirected at once to a self-registered client's redirect URI; want a page with a link (RFC 9700 §4.11.2)")
			}
			if strings.Contains(body, `name="password"`) {
				t.Error("shows the login form for a request that can only fail")
			}
			q := loc.Query()
			if q.Get("error") != tc.code || q.Get("state") != "state-123456" || q.Get("iss") != e.URL {
				t.Errorf("error for the client %s; want error=%s with state and iss", loc, tc.code)
			}
			if !strings.HasPrefix(loc.String(), "http://127.0.0.1:7777/callback?") {
				t.Errorf("error for the client goes to %s", loc)
			}
		})
	}
	pages := []struct {
		name  string
		extra url.Values
	}{
		{"unknown client", url.Values{"client_id": {"nope"}}},
		{"unregistered redirect", url.Values{"redirect_uri": {"https://evil.example/cb"}}},
		{"loopback with another host", url.Values{"redirect_uri": {"http://localhost:7777/callback"}}},
		{"loopback with another path", url.Values{"redirect_uri": {"http://127.0.0.1:7777/other"}}},
		{"no client", url.Values{"client_id": {""}}},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.newBrowser().get(e.authorizeURL(c, challenge, tc.extra))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d location %q, want a 400 page and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if strings.Contains(body, `name="password"`) {
				t.Error("shows the login form for a request that can only fail")
			}
		})
	}
}

func TestLoopbackRedirectIgnoresPort(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:33418/")
	c.Redirect = "http://127.0.0.1:50123/"
	tr := e.codeFlow(e.newBrowser(), c)
	if tr.Status != http.StatusOK {
		t.Fatalf("token with a runtime loopback port: %d %v", tr.Status, tr.Body)
	}
}

func TestResourceIsMatchedTolerantlyAndBoundToTheCode(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	b := e.newBrowser()
	for _, res := range []string{"", e.URL + "/mcp/", e.URL, e.URL + "/"} {
		verifier, challenge := pkce()
		loc := e.authorize(b, e.authorizeURL(c, challenge, url.Values{"resource": {res}}))
		tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}, "resource": {res}}, "", "")
		if tr.Status != http.StatusOK {
			t.Fatalf("resource %q: %d %v", res, tr.Status, tr.Body)
		}
		ar, _ := e.introspect(tr.Access)
		if aud := ar.GetGrantedAudience(); len(aud) != 1 || aud[0] != e.URL+"/mcp" {
			t.Errorf("resource %q: audience %v, want the canonical %s/mcp", res, aud, e.URL)
		}
	}
	verifier, challenge := pkce()
	loc := e.authorize(b, e.authorizeURL(c, challenge, nil))
	tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}, "resource": {"https://evil.example/mcp"}}, "", "")
	if tr.Status != http.StatusBadRequest || tr.Error != "invalid_target" {
		t.Errorf("token with another resource: %d %v, want 400 invalid_target", tr.Status, tr.Body)
	}
}

func TestMissingScopeGetsDefaults(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, url.Values{"scope": {""}}))
	tr := e.token(codeForm(c, loc.Query().Get("code"), verifier), "", "")
	if tr.Status != http.StatusOK || tr.Body["scope"] != "docs:read" {
		t.Fatalf("no scope: %d %v, want the default docs:read", tr.Status, tr.Body)
	}
}

func TestConsentIsRememberedAndDenyReturnsAccessDenied(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.Scopes = []Scope{{"docs:read", "Read documents"}, {"docs:write", "Change documents"}}
		c.DefaultScopes = []string{"docs:read"}
	})
	body := `{"client_name":"Two Scopes","redirect_uris":["http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"none","scope":"docs:read docs:write"}`
	resp, _ := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
	var reg map[string]any
	decodeJSON(t, resp, &reg)
	c := testClient{ID: reg["client_id"].(string), Redirect: "http://127.0.0.1:7777/cb"}
	b := e.newBrowser()
	if r := b.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
		t.Fatal("login failed")
	}

	// Deny.
	_, challenge := pkce()
	_, page := b.get(e.authorizeURL(c, challenge, url.Values{"scope": {"docs:read"}}))
	id := consentIDRE.FindStringSubmatch(page)
	if id == nil {
		t.Fatal("no consent screen")
	}
	r, _ := b.post(e.URL+"/consent", url.Values{"consent_id": {id[1]}, "decision": {"deny"}})
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" || loc.Query().Get("iss") != e.URL || loc.Query().Get("state") == "" {
		t.Fatalf("deny: %d %s", r.StatusCode, loc)
	}
	// The consent id is single-use.
	r, _ = b.post(e.URL+"/consent", url.Values{"consent_id": {id[1]}, "decision": {"allow"}})
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed consent id: %d, want 400", r.StatusCode)
	}

	// Allow, then a reconnect with the same scope skips the screen.
	e.authorize(b, e.authorizeURL(c, challenge, url.Values{"scope": {"docs:read"}}))
	r, _ = b.get(e.authorizeURL(c, challenge, url.Values{"scope": {"docs:read"}}))
	if r.StatusCode != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "code=") {
		t.Errorf("remembered consent: status %d, want a direct redirect with a code", r.StatusCode)
	}
	// More scopes ask again.
	r, page = b.get(e.authorizeURL(c, challenge, url.Values{"scope": {"docs:read docs:write"}}))
	if r.StatusCode != http.StatusOK || !consentIDRE.MatchString(page) || !strings.Contains(page, "Change documents") {
		t.Errorf("more scopes: status %d, want the consent screen naming the new scope", r.StatusCode)
	}
	// prompt=none without consent for the new scope.
	r, _ = b.get(e.authorizeURL(c, challenge, url.Values{"scope": {"docs:read docs:write"}, "prompt": {"none"}}))
	if loc, _ := url.Parse(r.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "consent_required" {
		t.Errorf("prompt=none: %d %s, want consent_required", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestRememberedConsentIsForTheRedirectApproved: the consent screen names
// where the app sends the person back, so a remembered consent covers only
// the redirect URIs the person saw. A client registered with a second
// redirect URI (or one added later by an RFC 7592 update) cannot have a
// code sent there silently by a page that navigates the signed-in browser
// to /authorize; a loopback redirect is remembered without its port.
func TestRememberedConsentIsForTheRedirectApproved(t *testing.T) {
	e := newTestEnv(t)
	body := `{"client_name":"ChatGPT","redirect_uris":["https://chatgpt.com/connector/oauth/abc","https://evil.example/cb","http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"none"}`
	resp, _ := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
	var reg map[string]any
	decodeJSON(t, resp, &reg)
	id := reg["client_id"].(string)
	good := testClient{ID: id, Redirect: "https://chatgpt.com/connector/oauth/abc"}
	evil := testClient{ID: id, Redirect: "https://evil.example/cb"}
	b := e.newBrowser()
	b.login(e.URL, testUser, testPassword)
	_, challenge := pkce()
	if loc := e.authorize(b, e.authorizeURL(good, challenge, nil)); loc.Host != "chatgpt.com" || loc.Query().Get("code") == "" {
		t.Fatalf("approved flow: %s", loc)
	}
	// The same redirect again: remembered.
	if r, _ := b.get(e.authorizeURL(good, challenge, nil)); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("remembered consent: %d, want 303", r.StatusCode)
	}
	// Another registered redirect: the screen again, naming that host.
	r, page := b.get(e.authorizeURL(evil, challenge, nil))
	if r.StatusCode != http.StatusOK || !consentIDRE.MatchString(page) || !strings.Contains(page, `<p class="destination-host">evil.example</p>`) {
		t.Fatalf("another redirect URI: %d %s, want the consent screen naming evil.example", r.StatusCode, r.Header.Get("Location"))
	}
	// prompt=none cannot send it there either.
	r, page = b.get(e.authorizeURL(evil, challenge, url.Values{"prompt": {"none"}}))
	if loc, redirected := authorizeErrorTo(t, r, page); redirected || loc.Query().Get("code") != "" || loc.Query().Get("error") != "consent_required" {
		t.Errorf("prompt=none to another redirect URI: redirected %v to %s, want a page linking with consent_required", redirected, loc)
	}

	// A loopback redirect approved on one port is remembered on any.
	loop := testClient{ID: id, Redirect: "http://127.0.0.1:7777/cb"}
	e.authorize(b, e.authorizeURL(loop, challenge, nil))
	loop.Redirect = "http://127.0.0.1:50123/cb"
	if r, _ := b.get(e.authorizeURL(loop, challenge, nil)); r.StatusCode != http.StatusSeeOther {
		t.Errorf("loopback redirect on another port: %d, want 303 (remembered)", r.StatusCode)
	}
	// Both approvals are kept: the first is still remembered.
	if r, _ := b.get(e.authorizeURL(good, challenge, nil)); r.StatusCode != http.StatusSeeOther {
		t.Errorf("first redirect after approving a second: %d, want 303", r.StatusCode)
	}
	_, account := b.get(e.URL + "/account")
	if !strings.Contains(account, "chatgpt.com, 127.0.0.1") || strings.Contains(account, "evil.example") {
		t.Errorf("account page does not list exactly the approved hosts: %.2000s", account)
	}

	// A redirect URI added by an RFC 7592 update is not covered either.
	put := `{"client_id":"` + id + `","client_name":"ChatGPT","redirect_uris":["https://chatgpt.com/connector/oauth/abc","https://new.example/cb"],"token_endpoint_auth_method":"none"}`
	req, _ := http.NewRequest(http.MethodPut, reg["registration_client_uri"].(string), strings.NewReader(put))
	req.Header.Set("Authorization", "Bearer "+reg["registration_access_token"].(string))
	req.Header.Set("Content-Type", "application/json")
	pr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pr.Body.Close()
	if pr.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d", pr.StatusCode)
	}
	if r, _ := b.get(e.authorizeURL(testClient{ID: id, Redirect: "https://new.example/cb"}, challenge, nil)); r.StatusCode != http.StatusOK {
		t.Errorf("redirect URI added by an update: %d %s, want the consent screen", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestTokenEndpointClientErrors(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	// Unknown client: 401 invalid_client, the signal to register again.
	r := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "code_verifier": {strings.Repeat("a", 43)}, "client_id": {"unknown"}, "redirect_uri": {c.Redirect}}, "", "")
	if r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
		t.Errorf("unknown client: %d %v", r.Status, r.Body)
	}
	// Deleted client.
	t1 := e.codeFlow(e.newBrowser(), c)
	if err := e.Store.DeleteClient(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.refresh(c, t1.Refresh); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
		t.Errorf("deleted client: %d %v", r.Status, r.Body)
	}
	if e.active(t1.Access) {
		t.Error("a deleted client's access token is still active")
	}
	// Bad code, wrong verifier, unsupported grant.
	c2 := e.registerPublic("http://127.0.0.1:7777/callback")
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c2, challenge, nil))
	code := loc.Query().Get("code")
	cases := []struct {
		name string
		form url.Values
		code string
	}{
		{"garbage code", url.Values{"grant_type": {"authorization_code"}, "code": {"garbage"}, "code_verifier": {verifier}, "client_id": {c2.ID}, "redirect_uri": {c2.Redirect}}, "invalid_grant"},
		{"wrong verifier", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {strings.Repeat("b", 43)}, "client_id": {c2.ID}, "redirect_uri": {c2.Redirect}}, "invalid_grant"},
		{"password grant", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}, "client_id": {c2.ID}}, "unsupported_grant_type"},
		{"garbage refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"garbage"}, "client_id": {c2.ID}}, "invalid_grant"},
	}
	for _, tc := range cases {
		if r := e.token(tc.form, "", ""); r.Status != http.StatusBadRequest || r.Error != tc.code {
			t.Errorf("%s: %d %v, want 400 %s", tc.name, r.Status, r.Body, tc.code)
		}
	}
}

func TestConfidentialClientAuthentication(t *testing.T) {
	e := newTestEnv(t)
	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			body := `{"client_name":"Conf","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"` + method + `"}`
			resp, _ := http.Post(e.URL+"/register", "application/json", strings.NewReader(body))
			var reg map[string]any
			decodeJSON(t, resp, &reg)
			id, secret := reg["client_id"].(string), reg["client_secret"].(string)
			if reg["token_endpoint_auth_method"] != method {
				t.Fatalf("registered method %v, want %s", reg["token_endpoint_auth_method"], method)
			}
			c := testClient{ID: id, Secret: secret, Redirect: "https://app.example/cb"}
			verifier, challenge := pkce()
			loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, nil))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {c.Redirect}}
			// The other method is refused: the registered one is enforced.
			wrong := cloneValues(form)
			user, pass := "", ""
			if method == "client_secret_basic" {
				wrong.Set("client_id", id)
				wrong.Set("client_secret", secret)
				user, pass = id, secret
			} else {
				form.Set("client_id", id)
				form.Set("client_secret", secret)
			}
			if r := e.token(wrong, map[bool]string{true: "", false: id}[method == "client_secret_basic"], map[bool]string{true: "", false: secret}[method == "client_secret_basic"]); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
				t.Errorf("other auth method: %d %v, want 401 invalid_client", r.Status, r.Body)
			}
			bad := cloneValues(form)
			if method == "client_secret_post" {
				bad.Set("client_secret", "wrong")
			}
			badPass := map[bool]string{true: "wrong", false: ""}[method == "client_secret_basic"]
			if r := e.token(bad, user, badPass); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
				t.Errorf("wrong secret: %d %v, want 401 invalid_client", r.Status, r.Body)
			}
			if r := e.token(form, user, pass); r.Status != http.StatusOK {
				t.Errorf("right secret: %d %v", r.Status, r.Body)
			}
		})
	}
}

func TestLoginThrottlingAndCrossOriginPosts(t *testing.T) {
	e := newTestEnv(t)
	b := e.newBrowser()
	for i := range 5 {
		if r := b.login(e.URL, testUser, "wrong"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, r.StatusCode)
		}
	}
	r := b.login(e.URL, testUser, testPassword)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures: %d (Retry-After %q), want 429 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
	e.Clock.Advance(16 * time.Minute)
	if r := b.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303", r.StatusCode)
	}

	for _, path := range []string{"/login", "/consent", "/logout", "/account/revoke"} {
		req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader("username=alice&password=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines to log to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFailedSignInDoesNotLogWhatWasTyped: people type their password into
// the user name field; a name that is no account is never logged, on a
// failed sign-in or a throttled one, while a real account's name is.
func TestFailedSignInDoesNotLogWhatWasTyped(t *testing.T) {
	var logs lockedBuffer
	e := newTestEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	b := e.newBrowser()
	const typed = "MyS3cretPassw0rd!"
	b.login(e.URL, testUser, "wrong")
	for range 7 {
		b.login(e.URL, typed, "x")
	}
	out := logs.String()
	if strings.Contains(out, typed) {
		t.Errorf("the log holds what was typed as a user name:\n%s", out)
	}
	if !strings.Contains(out, "login throttled") || !strings.Contains(out, `msg="login failed" user=`+testUser) {
		t.Errorf("the log lacks the throttled sign-in or the real account's failure:\n%s", out)
	}
}

// TestLoginThrottleHoldsForParallelGuesses: guesses sent at the same time
// cannot all pass the check before the first failure is counted: no more
// passwords are checked than the limit allows.
func TestLoginThrottleHoldsForParallelGuesses(t *testing.T) {
	e := newTestEnv(t)
	codes := parallel(t, 24, func() int {
		r := e.newBrowser().login(e.URL, testUser, "wrong")
		return r.StatusCode
	})
	checked, throttled := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Errorf("status %d", c)
		}
	}
	// Under contention all of them may be refused (each saw the others
	// counted); never more than the limit checked. Sequential guesses
	// then fill the count up to exactly the limit.
	if checked > 5 || checked+throttled != 24 {
		t.Fatalf("24 simultaneous wrong passwords: %d checked, %d throttled; want at most 5 checked", checked, throttled)
	}
	for checked < 5 {
		if r := e.newBrowser().login(e.URL, testUser, "wrong"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d after the burst: %d, want 401", checked+1, r.StatusCode)
		}
		checked++
	}
	// The right password is refused too now, and a success after the
	// window forgets the count.
	if r := e.newBrowser().login(e.URL, testUser, testPassword); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password while locked: %d, want 429", r.StatusCode)
	}
	e.Clock.Advance(16 * time.Minute)
	for i := range 7 {
		if r := e.newBrowser().login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in %d after the window: %d, want 303 (successes must not count against the address)", i+1, r.StatusCode)
		}
	}
}

func TestMetadataAndCORS(t *testing.T) {
	e := newTestEnv(t)
	resp, err := http.Get(e.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	decodeJSON(t, resp, &md)
	if md["issuer"] != e.URL {
		t.Errorf("issuer %v, want %s byte for byte", md["issuer"], e.URL)
	}
	for k, want := range map[string]string{
		"authorization_endpoint": e.URL + "/authorize", "token_endpoint": e.URL + "/token",
		"registration_endpoint": e.URL + "/register", "revocation_endpoint": e.URL + "/revoke",
	} {
		if md[k] != want {
			t.Errorf("%s = %v, want %s", k, md[k], want)
		}
	}
	if md["authorization_response_iss_parameter_supported"] != true {
		t.Error("iss parameter not advertised")
	}
	if got := md["code_challenge_methods_supported"].([]any); len(got) != 1 || got[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v", got)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("metadata lacks CORS")
	}
	if !bytes.Contains(mustJSON(md["token_endpoint_auth_methods_supported"]), []byte(`"none"`)) {
		t.Error("none not among token_endpoint_auth_methods_supported")
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/extra", "/.well-known/anything"} {
		resp, _ := http.Get(e.URL + p)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/token", "/register", "/revoke", "/.well-known/oauth-authorization-server"} {
		req, _ := http.NewRequest(http.MethodOptions, e.URL+p, nil)
		req.Header.Set("Origin", "http://localhost:6274")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, _ := http.DefaultClient.Do(req)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight %s: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
	for p, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, _ := http.Get(e.URL + p)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

// parallel runs f n times at once and returns the results.
func parallel[T any](t *testing.T, n int, f func() T) []T {
	t.Helper()
	out := make([]T, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f()
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func TestStateIsOptionalWithPKCE(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	b := e.newBrowser()
	for _, state := range []string{"", "abc"} {
		verifier, challenge := pkce()
		loc := e.authorize(b, e.authorizeURL(c, challenge, url.Values{"state": {state}}))
		q := loc.Query()
		if q.Get("code") == "" || q.Get("state") != state || q.Has("state") != (state != "") {
			t.Fatalf("state %q: redirect %s", state, loc)
		}
		tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {verifier}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}}, "", "")
		if tr.Status != http.StatusOK {
			t.Errorf("state %q: token %d %v", state, tr.Status, tr.Body)
		}
	}
}

func TestNonDefaultResourceSurvivesConsent(t *testing.T) {
	other := "https://mcp.example.com/mcp"
	e := newTestEnv(t, func(c *Config) { c.Resources = []string{c.Issuer + "/mcp", other} })
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, url.Values{"resource": {other}}))
	tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "client_id": {c.ID}, "redirect_uri": {c.Redirect}, "resource": {other}}, "", "")
	if tr.Status != http.StatusOK {
		t.Fatalf("token for the second resource: %d %v", tr.Status, tr.Body)
	}
	claims, _ := verifyWithJWKS(t, e, tr.Access)
	if claims["aud"] != other {
		t.Errorf("aud = %v, want %s", claims["aud"], other)
	}
}

// TestLongAuthorizationRequest: the pending request lives in the session
// cookie while consent is asked. A request that fits is served whole (the
// consent completes and the long state comes back); one that does not fit
// a cookie gets invalid_request at the client's redirect URI, never a 500.
func TestLongAuthorizationRequest(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Registration.MaxPerMinute = -1 })
	served, refused := 0, 0
	for n := 1000; n <= 5000; n += 100 {
		// A new client each time: a remembered consent skips the screen.
		c := e.registerPublic("http://127.0.0.1:7777/callback")
		state := strings.Repeat("s", n)
		b := e.newBrowser()
		if r := b.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", r.StatusCode)
		}
		_, challenge := pkce()
		resp, body := b.get(e.authorizeURL(c, challenge, url.Values{"state": {state}}))
		switch {
		case resp.StatusCode == http.StatusOK && consentIDRE.MatchString(body):
			if refused > 0 {
				t.Errorf("state of %d bytes served after a shorter one was refused", n)
			}
			served++
			m := consentIDRE.FindStringSubmatch(body)
			resp, _ = b.post(e.URL+"/consent", url.Values{"consent_id": {m[1]}, "decision": {"allow"}})
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
				t.Errorf("state of %d bytes: consent answered %d, %.200s", n, resp.StatusCode, resp.Header.Get("Location"))
			}
		case resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusBadRequest:
			refused++
			loc, _ := authorizeErrorTo(t, resp, body)
			q := loc.Query()
			if q.Get("error") != codeInvalidRequest || !strings.Contains(q.Get("error_description"), "too large") || q.Get("state") != state {
				t.Errorf("state of %d bytes: redirect %.300s, want invalid_request (too large) with the state", n, resp.Header.Get("Location"))
			}
		default:
			t.Fatalf("state of %d bytes: status %d, %.300s", n, resp.StatusCode, body)
		}
	}
	if served < 5 || refused < 5 {
		t.Errorf("%d served, %d refused: the boundary is not where it should be (about 2 KB of query)", served, refused)
	}
}

// TestCookieTooLong pins cookieTooLong to the session codec's own error.
func TestCookieTooLong(t *testing.T) {
	e := newTestEnv(t)
	r := httptest.NewRequest(http.MethodGet, e.URL+"/", nil)
	sess := e.Server.session(r)
	sess.Values["x"] = strings.Repeat("x", 1000)
	if err := sess.Save(r, httptest.NewRecorder()); err != nil || cookieTooLong(err) {
		t.Fatalf("a short session: %v", err)
	}
	sess.Values["x"] = strings.Repeat("x", 5000)
	if err := sess.Save(r, httptest.NewRecorder()); !cookieTooLong(err) {
		t.Fatalf("a session longer than a cookie: error %v is not recognised", err)
	}
	if cookieTooLong(errors.New("database is locked")) {
		t.Error("another error recognised")
	}
}

// TestRedirectURIOmitted: a client with one registered redirect URI may
// leave redirect_uri out of the authorization request (OAuth 2.1 §4.1.1);
// the token request then needs none (RFC 6749 §4.1.3), and one that names
// the registered URI is accepted too. A client that sent redirect_uri must
// send the same one at the token endpoint.
func TestRedirectURIOmitted(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("https://app.example/cb")
	for _, tc := range []struct {
		name          string
		atAuthorize   string
		atToken       string
		wantStatus    int
		wantErrorCode string
	}{
		{"left out at both", "", "", http.StatusOK, ""},
		{"left out at authorize only", "", c.Redirect, http.StatusOK, ""},
		{"sent at both", c.Redirect, c.Redirect, http.StatusOK, ""},
		{"sent at authorize only", c.Redirect, "", http.StatusBadRequest, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifier, challenge := pkce()
			loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, url.Values{"redirect_uri": {tc.atAuthorize}}))
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != c.Redirect || loc.Query().Get("code") == "" {
				t.Fatalf("redirected to %s, want a code at the registered %s", loc, c.Redirect)
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "client_id": {c.ID}, "resource": {e.URL + "/mcp"}}
			if tc.atToken != "" {
				form.Set("redirect_uri", tc.atToken)
			}
			tr := e.token(form, "", "")
			if tr.Status != tc.wantStatus || tr.Error != tc.wantErrorCode {
				t.Errorf("token: %d %q %v, want %d %q", tr.Status, tr.Error, tr.Body, tc.wantStatus, tc.wantErrorCode)
			}
		})
	}
}

// TestSignOutEndsTheSession: the login lives in a cookie, so clearing it
// is not enough: a copy taken before signing out (another device, a
// proxy's log) must stop working too, and so must every session after a
// new password. Signing in again works.
func TestSignOutEndsTheSession(t *testing.T) {
	e := newTestEnv(t)
	signedIn := func(b *browser) bool {
		resp, body := b.get(e.URL + "/account")
		return resp.StatusCode == http.StatusOK && !strings.Contains(body, `name="password"`)
	}
	copyOf := func(b *browser) *browser {
		c := e.newBrowser()
		u, _ := url.Parse(e.URL)
		c.c.Jar.SetCookies(u, b.c.Jar.Cookies(u))
		return c
	}
	phone, laptop := e.newBrowser(), e.newBrowser()
	for _, b := range []*browser{phone, laptop} {
		if r := b.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", r.StatusCode)
		}
	}
	stolen := copyOf(phone)
	if !signedIn(stolen) || !signedIn(laptop) {
		t.Fatal("not signed in before signing out")
	}
	if resp, _ := phone.post(e.URL+"/logout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	for name, b := range map[string]*browser{"the browser that signed out": phone, "a copy of its cookie": stolen, "another browser": laptop} {
		if signedIn(b) {
			t.Errorf("%s is still signed in", name)
		}
	}
	if r := phone.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther || !signedIn(phone) {
		t.Fatalf("signing in again: %d", r.StatusCode)
	}

	// A new password ends the sessions too.
	before := copyOf(phone)
	u, err := e.Store.GetUserByName(t.Context(), testUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.SetUserPassword(t.Context(), u.ID, u.PasswordHash); err != nil {
		t.Fatal(err)
	}
	if signedIn(before) {
		t.Error("a session from before the new password is still signed in")
	}
}

// TestConsentIDIsSpent: the consent ID is one-time even for a copy of the
// session cookie taken before the approval: replaying the POST with it
// gets no second code.
func TestConsentIDIsSpent(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	b := e.newBrowser()
	if r := b.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	_, challenge := pkce()
	_, body := b.get(e.authorizeURL(c, challenge, nil))
	m := consentIDRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no consent screen")
	}
	copied := e.newBrowser()
	u, _ := url.Parse(e.URL)
	copied.c.Jar.SetCookies(u, b.c.Jar.Cookies(u))
	form := url.Values{"consent_id": {m[1]}, "decision": {"allow"}}
	if resp, _ := b.post(e.URL+"/consent", form); resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatalf("approval: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ := copied.post(e.URL+"/consent", form)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("the same approval from a copy of the cookie: %d %s, want 400 and no code", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// failingGetUser is a store that cannot read users.
type failingGetUser struct{ store.Store }

func (failingGetUser) GetUser(context.Context, string) (*store.User, error) {
	return nil, errors.New("database is locked")
}

// TestSignOutWhenTheStoreHiccups: a sign-out that cannot read the user
// still ends the sessions (or fails visibly), never clears only the cookie.
func TestSignOutWhenTheStoreHiccups(t *testing.T) {
	e := newTestEnv(t)
	phone := e.newBrowser()
	if r := phone.login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	u, _ := url.Parse(e.URL)
	stolen := e.newBrowser()
	stolen.c.Jar.SetCookies(u, phone.c.Jar.Cookies(u))
	real := e.Server.store
	e.Server.store = failingGetUser{real}
	resp, _ := phone.post(e.URL+"/logout", nil)
	e.Server.store = real
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if r, body := stolen.get(e.URL + "/account"); r.StatusCode == http.StatusOK && !strings.Contains(body, `name="password"`) {
		t.Error("a copy of the cookie is still signed in after the sign-out")
	}
}

// TestParallelRightPasswords: people signing in at the same moment from
// one address (an office behind NAT) are not told they failed: beyond the
// limit of attempts in flight they are asked to retry in seconds, and the
// successes leave nothing counted.
func TestParallelRightPasswords(t *testing.T) {
	e := newTestEnv(t)
	type answer struct {
		status int
		retry  string
	}
	answers := parallel(t, 12, func() answer {
		r := e.newBrowser().login(e.URL, testUser, testPassword)
		return answer{r.StatusCode, r.Header.Get("Retry-After")}
	})
	for _, a := range answers {
		switch {
		case a.status == http.StatusSeeOther:
		case a.status == http.StatusTooManyRequests && (a.retry == "1" || a.retry == "2"):
		default:
			t.Errorf("a right password at the same moment as others: %+v, want 303, or 429 with a retry in seconds", a)
		}
	}
	for i := range 7 {
		if r := e.newBrowser().login(e.URL, testUser, testPassword); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in %d afterwards: %d, want 303 (nothing counted)", i+1, r.StatusCode)
		}
	}
}

// TestCodeReplayAfterCleanup: a replayed authorization code revokes the
// tokens issued with it (RFC 6749 §4.1.2) also after the expired-row
// cleanup ran past the code's own two-minute lifetime.
func TestCodeReplayAfterCleanup(t *testing.T) {
	e := newTestEnv(t)
	c := e.registerPublic("http://127.0.0.1:7777/callback")
	verifier, challenge := pkce()
	loc := e.authorize(e.newBrowser(), e.authorizeURL(c, challenge, nil))
	form := codeForm(c, loc.Query().Get("code"), verifier)
	form.Set("resource", e.URL+"/mcp")
	first := e.token(form, "", "")
	if first.Status != http.StatusOK {
		t.Fatal(first.Body)
	}
	if _, err := e.Store.DeleteExpired(t.Context(), time.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r := e.token(form, "", ""); r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Fatalf("replay: %d %v", r.Status, r.Body)
	}
	if e.active(first.Access) {
		t.Error("the access token issued with the replayed code is still active")
	}
	if r := e.refresh(c, first.Refresh); r.Status == http.StatusOK {
		t.Error("the refresh token issued with the replayed code still works")
	}
}
