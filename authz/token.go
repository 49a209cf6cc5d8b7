package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

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
	if err := repeatedParam(r.PostForm); err != nil {
		s.writeTokenError(w, r, nil, err)
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

// repeatedParam is invalid_request naming the first parameter of form sent
// more than once, or nil. RFC 6749 §3.1 and §3.2: parameters must not be
// repeated, and a request that repeats one is invalid_request (§5.2);
// RFC 8707's resource is the exception, it may be repeated.
func repeatedParam(form url.Values) *fosite.RFC6749Error {
	for k, v := range form {
		if len(v) > 1 && k != "resource" {
			return fosite.ErrInvalidRequest.WithHintf("The parameter %q was sent more than once.", truncate(k, 50))
		}
	}
	return nil
}

// tokenError maps an error from fosite's token pipeline to the RFC 6749
// §5.2 error the client sees. A code or refresh token that lost a race with
// a concurrent redemption is invalid_grant, never a server error; a public
// client asking for client_credentials is unauthorized_client (fosite says
// invalid_grant).
func tokenError(err error) *fosite.RFC6749Error {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField == fosite.ErrInvalidGrant.ErrorField && strings.Contains(rfc.HintField, "marked as public") {
		return fosite.ErrUnauthorizedClient.WithHint("A public client cannot use the client_credentials grant.").WithWrap(err)
	}
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
	challengeClient(w, rfc)
	s.provider.WriteAccessError(r.Context(), w, ar, wireRFC6749Error(rfc))
}

// challengeClient adds the WWW-Authenticate header RFC 6749 §5.2 requires
// on a 401 invalid_client: the client authenticates with HTTP Basic (or
// in the body, or with an assertion; Basic is the scheme a challenge can
// name).
func challengeClient(w http.ResponseWriter, rfc *fosite.RFC6749Error) {
	if rfc.CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="mcpauthz"`)
	}
}

// serveRevoke is the revocation endpoint (RFC 7009): a client revokes its
// own tokens; revoking a refresh token (even one already rotated) revokes
// its whole family. Unknown tokens are answered with 200, as §2.2
// requires; a request without a token is invalid_request, another
// client's token unauthorized_client (§2.1), and a store failure 503, so
// that the client knows the token may still be valid and retries
// (§2.2.1).
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	var err error
	if perr := r.ParseForm(); perr != nil {
		err = fosite.ErrInvalidRequest.WithHint("The request body could not be read.")
	} else if rerr := repeatedParam(r.PostForm); rerr != nil {
		err = rerr
	} else if r.PostForm.Get("token") == "" {
		err = fosite.ErrInvalidRequest.WithHint("The token parameter is missing.")
	} else {
		err = s.provider.NewRevocationRequest(ctx, r)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if err == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		s.log.ErrorContext(ctx, "revocation failed", "error", rfc.ErrorField, "debug", rfc.DebugField)
		if rfc.CodeField == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
	} else {
		s.log.DebugContext(ctx, "revocation refused", "error", rfc.ErrorField, "description", rfc.GetDescription())
	}
	challengeClient(w, rfc)
	s.provider.WriteAccessError(ctx, w, nil, wireRFC6749Error(rfc))
}

// grantTypes are the grant types the token endpoint serves.
func (s *Server) grantTypes() []string {
	return []string{"authorization_code", "refresh_token", "client_credentials"}
}
