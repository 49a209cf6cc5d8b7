// Package mcpres is the MCP resource server of mcpauthz: a Streamable HTTP
// endpoint (MCP 2025-03-26 through 2025-11-25, and the stateless
// 2026-07-28 protocol, all through the official go-sdk in stateless mode)
// offering the documents of package store to MCP clients through two
// read-only tools, search and fetch, in the shape ChatGPT connectors and
// deep research expect.
//
// # Wiring
//
// New takes the configuration, the document store and a TokenVerifier;
// Mount puts three routes on the same mux as the authorization server:
//
//	{Resource path}                                  the MCP endpoint (default /mcp)
//	/.well-known/oauth-protected-resource{path}      RFC 9728 §3.1 metadata
//	/.well-known/oauth-protected-resource            the same document (fallback probe)
//
// Any other path under /.well-known/oauth-protected-resource/ is 404.
//
// # Authorization (OAuth 2.1 resource server, MCP 2025-11-25 "Authorization")
//
// Every request to the MCP endpoint except a CORS preflight is
// authenticated before the transport looks at its method, so an idle
// client's GET with an expired token gets 401 (and refreshes) rather than
// 405 (which sent ChatGPT into a reconnect loop):
//
//   - no usable credentials: 401, WWW-Authenticate: Bearer
//     resource_metadata="…", scope="docs:read" (RFC 6750 §3, RFC 9728
//     §5.1);
//   - a bad, expired or revoked token, one issued for another resource
//     (audience, RFC 8707), one without a user (client_credentials), or a
//     DPoP-bound one presented as a bearer token: 401 with
//     error="invalid_token" and error_description;
//   - a token in the query string (?access_token=, RFC 6750 §2.3): 400
//     with error="invalid_request"; tokens are accepted only in the
//     Authorization header (bearer_methods_supported ["header"]);
//   - two Authorization headers: 400 invalid_request;
//   - a tools/call of a tool whose scope the token lacks: 403 with
//     error="insufficient_scope" and the needed scope (step-up, MCP
//     2025-11-25 "Runtime Insufficient Scope Errors");
//   - a verifier (or DPoP replay store) that cannot decide (database
//     down, authorization server unreachable, introspection credentials
//     refused): 503, logged at Error.
//
// The token is checked by a TokenVerifier (the authorization server in
// the same process, or RemoteVerifier) and is never passed on to
// anything. The caller reaches tool handlers through the request context
// (TokenInfoFromContext): the go-sdk stateless handler connects each
// request's session with the HTTP request's context. The go-sdk's own
// auth.RequireBearerToken is not used because it accepts only the Bearer
// scheme and only its own challenge format.
//
// # DPoP (RFC 9449)
//
// With Config.DPoP set (a *dpop.Verifier with its own replay key prefix,
// e.g. "dpop:rs:"), the endpoint also accepts "Authorization: DPoP
// <token>" with one DPoP header (RFC 9449 §7.1). The proof must be signed
// by the key whose thumbprint is the token's cnf.jkt, name this request's
// method (htm) and URL (htu: the origin of Config.Resource plus the
// request path, never the Host header or r.TLS, so it works behind a
// TLS-terminating proxy; the query is ignored), carry ath, the hash of
// this token, be fresh (iat), and use a jti never seen before (recorded
// in the replay store, after every other check passed). The protected
// resource metadata lists dpop_signing_alg_values_supported.
//
// Refusals under the DPoP scheme carry one DPoP challenge, with the
// accepted algs, resource_metadata and scope, then the error, e.g.
// `DPoP algs="ES256 EdDSA PS256 RS256", resource_metadata="…",
// scope="docs:read", error="invalid_dpop_proof", error_description="…"`:
//
//   - a proof that is missing (RFC 9449 §7.1 treats the DPoP scheme
//     without a proof as an invalid proof, and the token is not even
//     looked at), malformed, replayed, signed by another key, for another
//     method or URL, stale, or without or with a wrong ath:
//     error="invalid_dpop_proof";
//   - a token that is invalid, expired, for another resource, without a
//     user, or not DPoP-bound at all: error="invalid_token";
//   - when the verifier requires server nonces (dpop.Config.Nonces and
//     RequireNonce), a proof without a valid one: error="use_dpop_nonce"
//     (RFC 9449 §9), and the client retries with the DPoP-Nonce header of
//     the answer.
//
// When the verifier has a nonce source, every 401/403/400 of the
// authentication layer and every response to a request authenticated
// with DPoP carries a fresh DPoP-Nonce (exposed to browsers by CORS, as
// the DPoP request header is allowed).
//
// Bearer clients keep their challenge: a request without credentials or
// with the Bearer scheme gets the Bearer challenge first (the TypeScript
// MCP SDK reads the first challenge for resource_metadata), then a DPoP
// challenge without error that only advertises algs (RFC 9449 §7.2). A
// DPoP-bound token presented as Bearer is invalid_token in the Bearer
// challenge. With Config.RequireDPoP, bearer tokens are refused without
// being verified, every refusal carries only the DPoP challenge, and the
// metadata says dpop_bound_access_tokens_required. Without Config.DPoP
// the server behaves as before DPoP: "Authorization: DPoP …" counts as no
// credentials and bound tokens are refused.
//
// # A resource server on its own
//
// RemoteVerifier lets this package run apart from the authorization
// server (another mcpauthz, or any RFC 8414 + RFC 7662 server). It reads
// the authorization server's metadata once (its issuer must match byte
// for byte) and then:
//
//   - verifies an RFC 9068 JWT access token (three parts, typ at+jwt)
//     locally against the JWKS (jwks_uri): an accepted asymmetric
//     algorithm (ES256, EdDSA, PS256, RS256), typ, iss, aud containing
//     RemoteConfig.Resource, exp, iat and nbf with 30 s of leeway (the
//     middleware then holds exp exactly). sub names the user, unless it
//     equals client_id (a client_credentials token, RFC 9068 §2.2, which
//     acts for no user and is refused); cnf.jkt is the DPoP binding. The
//     key set is cached; an unknown kid, or a set older than five
//     minutes, makes it fetch the set again, at most once every 10 s (a
//     withdrawn key stops verifying then; while the set cannot be
//     fetched, known keys go on verifying and unknown kids get 503);
//   - introspects any other token (RFC 7662, client_secret_basic with the
//     introspection client's credentials; without them such tokens are
//     invalid), caching active and inactive answers by the token's
//     SHA-256 for RemoteConfig.CacheTTL (30 s by default, at most 5
//     min), an active one never beyond the token's exp. Refused
//     introspection credentials are a configuration error, answered 503
//     and logged at Error, never a silent "every token is invalid".
//
// Every request to the authorization server goes only to the URLs of the
// operator-configured issuer's metadata (never to a URL a client sent),
// over https unless on loopback, without following redirects, with a 5 s
// timeout and a 1 MiB response cap.
//
// How a remote resource server sees revocation (a user revoking a client
// on the account page, a refresh-token reuse revoking the family, an
// administrator deleting a user or client):
//
//   - JWT access tokens verified with the JWKS: not before the token
//     expires. A JWT carries everything the check needs, so nothing tells
//     the resource it was revoked; the access token lifetime (15 minutes
//     by default) bounds the window. Keep it short.
//   - RemoteConfig.AlwaysIntrospect: every token, JWTs included, is
//     introspected, so revocation shows within CacheTTL, at the price of
//     one call to the authorization server per token per CacheTTL.
//   - opaque access tokens (the authorization server's tokens.format
//     opaque): always introspected, so revocation shows within CacheTTL.
//
// The in-process verifier of cmd/mcpauthz consults the store on every
// request and sees revocation at once.
//
// Config.Issuer is then the remote issuer (the resource's metadata names
// it in authorization_servers), and Config.DocumentBaseURL says where the
// document links of search and fetch point when the documents are not in
// the authorization server's database.
//
// # Tool visibility
//
// A table maps each tool to the scope it needs (search and fetch:
// docs:read). tools/list shows only the tools the token's scopes allow:
// there is one go-sdk server per set of visible tools, built on first use
// and cached. tools/call is checked twice: by peeking at the JSON-RPC body
// (bounded by Config.MaxBodyBytes, then restored) to answer 403 before
// the transport runs, and again in the tool handler.
//
// Which documents a tool sees is decided by the store
// (store.Documents.SearchDocumentTitles and ViewDocument take the viewer): a
// user's own, those shared with them, and public ones. A document the
// caller may not see is reported exactly like one that does not exist.
//
// # Browser clients and DNS rebinding
//
// The Host header must name the issuer's or the resource's host (or a
// Config.AllowedHosts entry) and an Origin header, when present, must be
// the issuer's or resource's origin (or in Config.AllowedOrigins); if
// not, 403 with a JSON body. When the resource is on a loopback host,
// loopback origins of any port are allowed too (MCP Inspector at
// http://localhost:6274 in development); a production deployment that
// wants Inspector lists its origin explicitly. An allowed origin gets
// Access-Control-Allow-Origin: <origin> and Vary: Origin on every answer,
// 401 and 403 included, so the page can read WWW-Authenticate; never
// Access-Control-Allow-Credentials. The metadata is public: CORS "*".
//
// # Limits and logs
//
// tools/call is rate limited per caller (user and client ID) with a token
// bucket; over the limit the call returns a tool result with isError set
// that says when to retry (not HTTP 429, which clients treat as a
// transport failure). Each tool call is logged with the user, client,
// tool, outcome, duration and result size, and for search the query's
// length; never a query, a document text or a token.
package mcpres
