package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/authz/dpop"
	"github.com/mcpauthz/mcpauthz/mcpres"
	"github.com/mcpauthz/mcpauthz/store"
)

// App is a running mcpauthz: the store, the authorization server and the
// HTTP server around them. The end-to-end tests build the same App.
type App struct {
	Config FileConfig
	Log    *slog.Logger
	Store  store.Store
	Authz  *authz.Server
	MCP    *mcpres.Server

	handler http.Handler
	stderr  io.Writer
}

// openApp resolves fc, opens the database (applying migrations), creates
// the first administrator if there is no user yet, and builds every
// handler. Nothing listens yet. With mcp.authorization_server set, it
// builds only the MCP resource, trusting that remote server's tokens.
func openApp(ctx context.Context, fc FileConfig, log *slog.Logger, stderr io.Writer) (*App, error) {
	if err := fc.validate(); err != nil {
		return nil, err
	}
	if !fc.resourceOnly() {
		if err := authz.ValidateOwnIssuer(fc.Issuer); err != nil {
			return nil, err
		}
	}
	master, err := fc.masterKey(true, func(msg string) { log.Warn(msg) })
	if err != nil {
		return nil, err
	}
	secrets, err := authz.DeriveSecrets(master)
	if err != nil {
		return nil, err
	}
	acfg := fc.authzConfig(secrets)
	acfg.Logger = log
	acfg = acfg.WithDefaults()
	if !fc.resourceOnly() {
		if err := acfg.Validate(); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(ctx, store.Config{DSN: fc.DB, Logger: log})
	if err != nil {
		return nil, err
	}
	a := &App{Config: fc, Log: log, Store: st, stderr: stderr}
	if err := a.build(ctx, acfg, secrets); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// build creates the servers and the handler.
func (a *App) build(ctx context.Context, acfg authz.Config, secrets *authz.Secrets) error {
	fc, st, log := a.Config, a.Store, a.Log
	rsDPoP, err := dpop.New(dpop.Config{
		Replay:   st,
		IsReplay: func(err error) bool { return errors.Is(err, store.ErrReplay) },
		// The same nonce key as the token endpoint: on one origin a client
		// keeps one nonce (RFC 9449 §8), and either server accepts it.
		Nonces:          dpop.NewNonceSource(secrets.Nonce, 0, nil),
		RequireNonce:    fc.DPoP.RequireNonce,
		ReplayKeyPrefix: "dpop:rs:",
	})
	if err != nil {
		return fmt.Errorf("dpop: %w", err)
	}
	scopes := make([]string, 0, len(acfg.Scopes))
	for _, sc := range acfg.Scopes {
		scopes = append(scopes, sc.Name)
	}
	mcfg := mcpres.Config{
		Issuer:          acfg.Issuer,
		Resource:        acfg.Resources[0],
		ResourceName:    fc.MCP.ResourceName,
		ScopesSupported: scopes,
		AllowedHosts:    fc.MCP.AllowedHosts,
		AllowedOrigins:  fc.MCP.AllowedOrigins,
		RateLimit:       &mcpres.RateLimit{PerMinute: fc.MCP.RateLimitPerMinute, Burst: fc.MCP.RateLimitBurst},
		SearchLimit:     fc.MCP.SearchLimit,
		Version:         buildVersion(),
		DPoP:            rsDPoP,
		RequireDPoP:     fc.DPoP.Require,
		Logger:          log,
	}
	mux := http.NewServeMux()
	var verifier mcpres.TokenVerifier
	if fc.resourceOnly() {
		mcfg.Issuer, mcfg.Resource = fc.MCP.AuthorizationServer, fc.MCP.Resource
		mcfg.DocumentBaseURL = strings.TrimSuffix(fc.MCP.Resource, fc.resourcePath())
		rv, err := mcpres.NewRemoteVerifier(ctx, mcpres.RemoteConfig{
			Issuer:                    fc.MCP.AuthorizationServer,
			Resource:                  fc.MCP.Resource,
			IntrospectionClientID:     fc.MCP.IntrospectionClientID,
			IntrospectionClientSecret: fc.MCP.IntrospectionClientSecret,
			AlwaysIntrospect:          fc.MCP.AlwaysIntrospect,
			CacheTTL:                  fc.MCP.IntrospectionCacheTTL,
			Logger:                    log,
		})
		if err != nil {
			return fmt.Errorf("mcp.authorization_server: %w", err)
		}
		verifier = rv
		// The citation pages of search and fetch results: public documents
		// only, as nobody signs in here. The site's home is the issuer's.
		pages, err := authz.NewPages(fc.MCP.AuthorizationServer)
		if err != nil {
			return err
		}
		pages.SetLogger(log)
		mux.Handle("GET /static/", pages.Static())
		mux.Handle("GET /docs/{id}", authz.PublicDocuments(pages, st, log))
		mux.Handle("GET /{$}", http.RedirectHandler(fc.MCP.AuthorizationServer+"/", http.StatusFound))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeStatus(w, http.StatusOK, "ok") })
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			if err := st.Ping(r.Context()); err != nil {
				writeStatus(w, http.StatusServiceUnavailable, "database unreachable")
				return
			}
			writeStatus(w, http.StatusOK, "ready")
		})
		log.Info("resource-only mode", "authorization_server", fc.MCP.AuthorizationServer, "resource", fc.MCP.Resource)
	} else {
		srv, err := authz.New(acfg, st)
		if err != nil {
			return err
		}
		a.Authz = srv
		if err := a.ensureAdmin(ctx, fc.development()); err != nil {
			return err
		}
		verifier = inProcessVerifier{srv}
		mux.Handle("/", srv)
	}
	rs, err := mcpres.New(mcfg, st, verifier)
	if err != nil {
		return fmt.Errorf("mcp: %w", err)
	}
	a.MCP = rs
	if fc.development() {
		// The bundled documentation is something to search on a first
		// try, not content for a deployment's users.
		if err := importEmbeddedDocs(ctx, st); err != nil {
			return err
		}
	}
	rs.Mount(mux)
	a.handler = logRequests(log, mux)
	return nil
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"status\":%q}\n", msg)
}

// ensureAdmin creates an "admin" account with a random password on the
// first start of a development server (no users at all) and prints the
// password once, on stderr. Any other server only warns that there are no
// users: its stderr is a log stream that is kept, and a working password
// must not end up there.
func (a *App) ensureAdmin(ctx context.Context, development bool) error {
	n, err := a.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	if !development {
		a.Log.Warn("there are no user accounts yet: create one with `mcpauthz user add NAME --password-stdin`")
		return nil
	}
	pw := rand.Text()
	hash, err := authz.NewPasswordHasher(authz.DefaultArgon2Params()).Hash(pw)
	if err != nil {
		return err
	}
	err = a.Store.CreateUser(ctx, &store.User{ID: newID(), Name: "admin", PasswordHash: hash})
	if errors.Is(err, store.ErrConflict) {
		return nil // another instance got there first
	} else if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "\nFirst start: created the user \"admin\" with the password\n\n    %s\n\nIt is shown only this once. Change it with: mcpauthz user passwd admin --password-stdin\n\n", pw)
	return nil
}

// Handler is the whole HTTP surface.
func (a *App) Handler() http.Handler { return a.handler }

// Close releases the database.
func (a *App) Close() error { return a.Store.Close() }

// serve listens on ln until ctx ends, then stops accepting, lets in-flight
// requests finish (up to 20 s) and returns. Expired codes, tokens and nonces
// are collected in the background.
func (a *App) serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	go a.collectGarbage(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	a.Log.Info("serving", "addr", ln.Addr().String(), "issuer", a.Config.Issuer)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func (a *App) collectGarbage(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := a.Store.DeleteExpired(ctx, time.Now())
			if err != nil && ctx.Err() == nil {
				a.Log.Error("collect expired records", "error", err)
			} else if n > 0 {
				a.Log.Debug("collected expired records", "rows", n)
			}
		}
	}
}

// logRequests logs each request's method, path (never the query: it can
// hold codes), status and duration.
func logRequests(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.Method == http.MethodOptions {
			level = slog.LevelDebug
		}
		log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush for streaming responses.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func newID() string { return rand.Text() }

// inProcessVerifier checks access tokens for the bundled MCP resource
// against the authorization server in the same process, so a revoked token
// is refused at once.
type inProcessVerifier struct{ as *authz.Server }

func (v inProcessVerifier) VerifyAccessToken(ctx context.Context, token string) (*mcpres.TokenInfo, error) {
	at, err := v.as.VerifyAccessToken(ctx, token)
	if errors.Is(err, authz.ErrInvalidToken) {
		return nil, fmt.Errorf("%w: %v", mcpres.ErrInvalidToken, err)
	} else if err != nil {
		return nil, err
	}
	return &mcpres.TokenInfo{
		Subject:   at.Subject,
		Username:  at.Username,
		ClientID:  at.ClientID,
		Scopes:    at.Scopes,
		Audience:  at.Audience,
		ExpiresAt: at.ExpiresAt,
		JKT:       at.JKT,
	}, nil
}
