package store

import (
	"context"
	"fmt"
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
	pool, ctx := db.pool(ctx)
	res, err := pool.ExecContext(ctx, insertRequest,
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
	pool, ctx := db.pool(ctx)
	err := pool.QueryRowContext(ctx, selectRequest, string(kind), signature).Scan(&row.Kind,
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
		// A code redemption or refresh rotation holds its grant's locks
		// (lockForIssue) until it commits, so that a revocation also sees
		// the tokens it inserts.
		err = db.atomically(ctx, func(tx *gorm.DB) error {
			var rows []requestRow
			if err := tx.Select("request_id", "client_id", "subject").Where("kind = ? AND signature = ?", string(kind), signature).
				Limit(1).Find(&rows).Error; err != nil {
				return err
			}
			if len(rows) == 1 {
				if err := db.lockForIssue(tx, rows[0].RequestID, rows[0].ClientID, rows[0].Subject); err != nil {
					return err
				}
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

// Advisory locks (PostgreSQL) that order token issuance against
// revocation. PostgreSQL's read committed lets a revocation that waited for
// a rotation's row lock miss the rows the rotation then inserted; with a
// lock taken first, the revocation's statements start after the rotation
// committed and see them. Redeeming a code or rotating a refresh token
// (DeactivateRequest, the step before new tokens are stored) takes its
// grant's client, subject and client-and-subject locks shared and its
// family's lock exclusively, in that order; revoking a family takes the
// family's lock, revoking a consent the client-and-subject lock, deleting a
// user or a client the subject's or the client's lock, each exclusively and
// alone. One lock per operation, whatever the number of families: the
// lock table stays small, and no two operations wait for each other in a
// cycle. SQLite needs none: a transaction holds the write lock from BEGIN.
const (
	lockClient  = "mcpauthz:client:"
	lockSubject = "mcpauthz:subject:"
	lockGrant   = "mcpauthz:grant:"
	lockFamily  = "mcpauthz:family:"
)

// lockForIssue takes, in tx, the locks of a code redemption or a refresh
// rotation in the family requestID of clientID and subject.
func (db *DB) lockForIssue(tx *gorm.DB, requestID, clientID, subject string) error {
	if db.dialect != DialectPostgres {
		return nil
	}
	err := tx.Exec("SELECT pg_advisory_xact_lock_shared(hashtextextended(?, 0)), pg_advisory_xact_lock_shared(hashtextextended(?, 0)), pg_advisory_xact_lock_shared(hashtextextended(?, 0))",
		lockClient+clientID, lockSubject+subject, lockGrant+subject+"|"+clientID).Error
	if err == nil {
		err = tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", lockFamily+requestID).Error
	}
	if err != nil {
		return fmt.Errorf("lock token grant: %w", err)
	}
	return nil
}

// lockExclusive takes, in tx, one exclusive lock of those above: key is
// one of the prefixes followed by its ID.
func (db *DB) lockExclusive(tx *gorm.DB, key string) error {
	if db.dialect != DialectPostgres {
		return nil
	}
	if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", key).Error; err != nil {
		return fmt.Errorf("lock tokens: %w", err)
	}
	return nil
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
			if err := db.lockExclusive(tx, lockFamily+requestID); err != nil {
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
