package dpop

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzVerify checks that Verify never panics and refuses every bad proof
// with an *Error whose description is in RFC 6749 §5.2's character set.
// The Verifier checks ath and nonces (when present) so that those paths
// are reached; its replay store is the in-memory one, which never fails
// for infrastructure reasons.
func FuzzVerify(f *testing.F) {
	keys(f)
	const token = "fuzz-access-token"
	claims := func() map[string]any {
		c := goodClaims()
		c["ath"] = AccessTokenHash(token)
		return c
	}
	good := joseProof(f, keyES256, claims())
	for _, k := range []testKey{keyES256, keyEdDSA, keyRS256, keyPS256} {
		f.Add(joseProof(f, k, claims()))
	}
	withNonce := claims()
	withNonce["nonce"] = nonceAt(testNow)
	f.Add(joseProof(f, keyES256, withNonce))
	withNonce["nonce"] = "stale"
	f.Add(joseProof(f, keyES256, withNonce))

	// Mutations of a valid proof.
	parts := strings.Split(good, ".")
	f.Add(good + good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add("." + parts[1] + "." + parts[2])
	f.Add(parts[1] + "." + parts[0] + "." + parts[2])
	f.Add(good[:len(good)/2])
	f.Add(good + ", " + good)
	f.Add(strings.Replace(good, parts[2][:4], "AAAA", 1))
	h := header(f, keyES256)
	h["alg"] = "none"
	f.Add(craftProof(f, h, claims(), "", nil))
	h = header(f, keyES256)
	h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"}
	f.Add(craftProof(f, h, claims(), jose.ES256, keyES256.priv))
	f.Add(craftProof(f, header(f, keyES256), []byte(`{"jti":"a","htm":"POST","htu":"https://as.example.com/token","iat":1e400}`), jose.ES256, keyES256.priv))
	f.Add(craftProof(f, []byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}`), claims(), jose.ES256, keyES256.priv))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":{}}`)) + ".e30.")
	for _, s := range []string{"", ".", "..", "a.b.c", "e30.e30.e30", "eyJ9.eyJ9.", "null.null.null", "\x00", "ü"} {
		f.Add(s)
	}

	v := newVerifier(f, Config{
		Replay:          newMemStore(),
		IsReplay:        isTestReplay,
		Now:             func() time.Time { return testNow },
		Nonces:          NewNonceSource(testSecret, time.Minute, func() time.Time { return testNow }),
		ReplayKeyPrefix: "fuzz:",
	})
	check := Check{Method: testMethod, URL: testURL, AccessToken: token}
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := v.Verify(context.Background(), []string{proof}, check)
		if err == nil {
			if p == nil || p.JKT == "" || p.JTI == "" || !p.Key.IsPublic() {
				t.Fatalf("accepted with an incomplete proof %+v", p)
			}
			return
		}
		if p != nil {
			t.Fatal("proof and error both returned")
		}
		checkProtocolError(t, err)
	})
}

// FuzzNormalizeHTU checks that NormalizeHTU never panics and is
// idempotent: a normalised URL normalises to itself.
func FuzzNormalizeHTU(f *testing.F) {
	for _, s := range []string{
		"https://as.example.com/token", "HTTPS://AS.example.com:443/a/../b?x#y", "http://[::1]:80/%7e%2f",
		"https://h/%2E%2E/a/./b//c/..", "https://h:0080", "http://h/é", "https://h/a%2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeHTU(s)
		if err != nil {
			return
		}
		n2, err := NormalizeHTU(n)
		if err != nil || n2 != n {
			t.Fatalf("NormalizeHTU(%q) = %q, then %q, %v", s, n, n2, err)
		}
	})
}
