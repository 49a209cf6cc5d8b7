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
	// refused under the Bearer scheme (RFC 9449 §7.1) and accepted only
	// with the DPoP scheme and a proof signed by that key (Config.DPoP);
	// an unbound one is refused under the DPoP scheme.
	JKT string
}

// HasScope reports whether the token grants scope.
func (t *TokenInfo) HasScope(scope string) bool {
	return t != nil && slices.Contains(t.Scopes, scope)
}

// TokenVerifier checks an access token. The authorization server in the
// same process implements it (cmd/mcpauthz), and so does RemoteVerifier
// (RFC 9068 JWTs against the JWKS, RFC 7662 introspection) for a
// resource server on its own.
//
// VerifyAccessToken returns an error wrapping ErrInvalidToken when the
// token is unknown, malformed, expired, revoked or not an access token;
// the client then gets 401 invalid_token (RFC 6750 §3.1). Any other error
// means the verifier could not decide (database down, introspection
// endpoint unreachable) and gets 503. It never returns (nil, nil). It
// need not check audience, scope or expiry against this resource: the
// middleware does that with the TokenInfo. It must return the token's
// DPoP binding (JKT) when there is one: the middleware relies on it to
// refuse a bound token used as a bearer token.
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
