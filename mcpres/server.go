package mcpres

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
	"github.com/mcpauthz/mcpauthz/store"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Server is the MCP resource server. Create it with New and put it on a
// mux with Mount; it is safe for concurrent use.
type Server struct {
	cfg      Config
	docs     store.Documents
	verifier TokenVerifier
	dpop     *dpop.Verifier // nil: DPoP scheme not supported
	dpopAlgs string         // the algs of a DPoP challenge
	log      *slog.Logger
	tools    []toolSpec
	limiter  *rateLimiter // nil when off

	mcpPath string // mux path of the MCP endpoint (Resource's path)
	prm     *oauthex.ProtectedResourceMetadata
	prmJSON []byte
	prmPath string // /.well-known/oauth-protected-resource + mcpPath
	prmURL  string // absolute URL of prmPath on Resource's origin

	resourceOrigin string // scheme://host of Resource, for DPoP htu

	hosts   hostPolicy
	origins originPolicy

	sdk *mcp.StreamableHTTPHandler

	// servers caches one go-sdk server per set of visible tools (a bit
	// mask over tools), built on first use: tool schemas are prepared
	// once, not per request.
	mu      sync.Mutex
	servers map[uint64]*mcp.Server
}

// New validates cfg and returns the resource server for the documents in
// docs, accepting the tokens verifier accepts.
func New(cfg Config, docs store.Documents, verifier TokenVerifier) (*Server, error) {
	if docs == nil {
		return nil, errors.New("mcpres: no document store")
	}
	if verifier == nil {
		return nil, errors.New("mcpres: no token verifier")
	}
	cfg.ScopesSupported = slices.Clone(cfg.ScopesSupported)
	cfg.AllowedHosts = slices.Clone(cfg.AllowedHosts)
	cfg.AllowedOrigins = slices.Clone(cfg.AllowedOrigins)
	cfg = cfg.withDefaults()
	tools := toolTable(cfg.SearchLimit)
	if err := cfg.validate(tools); err != nil {
		return nil, err
	}
	issuer, _ := url.Parse(cfg.Issuer)
	resource, _ := url.Parse(cfg.Resource)

	s := &Server{
		cfg:      cfg,
		docs:     docs,
		verifier: verifier,
		dpop:     cfg.DPoP,
		log:      cfg.Logger,
		tools:    tools,
		limiter:  newRateLimiter(*cfg.RateLimit),
		mcpPath:  resource.Path,
		prm:      buildPRM(cfg),
		prmPath:  prmBasePath + resource.Path,
		hosts:    newHostPolicy(issuer, resource, cfg.AllowedHosts),
		origins:  newOriginPolicy(issuer, resource, cfg.AllowedOrigins),
		servers:  make(map[uint64]*mcp.Server),
	}
	s.resourceOrigin = resource.Scheme + "://" + resource.Host
	s.prmURL = s.resourceOrigin + s.prmPath
	if s.dpop != nil {
		s.dpopAlgs = strings.Join(s.dpop.Algorithms(), " ")
	}
	var err error
	if s.prmJSON, err = marshalPRM(s.prm); err != nil {
		return nil, err
	}
	// Stateless: no Mcp-Session-Id, every POST stands alone, so several
	// instances can sit behind a load balancer; GET and DELETE get 405
	// (allowed by MCP 2025-11-25 transports) after authentication.
	// JSONResponse: a request is answered with one application/json body,
	// which every client handles and no proxy buffers; no tool here
	// streams progress. The SDK's localhost Host check is replaced by
	// hostPolicy and its CrossOriginProtection is not used (originPolicy).
	s.sdk = mcp.NewStreamableHTTPHandler(s.sdkServer, &mcp.StreamableHTTPOptions{
		Stateless:                  true,
		JSONResponse:               true,
		Logger:                     slog.New(minLevel{cfg.Logger.Handler(), slog.LevelWarn}),
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        cfg.MaxBodyBytes,
	})
	return s, nil
}

// Mount registers the MCP endpoint at the path of Config.Resource and
// the protected resource metadata at /.well-known/oauth-protected-resource
// and at that path followed by the resource's path (RFC 9728 §3.1); any
// other path under the well-known prefix answers 404. The MCP endpoint
// takes every method: authentication comes before method routing. It
// also answers at its path with a trailing slash, which some clients add
// to what the user typed; the metadata keeps the canonical form.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.Handle(s.mcpPath, s)
	mux.Handle(s.mcpPath+"/{$}", s)
	mux.HandleFunc(prmBasePath, s.servePRM)
	mux.HandleFunc(prmBasePath+"/", s.servePRMSubtree)
}

// ServeHTTP serves the MCP endpoint. In order:
//
//  1. Host allowlist, then Origin allowlist (DNS rebinding): 403.
//  2. CORS headers for an allowed Origin; OPTIONS preflight answered.
//  3. Authentication of every other request (POST, GET, DELETE, ...):
//     400 for a token in the query string, 401 with a Bearer and/or DPoP
//     challenge naming the metadata (RFC 6750 §3, RFC 9449 §7.1, RFC 9728
//     §5.1), 503 when the verifier or the DPoP replay store cannot
//     decide. A request authenticated with DPoP gets a fresh DPoP-Nonce
//     when the verifier issues nonces.
//  4. For POST, the JSON-RPC body is read (bounded, 413) and a tools/call
//     of a tool whose scope the token lacks gets 403 insufficient_scope.
//  5. The go-sdk handler runs with the caller in the request context and
//     the go-sdk server that lists exactly the tools the token's scopes
//     allow.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	if !s.hosts.allows(r.Host) {
		s.log.InfoContext(r.Context(), "mcp request refused: host not allowed", "host", truncateForLog(r.Host))
		writeJSONError(w, http.StatusForbidden, "forbidden", "the Host of this request is not allowed")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if !s.origins.allows(origin) {
			s.log.InfoContext(r.Context(), "mcp request refused: origin not allowed", "origin", truncateForLog(origin))
			writeJSONError(w, http.StatusForbidden, "forbidden", "the Origin of this request is not allowed")
			return
		}
		setCORS(h, origin)
	}
	if r.Method == http.MethodOptions {
		writePreflight(w)
		return
	}

	ti, scheme, aerr, err := s.authenticate(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "mcp token verification failed", "error", err)
		h.Set("Retry-After", "5")
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the access token could not be checked; try again shortly")
		return
	}
	if aerr != nil {
		s.logRefusal(r, ti, aerr)
		s.writeAuthError(w, aerr)
		return
	}

	if r.Method == http.MethodPost {
		body, err := readBody(w, r, s.cfg.MaxBodyBytes)
		switch {
		case errors.Is(err, errBodyTooLarge):
			writeJSONError(w, http.StatusRequestEntityTooLarge, errInvalidRequest, "the request body is too large")
			return
		case err != nil:
			writeJSONError(w, http.StatusBadRequest, errInvalidRequest, "the request body could not be read")
			return
		}
		if aerr := s.checkToolScopes(ti, calledTools(body)); aerr != nil {
			aerr.dpop = scheme == schemeDPoP
			s.logRefusal(r, ti, aerr)
			s.writeAuthError(w, aerr)
			return
		}
	}

	if scheme == schemeDPoP {
		s.setDPoPNonce(h)
	}
	ctx := withCaller(r.Context(), ti)
	ctx = context.WithValue(ctx, serverKey{}, s.serverFor(ti))
	// The token and proof stop here: the go-sdk hands request headers to
	// tool handlers (RequestExtra.Header), and nothing downstream needs
	// them.
	r = r.Clone(ctx)
	r.Header.Del("Authorization")
	r.Header.Del(dpop.HeaderName)
	s.sdk.ServeHTTP(w, r)
}

// logRefusal logs a 4xx of the authentication layer, without the token.
func (s *Server) logRefusal(r *http.Request, ti *TokenInfo, e *authError) {
	attrs := []any{"status", e.status, "error", e.code, "description", e.desc, "method", r.Method, "dpop", e.dpop}
	if ti != nil {
		attrs = append(attrs, "user", ti.Subject, "client", ti.ClientID)
	}
	s.log.InfoContext(r.Context(), "mcp request refused", attrs...)
}

// serverKey is the context key of the go-sdk server chosen for a request.
type serverKey struct{}

// sdkServer is the go-sdk getServer callback: the server ServeHTTP chose.
func (s *Server) sdkServer(r *http.Request) *mcp.Server {
	srv, _ := r.Context().Value(serverKey{}).(*mcp.Server)
	return srv
}

// serverFor returns the go-sdk server listing the tools ti's scopes
// allow, building it on first use.
func (s *Server) serverFor(ti *TokenInfo) *mcp.Server {
	var mask uint64
	for i, t := range s.tools {
		if ti.HasScope(t.scope) {
			mask |= 1 << i
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if srv := s.servers[mask]; srv != nil {
		return srv
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "mcpauthz", Title: s.cfg.ResourceName, Version: s.cfg.Version}, &mcp.ServerOptions{
		Instructions: serverInstructions,
		Logger:       slog.New(minLevel{s.cfg.Logger.Handler(), slog.LevelWarn}),
		// Tools only; no logging capability, no list_changed (stateless).
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
		// What tools/list shows depends on the token: never cache it
		// across users (MCP 2026-07-28 cacheScope).
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.CacheScope = "private" },
	})
	for i := range s.tools {
		if mask&(1<<i) != 0 {
			t := *s.tools[i].tool
			srv.AddTool(&t, s.toolHandler(&s.tools[i]))
		}
	}
	s.servers[mask] = srv
	return srv
}

// minLevel drops records below min: the go-sdk logs every stateless
// connection at Info.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

// truncateForLog bounds attacker-chosen strings in logs.
func truncateForLog(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
