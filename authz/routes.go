package authz

import "net/http"

// routes is the single route table of the authorization server.
//
// The login, consent, logout and account forms are protected against
// cross-site request forgery by http.CrossOriginProtection (Sec-Fetch-Site
// and Origin checks) together with SameSite=Lax session cookies; the
// consent form also needs the one-time consent ID from the session. The
// machine-facing endpoints (metadata, register, token, revoke) are open to
// any origin without credentials (publicCORS), as browser MCP clients need.
func (s *Server) routes(mux *http.ServeMux) {
	csrf := http.NewCrossOriginProtection()
	form := func(h http.HandlerFunc) http.Handler { return csrf.Handler(h) }

	mux.Handle("/.well-known/oauth-authorization-server", publicCORS(methods(s.serveMetadata, http.MethodGet, http.MethodHead)))
	mux.Handle("/jwks", publicCORS(methods(s.serveJWKS, http.MethodGet, http.MethodHead)))
	mux.Handle("/token", publicCORS(methods(s.serveToken, http.MethodPost)))
	mux.Handle("/introspect", publicCORS(methods(s.serveIntrospect, http.MethodPost)))
	mux.Handle("/revoke", publicCORS(methods(s.serveRevoke, http.MethodPost)))
	if s.cfg.Registration.Mode != RegistrationOff {
		mux.Handle("/register", publicCORS(methods(s.limitRegistrations(s.reg.serveRegister), http.MethodPost)))
		mux.Handle("/register/{client_id}", publicCORS(methods(s.reg.serveClientConfig, http.MethodGet, http.MethodPut, http.MethodDelete)))
	}

	mux.HandleFunc("GET /authorize", s.serveAuthorize)
	mux.HandleFunc("GET /login", s.serveLoginPage)
	mux.Handle("POST /login", form(s.serveLogin))
	mux.Handle("POST /consent", form(s.serveConsent))
	mux.Handle("POST /logout", form(s.serveLogout))
	mux.HandleFunc("GET /account", s.serveAccount)
	mux.Handle("POST /account/revoke", form(s.serveAccountRevoke))
	mux.HandleFunc("GET /docs", s.serveDocumentSearch)
	mux.HandleFunc("GET /docs/{id}", s.serveDocument)

	mux.HandleFunc("GET /{$}", s.serveHome)
	mux.Handle("GET /static/", s.pages.Static())
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)
}
