package authz

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/ory/fosite"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
)

// maxTokenBody caps token, revocation and introspection request bodies.
const maxTokenBody = 64 << 10

// serveToken is the token endpoint (RFC 6749 §3.2, OAuth 2.1 §3.2):
// authorization_code with PKCE and refresh_token with rotation. Responses
// carry Cache-Control: no-store. An unknown client gets 401 invalid_client,
// the signal for MCP clients to register again.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if err := r.ParseForm(); err != nil {
		s.writeTokenError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
		return
	}
	switch gt := r.PostForm.Get("grant_type"); {
	case gt == "":
		s.writeTokenError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The grant_type parameter is missing."))
		return
	case !slices.Contains(s.grantTypes(), gt):
		s.writeTokenError(w, r, nil, fosite.ErrUnsupportedGrantType.WithHintf("The grant type %q is not supported.", truncate(gt, 50)))
		return
	}
	if s.cfg.DPoP.RequireNonce {
		w.Header().Set(dpop.NonceHeaderName, s.dpop.Nonce())
	}
	proof, err := s.checkTokenProof(r)
	if err != nil {
		s.writeDPoPError(w, r, err)
		return
	}
	ctx = context.WithValue(ctx, proofKey{}, proof)
	ar, err := s.provider.NewAccessRequest(ctx, r, s.newSession("", ""))
	if err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	s.log.InfoContext(ctx, "token issued", "client_id", ar.GetClient().GetID(), "grant_type", ar.GetGrantTypes(), "subject", ar.GetSession().GetSubject())
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// tokenError maps an error from fosite's token pipeline to the RFC 6749
// §5.2 error the client sees. A code or refresh token that lost a race with
// a concurrent redemption is invalid_grant, never a server error.
func tokenError(err error) *fosite.RFC6749Error {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField == fosite.ErrServerError.ErrorField || rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField {
		switch {
		case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
			return fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.").WithWrap(err)
		case isStoreInactive(err):
			return fosite.ErrInvalidGrant.WithHint("The refresh token was already used.").WithWrap(err)
		}
	}
	return rfc
}

func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	rfc := tokenError(err)
	if rfc.CodeField >= 500 {
		s.log.ErrorContext(r.Context(), "token request failed", "error", rfc.ErrorField, "debug", rfc.GetDescription()+" "+rfc.DebugField)
	} else {
		s.log.DebugContext(r.Context(), "token request refused", "error", rfc.ErrorField, "description", rfc.GetDescription())
	}
	s.provider.WriteAccessError(r.Context(), w, ar, rfc)
}

// serveRevoke is the revocation endpoint (RFC 7009): a client revokes its
// own tokens; revoking a refresh token revokes its whole family. Unknown
// tokens are answered with 200, as §2.2 requires.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	err := s.provider.NewRevocationRequest(ctx, r)
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField >= 500 {
			s.log.ErrorContext(ctx, "revocation failed", "error", rfc.ErrorField, "debug", rfc.DebugField)
		}
	}
	s.provider.WriteRevocationResponse(ctx, w, err)
}

// grantTypes are the grant types the token endpoint serves.
func (s *Server) grantTypes() []string {
	return []string{"authorization_code", "refresh_token", "client_credentials"}
}
