package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/mcpauthz/mcpauthz/store"
)

// consentTTL is how long a consent screen stays answerable.
const consentTTL = 10 * time.Minute

// maxPendingQuery bounds the authorization request kept in the session
// cookie while the consent screen is shown: a cheap early refusal of what
// can never fit. What decides is the cookie itself: browsers keep cookies
// of up to 4096 bytes, the session's codec refuses longer ones, and after
// encryption and two base64 encodings about 2 KB of query fit.
const maxPendingQuery = 4096

// pendingFits reports whether the consent screen for ar can be kept in the
// session cookie (see askConsent): the values a signed-in person's session
// holds then, with user IDs of a generous length, encoded by the session's
// own codecs. checkAuthorize refuses a request that does not fit before the
// sign-in form, not after the password.
func (s *Server) pendingFits(ar *authzRequest) bool {
	sess := sessions.NewSession(s.sessions, sessionName)
	sess.Values = map[any]any{
		sessUserID:     strings.Repeat("u", 64),
		sessAuthTime:   s.now().Unix(),
		sessGeneration: int64(1) << 40,
	}
	setPendingConsents(sess, []pendingConsent{{ID: randomToken(24), Query: ar.Query.Encode(), Exp: s.now().Add(consentTTL).Unix()}})
	_, err := securecookie.EncodeMulti(sessionName, sess.Values, s.sessions.Codecs...)
	return !cookieTooLong(err)
}

// cookieTooLong reports whether err is the session codec's refusal of an
// encoded value longer than a cookie may be. securecookie formats that
// error with %s, dropping its type, so its text is all there is;
// TestCookieTooLong pins it against the library.
func cookieTooLong(err error) bool {
	return err != nil && strings.Contains(err.Error(), "the value is too long")
}

// askConsent shows the consent screen and remembers, in the session, which
// request it is for under a one-time consent ID: a POST must name that ID,
// so a forged or replayed consent form does nothing. Screens already open
// in other tabs stay answerable (up to maxPendingConsents, and as many as
// the cookie holds: the oldest make room).
func (s *Server) askConsent(w http.ResponseWriter, r *http.Request, sess *sessions.Session, ar *authzRequest, user *store.User) {
	query := ar.Query.Encode()
	if len(query) > maxPendingQuery {
		s.authorizeFailed(w, r, ar, redirectErr(codeInvalidRequest, "The authorization request is too large."))
		return
	}
	id := randomToken(24)
	list := append(pendingConsents(sess, s.now()), pendingConsent{ID: id, Query: query, Exp: s.now().Add(consentTTL).Unix()})
	if len(list) > maxPendingConsents {
		list = list[len(list)-maxPendingConsents:]
	}
	for {
		setPendingConsents(sess, list)
		err := sess.Save(r, w)
		if err == nil {
			break
		}
		if cookieTooLong(err) && len(list) > 1 {
			list = list[1:] // the oldest screen makes room
			continue
		}
		if cookieTooLong(err) {
			s.authorizeFailed(w, r, ar, redirectErr(codeInvalidRequest, "The authorization request is too large."))
			return
		}
		s.authorizeFailed(w, r, ar, &authorizeError{Error: &Error{Code: codeServerError, Status: 500, Description: "The server could not save your session.", Err: err}})
		return
	}
	s.pages.Consent(w, ConsentPage{
		ClientName:    clientName(ar.Client),
		ClientID:      ar.Client.ID,
		RedirectHost:  redirectHost(ar.RedirectURI),
		RedirectIsApp: !isWebRedirect(ar.RedirectURI),
		Resource:      ar.Resource,
		ConsentID:     id,
		UserName:      user.Name,
		Unverified:    ar.Client.Source != ClientSourceCLI && ar.Client.Source != ClientSourceCIMD,
		ClientHost:    cimdHost(ar.Client),
		Verified:      ar.Client.Source == ClientSourceCIMD,
		LogoURI:       cimdLogo(ar.Client),
		Scopes:        s.scopeViews(ar.Scopes),
	})
}

// serveConsent takes the person's decision. The pending request is consumed
// whatever the outcome, checked again in full, and then either denied
// (access_denied to the client) or granted and remembered.
func (s *Server) serveConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.pages.Error(w, ErrorPage{Title: "Bad request", Message: "The form could not be read.", Status: http.StatusBadRequest})
		return
	}
	sess := s.session(r)
	user := s.currentUser(ctx, sess)
	pending, rest, ok := takePendingConsent(pendingConsents(sess, s.now()), r.PostForm.Get("consent_id"))
	if user == nil || !ok {
		s.pages.Error(w, ErrorPage{Title: "This approval has expired", Message: "Start again from the application that sent you here.", Status: http.StatusBadRequest})
		return
	}
	wantID, query, exp := pending.ID, pending.Query, pending.Exp
	setPendingConsents(sess, rest)
	if err := sess.Save(r, w); err != nil {
		s.log.ErrorContext(ctx, "consent: save session", "error", err)
	}
	// One-time across copies of the cookie and across instances: the ID
	// is spent in the store, so a copy of the cookie taken before this
	// POST cannot answer the same screen again.
	idHash := sha256.Sum256([]byte(wantID))
	switch err := s.store.UseNonce(ctx, "consent:"+hex.EncodeToString(idHash[:]), time.Unix(exp, 0)); {
	case errors.Is(err, store.ErrReplay):
		s.log.WarnContext(ctx, "consent: a consent ID was used again", "user", user.Name)
		s.pages.Error(w, ErrorPage{Title: "This approval has expired", Message: "Start again from the application that sent you here.", Status: http.StatusBadRequest})
		return
	case err != nil:
		s.log.ErrorContext(ctx, "consent: spend the consent ID", "error", err)
		s.pages.Error(w, ErrorPage{Title: "Approval failed", Message: "The server could not record your decision. Start again from the application that sent you here.", Status: http.StatusInternalServerError})
		return
	}

	q, err := url.ParseQuery(query)
	if err != nil {
		s.pages.Error(w, ErrorPage{Title: "This approval has expired", Message: "Start again from the application that sent you here.", Status: http.StatusBadRequest})
		return
	}
	ar, aerr := s.checkAuthorize(ctx, q)
	if aerr != nil {
		s.consentFailed(w, r, ar, aerr)
		return
	}
	switch r.PostForm.Get("decision") {
	case "allow":
	case "deny":
		s.log.InfoContext(ctx, "consent denied", "client_id", ar.Client.ID, "user", user.Name)
		s.consentFailed(w, r, ar, redirectErr(codeAccessDenied, "The user denied access."))
		return
	default:
		s.pages.Error(w, ErrorPage{Title: "Bad request", Message: "Choose Allow or Deny.", Status: http.StatusBadRequest})
		return
	}
	far, err := s.fositeAuthorize(r, ar)
	if err != nil {
		s.consentFailed(w, r, ar, fositeAuthorizeErr(err))
		return
	}
	granted := slices.DeleteFunc(slices.Clone(ar.Scopes), func(s string) bool { return s == "offline_access" })
	redirects := []string{consentRedirect(ar.RedirectURI)}
	if prev, err := s.store.GetConsent(ctx, user.ID, ar.Client.ID, ar.Resource); err == nil {
		granted = dedupe(append(prev.Scopes, granted...))
		redirects = dedupe(append(prev.RedirectURIs, redirects...))
	}
	c := &store.Consent{UserID: user.ID, ClientID: ar.Client.ID, Scopes: granted, Resource: ar.Resource, RedirectURIs: redirects}
	if err := s.store.SaveConsent(ctx, c); err != nil {
		s.consentFailed(w, r, ar, &authorizeError{Error: &Error{Code: codeServerError, Status: 500, Description: "The server could not record your approval.", Err: err}, Redirect: true})
		return
	}
	s.log.InfoContext(ctx, "consent granted", "client_id", ar.Client.ID, "user", user.Name)
	s.issueCode(w, r, ar, far, user)
}

// consentFailed is authorizeFailed for the answer to a consent screen: the
// person saw there the host the error goes to, and sent it.
func (s *Server) consentFailed(w http.ResponseWriter, r *http.Request, ar *authzRequest, e *authorizeError) {
	e.Decided = true
	s.authorizeFailed(w, r, ar, e)
}

// scopeViews describes scopes in plain words for a page.
func (s *Server) scopeViews(scopes []string) []ScopeView {
	var out []ScopeView
	for _, name := range scopes {
		v := ScopeView{Name: name, Description: name}
		if name == "offline_access" {
			continue
		}
		for _, sc := range s.cfg.Scopes {
			if sc.Name == name {
				v.Description = sc.Description
			}
		}
		out = append(out, v)
	}
	return out
}
