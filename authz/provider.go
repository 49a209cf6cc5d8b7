package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/mcpauthz/mcpauthz/store"
)

// This file and fositestore.go are the only places that know fosite's
// composition; everything else talks to fosite through its provider. The
// hooks plugged in here live beside them: clientauth.go is the client
// authentication strategy (private_key_jwt), jwks.go the JWKS fetcher
// strategy, and fositestore.go's GetClient resolves Client ID Metadata
// Documents (cimdresolve.go).

// newProvider composes fosite: authorization code with mandatory PKCE S256,
// refresh with rotation, revocation and introspection, opaque HMAC-SHA512/256
// codes and tokens, and our own token-endpoint handler for RFC 8707.
func (s *Server) newProvider() (*fosite.Fosite, error) {
	fc := &fosite.Config{
		AccessTokenLifespan:            s.cfg.AccessTokenLifetime,
		RefreshTokenLifespan:           s.cfg.RefreshTokenLifetime,
		AuthorizeCodeLifespan:          s.cfg.AuthCodeLifetime,
		GlobalSecret:                   s.cfg.Secrets.TokenHMAC,
		EnforcePKCE:                    true,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		// Refresh tokens go to every client that registered the grant,
		// without requiring offline_access (ChatGPT never asks for it).
		RefreshTokenScopes:         []string{},
		ScopeStrategy:              fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:   fosite.ExactAudienceMatchingStrategy,
		ClientSecretsHasher:        fositeHasher{s.hasher},
		TokenURL:                   s.cfg.Issuer + "/token",
		AccessTokenIssuer:          s.cfg.Issuer,
		IDTokenIssuer:              s.cfg.Issuer,
		SendDebugMessagesToClients: false,
		JWTScopeClaimKey:           jwt.JWTScopeFieldString,
		// Every key set fosite might fetch goes through the guarded
		// fetcher, never fosite's own HTTP client.
		JWKSFetcherStrategy: s.jwks,
		// Client secrets and public clients: fosite's default strategy;
		// private_key_jwt assertions: ours (clientauth.go).
		ClientAuthenticationStrategy: s.authenticateClient,
	}
	cfg := fc
	storage := &fositeStore{st: s.store, grace: s.cfg.RefreshReuseGrace, now: s.now, audience: s.cfg.Resources, cimd: s.cimd}
	s.storage = storage
	strategy := &tokenStrategy{HMACSHAStrategy: compose.NewOAuth2HMACStrategy(cfg), jwt: s.jwt}
	provider := fosite.NewOAuth2Provider(storage, cfg)

	// Token endpoint handlers run in this order, each step for all of
	// them (handle, then populate). Ours check the resource and the DPoP
	// proof before fosite's PKCE handler, which deletes the code's PKCE
	// data before it compares the verifier: a request refused for a
	// mistake the client can correct (no proof, another resource) must
	// leave the code redeemable.
	factories := []compose.Factory{
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		func(fosite.Configurator, any, any) any { return &resourceHandler{s: s} },
		func(fosite.Configurator, any, any) any { return &dpopHandler{s: s} },
		compose.OAuth2PKCEFactory,
		compose.OAuth2TokenRevocationFactory,
		func(fosite.Configurator, any, any) any { return &rotatedRevocation{st: storage, strategy: strategy} },
		compose.OAuth2TokenIntrospectionFactory,
	}
	for i, factory := range factories {
		res := factory(cfg, storage, strategy)
		matched := false
		if h, ok := res.(fosite.AuthorizeEndpointHandler); ok {
			fc.AuthorizeEndpointHandlers.Append(h)
			matched = true
		}
		if h, ok := res.(fosite.TokenEndpointHandler); ok {
			fc.TokenEndpointHandlers.Append(h)
			matched = true
		}
		if h, ok := res.(fosite.TokenIntrospector); ok {
			fc.TokenIntrospectionHandlers.Append(h)
			matched = true
		}
		if h, ok := res.(fosite.RevocationHandler); ok {
			fc.RevocationHandlers.Append(h)
			matched = true
		}
		if !matched {
			return nil, fmt.Errorf("factory %d (%T) implements no fosite handler", i, res)
		}
	}
	return provider, nil
}

// newSession returns the fosite session for a token issued to userID.
func (s *Server) newSession(userID, userName string) *oauth2.JWTSession {
	return &oauth2.JWTSession{
		JWTClaims: &jwt.JWTClaims{Subject: userID, Issuer: s.cfg.Issuer, Extra: map[string]any{}},
		JWTHeader: &jwt.Headers{Extra: map[string]any{}},
		Subject:   userID,
		Username:  userName,
		ExpiresAt: map[fosite.TokenType]time.Time{},
	}
}

// fositeHasher adapts SecretHasher to fosite.Hasher.
type fositeHasher struct{ h *SecretHasher }

func (f fositeHasher) Compare(_ context.Context, hash, data []byte) error {
	return f.h.Verify(hash, data)
}

func (f fositeHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return f.h.Sum(data), nil
}

// fositeClient presents a store.Client to fosite. It implements
// fosite.OpenIDConnectClient so that fosite enforces the registered
// token_endpoint_auth_method exactly.
type fositeClient struct {
	c         *store.Client
	audience  []string
	redirects []string
}

func (c *fositeClient) GetID() string                   { return c.c.ID }
func (c *fositeClient) GetHashedSecret() []byte         { return c.c.SecretHash }
func (c *fositeClient) GetRedirectURIs() []string       { return c.redirects }
func (c *fositeClient) GetGrantTypes() fosite.Arguments { return c.c.GrantTypes }
func (c *fositeClient) GetResponseTypes() fosite.Arguments {
	return c.c.ResponseTypes
}
func (c *fositeClient) GetScopes() fosite.Arguments {
	// offline_access is accepted from every client and changes nothing:
	// refresh tokens follow the refresh_token grant.
	return append(append(fosite.Arguments{}, c.c.Scopes...), "offline_access")
}
func (c *fositeClient) IsPublic() bool                { return c.c.TokenEndpointAuthMethod == "none" }
func (c *fositeClient) GetAudience() fosite.Arguments { return c.audience }
func (c *fositeClient) GetRequestURIs() []string      { return nil }

// GetJSONWebKeys returns the JWK Set of a private_key_jwt client that
// registered one (jwks), or nil.
func (c *fositeClient) GetJSONWebKeys() *jose.JSONWebKeySet {
	raw, _, _ := clientKeys(c.c)
	if len(raw) == 0 {
		return nil
	}
	set, err := parseJWKS(raw)
	if err != nil {
		return nil
	}
	out, err := toJOSE3(set)
	if err != nil {
		return nil
	}
	return out
}

// GetJSONWebKeysURI returns the jwks_uri of a private_key_jwt client, or "".
func (c *fositeClient) GetJSONWebKeysURI() string {
	_, uri, _ := clientKeys(c.c)
	return uri
}
func (c *fositeClient) GetRequestObjectSigningAlgorithm() string { return "" }
func (c *fositeClient) GetTokenEndpointAuthMethod() string {
	return c.c.TokenEndpointAuthMethod
}

// GetTokenEndpointAuthSigningAlgorithm returns the one algorithm a
// private_key_jwt client's assertions may use, or "" for any supported one.
func (c *fositeClient) GetTokenEndpointAuthSigningAlgorithm() string {
	_, _, alg := clientKeys(c.c)
	return alg
}
func (c *fositeClient) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery}
}

// redirectKey carries, for one authorization request, a redirect URI that
// our own matcher (RFC 8252 §7.3: any port on loopback) has already
// accepted for a client, so that fosite's exact matcher accepts it too.
type redirectKey struct{}

type approvedRedirect struct{ clientID, uri string }

func withApprovedRedirect(ctx context.Context, clientID, uri string) context.Context {
	return context.WithValue(ctx, redirectKey{}, approvedRedirect{clientID, uri})
}

// isStoreInactive reports whether err comes from a consumed code or a
// rotated refresh token.
func isStoreInactive(err error) bool {
	return errors.Is(err, store.ErrInactive) || errors.Is(err, fosite.ErrInactiveToken) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode)
}
