package mcpres

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// DNS-rebinding defence for the MCP endpoint (MCP 2025-11-25 transports,
// "Security Warning": servers MUST validate Origin; local servers should
// also check Host). A page on an attacker's domain that re-resolves that
// domain to the server's address can reach it with its own Host and
// Origin; both are checked against allowlists derived from the configured
// Issuer and Resource. This replaces go-sdk's localhost-only Host check
// (DisableLocalhostProtection is set), which would also refuse a public
// Host arriving through a reverse proxy on loopback.

// hostPolicy decides which Host header values are accepted.
type hostPolicy struct {
	any     bool
	exact   map[string]bool // hostKey(name, port); port "" means no port in the header
	anyPort map[string]bool // names accepted with any port or none
}

func hostKey(name, port string) string { return name + " " + port }

// newHostPolicy allows the hosts of the given URLs (with their explicit or
// default port, and without a port when it is the default), loopback names
// on the resource's port when the resource is on loopback, and extra
// entries ("host" for any port, "host:port", or "*").
func newHostPolicy(issuer, resource *url.URL, extra []string) hostPolicy {
	p := hostPolicy{exact: map[string]bool{}, anyPort: map[string]bool{}}
	add := func(u *url.URL, name string) {
		port := u.Port()
		def := defaultPort(u.Scheme)
		if port == "" || port == def {
			p.exact[hostKey(name, "")] = true
			port = def
		}
		p.exact[hostKey(name, port)] = true
	}
	for _, u := range []*url.URL{issuer, resource} {
		add(u, normalizeHostName(u.Hostname()))
	}
	if isLoopbackHost(resource.Hostname()) {
		// The names a loopback resource is reachable by.
		for _, n := range []string{"localhost", "127.0.0.1", "::1"} {
			add(resource, n)
		}
	}
	for _, e := range extra {
		if e == "*" {
			p.any = true
			continue
		}
		name, port, err := splitHostEntry(e)
		if err != nil {
			continue // New validated the entries
		}
		if port == "" {
			p.anyPort[name] = true
		} else {
			p.exact[hostKey(name, port)] = true
		}
	}
	return p
}

// allows reports whether a request's Host header value is acceptable.
func (p hostPolicy) allows(host string) bool {
	if p.any {
		return true
	}
	name, port, err := splitHostEntry(host)
	if err != nil {
		return false
	}
	return p.anyPort[name] || p.exact[hostKey(name, port)]
}

// splitHostEntry splits "host", "host:port", "[v6]" or "[v6]:port" into a
// normalized name (lower case, no brackets, no trailing dot) and port.
func splitHostEntry(s string) (name, port string, err error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "/?#@ \t") {
		return "", "", errors.New("not a host or host:port")
	}
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("unclosed [")
		}
		name, rest := s[1:end], s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", "", errors.New("junk after ]")
			}
			port = rest[1:]
		}
		if net.ParseIP(name) == nil {
			return "", "", errors.New("not an IPv6 address in brackets")
		}
		s = name
	case strings.Count(s, ":") == 1:
		s, port, _ = strings.Cut(s, ":")
	case strings.Count(s, ":") > 1:
		return "", "", errors.New("an IPv6 address needs brackets")
	}
	if port != "" && !allDigits(port) {
		return "", "", errors.New("the port is not a number")
	}
	if s == "" {
		return "", "", errors.New("empty host")
	}
	return normalizeHostName(s), port, nil
}

func normalizeHostName(s string) string {
	return strings.TrimSuffix(strings.ToLower(s), ".")
}

// originPolicy decides which Origin header values (RFC 6454 §7) are
// accepted.
type originPolicy struct {
	any      bool
	allowed  map[string]bool // normalized origins
	loopback bool            // any http(s) loopback origin, any port
}

// newOriginPolicy allows the origins of issuer and resource, every
// loopback origin when the resource is on loopback, and extra entries
// (origins or "*").
func newOriginPolicy(issuer, resource *url.URL, extra []string) originPolicy {
	p := originPolicy{allowed: map[string]bool{}}
	for _, u := range []*url.URL{issuer, resource} {
		if o, err := normalizeOrigin(u.Scheme + "://" + u.Host); err == nil {
			p.allowed[o] = true
		}
	}
	p.loopback = isLoopbackHost(resource.Hostname())
	for _, e := range extra {
		if e == "*" {
			p.any = true
			continue
		}
		if o, err := normalizeOrigin(e); err == nil {
			p.allowed[o] = true
		}
	}
	return p
}

// allows reports whether the Origin header value origin may call the
// endpoint. The opaque origin "null" is allowed only with "*".
func (p originPolicy) allows(origin string) bool {
	if p.any {
		return true
	}
	o, err := normalizeOrigin(origin)
	if err != nil {
		return false
	}
	if p.allowed[o] {
		return true
	}
	if p.loopback {
		u, _ := url.Parse(o)
		return (u.Scheme == "http" || u.Scheme == "https") && isLoopbackHost(u.Hostname())
	}
	return false
}

// normalizeOrigin returns scheme://host[:port] in lower case with a
// default port dropped, or an error if s is not a serialized origin.
func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", errors.New("not an origin (scheme://host[:port])")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("an origin has no path, query or fragment")
	}
	name, port, err := splitHostEntry(u.Host)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if strings.Contains(name, ":") {
		name = "[" + name + "]"
	}
	if port != "" && port != defaultPort(scheme) {
		name += ":" + port
	}
	return scheme + "://" + name, nil
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
