package authz

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/mcpauthz/mcpauthz/authz/fetch"
	"github.com/mcpauthz/mcpauthz/store"
)

// Bounds of the Client ID Metadata Document cache. A document is used for
// as long as its HTTP caching headers say, within [cimdMinTTL,
// cimdMaxTTL]; one without them, or with no-store, for cimdMinTTL. A
// failure is remembered for cimdFailureTTL, so that a client_id cannot make
// the server fetch on every request.
//
// Stale if error (in the spirit of RFC 5861): when the refetch of an
// expired document fails for want of availability (fetch.Error's
// Unavailable: no connection, a time-out, a 5xx or 429), the copy that was
// valid is used on, for cimdFailureTTL at a time, until cimdStaleIfError
// after it expired, so that an outage of the client's web site does not
// lock its users out. A document its site no longer serves (any other
// status), that no longer validates or that the fetcher refuses is dropped
// at once.
const (
	cimdMinTTL       = 5 * time.Minute
	cimdMaxTTL       = 24 * time.Hour
	cimdFailureTTL   = 30 * time.Second
	cimdStaleIfError = 24 * time.Hour
	cimdCacheEntries = 1000
)

// cimdResolver turns client_id URLs into clients: it applies the
// operator's policy, fetches the document through the guarded fetcher,
// validates it and keeps the result in a bounded in-memory cache.
// Concurrent lookups of one URL share one fetch. It is safe for
// concurrent use.
type cimdResolver struct {
	policy        CIMDPolicy
	meta          MetadataPolicy
	allowLoopback bool
	fetcher       *fetch.Fetcher
	now           func() time.Time
	log           *slog.Logger
	docs          *remoteCache[*store.Client] // a client, or a *cimdError
}

func newCIMDResolver(cfg Config, f *fetch.Fetcher) *cimdResolver {
	return &cimdResolver{
		policy:        cfg.CIMD,
		meta:          metadataPolicy(cfg),
		allowLoopback: cfg.FetchAllowLoopback,
		fetcher:       f,
		now:           cfg.Now,
		log:           cfg.Logger,
		docs: newRemoteCache[*store.Client]("client metadata document", "client_id",
			cimdCacheEntries, cimdStaleIfError, cimdFailureTTL, cfg.Now, cfg.Logger),
	}
}

// client returns the client the metadata document at id describes, or a
// *cimdError. The returned client is shared: callers must not modify it.
func (r *cimdResolver) client(ctx context.Context, id string) (*store.Client, error) {
	if err := r.allowed(id); err != nil {
		return nil, err
	}
	e, err := r.docs.get(ctx, id,
		func(e *remoteEntry[*store.Client], now time.Time) bool { return now.Before(e.expires) },
		func(ctx context.Context) *remoteEntry[*store.Client] { return r.load(ctx, id) })
	if err != nil {
		return nil, err
	}
	if errors.Is(e.err, errFetchBusy) {
		return nil, &cimdError{URL: id, Reason: "it could not be fetched: " + errFetchBusy.Error(), Err: e.err}
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.val, nil
}

// allowed applies the policy and the URL form rules to id, before any
// network activity.
func (r *cimdResolver) allowed(id string) *cimdError {
	if !r.policy.enabled() {
		return &cimdError{URL: id, Reason: "this server does not accept Client ID Metadata Documents; the application must register (or be registered) instead"}
	}
	u, problem := checkClientIDURL(id, r.allowLoopback)
	if problem != "" {
		return &cimdError{URL: id, Reason: problem}
	}
	if r.policy.Mode == CIMDAllowlist && !cimdHostAllowed(u.Hostname(), r.policy.AllowedHosts) {
		return &cimdError{URL: id, Reason: "this server does not accept metadata documents from " + strings.ToLower(u.Hostname())}
	}
	return nil
}

// load fetches and validates the document at id.
func (r *cimdResolver) load(ctx context.Context, id string) *remoteEntry[*store.Client] {
	start := r.now()
	fail := func(reason string, cause error) *remoteEntry[*store.Client] {
		e := &cimdError{URL: id, Reason: reason, Err: cause}
		r.log.InfoContext(ctx, "client metadata document refused", "client_id", id, "error", e)
		return &remoteEntry[*store.Client]{err: e, fetchedAt: start, expires: start.Add(cimdFailureTTL)}
	}
	resp, err := r.fetcher.Get(ctx, fetch.Request{
		URL:      id,
		MaxBytes: fetch.MaxBytesClientMetadata,
		Accept:   []string{"application/json"},
	})
	if err != nil {
		if fe, ok := errors.AsType[*fetch.Error](err); ok {
			e := fail("it could not be fetched: "+fe.Reason, err)
			e.unavailable = fe.Unavailable
			return e
		}
		return fail("it could not be fetched", err)
	}
	md, err := ParseClientIDMetadataDocument(resp.Body, id, r.meta)
	if err != nil {
		reason := "it is not a valid client metadata document"
		if e, ok := errors.AsType[*Error](err); ok {
			reason += ": " + e.Description
		}
		return fail(reason, nil)
	}
	c := cimdClient(id, md)
	c.CreatedAt, c.UpdatedAt = start.UTC(), start.UTC()
	ttl := cacheLifetime(resp.Header, start, cimdMinTTL, cimdMaxTTL, cimdMinTTL)
	r.log.DebugContext(ctx, "client metadata document loaded", "client_id", id, "client_name", c.Name, "token_endpoint_auth_method", c.TokenEndpointAuthMethod, "cache", ttl)
	return &remoteEntry[*store.Client]{val: c, fetchedAt: start, expires: start.Add(ttl)}
}

// cimdHostAllowed reports whether the allowlist admits host: as
// hostAllowed, except that an IP address matches only an entry equal to
// it, never a wildcard.
func cimdHostAllowed(host string, allowed []string) bool {
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		return slices.ContainsFunc(allowed, func(a string) bool { return ip.Equal(net.ParseIP(strings.Trim(strings.TrimSpace(a), "[]"))) })
	}
	return hostAllowed(host, allowed)
}
