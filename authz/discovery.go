package authz

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Metadata is the authorization server metadata (RFC 8414 §2). Absent
// fields are omitted, never null.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	// RevocationEndpointAuthSigningAlgValuesSupported and its introspection
	// twin list the private_key_jwt algorithms there (RFC 8414 §2).
	RevocationEndpointAuthSigningAlgValuesSupported    []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`
	IntrospectionEndpointAuthMethodsSupported          []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	// ClientIDMetadataDocumentSupported says client_ids may be https URLs
	// of Client ID Metadata Documents; omitted when they are turned off.
	// Claude uses them only if "none" is among
	// token_endpoint_auth_methods_supported too.
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ServiceDocumentation                       string   `json:"service_documentation,omitempty"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// Metadata returns the server's RFC 8414 metadata. The issuer is the
// configured one byte for byte: MCP clients compare it exactly.
func (s *Server) Metadata() Metadata {
	iss := s.cfg.Issuer
	m := Metadata{
		Issuer:                                     iss,
		AuthorizationEndpoint:                      iss + "/authorize",
		TokenEndpoint:                              iss + "/token",
		RevocationEndpoint:                         iss + "/revoke",
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        s.grantTypes(),
		CodeChallengeMethodsSupported:              []string{"S256"},
		TokenEndpointAuthMethodsSupported:          []string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
		TokenEndpointAuthSigningAlgValuesSupported: clientAssertionAlgNames(),
		RevocationEndpointAuthMethodsSupported:     []string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
		AuthorizationResponseIssParameterSupported: true,
		ServiceDocumentation:                       iss + "/",
		JWKSURI:                                    iss + "/jwks",
		IntrospectionEndpoint:                      iss + "/introspect",
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		DPoPSigningAlgValuesSupported:              s.dpop.Algorithms(),
	}
	m.RevocationEndpointAuthSigningAlgValuesSupported = clientAssertionAlgNames()
	m.IntrospectionEndpointAuthSigningAlgValuesSupported = clientAssertionAlgNames()
	if s.cfg.Registration.Mode != RegistrationOff {
		m.RegistrationEndpoint = iss + "/register"
	}
	// "none" is always listed above: metadata-document clients are mostly
	// public.
	m.ClientIDMetadataDocumentSupported = s.cfg.CIMD.enabled()
	for _, sc := range s.cfg.Scopes {
		m.ScopesSupported = append(m.ScopesSupported, sc.Name)
	}
	m.ScopesSupported = slices.Compact(m.ScopesSupported)
	return m
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONCached(w, s.Metadata())
}

// jwksMaxAge is how long /jwks may be cached; keyPublishLead exceeds it.
const jwksMaxAge = 5 * time.Minute

// serveJWKS publishes the public keys that verify access tokens (RFC 7517,
// RFC 9068 §4). A new key is published before it signs; retired keys stay
// until the tokens they signed expired.
func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(jwksMaxAge/time.Second)))
	_, _ = w.Write(s.keys.JWKS(r.Context()))
}
