package mcpres

import (
	"context"
	"errors"
	"slices"
	"time"
)

// TokenInfo is what a TokenVerifier learned about a valid access token.
type TokenInfo struct {
	// Subject is the user the token was issued to (the store's user ID). A
	// token without one (client_credentials) is refused: every tool acts
	// on behalf of a user.
	Subject string
	// Username is the user's display name, for logs; may be empty.
	Username string
	// ClientID is the OAuth client the token was issued to.
	ClientID string
	// Scopes are the granted scopes.
	Scopes []string
	// Audience is the granted audience (RFC 8707 / RFC 9068 §2.2 "aud").
	// It must contain the configured Resource, compared exactly.
	Audience []string
	// ExpiresAt is when the token stops being valid. It must be set; a
	// token that is past it is refused even if the verifier returned it.
	ExpiresAt time.Time
	// JKT is the SHA-256 JWK thumbprint the token is bound to (RFC 9449
	// §6, "cnf":{"jkt"}), empty for a bearer token. A bound token is
	// refused under the Bearer scheme (RFC 9449 §7.1); until DPoP proofs
	// are checked here, bound tokens are not accepted at all.
	JKT string
}

// HasScope reports whether the token grants scope.
func (t *TokenInfo) HasScope(scope string) bool {
	return t != nil && slices.Contains(t.Scopes, scope)
}

// TokenVerifier checks an access token. Today the authorization server in
// the same process implements it; a remote form (RFC 7662 introspection or
// JWT + JWKS) can replace it without touching this package.
//
// VerifyAccessToken returns an error wrapping ErrInvalidToken when the
// token is unknown, malformed, expired, revoked or not an access token;
// the client then gets 401 invalid_token (RFC 6750 §3.1). Any other error
// means the verifier could not decide (database down, introspection
// endpoint unreachable) and gets 503. It never returns (nil, nil). It
// does not check audience, scope or expiry against this resource: the
// middleware does that with the TokenInfo.
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*TokenInfo, error)
}

// ErrInvalidToken is returned (wrapped) by a TokenVerifier for a token that
// is unknown, malformed, expired, revoked or not an access token.
var ErrInvalidToken = errors.New("mcpres: invalid access token")

// callerKey is the context key of the verified TokenInfo.
type callerKey struct{}

// withCaller returns ctx carrying the verified token of the request.
func withCaller(ctx context.Context, ti *TokenInfo) context.Context {
	return context.WithValue(ctx, callerKey{}, ti)
}

// TokenInfoFromContext returns the verified token of the request that ctx
// belongs to. Tool handlers reach it this way: the go-sdk stateless
// handler connects each request's session with the HTTP request's context,
// so its values reach the handlers. It returns nil outside a request the
// middleware accepted.
func TokenInfoFromContext(ctx context.Context) *TokenInfo {
	ti, _ := ctx.Value(callerKey{}).(*TokenInfo)
	return ti
}
