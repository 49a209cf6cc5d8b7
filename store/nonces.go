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
	res := db.conn(ctx).Exec(`INSERT INTO nonces ("key", expires_at) VALUES (?, ?) `+
		`ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at `+
		`WHERE nonces.expires_at < ?`, key, utc(expiresAt), db.now())
	if res.Error != nil {
		return wrap("use nonce", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("use nonce", ErrReplay)
	}
	return nil
}
