package authz

// This file holds the public keys of private_key_jwt clients (RFC 7523
// §2.2, RFC 7591 §2 jwks and jwks_uri): parsing a JWK Set, and fetching a
// client's jwks_uri through the server's one guarded fetcher, with a cache.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	jose3 "github.com/go-jose/go-jose/v3"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/mcpauthz/mcpauthz/authz/fetch"
)

// clientAssertionAlgs are the JWS algorithms of client assertions
// (private_key_jwt), in the order the metadata lists them.
var clientAssertionAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256}

// clientAssertionAlgNames returns clientAssertionAlgs as strings.
func clientAssertionAlgNames() []string {
	out := make([]string, len(clientAssertionAlgs))
	for i, a := range clientAssertionAlgs {
		out[i] = string(a)
	}
	return out
}

// supportedAssertionAlg reports whether alg is one of clientAssertionAlgs.
func supportedAssertionAlg(alg string) bool {
	for _, a := range clientAssertionAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

const (
	// maxJWKSKeys bounds the keys of one set that are kept.
	maxJWKSKeys = 50
	// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
	minRSABits = 2048
)

// parseJWKS parses a JWK Set (RFC 7517 §5) of a client's public signing
// keys. Keys go-jose cannot read (unknown types, curves such as X25519),
// keys whose use is not "sig" and keys that fit none of
// clientAssertionAlgs are skipped, so a set published for several purposes
// still works; but a private or symmetric key anywhere makes the set an
// error (whoever published it has leaked it), and so does a set without a
// usable key. The errors are safe to show to the client.
func parseJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, errors.New("it is not a JWK Set (a JSON object with a keys array)")
	}
	if doc.Keys == nil {
		return nil, errors.New("it has no keys array")
	}
	set := &jose.JSONWebKeySet{}
	for _, rk := range doc.Keys {
		var probe struct {
			D   json.RawMessage `json:"d"`
			K   json.RawMessage `json:"k"`
			Kty string          `json:"kty"`
		}
		if json.Unmarshal(rk, &probe) != nil {
			return nil, errors.New("an entry of keys is not a JSON object")
		}
		if probe.D != nil || probe.K != nil || probe.Kty == "oct" {
			return nil, errors.New("it contains a private or symmetric key; publish only public keys")
		}
		var k jose.JSONWebKey
		if err := json.Unmarshal(rk, &k); err != nil || !k.Valid() || !k.IsPublic() {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if len(fittingAlgs(&k)) == 0 {
			continue
		}
		set.Keys = append(set.Keys, k)
		if len(set.Keys) == maxJWKSKeys {
			break
		}
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("it has no usable signing key (ES256 on P-256, EdDSA on Ed25519, or RS256/PS256 with RSA of 2048 bits or more)")
	}
	return set, nil
}

// fittingAlgs returns the algorithms of clientAssertionAlgs that k can
// verify: by its type and size, and its alg member if it has one.
func fittingAlgs(k *jose.JSONWebKey) []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, alg := range clientAssertionAlgs {
		if keyFitsAlg(k, alg) {
			out = append(out, alg)
		}
	}
	return out
}

// keyFitsAlg reports whether k can verify a signature made with alg.
func keyFitsAlg(k *jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && pub.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == jose.EdDSA && len(pub) == ed25519.PublicKeySize
	case *rsa.PublicKey:
		return (alg == jose.RS256 || alg == jose.PS256) && pub.N.BitLen() >= minRSABits
	}
	return false
}

// toJOSE3 converts a key set to go-jose v3, the version fosite's interfaces
// use.
func toJOSE3(set *jose.JSONWebKeySet) (*jose3.JSONWebKeySet, error) {
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	var out jose3.JSONWebKeySet
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Bounds of the jwks_uri cache.
const (
	jwksMinTTL     = time.Minute
	jwksMaxTTL     = time.Hour
	jwksDefaultTTL = 5 * time.Minute
	// jwksRefetchInterval is how often a jwks_uri may be fetched again
	// before its entry expires (an assertion with an unknown kid, after a
	// key rotation) and how long a failed fetch is remembered.
	jwksRefetchInterval = 30 * time.Second
	jwksCacheEntries    = 1000
	// jwksStaleIfError is how long past its expiry a key set is used on
	// while its jwks_uri is unavailable (fetch.Error's Unavailable), asked
	// again every jwksRefetchInterval. Shorter than for metadata documents:
	// a client that dropped a compromised key must not see it honoured for
	// long by an attacker who also keeps its site failing.
	jwksStaleIfError = time.Hour
)

// jwksCache fetches clients' jwks_uri documents through the guarded
// fetcher and keeps them for a short time (their HTTP caching headers,
// clamped to [jwksMinTTL, jwksMaxTTL]). It implements
// fosite.JWKSFetcherStrategy, so fosite never fetches a key set with its
// own unguarded HTTP client. It is safe for concurrent use.
type jwksCache struct {
	fetcher *fetch.Fetcher
	now     func() time.Time
	log     *slog.Logger
	sets    *remoteCache[*jose.JSONWebKeySet]
}

var _ fosite.JWKSFetcherStrategy = (*jwksCache)(nil)

func newJWKSCache(f *fetch.Fetcher, now func() time.Time, log *slog.Logger) *jwksCache {
	return &jwksCache{fetcher: f, now: now, log: log,
		sets: newRemoteCache[*jose.JSONWebKeySet]("client jwks_uri", "jwks_uri",
			jwksCacheEntries, jwksStaleIfError, jwksRefetchInterval, now, log)}
}

// keys returns the key set at uri. With refresh (the assertion's key was
// not in the cached set) it fetches again unless it did so less than
// jwksRefetchInterval ago. A failed fetch is remembered for
// jwksRefetchInterval, and while the jwks_uri is unavailable the set
// fetched before stands in (see jwksStaleIfError). Concurrent fetches of
// one URI are one fetch.
func (c *jwksCache) keys(ctx context.Context, uri string, refresh bool) (*jose.JSONWebKeySet, error) {
	fresh := func(e *remoteEntry[*jose.JSONWebKeySet], now time.Time) bool {
		recent := now.Sub(e.fetchedAt) < jwksRefetchInterval
		if e.err != nil {
			return recent
		}
		return now.Before(e.expires) && (!refresh || recent)
	}
	e, err := c.sets.get(ctx, uri, fresh, func(ctx context.Context) *remoteEntry[*jose.JSONWebKeySet] { return c.fetch(ctx, uri) })
	if err != nil {
		return nil, err
	}
	return e.val, e.err
}

func (c *jwksCache) fetch(ctx context.Context, uri string) *remoteEntry[*jose.JSONWebKeySet] {
	now := c.now()
	resp, err := c.fetcher.Get(ctx, fetch.Request{
		URL:      uri,
		MaxBytes: fetch.MaxBytesJWKS,
		Accept:   []string{"application/json", "application/jwk-set+json"},
	})
	if err != nil {
		reason := "it could not be fetched"
		fe, isFetch := errors.AsType[*fetch.Error](err)
		if isFetch {
			reason += ": " + fe.Reason
		}
		c.log.InfoContext(ctx, "client jwks_uri refused", "jwks_uri", uri, "error", err)
		return &remoteEntry[*jose.JSONWebKeySet]{err: errors.New(reason), fetchedAt: now, expires: now, unavailable: isFetch && fe.Unavailable}
	}
	set, err := parseJWKS(resp.Body)
	if err != nil {
		c.log.InfoContext(ctx, "client jwks_uri refused", "jwks_uri", uri, "error", err)
		return &remoteEntry[*jose.JSONWebKeySet]{err: err, fetchedAt: now, expires: now}
	}
	ttl := cacheLifetime(resp.Header, now, jwksMinTTL, jwksMaxTTL, jwksDefaultTTL)
	return &remoteEntry[*jose.JSONWebKeySet]{val: set, fetchedAt: now, expires: now.Add(ttl)}
}

// Resolve implements fosite.JWKSFetcherStrategy.
func (c *jwksCache) Resolve(ctx context.Context, location string, ignoreCache bool) (*jose3.JSONWebKeySet, error) {
	set, err := c.keys(ctx, location, ignoreCache)
	if err != nil {
		return nil, fosite.ErrInvalidClient.WithHintf("The client's jwks_uri cannot be used: %s.", err.Error()).WithWrap(err)
	}
	return toJOSE3(set)
}

// describeJWKSError words a jwks_uri failure for an error description.
func describeJWKSError(uri string, err error) string {
	return fmt.Sprintf("key set at jwks_uri %s cannot be used: %s", quoteForError(uri), err)
}
