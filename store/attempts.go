package store

import (
	"context"
	"time"
)

// AddAttempts records one attempt at at for each of keys, kept until
// expiresAt, in one statement.
func (db *DB) AddAttempts(ctx context.Context, keys []string, at, expiresAt time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	rows := make([]attemptRow, len(keys))
	for i, k := range keys {
		rows[i] = attemptRow{Name: k, At: utc(at), ExpiresAt: utc(expiresAt)}
	}
	if err := db.conn(ctx).Create(&rows).Error; err != nil {
		return wrap("add attempts", err)
	}
	return nil
}

// RecentAttempts returns the times of key's attempts after since, newest
// first, at most limit (below 1: none), from the (name, at) index.
func (db *DB) RecentAttempts(ctx context.Context, key string, since time.Time, limit int) ([]time.Time, error) {
	if limit < 1 {
		return nil, nil
	}
	var at []time.Time
	err := db.conn(ctx).Model(&attemptRow{}).Where("name = ? AND at > ?", key, utc(since)).
		Order("at DESC").Limit(limit).Pluck("at", &at).Error
	if err != nil {
		return nil, wrap("recent attempts", err)
	}
	for i := range at {
		at[i] = utcRead(at[i])
	}
	return at, nil
}

// ClearAttempts forgets every attempt of keys.
func (db *DB) ClearAttempts(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := db.conn(ctx).Where("name IN ?", keys).Delete(&attemptRow{}).Error; err != nil {
		return wrap("clear attempts", err)
	}
	return nil
}
