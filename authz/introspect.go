package authz

import (
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// introspection is an RFC 7662 §2.2 introspection response. An inactive
// token is {"active": false} and nothing else.
type introspection struct {
	Active    bool          `json:"active"`
	Scope     string        `json:"scope,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	Subject   string        `json:"sub,omitempty"`
	Username  string        `json:"username,omitempty"`
	Audience  []string      `json:"aud,omitempty"`
	Issuer    string        `json:"iss,omitempty"`
	ExpiresAt int64         `json:"exp,omitempty"`
	IssuedAt  int64         `json:"iat,omitempty"`
	TokenType string        `json:"token_type,omitempty"`
	Cnf       *confirmation `json:"cnf,omitempty"`
}

// serveIntrospect is the introspection endpoint (RFC 7662). Only
// confidential clients marked for it (`mcpauthz client add --introspect`)
// may call it, authenticated as at the token endpoint; anyone else gets 401
// invalid_client. Any token that is unknown, malformed, expired or revoked
// is {"active": false}, never an error.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if err := r.ParseForm(); err != nil {
		writeJSONError(w, newError(http.StatusBadRequest, codeInvalidRequest, "the request body could not be read"))
		return
	}
	client, err := s.provider.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil || client.IsPublic() {
		reason := "client authentication failed: a public client cannot introspect"
		if err != nil {
			rfc := fosite.ErrorToRFC6749Error(err)
			reason = "client authentication failed"
			if h := rfc.HintField; h != "" {
				reason += ": " + h
			}
		}
		s.log.DebugContext(ctx, "introspection refused", "reason", reason)
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		writeJSONError(w, newError(http.StatusUnauthorized, codeInvalidClient, "%s", reason))
		return
	}
	fc, ok := client.(*fositeClient)
	if !ok || !fc.c.Introspect {
		s.log.InfoContext(ctx, "introspection refused: client not allowed", "client_id", client.GetID())
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		writeJSONError(w, newError(http.StatusUnauthorized, codeInvalidClient, "this client may not introspect tokens"))
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeJSONError(w, newError(http.StatusBadRequest, codeInvalidRequest, "the token parameter is missing"))
		return
	}
	writeJSON(w, http.StatusOK, s.introspect(r, token, r.PostForm.Get("token_type_hint")))
}

// introspect describes a token; anything wrong with it makes it inactive.
func (s *Server) introspect(r *http.Request, token, hint string) introspection {
	use := fosite.AccessToken
	if hint == "refresh_token" {
		use = fosite.RefreshToken
	}
	tu, ar, err := s.provider.IntrospectToken(r.Context(), token, use, s.newSession("", ""))
	if err != nil {
		if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField >= 500 {
			s.log.ErrorContext(r.Context(), "introspection failed", "error", rfc.DebugField)
		}
		return introspection{Active: false}
	}
	sess := ar.GetSession()
	out := introspection{
		Active:   true,
		Scope:    strings.Join(ar.GetGrantedScopes(), " "),
		ClientID: ar.GetClient().GetID(),
		Subject:  sess.GetSubject(),
		Username: sess.GetUsername(),
		Audience: ar.GetGrantedAudience(),
		Issuer:   s.cfg.Issuer,
		IssuedAt: ar.GetRequestedAt().Unix(),
	}
	if out.Subject == "" {
		out.Subject = out.ClientID
	}
	if tu == fosite.AccessToken {
		out.ExpiresAt = sess.GetExpiresAt(fosite.AccessToken).Unix()
		out.TokenType = "Bearer"
		if jkt := sessionJKT(sess); jkt != "" {
			out.TokenType = "DPoP"
			out.Cnf = &confirmation{JKT: jkt}
		}
	} else {
		out.TokenType = "refresh_token"
		if exp := sess.GetExpiresAt(fosite.RefreshToken); !exp.IsZero() {
			out.ExpiresAt = exp.Unix()
		}
	}
	return out
}
