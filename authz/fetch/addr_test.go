package fetch

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool   // verdict without allowLoopback
		lo   bool   // verdict with allowLoopback
		want string // substring of the refusal Reason
	}{
		// Public unicast.
		{addr: "8.8.8.8", ok: true, lo: true},
		{addr: "93.184.215.14", ok: true, lo: true},
		{addr: "1.1.1.1", ok: true, lo: true},
		{addr: "2606:4700:4700::1111", ok: true, lo: true},
		{addr: "2a00:1450:4001:80b::200e", ok: true, lo: true},
		{addr: "::ffff:8.8.8.8", ok: true, lo: true}, // IPv4-mapped: judged as 8.8.8.8
		{addr: "64:ff9b::808:808", ok: true, lo: true},
		{addr: "2002:808:808::1", ok: true, lo: true},
		{addr: "100.63.255.255", ok: true, lo: true},
		{addr: "100.128.0.0", ok: true, lo: true},
		{addr: "172.32.0.1", ok: true, lo: true},
		{addr: "198.20.0.1", ok: true, lo: true},
		{addr: "223.255.255.255", ok: true, lo: true},

		// Loopback: the only thing allowLoopback changes.
		{addr: "127.0.0.1", lo: true, want: "127.0.0.1 is loopback"},
		{addr: "127.255.255.254", lo: true, want: "is loopback"},
		{addr: "::1", lo: true, want: "::1 is loopback"},
		{addr: "::ffff:127.0.0.1", lo: true, want: "127.0.0.1 is loopback"},
		{addr: "::ffff:7f00:1", lo: true, want: "127.0.0.1 is loopback"},

		// IPv4 special-purpose.
		{addr: "0.0.0.0", want: "unspecified"},
		{addr: "0.1.2.3", want: "this network"},
		{addr: "10.0.0.1", want: "address 10.0.0.1 is private (RFC 1918)"},
		{addr: "172.16.0.1", want: "private"},
		{addr: "172.31.255.255", want: "private"},
		{addr: "192.168.1.1", want: "private"},
		{addr: "100.64.0.1", want: "CGNAT"},
		{addr: "100.127.255.255", want: "CGNAT"},
		{addr: "169.254.169.254", want: "link-local"},
		{addr: "169.254.0.1", want: "link-local"},
		{addr: "192.0.0.8", want: "IETF protocol assignments"},
		{addr: "192.0.2.1", want: "documentation"},
		{addr: "192.88.99.1", want: "6to4 relay"},
		{addr: "198.18.0.1", want: "benchmarking"},
		{addr: "198.19.255.255", want: "benchmarking"},
		{addr: "198.51.100.7", want: "documentation"},
		{addr: "203.0.113.9", want: "documentation"},
		{addr: "224.0.0.1", want: "multicast"},
		{addr: "239.255.255.250", want: "multicast"},
		{addr: "240.0.0.1", want: "reserved"},
		{addr: "255.255.255.255", want: "broadcast"},

		// IPv4-mapped forms of the above get the same verdict.
		{addr: "::ffff:169.254.169.254", want: "169.254.169.254 is link-local"},
		{addr: "::ffff:10.0.0.1", want: "10.0.0.1 is private"},
		{addr: "::ffff:0.0.0.0", want: "unspecified"},

		// IPv6 special-purpose.
		{addr: "::", want: "unspecified"},
		{addr: "::7f00:1", want: "IPv4-compatible"},
		{addr: "::a9fe:a9fe", want: "IPv4-compatible"},
		{addr: "::8.8.8.8", want: "IPv4-compatible"},
		{addr: "fd00::1", want: "unique-local"},
		{addr: "fc00::1", want: "unique-local"},
		{addr: "fe80::1", want: "link-local"},
		{addr: "febf::1", want: "link-local"},
		{addr: "fec0::1", want: "site-local"},
		{addr: "ff02::1", want: "multicast"},
		{addr: "ff05::1:3", want: "multicast"},
		{addr: "ff0e::1", want: "multicast"},
		{addr: "100::1", want: "discard"},
		{addr: "100:0:0:1::1", want: "2000::/3"},
		{addr: "2001::1", want: "Teredo"},
		{addr: "2001:0:4136:e378:8000:63bf:3fff:fdd2", want: "Teredo"},
		{addr: "2001:2::1", want: "benchmarking"},
		{addr: "2001:10::1", want: "IETF protocol assignments"},
		{addr: "2001:db8::1", want: "documentation"},
		{addr: "3fff::1", want: "documentation"},
		{addr: "5f00::1", want: "2000::/3"},
		{addr: "4000::1", want: "2000::/3"},
		{addr: "::ffff:0:7f00:1", want: "2000::/3"}, // IPv4-translated (RFC 2765)

		// NAT64 and 6to4: the embedded IPv4 decides.
		{addr: "64:ff9b::a9fe:a9fe", want: "embeds 169.254.169.254 via NAT64"},
		{addr: "64:ff9b::7f00:1", want: "embeds 127.0.0.1 via NAT64"}, // loopback never allowed through NAT64
		{addr: "64:ff9b::a00:1", want: "embeds 10.0.0.1"},
		{addr: "64:ff9b::", want: "embeds 0.0.0.0"},
		{addr: "64:ff9b:1::808:808", want: "local-use NAT64"},
		{addr: "64:ff9b:1:ffff::1", want: "local-use NAT64"},
		{addr: "2002:a9fe:a9fe::", want: "embeds 169.254.169.254 via 6to4"},
		{addr: "2002:7f00:1::1", want: "embeds 127.0.0.1 via 6to4"},
		{addr: "2002:c0a8:101::1", want: "embeds 192.168.1.1"},
		{addr: "2002:e000:1::", want: "embeds 224.0.0.1"},

		// Zones.
		{addr: "fe80::1%eth0", want: "zone"},
		{addr: "2606:4700:4700::1111%eth0", want: "zone"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			for _, allow := range []bool{false, true} {
				want := tt.ok
				if allow {
					want = tt.lo
				}
				err := CheckAddr(a, allow)
				if want {
					if err != nil {
						t.Errorf("CheckAddr(%s, %v) = %v, want nil", a, allow, err)
					}
					continue
				}
				var fe *Error
				if !errors.As(err, &fe) {
					t.Fatalf("CheckAddr(%s, %v) = %v, want *Error", a, allow, err)
				}
				if !strings.Contains(fe.Reason, tt.want) {
					t.Errorf("CheckAddr(%s, %v) reason %q, want it to contain %q", a, allow, fe.Reason, tt.want)
				}
				checkReason(t, fe.Reason)
			}
		})
	}
	if err := CheckAddr(netip.Addr{}, true); err == nil {
		t.Error("CheckAddr(zero Addr) = nil")
	}
}

// TestCheckAddrTable checks the explicit table against itself: every
// listed prefix's first and last addresses are refused, with or without
// allowLoopback (except loopback), and its rows are well-formed.
func TestCheckAddrTable(t *testing.T) {
	for _, s := range specialPrefixes {
		if s.prefix != s.prefix.Masked() || s.what == "" || s.ref == "" {
			t.Errorf("malformed row %+v", s)
		}
		first := s.prefix.Addr()
		last := lastAddr(s.prefix)
		for _, a := range []netip.Addr{first, last} {
			if err := CheckAddr(a, false); err == nil {
				t.Errorf("%s (in %s) allowed", a, s.prefix)
			}
			if err := CheckAddr(a, true); err == nil && !a.IsLoopback() {
				t.Errorf("%s (in %s) allowed with allowLoopback", a, s.prefix)
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// checkReason asserts that an Error Reason is displayable as it is:
// non-empty printable ASCII without '"' or '\', so that it fits RFC 6749
// §5.2's error_description as it is.
func checkReason(t testing.TB, r string) {
	t.Helper()
	if r == "" {
		t.Error("empty Reason")
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("Reason %q has byte %#x", r, c)
			return
		}
	}
}
