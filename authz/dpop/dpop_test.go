package dpop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func one(s string) []string { return []string{s} }

// nonceAt returns the nonce a source on testSecret issues at t.
func nonceAt(t time.Time) string {
	return NewNonceSource(testSecret, time.Minute, func() time.Time { return t }).Nonce()
}

func withNonces(require bool) func(*Config) {
	return func(c *Config) {
		c.Nonces = NewNonceSource(testSecret, time.Minute, func() time.Time { return testNow })
		c.RequireNonce = require
	}
}

func TestVerify(t *testing.T) {
	keys(t)
	const token = "access-token-value"
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// claims returns goodClaims with changes; a nil value deletes.
	claims := func(kv ...any) map[string]any {
		c := goodClaims()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	es := func(kv ...any) func(t *testing.T) []string {
		return func(t *testing.T) []string { return one(joseProof(t, keyES256, claims(kv...))) }
	}
	// hdr crafts an ES256 proof whose header is the usual one changed by f.
	hdr := func(f func(h map[string]any)) func(t *testing.T) []string {
		return func(t *testing.T) []string {
			h := header(t, keyES256)
			f(h)
			return one(craftProof(t, h, goodClaims(), jose.ES256, keyES256.priv))
		}
	}
	raw := func(s string) func(t *testing.T) []string { return func(*testing.T) []string { return one(s) } }

	tests := []struct {
		name  string
		cfg   func(*Config)
		proof func(t *testing.T) []string
		check func(*Check)
		want  string // "" for success, else the error code
		desc  string // substring of the description
	}{
		// Good proofs, one per default algorithm, signed by go-jose.
		{name: "ES256", proof: es()},
		{name: "EdDSA", proof: func(t *testing.T) []string { return one(joseProof(t, keyEdDSA, goodClaims())) }},
		{name: "RS256", proof: func(t *testing.T) []string { return one(joseProof(t, keyRS256, goodClaims())) }},
		{name: "PS256", proof: func(t *testing.T) []string { return one(joseProof(t, keyPS256, goodClaims())) }},
		{name: "ES256 crafted by hand", proof: hdr(func(map[string]any) {})},
		{name: "ES384 when configured", cfg: func(c *Config) { c.Algorithms = []jose.SignatureAlgorithm{jose.ES384} },
			proof: func(t *testing.T) []string { return one(joseProof(t, keyES384, goodClaims())) }},
		{name: "typ application/dpop+jwt", proof: hdr(func(h map[string]any) { h["typ"] = "application/DPoP+JWT" })},
		{name: "fractional iat", proof: es("iat", float64(testNow.Unix())-0.5)},
		{name: "surrounding whitespace", proof: func(t *testing.T) []string {
			return one(" \t" + joseProof(t, keyES256, goodClaims()) + " ")
		}},

		// Header.
		{name: "typ JWT", proof: hdr(func(h map[string]any) { h["typ"] = "JWT" }), want: CodeInvalidProof, desc: "typ"},
		{name: "typ missing", proof: hdr(func(h map[string]any) { delete(h, "typ") }), want: CodeInvalidProof, desc: "typ"},
		{name: "typ not a string", proof: hdr(func(h map[string]any) { h["typ"] = 1 }), want: CodeInvalidProof, desc: "typ"},
		{name: "alg none", proof: func(t *testing.T) []string {
			h := header(t, keyES256)
			h["alg"] = "none"
			return one(craftProof(t, h, goodClaims(), "", nil))
		}, want: CodeInvalidProof, desc: "alg none"},
		{name: "alg none with a signature", proof: hdr(func(h map[string]any) { h["alg"] = "none" }), want: CodeInvalidProof, desc: "alg none"},
		{name: "alg missing", proof: hdr(func(h map[string]any) { delete(h, "alg") }), want: CodeInvalidProof, desc: "no alg"},
		{name: "HS256 with oct jwk", proof: func(t *testing.T) []string {
			secret := []byte("a shared secret of thirty-two by")
			h := map[string]any{"typ": ProofType, "alg": "HS256",
				"jwk": map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(secret)}}
			return one(craftProof(t, h, goodClaims(), jose.HS256, secret))
		}, want: CodeInvalidProof, desc: "symmetric algorithm"},
		{name: "ES256 with oct jwk without k", proof: hdr(func(h map[string]any) {
			h["jwk"] = map[string]any{"kty": "oct"}
		}), want: CodeInvalidProof, desc: "symmetric (oct)"},
		{name: "ES256 with oct jwk with k", proof: hdr(func(h map[string]any) {
			h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"}
		}), want: CodeInvalidProof, desc: "private member k"},
		{name: "alg not in allowlist", proof: func(t *testing.T) []string { return one(joseProof(t, keyES384, goodClaims())) },
			want: CodeInvalidProof, desc: "'ES384' is not supported; use one of: ES256 EdDSA PS256 RS256"},
		{name: "jwk with private d", proof: func(t *testing.T) []string {
			// Header JSON by hand: the public JWK plus the private scalar.
			raw, err := keyES256.priv.(*ecdsa.PrivateKey).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			d := base64.RawURLEncoding.EncodeToString(raw)
			h := header(t, keyES256)
			h["jwk"].(map[string]any)["d"] = d
			return one(craftProof(t, h, goodClaims(), jose.ES256, keyES256.priv))
		}, want: CodeInvalidProof, desc: "private member d"},
		{name: "jwk missing", proof: hdr(func(h map[string]any) { delete(h, "jwk") }), want: CodeInvalidProof, desc: "no jwk"},
		{name: "jwk null", proof: hdr(func(h map[string]any) { h["jwk"] = nil }), want: CodeInvalidProof, desc: "no jwk"},
		{name: "jwk not an object", proof: hdr(func(h map[string]any) { h["jwk"] = "key" }), want: CodeInvalidProof, desc: "jwk header is not a JSON object"},
		{name: "jwk without kty", proof: hdr(func(h map[string]any) { delete(h["jwk"].(map[string]any), "kty") }), want: CodeInvalidProof, desc: "no kty"},
		{name: "jwk EC with alg RS256", proof: func(t *testing.T) []string {
			h := header(t, keyES256)
			h["alg"] = "RS256"
			return one(craftProof(t, h, goodClaims(), jose.RS256, keyRS256.priv))
		}, want: CodeInvalidProof, desc: "kty 'EC' does not fit alg RS256"},
		{name: "jwk RSA with alg EdDSA", proof: func(t *testing.T) []string {
			h := header(t, keyRS256)
			h["alg"] = "EdDSA"
			return one(craftProof(t, h, goodClaims(), jose.EdDSA, keyEdDSA.priv))
		}, want: CodeInvalidProof, desc: "kty 'RSA' does not fit alg EdDSA"},
		{name: "P-384 jwk with alg ES256",
			cfg: func(c *Config) { c.Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384} },
			proof: func(t *testing.T) []string {
				h := header(t, keyES384)
				h["alg"] = "ES256"
				return one(craftProof(t, h, goodClaims(), jose.ES256, keyES256.priv))
			}, want: CodeInvalidProof, desc: "curve does not fit alg ES256"},
		{name: "RSA 1024-bit key", proof: func(t *testing.T) []string {
			return one(craftProof(t, header(t, keyRSA1k), goodClaims(), jose.RS256, keyRSA1k.priv))
		}, want: CodeInvalidProof, desc: "1024 bits"},
		{name: "invalid EC point", proof: hdr(func(h map[string]any) {
			h["jwk"].(map[string]any)["x"] = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
		}), want: CodeInvalidProof, desc: "cannot be parsed"},
		{name: "crit header", proof: hdr(func(h map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = false }),
			want: CodeInvalidProof, desc: "crit"},
		{name: "b64 false", proof: hdr(func(h map[string]any) { h["b64"] = false }), want: CodeInvalidProof, desc: "b64"},

		// Signature.
		{name: "signed by another key", proof: func(t *testing.T) []string {
			return one(craftProof(t, header(t, keyES256), goodClaims(), jose.ES256, other))
		}, want: CodeInvalidProof, desc: "signature is invalid"},
		{name: "claims changed after signing", proof: func(t *testing.T) []string {
			p := strings.Split(joseProof(t, keyES256, goodClaims()), ".")
			c := goodClaims()
			c["htm"] = "GET"
			return one(p[0] + "." + b64json(t, c) + "." + p[2])
		}, check: func(c *Check) { c.Method = "GET" }, want: CodeInvalidProof, desc: "signature is invalid"},
		{name: "signature missing", proof: func(t *testing.T) []string {
			return one(craftProof(t, header(t, keyES256), goodClaims(), jose.ES256, nil))
		}, want: CodeInvalidProof, desc: "signature is invalid"},

		// Claims.
		{name: "claims not an object", proof: func(t *testing.T) []string {
			return one(craftProof(t, header(t, keyES256), []byte(`["jti"]`), jose.ES256, keyES256.priv))
		}, want: CodeInvalidProof, desc: "claims are not a JSON object"},
		{name: "jti missing", proof: es("jti", nil), want: CodeInvalidProof, desc: "no jti"},
		{name: "jti empty", proof: es("jti", ""), want: CodeInvalidProof, desc: "no jti"},
		{name: "jti number", proof: es("jti", 7), want: CodeInvalidProof, desc: "no jti"},
		{name: "jti 256 characters", proof: es("jti", strings.Repeat("é", 256))},
		{name: "jti 257 characters", proof: es("jti", strings.Repeat("j", 257)), want: CodeInvalidProof, desc: "longer than 256"},
		{name: "JTI in upper case is not jti", proof: es("jti", nil, "JTI", "x"), want: CodeInvalidProof, desc: "no jti"},
		{name: "htm missing", proof: es("htm", nil), want: CodeInvalidProof, desc: "no htm"},
		{name: "htm mismatch", proof: es("htm", "GET"), want: CodeInvalidProof,
			desc: "htm 'GET' does not match the request method 'POST'"},
		{name: "htm lower case", proof: es("htm", "post"), want: CodeInvalidProof, desc: "htm"},
		{name: "htm echo is sanitised", proof: es("htm", "GE\"T\\\n"+strings.Repeat("x", 200)), want: CodeInvalidProof,
			desc: "htm 'GE?T??xxx"},
		{name: "htu missing", proof: es("htu", nil), want: CodeInvalidProof, desc: "no htu"},
		{name: "htu relative", proof: es("htu", "/token"), want: CodeInvalidProof, desc: "not an absolute http(s) URL"},
		{name: "htu other scheme", proof: es("htu", "ftp://as.example.com/token"), want: CodeInvalidProof, desc: "not an absolute"},
		{name: "htu different path", proof: es("htu", "https://as.example.com/other"), want: CodeInvalidProof,
			desc: "htu 'https://as.example.com/other' does not match the request URL 'https://as.example.com/token'"},
		{name: "htu trailing slash", proof: es("htu", "https://as.example.com/token/"), want: CodeInvalidProof, desc: "does not match"},
		{name: "htu http for https", proof: es("htu", "http://as.example.com/token"), want: CodeInvalidProof, desc: "does not match"},
		{name: "htu other host", proof: es("htu", "https://evil.example.com/token"), want: CodeInvalidProof, desc: "does not match"},
		{name: "htu other port", proof: es("htu", "https://as.example.com:8443/token"), want: CodeInvalidProof, desc: "does not match"},
		{name: "htu without query, request with query", proof: es(),
			check: func(c *Check) { c.URL = testURL + "?a=1&b=2" }},
		{name: "htu with query and fragment", proof: es("htu", testURL+"?x=y#frag")},
		{name: "htu scheme, host case and default port", proof: es("htu", "HTTPS://AS.Example.COM:443/token")},
		{name: "request URL with default port", proof: es(), check: func(c *Check) { c.URL = "https://as.example.com:443/token" }},
		{name: "htu percent-encoded unreserved", proof: es("htu", "https://as.example.com/%74oken")},
		{name: "htu dot segments", proof: es("htu", "https://as.example.com/a/../token")},
		{name: "path case matters", proof: es("htu", "https://as.example.com/Token"), want: CodeInvalidProof, desc: "does not match"},
		{name: "request URL unparsable", proof: es(), check: func(c *Check) { c.URL = "https://bad host/token" },
			want: CodeInvalidProof, desc: "request URL cannot be normalised"},
		{name: "iat missing", proof: es("iat", nil), want: CodeInvalidProof, desc: "no valid iat"},
		{name: "iat string", proof: es("iat", "1800000000"), want: CodeInvalidProof, desc: "no valid iat"},
		{name: "iat negative", proof: es("iat", -1), want: CodeInvalidProof, desc: "no valid iat"},
		{name: "iat huge", proof: es("iat", 1e300), want: CodeInvalidProof, desc: "no valid iat"},
		{name: "iat exactly MaxAge old", proof: es("iat", testNow.Add(-DefaultMaxAge).Unix())},
		{name: "iat too old", proof: es("iat", testNow.Add(-DefaultMaxAge-time.Second).Unix()), want: CodeInvalidProof, desc: "too old"},
		{name: "iat too old for custom MaxAge", cfg: func(c *Config) { c.MaxAge = 10 * time.Second },
			proof: es("iat", testNow.Add(-11*time.Second).Unix()), want: CodeInvalidProof, desc: "too old (iat more than 10s ago)"},
		{name: "iat at future skew", proof: es("iat", testNow.Add(DefaultFutureSkew).Unix())},
		{name: "iat too far in the future", proof: es("iat", testNow.Add(DefaultFutureSkew+time.Second).Unix()),
			want: CodeInvalidProof, desc: "in the future"},

		// ath (resource server).
		{name: "ath match", proof: es("ath", AccessTokenHash(token)), check: func(c *Check) { c.AccessToken = token }},
		{name: "ath missing", proof: es(), check: func(c *Check) { c.AccessToken = token }, want: CodeInvalidProof, desc: "no ath"},
		{name: "ath mismatch", proof: es("ath", AccessTokenHash("another token")), check: func(c *Check) { c.AccessToken = token },
			want: CodeInvalidProof, desc: "ath does not match"},
		{name: "ath not a string", proof: es("ath", 5), want: CodeInvalidProof, desc: "ath claim must be a string"},
		{name: "ath ignored without a token", proof: es("ath", "whatever")},

		// jkt binding.
		{name: "jkt match", proof: es(), check: func(c *Check) { c.JKT = keyES256.jkt(t) }},
		{name: "jkt mismatch", proof: es(), check: func(c *Check) { c.JKT = keyEdDSA.jkt(t) }, want: CodeInvalidProof,
			desc: "key does not match"},

		// Nonces.
		{name: "nonce required, missing", cfg: withNonces(true), proof: es(), want: CodeUseNonce, desc: "nonce is required"},
		{name: "nonce required, empty", cfg: withNonces(true), proof: es("nonce", ""), want: CodeUseNonce, desc: "invalid or expired"},
		{name: "nonce required, current", cfg: withNonces(true), proof: es("nonce", nonceAt(testNow))},
		{name: "nonce required, previous step", cfg: withNonces(true), proof: es("nonce", nonceAt(testNow.Add(-time.Minute)))},
		{name: "nonce required, two steps old", cfg: withNonces(true), proof: es("nonce", nonceAt(testNow.Add(-2*time.Minute))),
			want: CodeUseNonce, desc: "invalid or expired"},
		{name: "nonce required, next step", cfg: withNonces(true), proof: es("nonce", nonceAt(testNow.Add(time.Minute))),
			want: CodeUseNonce, desc: "invalid or expired"},
		{name: "nonce required, forged", cfg: withNonces(true), proof: es("nonce", strings.Repeat("A", 43)),
			want: CodeUseNonce, desc: "invalid or expired"},
		{name: "nonce optional, absent", cfg: withNonces(false), proof: es()},
		{name: "nonce optional, present and stale", cfg: withNonces(false),
			proof: es("nonce", nonceAt(testNow.Add(-5*time.Minute))), want: CodeUseNonce},
		{name: "nonce without a NonceSource is ignored", proof: es("nonce", "server-never-issued-this")},
		{name: "nonce not a string", cfg: withNonces(true), proof: es("nonce", 12), want: CodeInvalidProof, desc: "nonce claim must be a string"},
		{name: "nonce checked after jkt", cfg: withNonces(true), proof: es(), check: func(c *Check) { c.JKT = keyEdDSA.jkt(t) },
			want: CodeInvalidProof, desc: "key does not match"},

		// Transport and syntax.
		{name: "no DPoP header", proof: func(*testing.T) []string { return nil }, want: CodeInvalidProof, desc: "no DPoP proof"},
		{name: "two DPoP headers", proof: func(t *testing.T) []string {
			return []string{joseProof(t, keyES256, goodClaims()), joseProof(t, keyES256, goodClaims())}
		}, want: CodeInvalidProof, desc: "more than one DPoP header"},
		{name: "two proofs in one header", proof: func(t *testing.T) []string {
			return one(joseProof(t, keyES256, goodClaims()) + ", " + joseProof(t, keyES256, goodClaims()))
		}, want: CodeInvalidProof, desc: "more than one DPoP proof"},
		{name: "oversized", proof: es("pad", strings.Repeat("p", MaxProofSize)), want: CodeInvalidProof, desc: "longer than 8192 bytes"},
		{name: "empty", proof: raw(""), want: CodeInvalidProof, desc: "empty"},
		{name: "garbage", proof: raw("garbage"), want: CodeInvalidProof, desc: "three parts"},
		{name: "bearer token", proof: raw("Bearer abc.def.ghi"), want: CodeInvalidProof, desc: "invalid character"},
		{name: "dots", proof: raw(".."), want: CodeInvalidProof},
		{name: "four parts", proof: raw("a.b.c.d"), want: CodeInvalidProof, desc: "three parts"},
		{name: "header not JSON", proof: raw("bm90IGpzb24.e30.AAAA"), want: CodeInvalidProof, desc: "header is not a JSON object"},
		{name: "header JSON null", proof: raw("bnVsbA.e30.AAAA"), want: CodeInvalidProof, desc: "header is not a JSON object"},
		{name: "header padding", proof: raw("e30=.e30.AAAA"), want: CodeInvalidProof, desc: "invalid character"},
		{name: "JWE-like five parts", proof: raw("a.b.c.d.e"), want: CodeInvalidProof, desc: "three parts"},
		{name: "non-ASCII", proof: raw("ünïcødé.ü.ü"), want: CodeInvalidProof, desc: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			v := newVerifier(t, cfg)
			c := Check{Method: testMethod, URL: testURL}
			if tt.check != nil {
				tt.check(&c)
			}
			p, err := v.Verify(context.Background(), tt.proof(t), c)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p == nil || p.JTI == "" || p.JKT == "" || p.Key.Key == nil || !p.Key.IsPublic() {
					t.Fatalf("Verify returned an incomplete proof %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the proof, want %s", tt.want)
			}
			e := checkProtocolError(t, err)
			if e.Code != tt.want {
				t.Errorf("code = %s, want %s (%v)", e.Code, tt.want, err)
			}
			if !strings.Contains(e.Description, tt.desc) {
				t.Errorf("description = %q, want it to contain %q", e.Description, tt.desc)
			}
			if p != nil {
				t.Errorf("Verify returned a proof with an error")
			}
		})
	}
}

func TestVerifyProofFields(t *testing.T) {
	keys(t)
	v := newVerifier(t, testConfig())
	c := goodClaims()
	c["htu"] = "https://AS.example.com/token?q=1"
	c["ath"] = AccessTokenHash("tok")
	c["nonce"] = "n"
	c["iat"] = float64(testNow.Unix()) - 1.25
	p, err := v.Verify(context.Background(), one(joseProof(t, keyES256, c)), Check{Method: testMethod, URL: testURL, AccessToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	want := Proof{JKT: keyES256.jkt(t), Alg: "ES256", Method: testMethod, URL: "https://AS.example.com/token?q=1",
		IssuedAt: testNow.Add(-1250 * time.Millisecond), JTI: c["jti"].(string), ATH: AccessTokenHash("tok"), Nonce: "n"}
	got := *p
	got.Key, want.Key = jose.JSONWebKey{}, jose.JSONWebKey{}
	if got.IssuedAt.Equal(want.IssuedAt) {
		got.IssuedAt = want.IssuedAt
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("proof = %+v\nwant    %+v", got, want)
	}
	if tp, _ := Thumbprint(&p.Key); tp != p.JKT {
		t.Errorf("Key thumbprint %s != JKT %s", tp, p.JKT)
	}
}

func TestVerifyReplay(t *testing.T) {
	keys(t)
	st := newMemStore()
	cfg := testConfig()
	cfg.Replay = st
	v := newVerifier(t, cfg)
	check := Check{Method: testMethod, URL: testURL}
	proof := joseProof(t, keyES256, goodClaims())
	if _, err := v.Verify(context.Background(), one(proof), check); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), one(proof), check)
	e := checkProtocolError(t, err)
	if e.Code != CodeInvalidProof || !strings.Contains(e.Description, "already used") || !errors.Is(err, errTestReplay) {
		t.Fatalf("replay: %v", err)
	}

	// The key is prefix + hash(jkt, jti); it expires iat + MaxAge + FutureSkew.
	if len(st.keys) != 1 || !strings.HasPrefix(st.keys[0], "dpop:test:") || len(st.keys[0]) != len("dpop:test:")+43 {
		t.Fatalf("replay keys %q", st.keys)
	}
	if exp := st.m[st.keys[0]]; !exp.Equal(testNow.Add(DefaultMaxAge + DefaultFutureSkew)) {
		t.Errorf("replay expiry %v", exp)
	}

	// The same jti under another key is another proof.
	c := goodClaims()
	c["jti"] = "shared"
	if _, err := v.Verify(context.Background(), one(joseProof(t, keyES256, c)), check); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), one(joseProof(t, keyEdDSA, c)), check); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
	// The same jti under the same key, newly signed, is a replay.
	if _, err := v.Verify(context.Background(), one(joseProof(t, keyES256, c)), check); err == nil {
		t.Fatal("same jti and key accepted twice")
	}

	// A proof refused for another reason does not reach the store.
	n := len(st.keys)
	c = goodClaims()
	c["htm"] = "GET"
	if _, err := v.Verify(context.Background(), one(joseProof(t, keyES256, c)), check); err == nil {
		t.Fatal("accepted")
	}
	if len(st.keys) != n {
		t.Error("a refused proof was recorded")
	}
}

func TestVerifyReplayStoreFailure(t *testing.T) {
	keys(t)
	boom := errors.New("database is down")
	cfg := testConfig()
	cfg.Replay = failStore{boom}
	v := newVerifier(t, cfg)
	_, err := v.Verify(context.Background(), one(joseProof(t, keyES256, goodClaims())), Check{Method: testMethod, URL: testURL})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Fatalf("infrastructure failure reported as a protocol error: %v", err)
	}
}

func TestNew(t *testing.T) {
	ok := testConfig()
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" for success, else a substring of the error
	}{
		{"defaults", func(*Config) {}, ""},
		{"no replay store", func(c *Config) { c.Replay = nil }, "Replay"},
		{"no IsReplay", func(c *Config) { c.IsReplay = nil }, "IsReplay"},
		{"none", func(c *Config) { c.Algorithms = []jose.SignatureAlgorithm{jose.ES256, "none"} }, "none"},
		{"HS256", func(c *Config) { c.Algorithms = []jose.SignatureAlgorithm{jose.HS256} }, "symmetric"},
		{"unknown", func(c *Config) { c.Algorithms = []jose.SignatureAlgorithm{"XS999"} }, "not supported"},
		{"negative MaxAge", func(c *Config) { c.MaxAge = -1 }, "MaxAge"},
		{"negative FutureSkew", func(c *Config) { c.FutureSkew = -1 }, "FutureSkew"},
		{"RequireNonce without Nonces", func(c *Config) { c.RequireNonce = true }, "RequireNonce"},
		{"short nonce secret", func(c *Config) { c.Nonces = NewNonceSource([]byte("short"), 0, nil) }, "nonce secret"},
		{"all supported", func(c *Config) {
			c.Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384,
				jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA, jose.ES256}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			_, err := New(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAlgorithms(t *testing.T) {
	v := newVerifier(t, testConfig())
	if got := strings.Join(v.Algorithms(), " "); got != "ES256 EdDSA PS256 RS256" {
		t.Errorf("Algorithms = %s", got)
	}
	v.Algorithms()[0] = "mutated"
	if v.Algorithms()[0] != "ES256" {
		t.Error("Algorithms exposes internal state")
	}
	cfg := testConfig()
	cfg.Algorithms = []jose.SignatureAlgorithm{jose.EdDSA, jose.EdDSA, jose.ES256}
	if got := strings.Join(newVerifier(t, cfg).Algorithms(), " "); got != "EdDSA ES256" {
		t.Errorf("Algorithms = %s", got)
	}
}

func TestAccessTokenHash(t *testing.T) {
	// RFC 9449 §7.1 example: the access token and its ath.
	const tok = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	if got := AccessTokenHash(tok); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Errorf("AccessTokenHash = %s", got)
	}
}

func TestThumbprint(t *testing.T) {
	// RFC 7638 §3.1 example key and thumbprint.
	const k = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	var j jose.JSONWebKey
	if err := json.Unmarshal([]byte(k), &j); err != nil {
		t.Fatal(err)
	}
	if got, err := Thumbprint(&j); err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("Thumbprint = %s, %v", got, err)
	}
	if _, err := Thumbprint(nil); err == nil {
		t.Error("Thumbprint(nil) succeeded")
	}
}

func TestErrorMethods(t *testing.T) {
	cause := errors.New("cause")
	e := &Error{Code: CodeInvalidProof, Description: "bad", Err: cause}
	if e.Error() != "dpop: invalid_dpop_proof: bad: cause" || !errors.Is(e, cause) {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestVerifierNonce(t *testing.T) {
	cfg := testConfig()
	withNonces(true)(&cfg)
	v := newVerifier(t, cfg)
	if n := v.Nonce(); n != nonceAt(testNow) || !v.RequiresNonce() {
		t.Errorf("Nonce = %q", n)
	}
	if newVerifier(t, testConfig()).Nonce() != "" {
		t.Error("Nonce without a NonceSource")
	}
}

func TestQuote(t *testing.T) {
	if got := quote("a\"b\\c\x00é"); got != "'a?b?c??'" {
		t.Errorf("quote = %s", got)
	}
	long := quote(strings.Repeat("x", 500))
	if len(long) != 80+2+3 {
		t.Errorf("quote length %d", len(long))
	}
}
