package mcpres

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
)

// maxTokenLength bounds what is handed to the verifier.
const maxTokenLength = 8 << 10

// credentials are what a request presents to authenticate: the scheme of
// its Authorization header, in lower case ("bearer", or "dpop" when DPoP
// is configured: RFC 9449 §7.1, "Authorization: DPoP <token>" plus a DPoP
// proof header), and the token.
type credentials struct {
	scheme string
	token  string
}

// Authorization schemes, lower case.
const (
	schemeBearer = "bearer"
	schemeDPoP   = "dpop"
)

// extractCredentials reads the Authorization header (RFC 6750 §2.1,
// RFC 9449 §7.1). It returns nil credentials and no error when the
// request brings none in a scheme this server accepts (DPoP only when
// acceptDPoP); that earns a challenge without error code (RFC 6750 §3.1,
// last paragraph). The token68 syntax of both schemes is RFC 6750's
// b64token.
func extractCredentials(r *http.Request, acceptDPoP bool) (*credentials, *authError) {
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, &authError{status: http.StatusBadRequest, code: errInvalidRequest,
			desc: "the request has more than one Authorization header"}
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	var c credentials
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		c.scheme = schemeBearer
	case acceptDPoP && strings.EqualFold(scheme, "DPoP"):
		c.scheme = schemeDPoP
	default:
		return nil, nil
	}
	c.token = strings.TrimSpace(rest)
	if c.token == "" || len(c.token) > maxTokenLength || !isB64Token(c.token) {
		name := "bearer"
		if c.scheme == schemeDPoP {
			name = "DPoP"
		}
		return nil, &authError{status: http.StatusUnauthorized, code: errInvalidToken,
			desc: "the " + name + " token is empty or malformed", dpop: c.scheme == schemeDPoP}
	}
	return &c, nil
}

// isB64Token checks RFC 6750 §2.1's b64token: 1*( ALPHA / DIGIT / "-" /
// "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// authenticate checks the credentials of a request to the MCP endpoint
// and returns the verified token and the scheme it came with. A refusal
// comes back as an authError; a verifier or replay store that could not
// decide as a plain error (503).
//
// Beyond what the verifier checks, the token must be unexpired at
// Config.Now, carry this resource in its audience (RFC 8707 §2, MCP
// 2025-11-25 "Access Token Privilege Restriction": a token for another
// resource is invalid here) and act for a user. Under the Bearer scheme
// it must not be bound to a DPoP key (RFC 9449 §7.1: a bound token is
// not a bearer token), and with RequireDPoP the Bearer scheme is refused
// outright. Under the DPoP scheme it must be bound, and the request must
// carry one valid DPoP proof for this method and URL, this token (ath)
// and the token's key (cnf.jkt) (RFC 9449 §4.3, §7.1): see checkProof.
func (s *Server) authenticate(r *http.Request) (*TokenInfo, string, *authError, error) {
	// RFC 6750 §2.3 (URI query parameter) is not supported: tokens leak
	// into logs and histories that way, and MCP 2025-11-25 "Token
	// Requirements" forbids it. Answered like §3.1 "uses more than one
	// method" or a malformed request: 400 invalid_request.
	if r.URL.Query().Has("access_token") {
		return nil, "", &authError{status: http.StatusBadRequest, code: errInvalidRequest,
			desc:   "access tokens are accepted only in the Authorization header, not in the query string",
			scopes: s.cfg.ScopesSupported}, nil
	}
	creds, aerr := extractCredentials(r, s.dpop != nil)
	if aerr != nil {
		aerr.scopes = s.cfg.ScopesSupported
		return nil, "", aerr, nil
	}
	if creds == nil {
		desc := "this MCP server needs an OAuth access token: Authorization: Bearer <token>"
		switch {
		case s.cfg.RequireDPoP:
			desc = "this MCP server needs a DPoP-bound OAuth access token: Authorization: DPoP <token> and a DPoP proof"
		case s.dpop != nil:
			desc = "this MCP server needs an OAuth access token: Authorization: Bearer <token>, or DPoP <token> and a DPoP proof"
		}
		return nil, "", &authError{status: http.StatusUnauthorized, desc: desc, scopes: s.cfg.ScopesSupported}, nil
	}
	isDPoP := creds.scheme == schemeDPoP
	invalid := func(desc string) *authError {
		return &authError{status: http.StatusUnauthorized, code: errInvalidToken, desc: desc, scopes: s.cfg.ScopesSupported, dpop: isDPoP}
	}
	if s.cfg.RequireDPoP && !isDPoP {
		// Not even verified: no bearer token is acceptable here.
		return nil, creds.scheme, invalid("this MCP server accepts only DPoP-bound access tokens: Authorization: DPoP <token> and a DPoP proof (RFC 9449)"), nil
	}
	if isDPoP && len(r.Header.Values(dpop.HeaderName)) == 0 {
		// RFC 9449 §7.1: the DPoP scheme without a proof is an invalid
		// proof, answered before the token costs a verification.
		return nil, creds.scheme, s.proofError(&dpop.Error{Code: dpop.CodeInvalidProof,
			Description: "no DPoP proof was sent: the DPoP scheme needs a DPoP header"}), nil
	}
	ti, err := s.verifier.VerifyAccessToken(r.Context(), creds.token)
	switch {
	case errors.Is(err, ErrInvalidToken):
		return nil, creds.scheme, invalid("the access token is invalid, expired or revoked"), nil
	case err != nil:
		return nil, creds.scheme, nil, err
	case ti == nil:
		return nil, creds.scheme, nil, errors.New("mcpres: the token verifier returned neither a token nor an error")
	}
	switch {
	case !isDPoP && ti.JKT != "":
		return ti, creds.scheme, invalid("the access token is bound to a DPoP key and cannot be used as a bearer token"), nil
	case isDPoP && ti.JKT == "":
		return ti, creds.scheme, invalid("the access token is not bound to a DPoP key; send it with the Bearer scheme"), nil
	case ti.ExpiresAt.IsZero() || !s.cfg.Now().Before(ti.ExpiresAt):
		return ti, creds.scheme, invalid("the access token has expired"), nil
	case !slices.Contains(ti.Audience, s.cfg.Resource):
		return ti, creds.scheme, invalid("the access token was not issued for this resource (" + s.cfg.Resource + ")"), nil
	case ti.Subject == "":
		return ti, creds.scheme, invalid("the access token does not act for a user"), nil
	}
	if isDPoP {
		// Last, so that only proofs for good tokens reach the replay
		// store.
		if aerr, err := s.checkProof(r, creds.token, ti.JKT); aerr != nil || err != nil {
			return ti, creds.scheme, aerr, err
		}
	}
	return ti, creds.scheme, nil, nil
}

// checkToolScopes returns a 403 insufficient_scope refusal (RFC 6750
// §3.1, MCP 2025-11-25 "Runtime Insufficient Scope Errors") when the body
// calls a tool whose scope the token lacks. The challenge names every
// missing scope at once (MCP 2026-07-28: one challenge with all scopes
// the operation needs). Unknown tool names are left to the MCP handler.
func (s *Server) checkToolScopes(ti *TokenInfo, names []string) *authError {
	var missing, tools []string
	for _, name := range names {
		t := s.toolByName(name)
		if t == nil || ti.HasScope(t.scope) {
			continue
		}
		if !slices.Contains(missing, t.scope) {
			missing = append(missing, t.scope)
		}
		if !slices.Contains(tools, name) {
			tools = append(tools, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &authError{status: http.StatusForbidden, code: errInsufficientScope, scopes: missing,
		desc: fmt.Sprintf("the %s tool needs the scope %s", strings.Join(tools, ", "), strings.Join(missing, " "))}
}
