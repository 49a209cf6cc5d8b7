package fetch

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url  string
		ok   bool   // verdict without allowLoopback
		lo   bool   // verdict with allowLoopback
		want string // substring of the refusal Reason (both verdicts)
	}{
		// Accepted.
		{url: "https://client.example.com/metadata.json", ok: true, lo: true},
		{url: "https://client.example.com:8443/m?x=1", ok: true, lo: true},
		{url: "HTTPS://Client.Example.COM/m", ok: true, lo: true},
		{url: "https://client.example.com./m", ok: true, lo: true},
		{url: "https://xn--bcher-kva.example/m", ok: true, lo: true},
		{url: "https://a-b.c0.example/", ok: true, lo: true},
		{url: "https://8.8.8.8/jwks", ok: true, lo: true},
		{url: "https://[2606:4700:4700::1111]/jwks", ok: true, lo: true},
		{url: "https://[::ffff:8.8.8.8]/jwks", ok: true, lo: true},
		{url: "https://1.2.3.4.nip.example/", ok: true, lo: true}, // a name whose last label is not numeric
		{url: "https://0x7f.example/", ok: true, lo: true},

		// Loopback: only with allowLoopback, and only then may the scheme be http.
		{url: "https://127.0.0.1/", lo: true, want: "127.0.0.1 is loopback"},
		{url: "https://127.0.0.1:8443/doc", lo: true, want: "loopback"},
		{url: "http://127.0.0.1:8080/doc", lo: true, want: "loopback"},
		{url: "http://127.9.9.9/doc", lo: true, want: "loopback"},
		{url: "http://[::1]:8080/doc", lo: true, want: "::1 is loopback"},
		{url: "https://[::1]/", lo: true, want: "loopback"},
		{url: "https://localhost/", lo: true, want: "host localhost is loopback"},
		{url: "http://localhost:8080/", lo: true, want: "loopback"},
		{url: "http://LOCALHOST./", lo: true, want: "loopback"},
		{url: "http://app.localhost/", lo: true, want: "loopback"},
		{url: "https://[::ffff:7f00:1]/", lo: true, want: "127.0.0.1 is loopback"},
		{url: "http://[::ffff:127.0.0.1]/", lo: true, want: "loopback"},

		// Non-canonical numeric hosts: refused outright, with or without allowLoopback.
		{url: "https://2130706433/", want: "non-canonical"},
		{url: "http://2130706433/", want: "non-canonical"},
		{url: "https://0177.0.0.1/", want: "non-canonical"},
		{url: "https://0x7f000001/", want: "non-canonical"},
		{url: "https://0X7F000001/", want: "non-canonical"},
		{url: "https://0x7f.0.0.1/", want: "non-canonical"},
		{url: "https://127.0.0.0x1/", want: "non-canonical"},
		{url: "https://127.1/", want: "non-canonical"},
		{url: "https://127.0.1/", want: "non-canonical"},
		{url: "https://127.0.0.01/", want: "non-canonical"},
		{url: "https://127.0.0.1./", want: "non-canonical"},
		{url: "https://3232235777/", want: "non-canonical"},
		{url: "https://0/", want: "non-canonical"},
		{url: "https://0x/", want: "non-canonical"},
		{url: "https://1.2.3.4.5/", want: "non-canonical"},
		{url: "https://999.1.1.1/", want: "non-canonical"},
		{url: "https://example.123/", want: "non-canonical"},
		{url: "https://169.254.169.254/", want: "link-local"},
		{url: "http://169.254.169.254/latest/meta-data/", want: "link-local"},

		// IPv6 literals.
		{url: "https://[::ffff:169.254.169.254]/", want: "169.254.169.254 is link-local"},
		{url: "https://[::ffff:a9fe:a9fe]/", want: "169.254.169.254 is link-local"},
		{url: "https://[fe80::1%25eth0]/", want: "zone"},
		{url: "https://[2606:4700:4700::1111%25eth0]/", want: "zone"},
		{url: "https://[fe80::1]/", want: "link-local"},
		{url: "https://[fd00::1]/", want: "unique-local"},
		{url: "https://[64:ff9b::a9fe:a9fe]/", want: "embeds 169.254.169.254 via NAT64"},
		{url: "https://[64:ff9b::169.254.169.254]/", want: "NAT64"},
		{url: "https://[2002:a9fe:a9fe::]/", want: "embeds 169.254.169.254 via 6to4"},
		{url: "https://[2001::1]/", want: "Teredo"},
		{url: "https://[::]/", want: "unspecified"},
		{url: "https://[::7f00:1]/", want: "IPv4-compatible"},
		{url: "https://[2001:db8::1]/", want: "documentation"},
		{url: "https://[ff02::1]/", want: "multicast"},

		// IPv4 special ranges (never allowed by allowLoopback).
		{url: "https://10.0.0.1/", want: "address 10.0.0.1 is private"},
		{url: "http://10.0.0.1/", want: "private"},
		{url: "https://192.168.0.1/", want: "private"},
		{url: "https://100.64.0.1/", want: "CGNAT"},
		{url: "https://0.0.0.0/", want: "unspecified"},
		{url: "https://255.255.255.255/", want: "broadcast"},
		{url: "https://224.0.0.1/", want: "multicast"},
		{url: "https://192.0.2.1/", want: "documentation"},
		{url: "https://198.18.0.1/", want: "benchmarking"},
		{url: "https://240.0.0.1/", want: "reserved"},

		// Schemes and shapes.
		{url: "http://example.com/", want: "scheme must be https"},
		{url: "http://client.example.com:80/doc", want: "scheme must be https"},
		{url: "http://8.8.8.8/", want: "scheme must be https"},
		{url: "javascript:alert(1)", want: "scheme must be https"},
		{url: "file:///etc/passwd", want: "scheme must be https"},
		{url: "ftp://example.com/x", want: "scheme must be https"},
		{url: "gopher://example.com/", want: "scheme must be https"},
		{url: "data:application/json,{}", want: "scheme must be https"},
		{url: "https:example.com", want: "no host"},
		{url: "https:///x", want: "no host"},
		{url: "https://", want: "no host"},
		{url: "//example.com/x", want: "not absolute"},
		{url: "/x", want: "not absolute"},
		{url: "", want: "not absolute"},
		{url: "https://user:pass@example.com/", want: "user information"},
		{url: "https://user@example.com/", want: "user information"},
		{url: "https://@example.com/", want: "user information"},
		{url: "https://example.com/#frag", want: "fragment"},
		{url: "https://example.com/#", want: "fragment"},
		{url: "https://example.com:0/", want: "port"},
		{url: "https://example.com:65536/", want: "port"},
		{url: "https://example.com:99999999999999999999/", want: "port"},
		{url: "https://exa mple.com/", want: "malformed"},
		{url: "https://example.com/\x00", want: "malformed"},
		{url: "https://%31%32%37.0.0.1/", want: "malformed"},
		{url: "https://[1.2.3.4]/", want: "malformed"},
		{url: "https://[::1/", want: "malformed"},

		// Host names.
		{url: "https://exämple.com/", want: "A-label"},
		{url: "https://ex_ample.com/", want: "not a valid DNS name"},
		{url: "https://-example.com/", want: "not a valid DNS name"},
		{url: "https://example-.com/", want: "not a valid DNS name"},
		{url: "https://example..com/", want: "not a valid DNS name"},
		{url: "https://.example.com/", want: "not a valid DNS name"},
		{url: "https://" + strings.Repeat("a", 64) + ".com/", want: "not a valid DNS name"},
		{url: "https://" + strings.Repeat("a.", 127) + "com/", want: "not a valid DNS name"},
		{url: "https://intranet/", want: "fully qualified"},
		{url: "https://metadata/", want: "fully qualified"},
		{url: "https://printer.local/", want: ".local"},
		{url: "https://router.home.arpa/", want: ".home.arpa"},
		{url: "https://metadata.google.internal/", want: ".internal"},
		{url: "https://x.onion/", want: ".onion"},
		{url: "https://x.invalid/", want: ".invalid"},
		{url: "https://x.alt/", want: ".alt"},

		// Length.
		{url: "https://example.com/" + strings.Repeat("a", MaxURLLength), want: "longer than"},
	}
	for _, tt := range tests {
		name := tt.url
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			for _, allow := range []bool{false, true} {
				want := tt.ok
				if allow {
					want = tt.lo
				}
				u, err := CheckURL(tt.url, allow)
				if want {
					if err != nil || u == nil {
						t.Errorf("CheckURL(%q, %v) = %v, %v; want accepted", tt.url, allow, u, err)
					}
					continue
				}
				if u != nil {
					t.Errorf("CheckURL(%q, %v) returned a URL with an error", tt.url, allow)
				}
				var fe *Error
				if !errors.As(err, &fe) {
					t.Fatalf("CheckURL(%q, %v) = %v, want *Error", tt.url, allow, err)
				}
				if !strings.Contains(fe.Reason, tt.want) {
					t.Errorf("CheckURL(%q, %v) reason %q, want it to contain %q", tt.url, allow, fe.Reason, tt.want)
				}
				checkReason(t, fe.Reason)
				if strings.Contains(fe.URL, ":pass@") || strings.Contains(fe.Error(), ":pass@") {
					t.Errorf("password leaked into the error: %v", fe)
				}
				if len(fe.URL) > MaxURLLength {
					t.Errorf("Error.URL not truncated: %d bytes", len(fe.URL))
				}
			}
		})
	}
}

func TestNumeric(t *testing.T) {
	for l, want := range map[string]bool{
		"0": true, "123": true, "0x": true, "0X": true, "0x7f": true, "0XaBc": true, "0177": true,
		"": false, "x": false, "0xg": false, "com": false, "1a": false, "a1": false, "0x7g": false, "cafe": false,
	} {
		if got := numeric(l); got != want {
			t.Errorf("numeric(%q) = %v, want %v", l, got, want)
		}
	}
}
