package mcpres

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// prmBasePath is the well-known path of OAuth 2.0 Protected Resource
// Metadata (RFC 9728 §3). The metadata of a resource with a path lives at
// this path followed by the resource's path (§3.1); MCP clients try that
// first and the bare path second (MCP 2025-11-25, "Protected Resource
// Metadata Discovery Requirements"), so both are served.
const prmBasePath = "/.well-known/oauth-protected-resource"

// buildPRM builds the metadata document (RFC 9728 §2): resource, the one
// authorization server, scopes_supported, bearer_methods_supported
// ["header"] (tokens are accepted only in the Authorization header, RFC
// 6750 §2.1) and resource_name; with DPoP, dpop_signing_alg_values_supported
// (RFC 9728 §2, RFC 9449) and, with RequireDPoP,
// dpop_bound_access_tokens_required. Every other member is absent; none
// is ever null.
func buildPRM(cfg Config) *oauthex.ProtectedResourceMetadata {
	m := &oauthex.ProtectedResourceMetadata{
		Resource:               cfg.Resource,
		AuthorizationServers:   []string{cfg.Issuer},
		ScopesSupported:        slices.Clone(cfg.ScopesSupported),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           cfg.ResourceName,
	}
	if cfg.DPoP != nil {
		m.DPOPSigningAlgValuesSupported = cfg.DPoP.Algorithms()
		m.DPOPBoundAccessTokensRequired = cfg.RequireDPoP
	}
	return m
}

// ProtectedResourceMetadata returns a copy of the RFC 9728 metadata this
// server publishes.
func (s *Server) ProtectedResourceMetadata() *oauthex.ProtectedResourceMetadata {
	m := *s.prm
	m.AuthorizationServers = slices.Clone(s.prm.AuthorizationServers)
	m.ScopesSupported = slices.Clone(s.prm.ScopesSupported)
	m.BearerMethodsSupported = slices.Clone(s.prm.BearerMethodsSupported)
	m.DPOPSigningAlgValuesSupported = slices.Clone(s.prm.DPOPSigningAlgValuesSupported)
	return &m
}

// ResourceMetadataURL is the URL of the path-suffixed metadata, the one
// named in every WWW-Authenticate challenge (RFC 9728 §5.1).
func (s *Server) ResourceMetadataURL() string { return s.prmURL }

// servePRM serves the metadata document to any origin (RFC 9728 §3.1:
// public; browser clients fetch it cross-origin).
func (s *Server) servePRM(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setPublicCORS(h)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Allow", prmAllowMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", prmAllowMethods)
		writeJSONError(w, http.StatusMethodNotAllowed, errInvalidRequest, "method "+r.Method+" is not allowed here")
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(s.prmJSON)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.prmJSON)
	}
}

// servePRMSubtree serves the path-suffixed metadata and answers 404 for
// any other path under the well-known prefix, so that a client probing
// for another resource moves on (RFC 9728 §3.2; MCP clients fall back on
// 4xx and give up on 5xx).
func (s *Server) servePRMSubtree(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == s.prmPath {
		s.servePRM(w, r)
		return
	}
	setPublicCORS(w.Header())
	writeJSONError(w, http.StatusNotFound, "not_found", "no protected resource metadata at this path")
}

// marshalPRM encodes the document once, with a trailing newline.
func marshalPRM(m *oauthex.ProtectedResourceMetadata) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
