package authz

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
)

// Config is the resolved configuration of the authorization server. The
// command line builds it from flags, environment and the YAML file; tests
// build it directly. Zero durations take the defaults of WithDefaults.
type Config struct {
	// Issuer is the RFC 8414 issuer identifier, e.g. https://auth.example.com.
	// Every endpoint lives on its origin.
	Issuer string
	// Resources are the canonical URLs of the protected resources tokens may
	// be issued for (RFC 8707). The first is the default when a client names
	// none. Usually just the MCP endpoint, {issuer}/mcp.
	Resources []string
	// Scopes the server knows, in display order, with plain-words
	// descriptions for the consent page.
	Scopes []Scope
	// DefaultScopes are granted when a client asks for none and registered
	// none (ChatGPT omits scope on reconnect).
	DefaultScopes []string

	// TokenFormat is TokenFormatJWT (default) or TokenFormatOpaque.
	TokenFormat          string
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	AuthCodeLifetime     time.Duration
	// RefreshReuseGrace: a rotated-out refresh token presented again within
	// this window (clients that refresh concurrently) gets invalid_grant but
	// leaves the family alone; after it, the whole family is revoked.
	RefreshReuseGrace time.Duration
	// SessionLifetime is how long a login lasts.
	SessionLifetime time.Duration

	Registration RegistrationPolicy
	Login        LoginPolicy
	// TrustedProxies are addresses or CIDR prefixes of reverse proxies in
	// front of the server; for requests from them, the client address is
	// taken from X-Forwarded-For (login throttling, registration limit).
	TrustedProxies []string
	DPoP           DPoPPolicy
	// CIMD is the policy for Client ID Metadata Documents: client_ids that
	// are https URLs of a JSON document describing the client.
	CIMD CIMDPolicy
	// FetchAllowLoopback is the development switch of the outbound fetcher
	// (Client ID Metadata Documents, jwks_uri): it lets clients make the
	// server fetch from loopback addresses, over plain http too. UNSAFE
	// beyond one machine; Validate refuses it unless the issuer is loopback.
	FetchAllowLoopback bool
	// Argon2 are the password hashing costs; zero means DefaultArgon2Params.
	Argon2 Argon2Params

	// Secrets are derived from the master key (DeriveSecrets).
	Secrets *Secrets

	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Scope is a scope the server can grant.
type Scope struct {
	Name        string
	Description string // plain words, shown on the consent page
}

// Registration modes.
const (
	RegistrationOpen  = "open"  // anyone may register (RFC 7591 open registration)
	RegistrationToken = "token" // an initial access token is required (RFC 7591 §3)
	RegistrationOff   = "off"   // no dynamic registration
)

// RegistrationPolicy is the operator's policy for dynamic registration.
type RegistrationPolicy struct {
	Mode string // open (default), token or off
	// InitialAccessToken is required as a Bearer token when Mode is token.
	InitialAccessToken string
	// AllowedRedirectHosts, when not empty, limits the hosts of registered
	// https redirect URIs; "*.example.com" matches subdomains. Loopback and
	// private-use scheme URIs are not affected.
	AllowedRedirectHosts []string
	// MaxBodyBytes caps a registration request body.
	MaxBodyBytes int64
	// MaxPerMinute caps registrations per client IP address and minute;
	// 0 means the default (60), a negative value turns the limit off.
	MaxPerMinute int
}

// LoginPolicy throttles password guessing.
type LoginPolicy struct {
	// MaxFailures within Window, per account and per client IP, before
	// further attempts are refused until the window passes.
	MaxFailures int
	Window      time.Duration
}

// Client ID Metadata Document modes.
const (
	CIMDOpen      = "open"      // any host's documents are accepted (default)
	CIMDAllowlist = "allowlist" // only documents on AllowedHosts
	CIMDOff       = "off"       // client_id URLs are unknown clients
)

// CIMDPolicy is the operator's policy for Client ID Metadata Documents.
type CIMDPolicy struct {
	Mode string // open (default), allowlist or off
	// AllowedHosts are the hosts whose documents are accepted in allowlist
	// mode: a host name, or "*.example.com" for its subdomains (not
	// example.com itself).
	AllowedHosts []string
}

// enabled reports whether client_id URLs are looked up at all.
func (p CIMDPolicy) enabled() bool { return p.Mode != CIMDOff }

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Resources) == 0 && c.Issuer != "" {
		c.Resources = []string{strings.TrimSuffix(c.Issuer, "/") + "/mcp"}
	}
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes()
	}
	if len(c.DefaultScopes) == 0 {
		for _, s := range c.Scopes {
			c.DefaultScopes = append(c.DefaultScopes, s.Name)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.TokenFormat == "" {
		c.TokenFormat = TokenFormatJWT
	}
	def(&c.AccessTokenLifetime, 15*time.Minute)
	def(&c.RefreshTokenLifetime, 30*24*time.Hour)
	def(&c.AuthCodeLifetime, 2*time.Minute)
	def(&c.RefreshReuseGrace, 5*time.Second)
	def(&c.SessionLifetime, time.Hour)
	if c.Registration.Mode == "" {
		c.Registration.Mode = RegistrationOpen
	}
	if c.Registration.MaxPerMinute == 0 {
		c.Registration.MaxPerMinute = 60
	}
	if c.Registration.MaxBodyBytes == 0 {
		c.Registration.MaxBodyBytes = 64 << 10
	}
	if c.CIMD.Mode == "" {
		c.CIMD.Mode = CIMDOpen
	}
	if c.Login.MaxFailures == 0 {
		c.Login.MaxFailures = 5
	}
	def(&c.Login.Window, 15*time.Minute)
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2Params()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// DefaultScopes are the scopes of the bundled MCP resource.
func DefaultScopes() []Scope {
	return []Scope{
		{Name: "docs:read", Description: "Search and read the documents you can see"},
	}
}

// Validate reports every problem with c at once, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if err := ValidateOwnIssuer(c.Issuer); err != nil {
		errs = append(errs, err)
	}
	for _, r := range c.Resources {
		if err := validateResourceURL(r); err != nil {
			errs = append(errs, fmt.Errorf("resources: %q: %w", r, err))
		}
	}
	known := map[string]bool{}
	for _, s := range c.Scopes {
		if s.Name == "" || strings.ContainsAny(s.Name, " \"\\") {
			errs = append(errs, fmt.Errorf("scopes: %q is not a valid scope name", s.Name))
		}
		known[s.Name] = true
	}
	for _, s := range c.DefaultScopes {
		if !known[s] {
			errs = append(errs, fmt.Errorf("default_scopes: %q is not among scopes", s))
		}
	}
	switch c.Registration.Mode {
	case RegistrationOpen, RegistrationOff:
	case RegistrationToken:
		if len(c.Registration.InitialAccessToken) < 16 {
			errs = append(errs, errors.New("registration.initial_access_token: required (16 characters or more) when registration.mode is token"))
		}
	default:
		errs = append(errs, fmt.Errorf("registration.mode: %q is not one of open, token, off", c.Registration.Mode))
	}
	switch c.CIMD.Mode {
	case CIMDOpen, CIMDOff:
	case CIMDAllowlist:
		if len(c.CIMD.AllowedHosts) == 0 {
			errs = append(errs, errors.New("cimd.allowed_hosts: required (one host or more, e.g. chatgpt.com, claude.ai) when cimd.mode is allowlist"))
		}
	default:
		errs = append(errs, fmt.Errorf("cimd.mode: %q is not one of open, allowlist, off", c.CIMD.Mode))
	}
	for _, h := range c.CIMD.AllowedHosts {
		if name, _ := strings.CutPrefix(h, "*."); strings.Contains(name, "*") || !isHostName(name) {
			errs = append(errs, fmt.Errorf("cimd.allowed_hosts: %q is not a host name or *.domain", h))
		}
	}
	if c.FetchAllowLoopback && c.Issuer != "" && !IsLoopbackURL(c.Issuer) {
		errs = append(errs, fmt.Errorf("fetch_allow_loopback: refused because the issuer %q is not on a loopback host; this UNSAFE development switch lets anyone who can reach the server make it fetch from its own machine, so it is allowed only for a local (localhost, 127.0.0.1, [::1]) issuer", c.Issuer))
	}
	if c.TokenFormat != TokenFormatJWT && c.TokenFormat != TokenFormatOpaque {
		errs = append(errs, fmt.Errorf("tokens.format: %q is not one of jwt, opaque", c.TokenFormat))
	}
	if _, err := parseTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if c.Secrets == nil {
		errs = append(errs, errors.New("secrets: not set (derive them from the master key)"))
	}
	if err := c.Argon2.validate(); err != nil {
		errs = append(errs, fmt.Errorf("argon2: %w", err))
	}
	if c.RefreshReuseGrace > 5*time.Minute {
		errs = append(errs, errors.New("tokens.refresh_reuse_grace: at most 5m"))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"tokens.access_token_lifetime", c.AccessTokenLifetime},
		{"tokens.refresh_token_lifetime", c.RefreshTokenLifetime},
		{"tokens.auth_code_lifetime", c.AuthCodeLifetime},
		{"tokens.refresh_reuse_grace", c.RefreshReuseGrace},
		{"session_lifetime", c.SessionLifetime},
		{"login.window", c.Login.Window},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %s is negative", d.key, d.v))
		}
	}
	if c.Login.MaxFailures < 0 {
		errs = append(errs, fmt.Errorf("login.max_failures: %d is negative", c.Login.MaxFailures))
	}
	return errors.Join(errs...)
}

// ValidateIssuer checks an RFC 8414 issuer: an absolute https URL with no
// query or fragment and no trailing slash; http only for loopback hosts.
// It may have a path (a remote authorization server's may; this server's
// own may not, see ValidateOwnIssuer).
func ValidateIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("issuer: required")
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("issuer: %q is not an absolute URL", issuer)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && IsLoopbackHost(u.Hostname()):
	case u.Scheme == "http":
		return fmt.Errorf("issuer: %q uses http on a non-loopback host; OAuth 2.1 requires https (http is allowed only for localhost, 127.0.0.1 and [::1])", issuer)
	default:
		return fmt.Errorf("issuer: %q must use https", issuer)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#") {
		return fmt.Errorf("issuer: %q must not have a query or fragment", issuer)
	}
	if u.User != nil {
		return fmt.Errorf("issuer: %q must not carry user info", issuer)
	}
	if strings.HasSuffix(issuer, "/") {
		return fmt.Errorf("issuer: %q must not end with a slash (write %q)", issuer, strings.TrimRight(issuer, "/"))
	}
	return nil
}

// ValidateOwnIssuer checks the issuer this server runs as: ValidateIssuer,
// and no path. Every endpoint and the metadata are served at the root of
// the issuer's origin; an issuer with a path would need its metadata at
// /.well-known/oauth-authorization-server/<path> (RFC 8414 §3.1) and its
// endpoints under the path, which this server does not route, so no
// client could use it.
func ValidateOwnIssuer(issuer string) error {
	if err := ValidateIssuer(issuer); err != nil {
		return err
	}
	u, _ := url.Parse(issuer)
	if u.EscapedPath() != "" {
		return fmt.Errorf("issuer: %q must not have a path: mcpauthz serves its endpoints at the root of the issuer's origin (write %q)", issuer, u.Scheme+"://"+u.Host)
	}
	// Clients compare the issuer byte for byte with the one in the
	// metadata, and some normalise the URL they were given first: the
	// issuer must be written the way they would normalise it.
	canonical := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
	if p := u.Port(); u.Scheme == "https" && p == "443" || u.Scheme == "http" && p == "80" {
		canonical = strings.TrimSuffix(canonical, ":"+p)
	}
	if canonical != issuer {
		return fmt.Errorf("issuer: write %q as %q (lower case, no default port): clients compare issuers byte for byte", issuer, canonical)
	}
	return nil
}

func validateResourceURL(r string) error {
	u, err := url.Parse(r)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(r, "#") {
		return errors.New("must not have a fragment")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname())) {
		return errors.New("must use https (http only on loopback)")
	}
	if strings.HasSuffix(u.Path, "/") {
		return errors.New("must not end with a slash")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return errors.New("must not have a query (RFC 8707 §2)")
	}
	if c := canonicalResource(r); c != r {
		return fmt.Errorf("write it as %q (lower-case scheme and host, no default port, no dot segments): clients normalise the URL they send as resource and it must match byte for byte", c)
	}
	return nil
}

// canonicalResource is a resource URL the way clients normalise it before
// they send it (the TypeScript SDK passes it through new URL()): r itself
// if it is written so, else its canonical spelling, or r if it cannot be
// normalised (the other checks report that).
func canonicalResource(r string) string {
	c, err := dpop.NormalizeHTU(r)
	if err != nil {
		return r
	}
	if u, err := url.Parse(r); err == nil && u.Path == "" {
		c = strings.TrimSuffix(c, "/") // NormalizeHTU writes an empty path as "/"
	}
	return c
}

// IsLoopbackURL reports whether raw is a URL on a loopback host.
func IsLoopbackURL(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && u.Host != "" && IsLoopbackHost(u.Hostname())
}

// IsLoopbackHost reports whether host (without port) is localhost or a
// loopback IP literal.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
