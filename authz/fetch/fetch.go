// Package fetch is the authorization server's one outbound HTTP client for
// requests made on a client's behalf: Client ID Metadata Documents (a
// client_id that is an https URL, draft-ietf-oauth-client-id-metadata-document),
// a client's jwks_uri for private_key_jwt (RFC 7591 §2, RFC 7523 §2.2), and
// later upstream identity providers. Every such URL is chosen by whoever
// talks to the server, so every fetch is guarded against server-side request
// forgery (the "Server Side Request Forgery (SSRF) Attacks" security
// consideration of the Client ID Metadata Document draft, which requires
// refusing the special-purpose addresses of RFC 6890; the OWASP SSRF
// Prevention Cheat Sheet):
//
//   - the URL is checked before any network activity (CheckURL): https only,
//     no user information, no fragment, and a host that is a DNS name, a
//     canonical dotted-quad IPv4 address or an IPv6 literal — never one of
//     the numeric forms (2130706433, 0177.0.0.1, 0x7f000001, 127.1) that
//     resolvers turn into addresses;
//   - the Fetcher resolves the name itself, checks every address it gets
//     (CheckAddr, which follows the IANA special-purpose address
//     registries, RFC 6890), and refuses the fetch if any address is
//     disallowed; it then dials exactly the checked addresses, as IP
//     literals, so a second DNS answer cannot change where it connects
//     (DNS rebinding). TLS still verifies the certificate for, and sends
//     SNI with, the URL's host name. The dialer's Control hook re-checks
//     the address of every socket before connect(2) as a second line;
//   - no proxy (a proxy would connect on its own terms, defeating the
//     address check), no cookies, no redirects (a 3xx response is an error
//     naming the status), connect and total time limits, a response size
//     cap per call (one byte over is an error, never silent truncation),
//     no content coding (compression is disabled, so the cap is on the
//     bytes received) and a per-call list of acceptable media types.
//
// Name resolution skips resolv.conf search domains: names are looked up
// as fully qualified (with a trailing dot), so "db.prod" cannot become
// "db.prod.corp.internal".
//
// # Development: AllowLoopback
//
// Config.AllowLoopback is the one development switch. It permits loopback
// destinations (127.0.0.0/8, ::1, localhost) and plain http:// to loopback
// destinations only — never http to anything else, never the other private
// or special ranges. The server exposes it as --fetch-allow-loopback (with
// the matching config key and environment variable) and must refuse it
// unless its own issuer is a loopback URL (as the Client ID Metadata
// Document draft allows only then); that check is the caller's, not this
// package's. Tests use it to serve documents from httptest servers.
//
// # Errors
//
// Every refusal and every failure of a well-formed request is an *Error.
// Its Reason is short, printable ASCII without '"' or '\', and safe to put
// in an error page or an invalid_client error_description (RFC 6749 §5.2);
// Error() adds the wrapped cause (DNS errors, the resolved address that was
// refused, connection errors) and is meant for logs. Reasons for host
// names deliberately do not reveal what a name resolved to, nor whether it
// resolved at all, so the server cannot be used as an oracle for a
// split-horizon DNS. Error.Unavailable marks the failures a caller may ride
// out with a copy it fetched before (no connection, a time-out, 5xx, 429);
// a name that does not resolve is not one of them, for the same reason.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults for a zero Config, and suggested Request.MaxBytes values.
const (
	DefaultConnectTimeout = 3 * time.Second
	DefaultTimeout        = 5 * time.Second
	DefaultUserAgent      = "mcpauthz"

	// MaxBytesClientMetadata is the size cap for a Client ID Metadata
	// Document, which the draft suggests be about 5 kilobytes.
	MaxBytesClientMetadata = 5 << 10
	// MaxBytesJWKS is the size cap for a JWK Set (RFC 7517 §5).
	MaxBytesJWKS = 64 << 10
)

const (
	// maxDialAttempts bounds how many of a name's addresses are tried.
	maxDialAttempts = 4
	// maxHeaderBytes bounds response headers (net/http's default is 1 MB).
	maxHeaderBytes = 32 << 10
	// Idle connection pool bounds.
	maxIdleConns        = 16
	maxIdleConnsPerHost = 2
	idleConnTimeout     = 30 * time.Second
)

// Resolver resolves host names to addresses. *net.Resolver implements it.
// network is "ip", "ip4" or "ip6"; host is fully qualified, with a trailing
// dot. Addresses may be returned IPv4-mapped; the Fetcher unmaps them.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Fetcher. The zero Config is ready to use.
type Config struct {
	// AllowLoopback permits loopback destinations and http:// to loopback
	// destinations; see the package documentation. Development and tests
	// only: the server must refuse it unless its issuer is loopback.
	AllowLoopback bool
	// ConnectTimeout bounds name resolution plus TCP connect, and separately
	// the TLS handshake. Zero or negative means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Timeout bounds a whole Get, from resolution to the last byte of the
	// body. Zero or negative means DefaultTimeout.
	Timeout time.Duration
	// Resolver resolves host names; nil means net.DefaultResolver. Tests
	// inject a fake that maps names to addresses.
	Resolver Resolver
	// UserAgent is sent as User-Agent; "" means DefaultUserAgent.
	UserAgent string
}

// Fetcher fetches documents under the rules in the package documentation.
// Create it with New; it is safe for concurrent use.
type Fetcher struct {
	cfg   Config          // defaults applied
	https *http.Transport // https:// requests
	plain *http.Transport // http:// requests to loopback; nil unless AllowLoopback
}

// dialFunc connects to a checked "ip:port" address.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// hooks are test-only overrides.
type hooks struct {
	// dial replaces the final connect to a checked "ip:port" address.
	dial dialFunc
	// rootCAs replaces the system roots.
	rootCAs *x509.CertPool
}

// New returns a Fetcher for cfg, with defaults filled in.
func New(cfg Config) *Fetcher {
	return newFetcher(cfg, hooks{})
}

func newFetcher(cfg Config, h hooks) *Fetcher {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	f := &Fetcher{cfg: cfg}
	f.https = f.transport(false, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: h.rootCAs}, h.dial)
	if cfg.AllowLoopback {
		f.plain = f.transport(true, nil, h.dial)
	}
	return f
}

// transport builds an http.Transport whose only way out is the guarded
// dialer. requireLoopback is set for the plain-http transport. dial, if
// not nil, is the test hook that replaces the final connect.
func (f *Fetcher) transport(requireLoopback bool, tlsConfig *tls.Config, dial dialFunc) *http.Transport {
	if dial == nil {
		d := &net.Dialer{Control: f.control(requireLoopback)}
		dial = d.DialContext
	}
	return &http.Transport{
		Proxy:                  nil, // never: a proxy would defeat the address check
		DialContext:            f.guardedDial(requireLoopback, dial),
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    f.cfg.ConnectTimeout,
		DisableCompression:     true,
		ForceAttemptHTTP2:      !requireLoopback,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
}

// control is the net.Dialer Control hook, the second line of defence:
// whatever the code before it does, no socket connects to an address the
// policy refuses. It runs after the socket is created and before
// connect(2), with the literal address being connected to.
func (f *Fetcher) control(requireLoopback bool) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &Error{Reason: "unexpected dial address", Err: err}
		}
		return f.permit(ap.Addr(), requireLoopback)
	}
}

// CloseIdleConnections closes the Fetcher's idle pooled connections.
func (f *Fetcher) CloseIdleConnections() {
	f.https.CloseIdleConnections()
	if f.plain != nil {
		f.plain.CloseIdleConnections()
	}
}

// Request is one fetch.
type Request struct {
	// URL is the document's URL; it must pass CheckURL.
	URL string
	// MaxBytes caps the response body; one more byte is an error. Required
	// (e.g. MaxBytesClientMetadata, MaxBytesJWKS).
	MaxBytes int64
	// Accept lists the acceptable media types (type/subtype, no
	// parameters, matched case-insensitively against the response's
	// Content-Type, whose parameters such as charset are ignored). It is
	// also sent as the Accept header. Required.
	Accept []string
}

// Response is a fetched document.
type Response struct {
	Body      []byte
	Header    http.Header
	Status    int
	FetchedAt time.Time
}

// Error is a refused or failed fetch.
type Error struct {
	// Reason is short and safe to show to the party that supplied the URL,
	// e.g. "address 10.0.0.1 is private (RFC 1918)".
	Reason string
	// URL is the URL that was being fetched (user information redacted,
	// very long URLs truncated), or "" for a bare CheckAddr refusal.
	URL string
	// Err is the underlying cause, if any; it is for logs.
	Err error
	// Unavailable says the failure is one of availability, likely to pass:
	// the connection could not be made or broke, a time limit ran out, or
	// the server answered 5xx or 429. It is false for every refusal of the
	// fetcher's own (an address, a scheme, a size, a content type, a TLS
	// certificate) and for any other status, so a caller may keep using a
	// copy it fetched earlier exactly when it is true.
	Unavailable bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("fetch")
	if e.URL != "" {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(e.URL))
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Get fetches req.URL with GET. It returns the document only for a 2xx
// response with an acceptable Content-Type and a body of at most
// req.MaxBytes bytes. Every refusal or failure is an *Error, except a
// malformed Request (a programming error), which is a plain error.
func (f *Fetcher) Get(ctx context.Context, req Request) (*Response, error) {
	if f == nil || f.https == nil {
		return nil, errors.New("fetch: Fetcher not created with New")
	}
	if req.MaxBytes <= 0 {
		return nil, errors.New("fetch: Request.MaxBytes must be positive")
	}
	accept, err := mediaTypes(req.Accept)
	if err != nil {
		return nil, err
	}
	u, err := CheckURL(req.URL, f.cfg.AllowLoopback)
	if err != nil {
		return nil, err
	}
	shown := u.Redacted()
	fail := func(reason string, cause error) (*Response, error) {
		return nil, &Error{Reason: reason, URL: shown, Err: cause}
	}
	tr := f.https
	if u.Scheme == "http" {
		// CheckURL allows http only with AllowLoopback and a loopback host;
		// the plain transport's dialer insists on loopback as well.
		tr = f.plain
	}
	if tr == nil {
		return nil, &Error{Reason: "URL scheme must be https", URL: u.Redacted()}
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	hreq := (&http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Accept":     {strings.Join(accept, ", ")},
			"User-Agent": {f.cfg.UserAgent},
		},
		Host: u.Host,
	}).WithContext(ctx)

	// RoundTrip, not an http.Client: no redirects, no cookie jar.
	resp, err := tr.RoundTrip(hreq)
	if err != nil {
		return nil, f.failure(parent, ctx, shown, "request failed", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
			return fail(fmt.Sprintf("redirect (status %d) not followed", resp.StatusCode), nil)
		}
		e := &Error{Reason: fmt.Sprintf("unexpected status %d", resp.StatusCode), URL: shown}
		e.Unavailable = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return nil, e
	}
	if reason := checkContentType(resp.Header, accept); reason != "" {
		return fail(reason, nil)
	}
	for _, ce := range resp.Header.Values("Content-Encoding") {
		if v := strings.TrimSpace(ce); v != "" && !strings.EqualFold(v, "identity") {
			return fail("response has a Content-Encoding, which was not requested", nil)
		}
	}
	tooLarge := fmt.Sprintf("response is larger than %d bytes", req.MaxBytes)
	if resp.ContentLength > req.MaxBytes {
		return fail(tooLarge, nil)
	}
	limit := req.MaxBytes
	if limit < math.MaxInt64 {
		limit++ // read one byte past the cap to tell "exactly MaxBytes" from "more"
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, f.failure(parent, ctx, shown, "reading the response failed", err)
	}
	if int64(len(body)) > req.MaxBytes {
		return fail(tooLarge, nil)
	}
	return &Response{Body: body, Header: resp.Header, Status: resp.StatusCode, FetchedAt: time.Now()}, nil
}

// failure turns a transport error into an *Error. parent is the caller's
// context and ctx the one carrying the Fetcher's Timeout.
func (f *Fetcher) failure(parent, ctx context.Context, shown, reason string, err error) error {
	var (
		fe   *Error
		cert *tls.CertificateVerificationError
		ae   tls.AlertError
		rhe  tls.RecordHeaderError
		te   interface{ Timeout() bool }
	)
	// Unless a case below says otherwise, the connection broke: the
	// failure is one of availability.
	unavailable := true
	switch {
	case parent.Err() != nil:
		reason, unavailable = "request canceled", false
	case ctx.Err() != nil:
		reason = fmt.Sprintf("request timed out after %s", f.cfg.Timeout)
	case errors.As(err, &fe):
		// From the guarded dialer; copy, as the transport may hand one dial
		// error to several requests.
		e := *fe
		e.URL = shown
		return &e
	case errors.As(err, &cert):
		reason, unavailable = "TLS certificate verification failed", false
	case errors.As(err, &ae), errors.As(err, &rhe):
		reason, unavailable = "TLS handshake failed", false
	case errors.As(err, &te) && te.Timeout():
		reason = "connection timed out" // e.g. the TLS handshake
	}
	return &Error{Reason: reason, URL: shown, Err: err, Unavailable: unavailable}
}

// guardedDial is the transports' DialContext: resolve, check every
// address, then connect only to the checked addresses, as literals.
func (f *Fetcher) guardedDial(requireLoopback bool, dial dialFunc) dialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		outer := ctx
		ctx, cancel := context.WithTimeout(ctx, f.cfg.ConnectTimeout)
		defer cancel()
		addrs, port, err := f.resolve(ctx, network, address, requireLoopback)
		if err != nil {
			if outer.Err() != nil {
				return nil, outer.Err()
			}
			return nil, err
		}
		n := min(len(addrs), maxDialAttempts)
		deadline, _ := ctx.Deadline()
		var first error
		for i := range n {
			// Share what is left of the connect budget among the remaining
			// addresses, as net.Dialer does for a name's addresses.
			actx, acancel := context.WithTimeout(ctx, time.Until(deadline)/time.Duration(n-i))
			conn, err := dial(actx, network, netip.AddrPortFrom(addrs[i], port).String())
			acancel()
			if err == nil {
				return conn, nil
			}
			if first == nil {
				first = err
			}
			var fe *Error
			if errors.As(err, &fe) {
				return nil, err // the Control hook refused: a bug, not a network failure
			}
			if ctx.Err() != nil {
				break
			}
		}
		switch {
		case outer.Err() != nil:
			return nil, outer.Err()
		case ctx.Err() != nil:
			return nil, &Error{Reason: fmt.Sprintf("connection timed out after %s", f.cfg.ConnectTimeout), Err: first, Unavailable: true}
		}
		return nil, &Error{Reason: "could not connect", Err: first, Unavailable: true}
	}
}

// resolve turns a dial address into the checked addresses to connect to
// (unmapped, in resolver order) and the port. It refuses the whole set if
// any address is disallowed: all must pass. That is simpler and safer than
// dialling only the good ones, since a name with a private address is
// either misconfigured or hostile.
func (f *Fetcher) resolve(ctx context.Context, network, address string, requireLoopback bool) ([]netip.Addr, uint16, error) {
	hs, ps, err := net.SplitHostPort(address)
	if err != nil {
		return nil, 0, &Error{Reason: "malformed dial address", Err: err}
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return nil, 0, &Error{Reason: "URL port is out of range", Err: err}
	}
	// The host is re-classified here, independently of CheckURL, so that
	// nothing reaches the resolver that CheckURL would have refused.
	h, herr := parseHost(hs, false)
	if herr != nil {
		return nil, 0, herr
	}
	var addrs []netip.Addr
	switch {
	case h.addr.IsValid():
		addrs = []netip.Addr{h.addr}
	case h.localhost:
		// RFC 6761 §6.3: resolved here, never by DNS.
		addrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	default:
		name := h.name
		if !strings.HasSuffix(name, ".") {
			name += "." // fully qualified: no search domains
		}
		addrs, err = f.cfg.Resolver.LookupNetIP(ctx, ipNetwork(network), name)
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, &Error{Reason: fmt.Sprintf("connection timed out after %s", f.cfg.ConnectTimeout), Err: err, Unavailable: true}
			}
			return nil, 0, unresolved(h.name, err)
		}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if err := f.permit(a, requireLoopback); err != nil {
			if h.name != "" {
				return nil, 0, unresolved(h.name, err)
			}
			return nil, 0, err
		}
		a = a.Unmap()
		if network == "tcp4" && !a.Is4() || network == "tcp6" && !a.Is6() {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, 0, unresolved(h.name, errors.New("no addresses"))
	}
	return out, uint16(port), nil
}

// permit is the dial-time address policy: CheckAddr, plus loopback-only
// for the plain-http transport.
func (f *Fetcher) permit(a netip.Addr, requireLoopback bool) error {
	if err := CheckAddr(a, f.cfg.AllowLoopback); err != nil {
		return err
	}
	if requireLoopback && !a.Unmap().IsLoopback() {
		return &Error{Reason: fmt.Sprintf("plain http to %s is not allowed: only loopback", a.WithZone(""))}
	}
	return nil
}

// unresolved is the one refusal for a host name, whatever went wrong:
// see "Errors" in the package documentation.
func unresolved(name string, cause error) *Error {
	return &Error{Reason: fmt.Sprintf("host %s does not resolve to a permitted public address", name), Err: cause}
}

func ipNetwork(network string) string {
	switch network {
	case "tcp4":
		return "ip4"
	case "tcp6":
		return "ip6"
	}
	return "ip"
}

// mediaTypes validates Request.Accept and returns it lower-cased.
func mediaTypes(accept []string) ([]string, error) {
	if len(accept) == 0 {
		return nil, errors.New("fetch: Request.Accept must list at least one media type")
	}
	out := make([]string, len(accept))
	for i, a := range accept {
		mt, params, err := mime.ParseMediaType(a)
		if err != nil || len(params) != 0 || !strings.Contains(mt, "/") || strings.Contains(mt, "*") {
			return nil, fmt.Errorf("fetch: Request.Accept: %q is not a type/subtype media type", a)
		}
		out[i] = mt
	}
	return out, nil
}

// checkContentType returns why the response's Content-Type is not one of
// accept, or "". The media type named in a reason has passed
// mime.ParseMediaType's token check, so it is safe to show.
func checkContentType(h http.Header, accept []string) string {
	vals := h.Values("Content-Type")
	switch len(vals) {
	case 0:
		return "response has no Content-Type"
	case 1:
	default:
		return "response has more than one Content-Type"
	}
	mt, _, err := mime.ParseMediaType(vals[0])
	if err != nil {
		return "response has a malformed Content-Type"
	}
	for _, a := range accept {
		if mt == a {
			return ""
		}
	}
	return fmt.Sprintf("unexpected Content-Type %s (want %s)", mt, strings.Join(accept, " or "))
}
