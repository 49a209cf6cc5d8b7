package mcpres

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// RFC 6750 §3.1 error codes; RFC 9449 §7.1 adds invalid_dpop_proof and
// use_dpop_nonce (dpop.CodeInvalidProof, dpop.CodeUseNonce).
const (
	errInvalidRequest    = "invalid_request"
	errInvalidToken      = "invalid_token"
	errInsufficientScope = "insufficient_scope"
)

// authParam is one auth-param of a challenge (RFC 9110 §11.2).
type authParam struct{ name, value string }

// challenge is one WWW-Authenticate challenge (RFC 9110 §11.6.1): the
// Bearer scheme of RFC 6750 §3 or the DPoP scheme of RFC 9449 §7.1, each
// with RFC 9728 §5.1's resource_metadata.
type challenge struct {
	scheme string
	params []authParam
}

// String renders the challenge with every value as a quoted-string.
func (c challenge) String() string {
	var b strings.Builder
	b.WriteString(c.scheme)
	for i, p := range c.params {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.name)
		b.WriteString(`="`)
		b.WriteString(quotable(p.value))
		b.WriteByte('"')
	}
	return b.String()
}

// authError is a request refused by the authentication layer.
type authError struct {
	status int    // 400, 401 or 403
	code   string // RFC 6750 §3.1 / RFC 9449 §7.1 error code; empty when no credentials came (§3.1 last paragraph)
	desc   string // error_description, for the developer
	// scopes go into the scope parameter: for 401 the scopes a new token
	// should have, for 403 those the operation needs (MCP 2025-11-25,
	// "Runtime Insufficient Scope Errors").
	scopes []string
	// dpop marks a refusal of a request made with the DPoP scheme: the
	// error goes into the DPoP challenge and no Bearer challenge is sent
	// (RFC 9449 §7.1).
	dpop bool
}

// bearerChallenge is the Bearer challenge for e: resource_metadata always,
// so that clients find the authorization server (RFC 9728 §5.1), then
// scope, error and error_description.
func (s *Server) bearerChallenge(e *authError) challenge {
	c := challenge{scheme: "Bearer", params: []authParam{{"resource_metadata", s.prmURL}}}
	return withError(c, e, true)
}

// dpopChallenge is the DPoP challenge (RFC 9449 §7.1): algs, the accepted
// proof algorithms, then resource_metadata (RFC 9728 §5.1, so that a
// DPoP-only client finds the authorization server too), scope, and,
// when withErr, error and error_description.
func (s *Server) dpopChallenge(e *authError, withErr bool) challenge {
	c := challenge{scheme: "DPoP", params: []authParam{{"algs", s.dpopAlgs}, {"resource_metadata", s.prmURL}}}
	return withError(c, e, withErr)
}

func withError(c challenge, e *authError, withErr bool) challenge {
	if len(e.scopes) > 0 {
		c.params = append(c.params, authParam{"scope", strings.Join(e.scopes, " ")})
	}
	if withErr && e.code != "" {
		c.params = append(c.params, authParam{"error", e.code})
		if e.desc != "" {
			c.params = append(c.params, authParam{"error_description", e.desc})
		}
	}
	return c
}

// writeAuthError answers a refused request: the challenges in
// WWW-Authenticate (one header line each), no caching, and a small JSON
// body repeating the error. CORS headers were already set by the caller,
// so a browser client can read WWW-Authenticate.
//
// Which challenges:
//
//   - DPoP not configured: one Bearer challenge, as RFC 6750 §3 says.
//   - DPoP configured, a request without credentials or with the Bearer
//     scheme: the Bearer challenge first (with the error, if any), then a
//     DPoP challenge without error that advertises algs (RFC 9449 §7.2).
//     The Bearer one comes first because MCP clients that know only
//     Bearer (the TypeScript SDK) read the first challenge for
//     resource_metadata.
//   - a request with the DPoP scheme: only the DPoP challenge, with the
//     error (RFC 9449 §7.1).
//   - RequireDPoP: only the DPoP challenge, with the error, whatever the
//     request sent: a bearer token is not acceptable here.
//
// When the DPoP verifier has a nonce source, every refusal also carries
// a fresh DPoP-Nonce (RFC 9449 §9), so a client can put it in its next
// proof without a use_dpop_nonce round trip.
func (s *Server) writeAuthError(w http.ResponseWriter, e *authError) {
	h := w.Header()
	switch {
	case s.dpop == nil:
		h.Add("WWW-Authenticate", s.bearerChallenge(e).String())
	case e.dpop || s.cfg.RequireDPoP:
		h.Add("WWW-Authenticate", s.dpopChallenge(e, true).String())
	default:
		h.Add("WWW-Authenticate", s.bearerChallenge(e).String())
		h.Add("WWW-Authenticate", s.dpopChallenge(e, false).String())
	}
	s.setDPoPNonce(h)
	code := e.code
	if code == "" {
		code = "unauthorized"
	}
	writeJSONError(w, e.status, code, e.desc)
}

// writeJSONError writes {"error": code, "error_description": desc}.
func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, desc})
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// quotable drops the characters RFC 6750 §3 does not allow in an
// error_description (and that would break a quoted-string): it keeps
// %x20-21 / %x23-5B / %x5D-7E.
func quotable(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			b.WriteByte('\'')
		case c < 0x20 || c > 0x7e || c == '\\':
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
