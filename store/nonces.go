package store

import (
	"context"
	"time"
)

// UseNonce records key until expiresAt; ErrReplay if key is already
// recorded and its expiry is not before now (the Config clock). A recorded
// key that has expired is replaced. It is one INSERT ... ON CONFLICT DO
// UPDATE ... WHERE statement, so exactly one of any number of concurrent
// callers, in any number of processes, succeeds.
func (db *DB) UseNonce(ctx context.Context, key string, expiresAt time.Time) error {
	pool, ctx := db.pool(ctx)
	res, err := pool.ExecContext(ctx, useNonce, key, utc(expiresAt), db.now())
	if err != nil {
		return wrap("use nonce", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("use nonce", err)
	} else if n == 0 {
		return wrap("use nonce", ErrReplay)
	}
	return nil
}

// useNonce is UseNonce's statement, written out once (see DB.pool): every
// DPoP proof's jti is recorded with it. An expired row with the same key
// is taken over; a live one is left alone, and then no row is affected.
const useNonce = `INSERT INTO nonces ("key", expires_at) VALUES ($1, $2) ` +
	`ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at ` +
	`WHERE nonces.expires_at < $3`
