package authz

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mcpauthz/mcpauthz/store"
)

// maxFormBytes caps the body of the login, consent and account forms.
const maxFormBytes = 16 << 10

// currentUser returns the logged-in user of sess, or nil when nobody is
// logged in, the login is older than the session lifetime or the user was
// deleted since.
func (s *Server) currentUser(ctx context.Context, sess *sessions.Session) *store.User {
	id := sessionUser(sess)
	if id == "" || s.now().Sub(authTime(sess)) > s.cfg.SessionLifetime {
		return nil
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil || u.SessionGeneration != sessionGeneration(sess) {
		// Gone, or signed out (or given a new password) since.
		return nil
	}
	return u
}

// safeReturn accepts only a local path of ours to go back to after login:
// the authorization endpoint, the account page, the document search or a
// document page. Anything else (other hosts, scheme-relative //evil,
// backslashes) becomes /account.
func safeReturn(ret string) string {
	if ret == "" || !strings.HasPrefix(ret, "/") || strings.HasPrefix(ret, "//") || strings.ContainsAny(ret, "\\\r\n\t") {
		return "/account"
	}
	u, err := url.Parse(ret)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/account"
	}
	switch {
	case u.Path == "/authorize", u.Path == "/account", u.Path == "/docs", strings.HasPrefix(u.Path, "/docs/"):
		return u.RequestURI()
	}
	return "/account"
}

// loginContext names the application a return URL leads to, for the page.
func (s *Server) loginContext(ctx context.Context, ret string) LoginPage {
	lp := LoginPage{Return: ret}
	u, err := url.Parse(ret)
	if err != nil || u.Path != "/authorize" {
		return lp
	}
	q := u.Query()
	c, err := s.client(ctx, q.Get("client_id"))
	if err != nil {
		return lp
	}
	lp.ClientName = clientName(c)
	lp.ClientHost = cimdHost(c)
	if ru := q.Get("redirect_uri"); ru != "" && MatchRedirectURI(c.RedirectURIs, ru) {
		lp.RedirectHost = redirectHost(ru)
	} else if len(c.RedirectURIs) == 1 {
		lp.RedirectHost = redirectHost(c.RedirectURIs[0])
	}
	return lp
}

// serveLoginPage shows the login form on its own (e.g. for /account).
func (s *Server) serveLoginPage(w http.ResponseWriter, r *http.Request) {
	s.pages.Login(w, http.StatusOK, s.loginContext(r.Context(), safeReturn(r.URL.Query().Get("return"))))
}

// serveLogin checks a user name and password. Failures are throttled per
// account and per client IP; a successful login replaces the session and
// sends the person back where they came from.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.pages.Error(w, ErrorPage{Title: "Bad request", Message: "The form could not be read.", Status: http.StatusBadRequest})
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	ret := safeReturn(r.PostForm.Get("return"))
	page := s.loginContext(ctx, ret)
	page.Username = name

	cannotCheck := ErrorPage{Title: "Sign-in failed", Message: "The server could not check your sign-in. Try again.", Status: http.StatusInternalServerError}
	if name == "" || password == "" {
		page.Error = "Enter your user name and password."
		s.pages.Login(w, http.StatusBadRequest, page)
		return
	}
	// The attempt is counted before the password is checked, so that
	// guesses sent at the same time cannot all pass the limit.
	userKey, ipKey := "user:"+name, "ip:"+throttleAddr(s.clientIP(r))
	res, allowed, retry, err := s.throttle.Reserve(ctx, userKey, ipKey)
	if err != nil {
		s.log.ErrorContext(ctx, "login: count the attempt", "error", err)
		s.pages.Error(w, cannotCheck)
		return
	}
	if !allowed {
		secs := int(math.Ceil(retry.Seconds()))
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		if retry < time.Minute {
			// Full of attempts being checked right now, or about to
			// admit one again.
			page.Error = fmt.Sprintf("Too many sign-in attempts at once. Try again in %d second%s.", secs, plural(secs))
		} else {
			mins := int(math.Ceil(retry.Minutes()))
			page.Error = fmt.Sprintf("Too many failed sign-in attempts. Try again in %d minute%s.", mins, plural(mins))
		}
		s.log.WarnContext(ctx, "login throttled", "user", s.loggableUserName(ctx, name), "ip", s.clientIP(r))
		s.pages.Login(w, http.StatusTooManyRequests, page)
		return
	}
	user, err := s.store.GetUserByName(ctx, name)
	ok := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.passwords.Dummy(password)
	case err != nil:
		s.log.ErrorContext(ctx, "login: look up user", "error", err)
		if err := res.ReleaseAll(ctx); err != nil {
			s.log.ErrorContext(ctx, "login: withdraw the attempt", "error", err)
		}
		s.pages.Error(w, cannotCheck)
		return
	default:
		ok, err = s.passwords.Verify(user.PasswordHash, password)
		if err != nil {
			s.log.ErrorContext(ctx, "login: verify password", "user", name, "error", err)
		}
	}
	if !ok {
		// The reserved attempt stays: it is the failure.
		if err := res.Settle(ctx); err != nil {
			// Still counted, as pending; it counts as settled later.
			s.log.ErrorContext(ctx, "login: count the failure", "error", err)
		}
		logName := name
		if user == nil {
			logName = unknownUserName
		}
		s.log.InfoContext(ctx, "login failed", "user", logName, "ip", s.clientIP(r))
		page.Error = "Wrong user name or password."
		s.pages.Login(w, http.StatusUnauthorized, page)
		return
	}
	// A good sign-in forgets the account's failures and does not count
	// against the address.
	if err := errors.Join(s.throttle.Success(ctx, userKey), res.Release(ctx, ipKey)); err != nil {
		s.log.ErrorContext(ctx, "login: clear the failure count", "error", err)
	}
	sess := s.session(r)
	sess.Values = map[any]any{sessUserID: user.ID, sessAuthTime: s.now().Unix(), sessGeneration: user.SessionGeneration}
	if err := sess.Save(r, w); err != nil {
		s.log.ErrorContext(ctx, "login: save session", "error", err)
		s.pages.Error(w, ErrorPage{Title: "Sign-in failed", Message: "The server could not start your session.", Status: http.StatusInternalServerError})
		return
	}
	s.log.InfoContext(ctx, "login", "user", name)
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// unknownUserName is logged in place of a user name that names no account:
// people type their password into the user name field, and it must not end
// up in the log.
const unknownUserName = "(no such user)"

// loggableUserName is name if it names an account, else unknownUserName.
func (s *Server) loggableUserName(ctx context.Context, name string) string {
	if _, err := s.store.GetUserByName(ctx, name); err != nil {
		return unknownUserName
	}
	return name
}

// serveLogout ends the session: the cookie is cleared, and every session
// of the person, on this browser or any other, is ended in the store
// (EndSessions), so a copy of the cookie taken before is worthless too.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := s.session(r)
	// By the session's user ID, not currentUser: a store that cannot read
	// the user must fail the sign-out, not skip ending the sessions.
	if id := sessionUser(sess); id != "" {
		if err := s.store.EndSessions(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "logout: end the sessions", "error", err)
			s.pages.Error(w, ErrorPage{Title: "Sign-out failed", Message: "The server could not end your session. Try again.", Status: http.StatusInternalServerError})
			return
		}
		s.log.InfoContext(ctx, "logout", "user_id", id)
	}
	sess.Values = map[any]any{}
	sess.Options.MaxAge = -1
	_ = sess.Save(r, w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
