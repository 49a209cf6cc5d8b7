package authz

// This file implements Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document, MCP 2025-11-25 "Client ID
// Metadata Documents"): a client_id that is an https URL names the JSON
// document, published at that URL, that describes the client. The pure
// parts are here: which client_ids are such URLs, and what a valid
// document is. cimdresolve.go fetches, caches and applies the operator's
// policy.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpauthz/mcpauthz/authz/fetch"
	"github.com/mcpauthz/mcpauthz/store"
)

// The values of store.Client.Source.
const (
	// ClientSourceCLI is a client the operator created (mcpauthz client
	// add).
	ClientSourceCLI = "cli"
	// ClientSourceDCR is a client that registered itself (RFC 7591).
	ClientSourceDCR = "dcr"
	// ClientSourceCIMD is a client described by a Client ID Metadata
	// Document. Such a client is never stored: it exists as long as its
	// document does.
	ClientSourceCIMD = "cimd"
)

// isURLClientID reports whether id is in the form of a URL. Such a
// client_id never names a stored client (the server generates those), so
// it is either a Client ID Metadata Document URL or an unknown client.
func isURLClientID(id string) bool { return strings.Contains(id, "://") }

// checkClientIDURL checks the form the draft requires of a Client ID
// Metadata Document URL (§3): https (or, with allowLoopback, http on a
// loopback host), a host, a path other than "/", no single-dot or
// double-dot path segments, no fragment and no user information. It
// returns the parsed URL, or a reason (safe to show) why id is not such a
// URL. Where the URL may lead (private addresses and the like) is the
// fetcher's business, not this function's.
func checkClientIDURL(id string, allowLoopback bool) (*url.URL, string) {
	if len(id) > fetch.MaxURLLength {
		return nil, fmt.Sprintf("the URL is longer than %d bytes", fetch.MaxURLLength)
	}
	if uriCharsProblem(id) != "" {
		return nil, "the URL must consist of printable ASCII characters only"
	}
	if strings.Contains(id, "#") {
		return nil, "the URL must not have a fragment"
	}
	u, err := url.Parse(id)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return nil, "the URL is malformed"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowLoopback && IsLoopbackHost(u.Hostname()):
	default:
		return nil, "the URL must use https"
	}
	if u.User != nil {
		return nil, "the URL must not contain user information"
	}
	if u.Path == "" || u.Path == "/" {
		return nil, "the URL must have a path, such as https://app.example/oauth/client.json"
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, "the URL must not have . or .. path segments"
		}
	}
	return u, ""
}

// Limits of a Client ID Metadata Document beyond those of ClientMetadata.
const maxAuthMethodsSupported = 10

// ParseClientIDMetadataDocument validates body, the Client ID Metadata
// Document fetched from clientID, and returns the client metadata it
// describes, with the defaults applied. It is pure (no I/O, no clock) and
// fails with an *Error (invalid_client_metadata or invalid_redirect_uri)
// whose description names what is wrong.
//
// The document must be one JSON object; unknown members are ignored, a
// null member counts as absent, and a known member of the wrong JSON type
// is an error. The rules, beyond those of ParseClientMetadata for the
// descriptive members:
//
//   - client_id must equal clientID exactly (draft §4.1), and client_name
//     must be present: it is shown to people;
//   - redirect_uris is required; each must pass ValidateRedirectURI under
//     p.AllowedRedirectHosts (a portless loopback URI, which the
//     authorization request then matches on any port, is fine);
//   - client_secret and client_secret_expires_at must not appear (a
//     published document is no place for a secret, draft §4.1);
//   - token_endpoint_auth_method is none or private_key_jwt. When it is
//     absent, token_endpoint_auth_methods_supported (which ChatGPT
//     publishes) decides: private_key_jwt if listed and the document has
//     keys, else none if listed; with neither member, none;
//   - private_key_jwt needs jwks or jwks_uri (one, not both): jwks must be a
//     JWK Set with a usable public signing key, jwks_uri an https URL the
//     fetcher may fetch (p.AllowLoopbackFetch); token_endpoint_auth_signing_alg,
//     when given, must be one of ES256, EdDSA, PS256, RS256. For a none
//     client these members are ignored;
//   - grant_types defaults to authorization_code and refresh_token; grant
//     types the server does not serve to such clients (device_code,
//     jwt-bearer, client_credentials, ...) are ignored rather than refused,
//     since one document serves many servers, but authorization_code must
//     remain; response_types, if given, must include code;
//   - scope is optional: scopes this server does not know are ignored, and
//     with none left the client gets p.DefaultScopes; an application_type
//     other than web or native is ignored too.
func ParseClientIDMetadataDocument(body []byte, clientID string, p MetadataPolicy) (*ClientMetadata, error) {
	fields, err := decodeJSONObjectAs(body, "the document")
	if err != nil {
		return nil, err
	}
	f := fieldReader{fields: fields}
	docID := f.str("client_id")
	supported := f.strList("token_endpoint_auth_methods_supported")
	_, hasSecret := fields["client_secret"]
	if raw := fields["client_secret"]; string(raw) == "null" {
		hasSecret = false
	}
	m := f.metadata()
	if f.err != nil {
		return nil, f.err
	}
	switch {
	case docID == "":
		return nil, metadataError("client_id is missing; it must be the document's own URL")
	case docID != clientID:
		return nil, metadataError("client_id %s is not the URL the document was fetched from, %s", quoteForError(docID), quoteForError(clientID))
	case hasSecret:
		return nil, metadataError("client_secret must not appear in a published metadata document")
	case strings.TrimSpace(m.ClientName) == "":
		return nil, metadataError("client_name is required")
	case len(m.RedirectURIs) == 0:
		return nil, newError(http.StatusBadRequest, codeInvalidRedirectURI, "redirect_uris is required")
	case len(supported) > maxAuthMethodsSupported:
		return nil, metadataError("token_endpoint_auth_methods_supported has more than %d entries", maxAuthMethodsSupported)
	}
	if _, ok := fields["client_secret_expires_at"]; ok && string(fields["client_secret_expires_at"]) != "null" {
		return nil, metadataError("client_secret_expires_at must not appear in a published metadata document")
	}

	hasKeys := len(m.JWKS) > 0 || m.JWKSURI != ""
	switch m.TokenEndpointAuthMethod {
	case "none", "private_key_jwt":
	case "":
		switch {
		case slices.Contains(supported, "private_key_jwt") && hasKeys:
			m.TokenEndpointAuthMethod = "private_key_jwt"
		case slices.Contains(supported, "none"), len(supported) == 0:
			m.TokenEndpointAuthMethod = "none"
		default:
			return nil, metadataError("token_endpoint_auth_methods_supported lists neither none nor private_key_jwt (with jwks or jwks_uri), the methods a metadata-document client may use")
		}
	default:
		return nil, metadataError("token_endpoint_auth_method %s cannot be used by a metadata-document client; use none or private_key_jwt", quoteForError(m.TokenEndpointAuthMethod))
	}

	// Grant and response types: keep what this server serves to such a
	// client, ignore the rest.
	if len(m.GrantTypes) > maxListFieldItems*2 || len(m.ResponseTypes) > maxListFieldItems*2 {
		return nil, metadataError("grant_types or response_types has too many entries")
	}
	if m.GrantTypes != nil {
		m.GrantTypes = slices.DeleteFunc(uniqueStrings(m.GrantTypes), func(g string) bool {
			return g != "authorization_code" && g != "refresh_token"
		})
		if !slices.Contains(m.GrantTypes, "authorization_code") {
			return nil, metadataError("grant_types must include authorization_code")
		}
	}
	if m.ResponseTypes != nil && !slices.Contains(m.ResponseTypes, "code") {
		return nil, metadataError("response_types must include code")
	}
	m.ResponseTypes = nil
	if m.ApplicationType != "web" && m.ApplicationType != "native" {
		m.ApplicationType = "" // a value for some other server's use
	}

	// Scopes: those this server knows, or its defaults.
	if len(m.Scope) > maxScopeLen {
		return nil, metadataError("scope is longer than %d bytes", maxScopeLen)
	}
	m.Scope = strings.Join(slices.DeleteFunc(strings.Fields(m.Scope), func(s string) bool {
		return !slices.Contains(p.Scopes, s)
	}), " ")

	if err := runChecks(m, p, checkClientKeys, checkGrantAndResponseTypes, checkRedirectURIs, checkScope, checkDescriptiveFields); err != nil {
		return nil, err
	}
	return m, nil
}

// cimdClient returns the client that a valid document md, fetched from
// id, describes: public or private_key_jwt, with the document's name,
// redirect URIs, grant types, scopes and keys. It is never stored.
func cimdClient(id string, md *ClientMetadata) *store.Client {
	c := &store.Client{ID: id, Source: ClientSourceCIMD}
	md.ApplyTo(c)
	return c
}

// cimdHost returns the host (with its port, if any) of a metadata-document
// client's client_id, in lower case: the verified identity shown to
// people. It returns "" for any other client.
func cimdHost(c *store.Client) string {
	if c.Source != ClientSourceCIMD {
		return ""
	}
	u, err := url.Parse(c.ID)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// cimdLogo returns the logo_uri of a metadata-document client if it is an
// https URL on the very host of the client_id (so the logo is as verified
// as the host), and "" otherwise and for every other client.
func cimdLogo(c *store.Client) string {
	host := cimdHost(c)
	if host == "" || len(c.Metadata) == 0 {
		return ""
	}
	var d struct {
		LogoURI string `json:"logo_uri"`
	}
	if json.Unmarshal(c.Metadata, &d) != nil || d.LogoURI == "" {
		return ""
	}
	u, err := url.Parse(d.LogoURI)
	if err != nil || u.Scheme != "https" || u.User != nil || strings.ToLower(u.Host) != host {
		return ""
	}
	return d.LogoURI
}

// cimdError says why a client_id URL does not name a usable client: the
// operator's policy, the URL's form, a failed fetch or an invalid
// document. Reason is safe to show to the person and the client.
type cimdError struct {
	URL    string
	Reason string
	Err    error // the cause, for logs
}

func (e *cimdError) Error() string {
	s := "client metadata document " + quoteForError(e.URL) + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *cimdError) Unwrap() error { return e.Err }

// Description is the sentence shown on the error page and sent as the
// error_description of invalid_client.
func (e *cimdError) Description() string {
	return fmt.Sprintf("The client_id %s is a Client ID Metadata Document URL that cannot be used: %s.", quoteForError(e.URL), e.Reason)
}
