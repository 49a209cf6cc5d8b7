package authz

import (
	"net/http"
	"slices"
	"strings"
)

// publicCORS lets browser-based MCP clients (MCP Inspector, web clients)
// call an endpoint cross-origin: any origin, never with credentials, so no
// cookie-authenticated action is reachable this way. Preflights are
// answered here.
func publicCORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, MCP-Protocol-Version, DPoP")
			hd.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		hd.Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce, Retry-After")
		h.ServeHTTP(w, r)
	})
}

// methods answers 405 with an Allow header for any method not listed.
// OPTIONS is left to publicCORS.
func methods(h http.HandlerFunc, allowed ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(allowed, r.Method) {
			w.Header().Set("Allow", strings.Join(append(allowed, http.MethodOptions), ", "))
			writeJSONError(w, newError(http.StatusMethodNotAllowed, codeInvalidRequest, "method %s is not allowed here", r.Method))
			return
		}
		h(w, r)
	})
}
