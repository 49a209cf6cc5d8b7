package authz

// This file authenticates clients at the token, introspection and
// revocation endpoints. It is fosite's ClientAuthenticationStrategy:
// client secrets and public clients go to fosite's default strategy, and
// private_key_jwt client assertions (RFC 7523 §2.2, RFC 7521 §4.2) are
// verified here, because fosite v0.49.0's own check accepts neither EdDSA
// nor keys without "use", compares aud with the token endpoint alone, does
// not bound an assertion's lifetime and reads the wall clock.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"

	"github.com/mcpauthz/mcpauthz/store"
)

// clientAssertionType is RFC 7523 §2.2's client_assertion_type.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

const (
	// maxAssertionLifetime bounds exp-iat of a client assertion, and how far
	// in the future its exp may be: assertions are made for one request.
	maxAssertionLifetime = 5 * time.Minute
	// assertionLeeway allows for clock skew on exp, nbf and iat.
	assertionLeeway = 30 * time.Second
	// maxAssertionBytes bounds the client_assertion parameter.
	maxAssertionBytes = 16 << 10
	// maxJTILen bounds the jti of an assertion.
	maxJTILen = 256
	// maxKeyCandidates bounds the signature checks per assertion.
	maxKeyCandidates = 8
)

// authenticateClient is the server's fosite.ClientAuthenticationStrategy.
// A CIMD client whose document cannot be used gets invalid_client saying
// why.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if form.Get("client_assertion_type") == clientAssertionType {
		return s.authenticateAssertion(ctx, r, form)
	}
	if form.Has("client_assertion") && !form.Has("client_assertion_type") {
		return nil, fosite.ErrInvalidRequest.WithHint("client_assertion needs client_assertion_type " + clientAssertionType + ".")
	}
	// One authentication method per request (RFC 6749 §2.3, OAuth 2.1
	// §2.4): with HTTP Basic, no secret in the body, and a body client_id
	// only if it names the same client. fosite reads only the header then
	// and would ignore a conflicting body.
	if user, _, ok := r.BasicAuth(); ok {
		id, err := url.QueryUnescape(user)
		switch {
		case form.Has("client_secret"):
			return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method: HTTP Basic or client_secret in the body, not both.")
		case err == nil && form.Has("client_id") && form.Get("client_id") != id:
			return nil, fosite.ErrInvalidRequest.WithHint("The client_id in the body is not the client of the HTTP Basic credentials.")
		}
	}
	c, err := s.provider.DefaultClientAuthenticationStrategy(ctx, r, form)
	if err == nil {
		return c, nil
	}
	if ce, ok := errors.AsType[*cimdError](err); ok {
		return nil, fosite.ErrInvalidClient.WithHint(ce.Description()).WithWrap(err)
	}
	// fosite says invalid_request when no credentials were sent or the
	// Basic header is malformed; RFC 6749 §5.2 makes both invalid_client
	// ("no client authentication included").
	if rfc := fosite.ErrorToRFC6749Error(err); rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField {
		return nil, fosite.ErrInvalidClient.WithHint(rfc.HintField).WithWrap(err)
	}
	// Say so when a private_key_jwt client sent no assertion.
	if id := form.Get("client_id"); id != "" {
		if sc, lerr := s.storage.lookupClient(ctx, id); lerr == nil && sc.TokenEndpointAuthMethod == "private_key_jwt" {
			return nil, fosite.ErrInvalidClient.WithHint("This client authenticates with private_key_jwt: send client_assertion_type " + clientAssertionType + " and a client_assertion.").WithWrap(err)
		}
	}
	return nil, err
}

// assertionError is invalid_client (401) with hint.
func assertionError(format string, args ...any) *fosite.RFC6749Error {
	return fosite.ErrInvalidClient.WithHintf(format, args...)
}

// authenticateAssertion verifies a private_key_jwt client assertion
// (RFC 7523 §3): a JWS signed with ES256, EdDSA, PS256 or RS256 by one of
// the client's keys (its jwks, or its jwks_uri fetched through the guarded
// fetcher), with iss and sub the client_id, an aud naming this server (the
// issuer, the token endpoint, or the endpoint called), an exp in the
// future at most maxAssertionLifetime ahead (and after iat), and a jti
// never seen before. Every failure is 401 invalid_client.
func (s *Server) authenticateAssertion(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	raw := form.Get("client_assertion")
	switch {
	case raw == "":
		return nil, fosite.ErrInvalidRequest.WithHint("client_assertion is missing.")
	case len(form["client_assertion"]) > 1:
		return nil, fosite.ErrInvalidRequest.WithHint("client_assertion was sent more than once.")
	case form.Get("client_secret") != "":
		return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method: client_assertion or client_secret, not both.")
	case len(raw) > maxAssertionBytes:
		return nil, assertionError("The client_assertion is larger than %d bytes.", maxAssertionBytes)
	}
	if _, _, ok := r.BasicAuth(); ok {
		return nil, fosite.ErrInvalidRequest.WithHint("Use one client authentication method: client_assertion or HTTP Basic, not both.")
	}
	tok, err := josejwt.ParseSigned(raw, clientAssertionAlgs)
	if err != nil {
		return nil, assertionError("The client_assertion is not a JWT signed with one of %s.", joinAlgs()).WithWrap(err)
	}
	if len(tok.Headers) != 1 {
		return nil, assertionError("The client_assertion must have exactly one signature.")
	}
	hdr := tok.Headers[0]
	var unverified josejwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, assertionError("The claims of the client_assertion cannot be read.").WithWrap(err)
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		clientID = unverified.Subject
	}
	if clientID == "" {
		return nil, assertionError("The client_assertion has no sub claim and the request no client_id.")
	}
	if unverified.Subject != clientID {
		return nil, assertionError("The client_assertion's sub claim must be the client_id.")
	}

	sc, err := s.storage.lookupClient(ctx, clientID)
	if err != nil {
		if ce, ok := errors.AsType[*cimdError](err); ok {
			return nil, fosite.ErrInvalidClient.WithHint(ce.Description()).WithWrap(err)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, assertionError("The client is not registered here (unknown client_id).").WithWrap(err)
		}
		return nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	if sc.TokenEndpointAuthMethod != "private_key_jwt" {
		return nil, assertionError("This client authenticates with %s, not with a client_assertion (private_key_jwt).", sc.TokenEndpointAuthMethod)
	}
	jwks, jwksURI, wantAlg := clientKeys(sc)
	if wantAlg != "" && hdr.Algorithm != wantAlg {
		return nil, assertionError("The client_assertion is signed with %s, but the client registered token_endpoint_auth_signing_alg %s.", hdr.Algorithm, wantAlg)
	}

	// Verify the signature with the client's keys; for a jwks_uri, fetch it
	// again (rate-limited) when no cached key verifies: the client may have
	// rotated its keys.
	var claims josejwt.Claims
	verify := func(set *jose.JSONWebKeySet) bool {
		for _, k := range candidateKeys(set, hdr) {
			if tok.Claims(k.Key, &claims) == nil {
				return true
			}
		}
		return false
	}
	ok := false
	switch {
	case len(jwks) > 0:
		set, err := parseJWKS(jwks)
		if err != nil {
			return nil, assertionError("The client's jwks cannot be used: %s.", err.Error())
		}
		ok = verify(set)
	case jwksURI != "":
		set, err := s.jwks.keys(ctx, jwksURI, false)
		if err == nil {
			ok = verify(set)
			if !ok {
				set, err = s.jwks.keys(ctx, jwksURI, true)
				ok = err == nil && verify(set)
			}
		}
		if err != nil {
			return nil, assertionError("The client's %s.", describeJWKSError(jwksURI, err)).WithWrap(err)
		}
	default:
		return nil, assertionError("The client has no keys (jwks or jwks_uri) to verify a client_assertion with.")
	}
	if !ok {
		if hdr.KeyID != "" {
			return nil, assertionError("The client_assertion's signature does not verify with the client's key %s.", quoteForError(hdr.KeyID))
		}
		return nil, assertionError("The client_assertion's signature does not verify with any of the client's keys.")
	}

	// The claims, with the server's clock.
	now := s.now()
	switch {
	case claims.Issuer != clientID:
		return nil, assertionError("The client_assertion's iss claim must be the client_id.")
	case claims.Subject != clientID:
		return nil, assertionError("The client_assertion's sub claim must be the client_id.")
	case !audienceNamesServer(claims.Audience, s.assertionAudiences(r)):
		return nil, assertionError("The client_assertion's aud claim must be the token endpoint %s or the issuer %s.", s.cfg.Issuer+"/token", s.cfg.Issuer)
	case claims.Expiry == nil:
		return nil, assertionError("The client_assertion has no exp claim.")
	case now.After(claims.Expiry.Time().Add(assertionLeeway)):
		return nil, assertionError("The client_assertion has expired.")
	case claims.Expiry.Time().After(now.Add(maxAssertionLifetime + assertionLeeway)):
		return nil, assertionError("The client_assertion lives too long: its exp must be at most %s ahead.", maxAssertionLifetime)
	case claims.IssuedAt != nil && claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > maxAssertionLifetime:
		return nil, assertionError("The client_assertion lives too long: exp must be at most %s after iat.", maxAssertionLifetime)
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionLeeway)):
		return nil, assertionError("The client_assertion's iat is in the future.")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionLeeway)):
		return nil, assertionError("The client_assertion is not valid yet (nbf).")
	case claims.ID == "":
		return nil, assertionError("The client_assertion has no jti claim.")
	case len(claims.ID) > maxJTILen:
		return nil, assertionError("The client_assertion's jti is longer than %d characters.", maxJTILen)
	}
	// Single use, across instances: the jti is recorded in the store until
	// the assertion could no longer be accepted anyway.
	if err := s.storage.SetClientAssertionJWT(ctx, assertionReplayKey(clientID, claims.ID), claims.Expiry.Time().Add(assertionLeeway)); err != nil {
		if errors.Is(err, fosite.ErrJTIKnown) {
			return nil, assertionError("The client_assertion was already used: its jti has been seen before.")
		}
		return nil, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	return s.storage.GetClient(ctx, clientID)
}

// candidateKeys returns the keys of set that may have signed an assertion
// with header hdr: those with its kid (if it names one) that fit its alg.
func candidateKeys(set *jose.JSONWebKeySet, hdr jose.Header) []jose.JSONWebKey {
	keys := set.Keys
	if hdr.KeyID != "" {
		keys = set.Key(hdr.KeyID)
	}
	var out []jose.JSONWebKey
	for i := range keys {
		if keyFitsAlg(&keys[i], jose.SignatureAlgorithm(hdr.Algorithm)) {
			out = append(out, keys[i])
		}
		if len(out) == maxKeyCandidates {
			break
		}
	}
	return out
}

// assertionAudiences are the aud values that name this server for a
// request to r: the issuer (with or without a trailing slash), the token
// endpoint, and the endpoint r was sent to.
func (s *Server) assertionAudiences(r *http.Request) []string {
	iss := s.cfg.Issuer
	out := []string{iss, iss + "/", iss + "/token"}
	switch r.URL.Path {
	case "/introspect", "/revoke":
		out = append(out, iss+r.URL.Path)
	}
	return out
}

func audienceNamesServer(aud josejwt.Audience, ours []string) bool {
	for _, a := range aud {
		if slices.Contains(ours, a) {
			return true
		}
	}
	return false
}

// assertionReplayKey is the replay-store key of an assertion's jti: jti
// values are unique per client (RFC 7523 §3), so the key is the client's
// too, hashed to a fixed length.
func assertionReplayKey(clientID, jti string) string {
	sum := sha256.Sum256([]byte(clientID + "\x00" + jti))
	return hex.EncodeToString(sum[:])
}

func joinAlgs() string { return strings.Join(clientAssertionAlgNames(), ", ") }
