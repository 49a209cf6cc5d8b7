package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"
)

// Access token formats.
const (
	TokenFormatJWT    = "jwt"    // RFC 9068 JWT access tokens, verifiable with the JWKS
	TokenFormatOpaque = "opaque" // random strings, checked by introspection only
)

// tokenStrategy issues codes and refresh tokens as opaque HMAC-protected
// strings (fosite's HMAC strategy) and access tokens either the same way or
// as RFC 9068 JWTs signed with the current key. It implements
// oauth2.CoreStrategy.
type tokenStrategy struct {
	*oauth2.HMACSHAStrategy
	jwt *jwtAccessTokens // nil for opaque access tokens
}

func (t *tokenStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if t.jwt == nil {
		return t.HMACSHAStrategy.AccessTokenSignature(ctx, token)
	}
	return t.jwt.signature(token)
}

func (t *tokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if t.jwt == nil {
		return t.HMACSHAStrategy.GenerateAccessToken(ctx, r)
	}
	return t.jwt.generate(ctx, r)
}

func (t *tokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if t.jwt == nil {
		return t.HMACSHAStrategy.ValidateAccessToken(ctx, r, token)
	}
	return t.jwt.validate(ctx, r, token)
}

// jwtAccessTokens makes and checks RFC 9068 access tokens.
type jwtAccessTokens struct {
	issuer   string
	keys     *Keys
	now      func() time.Time
	lifetime time.Duration
}

// accessClaims are the claims of an RFC 9068 §2.2 access token. iat and jti
// are fresh on every token, refreshed ones included (fosite reuses the
// first token's, ory/fosite#774).
type accessClaims struct {
	Issuer    string        `json:"iss"`
	Subject   string        `json:"sub"`
	Audience  any           `json:"aud"`
	ClientID  string        `json:"client_id"`
	Scope     string        `json:"scope,omitempty"`
	JTI       string        `json:"jti"`
	IssuedAt  int64         `json:"iat"`
	ExpiresAt int64         `json:"exp"`
	AuthTime  int64         `json:"auth_time,omitempty"`
	Cnf       *confirmation `json:"cnf,omitempty"`
}

// confirmation is the cnf claim (RFC 7800) of a DPoP-bound token (RFC 9449 §6).
type confirmation struct {
	JKT string `json:"jkt"`
}

// sessionJKT returns the DPoP key thumbprint a session is bound to, or "".
func sessionJKT(s fosite.Session) string {
	js, ok := s.(*oauth2.JWTSession)
	if !ok || js.JWTClaims == nil {
		return ""
	}
	switch c := js.JWTClaims.Extra["cnf"].(type) {
	case map[string]any:
		jkt, _ := c["jkt"].(string)
		return jkt
	case map[string]string:
		return c["jkt"]
	}
	return ""
}

// setSessionJKT binds a session to a DPoP key thumbprint.
func setSessionJKT(s fosite.Session, jkt string) {
	js, ok := s.(*oauth2.JWTSession)
	if !ok {
		return
	}
	if js.JWTClaims == nil {
		js.JWTClaims = &jwt.JWTClaims{}
	}
	if js.JWTClaims.Extra == nil {
		js.JWTClaims.Extra = map[string]any{}
	}
	js.JWTClaims.Extra["cnf"] = map[string]any{"jkt": jkt}
}

// clearSessionJKT removes a DPoP binding from a session.
func clearSessionJKT(s fosite.Session) {
	if js, ok := s.(*oauth2.JWTSession); ok && js.JWTClaims != nil && js.JWTClaims.Extra != nil {
		delete(js.JWTClaims.Extra, "cnf")
	}
}

func (j *jwtAccessTokens) generate(ctx context.Context, r fosite.Requester) (string, string, error) {
	key, err := j.keys.Signer(ctx)
	if err != nil {
		return "", "", err
	}
	now := j.now().UTC()
	sess := r.GetSession()
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(j.lifetime)
	}
	c := accessClaims{
		Issuer:    j.issuer,
		Subject:   sess.GetSubject(),
		ClientID:  r.GetClient().GetID(),
		Scope:     strings.Join(r.GetGrantedScopes(), " "),
		JTI:       randomToken(16),
		IssuedAt:  now.Unix(),
		ExpiresAt: exp.Unix(),
	}
	if c.Subject == "" {
		// RFC 9068 §2.2: without a resource owner, sub names the client.
		c.Subject = c.ClientID
	}
	switch aud := r.GetGrantedAudience(); len(aud) {
	case 0:
		c.Audience = []string{}
	case 1:
		c.Audience = aud[0]
	default:
		c.Audience = []string(aud)
	}
	if jkt := sessionJKT(sess); jkt != "" {
		c.Cnf = &confirmation{JKT: jkt}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", "", err
	}
	jws, err := key.signer.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("sign access token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", "", err
	}
	return tok, j.signature(tok), nil
}

// signature is the key under which an access token's request is stored:
// the SHA-256 of the whole token, not its JWS signature. A database reader
// therefore cannot assemble a token that matches a stored row (with the
// bare JWS signature stored, any header and payload in front of it would
// match), and a token that matches one is byte for byte a token this
// server issued, so checking it in-process needs no signature
// verification: a hash and a lookup. Other services verify the JWS with
// the JWKS instead.
func (j *jwtAccessTokens) signature(token string) string {
	if strings.Count(token, ".") != 2 {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validate checks an access token whose stored request the caller found by
// the token's hash (see signature): it was issued here, so only its expiry
// is left to check.
func (j *jwtAccessTokens) validate(_ context.Context, r fosite.Requester, _ string) error {
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() || !j.now().Before(exp) {
		return fosite.ErrTokenExpired
	}
	return nil
}
