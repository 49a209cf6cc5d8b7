package fetch

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength bounds the URLs CheckURL accepts, in bytes. Client ID
// Metadata Document URLs and jwks_uri values are short; the bound keeps
// hostile input from travelling further (into logs, error pages).
const MaxURLLength = 2048

// CheckURL is the pure pre-network check of a URL that Get is asked to
// fetch. It returns the parsed URL, or an *Error saying why the URL is
// refused. It does no DNS lookup: a host name that passes may still be
// refused by Get once it is resolved.
//
// The URL must be absolute, with scheme https (the scheme is matched
// case-insensitively, as RFC 3986 §3.1 requires), no user information
// (RFC 3986 §3.2.1, RFC 9110 §4.2.4), no fragment, a port (if any) in
// 1–65535, and a host that is one of:
//   - a DNS name in the preferred syntax of RFC 1123 §2.1 (ASCII letters,
//     digits and hyphens, so internationalised names must be given in their
//     A-label form, RFC 5890), with at least two labels, whose last label
//     does not look like a number (RFC 3696 §2: top-level domains are never
//     all-numeric), and not under a special-use or private-use name that
//     cannot serve a public document (.local RFC 6762, .home.arpa
//     RFC 8375, .onion RFC 7686, .invalid RFC 6761 §6.4, .alt RFC 9476,
//     .internal);
//   - an IPv4 address in canonical dotted-quad form;
//   - a bracketed IPv6 address without a zone (RFC 6874 zones are refused).
//
// IP literals must pass CheckAddr. Hosts in the other numeric forms that
// inet_aton(3) and the WHATWG URL Standard's IPv4 parser accept — decimal
// (2130706433), octal (0177.0.0.1), hexadecimal (0x7f000001), short
// (127.1), leading zeros — are refused outright rather than normalised:
// they are not names, a system resolver may turn them into addresses, and
// no legitimate client document lives at one. The rule is the WHATWG "ends
// in a number" test: a host whose last label is all digits or 0x-hex is
// refused unless it is a canonical dotted-quad.
//
// localhost and names under .localhost (RFC 6761 §6.3) are loopback: they
// are refused unless allowLoopback. With allowLoopback, the scheme may also
// be http, but only when the host is a loopback IP literal (127.0.0.0/8,
// ::1, or an IPv4-mapped form of those) or a localhost name; Get resolves
// localhost names to 127.0.0.1 and ::1 itself, without DNS.
//
// CheckURL does not impose profile-specific rules such as the Client ID
// Metadata Document's requirement of a path component; those belong to
// the caller.
func CheckURL(raw string, allowLoopback bool) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, &Error{Reason: fmt.Sprintf("URL is longer than %d bytes", MaxURLLength), URL: truncate(raw)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &Error{Reason: "malformed URL", URL: truncate(raw), Err: err}
	}
	fail := func(reason string) (*url.URL, error) {
		return nil, &Error{Reason: reason, URL: u.Redacted()}
	}
	if u.Scheme == "" {
		return fail("URL is not absolute")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fail("URL scheme must be https")
	}
	if u.Opaque != "" || u.Host == "" {
		return fail("URL has no host")
	}
	if u.User != nil {
		return fail("URL must not contain user information")
	}
	if strings.Contains(raw, "#") {
		return fail("URL must not contain a fragment")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return fail("URL port is out of range")
		}
	}
	h, herr := parseHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
	if herr != nil {
		herr.URL = u.Redacted()
		return nil, herr
	}
	loopback := h.localhost || (h.addr.IsValid() && h.addr.Unmap().IsLoopback())
	if h.addr.IsValid() {
		if err := CheckAddr(h.addr, allowLoopback); err != nil {
			e := err.(*Error)
			e.URL = u.Redacted()
			return nil, e
		}
	} else if h.localhost && !allowLoopback {
		return fail(fmt.Sprintf("host %s is loopback (RFC 6761)", h.name))
	}
	if u.Scheme == "http" {
		if !allowLoopback || !loopback {
			return fail("URL scheme must be https")
		}
	}
	return u, nil
}

// host is a classified URL host.
type host struct {
	addr      netip.Addr // an IP literal, or the zero Addr for a name
	name      string     // a DNS name as given, or "" for an IP literal
	localhost bool       // name is localhost or under .localhost
}

// parseHost classifies a host as it appears in a URL (without brackets or
// port) or in a dial address. bracketed says the URL had it in brackets,
// which only an IPv6 literal may use. The errors are *Error without URL.
func parseHost(s string, bracketed bool) (host, *Error) {
	if s == "" {
		return host{}, &Error{Reason: "URL has no host"}
	}
	if bracketed || strings.Contains(s, ":") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return host{}, &Error{Reason: "malformed IPv6 literal"}
		}
		if a.Zone() != "" {
			return host{}, &Error{Reason: "scoped IPv6 addresses (with a zone) are not allowed"}
		}
		return host{addr: a}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return host{addr: a}, nil
	}
	if reason := checkName(s); reason != "" {
		return host{}, &Error{Reason: reason}
	}
	n := strings.ToLower(strings.TrimSuffix(s, "."))
	return host{name: s, localhost: n == "localhost" || strings.HasSuffix(n, ".localhost")}, nil
}

// checkName checks that s is a DNS host name Get may look up, returning
// the reason it is not, or "". Reasons never echo s unless it has passed
// the character check, so they stay safe to display.
func checkName(s string) string {
	n := strings.TrimSuffix(s, ".")
	if n == "" || len(n) > 253 {
		return "host is not a valid DNS name"
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "host is not a valid DNS name (internationalised names must use the xn-- A-label form)"
		}
	}
	labels := strings.Split(n, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "host is not a valid DNS name"
		}
	}
	if numeric(labels[len(labels)-1]) {
		return "host is a numeric address in a non-canonical form"
	}
	lower := strings.ToLower(n)
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return ""
	}
	if len(labels) < 2 {
		return fmt.Sprintf("host %s is not a fully qualified domain name", n)
	}
	for _, suffix := range [...]string{"local", "home.arpa", "onion", "invalid", "alt", "internal"} {
		if lower == suffix || strings.HasSuffix(lower, "."+suffix) {
			return fmt.Sprintf("host %s is under the special-use domain .%s", n, suffix)
		}
	}
	return ""
}

// numeric reports whether a DNS label would be read as a number by an IPv4
// parser that accepts inet_aton forms (WHATWG URL Standard, "ends in a
// number"): all decimal digits, or 0x followed by hex digits.
func numeric(l string) bool {
	digits := l
	hex := false
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		digits, hex = l[2:], true
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		switch {
		case c >= '0' && c <= '9':
		case hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return hex || digits != ""
}

// truncate shortens a refused URL for the Error's URL field.
func truncate(s string) string {
	const keep = 64
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "..."
}
