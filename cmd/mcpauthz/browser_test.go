package main

// Browser tests: a real headless Chromium against a real mcpauthz (see
// e2e_helpers_test.go). They need Chromium; without it they skip, except
// with CI=true, where they fail. They do not run in parallel: the machine
// has few cores and each runs its own browser.

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mcpauthz/mcpauthz/store"
)

// exchangeCode redeems code at /token as a public client would, with plain
// net/http, and checks the response is a bearer token that must not be
// cached.
func exchangeCode(t testing.TB, s *testServer, clientID, redirectURI, code, verifier string) tokenResponse {
	t.Helper()
	resp, body := s.postForm(t, "/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"client_id":     {clientID},
		"code_verifier": {verifier},
		"resource":      {s.Resource},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: status %d, body %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("token: Cache-Control = %q, want no-store", cc)
	}
	var tok tokenResponse
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatalf("token: %v in %s", err, body)
	}
	if !strings.EqualFold(tok.TokenType, "Bearer") {
		t.Errorf("token_type = %q, want Bearer", tok.TokenType)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.ExpiresIn <= 0 {
		t.Errorf("token response lacks access_token, refresh_token or expires_in: %s", body)
	}
	return tok
}

// TestBrowserAuthorizationCodeFlow signs in and allows in the browser, then
// redeems the code the client received.
func TestBrowserAuthorizationCodeFlow(t *testing.T) {
	s := startServer(t)
	cb := newCallbackServer(t)
	client := s.registerPublic(t, "Flow Test Client", cb.RedirectURI)
	ctx := newBrowser(t)

	pk := newPKCE()
	state := newState()
	resp := browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, state, pk.Challenge, ""))
	if resp.Status != http.StatusOK || !isLoginPage(ctx, t) {
		t.Fatalf("authorize: status %d at %s, want the login page", resp.Status, resp.URL)
	}
	if got := text(ctx, t, ".context .app-name"); got != "Flow Test Client" {
		t.Errorf("login page names the app %q, want %q", got, "Flow Test Client")
	}

	resp = submitLogin(ctx, t, s.UserName, s.Password)
	if resp.Status != http.StatusOK || !isConsentPage(ctx, t) {
		t.Fatalf("after login: status %d at %s, want the consent page", resp.Status, resp.URL)
	}
	if got := text(ctx, t, ".destination-host"); got != "127.0.0.1" {
		t.Errorf("consent page shows the redirect host %q, want 127.0.0.1", got)
	}

	resp = decide(ctx, t, "allow")
	if !strings.HasPrefix(resp.URL, cb.RedirectURI+"?") {
		t.Errorf("after allow the browser is at %s, want the client's redirect URI %s", resp.URL, cb.RedirectURI)
	}
	code := checkCallback(t, s, cb.wait(ctx, t), state, "")

	tok := exchangeCode(t, s, client.ClientID, cb.RedirectURI, code, pk.Verifier)
	if tok.Scope != "docs:read" {
		t.Errorf("scope = %q, want docs:read", tok.Scope)
	}

	// A code is good once.
	r, body := s.postForm(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cb.RedirectURI},
		"client_id": {client.ClientID}, "code_verifier": {pk.Verifier},
	})
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid_grant") {
		t.Errorf("second redemption of the code: status %d, body %s; want 400 invalid_grant", r.StatusCode, body)
	}
}

// TestBrowserDeny: Deny sends access_denied, with state and iss, to the
// client.
func TestBrowserDeny(t *testing.T) {
	s := startServer(t)
	cb := newCallbackServer(t)
	client := s.registerPublic(t, "Deny Test Client", cb.RedirectURI)
	ctx := newBrowser(t)

	state := newState()
	browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, state, newPKCE().Challenge, ""))
	if resp := submitLogin(ctx, t, s.UserName, s.Password); !isConsentPage(ctx, t) {
		t.Fatalf("after login: status %d at %s, want the consent page", resp.Status, resp.URL)
	}
	decide(ctx, t, "deny")
	checkCallback(t, s, cb.wait(ctx, t), state, "access_denied")

	if _, err := s.Store.GetConsent(context.Background(), s.UserID, client.ClientID, s.Resource); err == nil {
		t.Error("a denied request was remembered as consent")
	}
}

// TestBrowserWrongPassword: a wrong password shows an alert on the login
// form, which keeps the request, so the right password then continues it.
func TestBrowserWrongPassword(t *testing.T) {
	s := startServer(t)
	cb := newCallbackServer(t)
	client := s.registerPublic(t, "Password Test Client", cb.RedirectURI)
	ctx := newBrowser(t)

	browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, newState(), newPKCE().Challenge, ""))
	resp := submitLogin(ctx, t, s.UserName, "not-"+s.Password)
	if resp.Status != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", resp.Status)
	}
	if !isLoginPage(ctx, t) {
		t.Fatal("after a wrong password the login form is gone")
	}
	if got := text(ctx, t, "[role=alert]"); !strings.Contains(got, "Wrong user name or password") {
		t.Errorf("alert = %q, want it to say the user name or password is wrong", got)
	}
	screenshot(ctx, t, "login-error")
	ret, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`form[action="/login"] input[name=return]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ret, "/authorize?") || !strings.Contains(ret, url.QueryEscape(client.ClientID)) {
		t.Errorf("the login form lost the authorization request: return = %q", ret)
	}

	if resp := submitLogin(ctx, t, s.UserName, s.Password); resp.Status != http.StatusOK || !isConsentPage(ctx, t) {
		t.Fatalf("right password after a wrong one: status %d at %s, want the consent page", resp.Status, resp.URL)
	}
	cb.expectNothing(t)
}

// TestBrowserLoginThrottle: after 5 failures (the default limit) the form
// answers 429 with a message, even to the right password.
func TestBrowserLoginThrottle(t *testing.T) {
	s := startServer(t)
	ctx := newBrowser(t)

	browse(ctx, t, s.URL+"/login")
	for i := range 5 {
		resp := submitLogin(ctx, t, s.UserName, "wrong-password")
		if resp.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, resp.Status)
		}
	}
	resp := submitLogin(ctx, t, s.UserName, s.Password)
	if resp.Status != http.StatusTooManyRequests {
		t.Fatalf("after 5 failures: status %d, want 429", resp.Status)
	}
	if resp.Headers["Retry-After"] == nil {
		t.Errorf("429 without Retry-After; headers %v", resp.Headers)
	}
	if got := text(ctx, t, "[role=alert]"); !strings.Contains(got, "Too many failed sign-in attempts") {
		t.Errorf("alert = %q, want the throttling message", got)
	}
	if !isLoginPage(ctx, t) {
		t.Error("the throttled page has no login form")
	}
	screenshot(ctx, t, "login-throttled")
}

// TestBrowserConsentScreen checks what the consent page tells the person:
// where they will be sent, which app asks (marked unverified, as it
// registered itself), what it may do and for which server. It also saves
// screenshots of the login and consent pages.
func TestBrowserConsentScreen(t *testing.T) {
	s := startServer(t)
	const redirect = "https://mcp-client.example.com/oauth/callback"
	client := s.registerPublic(t, "Screenshot Client", redirect)
	ctx := newBrowser(t)

	browse(ctx, t, s.authorizeURL(client.ClientID, redirect, newState(), newPKCE().Challenge, ""))
	if got := text(ctx, t, ".context .host"); got != "mcp-client.example.com" {
		t.Errorf("login page shows the redirect host %q, want mcp-client.example.com", got)
	}
	screenshot(ctx, t, "login")

	submitLogin(ctx, t, s.UserName, s.Password)
	if !isConsentPage(ctx, t) {
		t.Fatal("no consent page after login")
	}
	for _, c := range []struct{ sel, want string }{
		{".app-name", "Screenshot Client"},
		{".destination-host", "mcp-client.example.com"},
		{".scopes .scope-text", "Search and read the documents you can see"},
		{".scopes code.scope-name", "docs:read"},
		{".note", "Name not verified"},
		{".details", s.Resource},
		{".details", "Signed in as"},
		{".details", s.UserName},
		{".details", client.ClientID},
	} {
		if got := text(ctx, t, c.sel); !strings.Contains(got, c.want) {
			t.Errorf("consent page %s = %q, want it to contain %q", c.sel, got, c.want)
		}
	}
	screenshot(ctx, t, "consent")
}

// TestBrowserRememberedConsent: the same client asking for the same scopes
// again goes straight back to the client; asking for more asks again.
func TestBrowserRememberedConsent(t *testing.T) {
	s := startServer(t, withScopes(
		ScopeConfig{Name: "docs:read", Description: "Read your documents"},
		ScopeConfig{Name: "docs:write", Description: "Change your documents"},
	))
	cb := newCallbackServer(t)
	client := s.registerPublic(t, "Remembering Client", cb.RedirectURI)
	if client.Scope != "docs:read docs:write" {
		t.Fatalf("registered scope = %q, want both configured scopes", client.Scope)
	}
	ctx := newBrowser(t)

	one, two, three, four := newState(), newState(), newState(), newState()

	// First time: login and consent.
	pk := newPKCE()
	browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, one, pk.Challenge, "docs:read"))
	submitLogin(ctx, t, s.UserName, s.Password)
	if !isConsentPage(ctx, t) {
		t.Fatal("first authorization: no consent page")
	}
	decide(ctx, t, "allow")
	checkCallback(t, s, cb.wait(ctx, t), one, "")

	// Same scopes: no consent page, straight to the client.
	pk = newPKCE()
	resp := browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, two, pk.Challenge, "docs:read"))
	if !strings.HasPrefix(resp.URL, cb.RedirectURI+"?") || isConsentPage(ctx, t) {
		t.Fatalf("second authorization for the same scope ended at %s (status %d), want the redirect URI without a consent page", resp.URL, resp.Status)
	}
	code := checkCallback(t, s, cb.wait(ctx, t), two, "")
	if tok := exchangeCode(t, s, client.ClientID, cb.RedirectURI, code, pk.Verifier); tok.Scope != "docs:read" {
		t.Errorf("remembered grant: scope %q, want docs:read", tok.Scope)
	}

	// More scopes: asked again, for the new one too.
	resp = browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, three, newPKCE().Challenge, "docs:read docs:write"))
	if !isConsentPage(ctx, t) {
		t.Fatalf("asking for more scopes ended at %s (status %d), want the consent page", resp.URL, resp.Status)
	}
	if got := text(ctx, t, ".scopes"); !strings.Contains(got, "Change your documents") || !strings.Contains(got, "Read your documents") {
		t.Errorf("consent page lists %q, want both scopes", got)
	}
	decide(ctx, t, "allow")
	checkCallback(t, s, cb.wait(ctx, t), three, "")

	// Now both are remembered.
	resp = browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, four, newPKCE().Challenge, "docs:write docs:read"))
	if !strings.HasPrefix(resp.URL, cb.RedirectURI+"?") {
		t.Fatalf("after allowing both scopes, asking again ended at %s, want the redirect URI", resp.URL)
	}
	checkCallback(t, s, cb.wait(ctx, t), four, "")
}

// attackerPage serves, on its own loopback origin, a page that submits a
// form with fields to target as soon as it is parsed, as a cross-site
// request forgery would.
func attackerPage(t testing.TB, target string, fields map[string]string) *httptest.Server {
	tmpl := template.Must(template.New("").Parse(`<!doctype html>
<title>A harmless page</title>
<form method="post" action="{{.Target}}">
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}</form>
<script>document.forms[0].submit()</script>
`))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		tmpl.Execute(w, struct {
			Target string
			Fields map[string]string
		}{target, fields})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// crossOriginPost opens the attacker page at pageURL and returns the
// response to the form it submits to target.
func crossOriginPost(ctx context.Context, t testing.TB, pageURL, target string) *network.Response {
	t.Helper()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	responses := chromedp.Events(lctx, network.ResponseReceived)
	browse(ctx, t, pageURL)
	for ev, err := range responses {
		if err != nil {
			t.Fatalf("waiting for the response to the forged POST to %s: %v", target, err)
		}
		if ev.Type == network.ResourceTypeDocument && ev.Response.URL == target {
			return ev.Response
		}
	}
	t.Fatal("unreachable")
	return nil
}

// TestBrowserCrossOriginFormPost: a page on another origin that makes the
// browser POST the login or the consent form gets 403 from
// http.CrossOriginProtection, both from the same site (127.0.0.1, another
// port) and from another site (localhost). The consent forgery even carries
// the genuine consent_id and the victim's session cookie.
func TestBrowserCrossOriginFormPost(t *testing.T) {
	s := startServer(t)
	cb := newCallbackServer(t)
	client := s.registerPublic(t, "CSRF Test Client", cb.RedirectURI)
	ctx := newBrowser(t)

	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run("login from "+host, func(t *testing.T) {
			evil := attackerPage(t, s.URL+"/login", map[string]string{
				"username": s.UserName, "password": s.Password, "return": "/account",
			})
			resp := crossOriginPost(ctx, t, strings.Replace(evil.URL, "127.0.0.1", host, 1)+"/", s.URL+"/login")
			if resp.Status != http.StatusForbidden {
				t.Errorf("forged login POST: status %d, want 403", resp.Status)
			}
			// The forged login did not sign the browser in.
			browse(ctx, t, s.URL+"/account")
			if !isLoginPage(ctx, t) {
				t.Error("after the forged login the account page is open")
			}
		})
	}

	// Sign in and stop at the consent page; the attacker then submits it.
	browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, newState(), newPKCE().Challenge, ""))
	submitLogin(ctx, t, s.UserName, s.Password)
	if !isConsentPage(ctx, t) {
		t.Fatal("no consent page after login")
	}
	consentID, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name=consent_id]`)))
	if err != nil || consentID == "" {
		t.Fatalf("consent_id: %q, %v", consentID, err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run("consent from "+host, func(t *testing.T) {
			evil := attackerPage(t, s.URL+"/consent", map[string]string{"consent_id": consentID, "decision": "allow"})
			resp := crossOriginPost(ctx, t, strings.Replace(evil.URL, "127.0.0.1", host, 1)+"/", s.URL+"/consent")
			if resp.Status != http.StatusForbidden {
				t.Errorf("forged consent POST: status %d, want 403", resp.Status)
			}
		})
	}
	cb.expectNothing(t)
	if _, err := s.Store.GetConsent(context.Background(), s.UserID, client.ClientID, s.Resource); err == nil {
		t.Error("the forged consent was recorded")
	}
}

// TestBrowserCrossOriginHeaders needs no browser: it sends the headers a
// browser sends with a cross-origin form POST, and also checks that a
// same-origin POST gets through to the handlers.
func TestBrowserCrossOriginHeaders(t *testing.T) {
	s := startServer(t)
	post := func(path string, h http.Header) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(url.Values{
			"username": {s.UserName}, "password": {"wrong"}, "consent_id": {"x"}, "decision": {"allow"},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/login", "/consent", "/logout", "/account/revoke"} {
		for name, h := range map[string]http.Header{
			"Sec-Fetch-Site: cross-site": {"Sec-Fetch-Site": {"cross-site"}},
			"Sec-Fetch-Site: same-site":  {"Sec-Fetch-Site": {"same-site"}},
			"Origin of another site":     {"Origin": {"http://evil.example"}},
			"Origin of another port":     {"Origin": {"http://127.0.0.1:1"}},
		} {
			if got := post(path, h); got != http.StatusForbidden {
				t.Errorf("POST %s with %s: status %d, want 403", path, name, got)
			}
		}
	}
	// Same origin reaches the handlers: a wrong password is 401, an unknown
	// consent_id 400.
	same := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {s.URL}}
	if got := post("/login", same); got != http.StatusUnauthorized {
		t.Errorf("same-origin POST /login with a wrong password: status %d, want 401", got)
	}
	if got := post("/consent", same); got != http.StatusBadRequest {
		t.Errorf("same-origin POST /consent without a session: status %d, want 400", got)
	}
}

// TestBrowserAuthorizeErrorPages: an unknown client and an unregistered
// redirect URI get an error page and are never redirected anywhere
// (RFC 6749 §4.1.2.1).
func TestBrowserAuthorizeErrorPages(t *testing.T) {
	s := startServer(t)
	cb := newCallbackServer(t)
	client := s.registerPublic(t, "Error Page Client", cb.RedirectURI)
	ctx := newBrowser(t)

	for _, tc := range []struct {
		name, clientID, redirect, want string
	}{
		{"unknown client", "no-such-client", cb.RedirectURI, "not registered here"},
		{"unregistered redirect path", client.ClientID, cb.URL + "/unregistered", "redirect_uri is not registered"},
		{"unregistered redirect host", client.ClientID, "https://attacker.example/callback", "redirect_uri is not registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := s.authorizeURL(tc.clientID, tc.redirect, newState(), newPKCE().Challenge, "")
			resp := browse(ctx, t, u)
			if resp.Status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.Status)
			}
			if resp.URL != u {
				t.Errorf("the browser ended at %s, want it to stay at the authorization request", resp.URL)
			}
			if got := text(ctx, t, "[role=alert]"); !strings.Contains(got, tc.want) {
				t.Errorf("error page says %q, want %q", got, tc.want)
			}
			if isLoginPage(ctx, t) || isConsentPage(ctx, t) {
				t.Error("the error page offers to sign in or to allow")
			}
			if tc.name == "unknown client" {
				screenshot(ctx, t, "error")
			}
		})
	}
	cb.expectNothing(t)
}

// TestBrowserOptionalState: with PKCE, state is optional (OAuth 2.1
// §4.1.1; authz/provider.go means to allow it), so a request without state,
// or with a short one, must still get a code, with the state echoed
// exactly as sent.
func TestBrowserOptionalState(t *testing.T) {
	s := startServer(t)
	cb := newCallbackServer(t)
	client := s.registerPublic(t, "Stateless Client", cb.RedirectURI)
	ctx := newBrowser(t)

	// Consent once with a normal state, so the cases below need no page.
	authorizeInBrowser(ctx, t, s, cb, s.authorizeURL(client.ClientID, cb.RedirectURI, newState(), newPKCE().Challenge, ""))

	for _, state := range []string{"", "abc"} {
		t.Run("state="+state, func(t *testing.T) {
			pk := newPKCE()
			browse(ctx, t, s.authorizeURL(client.ClientID, cb.RedirectURI, state, pk.Challenge, ""))
			got := cb.wait(ctx, t)
			if state == "" && got.Query().Has("state") {
				t.Errorf("callback carries a state the client never sent: %s", got)
			}
			code := checkCallback(t, s, got, state, "")
			exchangeCode(t, s, client.ClientID, cb.RedirectURI, code, pk.Verifier)
		})
	}
}

// TestBrowserDocumentSearch: in the browser, /docs sends a signed-out
// person to sign in and back to the same search; the results show titles
// and snippets as text, never as markup; the form searches again; a result
// opens the document's page.
func TestBrowserDocumentSearch(t *testing.T) {
	s := startServer(t)
	doc, err := s.Store.PutDocument(t.Context(), &store.Document{Title: "Zanzibar <plans>",
		Body: "The zanzibar rollout <b>starts</b> in May.", Format: "text", OwnerID: s.UserID, Visibility: store.VisibilityPrivate})
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	browse(ctx, t, s.URL+"/docs?q=zanzibar")
	if !isLoginPage(ctx, t) {
		t.Fatal("signed out, /docs did not ask to sign in")
	}
	if resp := submitLogin(ctx, t, s.UserName, s.Password); resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/docs?q=zanzibar") {
		t.Fatalf("after signing in: %d at %s, want the search", resp.Status, resp.URL)
	}
	if got := text(ctx, t, ".results"); !strings.Contains(got, "Zanzibar <plans>") || !strings.Contains(got, "rollout <b>starts</b>") {
		t.Errorf("results = %q, want the title and snippet as text", got)
	}
	if exists(ctx, t, ".results b") {
		t.Error("a snippet's markup was rendered")
	}
	screenshot(ctx, t, "document-search")

	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`input[name=q]`), "rollout")); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[role=search] button[type=submit]`)))
	if err != nil || resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/docs?q=rollout") {
		t.Fatalf("searching with the form: %v %+v", err, resp)
	}
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`.result-title a`)))
	if err != nil || resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/docs/"+doc.ID) {
		t.Fatalf("opening the result: %v %+v", err, resp)
	}
	if got := text(ctx, t, "h1"); got != "Zanzibar <plans>" {
		t.Errorf("document page heading = %q", got)
	}
}
