package mcpres

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

// Defaults of Config.
const (
	DefaultResourceName = "mcpauthz documents"
	DefaultMaxBodyBytes = 1 << 20 // 1 MiB; a search or fetch call is a few hundred bytes
	DefaultSearchLimit  = 10
	// MaxSearchLimit caps Config.SearchLimit.
	MaxSearchLimit = 100

	DefaultRateLimitPerMinute = 120
	DefaultRateLimitBurst     = 30
	DefaultRateLimitCallers   = 10000
)

// Config configures the MCP resource server. Zero fields take the defaults
// documented on each field; New validates the result.
type Config struct {
	// Issuer is the issuer identifier of the authorization server (RFC 8414
	// §2), byte for byte as the AS metadata states it: an absolute https
	// URL (http only on a loopback host) without a trailing slash, query or
	// fragment. It becomes authorization_servers[0] of the protected
	// resource metadata (RFC 9728 §2), and document URLs are
	// {Issuer}/docs/{id}. Required.
	Issuer string

	// Resource is the canonical URL of the MCP endpoint (RFC 8707 §2, MCP
	// 2025-11-25 "Canonical Server URI"): the value users type into their
	// client, the "resource" of the protected resource metadata, and the
	// audience every accepted token must carry. Its path is where Mount
	// serves the endpoint, and the path-suffixed metadata lives at
	// /.well-known/oauth-protected-resource{path} (RFC 9728 §3.1). It must
	// have a path other than "/" and no trailing slash, query or fragment.
	// Default: Issuer + "/mcp".
	Resource string

	// DocumentBaseURL is where document pages live: the url of a search
	// or fetch result is {DocumentBaseURL}/docs/{id}. Same shape as
	// Issuer. Default: Issuer, whose /docs/{id} page shows the document
	// to its signed-in viewer. A resource server on its own with a
	// database apart from the authorization server's sets it to a server
	// that serves its documents.
	DocumentBaseURL string

	// ResourceName is the human-readable resource_name of the protected
	// resource metadata (RFC 9728 §2). Default DefaultResourceName.
	ResourceName string

	// ScopesSupported is scopes_supported of the protected resource metadata
	// (RFC 9728 §2) and the scope of a plain 401 challenge (RFC 6750 §3).
	// It must contain the scope of every tool (docs:read). Do not list
	// offline_access (MCP 2026-07-28, "Refresh Tokens"). Default
	// ["docs:read"].
	ScopesSupported []string

	// AllowedHosts are extra values the Host header of a request to the MCP
	// endpoint may take, besides the hosts of Issuer and Resource (which are
	// always allowed; when Resource is on a loopback host, localhost,
	// 127.0.0.1 and [::1] on its port are too). An entry is "host" (any
	// port) or "host:port"; "*" turns the Host check off, e.g. behind a
	// proxy that rewrites Host and checks it itself. A request with another
	// Host is refused with 403 (DNS-rebinding defence, MCP 2025-11-25
	// transports "Security Warning").
	AllowedHosts []string

	// AllowedOrigins are extra origins ("https://app.example.com") that may
	// call the MCP endpoint from a browser, besides the origins of Issuer
	// and Resource (always allowed). "*" allows any origin. When Resource is
	// on a loopback host, every loopback origin of any port is allowed too,
	// so MCP Inspector (http://localhost:6274) works in development; a
	// production deployment that wants Inspector must list its origin
	// here. A request with an Origin not allowed is refused with 403; one
	// without Origin (not a browser) passes.
	AllowedOrigins []string

	// RateLimit limits tools/call per caller (subject and client ID). Nil
	// means the defaults (120 calls a minute, bursts of 30); a RateLimit
	// whose PerMinute is 0 turns the limit off.
	RateLimit *RateLimit

	// MaxBodyBytes caps the body of a request to the MCP endpoint; a larger
	// one gets 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// SearchLimit is the most results one search returns (1 to
	// MaxSearchLimit). Default DefaultSearchLimit.
	SearchLimit int

	// Version is the serverInfo.version the MCP server reports. Default
	// "dev".
	Version string

	// DPoP, when set, accepts DPoP-bound access tokens (RFC 9449 §7):
	// "Authorization: DPoP <token>" with a DPoP proof header whose key is
	// the one the token's cnf.jkt names. Build it with dpop.New with its
	// own ReplayKeyPrefix (e.g. "dpop:rs:") so that its jti space is apart
	// from the authorization server's; its NonceSource, if any, issues the
	// DPoP-Nonce values of this resource (RFC 9449 §9) and its
	// RequireNonce makes them mandatory. Its Algorithms are advertised as
	// dpop_signing_alg_values_supported and in the algs of every DPoP
	// challenge. Nil: the DPoP scheme is not supported, a DPoP-bound token
	// is refused, and "Authorization: DPoP ..." counts as no credentials.
	DPoP *dpop.Verifier

	// RequireDPoP refuses bearer tokens: only DPoP-bound tokens presented
	// with the DPoP scheme are accepted, every challenge is a DPoP
	// challenge, and the metadata says dpop_bound_access_tokens_required.
	// It needs DPoP.
	RequireDPoP bool

	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// RateLimit is a token bucket per caller (golang.org/x/time/rate).
type RateLimit struct {
	// PerMinute is the sustained number of tool calls a caller may make a
	// minute; 0 turns the limit off.
	PerMinute int
	// Burst is how many calls may come at once; 0 means
	// min(DefaultRateLimitBurst, PerMinute).
	Burst int
	// MaxCallers bounds the number of callers tracked at once; when full,
	// idle callers are forgotten first, then the least recently seen. 0
	// means DefaultRateLimitCallers.
	MaxCallers int
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Resource == "" && c.Issuer != "" {
		c.Resource = c.Issuer + "/mcp"
	}
	if c.DocumentBaseURL == "" {
		c.DocumentBaseURL = c.Issuer
	}
	if c.ResourceName == "" {
		c.ResourceName = DefaultResourceName
	}
	if len(c.ScopesSupported) == 0 {
		c.ScopesSupported = []string{scopeDocsRead}
	}
	if c.RateLimit == nil {
		c.RateLimit = &RateLimit{PerMinute: DefaultRateLimitPerMinute}
	}
	rl := *c.RateLimit
	if rl.PerMinute > 0 && rl.Burst == 0 {
		rl.Burst = min(DefaultRateLimitBurst, rl.PerMinute)
	}
	if rl.MaxCallers == 0 {
		rl.MaxCallers = DefaultRateLimitCallers
	}
	c.RateLimit = &rl
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.SearchLimit == 0 {
		c.SearchLimit = DefaultSearchLimit
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports every problem with c (after withDefaults) at once.
func (c Config) validate(tools []toolSpec) error {
	var errs []error
	if err := checkBaseURL(c.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("mcpres: issuer: %w", err))
	}
	if err := checkBaseURL(c.Resource); err != nil {
		errs = append(errs, fmt.Errorf("mcpres: resource: %w", err))
	} else if u, _ := url.Parse(c.Resource); u.Path == "" || u.Path == "/" {
		errs = append(errs, fmt.Errorf("mcpres: resource: %q needs a path such as /mcp", c.Resource))
	} else if strings.ContainsAny(u.Path, "{}% \t") || u.RawPath != "" {
		errs = append(errs, fmt.Errorf("mcpres: resource: the path of %q must be plain (no escapes, braces or spaces)", c.Resource))
	} else if canon, err := dpop.NormalizeHTU(c.Resource); err == nil && canon != c.Resource {
		// Clients normalise the resource URL before they send it and the
		// token's aud is what they sent: a spelling they would change can
		// never match.
		errs = append(errs, fmt.Errorf("mcpres: resource: write %q as %q (lower-case scheme and host, no default port, no dot segments)", c.Resource, canon))
	}
	if c.DocumentBaseURL != c.Issuer {
		if err := checkBaseURL(c.DocumentBaseURL); err != nil {
			errs = append(errs, fmt.Errorf("mcpres: document_base_url: %w", err))
		}
	}
	known := map[string]bool{}
	for _, s := range c.ScopesSupported {
		if !validScopeToken(s) {
			errs = append(errs, fmt.Errorf("mcpres: scopes_supported: %q is not a valid scope (RFC 6749 §3.3)", s))
		}
		known[s] = true
	}
	for _, t := range tools {
		if !known[t.scope] {
			errs = append(errs, fmt.Errorf("mcpres: scopes_supported: must contain %q, the scope of the %s tool", t.scope, t.tool.Name))
		}
	}
	for _, h := range c.AllowedHosts {
		if h == "*" {
			continue
		}
		if _, _, err := splitHostEntry(h); err != nil {
			errs = append(errs, fmt.Errorf("mcpres: allowed_hosts: %q: %w", h, err))
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if _, err := normalizeOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("mcpres: allowed_origins: %q: %w", o, err))
		}
	}
	if rl := c.RateLimit; rl.PerMinute < 0 || rl.Burst < 0 || rl.MaxCallers < 0 {
		errs = append(errs, errors.New("mcpres: rate_limit: per_minute, burst and max_callers must not be negative"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("mcpres: max_body_bytes must not be negative"))
	}
	if c.RequireDPoP && c.DPoP == nil {
		errs = append(errs, errors.New("mcpres: require_dpop needs a DPoP verifier (Config.DPoP)"))
	}
	if c.SearchLimit < 0 || c.SearchLimit > MaxSearchLimit {
		errs = append(errs, fmt.Errorf("mcpres: search_limit: %d is not between 1 and %d", c.SearchLimit, MaxSearchLimit))
	}
	return errors.Join(errs...)
}

// checkBaseURL accepts an absolute https URL, or http on a loopback host,
// with a host and no user info, query, fragment or trailing slash: the
// shape of an RFC 8414 issuer and of a canonical MCP server URI.
func checkBaseURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	case u.Scheme == "http":
		return fmt.Errorf("%q uses http on a non-loopback host; OAuth 2.1 requires https", s)
	default:
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#") {
		return fmt.Errorf("%q must not have user info, a query or a fragment", s)
	}
	if strings.HasSuffix(s, "/") {
		return fmt.Errorf("%q must not end with a slash", s)
	}
	return nil
}

// validScopeToken reports whether s is a scope-token (RFC 6749 §3.3) that
// can also sit in a quoted WWW-Authenticate parameter.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// isLoopbackHost reports whether host (without port, brackets allowed) is
// localhost or a loopback IP address.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
