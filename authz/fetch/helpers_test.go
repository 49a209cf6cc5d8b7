package fetch

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeResolver maps names to addresses. It insists on fully qualified
// names, as the Fetcher must never let search domains apply.
type fakeResolver struct {
	mu    sync.Mutex
	names map[string][]netip.Addr // keys without the trailing dot
	calls []string
}

func newResolver(pairs ...any) *fakeResolver {
	r := &fakeResolver{names: map[string][]netip.Addr{}}
	for i := 0; i < len(pairs); i += 2 {
		name := pairs[i].(string)
		var addrs []netip.Addr
		for _, s := range pairs[i+1].([]string) {
			addrs = append(addrs, netip.MustParseAddr(s))
		}
		r.names[name] = addrs
	}
	return r
}

func (r *fakeResolver) set(name string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names[name] = nil
	for _, s := range addrs {
		r.names[name] = append(r.names[name], netip.MustParseAddr(s))
	}
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, host)
	if network != "ip" {
		return nil, fmt.Errorf("fake resolver: unexpected network %q", network)
	}
	if !strings.HasSuffix(host, ".") {
		return nil, fmt.Errorf("fake resolver: %q is not fully qualified", host)
	}
	addrs, ok := r.names[strings.TrimSuffix(host, ".")]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return append([]netip.Addr(nil), addrs...), nil
}

func (r *fakeResolver) lookups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// dialRecorder is a dial hook that records the checked address it is
// asked to connect to and connects to target instead (a local test
// server), so that "public" addresses can be exercised without leaving the
// machine.
type dialRecorder struct {
	target string
	mu     sync.Mutex
	addrs  []string
}

func (d *dialRecorder) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, address)
	d.mu.Unlock()
	if d.target == "" {
		return nil, errors.New("dialRecorder: no target")
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.target)
}

func (d *dialRecorder) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// server is an httptest server that counts requests and records the last
// one.
type server struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last *http.Request
}

func newServer(t *testing.T, tlsOn, h2 bool, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.last = r.Clone(context.Background())
		s.mu.Unlock()
		h(w, r)
	}))
	if tlsOn {
		s.EnableHTTP2 = h2
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) lastRequest() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *server) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}

// port is the server's port.
func (s *server) port() string {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	return p
}

func jsonDoc(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}
}

var jsonAccept = []string{"application/json"}

// fetchErr asserts err is an *Error whose Reason contains want, and
// returns it.
func fetchErr(t *testing.T, err error, want string) *Error {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want *Error", err, err)
	}
	if !strings.Contains(fe.Reason, want) {
		t.Errorf("Reason %q, want it to contain %q (error: %v)", fe.Reason, want, err)
	}
	checkReason(t, fe.Reason)
	if fe.URL == "" {
		t.Errorf("Error without URL: %v", err)
	}
	return fe
}
