package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a strings.Builder safe for a server goroutine and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveOnce runs `mcpauthz serve` in-process until the returned stop is
// called, and returns its exit code through the channel.
func serveOnce(t *testing.T, db string, stderr *syncBuffer) (base string, stop func() int) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--db", db, "--addr", addr, "--issuer", "http://" + addr}, strings.NewReader(""), &strings.Builder{}, stderr, envOf(nil))
	}()
	base = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return base, func() int { cancel(); return <-done }
}

var adminPasswordRE = regexp.MustCompile(`created the user "admin" with the password\s+(\S+)`)

func TestFirstStartCreatesAdminAndShutsDownCleanly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "first.db")
	var stderr syncBuffer
	base, stop := serveOnce(t, db, &stderr)
	m := adminPasswordRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no admin password printed: %s", stderr.String())
	}
	// The printed password works on the sign-in page.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/login", url.Values{"username": {"admin"}, "password": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login with the printed admin password: %d", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d after cancel: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Error("no shutdown message")
	}

	// A second start keeps the user and prints no password.
	var again syncBuffer
	_, stop = serveOnce(t, db, &again)
	if strings.Contains(again.String(), "password") {
		t.Errorf("second start printed a password: %s", again.String())
	}
	if code := stop(); code != 0 {
		t.Fatalf("second serve exited %d", code)
	}
}

// TestTrustedProxiesReachTheServer: behind a trusted proxy, the limits
// count the client address from X-Forwarded-For, so that one client's
// registrations (or failed sign-ins) do not lock out everyone else.
func TestTrustedProxiesReachTheServer(t *testing.T) {
	s := startServer(t, func(fc *FileConfig) {
		fc.TrustedProxies = []string{"127.0.0.1"}
		fc.Registration.MaxPerMinute = 2
	})
	register := func(from string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/register", strings.NewReader(`{"client_name":"x","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var got []int
	for _, from := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.3", "203.0.113.3"} {
		got = append(got, register(from))
	}
	want := []int{201, 201, 201, 201, 429}
	if !slices.Equal(got, want) {
		t.Errorf("registrations from three clients behind the proxy: %v, want %v", got, want)
	}
}

// TestServeOnABusyPortCreatesNothing: a port in use stops `serve` before
// it creates the database, a first user (whose password would be shown for
// a server that never ran) or a development key.
func TestServeOnABusyPortCreatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	var stderr strings.Builder
	code := run(t.Context(), []string{"serve", "--addr", ln.Addr().String(), "--issuer", "http://" + ln.Addr().String(),
		"--db", filepath.Join(dir, "m.db")}, strings.NewReader(""), &strings.Builder{}, &stderr, envOf(nil))
	if code != 1 || !strings.Contains(stderr.String(), "addr:") {
		t.Fatalf("exit %d, stderr %q; want 1 and the listen error", code, stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 || strings.Contains(stderr.String(), "First start") {
		t.Errorf("a start that never served created %v, stderr %q", entries, stderr.String())
	}
}
