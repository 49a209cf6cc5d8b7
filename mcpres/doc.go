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
//     (audience, RFC 8707), one without a user, or a DPoP-bound one: 401
//     with error="invalid_token" and error_description;
//   - a token in the query string (?access_token=, RFC 6750 §2.3): 400
//     with error="invalid_request"; tokens are accepted only in the
//     Authorization header (bearer_methods_supported ["header"]);
//   - two Authorization headers: 400 invalid_request;
//   - a tools/call of a tool whose scope the token lacks: 403 with
//     error="insufficient_scope" and the needed scope (step-up, MCP
//     2025-11-25 "Runtime Insufficient Scope Errors");
//   - a verifier that cannot decide (database down): 503, logged at Error.
//
// The token is checked by a TokenVerifier (today the authorization server
// in the same process; later introspection or JWT validation) and is
// never passed on to anything. The middleware is built so that DPoP (RFC
// 9449) is a local change: credentials carry a scheme, TokenInfo carries
// the key thumbprint (JKT), and a challenge has a scheme.
//
// The caller reaches tool handlers through the request context
// (TokenInfoFromContext): the go-sdk stateless handler connects each
// request's session with the HTTP request's context. The go-sdk's own
// auth.RequireBearerToken is not used because it accepts only the Bearer
// scheme and only its own challenge format.
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
// (store.Documents.SearchDocuments and GetDocument take the viewer): a
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
