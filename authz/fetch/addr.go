package fetch

import (
	"fmt"
	"net/netip"
)

// special is one row of the refusal table: a prefix that is never a
// destination for an outbound fetch, why, and where that is specified.
type special struct {
	prefix netip.Prefix
	what   string // "private", "link-local", …: completes "address X is …"
	ref    string // RFC or registry that assigns the block (ASCII: no section sign)
}

// specialPrefixes is the explicit refusal table. It follows the IANA IPv4
// and IPv6 Special-Purpose Address Registries (RFC 6890,
// https://www.iana.org/assignments/iana-ipv4-special-registry and
// https://www.iana.org/assignments/iana-ipv6-special-registry), restricted
// to the blocks that are not globally reachable or have no business serving
// an HTTP document, plus the IPv6 blocks that embed or tunnel IPv4 in ways
// that would slip past an IPv4 check.
//
// CheckAddr consults it after the netip.Addr predicates, so some rows
// (loopback, RFC 1918, link-local, multicast) restate those predicates; the
// rows exist so that the table alone documents the policy. The first
// matching row names the refusal, so narrower rows come before the wider
// ones that contain them.
//
// It is read-only: nothing assigns to it after initialisation.
var specialPrefixes = [...]special{
	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), "in 0.0.0.0/8, this network", "RFC 1122"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private", "RFC 1918"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)", "RFC 6598"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback", "RFC 1122"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local", "RFC 3927"}, // includes 169.254.169.254, the cloud metadata service
	{netip.MustParsePrefix("172.16.0.0/12"), "private", "RFC 1918"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved for IETF protocol assignments", "RFC 6890"},
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved for documentation", "RFC 5737"},
	{netip.MustParsePrefix("192.88.99.0/24"), "the deprecated 6to4 relay anycast block", "RFC 7526"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private", "RFC 1918"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved for benchmarking", "RFC 2544"},
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved for documentation", "RFC 5737"},
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved for documentation", "RFC 5737"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast", "RFC 5771"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the limited broadcast address", "RFC 919, RFC 8190"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved", "RFC 1112"},

	// IPv6. IPv4-mapped addresses (::ffff:0:0/96, RFC 4291 §2.5.5.2) never
	// reach the table: CheckAddr unmaps them and judges the IPv4 address.
	{netip.MustParsePrefix("::/128"), "unspecified", "RFC 4291"},
	{netip.MustParsePrefix("::1/128"), "loopback", "RFC 4291"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)", "RFC 4291"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "in the local-use NAT64 prefix", "RFC 8215"},
	{netip.MustParsePrefix("100::/64"), "discard-only", "RFC 6666"},
	{netip.MustParsePrefix("2001::/32"), "Teredo", "RFC 4380"},
	{netip.MustParsePrefix("2001:2::/48"), "reserved for benchmarking", "RFC 5180"},
	{netip.MustParsePrefix("2001::/23"), "reserved for IETF protocol assignments", "RFC 2928"},
	{netip.MustParsePrefix("2001:db8::/32"), "reserved for documentation", "RFC 3849"},
	{netip.MustParsePrefix("3fff::/20"), "reserved for documentation", "RFC 9637"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local", "RFC 4193"},
	{netip.MustParsePrefix("fe80::/10"), "link-local", "RFC 4291"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)", "RFC 3879"},
	{netip.MustParsePrefix("ff00::/8"), "multicast", "RFC 4291"},
}

var (
	// nat64WKP is the NAT64 Well-Known Prefix (RFC 6052 §2.1) with the IPv4
	// address in the last 32 bits. RFC 6052 §3.1 forbids using it for
	// non-global IPv4 addresses; CheckAddr enforces that by judging the
	// embedded address.
	nat64WKP = netip.MustParsePrefix("64:ff9b::/96")
	// sixToFour is 6to4 (RFC 3056 §2): bits 16–47 are an IPv4 address.
	sixToFour = netip.MustParsePrefix("2002::/16")
	// globalUnicast6 is the only IPv6 block IANA allocates for global
	// unicast (IANA IPv6 Address Space registry; RFC 4291 §2.4).
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// CheckAddr reports whether a is an acceptable destination for an outbound
// fetch. It is pure: no DNS, no network. A refusal is an *Error whose Reason
// names the address and the kind of block, e.g.
// "address 10.0.0.1 is private (RFC 1918)".
//
// In order:
//   - an invalid address or one with an IPv6 zone (a scoped address,
//     RFC 4007) is refused;
//   - an IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) is
//     unmapped and judged as the IPv4 address, so both forms always get the
//     same verdict;
//   - loopback (127.0.0.0/8, ::1) is refused unless allowLoopback; nothing
//     else is ever allowed by allowLoopback;
//   - the netip.Addr predicates refuse unspecified, private (RFC 1918,
//     RFC 4193), link-local unicast and multicast, and multicast;
//   - the NAT64 Well-Known Prefix 64:ff9b::/96 (RFC 6052) and 6to4
//     2002::/16 (RFC 3056) are judged by the IPv4 address they embed,
//     always as if allowLoopback were false (the local-use NAT64 prefix
//     64:ff9b:1::/48, RFC 8215, is refused outright: its operator picks
//     where the IPv4 address sits, so it cannot be located);
//   - the explicit table of special-purpose blocks (specialPrefixes, from
//     the IANA special-purpose registries) is consulted;
//   - an IPv6 address outside 2000::/3, the global unicast space, is
//     refused, which covers the reserved and unassigned parts of the
//     address space wholesale.
func CheckAddr(a netip.Addr, allowLoopback bool) error {
	if !a.IsValid() {
		return &Error{Reason: "invalid address"}
	}
	if a.Zone() != "" {
		// The zone is not echoed: it is free text.
		return &Error{Reason: "scoped IPv6 addresses (with a zone) are not allowed"}
	}
	a = a.Unmap()
	if a.IsLoopback() {
		if allowLoopback {
			return nil
		}
		return refuse(a, "loopback", loopbackRef(a))
	}
	switch {
	case a.IsUnspecified():
		return refuse(a, "unspecified", unspecifiedRef(a))
	case a.IsPrivate():
		if a.Is4() {
			return refuse(a, "private", "RFC 1918")
		}
		return refuse(a, "unique-local", "RFC 4193")
	case a.IsLinkLocalUnicast():
		if a.Is4() {
			return refuse(a, "link-local", "RFC 3927")
		}
		return refuse(a, "link-local", "RFC 4291")
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		if a.Is4() {
			return refuse(a, "multicast", "RFC 5771")
		}
		return refuse(a, "multicast", "RFC 4291")
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64WKP.Contains(a):
			return embedded(a, netip.AddrFrom4([4]byte(b[12:16])), "NAT64 (RFC 6052)")
		case sixToFour.Contains(a):
			if err := embedded(a, netip.AddrFrom4([4]byte(b[2:6])), "6to4 (RFC 3056)"); err != nil {
				return err
			}
		}
	}
	for _, s := range specialPrefixes {
		if s.prefix.Contains(a) {
			return refuse(a, s.what, s.ref)
		}
	}
	if a.Is6() && !globalUnicast6.Contains(a) {
		return refuse(a, "outside the global unicast space 2000::/3", "IANA IPv6 Address Space")
	}
	if !a.IsGlobalUnicast() {
		// Unreachable with the table above; kept so that a future change to
		// the table cannot open a hole the netip predicate would have closed.
		return refuse(a, "not global unicast", "RFC 4291")
	}
	return nil
}

// embedded judges the IPv4 address v4 that the IPv6 address a carries
// through the translation or tunnelling scheme via. Loopback is never
// allowed through it: 64:ff9b::127.0.0.1 is not this host.
func embedded(a, v4 netip.Addr, via string) error {
	if err := CheckAddr(v4, false); err != nil {
		return &Error{
			Reason: fmt.Sprintf("address %s embeds %s via %s, which is not allowed", a, v4, via),
			Err:    err,
		}
	}
	return nil
}

func refuse(a netip.Addr, what, ref string) *Error {
	return &Error{Reason: fmt.Sprintf("address %s is %s (%s)", a, what, ref)}
}

func loopbackRef(a netip.Addr) string {
	if a.Is4() {
		return "RFC 1122"
	}
	return "RFC 4291"
}

func unspecifiedRef(a netip.Addr) string {
	if a.Is4() {
		return "RFC 1122"
	}
	return "RFC 4291"
}
