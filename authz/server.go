package authz

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gorilla/sessions"
	"github.com/ory/fosite"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
	"github.com/mcpauthz/mcpauthz/authz/fetch"
	"github.com/mcpauthz/mcpauthz/store"
)

// Server is the OAuth 2.1 authorization server. It is an http.Handler for
// every endpoint on the issuer's origin that belongs to the authorization
// server; the MCP resource mounts beside it.
type Server struct {
	cfg       Config
	store     store.Store
	log       *slog.Logger
	now       func() time.Time
	hasher    *SecretHasher
	passwords *PasswordHasher
	provider  *fosite.Fosite
	sessions  *sessions.CookieStore
	pages     *Pages
	throttle  *Throttle
	regLimit  *Throttle

	trustedProxies []netip.Prefix
	reg            *registrar
	keys           *Keys
	jwt            *jwtAccessTokens
	dpop           *dpop.Verifier
	mux            *http.ServeMux
	// fetcher is the one outbound HTTP client for requests made on a
	// client's behalf (metadata documents, jwks_uri), shared by cimd and
	// jwks.
	fetcher *fetch.Fetcher
	cimd    *cimdResolver
	jwks    *jwksCache
	// storage is fosite's storage, which also looks clients up.
	storage *fositeStore
}

// New builds a Server on st. It validates cfg, parses the page templates
// and composes fosite, so a misconfiguration fails here and not on the
// first request.
func New(cfg Config, st store.Store) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pages, err := NewPages(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("authz: pages: %w", err)
	}
	pages.SetLogger(cfg.Logger)
	s := &Server{
		cfg:       cfg,
		store:     st,
		log:       cfg.Logger,
		now:       cfg.Now,
		hasher:    NewSecretHasher(cfg.Secrets.ClientSecret),
		passwords: NewPasswordHasher(cfg.Argon2),
		pages:     pages,
		throttle:  NewThrottle(st, cfg.Secrets.Throttle, cfg.Login.MaxFailures, cfg.Login.Window, cfg.Now),
		regLimit:  NewThrottle(st, cfg.Secrets.Throttle, max(cfg.Registration.MaxPerMinute, 1), registrationWindow, cfg.Now),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A retired key stays published for the longest access token lifetime,
	// plus a margin for clock skew and caches.
	if s.keys, err = NewKeys(ctx, st, cfg.Secrets.KeyEncryption, cfg.AccessTokenLifetime+10*time.Minute, cfg.Now); err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	if cfg.TokenFormat == TokenFormatJWT {
		s.jwt = &jwtAccessTokens{issuer: cfg.Issuer, keys: s.keys, now: cfg.Now, lifetime: cfg.AccessTokenLifetime}
	}
	if s.dpop, err = s.newDPoPVerifier(); err != nil {
		return nil, fmt.Errorf("authz: dpop: %w", err)
	}
	s.trustedProxies, _ = parseTrustedProxies(cfg.TrustedProxies) // checked by Validate
	s.sessions = s.newSessionStore()
	s.fetcher = fetch.New(fetch.Config{AllowLoopback: cfg.FetchAllowLoopback})
	if cfg.FetchAllowLoopback {
		s.log.Warn("UNSAFE: fetch_allow_loopback is on: clients can make this server fetch metadata documents and jwks_uri from its own loopback addresses, over plain http too. Use it only for local development.")
	}
	s.cimd = newCIMDResolver(cfg, s.fetcher)
	s.jwks = newJWKSCache(s.fetcher, cfg.Now, cfg.Logger)
	s.reg = newRegistrar(cfg, st, s.hasher)
	if s.provider, err = s.newProvider(); err != nil {
		return nil, fmt.Errorf("authz: compose fosite: %w", err)
	}
	s.mux = http.NewServeMux()
	s.routes(s.mux)
	return s, nil
}

// ServeHTTP serves the authorization server's endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Keys returns the signing keys.
func (s *Server) Keys() *Keys { return s.keys }

// Config returns the resolved configuration.
func (s *Server) Config() Config { return s.cfg }
