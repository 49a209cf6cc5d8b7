package authz

// This file implements the validation of client metadata (RFC 7591 §2),
// shared by dynamic registration (RFC 7591 §3) and its management protocol
// (RFC 7592 §2.2). It is pure: no I/O, no clock, no randomness.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcpauthz/mcpauthz/authz/fetch"
	"github.com/mcpauthz/mcpauthz/store"
)

// Limits on registered metadata. They are far above what real clients send
// and keep the store, the consent page and logs small.
const (
	maxClientNameLen  = 200  // characters
	maxRedirectURIs   = 20   // entries
	maxContacts       = 10   // entries
	maxContactLen     = 320  // bytes (the longest e-mail address)
	maxInfoURLLen     = 2000 // bytes, client_uri, logo_uri, tos_uri, policy_uri
	maxSoftwareLen    = 200  // characters, software_id and software_version
	maxScopeLen       = 2000 // bytes
	maxListFieldItems = 10   // entries, grant_types and response_types
)

// unnamedClientName is the store.Client.Name of a client that registered no
// client_name. It is never echoed back as client_name.
const unnamedClientName = "Unnamed client"

// ClientMetadata is the client metadata of RFC 7591 §2 that mcpauthz
// registers. Every field is omitted from JSON when empty: some clients
// (Claude Code) reject null values. ParseClientMetadata fills the defaults
// of the fields marked "defaulted", so in a parsed value they are never
// empty (except ResponseTypes for a client without authorization_code).
type ClientMetadata struct {
	// RedirectURIs are the redirect URIs (RFC 6749 §3.1.2); REQUIRED when
	// GrantTypes include authorization_code. Each passed ValidateRedirectURI.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// TokenEndpointAuthMethod is none, client_secret_basic (defaulted,
	// RFC 7591 §2) or client_secret_post.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// GrantTypes are among authorization_code, refresh_token and
	// client_credentials (confidential clients only); defaulted to
	// authorization_code and refresh_token.
	GrantTypes []string `json:"grant_types,omitempty"`
	// ResponseTypes is ["code"] exactly when GrantTypes include
	// authorization_code (RFC 7591 §2.1); defaulted.
	ResponseTypes []string `json:"response_types,omitempty"`
	// ClientName is the name shown to users; OPTIONAL, empty if not given.
	ClientName string `json:"client_name,omitempty"`
	// ClientURI is the client's home page; OPTIONAL.
	ClientURI string `json:"client_uri,omitempty"`
	// LogoURI is the client's logo; OPTIONAL.
	LogoURI string `json:"logo_uri,omitempty"`
	// Scope is the space-separated list of scopes the client may ask for;
	// defaulted to the server's default scopes.
	Scope string `json:"scope,omitempty"`
	// Contacts are people responsible for the client; OPTIONAL.
	Contacts []string `json:"contacts,omitempty"`
	// TOSURI is the client's terms of service; OPTIONAL.
	TOSURI string `json:"tos_uri,omitempty"`
	// PolicyURI is the client's privacy policy; OPTIONAL.
	PolicyURI string `json:"policy_uri,omitempty"`
	// SoftwareID identifies the client software across instances; OPTIONAL.
	SoftwareID string `json:"software_id,omitempty"`
	// SoftwareVersion is the version of the client software; OPTIONAL.
	SoftwareVersion string `json:"software_version,omitempty"`
	// ApplicationType is web or native (OpenID Connect Dynamic Client
	// Registration §2, which MCP 2026-07-28 asks clients to send); OPTIONAL.
	ApplicationType string `json:"application_type,omitempty"`
	// DPoPBoundAccessTokens makes DPoP mandatory for this client: every
	// token request must carry a proof (RFC 9449 §5.2); OPTIONAL.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	// JWKS is the client's JWK Set (RFC 7591 §2), compact JSON, for
	// private_key_jwt (RFC 7523); kept only for such a client.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// JWKSURI is where the client publishes its JWK Set, for
	// private_key_jwt; kept only for such a client. Exactly one of JWKS and
	// JWKSURI is set for a private_key_jwt client.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// TokenEndpointAuthSigningAlg, when set, is the only JWS algorithm the
	// client's assertions may use (ES256, EdDSA, PS256 or RS256).
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
}

// MetadataPolicy is the part of the server's configuration that decides
// which client metadata is acceptable.
type MetadataPolicy struct {
	// Scopes are the scope names the server knows.
	Scopes []string
	// DefaultScopes are registered when a client names none.
	DefaultScopes []string
	// AllowedRedirectHosts, when not empty, limits the hosts of https
	// redirect URIs (see ValidateRedirectURI).
	AllowedRedirectHosts []string
	// AllowLoopbackFetch is the fetcher's development switch: a jwks_uri
	// on a loopback address (http too) is then acceptable.
	AllowLoopbackFetch bool
}

// metadataPolicy returns the MetadataPolicy of cfg.
func metadataPolicy(cfg Config) MetadataPolicy {
	p := MetadataPolicy{
		DefaultScopes:        cfg.DefaultScopes,
		AllowedRedirectHosts: cfg.Registration.AllowedRedirectHosts,
		AllowLoopbackFetch:   cfg.FetchAllowLoopback,
	}
	for _, s := range cfg.Scopes {
		p.Scopes = append(p.Scopes, s.Name)
	}
	return p
}

// ParseClientMetadata decodes and validates a registration request body
// (RFC 7591 §3.1), applies the defaults and returns the metadata to
// register. It fails with an *Error: invalid_redirect_uri for a bad
// redirect URI, invalid_client_metadata for anything else (RFC 7591
// §3.2.2), with a description naming the field at fault.
//
// The body must be a single JSON object. Members with an unknown name
// (including client_id and client_secret, software_statement and
// localized "client_name#fr" variants) are ignored (RFC 7591 §2); a member
// whose value is null counts as absent; a known member of the wrong JSON
// type is an error. Rules beyond the field comments of ClientMetadata:
//
//   - private_key_jwt (RFC 7523) needs the client's public keys, in jwks
//     or jwks_uri (one of them, RFC 7591 §2); jwks must hold a usable
//     public signing key and no private one, jwks_uri must be an https URL
//     the server's fetcher may fetch; token_endpoint_auth_signing_alg, if
//     given, is one of ES256, EdDSA, PS256, RS256. Other clients' jwks,
//     jwks_uri and token_endpoint_auth_signing_alg are ignored;
//   - refresh_token requires authorization_code, which requires at least
//     one redirect URI;
//   - scope values must be well-formed scope tokens (RFC 6749 §3.3); those
//     p does not know are dropped (RFC 7591 §3.2.1 lets the server register
//     less than asked, and the response says what was registered: clients
//     that add openid or profile still register), as is offline_access,
//     since refresh tokens follow the refresh_token grant; a scope that
//     ends up empty takes p.DefaultScopes;
//   - duplicate entries in lists are dropped; an empty list counts as
//     absent, as does a client_name of only white space;
//   - client_uri, logo_uri, tos_uri and policy_uri must be absolute https
//     URLs (http on loopback hosts);
//   - texts (client_name, contacts, software_*) must not contain control or
//     bidirectional-override characters, which could disguise the name on
//     the consent page.
func ParseClientMetadata(body []byte, p MetadataPolicy) (*ClientMetadata, error) {
	fields, err := decodeJSONObject(body)
	if err != nil {
		return nil, err
	}
	return clientMetadataFromFields(fields, p)
}

// decodeJSONObject decodes body, which must hold exactly one JSON object,
// into its raw members.
func decodeJSONObject(body []byte) (map[string]json.RawMessage, error) {
	return decodeJSONObjectAs(body, "the request body")
}

// decodeJSONObjectAs is decodeJSONObject for body called what in errors.
func decodeJSONObjectAs(body []byte, what string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, metadataError("%s is empty: send the client metadata as a JSON object", what)
		case errors.As(err, &typeErr):
			return nil, metadataError("%s must be a JSON object", what)
		default:
			return nil, metadataError("%s is not valid JSON: %v", what, err)
		}
	}
	if fields == nil {
		return nil, metadataError("%s must be a JSON object", what)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, metadataError("%s must hold a single JSON object and nothing after it", what)
	}
	return fields, nil
}

// clientMetadataFromFields validates the decoded members of a registration
// or update request.
func clientMetadataFromFields(fields map[string]json.RawMessage, p MetadataPolicy) (*ClientMetadata, error) {
	f := fieldReader{fields: fields}
	m := f.metadata()
	if f.err != nil {
		return nil, f.err
	}
	if err := runChecks(m, p, checkAuthMethod, checkClientKeys, checkGrantAndResponseTypes, checkRedirectURIs, checkScope, checkDescriptiveFields); err != nil {
		return nil, err
	}
	return m, nil
}

// runChecks applies checks to m in order and returns the first error.
func runChecks(m *ClientMetadata, p MetadataPolicy, checks ...func(*ClientMetadata, MetadataPolicy) error) error {
	for _, check := range checks {
		if err := check(m, p); err != nil {
			return err
		}
	}
	return nil
}

// checkAuthMethod applies RFC 7591 §2's default, client_secret_basic.
func checkAuthMethod(m *ClientMetadata, _ MetadataPolicy) error {
	switch m.TokenEndpointAuthMethod {
	case "":
		m.TokenEndpointAuthMethod = "client_secret_basic"
	case "none", "client_secret_basic", "client_secret_post", "private_key_jwt":
	default:
		return metadataError("token_endpoint_auth_method %s is not supported; use none, client_secret_basic, client_secret_post or private_key_jwt", quoteForError(m.TokenEndpointAuthMethod))
	}
	return nil
}

// usesSecret reports whether a client authenticating with method gets a
// client secret.
func usesSecret(method string) bool {
	return method == "client_secret_basic" || method == "client_secret_post"
}

// authKind groups token endpoint authentication methods into those a
// client may switch between: none, secret or key.
func authKind(method string) string {
	switch {
	case method == "none":
		return "none"
	case usesSecret(method):
		return "secret"
	default:
		return "key"
	}
}

// checkClientKeys checks the keys of a private_key_jwt client (RFC 7523
// §2.2, RFC 7591 §2) and drops jwks, jwks_uri and
// token_endpoint_auth_signing_alg from any other client. It is pure: a
// jwks_uri is checked with fetch.CheckURL, never fetched.
func checkClientKeys(m *ClientMetadata, p MetadataPolicy) error {
	if m.TokenEndpointAuthMethod != "private_key_jwt" {
		m.JWKS, m.JWKSURI, m.TokenEndpointAuthSigningAlg = nil, "", ""
		return nil
	}
	switch {
	case len(m.JWKS) == 0 && m.JWKSURI == "":
		return metadataError("token_endpoint_auth_method private_key_jwt needs the client's public keys: send jwks or jwks_uri")
	case len(m.JWKS) > 0 && m.JWKSURI != "":
		return metadataError("send jwks or jwks_uri, not both (RFC 7591 §2)")
	case len(m.JWKS) > 0:
		if _, err := parseJWKS(m.JWKS); err != nil {
			return metadataError("jwks cannot be used: %v", err)
		}
	default:
		if _, err := fetch.CheckURL(m.JWKSURI, p.AllowLoopbackFetch); err != nil {
			reason := "it is not a URL the server may fetch"
			if fe, ok := errors.AsType[*fetch.Error](err); ok {
				reason = fe.Reason
			}
			return metadataError("jwks_uri %s cannot be used: %s", quoteForError(m.JWKSURI), reason)
		}
	}
	if a := m.TokenEndpointAuthSigningAlg; a != "" && !supportedAssertionAlg(a) {
		return metadataError("token_endpoint_auth_signing_alg %s is not supported; use one of %s", quoteForError(a), strings.Join(clientAssertionAlgNames(), ", "))
	}
	return nil
}

// checkGrantAndResponseTypes checks grant_types and response_types and
// their consistency (RFC 7591 §2.1).
func checkGrantAndResponseTypes(m *ClientMetadata, _ MetadataPolicy) error {
	if len(m.GrantTypes) > maxListFieldItems {
		return metadataError("grant_types has more than %d entries", maxListFieldItems)
	}
	if len(m.ResponseTypes) > maxListFieldItems {
		return metadataError("response_types has more than %d entries", maxListFieldItems)
	}
	m.GrantTypes = uniqueStrings(m.GrantTypes)
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	for _, g := range m.GrantTypes {
		switch g {
		case "authorization_code", "refresh_token":
		case "client_credentials":
			if m.TokenEndpointAuthMethod == "none" {
				return metadataError("grant type client_credentials requires a confidential client: token_endpoint_auth_method must not be none")
			}
		case "implicit":
			return metadataError("grant type implicit is not supported (OAuth 2.1 removed it); use authorization_code")
		default:
			return metadataError("grant type %s is not supported; use authorization_code, refresh_token or client_credentials", quoteForError(g))
		}
	}
	code := slices.Contains(m.GrantTypes, "authorization_code")
	if slices.Contains(m.GrantTypes, "refresh_token") && !code {
		return metadataError("grant type refresh_token requires authorization_code")
	}

	m.ResponseTypes = uniqueStrings(m.ResponseTypes)
	if len(m.ResponseTypes) == 0 {
		if code {
			m.ResponseTypes = []string{"code"}
		}
		return nil
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return metadataError("response type %s is not supported; only code is (OAuth 2.1)", quoteForError(rt))
		}
	}
	if !code {
		return metadataError("response type code requires grant type authorization_code (RFC 7591 §2.1)")
	}
	return nil
}

// checkRedirectURIs validates each redirect URI and requires one for the
// authorization_code grant.
func checkRedirectURIs(m *ClientMetadata, p MetadataPolicy) error {
	if len(m.RedirectURIs) > maxRedirectURIs {
		return newError(http.StatusBadRequest, codeInvalidRedirectURI, "redirect_uris has more than %d entries", maxRedirectURIs)
	}
	m.RedirectURIs = uniqueStrings(m.RedirectURIs)
	for _, u := range m.RedirectURIs {
		if err := ValidateRedirectURI(u, p.AllowedRedirectHosts); err != nil {
			return err
		}
	}
	if len(m.RedirectURIs) == 0 && slices.Contains(m.GrantTypes, "authorization_code") {
		return newError(http.StatusBadRequest, codeInvalidRedirectURI, "redirect_uris is required for the authorization_code grant")
	}
	return nil
}

// isScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// one or more of %x21 / %x23-5B / %x5D-7E.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// checkScope validates and normalizes scope: well-formed tokens, single
// spaces, no duplicates, only scopes the server knows, no offline_access,
// defaults when empty.
func checkScope(m *ClientMetadata, p MetadataPolicy) error {
	if len(m.Scope) > maxScopeLen {
		return metadataError("scope is longer than %d bytes", maxScopeLen)
	}
	var scopes []string
	for _, s := range strings.Split(m.Scope, " ") {
		switch {
		case !isScopeToken(s) && s != "":
			return metadataError("scope %s is not a valid scope token (RFC 6749 §3.3)", quoteForError(s))
		case s == "" || s == "offline_access" || slices.Contains(scopes, s):
		case slices.Contains(p.Scopes, s):
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 {
		scopes = p.DefaultScopes
	}
	m.Scope = strings.Join(scopes, " ")
	return nil
}

// checkDescriptiveFields checks the fields that only describe the client.
func checkDescriptiveFields(m *ClientMetadata, _ MetadataPolicy) error {
	if strings.TrimSpace(m.ClientName) == "" {
		m.ClientName = ""
	}
	if err := checkMetadataText("client_name", m.ClientName, maxClientNameLen); err != nil {
		return err
	}
	if err := checkMetadataText("software_id", m.SoftwareID, maxSoftwareLen); err != nil {
		return err
	}
	if err := checkMetadataText("software_version", m.SoftwareVersion, maxSoftwareLen); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{
		{"client_uri", m.ClientURI},
		{"logo_uri", m.LogoURI},
		{"tos_uri", m.TOSURI},
		{"policy_uri", m.PolicyURI},
	} {
		if err := checkInfoURL(f.name, f.value); err != nil {
			return err
		}
	}
	if len(m.Contacts) > maxContacts {
		return metadataError("contacts has more than %d entries", maxContacts)
	}
	m.Contacts = uniqueStrings(m.Contacts)
	for _, c := range m.Contacts {
		if strings.TrimSpace(c) == "" {
			return metadataError("contacts must not contain empty entries")
		}
		if len(c) > maxContactLen {
			return metadataError("contacts has an entry longer than %d bytes", maxContactLen)
		}
		if err := checkMetadataText("contacts", c, maxContactLen); err != nil {
			return err
		}
	}
	switch m.ApplicationType {
	case "", "web", "native":
	default:
		return metadataError("application_type %s is not one of web, native", quoteForError(m.ApplicationType))
	}
	return nil
}

// checkMetadataText checks a human-readable field: at most maxChars characters, no
// control characters, no invisible bidirectional formatting.
func checkMetadataText(field, s string, maxChars int) error {
	if utf8.RuneCountInString(s) > maxChars {
		return metadataError("%s is longer than %d characters", field, maxChars)
	}
	for _, r := range s {
		if unicode.IsControl(r) || isBidiControl(r) {
			return metadataError("%s must not contain control or bidirectional formatting characters", field)
		}
	}
	return nil
}

// isBidiControl reports whether r is an invisible bidirectional formatting
// character (Unicode UAX #9), which can reorder what a user reads.
func isBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F ||
		(r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// checkInfoURL checks a URL the consent page may link to or load: empty, or
// an absolute https URL (http only on a loopback host) with a host and no
// user info.
func checkInfoURL(field, raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > maxInfoURLLen {
		return metadataError("%s is longer than %d bytes", field, maxInfoURLLen)
	}
	if msg := uriCharsProblem(raw); msg != "" {
		return metadataError("%s %s", field, msg)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || !isHostName(u.Hostname()) {
		return metadataError("%s %s is not an absolute https URL", field, quoteForError(raw))
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackHost(u.Hostname())) {
		return metadataError("%s %s must use https", field, quoteForError(raw))
	}
	if u.User != nil {
		return metadataError("%s %s must not contain user info", field, quoteForError(raw))
	}
	return nil
}

// ApplyTo writes m into c: Name (unnamedClientName when m has no
// ClientName), RedirectURIs, GrantTypes, ResponseTypes, Scopes,
// TokenEndpointAuthMethod and Metadata, a JSON object holding the
// descriptive fields (client_name as given, client_uri, logo_uri, tos_uri,
// policy_uri, contacts, software_id, software_version, application_type,
// dpop_bound_access_tokens) and the keys of a private_key_jwt client (jwks,
// jwks_uri, token_endpoint_auth_signing_alg). The ID, secrets, Source,
// Introspect and times are left to the caller.
func (m *ClientMetadata) ApplyTo(c *store.Client) {
	c.Name = m.ClientName
	if c.Name == "" {
		c.Name = unnamedClientName
	}
	c.RedirectURIs = slices.Clone(m.RedirectURIs)
	c.GrantTypes = slices.Clone(m.GrantTypes)
	c.ResponseTypes = slices.Clone(m.ResponseTypes)
	c.Scopes = strings.Fields(m.Scope)
	c.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
	c.Metadata, _ = json.Marshal(descriptiveMetadata{
		ClientName:      m.ClientName,
		ClientURI:       m.ClientURI,
		LogoURI:         m.LogoURI,
		Contacts:        m.Contacts,
		TOSURI:          m.TOSURI,
		PolicyURI:       m.PolicyURI,
		SoftwareID:      m.SoftwareID,
		SoftwareVersion: m.SoftwareVersion,
		ApplicationType: m.ApplicationType,
		DPoPBound:       m.DPoPBoundAccessTokens,
		JWKS:            m.JWKS,
		JWKSURI:         m.JWKSURI,
		SigningAlg:      m.TokenEndpointAuthSigningAlg,
	}) // cannot fail: strings, string slices and valid JSON only
}

// ClientMetadataOf returns the registered metadata of c, the inverse of
// ApplyTo. For a client without Metadata (one registered on the command
// line), ClientName is c.Name. It fails only if c.Metadata is not a JSON
// object of the expected shape.
func ClientMetadataOf(c *store.Client) (*ClientMetadata, error) {
	m := &ClientMetadata{
		RedirectURIs:            slices.Clone(c.RedirectURIs),
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		GrantTypes:              slices.Clone(c.GrantTypes),
		ResponseTypes:           slices.Clone(c.ResponseTypes),
		Scope:                   strings.Join(c.Scopes, " "),
	}
	if len(c.Metadata) == 0 {
		m.ClientName = c.Name
		return m, nil
	}
	var d descriptiveMetadata
	if err := json.Unmarshal(c.Metadata, &d); err != nil {
		return nil, fmt.Errorf("client %q: decode metadata: %w", c.ID, err)
	}
	m.ClientName = d.ClientName
	m.ClientURI = d.ClientURI
	m.LogoURI = d.LogoURI
	m.Contacts = d.Contacts
	m.TOSURI = d.TOSURI
	m.PolicyURI = d.PolicyURI
	m.SoftwareID = d.SoftwareID
	m.SoftwareVersion = d.SoftwareVersion
	m.ApplicationType = d.ApplicationType
	m.DPoPBoundAccessTokens = d.DPoPBound
	if len(d.JWKS) > 0 {
		m.JWKS = d.JWKS
	}
	m.JWKSURI = d.JWKSURI
	m.TokenEndpointAuthSigningAlg = d.SigningAlg
	return m, nil
}

// descriptiveMetadata is the JSON kept in store.Client.Metadata.
type descriptiveMetadata struct {
	ClientName      string   `json:"client_name,omitempty"`
	ClientURI       string   `json:"client_uri,omitempty"`
	LogoURI         string   `json:"logo_uri,omitempty"`
	Contacts        []string `json:"contacts,omitempty"`
	TOSURI          string   `json:"tos_uri,omitempty"`
	PolicyURI       string   `json:"policy_uri,omitempty"`
	SoftwareID      string   `json:"software_id,omitempty"`
	SoftwareVersion string   `json:"software_version,omitempty"`
	ApplicationType string   `json:"application_type,omitempty"`
	DPoPBound       bool     `json:"dpop_bound_access_tokens,omitempty"`
	// The keys of a private_key_jwt client.
	JWKS       json.RawMessage `json:"jwks,omitempty"`
	JWKSURI    string          `json:"jwks_uri,omitempty"`
	SigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
}

// clientKeys returns the keys of a private_key_jwt client: its JWK Set
// or the URL of one, and the one signing algorithm it registered ("" for
// any supported one).
func clientKeys(c *store.Client) (jwks json.RawMessage, jwksURI, alg string) {
	if len(c.Metadata) == 0 {
		return nil, "", ""
	}
	var d descriptiveMetadata
	if json.Unmarshal(c.Metadata, &d) != nil {
		return nil, "", ""
	}
	return d.JWKS, d.JWKSURI, d.SigningAlg
}

// clientRequiresDPoP reports whether c registered dpop_bound_access_tokens.
func clientRequiresDPoP(c *store.Client) bool {
	if len(c.Metadata) == 0 {
		return false
	}
	var d struct {
		DPoPBound bool `json:"dpop_bound_access_tokens"`
	}
	return json.Unmarshal(c.Metadata, &d) == nil && d.DPoPBound
}

// fieldReader decodes members of a JSON object by exact name, remembering
// the first type error.
type fieldReader struct {
	fields map[string]json.RawMessage
	err    error
}

// str returns the string member name, or "" if absent or null.
func (f *fieldReader) str(name string) string {
	raw, ok := f.fields[name]
	if !ok || f.err != nil {
		return ""
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		f.err = metadataError("%s must be a string", name)
		return ""
	}
	if s == nil {
		return ""
	}
	return *s
}

// metadata reads the RFC 7591 §2 members (and the few extensions we
// register) shared by registration requests and Client ID Metadata
// Documents. Errors collect in f.err.
func (f *fieldReader) metadata() *ClientMetadata {
	return &ClientMetadata{
		RedirectURIs:                f.strList("redirect_uris"),
		TokenEndpointAuthMethod:     f.str("token_endpoint_auth_method"),
		GrantTypes:                  f.strList("grant_types"),
		ResponseTypes:               f.strList("response_types"),
		ClientName:                  f.str("client_name"),
		ClientURI:                   f.str("client_uri"),
		LogoURI:                     f.str("logo_uri"),
		Scope:                       f.str("scope"),
		Contacts:                    f.strList("contacts"),
		TOSURI:                      f.str("tos_uri"),
		PolicyURI:                   f.str("policy_uri"),
		SoftwareID:                  f.str("software_id"),
		SoftwareVersion:             f.str("software_version"),
		ApplicationType:             f.str("application_type"),
		DPoPBoundAccessTokens:       f.boolean("dpop_bound_access_tokens"),
		JWKS:                        f.object("jwks"),
		JWKSURI:                     f.str("jwks_uri"),
		TokenEndpointAuthSigningAlg: f.str("token_endpoint_auth_signing_alg"),
	}
}

// boolean returns the boolean member name, or false if absent or null.
func (f *fieldReader) boolean(name string) bool {
	raw, ok := f.fields[name]
	if !ok || f.err != nil {
		return false
	}
	var b *bool
	if err := json.Unmarshal(raw, &b); err != nil {
		f.err = metadataError("%s must be true or false", name)
		return false
	}
	return b != nil && *b
}

// object returns the JSON object member name, compacted, or nil if absent
// or null.
func (f *fieldReader) object(name string) json.RawMessage {
	raw, ok := f.fields[name]
	if !ok || f.err != nil || string(raw) == "null" {
		return nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil || probe == nil {
		f.err = metadataError("%s must be a JSON object", name)
		return nil
	}
	// json.Marshal compacts it as it will be stored and echoed (with HTML
	// characters escaped), so that the stored form is a fixed point.
	out, err := json.Marshal(raw)
	if err != nil {
		f.err = metadataError("%s must be a JSON object", name)
		return nil
	}
	return out
}

// strList returns the array-of-strings member name, or nil if absent or
// null.
func (f *fieldReader) strList(name string) []string {
	raw, ok := f.fields[name]
	if !ok || f.err != nil {
		return nil
	}
	var ss []*string
	if err := json.Unmarshal(raw, &ss); err != nil {
		f.err = metadataError("%s must be an array of strings", name)
		return nil
	}
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s == nil {
			f.err = metadataError("%s must be an array of strings, without null", name)
			return nil
		}
		out = append(out, *s)
	}
	return out
}

// metadataError returns an invalid_client_metadata *Error (status 400).
func metadataError(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, codeInvalidClientMetadata, format, args...)
}

// uniqueStrings returns ss without repeated entries, in order; nil for an
// empty list.
func uniqueStrings(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
