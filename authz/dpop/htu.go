package dpop

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// NormalizeHTU normalises an http(s) URL for the htu comparison of
// RFC 9449 §4.3 check 9, which compares "ignoring any query and fragment
// parts" after syntax-based and scheme-based normalisation (RFC 3986
// §6.2.2, §6.2.3):
//
//   - scheme and host lower-cased;
//   - the scheme's default port (80, 443) and an empty port dropped, any
//     other port written without leading zeros;
//   - percent-encodings upper-cased, those of unreserved characters
//     decoded, then dot segments removed (RFC 3986 §5.2.4);
//   - an empty path becomes "/";
//   - query and fragment dropped.
//
// The result is scheme://host[:port]/path. URLs that are relative, not
// http or https, opaque, carry userinfo or an IPv6 zone are refused.
func NormalizeHTU(raw string) (string, error) {
	if len(raw) > MaxProofSize {
		return "", errors.New("dpop: URL too long")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("dpop: URL scheme must be http or https")
	}
	if u.Opaque != "" || u.Host == "" {
		return "", errors.New("dpop: URL must be absolute with a host")
	}
	if u.User != nil {
		return "", errors.New("dpop: URL must not have userinfo")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("dpop: URL must have a host")
	}
	if strings.ContainsAny(host, "%/?#@ ") {
		return "", errors.New("dpop: URL host is invalid")
	}
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return "", errors.New("dpop: URL port is invalid")
		}
		if !(scheme == "http" && n == 80 || scheme == "https" && n == 443) {
			host += ":" + strconv.FormatUint(n, 10)
		}
	}
	path := removeDotSegments(normalizePercent(u.EscapedPath()))
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}

const upperHex = "0123456789ABCDEF"

// normalizePercent upper-cases the hex digits of every percent-encoding
// in an escaped path and decodes those of unreserved characters
// (RFC 3986 §6.2.2.1, §6.2.2.2).
func normalizePercent(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b.WriteByte(p[i])
			continue
		}
		c := unHex(p[i+1])<<4 | unHex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xf])
		}
		i += 2
	}
	return b.String()
}

// removeDotSegments is RFC 3986 §5.2.4. Unlike path.Clean it keeps
// trailing and repeated slashes, which are significant in a URL.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	out := make([]byte, 0, len(in))
	for len(in) > 0 {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			out = dropLastSegment(out)
		case in == "/..":
			in = "/"
			out = dropLastSegment(out)
		case in == "." || in == "..":
			in = ""
		default:
			start := 0
			if in[0] == '/' {
				start = 1
			}
			j := strings.IndexByte(in[start:], '/')
			if j < 0 {
				out, in = append(out, in...), ""
			} else {
				out, in = append(out, in[:start+j]...), in[start+j:]
			}
		}
	}
	return string(out)
}

func dropLastSegment(out []byte) []byte {
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] == '/' {
			return out[:i]
		}
	}
	return out[:0]
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unHex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
