package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"
)

// ResolveResource maps the resource indicators a client sent (RFC 8707 §2)
// to the canonical resource the token will be issued for. Input is matched
// tolerantly, because real clients vary: no value, the bare origin (with or
// without a slash) and a trailing slash all mean the configured resource of
// that shape, the first configured resource when ambiguous. Output is
// always the canonical configured value. Anything else, or more than one
// distinct resource, is invalid_target.
func ResolveResource(requested []string, configured []string) (string, error) {
	if len(configured) == 0 {
		return "", newError(http.StatusBadRequest, codeInvalidTarget, "this server protects no resource")
	}
	var got string
	for _, r := range requested {
		if r == "" {
			continue
		}
		c, ok := matchResource(r, configured)
		if !ok {
			return "", newError(http.StatusBadRequest, codeInvalidTarget, "the resource %q is not served by this authorization server", truncate(r, 200))
		}
		if got != "" && got != c {
			return "", newError(http.StatusBadRequest, codeInvalidTarget, "tokens are issued for one resource at a time")
		}
		got = c
	}
	if got == "" {
		return configured[0], nil
	}
	return got, nil
}

func matchResource(r string, configured []string) (string, bool) {
	u, err := url.Parse(r)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || strings.Contains(r, "#") {
		return "", false
	}
	trimmed := strings.TrimSuffix(r, "/")
	for _, c := range configured {
		if trimmed == c {
			return c, true
		}
	}
	// The bare origin stands for the first configured resource on it
	// (Claude Code has been seen sending the origin).
	if u.Path == "" || u.Path == "/" {
		origin := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
		for _, c := range configured {
			cu, err := url.Parse(c)
			if err == nil && cu.Scheme+"://"+cu.Host == origin {
				return c, true
			}
		}
	}
	return "", false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// resourceHandler is a fosite token-endpoint handler that checks the
// resource parameter of a token request against the resource the grant is
// bound to (RFC 8707 §2.2): a code or refresh token bound to one resource
// cannot be exchanged for another. It never handles a request itself.
type resourceHandler struct{ s *Server }

func (h *resourceHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	gt := r.GetGrantTypes()
	return gt.ExactOne("authorization_code") || gt.ExactOne("refresh_token") || gt.ExactOne("client_credentials")
}

func (h *resourceHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h *resourceHandler) HandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) error {
	requested := r.GetRequestForm()["resource"]
	if r.GetGrantTypes().ExactOne("client_credentials") {
		return h.grantClientCredentials(r, requested)
	}
	if r.GetGrantTypes().ExactOne("refresh_token") {
		// RFC 6749 §6: the scope of a refresh request must not exceed
		// what was granted. fosite grants the original scope whatever is
		// asked; asking for less still gets it (the response's scope says
		// so, §5.1), asking for more is refused.
		for _, sc := range strings.Fields(r.GetRequestForm().Get("scope")) {
			if sc != "offline_access" && !r.GetGrantedScopes().Has(sc) {
				return fosite.ErrInvalidScope.WithHintf("The scope %q was not granted with this refresh token.", truncate(sc, 50))
			}
		}
	}
	if len(requested) > 0 {
		want, err := ResolveResource(requested, h.s.cfg.Resources)
		if err != nil {
			return errInvalidTarget().WithHint(err.(*Error).Description)
		}
		if !r.GetRequestedAudience().Has(want) {
			return errInvalidTarget().WithHintf("The grant was issued for another resource than %q.", want)
		}
	}
	return fosite.ErrUnknownRequest
}

// grantClientCredentials decides what a client_credentials token grants
// (fosite leaves that to the application): the requested scopes, or the
// client's registered ones when it asked for none, for the requested
// resource, or the default one.
func (h *resourceHandler) grantClientCredentials(r fosite.AccessRequester, requested []string) error {
	res, err := ResolveResource(requested, h.s.cfg.Resources)
	if err != nil {
		return errInvalidTarget().WithHint(err.(*Error).Description)
	}
	r.SetRequestedAudience(fosite.Arguments{res})
	r.GrantAudience(res)
	scopes := r.GetRequestedScopes()
	if len(scopes) == 0 {
		for _, sc := range r.GetClient().GetScopes() {
			if sc != "offline_access" {
				scopes = append(scopes, sc)
			}
		}
		r.SetRequestedScopes(scopes)
	}
	for _, sc := range scopes {
		r.GrantScope(sc)
	}
	return fosite.ErrUnknownRequest
}

func (h *resourceHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	return fosite.ErrUnknownRequest
}

// errInvalidTarget is RFC 8707's invalid_target in fosite's error type.
func errInvalidTarget() *fosite.RFC6749Error {
	return &fosite.RFC6749Error{
		ErrorField:       codeInvalidTarget,
		DescriptionField: "The requested resource is invalid, unknown, or malformed.",
		CodeField:        http.StatusBadRequest,
	}
}
