package authz

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/ory/fosite"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
	"github.com/mcpauthz/mcpauthz/store"
)

// This file binds tokens to DPoP keys at the token endpoint (RFC 9449 §5):
// serveToken verifies the proof before fosite runs, and dpopHandler, a
// fosite token-endpoint handler placed after the grant handlers, decides
// the binding once the grant's stored session is loaded.

// DPoPPolicy is the server-wide DPoP policy.
type DPoPPolicy struct {
	// Require makes DPoP mandatory for every client; without it only
	// clients that registered dpop_bound_access_tokens must use it, and
	// clients that send no proof (ChatGPT today) get Bearer tokens.
	Require bool
	// RequireNonce makes every proof carry a server nonce (RFC 9449 §8).
	RequireNonce bool
}

// replayKeyPrefixAS keeps the token endpoint's jti space apart from the
// resource server's.
const replayKeyPrefixAS = "dpop:as:"

// newDPoPVerifier builds the token endpoint's proof verifier. Nonces are
// stateless (an HMAC of a time step under a key derived from the master
// key), so every instance accepts every other's; jti values are recorded in
// the store, so a proof replayed at another instance is refused too.
func (s *Server) newDPoPVerifier() (*dpop.Verifier, error) {
	return dpop.New(dpop.Config{
		Replay:          s.store,
		IsReplay:        func(err error) bool { return errors.Is(err, store.ErrReplay) },
		Nonces:          dpop.NewNonceSource(s.cfg.Secrets.Nonce, 0, s.now),
		RequireNonce:    s.cfg.DPoP.RequireNonce,
		ReplayKeyPrefix: replayKeyPrefixAS,
		Now:             s.now,
	})
}

// DPoPVerifier returns the token endpoint's proof verifier.
func (s *Server) DPoPVerifier() *dpop.Verifier { return s.dpop }

type proofKey struct{}

// proofFrom returns the verified proof of a token request, or nil.
func proofFrom(ctx context.Context) *dpop.Proof {
	p, _ := ctx.Value(proofKey{}).(*dpop.Proof)
	return p
}

// checkTokenProof verifies the DPoP header of a token request, if any. The
// htu must be this server's token endpoint.
func (s *Server) checkTokenProof(r *http.Request) (*dpop.Proof, error) {
	headers := r.Header.Values(dpop.HeaderName)
	if len(headers) == 0 {
		return nil, nil
	}
	return s.dpop.Verify(r.Context(), headers, dpop.Check{Method: r.Method, URL: s.cfg.Issuer + "/token"})
}

// writeDPoPError answers a token request whose proof failed: 400 with
// invalid_dpop_proof, or use_dpop_nonce and a fresh DPoP-Nonce header
// (RFC 9449 §8). An infrastructure failure is a 500.
func (s *Server) writeDPoPError(w http.ResponseWriter, r *http.Request, err error) {
	var de *dpop.Error
	if !errors.As(err, &de) {
		s.log.ErrorContext(r.Context(), "dpop: verify proof", "error", err)
		writeJSONError(w, &Error{Code: codeServerError, Status: http.StatusInternalServerError, Description: "the proof could not be checked"})
		return
	}
	if de.Code == dpop.CodeUseNonce {
		w.Header().Set(dpop.NonceHeaderName, s.dpop.Nonce())
	}
	s.log.DebugContext(r.Context(), "dpop proof refused", "error", de.Code, "description", de.Description)
	writeJSONError(w, &Error{Code: de.Code, Status: http.StatusBadRequest, Description: de.Description})
}

var jktRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// dpopHandler binds the tokens of a grant to the key of its proof.
type dpopHandler struct{ s *Server }

func (h *dpopHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	gt := r.GetGrantTypes()
	return gt.ExactOne("authorization_code") || gt.ExactOne("refresh_token") || gt.ExactOne("client_credentials")
}

func (h *dpopHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// HandleTokenEndpointRequest decides the binding (RFC 9449 §5, §10):
//   - a code issued with dpop_jkt needs a proof by that key;
//   - a public client's refresh token bound to a key needs a proof by it;
//   - a client that registered dpop_bound_access_tokens, or any client
//     under the server-wide policy, needs a proof;
//   - with a proof, the new tokens are bound to its key (cnf.jkt);
//     without one they are Bearer tokens.
//
// It never handles a request on its own (fosite.ErrUnknownRequest).
func (h *dpopHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	proof := proofFrom(ctx)
	sess := r.GetSession()
	bound := sessionJKT(sess)
	client := r.GetClient()
	switch {
	case r.GetGrantTypes().ExactOne("authorization_code") && bound != "":
		if proof == nil {
			return errDPoP("the authorization code is bound to a DPoP key (dpop_jkt): send a DPoP proof")
		}
		if proof.JKT != bound {
			return errDPoP("the DPoP proof is signed by another key than the one the authorization code is bound to")
		}
	case r.GetGrantTypes().ExactOne("refresh_token") && bound != "" && client.IsPublic():
		if proof == nil {
			return errDPoP("the refresh token is bound to a DPoP key: send a DPoP proof signed by it")
		}
		if proof.JKT != bound {
			return errDPoP("the DPoP proof is signed by another key than the one the refresh token is bound to")
		}
	}
	if proof == nil && (h.s.cfg.DPoP.Require || requiresDPoP(client)) {
		return errDPoP("this client must use DPoP: send a DPoP proof with every token request")
	}
	if proof != nil {
		setSessionJKT(sess, proof.JKT)
	} else {
		clearSessionJKT(sess)
	}
	return fosite.ErrUnknownRequest
}

// PopulateTokenEndpointResponse sets token_type DPoP for bound tokens and
// Bearer, as RFC 6750 and OAuth 2.1 spell it, for the others (the grant
// handlers before it said "bearer": the value is case-insensitive, but
// clients that compare it exactly expect "Bearer").
func (h *dpopHandler) PopulateTokenEndpointResponse(_ context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if sessionJKT(r.GetSession()) != "" {
		resp.SetTokenType("DPoP")
	} else {
		resp.SetTokenType("Bearer")
	}
	return fosite.ErrUnknownRequest
}

func requiresDPoP(c fosite.Client) bool {
	fc, ok := c.(*fositeClient)
	return ok && clientRequiresDPoP(fc.c)
}

// errDPoP is invalid_dpop_proof (RFC 9449 §5.1) in fosite's error type.
func errDPoP(description string) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{ErrorField: dpop.CodeInvalidProof, DescriptionField: "The DPoP proof is invalid.", HintField: description, CodeField: http.StatusBadRequest}
}
