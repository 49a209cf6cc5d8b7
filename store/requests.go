package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
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
	deactivate := func(conn *gorm.DB) error {
		res := conn.Model(&requestRow{}).
			Where("kind = ? AND signature = ? AND active = ?", string(kind), signature, true).
			Updates(map[string]any{"active": false, "used_at": utc(now)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected > 0 {
			return nil
		}
		var n int64
		if err := conn.Model(&requestRow{}).Where("kind = ? AND signature = ?", string(kind), signature).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return ErrInactive
	}
	var err error
	if db.dialect == DialectPostgres {
		// A rotation holds its family's lock until it commits, so that a
		// revocation of the family also sees the tokens it inserts.
		err = db.atomically(ctx, func(tx *gorm.DB) error {
			var families []string
			if err := tx.Model(&requestRow{}).Where("kind = ? AND signature = ?", string(kind), signature).
				Limit(1).Pluck("request_id", &families).Error; err != nil {
				return err
			}
			if err := db.lockFamilies(tx, families); err != nil {
				return err
			}
			return deactivate(tx)
		})
	} else {
		err = deactivate(db.conn(ctx))
	}
	if err != nil {
		return wrap("deactivate request", err)
	}
	return nil
}

// lockFamilies serialises, on PostgreSQL, the changes to the token
// families requestIDs until tx ends (advisory transaction locks, taken in
// sorted order so that two callers never wait for each other in a cycle).
// PostgreSQL's read committed lets a revocation that waited for a
// rotation's row lock miss the rows the rotation inserted; with the family
// locked first, the revocation's statements start after the rotation
// committed and see them. SQLite needs none: a transaction holds the
// database's write lock from BEGIN.
func (db *DB) lockFamilies(tx *gorm.DB, requestIDs []string) error {
	if db.dialect != DialectPostgres || len(requestIDs) == 0 {
		return nil
	}
	ids := slices.Compact(slices.Sorted(slices.Values(requestIDs)))
	for _, id := range ids {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "mcpauthz:family:"+id).Error; err != nil {
			return fmt.Errorf("lock token family: %w", err)
		}
	}
	return nil
}

// lockFamiliesWhere locks the families of the requests matching the
// condition (see lockFamilies).
func (db *DB) lockFamiliesWhere(tx *gorm.DB, query string, args ...any) error {
	if db.dialect != DialectPostgres {
		return nil
	}
	var families []string
	if err := tx.Model(&requestRow{}).Distinct("request_id").Where(query, args...).Pluck("request_id", &families).Error; err != nil {
		return err
	}
	return db.lockFamilies(tx, families)
}

// RevokeRequests revokes every request of that kind in the family
// requestID: refresh tokens are marked inactive (UsedAt is left alone), so
// later reuse is still recognised; requests of every other kind are
// deleted. A family without such requests is not an error.
func (db *DB) RevokeRequests(ctx context.Context, kind RequestKind, requestID string) error {
	revoke := func(conn *gorm.DB) error {
		q := conn.Where("kind = ? AND request_id = ?", string(kind), requestID)
		if kind == KindRefresh {
			return q.Model(&requestRow{}).Update("active", false).Error
		}
		return q.Delete(&requestRow{}).Error
	}
	var err error
	if db.dialect == DialectPostgres {
		err = db.atomically(ctx, func(tx *gorm.DB) error {
			if err := db.lockFamilies(tx, []string{requestID}); err != nil {
				return err
			}
			return revoke(tx)
		})
	} else {
		err = revoke(db.conn(ctx))
	}
	if err != nil {
		return wrap("revoke requests", err)
	}
	return nil
}
