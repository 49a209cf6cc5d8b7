package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/mcpauthz/mcpauthz/store"
)

// fositeStore adapts store.Store to the storage interfaces fosite's handlers
// need. fosite's contract, which this file is the only place to know:
//   - a consumed code is returned with ErrInvalidatedAuthorizeCode and a
//     rotated refresh token with ErrInactiveToken, together with the stored
//     request, so fosite can revoke the whole family;
//   - refresh tokens are marked inactive on rotation, never deleted, so
//     reuse stays detectable until they expire;
//   - Get*Session may be called with a nil session prototype.
type fositeStore struct {
	st    store.Store
	grace time.Duration
	now   func() time.Time
	// audience is the resources a client may get tokens for.
	audience []string
	// cimd resolves client_id URLs (Client ID Metadata Documents).
	cimd *cimdResolver
}

var (
	_ oauth2.CoreStorage            = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage = (*fositeStore)(nil)
	_ fosite.Storage                = (*fositeStore)(nil)
)

// formKeep lists the request parameters worth storing; everything else
// (code, code_verifier, refresh_token, client_secret, assertions) is dropped.
var formKeep = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "resource", "audience", "grant_type", "dpop_jkt", "nonce"}

// GetClient implements fosite.ClientManager. It decorates the clients
// table with Client ID Metadata Documents: a client_id that is a URL is
// looked up through its document (lookupClient), never in the table. An
// unknown client, and a URL whose document cannot be used (wrapping the
// *cimdError that says why), are fosite.ErrNotFound.
func (f *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := f.lookupClient(ctx, id)
	if _, ok := errors.AsType[*cimdError](err); ok || errors.Is(err, store.ErrNotFound) {
		return nil, fosite.ErrNotFound.WithWrap(err)
	} else if err != nil {
		return nil, err
	}
	fc := &fositeClient{c: c, audience: f.audience, redirects: c.RedirectURIs}
	// The approved URI is added only when it is not registered as it is:
	// a client with one registered URI must keep exactly one, or fosite
	// would not fill in a redirect_uri the request left out.
	if a, ok := ctx.Value(redirectKey{}).(approvedRedirect); ok && a.clientID == id && !slices.Contains(c.RedirectURIs, a.uri) {
		fc.redirects = append(append([]string{}, c.RedirectURIs...), a.uri)
	}
	return fc, nil
}

// lookupClient returns the client with this client_id: for a URL, the
// client its metadata document describes (or a *cimdError), and otherwise
// the stored client (or store.ErrNotFound). Every lookup of a client by
// its ID goes through here, so that CIMD clients are found everywhere. The
// returned client must not be modified.
func (f *fositeStore) lookupClient(ctx context.Context, id string) (*store.Client, error) {
	if isURLClientID(id) {
		if f.cimd == nil {
			return nil, &cimdError{URL: id, Reason: "this server does not accept Client ID Metadata Documents"}
		}
		return f.cimd.client(ctx, id)
	}
	return f.st.GetClient(ctx, id)
}

// ClientAssertionJWTValid implements fosite.ClientManager (private_key_jwt
// replay check).
func (f *fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	return nil // UseNonce in SetClientAssertionJWT is the atomic check
}

// SetClientAssertionJWT implements fosite.ClientManager: it records jti
// until exp, atomically, and returns fosite.ErrJTIKnown if it was recorded
// before. authenticateAssertion calls it with a per-client key.
func (f *fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	if err := f.st.UseNonce(ctx, "client_assertion:"+jti, exp); errors.Is(err, store.ErrReplay) {
		return fosite.ErrJTIKnown
	} else if err != nil {
		return err
	}
	return nil
}

func (f *fositeStore) create(ctx context.Context, kind store.RequestKind, sig, accessSig string, req fosite.Requester, tt fosite.TokenType, fallback time.Duration) error {
	sess, err := json.Marshal(req.GetSession())
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	form := url.Values{}
	for _, k := range formKeep {
		if v, ok := req.GetRequestForm()[k]; ok {
			form[k] = v
		}
	}
	now := f.now().UTC()
	exp := time.Time{}
	if s := req.GetSession(); s != nil {
		exp = s.GetExpiresAt(tt)
	}
	if exp.IsZero() {
		exp = now.Add(fallback)
	}
	var subject string
	if s := req.GetSession(); s != nil {
		subject = s.GetSubject()
	}
	return f.st.CreateRequest(ctx, &store.Request{
		Kind:            kind,
		Signature:       sig,
		RequestID:       req.GetID(),
		ClientID:        req.GetClient().GetID(),
		Subject:         subject,
		RequestedAt:     req.GetRequestedAt().UTC(),
		ExpiresAt:       exp.UTC(),
		Scopes:          req.GetRequestedScopes(),
		GrantedScopes:   req.GetGrantedScopes(),
		Audience:        req.GetRequestedAudience(),
		GrantedAudience: req.GetGrantedAudience(),
		Form:            form.Encode(),
		Session:         sess,
		Active:          true,
		AccessSignature: accessSig,
	})
}

// get loads a request and rebuilds it as a fosite.Request. Inactive records
// come back with store.ErrInactive and the request.
func (f *fositeStore) get(ctx context.Context, kind store.RequestKind, sig string, session fosite.Session) (*fosite.Request, *store.Request, error) {
	rec, err := f.st.GetRequest(ctx, kind, sig)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fosite.ErrNotFound.WithWrap(err)
	} else if err != nil && !errors.Is(err, store.ErrInactive) {
		return nil, nil, err
	}
	inactive := err
	client, err := f.requestClient(ctx, kind, rec.ClientID)
	if err != nil {
		// The client was deleted: its requests are as good as gone.
		return nil, nil, fosite.ErrNotFound.WithWrap(err)
	}
	if session == nil {
		session = &oauth2.JWTSession{}
	}
	if err := json.Unmarshal(rec.Session, session); err != nil {
		return nil, nil, fmt.Errorf("decode session: %w", err)
	}
	form, err := url.ParseQuery(rec.Form)
	if err != nil {
		return nil, nil, fmt.Errorf("decode form: %w", err)
	}
	req := &fosite.Request{
		ID:                rec.RequestID,
		RequestedAt:       rec.RequestedAt,
		Client:            client,
		RequestedScope:    rec.Scopes,
		GrantedScope:      rec.GrantedScopes,
		Form:              form,
		Session:           session,
		RequestedAudience: rec.Audience,
		GrantedAudience:   rec.GrantedAudience,
	}
	return req, rec, inactive
}

func notFoundAsFosite(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fosite.ErrNotFound.WithWrap(err)
	}
	return err
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (f *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, sig string, req fosite.Requester) error {
	return f.create(ctx, store.KindAuthCode, sig, "", req, fosite.AuthorizeCode, 10*time.Minute)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage: a used
// code comes back with fosite.ErrInvalidatedAuthorizeCode and its request,
// so fosite revokes the tokens issued from it.
func (f *fositeStore) GetAuthorizeCodeSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := f.get(ctx, store.KindAuthCode, sig, session)
	if errors.Is(err, store.ErrInactive) {
		return req, fmt.Errorf("%w (%w)", fosite.ErrInvalidatedAuthorizeCode, err)
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
// It is atomic: of two concurrent redemptions exactly one succeeds.
func (f *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, sig string) error {
	err := f.st.DeactivateRequest(ctx, store.KindAuthCode, sig, f.now().UTC())
	if errors.Is(err, store.ErrInactive) {
		return fmt.Errorf("%w (%w)", fosite.ErrInvalidatedAuthorizeCode, err)
	}
	return notFoundAsFosite(err)
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	return f.create(ctx, store.KindAccess, sig, "", req, fosite.AccessToken, time.Hour)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := f.get(ctx, store.KindAccess, sig, session)
	if errors.Is(err, store.ErrInactive) {
		return nil, fmt.Errorf("%w (%w)", fosite.ErrInactiveToken, err)
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (f *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return notFoundAsFosite(f.st.DeleteRequest(ctx, store.KindAccess, sig))
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (f *fositeStore) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, req fosite.Requester) error {
	return f.create(ctx, store.KindRefresh, sig, accessSig, req, fosite.RefreshToken, 30*24*time.Hour)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. A token
// rotated out less than the grace window ago is reported as not found
// (invalid_grant, family kept: concurrent refreshes by an honest client);
// an older one with fosite.ErrInactiveToken, which makes fosite revoke the
// whole family (RFC 6819 §5.2.2.3, OAuth 2.1 §4.3.1).
func (f *fositeStore) GetRefreshTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, rec, err := f.get(ctx, store.KindRefresh, sig, session)
	if errors.Is(err, store.ErrInactive) {
		if rec.UsedAt != nil && f.now().Sub(*rec.UsedAt) < f.grace {
			return nil, fosite.ErrNotFound.WithWrap(err).WithHint("The refresh token was already rotated.")
		}
		return req, fmt.Errorf("%w (%w)", fosite.ErrInactiveToken, err)
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage. fosite
// calls it on detected reuse; the token is kept, inactive, so that a third
// use is recognised too.
func (f *fositeStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	err := f.st.DeactivateRequest(ctx, store.KindRefresh, sig, f.now().UTC())
	if errors.Is(err, store.ErrInactive) {
		return nil
	}
	return notFoundAsFosite(err)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the presented
// refresh token becomes inactive (atomically: one of several concurrent
// rotations wins) and the access token issued with it is revoked.
func (f *fositeStore) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	rec, err := f.st.GetRequest(ctx, store.KindRefresh, sig)
	if err != nil {
		if errors.Is(err, store.ErrInactive) {
			return fmt.Errorf("%w (%w)", fosite.ErrInactiveToken, err)
		}
		return notFoundAsFosite(err)
	}
	if err := f.st.DeactivateRequest(ctx, store.KindRefresh, sig, f.now().UTC()); err != nil {
		if errors.Is(err, store.ErrInactive) {
			return fmt.Errorf("%w (%w)", fosite.ErrInactiveToken, err)
		}
		return notFoundAsFosite(err)
	}
	if rec.AccessSignature != "" {
		if err := f.st.DeleteRequest(ctx, store.KindAccess, rec.AccessSignature); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage: every refresh
// token of the family becomes inactive.
func (f *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return f.st.RevokeRequests(ctx, store.KindRefresh, requestID)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage: every access
// token of the family is deleted.
func (f *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	return f.st.RevokeRequests(ctx, store.KindAccess, requestID)
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (f *fositeStore) CreatePKCERequestSession(ctx context.Context, sig string, req fosite.Requester) error {
	return f.create(ctx, store.KindPKCE, sig, "", req, fosite.AuthorizeCode, 10*time.Minute)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (f *fositeStore) GetPKCERequestSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := f.get(ctx, store.KindPKCE, sig, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage. It is
// idempotent: of two concurrent redemptions of one code, the loser finds the
// PKCE session gone and must fail on the code (invalid_grant), not here.
func (f *fositeStore) DeletePKCERequestSession(ctx context.Context, sig string) error {
	if err := f.st.DeleteRequest(ctx, store.KindPKCE, sig); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// BeginTX, Commit and Rollback implement fosite's storage.Transactional, so
// that code redemption and refresh rotation run in one transaction.
func (f *fositeStore) BeginTX(ctx context.Context) (context.Context, error) { return f.st.BeginTX(ctx) }

// Commit implements storage.Transactional.
func (f *fositeStore) Commit(ctx context.Context) error { return f.st.Commit(ctx) }

// Rollback implements storage.Transactional.
func (f *fositeStore) Rollback(ctx context.Context) error { return f.st.Rollback(ctx) }

// requestClient returns the client of a stored request. For an access
// token of a client in the clients table it skips the read: fosite uses
// such a request's client only for its ID, and deleting a client deletes
// its requests, so the row lookup that found the token already proves the
// client exists. This keeps a database read off the hottest path (every
// introspection and every in-process check at the MCP resource). Codes and
// refresh tokens need the whole client (fosite checks its grant types), and
// a CIMD client is looked up so that a withdrawn document ends its tokens.
func (f *fositeStore) requestClient(ctx context.Context, kind store.RequestKind, id string) (fosite.Client, error) {
	if kind == store.KindAccess && !isURLClientID(id) {
		return &fositeClient{c: &store.Client{ID: id}, audience: f.audience}, nil
	}
	return f.GetClient(ctx, id)
}

// rotatedRevocation is a fosite.RevocationHandler for refresh tokens that
// were already rotated. fosite's own handler takes such a token for one
// already revoked and does nothing; but revoking a refresh token revokes
// its grant (RFC 7009 §2.1), and a client that lost a rotation's response
// and revokes the token it still holds must end the family, whose newest
// tokens are live. Any other token is left to fosite's handler.
type rotatedRevocation struct {
	st       *fositeStore
	strategy oauth2.RefreshTokenStrategy
}

func (h *rotatedRevocation) RevokeToken(ctx context.Context, token string, _ fosite.TokenType, client fosite.Client) error {
	req, _, err := h.st.get(ctx, store.KindRefresh, h.strategy.RefreshTokenSignature(ctx, token), nil)
	if !errors.Is(err, store.ErrInactive) || req == nil {
		return fosite.ErrUnknownRequest
	}
	if req.GetClient().GetID() != client.GetID() {
		return fosite.ErrUnauthorizedClient
	}
	if err := errors.Join(h.st.RevokeRefreshToken(ctx, req.GetID()), h.st.RevokeAccessToken(ctx, req.GetID())); err != nil {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err)
	}
	return nil
}
