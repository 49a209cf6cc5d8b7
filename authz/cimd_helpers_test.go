package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// docServer serves Client ID Metadata Documents and JWK Sets on 127.0.0.1,
// as a client's web site would, and counts the requests per path.
type docServer struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string]docResponse
	hits map[string]int
}

// docResponse is what docServer answers for one path.
type docResponse struct {
	Status      int // 200 when 0
	ContentType string
	Header      http.Header
	Body        []byte
}

func newDocServer(t testing.TB) *docServer {
	d := &docServer{docs: map[string]docResponse{}, hits: map[string]int{}}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		resp, ok := d.docs[r.URL.Path]
		d.hits[r.URL.Path]++
		d.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		if resp.ContentType != "" {
			w.Header().Set("Content-Type", resp.ContentType)
		}
		status := resp.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		w.Write(resp.Body)
	}))
	t.Cleanup(d.Close)
	return d
}

// set serves resp at path and returns its URL.
func (d *docServer) set(path string, resp docResponse) string {
	if resp.ContentType == "" && resp.Status == 0 {
		resp.ContentType = "application/json"
	}
	d.mu.Lock()
	d.docs[path] = resp
	d.mu.Unlock()
	return d.URL + path
}

// json serves v as JSON at path and returns its URL.
func (d *docServer) json(path string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return d.set(path, docResponse{Body: b})
}

// count returns how many requests path got.
func (d *docServer) count(path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hits[path]
}

// fixture reads testdata/cimd/name, sets its client_id to the URL it is
// served at (unless keepID) and serves it at path.
func (d *docServer) fixture(t testing.TB, name, path string, keepID bool) string {
	t.Helper()
	doc := readFixture(t, name)
	if !keepID {
		doc["client_id"] = d.URL + path
	}
	return d.json(path, doc)
}

func readFixture(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cimd", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// clientKey is a private_key_jwt client's signing key.
type clientKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func newClientKey(t testing.TB, alg jose.SignatureAlgorithm, kid string) *clientKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no test key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &clientKey{alg: alg, kid: kid, priv: priv}
}

// jwk is the public JWK of k.
func (k *clientKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// jwks returns the public JWK Set of keys as a JSON value.
func jwks(keys ...*clientKey) map[string]any {
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	b, _ := json.Marshal(set)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// assertion is an RFC 7523 client assertion; zero fields take defaults
// (iss and sub the client, aud the token endpoint, iat now, exp in a
// minute, a random jti).
type assertion struct {
	Iss, Sub, JTI string
	Aud           any
	IAT, Exp      time.Time
	NoExp         bool
}

// sign signs a for clientID with k at the token endpoint of issuer.
func (k *clientKey) sign(t testing.TB, issuer, clientID string, a assertion, now time.Time) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{
		"iss": clientID, "sub": clientID, "aud": issuer + "/token", "jti": rand.Text(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	if a.Iss != "" {
		claims["iss"] = a.Iss
	}
	if a.Sub != "" {
		claims["sub"] = a.Sub
	}
	if a.Aud != nil {
		claims["aud"] = a.Aud
	}
	if a.JTI != "" {
		claims["jti"] = a.JTI
	}
	if !a.IAT.IsZero() {
		claims["iat"] = a.IAT.Unix()
	}
	if !a.Exp.IsZero() {
		claims["exp"] = a.Exp.Unix()
	}
	if a.NoExp {
		delete(claims, "exp")
	}
	tok, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withAssertion adds client_assertion_type and client_assertion to form.
func withAssertion(form url.Values, tok string) url.Values {
	out := cloneValues(form)
	out.Set("client_assertion_type", clientAssertionType)
	out.Set("client_assertion", tok)
	return out
}
