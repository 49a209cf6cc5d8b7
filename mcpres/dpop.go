package mcpres

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
)

// checkProof verifies the DPoP proof of a request that presented token,
// bound to jkt, with the DPoP scheme (RFC 9449 §7.1): one proof, signed
// by the key whose thumbprint is jkt, for this method (htm) and the URL
// the client addressed (htu, see proofURL), for this token (ath), fresh
// (iat), with an unused jti and, when the verifier requires them, a valid
// nonce. A refused proof is an authError; a failing replay store a plain
// error (503).
func (s *Server) checkProof(r *http.Request, token, jkt string) (*authError, error) {
	_, err := s.dpop.Verify(r.Context(), r.Header.Values(dpop.HeaderName), dpop.Check{
		Method:      r.Method,
		URL:         s.proofURL(r),
		AccessToken: token,
		JKT:         jkt,
	})
	var de *dpop.Error
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &de):
		return s.proofError(de), nil
	default:
		return nil, fmt.Errorf("mcpres: DPoP proof check: %w", err)
	}
}

// proofError is the 401 for a refused proof: invalid_dpop_proof, or
// use_dpop_nonce (RFC 9449 §9) for a missing or stale nonce; the DPoP
// challenge carries it and writeAuthError adds a fresh DPoP-Nonce.
func (s *Server) proofError(e *dpop.Error) *authError {
	return &authError{status: http.StatusUnauthorized, code: e.Code, desc: e.Description,
		scopes: s.cfg.ScopesSupported, dpop: true}
}

// proofURL is the URL a proof's htu must match: the request's path on
// the origin of Config.Resource, which is the origin clients address.
// Neither the Host header nor r.TLS decides the scheme or host: behind a
// TLS-terminating proxy r.TLS is nil, and Host is checked by the host
// policy but may name an alias (Config.AllowedHosts) the client did not
// sign. The query is not part of htu (RFC 9449 §4.3 check 9).
func (s *Server) proofURL(r *http.Request) string {
	return s.resourceOrigin + r.URL.EscapedPath()
}

// setDPoPNonce adds a fresh DPoP-Nonce header (RFC 9449 §9) when the
// DPoP verifier has a nonce source.
func (s *Server) setDPoPNonce(h http.Header) {
	if s.dpop == nil {
		return
	}
	if n := s.dpop.Nonce(); n != "" {
		h.Set(dpop.NonceHeaderName, n)
	}
}
