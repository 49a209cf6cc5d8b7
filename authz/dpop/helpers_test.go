package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testNow is the fixed clock of every test.
var testNow = time.Unix(1_800_000_000, 0)

const (
	testMethod = "POST"
	testURL    = "https://as.example.com/token"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testKey is a signing key with the alg it is used with.
type testKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k testKey) publicJWK() jose.JSONWebKey { return jose.JSONWebKey{Key: k.priv.Public()} }

func (k testKey) jkt(t testing.TB) string {
	t.Helper()
	j := k.publicJWK()
	tp, err := Thumbprint(&j)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

var (
	keysOnce sync.Once
	keyES256 testKey
	keyEdDSA testKey
	keyRS256 testKey
	keyPS256 testKey
	keyES384 testKey
	keyRSA1k testKey
)

// keys generates the test keys once (RSA generation is slow).
func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			panic(err)
		}
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		rs, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rs1k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			panic(err)
		}
		keyES256 = testKey{jose.ES256, ec}
		keyES384 = testKey{jose.ES384, ec384}
		keyEdDSA = testKey{jose.EdDSA, ed}
		keyRS256 = testKey{jose.RS256, rs}
		keyPS256 = testKey{jose.PS256, rs}
		keyRSA1k = testKey{jose.RS256, rs1k}
	})
}

var jtiCounter struct {
	sync.Mutex
	n int
}

func newJTI() string {
	jtiCounter.Lock()
	defer jtiCounter.Unlock()
	jtiCounter.n++
	return fmt.Sprintf("jti-%d-%d", time.Now().UnixNano(), jtiCounter.n)
}

// goodClaims returns valid claims for testMethod and testURL at testNow.
func goodClaims() map[string]any {
	return map[string]any{
		"jti": newJTI(),
		"htm": testMethod,
		"htu": testURL,
		"iat": testNow.Unix(),
	}
}

// joseProof signs claims with a go-jose v4 signer that embeds the public
// JWK and sets typ, as a real client does.
func joseProof(t testing.TB, k testKey, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(ProofType)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// header returns the usual proof header for k as a map to tamper with.
func header(t testing.TB, k testKey) map[string]any {
	t.Helper()
	j := k.publicJWK()
	b, err := j.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"typ": ProofType, "alg": string(k.alg), "jwk": m}
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// craftProof assembles a compact JWS by hand from hdr and claims (maps or
// raw JSON bytes) and signs it with signer under alg; no signature part if
// signer is nil.
func craftProof(t testing.TB, hdr, claims any, alg jose.SignatureAlgorithm, signer any) string {
	t.Helper()
	input := b64json(t, hdr) + "." + b64json(t, claims)
	if signer == nil {
		return input + "."
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(rawSign(t, alg, signer, []byte(input)))
}

// rawSign is JWS signing done by hand (RFC 7518 §3).
func rawSign(t testing.TB, alg jose.SignatureAlgorithm, key any, input []byte) []byte {
	t.Helper()
	h := sha256.Sum256(input)
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input)
	case *rsa.PrivateKey:
		var sig []byte
		var err error
		if alg == jose.PS256 {
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		}
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case []byte: // HMAC secret
		m := hmac.New(sha256.New, k)
		m.Write(input)
		return m.Sum(nil)
	}
	t.Fatalf("rawSign: unsupported key %T", key)
	return nil
}

// memStore is an in-memory ReplayStore.
type memStore struct {
	mu   sync.Mutex
	m    map[string]time.Time
	now  func() time.Time
	keys []string
}

var errTestReplay = errors.New("test: already used")

func newMemStore() *memStore {
	return &memStore{m: map[string]time.Time{}, now: func() time.Time { return testNow }}
}

func (s *memStore) UseNonce(_ context.Context, key string, exp time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && !e.Before(s.now()) {
		return fmt.Errorf("use nonce: %w", errTestReplay)
	}
	s.m[key] = exp
	s.keys = append(s.keys, key)
	return nil
}

func isTestReplay(err error) bool { return errors.Is(err, errTestReplay) }

// failStore fails every call with a non-replay error.
type failStore struct{ err error }

func (f failStore) UseNonce(context.Context, string, time.Time) error { return f.err }

// testConfig is a Config on the fixed clock with a fresh memStore.
func testConfig() Config {
	return Config{
		Replay:          newMemStore(),
		IsReplay:        isTestReplay,
		Now:             func() time.Time { return testNow },
		ReplayKeyPrefix: "dpop:test:",
	}
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// descRE is RFC 6749 §5.2's error_description character set.
var descRE = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]+$`)

// checkProtocolError fails unless err is an *Error with a valid code and a
// description in the allowed character set.
func checkProtocolError(t testing.TB, err error) *Error {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T %v is not a *dpop.Error", err, err)
	}
	if e.Code != CodeInvalidProof && e.Code != CodeUseNonce {
		t.Fatalf("error code %q", e.Code)
	}
	if !descRE.MatchString(e.Description) || len(e.Description) > 400 {
		t.Fatalf("description %q is empty, too long or has characters outside RFC 6749 §5.2's set", e.Description)
	}
	return e
}
