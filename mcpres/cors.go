package mcpres

import (
	"net/http"
	"strconv"
)

// CORS (Fetch standard, "CORS protocol") for browser MCP clients such as
// MCP Inspector. The MCP endpoint answers an allowed Origin with that
// origin (never "*", never Access-Control-Allow-Credentials: tokens travel
// in the Authorization header, not in cookies); the protected resource
// metadata is public and answers any origin with "*".
const (
	corsAllowMethods  = "GET, POST, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID, Mcp-Method, Mcp-Name, DPoP"
	corsExposeHeaders = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version, DPoP-Nonce"
	corsMaxAge        = 7200 // seconds; Chromium's cap

	prmAllowMethods = "GET, HEAD, OPTIONS"
	prmAllowHeaders = "Authorization, Content-Type, Accept, MCP-Protocol-Version"
)

// setCORS marks a response to an allowed cross-origin request readable by
// the page at origin, including WWW-Authenticate on 401 and 403.
func setCORS(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// writePreflight answers an OPTIONS request to the MCP endpoint. It runs
// before authentication: a preflight never carries credentials.
func writePreflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	h.Set("Allow", corsAllowMethods)
	w.WriteHeader(http.StatusNoContent)
}

// setPublicCORS opens a public document (the metadata) to every origin.
func setPublicCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", prmAllowMethods)
	h.Set("Access-Control-Allow-Headers", prmAllowHeaders)
	h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
}
