package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
)

// ErrInvalidToken is returned by VerifyAccessToken for a token that is
// unknown, malformed, expired or revoked.
var ErrInvalidToken = errors.New("authz: invalid access token")

// AccessToken is what an access token grants, as a resource server needs
// to know it.
type AccessToken struct {
	Subject   string // the user ID; empty for client_credentials tokens
	Username  string
	ClientID  string
	Scopes    []string
	Audience  []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	// JKT is the thumbprint of the DPoP key the token is bound to, or "".
	JKT string
}

// VerifyAccessToken checks an access token issued by this server and
// returns what it grants. It consults the store, so a revoked token (or one
// of a deleted client or user) fails at once. Errors other than
// ErrInvalidToken mean the check itself failed (e.g. the database).
func (s *Server) VerifyAccessToken(ctx context.Context, token string) (*AccessToken, error) {
	if token == "" {
		return nil, ErrInvalidToken
	}
	tt, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, s.newSession("", ""))
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField >= 500 && !errors.Is(err, fosite.ErrNotFound) {
			return nil, fmt.Errorf("authz: verify access token: %w", err)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, rfc.ErrorField)
	}
	if tt != fosite.AccessToken {
		return nil, ErrInvalidToken
	}
	sess := ar.GetSession()
	at := &AccessToken{
		Subject:   sess.GetSubject(),
		Username:  sess.GetUsername(),
		ClientID:  ar.GetClient().GetID(),
		Scopes:    ar.GetGrantedScopes(),
		Audience:  ar.GetGrantedAudience(),
		ExpiresAt: sess.GetExpiresAt(fosite.AccessToken),
		IssuedAt:  ar.GetRequestedAt(),
		JKT:       sessionJKT(sess),
	}
	return at, nil
}
