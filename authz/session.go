package authz

import (
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
)

// sessionName is the cookie that carries a person's login.
const sessionName = "mcpauthz_session"

// Keys in the session cookie.
const (
	sessUserID     = "uid"
	sessAuthTime   = "auth_time"
	sessGeneration = "gen"      // the user's SessionGeneration at sign-in
	sessConsents   = "consents" // the pending consent screens (pendingconsent.go)
)

// legacyConsentKeys held the one pending consent screen of earlier
// versions; they are dropped when the session is next written.
var legacyConsentKeys = []string{"consent_id", "consent_query", "consent_exp"}

// newSessionStore returns the cookie store for logins: encrypted and
// authenticated with keys derived from the master key (so every instance
// that shares the master key accepts every other's cookies), HttpOnly,
// SameSite=Lax, Secure when the issuer is https, and short-lived.
func (s *Server) newSessionStore() *sessions.CookieStore {
	cs := sessions.NewCookieStore(s.cfg.Secrets.SessionHash, s.cfg.Secrets.SessionEncrypt)
	cs.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(s.cfg.SessionLifetime / time.Second),
		HttpOnly: true,
		Secure:   strings.HasPrefix(s.cfg.Issuer, "https://"),
		SameSite: http.SameSiteLaxMode,
	}
	cs.MaxAge(cs.Options.MaxAge) // also bounds the signed timestamp inside the cookie
	return cs
}

// session returns the login session of r. A missing, expired or tampered
// cookie yields a fresh, empty session, never an error.
func (s *Server) session(r *http.Request) *sessions.Session {
	sess, err := s.sessions.Get(r, sessionName)
	if err != nil {
		sess, _ = s.sessions.New(r, sessionName)
		sess.IsNew = true
		sess.Values = map[any]any{}
	}
	return sess
}

// sessionUser returns the ID of the logged-in user, or "".
func sessionUser(sess *sessions.Session) string {
	id, _ := sess.Values[sessUserID].(string)
	return id
}

// sessionGeneration returns the user's SessionGeneration the session was
// started under (0 for sessions from before generations existed, which
// stay valid until the user's sessions are first ended).
func sessionGeneration(sess *sessions.Session) int64 {
	g, _ := sess.Values[sessGeneration].(int64)
	return g
}

// authTime returns when the session's user logged in.
func authTime(sess *sessions.Session) time.Time {
	t, _ := sess.Values[sessAuthTime].(int64)
	return time.Unix(t, 0)
}
