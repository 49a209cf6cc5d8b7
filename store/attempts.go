package store

import (
	"context"
	"time"
)

// AddAttempts records one attempt at at for each of keys, kept until
// expiresAt and pending or not, in one statement, and returns their IDs in
// the order of keys.
func (db *DB) AddAttempts(ctx context.Context, keys []string, at, expiresAt time.Time, pending bool) ([]int64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows := make([]attemptRow, len(keys))
	for i, k := range keys {
		rows[i] = attemptRow{Name: k, At: utc(at), ExpiresAt: utc(expiresAt), Pending: pending}
	}
	if err := db.conn(ctx).Create(&rows).Error; err != nil {
		return nil, wrap("add attempts", err)
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	return ids, nil
}

// DeleteAttempts forgets the attempts with the given IDs; unknown IDs are
// ignored.
func (db *DB) DeleteAttempts(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := db.conn(ctx).Where("id IN ?", ids).Delete(&attemptRow{}).Error; err != nil {
		return wrap("delete attempts", err)
	}
	return nil
}

// SettleAttempts marks the attempts with the given IDs as no longer
// pending; unknown IDs are ignored.
func (db *DB) SettleAttempts(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := db.conn(ctx).Model(&attemptRow{}).Where("id IN ?", ids).Update("pending", false).Error; err != nil {
		return wrap("settle attempts", err)
	}
	return nil
}

// RecentAttempts returns key's attempts after since, newest first, at most
// limit (below 1: none), from the (name, at) index.
func (db *DB) RecentAttempts(ctx context.Context, key string, since time.Time, limit int) ([]Attempt, error) {
	if limit < 1 {
		return nil, nil
	}
	var rows []attemptRow
	err := db.conn(ctx).Select("at", "pending").Where("name = ? AND at > ?", key, utc(since)).
		Order("at DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, wrap("recent attempts", err)
	}
	out := make([]Attempt, len(rows))
	for i, r := range rows {
		out[i] = Attempt{At: utcRead(r.At), Pending: r.Pending}
	}
	return out, nil
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
