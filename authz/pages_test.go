package authz

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

const pagesTestIssuer = "https://auth.example.com"

func newTestPages(t *testing.T) *Pages {
	t.Helper()
	p, err := NewPages(pagesTestIssuer)
	if err != nil {
		t.Fatalf("NewPages: %v", err)
	}
	return p
}

const evilName = `<script>alert(1)</script>`

// renderAllPages renders every page with representative data, keyed by name.
func renderAllPages(t *testing.T, p *Pages, name string) map[string]*httptest.ResponseRecorder {
	t.Helper()
	out := map[string]*httptest.ResponseRecorder{}
	rec := func(n string, f func(w http.ResponseWriter)) {
		w := httptest.NewRecorder()
		f(w)
		out[n] = w
	}
	scopes := []ScopeView{{Name: "docs:read", Description: "Search and read the documents you can see"}}
	rec("login", func(w http.ResponseWriter) {
		p.Login(w, http.StatusOK, LoginPage{ClientName: name, RedirectHost: "app.example", Return: "/authorize?client_id=x&state=" + name, Username: name, Error: name})
	})
	rec("consent", func(w http.ResponseWriter) {
		p.Consent(w, ConsentPage{ClientName: name, ClientID: "client-" + name, RedirectHost: "app.example", Resource: pagesTestIssuer + "/mcp", ConsentID: "cid-" + name, UserName: name, Unverified: true, Scopes: append(scopes, ScopeView{Name: name, Description: name})})
	})
	rec("error", func(w http.ResponseWriter) {
		p.Error(w, ErrorPage{Title: name, Message: name, Status: http.StatusBadRequest})
	})
	rec("home", func(w http.ResponseWriter) {
		p.Home(w, HomePage{Issuer: pagesTestIssuer, MetadataURL: pagesTestIssuer + "/.well-known/oauth-authorization-server", MCPURLs: []string{pagesTestIssuer + "/mcp"}, UserName: name})
	})
	rec("account", func(w http.ResponseWriter) {
		p.Account(w, AccountPage{UserName: name, Notice: name, Apps: []AppView{{ClientID: "c1", ClientName: name, RedirectHost: "app.example", Scopes: scopes, GrantedAt: time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)}}})
	})
	return out
}

func TestPagesRenderWithHeaders(t *testing.T) {
	p := newTestPages(t)
	titles := map[string]string{
		"login":   "<title>Sign in — mcpauthz</title>",
		"consent": "<title>Allow access — mcpauthz</title>",
		"error":   "<title>Alice — mcpauthz</title>",
		"home":    "<title>Connect your app — mcpauthz</title>",
		"account": "<title>Connected apps — mcpauthz</title>",
	}
	wantStatus := map[string]int{"error": http.StatusBadRequest}
	for name, w := range renderAllPages(t, p, "Alice") {
		t.Run(name, func(t *testing.T) {
			want := http.StatusOK
			if s, ok := wantStatus[name]; ok {
				want = s
			}
			if w.Code != want {
				t.Errorf("status = %d, want %d", w.Code, want)
			}
			h := w.Header()
			for k, v := range map[string]string{
				"Content-Type":           "text/html; charset=utf-8",
				"Cache-Control":          "no-store",
				"X-Frame-Options":        "DENY",
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
			} {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			csp := h.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "style-src 'self'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %q", csp, d)
				}
			}
			if strings.Contains(csp, "form-action") {
				t.Errorf("CSP %q has form-action, which would block redirects to custom-scheme redirect URIs", csp)
			}
			body := w.Body.String()
			if !strings.Contains(body, titles[name]) {
				t.Errorf("body lacks %q", titles[name])
			}
			if !strings.Contains(body, pagesTestIssuer) {
				t.Errorf("body lacks the issuer")
			}
			if !strings.Contains(body, `<meta name="viewport"`) || !strings.Contains(body, "/static/style.css?v=") {
				t.Errorf("body lacks viewport meta or stylesheet")
			}
			if strings.Contains(strings.ToLower(body), "<script") {
				t.Errorf("page has a script element")
			}
			checkPageAccessible(t, body)
		})
	}
}

func TestPagesEscapeValues(t *testing.T) {
	p := newTestPages(t)
	for name, w := range renderAllPages(t, p, evilName) {
		body := w.Body.String()
		if strings.Contains(body, evilName) || strings.Contains(strings.ToLower(body), "<script") {
			t.Errorf("%s: raw script in body:\n%s", name, body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: escaped value missing", name)
		}
	}
}

// checkPageAccessible parses the page and checks the structural rules the
// templates promise: one <main>, heading levels without gaps starting at
// h1, unique ids, and a <label for> for every visible form control.
func checkPageAccessible(t *testing.T, body string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	var (
		mains, autofocus int
		lastLevel        int
		ids              = map[string]int{}
		labels           = map[string]bool{}
		controls         []string
	)
	attr := func(n *html.Node, k string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val, true
			}
		}
		return "", false
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if id, ok := attr(n, "id"); ok {
				ids[id]++
			}
			if _, ok := attr(n, "autofocus"); ok {
				autofocus++
			}
			switch n.Data {
			case "main":
				mains++
			case "h1", "h2", "h3", "h4", "h5", "h6":
				level := int(n.Data[1] - '0')
				if lastLevel == 0 && level != 1 {
					t.Errorf("first heading is %s, want h1", n.Data)
				}
				if level > lastLevel+1 {
					t.Errorf("heading jumps from h%d to %s", lastLevel, n.Data)
				}
				lastLevel = level
			case "label":
				if f, ok := attr(n, "for"); ok {
					labels[f] = true
				}
			case "input", "select", "textarea":
				if typ, _ := attr(n, "type"); typ == "hidden" {
					break
				}
				id, _ := attr(n, "id")
				controls = append(controls, id)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if mains != 1 {
		t.Errorf("%d <main> elements, want 1", mains)
	}
	if autofocus > 1 {
		t.Errorf("%d autofocus attributes, want at most 1", autofocus)
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q used %d times", id, n)
		}
	}
	for _, id := range controls {
		if id == "" || !labels[id] {
			t.Errorf("form control %q has no <label for>", id)
		}
	}
}

func TestLoginPage(t *testing.T) {
	p := newTestPages(t)
	w := httptest.NewRecorder()
	p.Login(w, 0, LoginPage{ClientName: "Cursor", RedirectHost: "cursor.sh", Return: "/authorize?a=1&b=2"})
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Errorf("status %d", w.Code)
	}
	for _, s := range []string{
		`action="/login"`, `method="post"`,
		`name="username"`, `autocomplete="username"`,
		`name="password"`, `type="password"`, `autocomplete="current-password"`,
		`<input type="hidden" name="return" value="/authorize?a=1&amp;b=2">`,
		"Sign in to continue to", "Cursor", "cursor.sh",
		`>Sign in</button>`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("login page lacks %q", s)
		}
	}
	if strings.Contains(body, `role="alert"`) {
		t.Error("alert shown without an error")
	}
	// Empty username: focus the username field.
	if !pagesMatch(body, `id="username"[^>]*autofocus`) {
		t.Error("username field not autofocused")
	}

	w = httptest.NewRecorder()
	p.Login(w, http.StatusUnauthorized, LoginPage{Username: "alice", Error: "Wrong user name or password."})
	body = w.Body.String()
	if w.Code != http.StatusUnauthorized {
		t.Errorf("status %d", w.Code)
	}
	if !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "Wrong user name or password.") {
		t.Error("error not shown in an alert")
	}
	if !strings.Contains(body, `value="alice"`) {
		t.Error("username not kept")
	}
	if !pagesMatch(body, `id="password"[^>]*autofocus`) {
		t.Error("password field not autofocused when the username is filled in")
	}
	if strings.Contains(body, "Sign in to continue to") {
		t.Error("client context shown without a client")
	}
}

func TestConsentPage(t *testing.T) {
	p := newTestPages(t)
	w := httptest.NewRecorder()
	p.Consent(w, ConsentPage{
		ClientName: "Claude", ClientID: "abc123", RedirectHost: "claude.ai",
		Resource: pagesTestIssuer + "/mcp", ConsentID: "consent-1", UserName: "alice", Unverified: true,
		Scopes: []ScopeView{{Name: "docs:read", Description: "Search and read the documents you can see"}},
	})
	body := w.Body.String()
	for _, s := range []string{
		`action="/consent"`, `method="post"`,
		`<input type="hidden" name="consent_id" value="consent-1">`,
		"Claude</span> wants access",
		"After you decide you will be sent to", "claude.ai",
		"chosen by the app itself",
		"Search and read the documents you can see", "docs:read",
		pagesTestIssuer + "/mcp", "alice", "abc123",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("consent page lacks %q", s)
		}
	}
	deny := strings.Index(body, `name="decision" value="deny"`)
	allow := strings.Index(body, `name="decision" value="allow"`)
	if deny < 0 || allow < 0 {
		t.Fatal("decision buttons missing")
	}
	if deny > allow {
		t.Error("Deny must come before Allow in DOM order (safe default button, consistent focus order)")
	}
	if strings.Contains(body, "autofocus") {
		t.Error("consent page must not autofocus a decision button")
	}

	w = httptest.NewRecorder()
	p.Consent(w, ConsentPage{ClientName: "Known", RedirectHost: "x.example", ConsentID: "c"})
	if strings.Contains(w.Body.String(), "chosen by the app itself") {
		t.Error("unverified note shown for a verified client")
	}
}

func TestErrorPage(t *testing.T) {
	p := newTestPages(t)
	for _, tc := range []struct {
		in, want int
	}{{0, 500}, {200, 500}, {302, 500}, {404, 404}, {429, 429}, {503, 503}, {1000, 500}} {
		w := httptest.NewRecorder()
		p.Error(w, ErrorPage{Title: "Oops", Message: "It broke.", Status: tc.in})
		if w.Code != tc.want {
			t.Errorf("Status %d: wrote %d, want %d", tc.in, w.Code, tc.want)
		}
		body := w.Body.String()
		if !strings.Contains(body, "Oops") || !strings.Contains(body, "It broke.") {
			t.Errorf("Status %d: title or message missing", tc.in)
		}
		if want := "Error " + strconv.Itoa(tc.want) + " · " + http.StatusText(tc.want); !strings.Contains(body, want) {
			t.Errorf("Status %d: %q not shown", tc.in, want)
		}
	}
	// Untitled error still renders something sensible.
	w := httptest.NewRecorder()
	p.Error(w, ErrorPage{Status: 400})
	if !strings.Contains(w.Body.String(), "Something went wrong") {
		t.Error("default title missing")
	}
}

func TestHomePage(t *testing.T) {
	p := newTestPages(t)
	w := httptest.NewRecorder()
	meta := pagesTestIssuer + "/.well-known/oauth-authorization-server"
	p.Home(w, HomePage{Issuer: pagesTestIssuer, MetadataURL: meta, MCPURLs: []string{pagesTestIssuer + "/mcp", pagesTestIssuer + "/mcp/other"}})
	body := w.Body.String()
	for _, s := range []string{
		"OAuth 2.1 authorization server", pagesTestIssuer + "/mcp", pagesTestIssuer + "/mcp/other", meta,
		`href="/account"`, "ChatGPT", "Claude", "Cursor", "VS Code", "MCP Inspector",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("home page lacks %q", s)
		}
	}
}

func TestAccountPage(t *testing.T) {
	p := newTestPages(t)
	w := httptest.NewRecorder()
	p.Account(w, AccountPage{UserName: "alice", Notice: "Access for Cursor revoked.", Apps: []AppView{
		{ClientID: "c1", ClientName: "Cursor", RedirectHost: "cursor.sh", Scopes: []ScopeView{{Name: "docs:read", Description: "Read docs"}}, GrantedAt: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)},
		{ClientID: "c2", RedirectHost: "127.0.0.1"},
	}})
	body := w.Body.String()
	for _, s := range []string{
		"Connected apps", "alice", `role="status"`, "Access for Cursor revoked.",
		`action="/account/revoke"`, `<input type="hidden" name="client_id" value="c1">`, `<input type="hidden" name="client_id" value="c2">`,
		"Cursor", "cursor.sh", "Read docs", `datetime="2026-01-02T03:04:00Z"`, "2 January 2026",
		`action="/logout"`, ">Sign out</button>",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("account page lacks %q", s)
		}
	}
	if strings.Contains(body, "No connected apps") {
		t.Error("empty state shown with apps")
	}

	w = httptest.NewRecorder()
	p.Account(w, AccountPage{UserName: "alice"})
	body = w.Body.String()
	if !strings.Contains(body, "No connected apps") {
		t.Error("empty state missing")
	}
	if strings.Contains(body, `role="status"`) {
		t.Error("notice box shown without a notice")
	}
}

func TestRenderFailureIsPlain500(t *testing.T) {
	p := newTestPages(t)
	w := httptest.NewRecorder()
	p.render(w, http.StatusOK, "no-such-page", nil)
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	if w.Header().Get("Content-Security-Policy") == "" {
		t.Error("no CSP on the failure response")
	}
}

func TestStatic(t *testing.T) {
	p := newTestPages(t)
	h := p.Static()
	get := func(method, target string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	styleURL, err := p.assetURL("style.css")
	if err != nil {
		t.Fatal(err)
	}
	w := get("GET", styleURL)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d", styleURL, w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("versioned Cache-Control %q", cc)
	}
	if !bytes.Contains(w.Body.Bytes(), []byte(":focus-visible")) {
		t.Error("stylesheet body unexpected")
	}
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if w := get("GET", styleURL, "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", w.Code)
	}
	if w := get("GET", "/static/style.css"); w.Code != 200 || strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("unversioned GET: %d, Cache-Control %q", w.Code, w.Header().Get("Cache-Control"))
	}
	if w := get("GET", "/static/favicon.svg"); w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Errorf("favicon: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w := get("HEAD", "/static/style.css"); w.Code != 200 {
		t.Errorf("HEAD: %d", w.Code)
	}
	for _, target := range []string{"/static/", "/static/static.go", "/static/../go.mod", "/static/nope.css", "/static/style.css/"} {
		if w := get("GET", target); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, w.Code)
		}
	}
	if w := get("POST", "/static/style.css"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", w.Code)
	}
	// Behind http.StripPrefix too.
	sp := http.StripPrefix("/static/", h)
	r := httptest.NewRequest("GET", "/static/style.css", nil)
	w = httptest.NewRecorder()
	sp.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("behind StripPrefix: %d", w.Code)
	}
}

func pagesMatch(s, expr string) bool { return regexp.MustCompile(expr).MatchString(s) }
