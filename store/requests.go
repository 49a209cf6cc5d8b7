package store

import (
	"context"
	"time"
)

// insertRequest is CreateRequest's statement, written out once: every
// token, code and refresh token issued is one, and gorm's Create would
// build it by reflection each time (see DB.pool).
const insertRequest = `INSERT INTO requests (kind, signature, request_id, client_id, subject, ` +
	`requested_at, expires_at, scopes, granted_scopes, audience, granted_audience, form, session, ` +
	`active, used_at, access_signature) ` +
	`VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ` +
	`ON CONFLICT (kind, signature) DO NOTHING`

// CreateRequest stores r; ErrConflict if (Kind, Signature) exists.
func (db *DB) CreateRequest(ctx context.Context, r *Request) error {
	w := requestToRow(r)
	res, err := db.pool(ctx).ExecContext(ctx, insertRequest,
		w.Kind, w.Signature, w.RequestID, w.ClientID, w.Subject, w.RequestedAt, w.ExpiresAt,
		w.Scopes, w.GrantedScopes, w.Audience, w.GrantedAudience, w.Form, w.Session,
		w.Active, w.UsedAt, w.AccessSignature)
	if err != nil {
		return wrap("create request", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("create request", err)
	} else if n == 0 {
		return wrap("create request", ErrConflict)
	}
	return nil
}

// selectRequest is GetRequest's statement, written out for the same reason
// as insertRequest: introspection and every call to the MCP resource read
// a token's request with it.
const selectRequest = `SELECT kind, signature, request_id, client_id, subject, requested_at, expires_at, ` +
	`scopes, granted_scopes, audience, granted_audience, form, session, active, used_at, access_signature ` +
	`FROM requests WHERE kind = $1 AND signature = $2`

// GetRequest returns the request, or ErrNotFound. An inactive request is
// returned together with ErrInactive.
func (db *DB) GetRequest(ctx context.Context, kind RequestKind, signature string) (*Request, error) {
	if unstorableKey(signature) {
		return nil, wrap("get request", ErrNotFound)
	}
	var row requestRow
	err := db.pool(ctx).QueryRowContext(ctx, selectRequest, string(kind), signature).Scan(&row.Kind,
		&row.Signature, &row.RequestID, &row.ClientID, &row.Subject, &row.RequestedAt, &row.ExpiresAt,
		&row.Scopes, &row.GrantedScopes, &row.Audience, &row.GrantedAudience, &row.Form, &row.Session,
		&row.Active, &row.UsedAt, &row.AccessSignature)
	if err != nil {
		return nil, wrap("get request", err)
	}
	r, err := row.record()
	if err != nil {
		return nil, wrap("get request", err)
	}
	if !r.Active {
		return &r, wrap("get request", ErrInactive)
	}
	return &r, nil
}

// DeleteRequest removes one request; ErrNotFound if absent.
func (db *DB) DeleteRequest(ctx context.Context, kind RequestKind, signature string) error {
	res := db.conn(ctx).Where("kind = ? AND signature = ?", string(kind), signature).Delete(&requestRow{})
	if res.Error != nil {
		return wrap("delete request", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("delete request", ErrNotFound)
	}
	return nil
}

// DeactivateRequest marks an active request inactive and sets UsedAt to
// now, in one conditional UPDATE: exactly one of any number of concurrent
// callers, in any number of processes, succeeds. The others get ErrInactive,
// or ErrNotFound if the request is absent.
func (db *DB) DeactivateRequest(ctx context.Context, kind RequestKind, signature string, now time.Time) error {
	conn := db.conn(ctx)
	res := conn.Model(&requestRow{}).
		Where("kind = ? AND signature = ? AND active = ?", string(kind), signature, true).
		Updates(map[string]any{"active": false, "used_at": utc(now)})
	if res.Error != nil {
		return wrap("deactivate request", res.Error)
	}
	if res.RowsAffected > 0 {
		return nil
	}
	var n int64
	err := conn.Model(&requestRow{}).Where("kind = ? AND signature = ?", string(kind), signature).Count(&n).Error
	switch {
	case err != nil:
		return wrap("deactivate request", err)
	case n == 0:
		return wrap("deactivate request", ErrNotFound)
	default:
		return wrap("deactivate request", ErrInactive)
	}
}

// RevokeRequests revokes every request of that kind in the family
// requestID: refresh tokens are marked inactive (UsedAt is left alone), so
// later reuse is still recognised; requests of every other kind are
// deleted. A family without such requests is not an error.
func (db *DB) RevokeRequests(ctx context.Context, kind RequestKind, requestID string) error {
	q := db.conn(ctx).Where("kind = ? AND request_id = ?", string(kind), requestID)
	var err error
	if kind == KindRefresh {
		err = q.Model(&requestRow{}).Update("active", false).Error
	} else {
		err = q.Delete(&requestRow{}).Error
	}
	if err != nil {
		return wrap("revoke requests", err)
	}
	return nil
}
