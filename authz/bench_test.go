package authz

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

// Benchmarks of the token endpoint and introspection, served in-process
// (ServeHTTP, no sockets) on a real SQLite file, next to the bare cost of
// the signatures each needs, measured in the same run:
//   - client_credentials without DPoP: one ES256 sign (the JWT);
//   - with DPoP: one ES256 verify (the proof) and one sign;
//   - introspection: one ES256 verify (the JWT).
// BENCHMARKS.md reports the figures and the ratios.

func benchServer(b *testing.B) (*Server, string, string) {
	b.Helper()
	st, err := store.Open(b.Context(), store.Config{DSN: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	master := make([]byte, 32)
	rand.Read(master)
	secrets, _ := DeriveSecrets(master)
	s, err := New(Config{Issuer: "http://127.0.0.1:8080", Secrets: secrets, Argon2: testArgon2}, st)
	if err != nil {
		b.Fatal(err)
	}
	id, secret := randomToken(12), randomToken(32)
	if err := st.CreateClient(b.Context(), &store.Client{ID: id, Name: "svc", SecretHash: s.hasher.Sum([]byte(secret)), GrantTypes: []string{"client_credentials"}, Scopes: []string{"docs:read"}, TokenEndpointAuthMethod: "client_secret_basic", Introspect: true}); err != nil {
		b.Fatal(err)
	}
	return s, id, secret
}

func serveForm(s *Server, path, body, user, pass, proof string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

func BenchmarkTokenClientCredentials(b *testing.B) {
	s, id, secret := benchServer(b)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	b.ResetTimer()
	for b.Loop() {
		if w := serveForm(s, "/token", body, id, secret, ""); w.Code != http.StatusOK {
			b.Fatal(w.Body.String())
		}
	}
}

func BenchmarkTokenClientCredentialsDPoP(b *testing.B) {
	s, id, secret := benchServer(b)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	key := newDPoPKeyB(b)
	// Proofs are made by the client: all of them before the timer starts
	// (as in mcpres), and their garbage collected, so that neither the
	// signing nor its garbage is billed to the server.
	t := &testing.T{}
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = key.proof(t, "POST", "http://127.0.0.1:8080/token", s.now(), nil)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := serveForm(s, "/token", body, id, secret, proofs[i]); w.Code != http.StatusOK {
			b.Fatal(w.Body.String())
		}
	}
}

func BenchmarkIntrospection(b *testing.B) {
	s, id, secret := benchServer(b)
	w := serveForm(s, "/token", url.Values{"grant_type": {"client_credentials"}}.Encode(), id, secret, "")
	tok := w.Body.String()
	tok = tok[strings.Index(tok, `"access_token":"`)+16:]
	tok = tok[:strings.IndexByte(tok, '"')]
	body := url.Values{"token": {tok}}.Encode()
	b.ResetTimer()
	for b.Loop() {
		w := serveForm(s, "/introspect", body, id, secret, "")
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"active":true`) {
			b.Fatal(w.Body.String())
		}
	}
}

// BenchmarkES256Sign is the bare cost of one ES256 signature.
func BenchmarkES256Sign(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("header.payload of about two hundred bytes, like an access token"))
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkES256Verify is the bare cost of one ES256 verification.
func BenchmarkES256Verify(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("header.payload of about two hundred bytes, like an access token"))
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	for b.Loop() {
		if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
			b.Fatal("verify")
		}
	}
}

func newDPoPKeyB(b *testing.B) *dpopKey {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &dpopKey{priv: priv}
}

// BenchmarkTokenDurableWrites is the floor the store puts under a DPoP-bound
// token: the two writes every such token needs, made directly on the store
// with a row copied from a token the endpoint issued — the proof's jti
// (single-use across instances) and the access token's row (revocation and
// introspection read it). No HTTP, no fosite, no signatures.
func BenchmarkTokenDurableWrites(b *testing.B) {
	s, id, secret := benchServer(b)
	ctx := b.Context()
	w := serveForm(s, "/token", url.Values{"grant_type": {"client_credentials"}}.Encode(), id, secret, "")
	tok := w.Body.String()
	tok = tok[strings.Index(tok, `"access_token":"`)+16:]
	tok = tok[:strings.IndexByte(tok, '"')]
	row, err := s.store.GetRequest(ctx, store.KindAccess, s.jwt.signature(tok))
	if err != nil {
		b.Fatal(err)
	}
	exp := s.now().Add(5 * time.Minute)
	i := 0
	for b.Loop() {
		i++
		n := strconv.Itoa(i)
		if err := s.store.UseNonce(ctx, "dpop:jti-"+n, exp); err != nil {
			b.Fatal(err)
		}
		r := *row
		r.Signature, r.RequestID = row.Signature[:20]+n, row.RequestID[:20]+n
		if err := s.store.CreateRequest(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenLoopbackParallel is a loopback load: client_credentials
// token requests over real HTTP (keep-alive connections) from
// GOMAXPROCS×4 goroutines at once, so writers meet in the database. Its
// ns/op is the wall time per token at full load: 1e9 / ns/op tokens a
// second for one instance on this machine.
func BenchmarkTokenLoopbackParallel(b *testing.B) {
	s, id, secret := benchServer(b)
	ts := httptest.NewServer(s)
	b.Cleanup(ts.Close)
	// One kept-alive connection per client goroutine (the default keeps
	// two per host and would open and close the others for every request).
	client := ts.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
