package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// CreateSigningKey stores k; ErrConflict if the ID exists. A zero CreatedAt
// is set to now, in k too.
func (db *DB) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.now()
	}
	row := signingKeyToRow(k)
	res := db.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return wrap("create signing key", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("create signing key", ErrConflict)
	}
	return nil
}

// ListSigningKeys returns all keys, newest (by CreatedAt) first.
func (db *DB) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var rows []signingKeyRow
	err := db.conn(ctx).Order("created_at DESC").Order(db.byteOrder("id") + " DESC").Find(&rows).Error
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	keys := make([]SigningKey, 0, len(rows))
	for i := range rows {
		keys = append(keys, rows[i].record())
	}
	return keys, nil
}

// RetireSigningKeys sets RetiredAt to at on every key that is not retired
// and is not keepID. Keys already retired keep their RetiredAt.
func (db *DB) RetireSigningKeys(ctx context.Context, keepID string, at time.Time) error {
	err := db.conn(ctx).Model(&signingKeyRow{}).
		Where("retired_at IS NULL AND id <> ? AND created_at < (SELECT created_at FROM signing_keys WHERE id = ?)", keepID, keepID).
		Update("retired_at", utc(at)).Error
	if err != nil {
		return wrap("retire signing keys", err)
	}
	return nil
}

// DeleteSigningKey removes a key; ErrNotFound if absent.
func (db *DB) DeleteSigningKey(ctx context.Context, id string) error {
	res := db.conn(ctx).Where("id = ?", id).Delete(&signingKeyRow{})
	if res.Error != nil {
		return wrap("delete signing key", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("delete signing key", ErrNotFound)
	}
	return nil
}
