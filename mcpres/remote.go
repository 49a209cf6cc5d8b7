package mcpres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits and defaults of RemoteVerifier.
const (
	// DefaultIntrospectionCacheTTL is RemoteConfig.CacheTTL when zero.
	DefaultIntrospectionCacheTTL = 30 * time.Second
	// MaxIntrospectionCacheTTL caps RemoteConfig.CacheTTL: the longest a
	// revoked token can stay usable at a remote resource that introspects.
	MaxIntrospectionCacheTTL = 5 * time.Minute

	// remoteTimeout bounds every request to the authorization server.
	remoteTimeout = 5 * time.Second
	// remoteMaxBody caps every response read from it.
	remoteMaxBody = 1 << 20
	// jwksMinInterval: the JWKS is fetched at most this often, however
	// many tokens with unknown kids arrive.
	jwksMinInterval = 10 * time.Second
	// jwksMaxAge: a key set older than this is fetched again on use, so
	// that a key the authorization server withdrew stops being trusted.
	jwksMaxAge = 5 * time.Minute
	// jwtLeeway is the clock skew tolerated on exp, iat and nbf.
	jwtLeeway = 30 * time.Second
	// introspectionCacheMax bounds the introspection cache (entries).
	introspectionCacheMax = 10000
)

// jwtAlgorithms are the signature algorithms accepted on access tokens
// (RFC 9068 §4: asymmetric only; "none" and HMAC never).
var jwtAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256}

// RemoteConfig configures a RemoteVerifier.
type RemoteConfig struct {
	// Issuer is the issuer identifier of the remote authorization server
	// (RFC 8414 §2): https, or http on a loopback host, without a trailing
	// slash, query or fragment. Its metadata is fetched from
	// /.well-known/oauth-authorization-server (RFC 8414 §3.1; for an issuer
	// with a path, the well-known segment goes before the path, and
	// {Issuer}/.well-known/openid-configuration is tried next) and its
	// issuer member must equal Issuer byte for byte (RFC 8414 §3.3).
	// Usually the same value as Config.Issuer. Required.
	Issuer string

	// Resource is the canonical URL of this resource (Config.Resource):
	// every token must carry it in its audience. Required.
	Resource string

	// IntrospectionClientID and IntrospectionClientSecret authenticate
	// this resource at the introspection endpoint (RFC 7662 §2.1) with
	// client_secret_basic; with mcpauthz, a client created with
	// `mcpauthz client add --introspect`. Both or neither. Without them
	// only JWT access tokens can be verified and any other token is
	// invalid.
	IntrospectionClientID     string
	IntrospectionClientSecret string

	// AlwaysIntrospect sends every token to the introspection endpoint,
	// JWTs included, so that revocation is seen within CacheTTL instead of
	// at the token's expiry. It needs the introspection credentials.
	AlwaysIntrospect bool

	// CacheTTL is how long an introspection answer, positive or negative,
	// is reused; a positive one never beyond the token's exp. Zero means
	// DefaultIntrospectionCacheTTL; at most MaxIntrospectionCacheTTL.
	CacheTTL time.Duration

	// HTTPClient makes the requests to the authorization server; nil means
	// a client of its own. Either way redirects are not followed and every
	// request times out after 5 s.
	HTTPClient *http.Client

	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// RemoteVerifier is a TokenVerifier for a resource server that runs apart
// from its authorization server: RFC 9068 JWT access tokens are checked
// against the authorization server's JWKS, and anything else (or every
// token, with AlwaysIntrospect) with RFC 7662 introspection. It is safe
// for concurrent use. See the package documentation for how it sees
// revocation.
type RemoteVerifier struct {
	issuer, resource string
	clientID, secret string
	always           bool
	ttl              time.Duration
	client           *http.Client
	now              func() time.Time
	log              *slog.Logger

	jwksURI       string // empty: the authorization server publishes no keys
	introspectURI string // empty: no introspection (endpoint or credentials missing)

	fetchMu      sync.Mutex // serialises JWKS fetches
	jwksMu       sync.Mutex // guards the fields below
	keys         *keySet
	lastFetch    time.Time // last JWKS fetch attempt
	lastFetchErr error     // its error, nil if it worked

	cacheMu sync.Mutex
	cache   map[[sha256.Size]byte]introspected
}

// keySet is one fetched JWKS.
type keySet struct {
	byKID     map[string][]jose.JSONWebKey
	all       []jose.JSONWebKey
	fetchedAt time.Time
}

// introspected is a cached introspection answer.
type introspected struct {
	ti    *TokenInfo // nil for an inactive token
	until time.Time
}

// asMetadata is the part of RFC 8414 metadata the verifier uses.
type asMetadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// NewRemoteVerifier validates cfg, fetches the authorization server's
// metadata and, if it publishes one, its JWKS. It fails when the
// metadata cannot be fetched, names another issuer, or offers no way to
// verify tokens with this configuration; ctx bounds these fetches.
func NewRemoteVerifier(ctx context.Context, cfg RemoteConfig) (*RemoteVerifier, error) {
	var errs []error
	if err := checkBaseURL(cfg.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("mcpres: remote issuer: %w", err))
	}
	if err := checkBaseURL(cfg.Resource); err != nil {
		errs = append(errs, fmt.Errorf("mcpres: remote resource: %w", err))
	}
	if (cfg.IntrospectionClientID == "") != (cfg.IntrospectionClientSecret == "") {
		errs = append(errs, errors.New("mcpres: introspection client ID and secret go together: set both or neither"))
	}
	if cfg.AlwaysIntrospect && cfg.IntrospectionClientID == "" {
		errs = append(errs, errors.New("mcpres: always_introspect needs the introspection client ID and secret"))
	}
	switch {
	case cfg.CacheTTL < 0:
		errs = append(errs, errors.New("mcpres: introspection cache TTL must not be negative"))
	case cfg.CacheTTL > MaxIntrospectionCacheTTL:
		errs = append(errs, fmt.Errorf("mcpres: introspection cache TTL %s is longer than %s", cfg.CacheTTL, MaxIntrospectionCacheTTL))
	case cfg.CacheTTL == 0:
		cfg.CacheTTL = DefaultIntrospectionCacheTTL
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	v := &RemoteVerifier{
		issuer:   cfg.Issuer,
		resource: cfg.Resource,
		clientID: cfg.IntrospectionClientID,
		secret:   cfg.IntrospectionClientSecret,
		always:   cfg.AlwaysIntrospect,
		ttl:      cfg.CacheTTL,
		now:      cfg.Now,
		log:      cfg.Logger,
		cache:    map[[sha256.Size]byte]introspected{},
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.client = &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		v.client = &c
	}
	v.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if v.client.Timeout == 0 || v.client.Timeout > remoteTimeout {
		v.client.Timeout = remoteTimeout
	}

	meta, err := v.fetchMetadata(ctx)
	if err != nil {
		return nil, err
	}
	if meta.JWKSURI != "" {
		if err := checkEndpointURL(meta.JWKSURI); err != nil {
			return nil, fmt.Errorf("mcpres: authorization server jwks_uri: %w", err)
		}
		v.jwksURI = meta.JWKSURI
	}
	if meta.IntrospectionEndpoint != "" {
		if err := checkEndpointURL(meta.IntrospectionEndpoint); err != nil {
			return nil, fmt.Errorf("mcpres: authorization server introspection_endpoint: %w", err)
		}
	}
	switch {
	case v.clientID != "" && meta.IntrospectionEndpoint == "":
		return nil, fmt.Errorf("mcpres: introspection credentials are set but %s has no introspection_endpoint", v.issuer)
	case v.clientID != "":
		v.introspectURI = meta.IntrospectionEndpoint
	case v.jwksURI == "":
		return nil, fmt.Errorf("mcpres: %s publishes no jwks_uri, so its tokens can only be introspected: set the introspection client ID and secret", v.issuer)
	}
	if v.jwksURI != "" && !v.always {
		if err := v.fetchJWKS(ctx); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// VerifyAccessToken implements TokenVerifier. A token that looks like an
// RFC 9068 JWT (three parts, typ at+jwt) is verified locally against the
// JWKS, unless AlwaysIntrospect; any other token is introspected, or is
// invalid when no introspection is configured. Errors that do not wrap
// ErrInvalidToken (the authorization server unreachable, the
// introspection credentials refused) mean the token could not be
// checked.
func (v *RemoteVerifier) VerifyAccessToken(ctx context.Context, token string) (*TokenInfo, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: empty token", ErrInvalidToken)
	}
	if !v.always && v.jwksURI != "" && looksLikeAccessJWT(token) {
		ti, err := v.verifyJWT(ctx, token)
		if errors.Is(err, ErrInvalidToken) {
			v.log.DebugContext(ctx, "remote token verification: JWT refused", "reason", err.Error())
		}
		return ti, err
	}
	if v.introspectURI == "" {
		return nil, fmt.Errorf("%w: not a JWT access token, and introspection is not configured", ErrInvalidToken)
	}
	return v.introspectCached(ctx, token)
}

// looksLikeAccessJWT reports whether token is a compact JWS whose header
// says typ at+jwt (RFC 9068 §2.1).
func looksLikeAccessJWT(token string) bool {
	head, rest, ok := strings.Cut(token, ".")
	if !ok || strings.Count(rest, ".") != 1 || len(head) > 4096 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(b, &h) != nil {
		return false
	}
	typ, _, _ := claimString(h, "typ")
	return isAccessTokenType(typ)
}

// isAccessTokenType: "at+jwt" or "application/at+jwt", case-insensitive
// (RFC 9068 §2.1, RFC 7515 §4.1.9).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// verifyJWT checks an RFC 9068 access token (§4): signature with a key of
// the JWKS under an allowed algorithm, typ, iss, aud, exp, iat and nbf.
func (v *RemoteVerifier) verifyJWT(ctx context.Context, token string) (*TokenInfo, error) {
	jws, err := jose.ParseSignedCompact(token, jwtAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWS with an accepted algorithm: %v", ErrInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: not exactly one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return nil, fmt.Errorf("%w: typ is not at+jwt", ErrInvalidToken)
	}
	keys, err := v.keysFor(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	var payload []byte
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if payload, err = jws.Verify(k.Key); err == nil {
			break
		}
	}
	if payload == nil {
		return nil, fmt.Errorf("%w: signature does not verify with key %q", ErrInvalidToken, h.KeyID)
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(payload, &c); err != nil || c == nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object", ErrInvalidToken)
	}
	if iss, _, _ := claimString(c, "iss"); iss != v.issuer {
		return nil, fmt.Errorf("%w: iss is not %s", ErrInvalidToken, v.issuer)
	}
	return v.tokenInfo(c, true)
}

// tokenInfo checks the claims common to JWTs and introspection answers
// and builds the TokenInfo. strict requires what RFC 9068 §2.2 requires of
// a JWT (sub, client_id, iat).
func (v *RemoteVerifier) tokenInfo(c map[string]json.RawMessage, strict bool) (*TokenInfo, error) {
	now := v.now()
	invalid := func(why string) (*TokenInfo, error) { return nil, fmt.Errorf("%w: %s", ErrInvalidToken, why) }
	exp, ok, valid := claimTime(c, "exp")
	switch {
	case !ok && !strict && valid:
		// RFC 7662 §2.2 makes exp optional in an introspection answer:
		// the answer then holds for as long as it is cached, and the
		// token is asked about again after that.
		exp = now.Add(v.ttl)
	case !ok || !valid:
		return invalid("no valid exp")
	case !now.Before(exp.Add(jwtLeeway)):
		return invalid("expired")
	case strict:
		// A JWT's exp gets the leeway at /mcp too, which checks
		// ExpiresAt. An introspection answer's exp is the authorization
		// server's own word, and its cache entry ends there.
		exp = exp.Add(jwtLeeway)
	}
	iat, ok, valid := claimTime(c, "iat")
	switch {
	case !valid || strict && !ok:
		return invalid("no valid iat")
	case ok && iat.After(now.Add(jwtLeeway)):
		return invalid("iat is in the future")
	}
	if nbf, ok, valid := claimTime(c, "nbf"); !valid {
		return invalid("nbf is not a number")
	} else if ok && nbf.After(now.Add(jwtLeeway)) {
		return invalid("not valid yet (nbf)")
	}
	aud, valid := claimAudience(c)
	if !valid {
		return invalid("aud is not a string or an array of strings")
	}
	if !slices.Contains(aud, v.resource) {
		return invalid("aud does not contain " + v.resource)
	}
	sub, subOK, valid1 := claimString(c, "sub")
	clientID, cidOK, valid2 := claimString(c, "client_id")
	if !valid1 || !valid2 || strict && (!subOK || sub == "" || !cidOK || clientID == "") {
		return invalid("sub or client_id missing")
	}
	scope, _, valid := claimString(c, "scope")
	if !valid {
		return invalid("scope is not a string")
	}
	username, _, _ := claimString(c, "username")
	ti := &TokenInfo{
		Subject:   sub,
		Username:  username,
		ClientID:  clientID,
		Scopes:    strings.Fields(scope),
		Audience:  aud,
		ExpiresAt: exp,
	}
	if sub == clientID {
		// RFC 9068 §2.2: a token without a resource owner
		// (client_credentials) names the client as sub.
		ti.Subject, ti.Username = "", ""
	}
	if raw, ok := c["cnf"]; ok && string(raw) != "null" {
		var cnf map[string]json.RawMessage
		if json.Unmarshal(raw, &cnf) != nil || cnf == nil {
			return invalid("cnf is not an object")
		}
		jkt, ok, valid := claimString(cnf, "jkt")
		if !valid || ok && jkt == "" {
			return invalid("cnf.jkt is not a thumbprint")
		}
		ti.JKT = jkt
		if !ok && len(cnf) > 0 {
			// Bound to something this resource cannot check (an mTLS
			// certificate, RFC 8705 x5t#S256): not a bearer token either.
			return invalid("bound to a confirmation method other than DPoP")
		}
	}
	return ti, nil
}

// keysFor returns the JWKS keys for kid (all keys when kid is empty), fetching the set again when kid is unknown or the set
// is older than jwksMaxAge, at most once per jwksMinInterval. While one
// request refreshes a stale set, the others go on with it; a request for
// an unknown kid waits for a fetch in flight.
func (v *RemoteVerifier) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	ks, _, _ := v.keyState()
	if ks != nil && len(ks.lookup(kid)) > 0 {
		if v.now().Sub(ks.fetchedAt) < jwksMaxAge {
			return ks.lookup(kid), nil
		}
		// Stale: one request refreshes, the others use what they have.
		if v.fetchMu.TryLock() {
			v.maybeFetch(ctx)
			v.fetchMu.Unlock()
		}
		if ks, _, _ := v.keyState(); ks != nil && len(ks.lookup(kid)) > 0 {
			return ks.lookup(kid), nil
		}
		return nil, fmt.Errorf("%w: key %q was withdrawn from the authorization server's JWKS", ErrInvalidToken, kid)
	}
	v.fetchMu.Lock()
	v.maybeFetch(ctx)
	v.fetchMu.Unlock()
	ks, _, lastErr := v.keyState()
	if ks != nil && len(ks.lookup(kid)) > 0 {
		return ks.lookup(kid), nil
	}
	if lastErr != nil {
		// Cannot decide: the keys are unreachable.
		return nil, fmt.Errorf("mcpres: no key %q and the JWKS cannot be fetched: %w", kid, lastErr)
	}
	return nil, fmt.Errorf("%w: no key %q in the authorization server's JWKS", ErrInvalidToken, kid)
}

func (v *RemoteVerifier) keyState() (*keySet, time.Time, error) {
	v.jwksMu.Lock()
	defer v.jwksMu.Unlock()
	return v.keys, v.lastFetch, v.lastFetchErr
}

// maybeFetch fetches the JWKS unless the last attempt was less than
// jwksMinInterval ago; v.fetchMu is held.
func (v *RemoteVerifier) maybeFetch(ctx context.Context) {
	if _, last, _ := v.keyState(); v.now().Sub(last) < jwksMinInterval {
		return
	}
	// One client hanging up must not fail the fetch the others wait for
	// (and throttle the next one); get still times out after 5 s.
	if err := v.fetchJWKS(context.WithoutCancel(ctx)); err != nil {
		v.log.WarnContext(ctx, "remote token verification: JWKS fetch failed", "jwks_uri", v.jwksURI, "error", err)
	}
}

// lookup returns the keys a JWT with kid may be signed with: the key with
// that kid, or for a JWT without kid (RFC 7515 makes it optional) every key
// of the set, tried in turn (the caller skips those of another alg).
func (ks *keySet) lookup(kid string) []jose.JSONWebKey {
	if kid == "" {
		return ks.all
	}
	return ks.byKID[kid]
}

// fetchJWKS fetches the JWKS; v.fetchMu is held (or v is not shared
// yet). Keys that do not parse, are not public, are not for signatures or
// have an algorithm not accepted are skipped. On failure the previous set
// stays.
func (v *RemoteVerifier) fetchJWKS(ctx context.Context) error {
	v.jwksMu.Lock()
	v.lastFetch = v.now()
	v.jwksMu.Unlock()
	var ks *keySet
	body, err := v.get(ctx, v.jwksURI)
	if err == nil {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err = json.Unmarshal(body, &set); err == nil && set.Keys == nil {
			err = errors.New("no keys member")
		}
		if err == nil {
			ks = &keySet{byKID: map[string][]jose.JSONWebKey{}, fetchedAt: v.now()}
			for _, raw := range set.Keys {
				var k jose.JSONWebKey
				if k.UnmarshalJSON(raw) != nil || !k.Valid() || !k.IsPublic() ||
					k.Use != "" && k.Use != "sig" ||
					k.Algorithm != "" && !slices.Contains(jwtAlgorithms, jose.SignatureAlgorithm(k.Algorithm)) {
					continue
				}
				ks.all = append(ks.all, k)
				ks.byKID[k.KeyID] = append(ks.byKID[k.KeyID], k)
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("mcpres: JWKS %s: %w", v.jwksURI, err)
	}
	v.jwksMu.Lock()
	defer v.jwksMu.Unlock()
	if ks != nil {
		v.keys = ks
	}
	v.lastFetchErr = err
	return err
}

// fetchMetadata fetches and checks the authorization server metadata.
func (v *RemoteVerifier) fetchMetadata(ctx context.Context) (*asMetadata, error) {
	u, _ := url.Parse(v.issuer)
	path := strings.TrimSuffix(u.Path, "/")
	candidates := []string{u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path}
	candidates = append(candidates, v.issuer+"/.well-known/openid-configuration")
	var errs []error
	for _, c := range candidates {
		body, err := v.get(ctx, c)
		if err != nil {
			errs = append(errs, err)
			var se *statusError
			if errors.As(err, &se) && se.status == http.StatusNotFound {
				continue
			}
			break
		}
		var m asMetadata
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("mcpres: authorization server metadata %s: %w", c, err)
		}
		if m.Issuer != v.issuer {
			return nil, fmt.Errorf("mcpres: authorization server metadata %s names the issuer %q, not %q (RFC 8414 §3.3)", c, m.Issuer, v.issuer)
		}
		return &m, nil
	}
	return nil, fmt.Errorf("mcpres: authorization server metadata of %s: %w", v.issuer, errors.Join(errs...))
}

// statusError is an unexpected HTTP status from the authorization server.
type statusError struct {
	url    string
	status int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d", e.url, e.status)
}

// get fetches a JSON document from the authorization server.
func (v *RemoteVerifier) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{url: u, status: resp.StatusCode}
	}
	return body, nil
}

// readLimited reads at most remoteMaxBody bytes and fails beyond that.
func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, remoteMaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > remoteMaxBody {
		return nil, fmt.Errorf("response larger than %d bytes", remoteMaxBody)
	}
	return b, nil
}

// introspectCached answers from the cache or introspects. Answers are
// cached by the token's SHA-256 (the token itself is not kept): a positive
// one for CacheTTL but never beyond the token's exp, a negative one for
// CacheTTL. Failures are not cached.
func (v *RemoteVerifier) introspectCached(ctx context.Context, token string) (*TokenInfo, error) {
	key := sha256.Sum256([]byte(token))
	now := v.now()
	v.cacheMu.Lock()
	e, ok := v.cache[key]
	v.cacheMu.Unlock()
	if ok && now.Before(e.until) {
		if e.ti == nil {
			return nil, fmt.Errorf("%w: inactive (cached)", ErrInvalidToken)
		}
		return cloneTokenInfo(e.ti), nil
	}
	ti, err := v.introspect(ctx, token)
	switch {
	case err == nil:
		until := now.Add(v.ttl)
		if ti.ExpiresAt.Before(until) {
			until = ti.ExpiresAt
		}
		v.cachePut(key, introspected{ti: ti, until: until}, now)
		return cloneTokenInfo(ti), nil
	case errors.Is(err, ErrInvalidToken):
		v.log.DebugContext(ctx, "remote token verification: introspection refused the token", "reason", err.Error())
		v.cachePut(key, introspected{until: now.Add(v.ttl)}, now)
		return nil, err
	default:
		return nil, err
	}
}

// cachePut adds a cache entry; when the cache is full, expired entries go
// first, then arbitrary ones until a tenth is free.
func (v *RemoteVerifier) cachePut(key [sha256.Size]byte, e introspected, now time.Time) {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	if len(v.cache) >= introspectionCacheMax {
		for k, old := range v.cache {
			if !now.Before(old.until) {
				delete(v.cache, k)
			}
		}
		for k := range v.cache {
			if len(v.cache) < introspectionCacheMax*9/10 {
				break
			}
			delete(v.cache, k)
		}
	}
	v.cache[key] = e
}

// introspect asks the introspection endpoint (RFC 7662 §2) about token.
func (v *RemoteVerifier) introspect(ctx context.Context, token string) (*TokenInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.introspectURI, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: client_secret_basic form-encodes both parts first.
	req.SetBasicAuth(url.QueryEscape(v.clientID), url.QueryEscape(v.secret))
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mcpres: introspection: %w", err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("mcpres: introspection: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// A misconfigured resource server: fail loudly (503 and an Error
		// log), never as if every token were invalid.
		return nil, fmt.Errorf("mcpres: introspection: %s refused the client credentials of %q (HTTP %d): check the introspection client ID and secret, and that the client may introspect (mcpauthz client add --introspect)",
			v.introspectURI, v.clientID, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("mcpres: introspection: %w", &statusError{url: v.introspectURI, status: resp.StatusCode})
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "" && ct != "application/json" && !strings.HasSuffix(ct, "+json") {
		return nil, fmt.Errorf("mcpres: introspection: %s answered %s, not JSON", v.introspectURI, ct)
	}
	var c map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(body), &c); err != nil || c == nil {
		return nil, fmt.Errorf("mcpres: introspection: the answer is not a JSON object: %v", err)
	}
	if string(c["active"]) != "true" {
		return nil, fmt.Errorf("%w: inactive", ErrInvalidToken)
	}
	if iss, ok, _ := claimString(c, "iss"); ok && iss != v.issuer {
		return nil, fmt.Errorf("%w: iss is not %s", ErrInvalidToken, v.issuer)
	}
	tt, _, _ := claimString(c, "token_type")
	if tt != "" && !strings.EqualFold(tt, "Bearer") && !strings.EqualFold(tt, "DPoP") {
		return nil, fmt.Errorf("%w: token_type %q is not an access token", ErrInvalidToken, truncateForLog(tt))
	}
	ti, err := v.tokenInfo(c, false)
	if err == nil && strings.EqualFold(tt, "DPoP") && ti.JKT == "" {
		// Bound, says the server, but to no key this resource can check:
		// never a bearer token (RFC 9449 §7.2).
		return nil, fmt.Errorf("%w: token_type is DPoP but the answer has no cnf.jkt", ErrInvalidToken)
	}
	return ti, err
}

func cloneTokenInfo(ti *TokenInfo) *TokenInfo {
	c := *ti
	c.Scopes = slices.Clone(ti.Scopes)
	c.Audience = slices.Clone(ti.Audience)
	return &c
}

// checkEndpointURL accepts an absolute https URL, or http on a loopback
// host, without user info or fragment (RFC 8414 §2).
func checkEndpointURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL without user info or fragment", s)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("%q is not an https URL", s)
	}
	return nil
}

// claimString returns c[name]: present reports whether it is there and
// not null; valid is false if it is there but not a string. Members are
// matched exactly, unlike encoding/json's case-folding struct decoding.
func claimString(c map[string]json.RawMessage, name string) (s string, present, valid bool) {
	r, ok := c[name]
	if !ok || string(r) == "null" {
		return "", false, true
	}
	if len(r) == 0 || r[0] != '"' || json.Unmarshal(r, &s) != nil {
		return "", true, false
	}
	return s, true, true
}

// claimTime returns the NumericDate c[name] (RFC 7519 §2).
func claimTime(c map[string]json.RawMessage, name string) (t time.Time, present, valid bool) {
	r, ok := c[name]
	if !ok || string(r) == "null" {
		return time.Time{}, false, true
	}
	f, err := strconv.ParseFloat(string(r), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, true
}

// claimAudience returns aud, a string or an array of strings (RFC 7519
// §4.1.3, RFC 7662 §2.2).
func claimAudience(c map[string]json.RawMessage) ([]string, bool) {
	r, ok := c["aud"]
	if !ok || string(r) == "null" {
		return nil, true
	}
	var one string
	if json.Unmarshal(r, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(r, &many) == nil {
		return many, true
	}
	return nil, false
}
