package authz

// This file implements OAuth 2.0 Dynamic Client Registration (RFC 7591) at
// POST /register and its management protocol (RFC 7592) at
// GET, PUT and DELETE /register/{client_id}. Validation lives in
// clientmeta.go and redirecturi.go; the handlers only parse, decide and
// write.
//
// Choices the RFCs leave open:
//   - A body over Registration.MaxBodyBytes gets 413 with an
//     invalid_client_metadata body; a Content-Type other than
//     application/json (parameters such as charset allowed) gets 400
//     invalid_client_metadata, the status RFC 7591 §3.2.2 gives every
//     registration error.
//   - With registration mode "off" the server leaves both routes out (see
//     enabled); routed anyway, they answer 403 access_denied. Mode "token"
//     requires Authorization: Bearer <initial access token> on POST
//     /register only (RFC 7591 §3); the registration access token is the
//     credential of the management endpoints.
//   - scope may list offline_access, which is accepted and dropped: refresh
//     tokens follow the refresh_token grant.
//   - The client secret and the registration access token are never
//     rotated: the store holds only their keyed hashes, so GET and PUT
//     cannot return the secret, and they echo the registration access token
//     the caller presented (RFC 7592 §3 requires it in the response).
//   - PUT may switch between client_secret_basic and client_secret_post but
//     not between a public client, a client with a secret and a
//     private_key_jwt client: such a client registers anew. A
//     private_key_jwt client gets no secret; its keys are its jwks or
//     jwks_uri. client_id_issued_at, client_secret_expires_at,
//     registration_access_token and registration_client_uri in a PUT body
//     are ignored.
//   - An unknown client, a client registered on the command line and a
//     wrong token all get the same 401 invalid_token (RFC 7592 §2).

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

// registrar serves dynamic client registration. It is safe for concurrent
// use.
type registrar struct {
	cfg    Config
	store  store.Store
	hasher *SecretHasher
	now    func() time.Time
	log    *slog.Logger
}

// newRegistrar returns a registrar for cfg (with defaults applied, as New
// does) on st, hashing secrets with hasher.
func newRegistrar(cfg Config, st store.Store, hasher *SecretHasher) *registrar {
	cfg = cfg.WithDefaults()
	return &registrar{cfg: cfg, store: st, hasher: hasher, now: cfg.Now, log: cfg.Logger}
}

// enabled reports whether dynamic registration is on (mode open or token).
// When it is not, the server may leave both routes out and omit
// registration_endpoint from its metadata; if routed anyway, they answer
// 403 access_denied.
func (g *registrar) enabled() bool { return g.cfg.Registration.Mode != RegistrationOff }

// registrationEndpoint returns the URL of POST /register.
func (g *registrar) registrationEndpoint() string {
	return strings.TrimSuffix(g.cfg.Issuer, "/") + "/register"
}

// clientInformation is the client information response of RFC 7591 §3.2.1
// and RFC 7592 §3. Empty fields are omitted, never null.
type clientInformation struct {
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret,omitempty"`
	ClientIDIssuedAt int64  `json:"client_id_issued_at,omitempty"`
	// ClientSecretExpiresAt is 0 (never) for confidential clients and
	// absent for public ones.
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
	ClientMetadata
}

// serveRegister handles POST /register (RFC 7591 §3.1): 201 with the client
// information, 400 invalid_client_metadata or invalid_redirect_uri, 401
// invalid_token (mode token), 403 access_denied (mode off), 413 for a body
// over the limit.
func (g *registrar) serveRegister(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		g.fail(w, r, newError(http.StatusMethodNotAllowed, codeInvalidRequest, "use POST"))
		return
	}
	if err := g.authorizeRegistration(r); err != nil {
		g.fail(w, r, err)
		return
	}
	body, err := g.readJSONBody(w, r)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	md, err := ParseClientMetadata(body, metadataPolicy(g.cfg))
	if err != nil {
		g.fail(w, r, err)
		return
	}
	c, secret, regToken, err := g.register(r.Context(), md)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	g.log.InfoContext(r.Context(), "client registered",
		"client_id", c.ID, "client_name", md.ClientName,
		"token_endpoint_auth_method", md.TokenEndpointAuthMethod,
		"redirect_hosts", redirectHosts(md.RedirectURIs))
	info := g.information(c, md, regToken)
	info.ClientSecret = secret
	w.Header().Set("Location", info.RegistrationClientURI)
	writeJSON(w, http.StatusCreated, info)
}

// register stores a new client with md and returns it with its raw secret
// ("" for a public client) and registration access token.
func (g *registrar) register(ctx context.Context, md *ClientMetadata) (c *store.Client, secret, regToken string, err error) {
	regToken = randomToken(32)
	c = &store.Client{
		Source:                ClientSourceDCR,
		RegistrationTokenHash: g.hasher.Sum([]byte(regToken)),
	}
	md.ApplyTo(c)
	if usesSecret(md.TokenEndpointAuthMethod) {
		secret = randomToken(32)
		c.SecretHash = g.hasher.Sum([]byte(secret))
	}
	// 128 random bits do not collide; the loop only guards against a
	// broken random source turning into a confusing error.
	for range 3 {
		c.ID = randomToken(16)
		c.CreatedAt = g.now().UTC()
		c.UpdatedAt = c.CreatedAt
		err = g.store.CreateClient(ctx, c)
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return nil, "", "", err
	}
	return c, secret, regToken, nil
}

// serveClientConfig handles the client configuration endpoint of RFC 7592
// §2, /register/{client_id}: GET reads (200), PUT replaces the metadata
// (200), DELETE removes the client with its consents and tokens (204). The
// request must carry Authorization: Bearer <registration access token>;
// without a valid one it gets 401 invalid_token.
func (g *registrar) serveClientConfig(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		g.fail(w, r, newError(http.StatusMethodNotAllowed, codeInvalidRequest, "use GET, PUT or DELETE"))
		return
	}
	if !g.enabled() {
		g.fail(w, r, errRegistrationDisabled())
		return
	}
	token, ok := bearerCredential(r)
	if !ok {
		g.fail(w, r, errInvalidRegistrationToken())
		return
	}
	c, err := g.authenticateClient(r.Context(), r.PathValue("client_id"), token)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	switch r.Method {
	case http.MethodGet:
		md, err := ClientMetadataOf(c)
		if err != nil {
			g.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, g.information(c, md, token))
	case http.MethodPut:
		g.update(w, r, c, token)
	case http.MethodDelete:
		if err := g.store.DeleteClient(r.Context(), c.ID); errors.Is(err, store.ErrNotFound) {
			g.fail(w, r, errInvalidRegistrationToken())
			return
		} else if err != nil {
			g.fail(w, r, err)
			return
		}
		g.log.InfoContext(r.Context(), "client deleted itself", "client_id", c.ID)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
}

// update handles PUT /register/{client_id} (RFC 7592 §2.2) for the
// authenticated client c.
func (g *registrar) update(w http.ResponseWriter, r *http.Request, c *store.Client, token string) {
	body, err := g.readJSONBody(w, r)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	fields, err := decodeJSONObject(body)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	f := fieldReader{fields: fields}
	bodyID, bodySecret := f.str("client_id"), f.str("client_secret")
	if f.err != nil {
		g.fail(w, r, f.err)
		return
	}
	if bodyID != c.ID {
		g.fail(w, r, metadataError("client_id in the body must be the client's own (RFC 7592 §2.2)"))
		return
	}
	if bodySecret != "" && (len(c.SecretHash) == 0 || g.hasher.Verify(c.SecretHash, []byte(bodySecret)) != nil) {
		g.fail(w, r, metadataError("client_secret does not match the issued secret; it cannot be chosen by the client (RFC 7592 §2.2)"))
		return
	}
	md, err := clientMetadataFromFields(fields, metadataPolicy(g.cfg))
	if err != nil {
		g.fail(w, r, err)
		return
	}
	if authKind(md.TokenEndpointAuthMethod) != authKind(c.TokenEndpointAuthMethod) {
		g.fail(w, r, metadataError("token_endpoint_auth_method cannot change between none, a client secret method and private_key_jwt (now %s); register a new client instead", c.TokenEndpointAuthMethod))
		return
	}
	updated := *c
	md.ApplyTo(&updated)
	updated.UpdatedAt = g.now().UTC()
	if err := g.store.UpdateClient(r.Context(), &updated); errors.Is(err, store.ErrNotFound) {
		g.fail(w, r, errInvalidRegistrationToken())
		return
	} else if err != nil {
		g.fail(w, r, err)
		return
	}
	g.log.InfoContext(r.Context(), "client updated its registration",
		"client_id", c.ID, "client_name", md.ClientName,
		"redirect_hosts", redirectHosts(md.RedirectURIs))
	writeJSON(w, http.StatusOK, g.information(&updated, md, token))
}

// information builds the client information response for c registered
// with md; regToken is echoed as registration_access_token.
func (g *registrar) information(c *store.Client, md *ClientMetadata, regToken string) *clientInformation {
	info := &clientInformation{
		ClientID:                c.ID,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		RegistrationAccessToken: regToken,
		RegistrationClientURI:   g.registrationEndpoint() + "/" + url.PathEscape(c.ID),
		ClientMetadata:          *md,
	}
	if usesSecret(c.TokenEndpointAuthMethod) {
		var never int64
		info.ClientSecretExpiresAt = &never
	}
	return info
}

// authorizeRegistration applies the operator's registration mode to a
// registration request.
func (g *registrar) authorizeRegistration(r *http.Request) error {
	switch g.cfg.Registration.Mode {
	case RegistrationOpen:
		return nil
	case RegistrationToken:
		token, ok := bearerCredential(r)
		want := g.cfg.Registration.InitialAccessToken
		if !ok || want == "" || !equalSecretStrings(token, want) {
			return errInvalidRegistrationToken()
		}
		return nil
	default: // RegistrationOff, and any mode Validate would have refused
		return errRegistrationDisabled()
	}
}

// authenticateClient returns the client with that id if token is its
// registration access token, and 401 invalid_token otherwise, also when the
// client does not exist or was not registered dynamically.
func (g *registrar) authenticateClient(ctx context.Context, id, token string) (*store.Client, error) {
	c, err := g.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		g.hasher.Sum([]byte(token)) // spend the same time as a mismatch
		return nil, errInvalidRegistrationToken()
	} else if err != nil {
		return nil, err
	}
	if c.Source != "dcr" || len(c.RegistrationTokenHash) == 0 || g.hasher.Verify(c.RegistrationTokenHash, []byte(token)) != nil {
		return nil, errInvalidRegistrationToken()
	}
	return c, nil
}

// readJSONBody reads a request body that must be application/json and at
// most Registration.MaxBodyBytes long.
func (g *registrar) readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, metadataError("Content-Type must be application/json")
	}
	limit := g.cfg.Registration.MaxBodyBytes
	if limit <= 0 {
		limit = 64 << 10
	}
	tooLarge := newError(http.StatusRequestEntityTooLarge, codeInvalidClientMetadata, "the request body is larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, metadataError("could not read the request body")
	}
	return body, nil
}

// fail writes err: an *Error with a status below 500 as itself (with a
// WWW-Authenticate challenge for invalid_token, RFC 6750 §3), logged at
// Debug; anything else as 500 server_error, logged at Error.
func (g *registrar) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := errors.AsType[*Error](err); ok && e.Status < http.StatusInternalServerError {
		if e.Code == codeInvalidToken {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		g.log.DebugContext(r.Context(), "registration request refused",
			"method", r.Method, "path", r.URL.Path, "error", e)
		writeJSONError(w, e)
		return
	}
	g.log.ErrorContext(r.Context(), "registration request failed",
		"method", r.Method, "path", r.URL.Path, "error", err)
	writeJSONError(w, &Error{Code: codeServerError, Status: http.StatusInternalServerError, Description: "internal error"})
}

func errInvalidRegistrationToken() *Error {
	return newError(http.StatusUnauthorized, codeInvalidToken, "missing or invalid access token")
}

func errRegistrationDisabled() *Error {
	return newError(http.StatusForbidden, codeAccessDenied, "dynamic client registration is disabled")
}

// bearerCredential returns the token of an Authorization: Bearer header
// (RFC 6750 §2.1; the scheme is case-insensitive).
func bearerCredential(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// equalSecretStrings compares two secrets in time independent of their
// contents and lengths.
func equalSecretStrings(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// redirectHosts lists, for logs, where a client's redirect URIs lead.
func redirectHosts(uris []string) []string {
	hosts := make([]string, 0, len(uris))
	for _, u := range uris {
		hosts = append(hosts, redirectHost(u))
	}
	return uniqueStrings(hosts)
}
