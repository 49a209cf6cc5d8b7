package authz

// This file implements the redirect URI rules: which URIs a client may
// register (RFC 6749 §3.1.2, RFC 7591 §2, RFC 8252 §7, OAuth 2.1 §2.3.1) and
// how a requested URI is matched against the registered ones (exact
// matching, OAuth 2.1 §4.1.1, except for the port of loopback URIs,
// RFC 8252 §7.3).

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxRedirectURILen caps the length in bytes of one redirect URI.
const maxRedirectURILen = 2000

// refusedSchemes are never valid redirect targets: they run script or show
// content in the context of the page that navigates (javascript:, vbscript:,
// data:, blob:, filesystem:), open local files (file:), or go nowhere
// (about:).
var refusedSchemes = map[string]bool{
	"javascript": true,
	"vbscript":   true,
	"data":       true,
	"blob":       true,
	"filesystem": true,
	"file":       true,
	"about":      true,
}

// ValidateRedirectURI reports whether raw may be registered as a redirect
// URI. It returns nil or an *Error with code invalid_redirect_uri whose
// description names the URI (RFC 7591 §3.2.2). The rules:
//
//   - an absolute URI (RFC 6749 §3.1.2) of at most 2000 bytes of printable
//     ASCII (no spaces, control characters or backslashes) without a
//     fragment (RFC 6749 §3.1.2) or user info;
//   - https with a host; http only with a loopback host (localhost,
//     127.0.0.0/8, [::1]; RFC 8252 §7.3 and §8.3), whose port is then
//     ignored by MatchRedirectURI;
//   - any other syntactically valid scheme is a private-use scheme
//     (RFC 8252 §7.1, e.g. cursor://anysphere.cursor-mcp/oauth/callback)
//     and is accepted, except javascript, vbscript, data, blob, filesystem,
//     file and about, which are refused in any letter case.
//
// When allowedHosts is not empty, the host of an https URI on a non-loopback
// host must match one of its entries: a host name compared case-insensitively,
// or "*.example.com", which matches any subdomain of example.com (but not
// example.com itself). Loopback and private-use scheme URIs are not
// affected.
func ValidateRedirectURI(raw string, allowedHosts []string) error {
	bad := func(format string, args ...any) error {
		return newError(http.StatusBadRequest, codeInvalidRedirectURI,
			"redirect URI %s "+format, append([]any{quoteForError(raw)}, args...)...)
	}
	if raw == "" {
		return newError(http.StatusBadRequest, codeInvalidRedirectURI, "redirect URI must not be empty")
	}
	if len(raw) > maxRedirectURILen {
		return bad("is longer than %d bytes", maxRedirectURILen)
	}
	if msg := uriCharsProblem(raw); msg != "" {
		return bad("%s", msg)
	}
	if strings.Contains(raw, "#") {
		return bad("must not contain a fragment (RFC 6749 §3.1.2)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("is not a valid URI")
	}
	if u.Scheme == "" {
		return bad("must be an absolute URI with a scheme (RFC 6749 §3.1.2)")
	}
	if refusedSchemes[u.Scheme] { // url.Parse lowercases the scheme
		return bad("uses the forbidden scheme %q", u.Scheme)
	}
	if u.User != nil {
		return bad("must not contain user info")
	}
	switch u.Scheme {
	case "http", "https":
		if u.Opaque != "" || u.Host == "" {
			return bad("must have a host (write %s://host/path)", u.Scheme)
		}
		if !isHostName(u.Hostname()) {
			return bad("has an invalid host")
		}
		if p := u.Port(); p != "" && !isPortNumber(p) {
			return bad("has an invalid port")
		}
		loopback := IsLoopbackHost(u.Hostname())
		if u.Scheme == "http" && !loopback {
			return bad("uses http on a non-loopback host: use https (http is allowed only for localhost, 127.0.0.1 and [::1], RFC 8252 §7.3)")
		}
		if u.Scheme == "https" && !loopback && len(allowedHosts) > 0 && !hostAllowed(u.Hostname(), allowedHosts) {
			return bad("has a host the server does not allow")
		}
	default:
		// A private-use URI scheme (RFC 8252 §7.1). url.Parse has checked the
		// scheme's syntax (RFC 3986 §3.1).
		if u.Host != "" && strings.ContainsRune(u.Host, '%') {
			return bad("has an invalid host")
		}
	}
	return nil
}

// MatchRedirectURI reports whether requested, the redirect_uri of an
// authorization request, is one of the registered URIs. Matching is by exact
// string comparison (OAuth 2.1 §4.1.1), with one exception: for http URIs on
// a loopback host (localhost, 127.0.0.0/8, [::1]) the port is ignored on
// both sides (RFC 8252 §7.3), so a registered http://127.0.0.1/callback
// matches http://127.0.0.1:53211/callback. The scheme, the host as written
// (localhost and 127.0.0.1 are different hosts), the path and the query must
// still match exactly.
//
// As a second line of defence, requested never matches if it has a
// fragment, a refused scheme (javascript, data, file, ...), or characters
// outside printable ASCII, even if such a URI was somehow registered.
func MatchRedirectURI(registered []string, requested string) bool {
	if !plausibleRedirectURI(requested) {
		return false
	}
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	key, ok := loopbackKey(requested)
	if !ok {
		return false
	}
	for _, r := range registered {
		if k, ok := loopbackKey(r); ok && k == key {
			return true
		}
	}
	return false
}

// plausibleRedirectURI reports whether raw is free of what no redirect URI
// may ever have, whatever its registration said: it is non-empty, at most
// maxRedirectURILen bytes of printable ASCII without a backslash or
// fragment, absolute, and not of a refused scheme.
func plausibleRedirectURI(raw string) bool {
	if raw == "" || len(raw) > maxRedirectURILen || uriCharsProblem(raw) != "" || strings.Contains(raw, "#") {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && u.Scheme != "" && !refusedSchemes[u.Scheme]
}

// loopbackKey returns raw with the port removed if raw is an http URI on a
// loopback host with no user info, fragment or characters on which parsers
// disagree (backslash, whitespace, non-ASCII); ok is false otherwise. The
// authority is split by hand, on exactly the characters that end it in
// RFC 3986 and the WHATWG URL standard alike, and cross-checked with
// url.Parse, so no parser differential can make a non-loopback URI match.
func loopbackKey(raw string) (key string, ok bool) {
	const prefix = "http://"
	if !strings.HasPrefix(raw, prefix) || !plausibleRedirectURI(raw) {
		return "", false
	}
	rest := raw[len(prefix):]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if strings.Contains(authority, "@") {
		return "", false
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		i := strings.IndexByte(authority, ']')
		if i < 0 {
			return "", false
		}
		host = authority[:i+1]
		after := authority[i+1:]
		if after != "" {
			if after[0] != ':' {
				return "", false
			}
			port = after[1:]
		}
	} else if i := strings.IndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i+1:]
	}
	if port != "" && !isPortNumber(port) {
		return "", false
	}
	if !IsLoopbackHost(host) {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || !strings.EqualFold(u.Hostname(), strings.Trim(host, "[]")) {
		return "", false
	}
	return prefix + host + tail, true
}

// redirectHost returns what the consent page shows as "will redirect to"
// for a redirect URI: the host name for http and https (with brackets for
// IPv6 literals, without the port), and the scheme plus host for other
// schemes (cursor://anysphere.cursor-mcp), or the scheme alone followed by
// ":" when the URI has no host (com.example.app:). It returns "" if raw does
// not parse.
func redirectHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		return host
	case host != "":
		return u.Scheme + "://" + host
	default:
		return u.Scheme + ":"
	}
}

// isWebRedirect reports whether raw is an http or https URI, as opposed to a
// private-use scheme that an app on the device handles.
func isWebRedirect(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

// uriCharsProblem returns why s holds a character a URI must not: anything
// outside printable ASCII, and the backslash (which browsers read as a slash
// in http URLs but url.Parse does not). It returns "" if s is fine.
func uriCharsProblem(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return "must not contain spaces or control characters"
		case c >= utf8.RuneSelf:
			return "must contain only ASCII characters (percent-encode the others)"
		case c == '\\':
			return "must not contain a backslash"
		}
	}
	return ""
}

// isHostName reports whether h (a URL's Hostname) is an IPv6 literal or
// a DNS-style name: dot-separated, non-empty labels of at most 63 letters,
// digits, hyphens and underscores (IPv4 literals are such names).
func isHostName(h string) bool {
	if h == "" {
		return false
	}
	if strings.Contains(h, ":") {
		ip := net.ParseIP(h)
		return ip != nil && !strings.Contains(h, "%")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// isPortNumber reports whether p is a decimal port number from 1 to 65535.
func isPortNumber(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// hostAllowed reports whether host matches an entry of allowed: equal,
// ignoring case and a trailing dot, or a subdomain of D for an entry "*.D".
func hostAllowed(host string, allowed []string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, a := range allowed {
		a = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a)), ".")
		if suffix, ok := strings.CutPrefix(a, "*."); ok {
			if suffix != "" && strings.HasSuffix(host, "."+suffix) && len(host) > len(suffix)+1 {
				return true
			}
		} else if a != "" && host == a {
			return true
		}
	}
	return false
}

// quoteForError quotes s, a value a request or a document supplied, for an
// error description: in single quotes, cut to 100 bytes (so that a hostile
// megabyte-long value does not end up in a response or a log), and with
// every byte that RFC 6749 §5.2 does not allow in error_description — any
// outside printable ASCII, the double quote and the backslash — written as '?'.
func quoteForError(s string) string {
	const max = 100
	more := ""
	if len(s) > max {
		s, more = s[:max], "..."
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	return "'" + string(b) + "'" + more
}
