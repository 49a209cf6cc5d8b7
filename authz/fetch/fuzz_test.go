package fetch

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzCheckURL checks that CheckURL never panics, that every refusal is an
// *Error with a displayable Reason, and that every accepted URL is https
// (or, with allowLoopback, http to a loopback literal or a localhost name),
// has no user information or fragment, and has a host that is either an
// IP literal passing CheckAddr or a DNS name that parseHost accepts.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://client.example.com/metadata.json",
		"https://client.example.com:8443/m?x=1",
		"http://127.0.0.1:8080/doc",
		"http://localhost/",
		"http://[::1]:80/",
		"https://2130706433/",
		"https://0177.0.0.1/",
		"https://0x7f000001/",
		"https://127.1/",
		"https://[::ffff:169.254.169.254]/",
		"https://[::ffff:7f00:1]/",
		"https://[fe80::1%25eth0]/",
		"https://[fd00::1]/",
		"https://[64:ff9b::a9fe:a9fe]/",
		"https://[2002:a9fe:a9fe::]/",
		"http://example.com",
		"https://user:pass@host/",
		"https://host/#frag",
		"javascript:alert(1)",
		"file:///etc/passwd",
		"ftp://example.com/",
		"https://exämple.com/",
		"https://a.localhost./",
		"HTTP://LOCALHOST:1/",
		"https://[::ffff:127.0.0.1]:1/",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowLoopback bool) {
		if len(raw) > 512 {
			// Long inputs add nothing but slow minimisation to a crawl; the
			// length cap itself is covered by TestCheckURL.
			return
		}
		u, err := CheckURL(raw, allowLoopback)
		if err != nil {
			if u != nil {
				t.Fatal("URL and error both returned")
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not an *Error", err)
			}
			checkReason(t, fe.Reason)
			return
		}
		if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") || u.Opaque != "" {
			t.Fatalf("accepted %q with user info, fragment or opaque part", raw)
		}
		h, herr := parseHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
		if herr != nil {
			t.Fatalf("accepted %q whose host %q parseHost refuses: %v", raw, u.Hostname(), herr)
		}
		if h.addr.IsValid() {
			if err := CheckAddr(h.addr, allowLoopback); err != nil {
				t.Fatalf("accepted %q whose address fails CheckAddr: %v", raw, err)
			}
			if h.addr.Zone() != "" {
				t.Fatalf("accepted %q with a zone", raw)
			}
		} else if checkName(h.name) != "" {
			t.Fatalf("accepted %q with an invalid name", raw)
		}
		if h.localhost && !allowLoopback {
			t.Fatalf("accepted %q (localhost) without allowLoopback", raw)
		}
		switch u.Scheme {
		case "https":
		case "http":
			loopback := h.localhost || h.addr.IsValid() && h.addr.Unmap().IsLoopback()
			if !allowLoopback || !loopback {
				t.Fatalf("accepted http URL %q (allowLoopback %v)", raw, allowLoopback)
			}
		default:
			t.Fatalf("accepted scheme %q in %q", u.Scheme, raw)
		}
		// What is accepted stays accepted when serialised again, as Get
		// sends u, not raw.
		if _, err := CheckURL(u.String(), allowLoopback); err != nil {
			t.Fatalf("accepted %q but not its serialisation %q: %v", raw, u.String(), err)
		}
	})
}

// FuzzCheckAddr checks that CheckAddr never panics, that an IPv4-mapped
// address gets the same verdict (and Reason) as its IPv4 address, that
// allowLoopback changes the verdict for loopback addresses only, and that
// nothing accepted is private, link-local, multicast or unspecified.
func FuzzCheckAddr(f *testing.F) {
	for _, s := range []string{
		"8.8.8.8", "127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fe80::1", "fd00::1",
		"64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "2001::1", "2606:4700:4700::1111", "::ffff:7f00:1", "::",
	} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 16 {
			in = append(in, make([]byte, 16-len(in))...)
		}
		a := netip.AddrFrom16([16]byte(in[:16]))
		for _, allow := range []bool{false, true} {
			err := CheckAddr(a, allow)
			if a.Is4In6() {
				err4 := CheckAddr(a.Unmap(), allow)
				if (err == nil) != (err4 == nil) {
					t.Fatalf("%s: %v, but %s: %v", a, err, a.Unmap(), err4)
				}
				if err != nil && err.(*Error).Reason != err4.(*Error).Reason {
					t.Fatalf("%s and %s refused differently: %v / %v", a, a.Unmap(), err, err4)
				}
			}
			if err != nil {
				checkReason(t, err.(*Error).Reason)
				continue
			}
			u := a.Unmap()
			if u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsMulticast() || u.IsUnspecified() || !u.IsGlobalUnicast() && !u.IsLoopback() {
				t.Fatalf("%s accepted", a)
			}
			if u.IsLoopback() && !allow {
				t.Fatalf("%s accepted without allowLoopback", a)
			}
		}
		strict, dev := CheckAddr(a, false), CheckAddr(a, true)
		if (strict == nil) != (dev == nil) && !a.Unmap().IsLoopback() {
			t.Fatalf("%s: allowLoopback changed the verdict of a non-loopback address", a)
		}
	})
}
