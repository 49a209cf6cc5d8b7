package dpop

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkVerifyES256 is a full Verify of a fresh ES256 proof (every
// iteration a new jti, recorded in the in-memory ReplayStore). Compare with
// BenchmarkES256VerifyOnly for the overhead over the signature check.
func BenchmarkVerifyES256(b *testing.B) {
	keys(b)
	proofs := make([][]string, b.N)
	for i := range proofs {
		proofs[i] = one(joseProof(b, keyES256, goodClaims()))
	}
	v := newVerifier(b, testConfig())
	check := Check{Method: testMethod, URL: testURL}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, proofs[i], check); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkES256VerifyOnly is the raw cryptographic check of the same kind
// of proof: SHA-256 of the signing input and one ecdsa.Verify.
func BenchmarkES256VerifyOnly(b *testing.B) {
	keys(b)
	proof := joseProof(b, keyES256, goodClaims())
	i := strings.LastIndexByte(proof, '.')
	input := []byte(proof[:i])
	sig, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := keyES256.priv.Public().(*ecdsa.PublicKey)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h := sha256.Sum256(input)
		if !ecdsa.Verify(pub, h[:], r, s) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkES256GoJoseVerify is go-jose's parse and verify of the same
// proof, without any DPoP checks.
func BenchmarkES256GoJoseVerify(b *testing.B) {
	keys(b)
	proof := joseProof(b, keyES256, goodClaims())
	pub := keyES256.priv.Public()
	algs := []jose.SignatureAlgorithm{jose.ES256}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		jws, err := jose.ParseSignedCompact(proof, algs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkES256Sign is what a client spends making one proof with
// go-jose (signer with embedded JWK, JSON claims, compact serialisation).
func BenchmarkES256Sign(b *testing.B) {
	keys(b)
	claims := goodClaims()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		joseProof(b, keyES256, claims)
	}
}
