package mcpres

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The cost of DPoP at the resource, for a tools/call search: compare
// BenchmarkToolsCallDPoP with BenchmarkToolsCallBearer (the same request
// with a bearer token) and with BenchmarkES256VerifyOnly (one raw ES256
// signature check, the floor of any proof verification). Each runs the
// whole ServeHTTP without a network: host and origin checks,
// authentication (an in-process fake verifier; for DPoP the proof check
// with its jti recorded in the real SQLite store), the body peek, the
// go-sdk handler and the search in SQLite FTS. Proofs are signed before
// the timer starts; BenchmarkDPoPProofSign is what a client pays for one.

// benchRequests builds n tools/call search requests for the fixture, with
// the header edits of set (called with the request index).
func benchRequests(d *dpopFixture, n int, set func(i int, h http.Header)) []*http.Request {
	return benchCalls(d, n, searchCall, set)
}

// benchCalls builds n copies of one tools/call.
func benchCalls(d *dpopFixture, n int, call string, set func(i int, h http.Header)) []*http.Request {
	reqs := make([]*http.Request, n)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, d.resource, strings.NewReader(call))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("MCP-Protocol-Version", "2025-11-25")
		set(i, r.Header)
		reqs[i] = r
	}
	return reqs
}

func runBench(b *testing.B, d *dpopFixture, reqs []*http.Request) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		d.srv.ServeHTTP(rec, reqs[i])
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s %q", rec.Code, rec.Body, rec.Header().Values("WWW-Authenticate"))
		}
	}
}

func benchFixture(b *testing.B) *dpopFixture {
	return newDPoPFixture(b, nil, func(c *Config) { c.RateLimit = &RateLimit{PerMinute: 0} })
}

func BenchmarkToolsCallDPoP(b *testing.B) {
	d := benchFixture(b)
	now := d.clock.Now()
	reqs := benchRequests(d, b.N, func(_ int, h http.Header) {
		h.Set("Authorization", "DPoP "+dpopToken)
		h.Set("DPoP", d.key.sign(b, proofClaims(http.MethodPost, d.resource, dpopToken, now)))
	})
	runBench(b, d, reqs)
}

// fetchCall fetches the public handbook: a primary-key read, so the
// benchmark measures the request path (authentication, DPoP, the MCP
// handler) rather than full-text search.
func fetchCall(d *dpopFixture) string {
	return `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fetch","arguments":{"id":"` + d.docs["public"] + `"}}}`
}

func BenchmarkToolsCallFetchDPoP(b *testing.B) {
	d := benchFixture(b)
	now := d.clock.Now()
	reqs := benchCalls(d, b.N, fetchCall(d), func(_ int, h http.Header) {
		h.Set("Authorization", "DPoP "+dpopToken)
		h.Set("DPoP", d.key.sign(b, proofClaims(http.MethodPost, d.resource, dpopToken, now)))
	})
	runBench(b, d, reqs)
}

func BenchmarkToolsCallFetchBearer(b *testing.B) {
	d := benchFixture(b)
	reqs := benchCalls(d, b.N, fetchCall(d), func(_ int, h http.Header) { h.Set("Authorization", "Bearer alice-token") })
	runBench(b, d, reqs)
}

func BenchmarkToolsCallBearer(b *testing.B) {
	d := benchFixture(b)
	reqs := benchRequests(d, b.N, func(_ int, h http.Header) { h.Set("Authorization", "Bearer alice-token") })
	runBench(b, d, reqs)
}

// BenchmarkES256VerifyOnly is one raw ES256 check of a proof-sized JWS:
// SHA-256 of the signing input and ecdsa.Verify (as in authz/dpop).
func BenchmarkES256VerifyOnly(b *testing.B) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"jti":"x","htm":"POST","htu":"https://mcp.example.com/mcp","iat":1800000000,"ath":"fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"}`))
	if err != nil {
		b.Fatal(err)
	}
	proof, _ := jws.CompactSerialize()
	i := strings.LastIndexByte(proof, '.')
	input := []byte(proof[:i])
	sig := jws.Signatures[0].Signature
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h := sha256.Sum256(input)
		if !ecdsa.Verify(&priv.PublicKey, h[:], r, s) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkDPoPProofSign is the client's cost of one proof (go-jose).
func BenchmarkDPoPProofSign(b *testing.B) {
	k := newProofKey(b)
	c := proofClaims(http.MethodPost, "https://mcp.example.com/mcp", dpopToken, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		k.sign(b, c)
	}
}

// BenchmarkSDKStatelessFloor is the official Go SDK's stateless Streamable
// HTTP handler on its own: the same tools/call request shape, answered by a
// tool that returns a constant, with no authentication, no store and none
// of this package's middleware. It is the floor under every MCP call this
// server serves; BENCHMARKS.md compares it with the budget.
func BenchmarkSDKStatelessFloor(b *testing.B) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "floor", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "fetch", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: `{"id":"x"}`}}}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	const call = `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fetch","arguments":{"id":"0123456789abcdef"}}}`
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", strings.NewReader(call))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("MCP-Protocol-Version", "2025-11-25")
		reqs[i] = r
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, reqs[i])
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `\"id\":\"x\"`) {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
