package authz

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauthz/mcpauthz/static"
	"github.com/mcpauthz/mcpauthz/templates"
)

// Pages renders the server's HTML pages from templates.FS and serves the
// assets in static.FS. All templates are parsed (and trial-rendered) by
// NewPages, so a broken template fails at startup rather than on a request.
// A Pages is safe for concurrent use.
type Pages struct {
	issuer string
	pages  map[string]*template.Template
	assets map[string]*staticAsset
	static http.Handler
	log    *slog.Logger
}

// LoginPage is the data of the sign-in page.
type LoginPage struct {
	ClientName   string // the app asking, when known (self-chosen, untrusted)
	ClientHost   string // the host that publishes a CIMD client's document (verified), else ""
	RedirectHost string // host of the app's redirect URI, when known
	Return       string // the authorize URL to go back to after signing in
	Username     string // pre-filled after a failed attempt
	Error        string // shown in a role="alert" box when set
}

// ConsentPage is the data of the consent page.
type ConsentPage struct {
	ClientName   string
	ClientID     string
	RedirectHost string // where the user is sent after deciding; shown prominently
	// RedirectIsApp says the redirect URI is a private-use scheme (an app
	// on the device, RFC 8252 §7.1), not a website: "com.example.app:"
	// must not read as the web site com.example.app.
	RedirectIsApp bool
	Resource      string // the MCP server URL the token is for
	ConsentID     string
	UserName      string
	// Unverified marks a name the client chose itself (dynamic registration).
	Unverified bool
	// Verified marks a client whose identity is the host its Client ID
	// Metadata Document was fetched from, ClientHost; it is shown as the
	// heading ("chatgpt.com wants access"), the name only beside it.
	Verified   bool
	ClientHost string
	// LogoURI is the client's logo, set only for a Verified client whose
	// logo_uri is https on ClientHost itself.
	LogoURI string
	Scopes  []ScopeView
}

// ScopeView is a scope in plain words.
type ScopeView struct {
	Name, Description string
}

// ErrorPage is the data of the error page. Status is written as the HTTP
// status (500 when it is not a 4xx or 5xx code) and shown subtly.
type ErrorPage struct {
	Title, Message string
	Status         int
	// ReturnURL, when set, is a link that takes the error back to the app
	// (an authorization error for a redirect URI not trusted enough to be
	// sent to without the person's click); ReturnHost names where it leads.
	ReturnURL  template.URL
	ReturnHost string
}

// HomePage is the data of the landing page.
type HomePage struct {
	Issuer      string
	MetadataURL string
	MCPURLs     []string
	UserName    string // empty when nobody is signed in
}

// AccountPage is the data of the connected-apps page.
type AccountPage struct {
	UserName string
	Apps     []AppView
	Notice   string // e.g. "Access for X revoked."; shown in a role="status" box
}

// DocumentPage is the data of a document page (/docs/{id}), the citation
// link of the MCP search and fetch tools.
type DocumentPage struct {
	Title, Body, Visibility string
	Owner                   string // the owner's user name, or "" for the server's own documents
	UpdatedAt               time.Time
	UserName                string // the signed-in viewer; empty on a resource server's public page
}

// DocumentSearchPage is the data of the document search page (/docs).
type DocumentSearchPage struct {
	Query    string
	Searched bool // a query was run (Results may still be empty)
	Results  []DocumentResult
	UserName string
}

// DocumentResult is one hit on the document search page.
type DocumentResult struct {
	URL                        string // the document's page, /docs/{id}
	Title, Snippet, Visibility string
	UpdatedAt                  time.Time
}

// AppView is one connected app on the account page.
type AppView struct {
	ClientID     string
	ClientName   string
	ClientHost   string   // the verified host of a metadata-document client
	RedirectHost string   // the hosts the person approved codes being sent to, comma-separated
	Resources    []string // the MCP servers it may use
	Scopes       []ScopeView
	GrantedAt    time.Time
}

// contentSecurityPolicy is sent with every page. It has no form-action
// directive on purpose: Chrome applies form-action to the redirects that
// follow a form POST, and the consent (and login) POSTs end in a 303 to the
// client's redirect URI, which may use a private-use scheme such as
// cursor://, which no form-action source list can allow.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' https:; base-uri 'none'; frame-ancestors 'none'"

// staticCSP is sent with every static asset: nothing an asset opened
// directly (e.g. the SVG) could run or load.
const staticCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

// pageNames are the page templates; each is parsed together with layout.html.
var pageNames = []string{"login", "consent", "error", "home", "account", "document", "docs"}

type staticAsset struct {
	body        []byte
	contentType string
	etag        string // quoted strong ETag
	version     string // short content hash used as ?v= cache buster
}

// NewPages parses every page template and indexes the static assets. issuer
// is shown in the page footer.
func NewPages(issuer string) (*Pages, error) {
	p := &Pages{
		issuer: issuer,
		pages:  make(map[string]*template.Template, len(pageNames)),
		assets: map[string]*staticAsset{},
	}
	if err := p.loadAssets(); err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"issuer":     func() string { return p.issuer },
		"asset":      p.assetURL,
		"statusText": http.StatusText,
		"date":       func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
		"datetime":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
	samples := map[string]any{
		"login":    LoginPage{},
		"consent":  ConsentPage{Verified: true, ClientHost: "app.example", LogoURI: "https://app.example/logo.png"},
		"error":    ErrorPage{Status: http.StatusInternalServerError},
		"home":     HomePage{},
		"account":  AccountPage{},
		"document": DocumentPage{},
		"docs":     DocumentSearchPage{Searched: true, Results: []DocumentResult{{URL: "/docs/id", Title: "t"}}},
	}
	for _, name := range pageNames {
		file := name + ".html"
		t, err := template.New(file).Funcs(funcs).ParseFS(templates.FS, "layout.html", file)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", file, err)
		}
		for _, def := range []string{"layout", "title", "width", "content"} {
			if t.Lookup(def) == nil {
				return nil, fmt.Errorf("parse %s: template %q is not defined", file, def)
			}
		}
		// Trial render so that execution errors (unknown fields, functions
		// failing) surface at startup.
		if err := t.ExecuteTemplate(io.Discard, "layout", samples[name]); err != nil {
			return nil, fmt.Errorf("render %s: %w", file, err)
		}
		p.pages[name] = t
	}
	p.static = http.HandlerFunc(p.serveStatic)
	return p, nil
}

// SetLogger sets where rendering failures are logged (slog.Default when
// never set). Call it before serving.
func (p *Pages) SetLogger(l *slog.Logger) { p.log = l }

func (p *Pages) logger() *slog.Logger {
	if p.log != nil {
		return p.log
	}
	return slog.Default()
}

func (p *Pages) loadAssets() error {
	return fs.WalkDir(static.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		body, err := fs.ReadFile(static.FS, name)
		if err != nil {
			return err
		}
		ct, ok := assetTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("static %s: unknown content type", name)
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])
		p.assets[name] = &staticAsset{
			body:        body,
			contentType: ct,
			etag:        `"` + h[:32] + `"`,
			version:     h[:12],
		}
		return nil
	})
}

var assetTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".webp": "image/webp",
}

// assetURL is the template function "asset": the URL of a static file with
// a content-hash query, so the file can be cached for a year.
func (p *Pages) assetURL(name string) (string, error) {
	a, ok := p.assets[name]
	if !ok {
		return "", fmt.Errorf("no static asset %q", name)
	}
	return "/static/" + name + "?v=" + a.version, nil
}

// Login renders the sign-in page with status (200 when 0).
func (p *Pages) Login(w http.ResponseWriter, status int, d LoginPage) {
	if status < 100 || status > 599 {
		status = http.StatusOK
	}
	p.render(w, status, "login", d)
}

// Consent renders the consent page.
func (p *Pages) Consent(w http.ResponseWriter, d ConsentPage) {
	p.render(w, http.StatusOK, "consent", d)
}

// Error renders the error page with d.Status as the HTTP status (500 when
// d.Status is not a 4xx or 5xx code).
func (p *Pages) Error(w http.ResponseWriter, d ErrorPage) {
	if d.Status < 400 || d.Status > 599 {
		d.Status = http.StatusInternalServerError
	}
	p.render(w, d.Status, "error", d)
}

// Home renders the landing page.
func (p *Pages) Home(w http.ResponseWriter, d HomePage) {
	p.render(w, http.StatusOK, "home", d)
}

// Account renders the connected-apps page.
func (p *Pages) Account(w http.ResponseWriter, d AccountPage) {
	p.render(w, http.StatusOK, "account", d)
}

// Document renders a document page.
func (p *Pages) Document(w http.ResponseWriter, d DocumentPage) {
	p.render(w, http.StatusOK, "document", d)
}

// DocumentSearch renders the document search page.
func (p *Pages) DocumentSearch(w http.ResponseWriter, d DocumentSearchPage) {
	p.render(w, http.StatusOK, "docs", d)
}

// setPageHeaders sets the headers every HTML page carries.
func setPageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// render executes the page into a buffer first so that a failure yields a
// clean 500 instead of half a page.
func (p *Pages) render(w http.ResponseWriter, status int, name string, data any) {
	h := w.Header()
	setPageHeaders(h)
	t := p.pages[name]
	var buf bytes.Buffer
	err := errors.New("page not parsed")
	if t != nil {
		err = t.ExecuteTemplate(&buf, "layout", data)
	}
	if err != nil {
		// Template errors name the template position, not the data.
		p.logger().Error("authz: rendering page failed", "page", name, "err", err)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Del("Content-Length")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "Internal Server Error\n")
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Static serves static.FS. Mount it at /static/ (it also accepts paths with
// the prefix already stripped). Versioned URLs (?v= matching the content, as
// the templates emit) are cached for a year; others for an hour.
func (p *Pages) Static() http.Handler { return p.static }

func (p *Pages) serveStatic(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", staticCSP)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	name = strings.TrimPrefix(name, "/")
	a, ok := p.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=3600")
	}
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
