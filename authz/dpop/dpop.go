// Package dpop verifies DPoP proofs (RFC 9449, OAuth 2.0 Demonstrating
// Proof of Possession). The authorization server's token endpoint
// (RFC 9449 §5) and the resource server (RFC 9449 §7) both use it: one
// Verifier per endpoint family, each with its own ReplayKeyPrefix so that
// their jti spaces do not collide.
//
// The package is pure: it does no I/O itself. Replay detection goes through
// a ReplayStore (store.Store's UseNonce fits), server nonces (RFC 9449 §8,
// §9) through a stateless NonceSource, and the clock is injectable.
//
// Verify never panics, and every refusal of a bad proof is an *Error whose
// Code is an RFC 9449 wire code (invalid_dpop_proof or use_dpop_nonce) and
// whose Description is safe to send to the client: printable ASCII without
// '"' or '\', so it fits RFC 6749 §5.2's error_description and an RFC 6750
// §3 quoted-string as it is. The only non-*Error errors come from the
// ReplayStore (infrastructure failures) and are returned wrapped.
package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// HTTP names (RFC 9449 §4.1, §7.1, §8, §5).
const (
	// HeaderName is the request header carrying the proof (RFC 9449 §4.1).
	HeaderName = "DPoP"
	// NonceHeaderName is the response header carrying a server nonce
	// (RFC 9449 §8.1, §9).
	NonceHeaderName = "DPoP-Nonce"
	// Scheme is the Authorization scheme of a DPoP-bound access token
	// (RFC 9449 §7.1) and the token_type of the token response (§5).
	Scheme = "DPoP"
	// ProofType is the typ header value of a proof (RFC 9449 §4.2).
	ProofType = "dpop+jwt"
)

// Wire error codes (RFC 9449 §5, §7.1, §8, §12.2).
const (
	// CodeInvalidProof: the proof is missing, malformed or fails a check.
	CodeInvalidProof = "invalid_dpop_proof"
	// CodeUseNonce: the server requires a nonce and the proof has none, or
	// has a stale one; the client retries with the DPoP-Nonce it is sent.
	CodeUseNonce = "use_dpop_nonce"
)

// Limits.
const (
	// MaxProofSize is the largest proof accepted, in bytes. A proof with a
	// 4096-bit RSA key is about 2.2 KiB; anything larger than this is junk.
	MaxProofSize = 8 << 10
	// MaxJTILength is the longest jti accepted, in characters. RFC 9449
	// §4.2 asks for 96 bits of randomness or a UUID; §11.1 lets servers
	// refuse needlessly long values that would bloat the replay store.
	MaxJTILength = 256
	// MinRSABits and MaxRSABits bound an RSA proof key: RFC 7518 §3.3 and
	// §3.5 require 2048 bits, and the upper bound caps the cost of verifying
	// a client-chosen key.
	MinRSABits = 2048
	MaxRSABits = 8192
	// MinNonceSecretSize is the shortest NonceSource secret New accepts.
	MinNonceSecretSize = 32
)

// Defaults for Config.
const (
	// DefaultMaxAge is how old a proof's iat may be. RFC 9449 §11.1 asks
	// for a "relatively short" window: a client signs the proof just
	// before sending it, so the age is latency plus clock skew. Two
	// minutes tolerates common desktop clock drift while keeping the
	// replay store small; server nonces (§8) remove the dependence on the
	// client's clock for deployments that want a tighter bound.
	DefaultMaxAge = 2 * time.Minute
	// DefaultFutureSkew is how far in the future iat may be (a client
	// whose clock runs ahead of ours).
	DefaultFutureSkew = 30 * time.Second
)

// DefaultAlgorithms are accepted when Config.Algorithms is empty: the
// algorithms widely implemented by DPoP clients (ES256 is the one RFC 9449
// examples use and that browsers' WebCrypto and most SDKs prefer).
var DefaultAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256, jose.RS256}

// supported maps each asymmetric JWS algorithm this package can verify to
// the JWK kty it needs (RFC 7518 §3.1, RFC 8037 §3.1).
var supported = map[jose.SignatureAlgorithm]string{
	jose.ES256: "EC", jose.ES384: "EC", jose.ES512: "EC",
	jose.RS256: "RSA", jose.RS384: "RSA", jose.RS512: "RSA",
	jose.PS256: "RSA", jose.PS384: "RSA", jose.PS512: "RSA",
	jose.EdDSA: "OKP",
}

// Error is a refused DPoP proof. Code is the RFC 9449 wire code;
// Description is for the client (see the package comment for its
// character set); Err, when set, is the internal cause, for logs only.
type Error struct {
	Code        string // CodeInvalidProof or CodeUseNonce
	Description string
	Err         error
}

func (e *Error) Error() string {
	s := "dpop: " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

func invalid(desc string, err error) *Error {
	return &Error{Code: CodeInvalidProof, Description: desc, Err: err}
}

// ReplayStore records the jti of accepted proofs (RFC 9449 §11.1).
// UseNonce records key until expiresAt and fails if key is already
// recorded and unexpired; it must be atomic across every server instance
// that shares the Verifier's ReplayKeyPrefix. store.Store satisfies it.
type ReplayStore interface {
	UseNonce(ctx context.Context, key string, expiresAt time.Time) error
}

// Config configures a Verifier. Replay and IsReplay are required.
type Config struct {
	// Algorithms accepted in the proof's alg header (RFC 9449 §4.3 check
	// 5). Empty means DefaultAlgorithms. Only asymmetric algorithms are
	// allowed: New refuses none, HS256/384/512 and anything unknown.
	Algorithms []jose.SignatureAlgorithm
	// MaxAge is how old iat may be (RFC 9449 §4.3 check 11, §11.1);
	// zero means DefaultMaxAge.
	MaxAge time.Duration
	// FutureSkew is how far ahead of our clock iat may be; zero means
	// DefaultFutureSkew.
	FutureSkew time.Duration
	// Replay records jti values (RFC 9449 §11.1).
	Replay ReplayStore
	// IsReplay reports whether an error from Replay means "already used"
	// (e.g. errors.Is(err, store.ErrReplay)). Such a proof is refused with
	// invalid_dpop_proof; any other Replay error is returned as is.
	IsReplay func(error) bool
	// Nonces, when set, validates the proof's nonce claim (RFC 9449 §8,
	// §9). A proof that carries a nonce claim has it checked even when
	// RequireNonce is false.
	Nonces *NonceSource
	// RequireNonce refuses proofs without a valid nonce with
	// use_dpop_nonce. It needs Nonces.
	RequireNonce bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReplayKeyPrefix is prepended to every replay key, e.g. "dpop:as:"
	// and "dpop:rs:", so that different verifiers sharing one store keep
	// separate jti spaces.
	ReplayKeyPrefix string
}

// Verifier checks DPoP proofs. It is immutable and safe for concurrent use.
type Verifier struct {
	algs         []jose.SignatureAlgorithm
	algNames     []string
	maxAge       time.Duration
	futureSkew   time.Duration
	replay       ReplayStore
	isReplay     func(error) bool
	nonces       *NonceSource
	requireNonce bool
	now          func() time.Time
	prefix       string
	algList      string // for descriptions
}

// New validates cfg and returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Replay == nil {
		return nil, errors.New("dpop: Config.Replay is required (RFC 9449 §11.1)")
	}
	if cfg.IsReplay == nil {
		return nil, errors.New("dpop: Config.IsReplay is required")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	v := &Verifier{
		maxAge:       cfg.MaxAge,
		futureSkew:   cfg.FutureSkew,
		replay:       cfg.Replay,
		isReplay:     cfg.IsReplay,
		nonces:       cfg.Nonces,
		requireNonce: cfg.RequireNonce,
		now:          cfg.Now,
		prefix:       cfg.ReplayKeyPrefix,
	}
	for _, a := range algs {
		switch {
		case a == "none" || strings.EqualFold(string(a), "none"):
			return nil, errors.New("dpop: algorithm none is not allowed (RFC 9449 §4.2)")
		case strings.HasPrefix(strings.ToUpper(string(a)), "HS"):
			return nil, fmt.Errorf("dpop: algorithm %s is symmetric; a proof needs an asymmetric key (RFC 9449 §4.2)", a)
		case supported[a] == "":
			return nil, fmt.Errorf("dpop: algorithm %q is not supported", a)
		}
		if !slices.Contains(v.algs, a) {
			v.algs = append(v.algs, a)
			v.algNames = append(v.algNames, string(a))
		}
	}
	v.algList = strings.Join(v.algNames, " ")
	switch {
	case v.maxAge < 0:
		return nil, errors.New("dpop: Config.MaxAge is negative")
	case v.maxAge == 0:
		v.maxAge = DefaultMaxAge
	}
	switch {
	case v.futureSkew < 0:
		return nil, errors.New("dpop: Config.FutureSkew is negative")
	case v.futureSkew == 0:
		v.futureSkew = DefaultFutureSkew
	}
	if v.requireNonce && v.nonces == nil {
		return nil, errors.New("dpop: Config.RequireNonce needs Config.Nonces")
	}
	if v.nonces != nil && len(v.nonces.secret) < MinNonceSecretSize {
		return nil, fmt.Errorf("dpop: nonce secret must be at least %d bytes", MinNonceSecretSize)
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Algorithms returns the accepted alg values, for the authorization
// server's dpop_signing_alg_values_supported metadata (RFC 9449 §5.1) and
// the algs parameter of a DPoP WWW-Authenticate challenge (§7.1).
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algNames) }

// RequiresNonce reports whether every proof must carry a server nonce.
func (v *Verifier) RequiresNonce() bool { return v.requireNonce }

// Nonce returns a fresh server nonce for the DPoP-Nonce response header
// (RFC 9449 §8.1), or "" when the Verifier has no NonceSource.
func (v *Verifier) Nonce() string { return v.nonces.Nonce() }

// Proof is a verified DPoP proof.
type Proof struct {
	JKT      string          // RFC 7638 SHA-256 thumbprint of Key, base64url (RFC 9449 §6.1)
	Key      jose.JSONWebKey // the public key from the jwk header
	Alg      string          // the alg header
	Method   string          // htm, as sent
	URL      string          // htu, as sent
	IssuedAt time.Time       // iat
	JTI      string
	ATH      string // ath, if present
	Nonce    string // nonce, if present
}

// Check is what a proof must match besides its own consistency.
type Check struct {
	// Method is the request's HTTP method; htm must equal it
	// (RFC 9449 §4.3 check 8).
	Method string
	// URL is the request's full URL as the server sees it (scheme, host,
	// path; any query is ignored). htu must equal it after both are
	// normalised with NormalizeHTU (RFC 9449 §4.3 check 9).
	URL string
	// AccessToken, when set (resource server), requires ath to equal
	// AccessTokenHash(AccessToken) (RFC 9449 §4.3 check 12, §7).
	AccessToken string
	// JKT, when set, requires the proof key's thumbprint to equal it: the
	// access token's cnf.jkt (§6.1, §7), the authorization code's dpop_jkt
	// (§10), or the key a refresh token is bound to (§5).
	JKT string
}

// Verify parses and checks one DPoP proof. headers are all the values of
// the request's DPoP header; exactly one is allowed (RFC 9449 §4.3 check
// 1). The checks follow RFC 9449 §4.3 in this order: syntax and size; typ;
// alg; jwk (present, public, asymmetric, matching alg); signature; claims
// jti, htm, htu, iat; ath (when c.AccessToken is set); key thumbprint
// (when c.JKT is set); nonce; and last the jti replay check (§11.1), so
// that only proofs that passed everything else reach the replay store.
//
// A refused proof gives an *Error; a failing ReplayStore gives its error,
// wrapped.
func (v *Verifier) Verify(ctx context.Context, headers []string, c Check) (*Proof, error) {
	switch len(headers) {
	case 0:
		return nil, invalid("no DPoP proof was sent", nil)
	case 1:
	default:
		return nil, invalid("more than one DPoP header was sent", nil)
	}
	raw := strings.Trim(headers[0], " \t")
	if raw == "" {
		return nil, invalid("the DPoP header is empty", nil)
	}
	if len(raw) > MaxProofSize {
		return nil, invalid(fmt.Sprintf("the DPoP proof is longer than %d bytes", MaxProofSize), nil)
	}
	if strings.IndexByte(raw, ',') >= 0 {
		return nil, invalid("more than one DPoP proof was sent", nil)
	}
	for i := 0; i < len(raw); i++ {
		if !isB64URLOrDot(raw[i]) {
			return nil, invalid("the DPoP proof is not a compact JWS: invalid character", nil)
		}
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, invalid("the DPoP proof is not a compact JWS: it must have three parts", nil)
	}

	// Header checks on our own decoding first, for clear messages and
	// RFC 9449 §4.3's order; go-jose's decoding is then cross-checked.
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, invalid("the DPoP proof header is not base64url", err)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr == nil {
		return nil, invalid("the DPoP proof header is not a JSON object", err)
	}
	typ, ok := stringMember(hdr, "typ")
	if !ok || !isProofType(typ) {
		return nil, invalid("the DPoP proof typ header must be dpop+jwt", nil)
	}
	algName, ok := stringMember(hdr, "alg")
	if !ok || algName == "" {
		return nil, invalid("the DPoP proof has no alg header", nil)
	}
	alg := jose.SignatureAlgorithm(algName)
	if !slices.Contains(v.algs, alg) {
		switch {
		case strings.EqualFold(algName, "none"):
			return nil, invalid("alg none is not allowed for a DPoP proof", nil)
		case strings.HasPrefix(strings.ToUpper(algName), "HS"):
			return nil, invalid("symmetric algorithm "+quote(algName)+" is not allowed for a DPoP proof", nil)
		}
		return nil, invalid("the DPoP proof alg "+quote(algName)+" is not supported; use one of: "+v.algList, nil)
	}
	if _, ok := hdr["crit"]; ok {
		return nil, invalid("the DPoP proof must not have a crit header", nil)
	}
	if b, ok := hdr["b64"]; ok && string(b) != "true" {
		return nil, invalid("the DPoP proof must not have an unencoded payload (b64)", nil)
	}
	jwkRaw, ok := hdr["jwk"]
	if !ok || string(jwkRaw) == "null" {
		return nil, invalid("the DPoP proof has no jwk header", nil)
	}
	var jwkMembers map[string]json.RawMessage
	if err := json.Unmarshal(jwkRaw, &jwkMembers); err != nil || jwkMembers == nil {
		return nil, invalid("the DPoP proof jwk header is not a JSON object", err)
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"} {
		if _, ok := jwkMembers[m]; ok {
			return nil, invalid("the DPoP proof jwk must be a public key but has private member "+m, nil)
		}
	}
	kty, _ := stringMember(jwkMembers, "kty")
	switch kty {
	case "":
		return nil, invalid("the DPoP proof jwk has no kty", nil)
	case "oct":
		return nil, invalid("the DPoP proof jwk must not be a symmetric (oct) key", nil)
	}
	if want := supported[alg]; kty != want {
		return nil, invalid("the DPoP proof jwk kty "+quote(kty)+" does not fit alg "+algName, nil)
	}

	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		return nil, invalid("the DPoP proof cannot be parsed (malformed JWS or jwk)", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("the DPoP proof must have exactly one signature", nil)
	}
	ph := jws.Signatures[0].Protected
	if ph.Algorithm != algName {
		return nil, invalid("the DPoP proof header is ambiguous (alg)", nil)
	}
	if t, _ := ph.ExtraHeaders[jose.HeaderType].(string); t != typ {
		return nil, invalid("the DPoP proof header is ambiguous (typ)", nil)
	}
	jwk := ph.JSONWebKey
	if jwk == nil || jwk.Key == nil {
		return nil, invalid("the DPoP proof has no jwk header", nil)
	}
	if !jwk.IsPublic() {
		return nil, invalid("the DPoP proof jwk must be a public key", nil)
	}
	if d := checkKey(alg, jwk.Key); d != "" {
		return nil, invalid(d, nil)
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, invalid("the DPoP proof signature is invalid", err)
	}

	// Claims (RFC 9449 §4.2). Members are matched exactly (no case
	// folding), unlike encoding/json's struct decoding.
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, invalid("the DPoP proof claims are not a JSON object", err)
	}
	p := &Proof{Key: *jwk, Alg: algName}
	if p.JTI, ok = stringMember(claims, "jti"); !ok || p.JTI == "" {
		return nil, invalid("the DPoP proof has no jti claim", nil)
	}
	if utf8.RuneCountInString(p.JTI) > MaxJTILength {
		return nil, invalid(fmt.Sprintf("the DPoP proof jti is longer than %d characters", MaxJTILength), nil)
	}
	if p.Method, ok = stringMember(claims, "htm"); !ok || p.Method == "" {
		return nil, invalid("the DPoP proof has no htm claim", nil)
	}
	if p.Method != c.Method {
		return nil, invalid("the DPoP proof htm "+quote(p.Method)+" does not match the request method "+quote(c.Method), nil)
	}
	if p.URL, ok = stringMember(claims, "htu"); !ok || p.URL == "" {
		return nil, invalid("the DPoP proof has no htu claim", nil)
	}
	htu, err := NormalizeHTU(p.URL)
	if err != nil {
		return nil, invalid("the DPoP proof htu "+quote(p.URL)+" is not an absolute http(s) URL", err)
	}
	reqURL, err := NormalizeHTU(c.URL)
	if err != nil {
		return nil, invalid("the request URL cannot be normalised to compare with htu", err)
	}
	if htu != reqURL {
		return nil, invalid("the DPoP proof htu "+quote(htu)+" does not match the request URL "+quote(reqURL), nil)
	}
	iat, ok := numericDate(claims["iat"])
	if !ok {
		return nil, invalid("the DPoP proof has no valid iat claim", nil)
	}
	p.IssuedAt = iat
	now := v.now()
	if age := now.Sub(iat); age > v.maxAge {
		return nil, invalid(fmt.Sprintf("the DPoP proof is too old (iat more than %s ago)", v.maxAge), nil)
	} else if -age > v.futureSkew {
		return nil, invalid(fmt.Sprintf("the DPoP proof iat is more than %s in the future", v.futureSkew), nil)
	}
	var athPresent, noncePresent bool
	if p.ATH, athPresent, ok = optionalString(claims, "ath"); !ok {
		return nil, invalid("the DPoP proof ath claim must be a string", nil)
	}
	if p.Nonce, noncePresent, ok = optionalString(claims, "nonce"); !ok {
		return nil, invalid("the DPoP proof nonce claim must be a string", nil)
	}

	if c.AccessToken != "" {
		if !athPresent {
			return nil, invalid("the DPoP proof has no ath claim for the access token", nil)
		}
		if !constantEqual(p.ATH, AccessTokenHash(c.AccessToken)) {
			return nil, invalid("the DPoP proof ath does not match the access token", nil)
		}
	}

	if p.JKT, err = Thumbprint(jwk); err != nil {
		return nil, invalid("the DPoP proof jwk has no thumbprint", err)
	}
	if c.JKT != "" && !constantEqual(p.JKT, c.JKT) {
		return nil, invalid("the DPoP proof key does not match the key the token or code is bound to", nil)
	}

	if v.nonces != nil && (v.requireNonce || noncePresent) {
		if !noncePresent {
			return nil, &Error{Code: CodeUseNonce, Description: "a DPoP nonce is required; use the DPoP-Nonce response header"}
		}
		if !v.nonces.Valid(p.Nonce) {
			return nil, &Error{Code: CodeUseNonce, Description: "the DPoP nonce is invalid or expired; use the DPoP-Nonce response header"}
		}
	}

	// Replay last (RFC 9449 §11.1). The key is scoped to the proof key, so
	// one client cannot burn another's jti, and hashed, so its length and
	// bytes are fixed whatever the jti holds. It must outlive the proof:
	// iat+MaxAge is when it stops being accepted here, and FutureSkew more
	// covers instances whose clocks lag ours.
	exp := iat.Add(v.maxAge + v.futureSkew)
	if err := v.replay.UseNonce(ctx, v.prefix+replayKey(p.JKT, p.JTI), exp); err != nil {
		if v.isReplay(err) {
			return nil, invalid("the DPoP proof was already used (jti replay)", err)
		}
		return nil, fmt.Errorf("dpop: replay store: %w", err)
	}
	return p, nil
}

// replayKey is base64url(SHA-256(jkt "." jti)). A jkt is base64url and has
// no '.', so the encoding is unambiguous.
func replayKey(jkt, jti string) string {
	h := sha256.Sum256([]byte(jkt + "." + jti))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// checkKey returns a description of why key cannot verify alg, or "".
func checkKey(alg jose.SignatureAlgorithm, key any) string {
	switch alg {
	case jose.ES256, jose.ES384, jose.ES512:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k.Curve == nil {
			return "the DPoP proof jwk is not an EC key, as alg " + string(alg) + " needs"
		}
		want := map[jose.SignatureAlgorithm]elliptic.Curve{jose.ES256: elliptic.P256(), jose.ES384: elliptic.P384(), jose.ES512: elliptic.P521()}[alg]
		if k.Curve != want {
			return "the DPoP proof jwk curve does not fit alg " + string(alg)
		}
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		k, ok := key.(*rsa.PublicKey)
		if !ok || k.N == nil {
			return "the DPoP proof jwk is not an RSA key, as alg " + string(alg) + " needs"
		}
		if b := k.N.BitLen(); b < MinRSABits || b > MaxRSABits {
			return fmt.Sprintf("the DPoP proof RSA key has %d bits; %d to %d are accepted", b, MinRSABits, MaxRSABits)
		}
	case jose.EdDSA:
		k, ok := key.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return "the DPoP proof jwk is not an Ed25519 key, as alg EdDSA needs"
		}
	default:
		return "the DPoP proof alg is not supported"
	}
	return ""
}

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint of k,
// base64url-encoded without padding: the jkt of RFC 9449 §6.1 and the
// dpop_jkt of §10.
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	if k == nil || k.Key == nil {
		return "", errors.New("dpop: no key")
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// AccessTokenHash returns base64url(SHA-256(token)), the ath claim of
// RFC 9449 §4.2.
func AccessTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// isProofType reports whether typ names application/dpop+jwt. Media type
// names are case-insensitive and "application/" may be omitted (RFC 7515
// §4.1.9).
func isProofType(typ string) bool {
	return strings.EqualFold(typ, ProofType) || strings.EqualFold(typ, "application/"+ProofType)
}

func isB64URLOrDot(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// stringMember returns m[name] if it is a JSON string.
func stringMember(m map[string]json.RawMessage, name string) (string, bool) {
	r, ok := m[name]
	if !ok || len(r) == 0 || r[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		return "", false
	}
	return s, true
}

// optionalString returns m[name]: present reports whether it is there and
// not null; ok is false if it is there but not a string.
func optionalString(m map[string]json.RawMessage, name string) (s string, present, ok bool) {
	r, found := m[name]
	if !found || string(r) == "null" {
		return "", false, true
	}
	s, ok = stringMember(m, name)
	return s, ok, ok
}

// numericDate decodes an RFC 7519 §2 NumericDate (seconds since the epoch,
// fractions allowed) in a sane range.
func numericDate(r json.RawMessage) (time.Time, bool) {
	if len(r) == 0 || !(r[0] == '-' || '0' <= r[0] && r[0] <= '9') {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(r), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

func constantEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// quote renders a client-supplied value for a description: at most 80
// bytes, characters outside RFC 6749's error_description set (printable
// ASCII except '"' and '\') replaced by '?', in single quotes.
func quote(s string) string {
	const maxLen = 80
	var b strings.Builder
	b.WriteByte('\'')
	n := 0
	for _, r := range s {
		if n == maxLen {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	b.WriteByte('\'')
	return b.String()
}
