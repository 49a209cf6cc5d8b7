package authz

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpauthz/mcpauthz/store"
)

// serveAccount lists the applications the signed-in person has allowed,
// each with a way to revoke it.
func (s *Server) serveAccount(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user := s.currentUser(ctx, s.session(r))
	if user == nil {
		s.pages.Login(w, http.StatusOK, LoginPage{Return: "/account"})
		return
	}
	consents, err := s.store.ListConsents(ctx, user.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "account: list consents", "error", err)
		s.pages.Error(w, ErrorPage{Title: "Something went wrong", Message: "Your connected apps could not be listed.", Status: http.StatusInternalServerError})
		return
	}
	page := AccountPage{UserName: user.Name, Notice: noticeText(r.URL.Query().Get("notice"))}
	// One entry per app (revoking is per app), with what the person
	// allowed it at every resource; consents come newest first.
	byClient := map[string]int{}
	var scopes, redirects [][]string
	for _, c := range consents {
		i, seen := byClient[c.ClientID]
		if !seen {
			i = len(page.Apps)
			byClient[c.ClientID] = i
			page.Apps = append(page.Apps, AppView{ClientID: c.ClientID, ClientName: c.ClientID, GrantedAt: c.UpdatedAt})
			scopes, redirects = append(scopes, nil), append(redirects, nil)
		}
		page.Apps[i].Resources = append(page.Apps[i].Resources, c.Resource)
		scopes[i] = append(scopes[i], c.Scopes...)
		redirects[i] = append(redirects[i], c.RedirectURIs...)
	}
	for i := range page.Apps {
		app := &page.Apps[i]
		app.Scopes = s.scopeViews(dedupe(scopes[i]))
		// Where the person approved codes being sent: every such host,
		// not just the client's first redirect URI's.
		app.RedirectHost = strings.Join(redirectHosts(redirects[i]), ", ")
		if cl, err := s.client(ctx, app.ClientID); err == nil {
			app.ClientName = clientDisplayName(cl)
			app.ClientHost = cimdHost(cl)
			if app.RedirectHost == "" {
				app.RedirectHost = strings.Join(redirectHosts(cl.RedirectURIs), ", ")
			}
		}
	}
	s.pages.Account(w, page)
}

// serveAccountRevoke withdraws a person's consent for one application and
// revokes every token that application holds for them, at once.
func (s *Server) serveAccountRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	user := s.currentUser(ctx, s.session(r))
	if user == nil || r.ParseForm() != nil {
		http.Redirect(w, r, "/login?return=%2Faccount", http.StatusSeeOther)
		return
	}
	clientID := r.PostForm.Get("client_id")
	err := s.store.RevokeConsent(ctx, user.ID, clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "account: revoke", "error", err)
		s.pages.Error(w, ErrorPage{Title: "Something went wrong", Message: "Access could not be revoked. Try again.", Status: http.StatusInternalServerError})
		return
	}
	s.log.InfoContext(ctx, "access revoked by user", "user", user.Name, "client_id", clientID)
	http.Redirect(w, r, "/account?notice="+url.QueryEscape("revoked"), http.StatusSeeOther)
}

func noticeText(code string) string {
	if code == "revoked" {
		return "Access revoked. The app can no longer use its tokens."
	}
	return ""
}

// serveHome is the short home page.
func (s *Server) serveHome(w http.ResponseWriter, r *http.Request) {
	hp := HomePage{Issuer: s.cfg.Issuer, MetadataURL: s.cfg.Issuer + "/.well-known/oauth-authorization-server", MCPURLs: s.cfg.Resources}
	if u := s.currentUser(r.Context(), s.session(r)); u != nil {
		hp.UserName = u.Name
	}
	s.pages.Home(w, hp)
}

// serveHealth answers that the process is alive.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveReady answers whether the database is reachable.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		s.log.ErrorContext(r.Context(), "readiness: database unreachable", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
