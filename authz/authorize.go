package authz

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/mcpauthz/mcpauthz/store"
)

// authzRequest is an authorization request (RFC 6749 §4.1.1) that passed
// our checks: the client is known and the redirect URI is registered, so
// from here on errors may be sent to RedirectURI.
type authzRequest struct {
	Client      *store.Client
	RedirectURI string
	State       string
	Scopes      []string // requested, or the client's or the server's defaults
	Resource    string   // canonical RFC 8707 resource
	Prompt      []string
	DPoPJKT     string     // dpop_jkt (RFC 9449 §10): the code is bound to this key
	Query       url.Values // the request, normalised
}

// authorizeError is an authorization error; Redirect says whether it may be
// sent to the client's redirect URI or must be shown to the person. Decided
// says the person has seen and answered the consent screen, which names
// the redirect URI's host, so the error may be sent there at once.
type authorizeError struct {
	*Error
	Redirect bool
	Decided  bool
}

// fosite refuses a state shorter than minFositeState; stateStandIn takes
// the place of a shorter or missing one inside fosite only.
const (
	minFositeState = 8
	stateStandIn   = "mcpauthz-no-client-state"
)

var codeChallengeRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// checkAuthorize validates an authorization request before any login, so a
// person never logs in only to get an error. Unknown clients and
// unregistered redirect URIs are never redirected to (RFC 6749 §4.1.2.1).
// PKCE with S256 is required of every client (OAuth 2.1 §4.1.1); plain and
// a missing challenge are refused.
func (s *Server) checkAuthorize(ctx context.Context, q url.Values) (*authzRequest, *authorizeError) {
	page := func(format string, args ...any) *authorizeError {
		return &authorizeError{Error: newError(http.StatusBadRequest, codeInvalidRequest, format, args...)}
	}
	// A repeated client_id or redirect_uri leaves no redirect URI to
	// trust; other repeated parameters are redirected below.
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(q[k]) > 1 {
			return nil, page("The parameter %s was sent more than once.", k)
		}
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		return nil, page("The request has no client_id.")
	}
	client, err := s.client(ctx, clientID)
	if ce, ok := errors.AsType[*cimdError](err); ok {
		return nil, &authorizeError{Error: &Error{Code: codeInvalidClient, Status: http.StatusBadRequest, Description: ce.Description()}}
	} else if errors.Is(err, store.ErrNotFound) {
		return nil, &authorizeError{Error: newError(http.StatusBadRequest, codeInvalidClient, "This application is not registered here (unknown client_id). It may have been removed; the app should register again.")}
	} else if err != nil {
		return nil, &authorizeError{Error: &Error{Code: codeServerError, Status: http.StatusInternalServerError, Description: "The server could not look up the application.", Err: err}}
	}
	redirect := q.Get("redirect_uri")
	switch {
	case redirect == "" && len(client.RedirectURIs) == 1:
		redirect = client.RedirectURIs[0]
	case redirect == "":
		return nil, page("The request has no redirect_uri.")
	case !MatchRedirectURI(client.RedirectURIs, redirect):
		return nil, page("The redirect_uri is not registered for this application.")
	}

	ar := &authzRequest{Client: client, RedirectURI: redirect, Query: url.Values{}}
	if len(q["state"]) == 1 { // a repeated state is not echoed: which one?
		ar.State = q.Get("state")
	}
	// The query is kept as the client sent it: a redirect_uri it left out
	// (one is registered) stays out, so that the token request need not
	// carry one either (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3).
	for k, v := range q {
		ar.Query[k] = slices.Clone(v)
	}
	fail := func(status int, code, format string, args ...any) (*authzRequest, *authorizeError) {
		return ar, &authorizeError{Error: newError(status, code, format, args...), Redirect: true}
	}

	for _, k := range []string{"response_type", "state", "scope", "code_challenge", "code_challenge_method", "response_mode", "prompt"} {
		if len(q[k]) > 1 {
			return fail(http.StatusBadRequest, codeInvalidRequest, "The parameter %s was sent more than once.", k)
		}
	}
	// The whole request must fit in the session while the person signs in
	// and decides (maxPendingQuery): refused now, not after the password.
	if len(q.Encode()) > maxPendingQuery {
		return fail(http.StatusBadRequest, codeInvalidRequest, "The authorization request is too large.")
	}
	switch rt := q.Get("response_type"); {
	case rt == "":
		return fail(http.StatusBadRequest, codeInvalidRequest, "The request has no response_type; send response_type=code.")
	case rt != "code":
		return fail(http.StatusBadRequest, "unsupported_response_type", "Only response_type=code is supported.")
	case !slices.Contains(client.ResponseTypes, "code") || !slices.Contains(client.GrantTypes, "authorization_code"):
		return fail(http.StatusBadRequest, "unauthorized_client", "This application is not registered for the authorization code flow.")
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return fail(http.StatusBadRequest, codeInvalidRequest, "Only response_mode=query is supported.")
	}
	if jkt := q.Get("dpop_jkt"); q.Has("dpop_jkt") {
		if len(q["dpop_jkt"]) > 1 || !jktRE.MatchString(jkt) {
			return fail(http.StatusBadRequest, codeInvalidRequest, "dpop_jkt must be one base64url SHA-256 JWK thumbprint (RFC 9449 §10).")
		}
		ar.DPoPJKT = jkt
	}
	if q.Has("request") || q.Has("request_uri") {
		return fail(http.StatusBadRequest, "request_not_supported", "Request objects are not supported.")
	}
	switch method := q.Get("code_challenge_method"); {
	case q.Get("code_challenge") == "":
		return fail(http.StatusBadRequest, codeInvalidRequest, "PKCE is required: send code_challenge with code_challenge_method=S256.")
	case method != "S256":
		return fail(http.StatusBadRequest, codeInvalidRequest, "code_challenge_method must be S256; plain is not allowed.")
	case !codeChallengeRE.MatchString(q.Get("code_challenge")):
		return fail(http.StatusBadRequest, codeInvalidRequest, "code_challenge is malformed.")
	}
	resource, err := ResolveResource(q["resource"], s.cfg.Resources)
	if err != nil {
		var e *Error
		errors.As(err, &e)
		return fail(http.StatusBadRequest, e.Code, "%s", e.Description)
	}
	ar.Resource = resource
	// Keep the canonical resource in the normalised query: the consent
	// step checks the request again from it.
	ar.Query.Set("resource", resource)
	ar.Query.Set("audience", resource)

	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		scopes = client.Scopes
		if len(scopes) == 0 {
			scopes = s.cfg.DefaultScopes
		}
	}
	for _, sc := range scopes {
		if sc != "offline_access" && !slices.Contains(client.Scopes, sc) {
			return fail(http.StatusBadRequest, "invalid_scope", "The scope %q is not available to this application.", truncate(sc, 100))
		}
	}
	ar.Scopes = dedupe(scopes)
	ar.Query.Set("scope", strings.Join(ar.Scopes, " "))
	ar.Prompt = strings.Fields(q.Get("prompt"))
	if !s.pendingFits(ar) {
		return fail(http.StatusBadRequest, codeInvalidRequest, "The authorization request is too large.")
	}
	return ar, nil
}

// client returns the client with this client_id: a stored one or, for a
// client_id URL, the one its Client ID Metadata Document describes. An
// unknown client is store.ErrNotFound; a client_id URL that cannot be used
// is a *cimdError saying why. The pages (authorization, consent, sign-in,
// account) look clients up only through here. The client must not be
// modified.
func (s *Server) client(ctx context.Context, id string) (*store.Client, error) {
	return s.storage.lookupClient(ctx, id)
}

// fositeAuthorize runs fosite's own validation of the normalised request
// and returns its AuthorizeRequester.
func (s *Server) fositeAuthorize(r *http.Request, ar *authzRequest) (fosite.AuthorizeRequester, error) {
	r2 := r.Clone(withApprovedRedirect(r.Context(), ar.Client.ID, ar.RedirectURI))
	r2.Method = http.MethodGet
	q := ar.Query
	if len(ar.State) < minFositeState {
		// fosite insists on 8 characters of state; OAuth 2.1 §4.1.1 makes
		// state optional with PKCE. fosite sees a placeholder and issueCode
		// puts the client's own value (or none) back.
		q = cloneValues(q)
		q.Set("state", stateStandIn)
	}
	r2.URL.RawQuery = q.Encode()
	r2.Form, r2.PostForm, r2.Body = nil, nil, http.NoBody
	r2.Header.Del("Content-Type")
	return s.provider.NewAuthorizeRequest(r2.Context(), r2)
}

// serveAuthorize is the authorization endpoint (RFC 6749 §3.1, OAuth 2.1
// §4.1.1): check the request, then log the person in, ask for consent
// unless it was given before, and issue the code.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ar, aerr := s.checkAuthorize(r.Context(), q)
	if aerr != nil {
		s.authorizeFailed(w, r, ar, aerr)
		return
	}
	sess := s.session(r)
	user := s.currentUser(r.Context(), sess)
	if user == nil || slices.Contains(ar.Prompt, "login") {
		if slices.Contains(ar.Prompt, "none") {
			s.authorizeFailed(w, r, ar, redirectErr("login_required", "The user is not signed in."))
			return
		}
		// After signing in, come back without prompt=login.
		back := cloneValues(q)
		if p := slices.DeleteFunc(slices.Clone(ar.Prompt), func(p string) bool { return p == "login" }); len(p) > 0 {
			back.Set("prompt", strings.Join(p, " "))
		} else {
			back.Del("prompt")
		}
		s.pages.Login(w, http.StatusOK, LoginPage{
			ClientName:   clientName(ar.Client),
			ClientHost:   cimdHost(ar.Client),
			RedirectHost: redirectHost(ar.RedirectURI),
			Return:       "/authorize?" + back.Encode(),
		})
		return
	}
	far, err := s.fositeAuthorize(r, ar)
	if err != nil {
		s.authorizeFailed(w, r, ar, fositeAuthorizeErr(err))
		return
	}
	if !slices.Contains(ar.Prompt, "consent") && s.hasConsent(r.Context(), user.ID, ar) {
		s.issueCode(w, r, ar, far, user)
		return
	}
	if slices.Contains(ar.Prompt, "none") {
		s.authorizeFailed(w, r, ar, redirectErr("consent_required", "The user has not yet approved this application."))
		return
	}
	s.askConsent(w, r, sess, ar, user)
}

// issueCode grants the request (far, fosite's view of ar) and redirects to
// the client with the code, its state and our issuer (RFC 9207).
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar *authzRequest, far fosite.AuthorizeRequester, user *store.User) {
	ctx := r.Context()
	for _, sc := range ar.Scopes {
		far.GrantScope(sc)
	}
	far.GrantAudience(ar.Resource)
	sess := s.newSession(user.ID, user.Name)
	if ar.DPoPJKT != "" {
		setSessionJKT(sess, ar.DPoPJKT)
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, far, sess)
	if err != nil {
		s.authorizeFailed(w, r, ar, fositeAuthorizeErr(err))
		return
	}
	if ar.State == "" {
		resp.GetParameters().Del("state")
	} else {
		resp.GetParameters().Set("state", ar.State)
	}
	resp.AddParameter("iss", s.cfg.Issuer)
	s.log.InfoContext(ctx, "authorization code issued", "client_id", ar.Client.ID, "user", user.Name, "scope", strings.Join(ar.Scopes, " "), "resource", ar.Resource)
	s.provider.WriteAuthorizeResponse(ctx, w, far, resp)
}

// authorizeFailed answers an authorization error: to the client's redirect
// URI with error, error_description, state and iss (RFC 6749 §4.1.2.1,
// RFC 9207) when that is safe, and as an error page otherwise.
//
// A registered redirect URI is not enough to be sent to automatically:
// anyone may register one (dynamic registration, metadata documents), and a
// server that redirects every erroneous request there is an open redirector
// on its own trusted domain (RFC 9700 §4.11.2: redirect automatically only
// to a redirect URI the server trusts). Trusted are the redirect URIs of
// clients the operator created, those the signed-in person approved for
// this client before, and any once the person has answered the consent
// screen for this request. Otherwise the person gets an error page with a
// link that carries the same error to the app.
func (s *Server) authorizeFailed(w http.ResponseWriter, r *http.Request, ar *authzRequest, e *authorizeError) {
	if e.Err != nil || e.Status >= 500 {
		s.log.ErrorContext(r.Context(), "authorization request failed", "error", e.Error, "cause", e.Err)
	} else {
		s.log.DebugContext(r.Context(), "authorization request refused", "error", e.Error)
	}
	if !e.Redirect || ar == nil {
		status := e.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		s.pages.Error(w, ErrorPage{Title: "This sign-in request cannot continue", Message: e.Description, Status: status})
		return
	}
	u, err := url.Parse(ar.RedirectURI)
	if err != nil {
		s.pages.Error(w, ErrorPage{Title: "This sign-in request cannot continue", Message: "The redirect URI is malformed.", Status: http.StatusBadRequest})
		return
	}
	v := u.Query()
	v.Set("error", e.Code)
	if e.Description != "" {
		v.Set("error_description", wireDescription(e.Description))
	}
	if ar.State != "" {
		v.Set("state", ar.State)
	}
	v.Set("iss", s.cfg.Issuer)
	u.RawQuery = v.Encode()
	u.Fragment = ""
	if !e.Decided && !s.redirectTrusted(r, ar) {
		status := e.Status
		if status < 400 {
			status = http.StatusBadRequest
		}
		s.pages.Error(w, ErrorPage{
			Title:   "This sign-in request cannot continue",
			Message: clientDisplayName(ar.Client) + " sent a request this server cannot accept: " + e.Description,
			Status:  status,
			// The URI is a registered redirect URI (no script or data
			// scheme: MatchRedirectURI) with our parameters added; it may
			// be a private-use scheme (cursor://...), which html/template
			// would otherwise blank out.
			ReturnURL:  template.URL(u.String()),
			ReturnHost: redirectHost(ar.RedirectURI),
		})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusSeeOther)
}

// redirectTrusted reports whether an error for ar may be sent to its
// redirect URI without the person's click (see authorizeFailed): the client
// was created by the operator, or the signed-in person approved this
// redirect URI for this client before.
func (s *Server) redirectTrusted(r *http.Request, ar *authzRequest) bool {
	if ar.Client.Source == ClientSourceCLI {
		return true
	}
	user := s.currentUser(r.Context(), s.session(r))
	if user == nil {
		return false
	}
	consents, err := s.store.ListConsents(r.Context(), user.ID)
	if err != nil {
		return false
	}
	for _, c := range consents { // at any resource: the error may come before the resource is known
		if c.ClientID == ar.Client.ID && slices.Contains(c.RedirectURIs, consentRedirect(ar.RedirectURI)) {
			return true
		}
	}
	return false
}

func redirectErr(code, description string) *authorizeError {
	return &authorizeError{Error: newError(http.StatusBadRequest, code, "%s", description), Redirect: true}
}

// fositeAuthorizeErr turns an error from fosite's authorize handling into a
// redirectable error with fosite's wire code.
func fositeAuthorizeErr(err error) *authorizeError {
	rfc := fosite.ErrorToRFC6749Error(err)
	e := &Error{Code: rfc.ErrorField, Description: rfc.GetDescription(), Status: rfc.CodeField}
	if rfc.CodeField >= 500 {
		e.Err = err
		e.Description = "The server could not complete the request."
	}
	return &authorizeError{Error: e, Redirect: true}
}

// hasConsent reports whether the user already allowed this client every
// requested scope for this resource, with codes sent to this redirect URI.
// The consent screen names where the app sends the person back; a client
// with several redirect URIs (or new ones, after an RFC 7592 update) must
// not have a code sent silently to one the person never saw.
func (s *Server) hasConsent(ctx context.Context, userID string, ar *authzRequest) bool {
	c, err := s.store.GetConsent(ctx, userID, ar.Client.ID, ar.Resource)
	if err != nil {
		return false
	}
	if !slices.Contains(c.RedirectURIs, consentRedirect(ar.RedirectURI)) {
		return false
	}
	for _, sc := range ar.Scopes {
		if sc != "offline_access" && !slices.Contains(c.Scopes, sc) {
			return false
		}
	}
	return true
}

// consentRedirect is the form in which a consent remembers a redirect URI:
// the URI itself, or for a loopback redirect the URI without its port, which
// a native app picks anew each time (RFC 8252 §7.3).
func consentRedirect(uri string) string {
	if key, ok := loopbackKey(uri); ok {
		return key
	}
	return uri
}

// clientName is the name a client gave itself, or "" if it gave none (a
// client registered without client_name is stored as unnamedClientName,
// which is ours, not the app's).
func clientName(c *store.Client) string {
	if c.Name == unnamedClientName {
		return ""
	}
	return c.Name
}

// clientDisplayName is clientName, or words saying the app has no name.
func clientDisplayName(c *store.Client) string {
	if n := clientName(c); n != "" {
		return n
	}
	return "An unnamed application"
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
