package authz

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// parseTrustedProxies parses the trusted_proxies setting: addresses or
// CIDR prefixes of reverse proxies whose X-Forwarded-For header is
// believed.
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %q is neither an IP address nor a CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// clientIP is the address that login throttling and the registration
// limit count per. It is the TCP peer, unless the peer is a trusted proxy:
// then it is the right-most address in X-Forwarded-For that is not itself
// a trusted proxy (left-most entries can be forged by the client).
func (s *Server) clientIP(r *http.Request) string {
	peer := remoteAddr(r)
	if len(s.trustedProxies) == 0 || !s.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			return peer // a malformed header: count per proxy rather than trust it
		}
		if !s.trusted(a.Unmap().String()) {
			return a.Unmap().String()
		}
	}
	return peer
}

func (s *Server) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// remoteAddr is the TCP peer's address without the port.
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// throttleAddr is the part of a client address that per-address limits
// count: an IPv4 address whole, an IPv6 address by its /64, since one
// subscriber or host commonly holds a whole /64 and could otherwise
// rotate through 2^64 addresses. Anything else is returned unchanged.
func throttleAddr(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}
