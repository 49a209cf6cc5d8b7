package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const doc = `{"client_id":"https://client.example.com/m","client_name":"x"}`

// TestGetLoopbackHTTP: a good JSON document over http://127.0.0.1 with
// AllowLoopback is fetched; the same with AllowLoopback=false is refused
// before connecting.
func TestGetLoopbackHTTP(t *testing.T) {
	s := newServer(t, false, false, jsonDoc(doc))
	url := s.URL + "/metadata.json"

	f := New(Config{AllowLoopback: true})
	before := time.Now()
	resp, err := f.Get(context.Background(), Request{URL: url, MaxBytes: MaxBytesClientMetadata, Accept: []string{"application/json", "application/jwk-set+json"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != doc || resp.Status != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("response %d %v %q", resp.Status, resp.Header, resp.Body)
	}
	if resp.FetchedAt.Before(before) || resp.FetchedAt.After(time.Now()) {
		t.Errorf("FetchedAt %v", resp.FetchedAt)
	}
	r := s.lastRequest()
	if r.Method != http.MethodGet || r.URL.Path != "/metadata.json" {
		t.Errorf("request %s %s", r.Method, r.URL)
	}
	for k, want := range map[string]string{
		"Accept":          "application/json, application/jwk-set+json",
		"User-Agent":      "mcpauthz",
		"Accept-Encoding": "",
		"Cookie":          "",
		"Authorization":   "",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("request header %s = %q, want %q", k, got, want)
		}
	}

	hits := s.hits.Load()
	d := &dialRecorder{}
	strict := newFetcher(Config{}, hooks{dial: d.dial})
	_, err = strict.Get(context.Background(), Request{URL: url, MaxBytes: MaxBytesClientMetadata, Accept: jsonAccept})
	fetchErr(t, err, "127.0.0.1 is loopback")
	if s.hits.Load() != hits || len(d.dialed()) != 0 {
		t.Errorf("refused fetch reached the network: %d hits, dialed %v", s.hits.Load()-hits, d.dialed())
	}
}

// TestGetRefusedBeforeConnecting: without AllowLoopback, nothing
// loopback is dialled, whatever the URL's form.
func TestGetRefusedBeforeConnecting(t *testing.T) {
	s := newServer(t, true, false, jsonDoc(doc))
	p := s.port()
	res := newResolver("loop.example.com", []string{"127.0.0.1"}, "mapped.example.com", []string{"::ffff:127.0.0.1"})
	d := &dialRecorder{target: s.Listener.Addr().String()}
	f := newFetcher(Config{Resolver: res}, hooks{dial: d.dial, rootCAs: s.roots()})
	for _, url := range []string{
		"http://127.0.0.1:" + p + "/",
		"https://127.0.0.1:" + p + "/",
		"https://localhost:" + p + "/",
		"http://localhost:" + p + "/",
		"https://[::1]:" + p + "/",
		"https://[::ffff:7f00:1]:" + p + "/",
		"https://2130706433:" + p + "/",
		"https://127.1:" + p + "/",
		"https://loop.example.com:" + p + "/",
		"https://mapped.example.com:" + p + "/",
	} {
		_, err := f.Get(context.Background(), Request{URL: url, MaxBytes: 1024, Accept: jsonAccept})
		if err == nil {
			t.Errorf("%s fetched", url)
		}
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v is not an *Error", url, err)
		} else if fe.Unavailable {
			t.Errorf("%s: a refusal is Unavailable: %v", url, err)
		}
	}
	if s.hits.Load() != 0 || len(d.dialed()) != 0 {
		t.Errorf("server saw %d requests, dialled %v", s.hits.Load(), d.dialed())
	}
}

// TestGetLocalhost: with AllowLoopback, http://localhost is fetched, and
// localhost is resolved without DNS.
func TestGetLocalhost(t *testing.T) {
	s := newServer(t, false, false, jsonDoc(doc))
	res := newResolver()
	f := New(Config{AllowLoopback: true, Resolver: res})
	resp, err := f.Get(context.Background(), Request{URL: "http://localhost:" + s.port() + "/m", MaxBytes: 1024, Accept: jsonAccept})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != doc {
		t.Errorf("body %q", resp.Body)
	}
	if l := res.lookups(); len(l) != 0 {
		t.Errorf("localhost looked up via the resolver: %v", l)
	}
	if h := s.lastRequest().Host; h != "localhost:"+s.port() {
		t.Errorf("Host %q", h)
	}
}

// TestGetAllowLoopbackIsNarrow: AllowLoopback permits loopback and http
// to loopback, nothing else.
func TestGetAllowLoopbackIsNarrow(t *testing.T) {
	s := newServer(t, false, false, jsonDoc(doc))
	p := s.port()
	res := newResolver(
		"loop.example.com", []string{"127.0.0.1"},
		"private.example.com", []string{"10.0.0.1"},
		"meta.example.com", []string{"169.254.169.254"},
	)
	d := &dialRecorder{target: s.Listener.Addr().String()}
	f := newFetcher(Config{AllowLoopback: true, Resolver: res}, hooks{dial: d.dial})
	for _, tt := range []struct{ url, reason string }{
		{"http://loop.example.com:" + p + "/", "scheme must be https"}, // http only to loopback literals and localhost
		{"http://example.com:" + p + "/", "scheme must be https"},
		{"https://private.example.com:" + p + "/", "does not resolve to a permitted public address"},
		{"https://meta.example.com/", "does not resolve to a permitted public address"},
		{"http://10.0.0.1:" + p + "/", "private"},
		{"http://169.254.169.254/", "link-local"},
		{"http://[fd00::1]/", "unique-local"},
	} {
		_, err := f.Get(context.Background(), Request{URL: tt.url, MaxBytes: 1024, Accept: jsonAccept})
		fetchErr(t, err, tt.reason)
	}
	if s.hits.Load() != 0 || len(d.dialed()) != 0 {
		t.Errorf("server saw %d requests, dialled %v", s.hits.Load(), d.dialed())
	}
}

// TestGetDialsCheckedAddress: the Fetcher connects to exactly the address
// it checked, as a literal, and TLS still verifies and sends SNI for the
// URL's host name.
func TestGetDialsCheckedAddress(t *testing.T) {
	s := newServer(t, true, false, jsonDoc(doc))
	res := newResolver("client.example.com", []string{"93.184.215.14"}, "v6.example.com", []string{"2606:2800:21f:cb07:6820:80da:af6b:8b2c"}, "mapped.example.com", []string{"::ffff:93.184.215.14"})
	d := &dialRecorder{target: s.Listener.Addr().String()}
	f := newFetcher(Config{Resolver: res}, hooks{dial: d.dial, rootCAs: s.roots()})

	for _, tt := range []struct{ host, dialed string }{
		{"client.example.com", "93.184.215.14:443"},
		{"v6.example.com", "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443"},
		{"mapped.example.com", "93.184.215.14:443"}, // unmapped before dialling
	} {
		t.Run(tt.host, func(t *testing.T) {
			f.CloseIdleConnections()
			before := len(d.dialed())
			resp, err := f.Get(context.Background(), Request{URL: "https://" + tt.host + "/m", MaxBytes: 1024, Accept: jsonAccept})
			if err != nil {
				t.Fatal(err)
			}
			if string(resp.Body) != doc {
				t.Errorf("body %q", resp.Body)
			}
			if got := d.dialed()[before:]; len(got) != 1 || got[0] != tt.dialed {
				t.Errorf("dialled %v, want [%s]", got, tt.dialed)
			}
			r := s.lastRequest()
			if r.TLS == nil || r.TLS.ServerName != tt.host || r.Host != tt.host {
				t.Errorf("server saw SNI %q, Host %q; want %q", r.TLS.ServerName, r.Host, tt.host)
			}
		})
	}

	// DNS rebinding: the name now points at the metadata service. A new
	// connection resolves again, is checked again, and is refused; nothing
	// is dialled.
	f.CloseIdleConnections()
	res.set("client.example.com", "169.254.169.254")
	before := len(d.dialed())
	_, err := f.Get(context.Background(), Request{URL: "https://client.example.com/m", MaxBytes: 1024, Accept: jsonAccept})
	fe := fetchErr(t, err, "host client.example.com does not resolve to a permitted public address")
	if !strings.Contains(fe.Error(), "169.254.169.254 is link-local") {
		t.Errorf("cause does not name the address: %v", fe)
	}
	if got := d.dialed()[before:]; len(got) != 0 {
		t.Errorf("dialled %v after rebinding", got)
	}
	for _, name := range res.lookups() {
		if !strings.HasSuffix(name, ".") {
			t.Errorf("resolver asked for %q, not fully qualified", name)
		}
	}
}

// TestGetTLSName exercises the real dialer (with its Control hook) and
// real TLS verification for a name that resolves to loopback, with
// AllowLoopback.
func TestGetTLSName(t *testing.T) {
	s := newServer(t, true, false, jsonDoc(doc))
	res := newResolver("docs.example.com", []string{"127.0.0.1"})
	f := newFetcher(Config{AllowLoopback: true, Resolver: res}, hooks{rootCAs: s.roots()})
	resp, err := f.Get(context.Background(), Request{URL: "https://docs.example.com:" + s.port() + "/m", MaxBytes: 1024, Accept: jsonAccept})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != doc {
		t.Errorf("body %q", resp.Body)
	}
	if r := s.lastRequest(); r.TLS.ServerName != "docs.example.com" {
		t.Errorf("SNI %q", r.TLS.ServerName)
	}

	// The same server is not trusted for a name its certificate lacks,
	// nor with the system roots.
	res.set("other.test.org", "127.0.0.1")
	_, err = f.Get(context.Background(), Request{URL: "https://other.test.org:" + s.port() + "/m", MaxBytes: 1024, Accept: jsonAccept})
	fetchErr(t, err, "TLS certificate verification failed")
	system := New(Config{AllowLoopback: true, Resolver: res})
	_, err = system.Get(context.Background(), Request{URL: "https://docs.example.com:" + s.port() + "/m", MaxBytes: 1024, Accept: jsonAccept})
	fetchErr(t, err, "TLS certificate verification failed")
}

// TestGetHTTP2: HTTP/2 is negotiated over the guarded dialer.
func TestGetHTTP2(t *testing.T) {
	s := newServer(t, true, true, jsonDoc(doc))
	f := newFetcher(Config{AllowLoopback: true}, hooks{rootCAs: s.roots()})
	if _, err := f.Get(context.Background(), Request{URL: s.URL + "/m", MaxBytes: 1024, Accept: jsonAccept}); err != nil {
		t.Fatal(err)
	}
	if r := s.lastRequest(); r.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", r.Proto)
	}
}

// TestGetResolvedAddresses: a name is refused if any of its addresses is
// disallowed (all must pass), or if it does not resolve; the Reason is the
// same in every case and the cause names what went wrong.
func TestGetResolvedAddresses(t *testing.T) {
	res := newResolver(
		"loop.example.com", []string{"127.0.0.1"},
		"mixed.example.com", []string{"93.184.215.14", "10.0.0.1"},
		"mixed6.example.com", []string{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", "fd00::1"},
		"meta.example.com", []string{"::ffff:169.254.169.254"},
		"nat64.example.com", []string{"64:ff9b::a9fe:a9fe"},
		"sixtofour.example.com", []string{"2002:a9fe:a9fe::"},
		"zoned.example.com", []string{"fe80::1%eth0"},
		"empty.example.com", []string{},
	)
	d := &dialRecorder{}
	f := newFetcher(Config{Resolver: res}, hooks{dial: d.dial})
	for _, tt := range []struct{ host, cause string }{
		{"loop.example.com", "127.0.0.1 is loopback"},
		{"mixed.example.com", "10.0.0.1 is private"},
		{"mixed6.example.com", "fd00::1 is unique-local"},
		{"meta.example.com", "169.254.169.254 is link-local"},
		{"nat64.example.com", "embeds 169.254.169.254 via NAT64"},
		{"sixtofour.example.com", "embeds 169.254.169.254 via 6to4"},
		{"zoned.example.com", "zone"},
		{"empty.example.com", "no addresses"},
		{"nxdomain.example.com", "no such host"},
	} {
		t.Run(tt.host, func(t *testing.T) {
			_, err := f.Get(context.Background(), Request{URL: "https://" + tt.host + "/m", MaxBytes: 1024, Accept: jsonAccept})
			fe := fetchErr(t, err, "host "+tt.host+" does not resolve to a permitted public address")
			if !strings.Contains(fe.Error(), tt.cause) {
				t.Errorf("error %q does not contain %q", fe.Error(), tt.cause)
			}
			if strings.Contains(fe.Reason, "10.") || strings.Contains(fe.Reason, "169.254") {
				t.Errorf("Reason reveals the resolved address: %q", fe.Reason)
			}
		})
	}
	if got := d.dialed(); len(got) != 0 {
		t.Errorf("dialled %v", got)
	}
}

// TestGetRedirect: a 3xx is an error naming the status; nothing is
// followed.
func TestGetRedirect(t *testing.T) {
	target := newServer(t, false, false, jsonDoc(doc))
	s := newServer(t, false, false, func(w http.ResponseWriter, r *http.Request) {
		code := 302
		fmt.Sscan(r.URL.Query().Get("code"), &code)
		to := r.URL.Query().Get("to")
		w.Header().Set("Content-Type", "application/json")
		http.Redirect(w, r, to, code)
	})
	f := New(Config{AllowLoopback: true})
	for _, tt := range []struct {
		code int
		to   string
	}{
		{302, target.URL + "/m"},
		{302, "http://169.254.169.254/latest/meta-data/"},
		{301, target.URL + "/m"},
		{303, target.URL + "/m"},
		{307, "http://169.254.169.254/"},
		{308, target.URL + "/m"},
	} {
		url := fmt.Sprintf("%s/r?code=%d&to=%s", s.URL, tt.code, tt.to)
		_, err := f.Get(context.Background(), Request{URL: url, MaxBytes: 1024, Accept: jsonAccept})
		fetchErr(t, err, fmt.Sprintf("redirect (status %d) not followed", tt.code))
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("redirect target saw %d requests", n)
	}
}

func TestGetStatus(t *testing.T) {
	s := newServer(t, false, false, func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/"), &code)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, "{}")
	})
	f := New(Config{AllowLoopback: true})
	for _, code := range []int{400, 401, 403, 404, 410, 429, 500, 502, 503} {
		_, err := f.Get(context.Background(), Request{URL: fmt.Sprintf("%s/%d", s.URL, code), MaxBytes: 1024, Accept: jsonAccept})
		fe := fetchErr(t, err, fmt.Sprintf("unexpected status %d", code))
		// Only an overloaded or failing server is "unavailable": a copy
		// fetched earlier may stand in; a 4xx says the document is gone
		// or refused.
		if want := code == 429 || code >= 500; fe.Unavailable != want {
			t.Errorf("status %d: Unavailable = %v, want %v", code, fe.Unavailable, want)
		}
	}
	for _, code := range []int{200, 203} {
		resp, err := f.Get(context.Background(), Request{URL: fmt.Sprintf("%s/%d", s.URL, code), MaxBytes: 1024, Accept: jsonAccept})
		if err != nil || resp.Status != code {
			t.Errorf("status %d: %v", code, err)
		}
	}
}

func TestGetContentType(t *testing.T) {
	s := newServer(t, false, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = r.URL.Query()["ct"] // none: no Content-Type at all
		fmt.Fprint(w, "{}")
	})
	f := New(Config{AllowLoopback: true})
	jwks := []string{"application/jwk-set+json", "application/json"}
	for _, tt := range []struct {
		ct     []string
		accept []string
		reason string // "" means accepted
	}{
		{[]string{"application/json"}, jsonAccept, ""},
		{[]string{"application/json; charset=utf-8"}, jsonAccept, ""},
		{[]string{"application/json;charset=UTF-8"}, jsonAccept, ""},
		{[]string{"Application/JSON"}, jsonAccept, ""},
		{[]string{"application/jwk-set+json"}, jwks, ""},
		{[]string{"application/json"}, []string{"APPLICATION/JSON"}, ""},
		{[]string{"application/jwk-set+json"}, jsonAccept, "unexpected Content-Type application/jwk-set+json (want application/json)"},
		{[]string{"text/html"}, jwks, "unexpected Content-Type text/html (want application/jwk-set+json or application/json)"},
		{[]string{"text/plain; charset=utf-8"}, jsonAccept, "unexpected Content-Type text/plain"},
		{[]string{"application/json-seq"}, jsonAccept, "unexpected Content-Type"},
		{[]string{"application/jsonx"}, jsonAccept, "unexpected Content-Type"},
		{nil, jsonAccept, "no Content-Type"},
		{[]string{""}, jsonAccept, "malformed Content-Type"},
		{[]string{"application/json; charset"}, jsonAccept, "malformed Content-Type"},
		{[]string{`application/"json"`}, jsonAccept, "malformed Content-Type"},
		{[]string{"application/json", "application/json"}, jsonAccept, "more than one Content-Type"},
	} {
		q := make([]string, 0, len(tt.ct))
		for _, ct := range tt.ct {
			q = append(q, "ct="+strings.NewReplacer(" ", "%20", ";", "%3B", "+", "%2B", `"`, "%22").Replace(ct))
		}
		url := s.URL + "/m?" + strings.Join(q, "&")
		resp, err := f.Get(context.Background(), Request{URL: url, MaxBytes: 1024, Accept: tt.accept})
		if tt.reason == "" {
			if err != nil {
				t.Errorf("Content-Type %q, Accept %q: %v", tt.ct, tt.accept, err)
			} else if string(resp.Body) != "{}" {
				t.Errorf("body %q", resp.Body)
			}
			continue
		}
		fetchErr(t, err, tt.reason)
	}
}

func TestGetContentEncoding(t *testing.T) {
	s := newServer(t, false, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		fmt.Fprint(w, "\x1f\x8b")
	})
	f := New(Config{AllowLoopback: true})
	_, err := f.Get(context.Background(), Request{URL: s.URL, MaxBytes: 1024, Accept: jsonAccept})
	fetchErr(t, err, "Content-Encoding")
	if ae := s.lastRequest().Header.Get("Accept-Encoding"); ae != "" {
		t.Errorf("Accept-Encoding %q sent", ae)
	}
}

func TestGetSize(t *testing.T) {
	s := newServer(t, false, false, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("chunked") != "" {
			w.(http.Flusher).Flush() // no Content-Length
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		w.Write([]byte(strings.Repeat("x", n)))
	})
	f := New(Config{AllowLoopback: true})
	for _, tt := range []struct {
		n       int
		chunked bool
		ok      bool
	}{
		{100, false, true},
		{100, true, true},
		{0, false, true},
		{101, false, false},
		{101, true, false},
		{1 << 20, false, false},
		{1 << 20, true, false},
	} {
		url := fmt.Sprintf("%s/m?n=%d", s.URL, tt.n)
		if tt.chunked {
			url += "&chunked=1"
		}
		resp, err := f.Get(context.Background(), Request{URL: url, MaxBytes: 100, Accept: jsonAccept})
		if tt.ok {
			if err != nil || len(resp.Body) != tt.n {
				t.Errorf("%d bytes (chunked %v): %v", tt.n, tt.chunked, err)
			}
			continue
		}
		fetchErr(t, err, "response is larger than 100 bytes")
	}
}

// TestGetSlowBody: a body that trickles in is cut off by Timeout.
func TestGetSlowBody(t *testing.T) {
	s := newServer(t, false, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.(http.Flusher).Flush()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 100 {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
			}
		}
	})
	f := New(Config{AllowLoopback: true, Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := f.Get(context.Background(), Request{URL: s.URL, MaxBytes: 1024, Accept: jsonAccept})
	fe := fetchErr(t, err, "request timed out after 300ms")
	if !fe.Unavailable {
		t.Error("a timed-out request is not Unavailable")
	}
	if !errors.Is(fe, context.DeadlineExceeded) {
		t.Errorf("cause %v is not DeadlineExceeded", fe.Err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestGetSlowHeaders: a server that never answers is cut off by Timeout.
func TestGetSlowHeaders(t *testing.T) {
	s := newServer(t, false, false, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	f := New(Config{AllowLoopback: true, Timeout: 200 * time.Millisecond})
	_, err := f.Get(context.Background(), Request{URL: s.URL, MaxBytes: 1024, Accept: jsonAccept})
	fetchErr(t, err, "request timed out")
}

// TestGetConnectTimeout: ConnectTimeout bounds the connect, separately
// from (and shorter than) Timeout.
func TestGetConnectTimeout(t *testing.T) {
	res := newResolver("slow.example.com", []string{"93.184.215.14", "93.184.215.15"})
	var mu sync.Mutex
	var dialed []string
	hang := func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, address)
		mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f := newFetcher(Config{Resolver: res, ConnectTimeout: 200 * time.Millisecond, Timeout: 5 * time.Second}, hooks{dial: hang})
	start := time.Now()
	_, err := f.Get(context.Background(), Request{URL: "https://slow.example.com/", MaxBytes: 1024, Accept: jsonAccept})
	if fe := fetchErr(t, err, "connection timed out after 200ms"); !fe.Unavailable {
		t.Error("a connect time-out is not Unavailable")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) != 2 || dialed[0] != "93.184.215.14:443" || dialed[1] != "93.184.215.15:443" {
		t.Errorf("dialled %v, want both addresses in order", dialed)
	}
}

// TestGetConnectFailure: a refused connection is "could not connect".
func TestGetConnectFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := New(Config{AllowLoopback: true})
	_, err = f.Get(context.Background(), Request{URL: "http://" + addr + "/", MaxBytes: 1024, Accept: jsonAccept})
	if fe := fetchErr(t, err, "could not connect"); !fe.Unavailable {
		t.Error("a refused connection is not Unavailable")
	}
}

func TestGetCanceled(t *testing.T) {
	s := newServer(t, false, false, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	f := New(Config{AllowLoopback: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.Get(ctx, Request{URL: s.URL, MaxBytes: 1024, Accept: jsonAccept})
	if fe := fetchErr(t, err, "request canceled"); fe.Unavailable {
		t.Error("the caller's own cancellation is Unavailable")
	}
}

// TestGetBadRequest: programming errors are plain errors, not *Error.
func TestGetBadRequest(t *testing.T) {
	f := New(Config{AllowLoopback: true})
	for _, req := range []Request{
		{URL: "http://127.0.0.1/", MaxBytes: 0, Accept: jsonAccept},
		{URL: "http://127.0.0.1/", MaxBytes: -1, Accept: jsonAccept},
		{URL: "http://127.0.0.1/", MaxBytes: 1},
		{URL: "http://127.0.0.1/", MaxBytes: 1, Accept: []string{"application/*"}},
		{URL: "http://127.0.0.1/", MaxBytes: 1, Accept: []string{"json"}},
		{URL: "http://127.0.0.1/", MaxBytes: 1, Accept: []string{"application/json; charset=utf-8"}},
	} {
		_, err := f.Get(context.Background(), req)
		var fe *Error
		if err == nil || errors.As(err, &fe) {
			t.Errorf("%+v: %v", req, err)
		}
	}
	var zero Fetcher
	if _, err := zero.Get(context.Background(), Request{URL: "https://example.com/", MaxBytes: 1, Accept: jsonAccept}); err == nil {
		t.Error("zero Fetcher fetched")
	}
}

// TestTransportHardening pins the transport settings the guard relies on.
func TestTransportHardening(t *testing.T) {
	strict := New(Config{})
	if strict.plain != nil {
		t.Error("plain-http transport exists without AllowLoopback")
	}
	dev := New(Config{AllowLoopback: true, ConnectTimeout: time.Second})
	for _, tr := range []*http.Transport{strict.https, dev.https, dev.plain} {
		if tr.Proxy != nil || !tr.DisableCompression || tr.DialContext == nil || tr.DialTLSContext != nil ||
			tr.MaxIdleConnsPerHost <= 0 || tr.MaxIdleConns <= 0 || tr.IdleConnTimeout <= 0 || tr.MaxResponseHeaderBytes <= 0 {
			t.Errorf("transport %+v", tr)
		}
	}
	if dev.https.TLSHandshakeTimeout != time.Second || strict.cfg.Timeout != DefaultTimeout || strict.cfg.UserAgent != "mcpauthz" {
		t.Error("defaults not applied")
	}
}

// TestControl: the dialer's Control hook refuses what the policy refuses,
// at the socket level.
func TestControl(t *testing.T) {
	strict := New(Config{}).control(false)
	devTLS := New(Config{AllowLoopback: true}).control(false)
	devPlain := New(Config{AllowLoopback: true}).control(true)
	for _, tt := range []struct {
		addr                     string
		strict, devTLS, devPlain bool
	}{
		{"93.184.215.14:443", true, true, false},
		{"[2606:4700:4700::1111]:443", true, true, false},
		{"127.0.0.1:8080", false, true, true},
		{"[::1]:8080", false, true, true},
		{"10.0.0.1:443", false, false, false},
		{"169.254.169.254:80", false, false, false},
		{"[::ffff:169.254.169.254]:80", false, false, false},
		{"[fe80::1%eth0]:80", false, false, false},
		{"garbage", false, false, false},
	} {
		for _, c := range []struct {
			fn   func(string, string, syscall.RawConn) error
			want bool
		}{{strict, tt.strict}, {devTLS, tt.devTLS}, {devPlain, tt.devPlain}} {
			if err := c.fn("tcp", tt.addr, nil); (err == nil) != c.want {
				t.Errorf("Control(%s) = %v, want allowed %v", tt.addr, err, c.want)
			}
		}
	}
}

// TestGetConcurrent exercises one Fetcher from many goroutines (run with
// -race).
func TestGetConcurrent(t *testing.T) {
	s := newServer(t, true, true, jsonDoc(doc))
	res := newResolver("a.example.com", []string{"93.184.215.14"}, "b.example.com", []string{"10.0.0.1"})
	d := &dialRecorder{target: s.Listener.Addr().String()}
	f := newFetcher(Config{Resolver: res}, hooks{dial: d.dial, rootCAs: s.roots()})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 5 {
				host := "a.example.com"
				if i%4 == 0 {
					host = "b.example.com"
				}
				_, err := f.Get(context.Background(), Request{URL: "https://" + host + "/m", MaxBytes: 1024, Accept: jsonAccept})
				if (err == nil) != (host == "a.example.com") {
					t.Errorf("%s: %v", host, err)
				}
			}
		})
	}
	wg.Wait()
	for _, a := range d.dialed() {
		if a != "93.184.215.14:443" {
			t.Errorf("dialled %s", a)
		}
	}
}
