package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreateUser stores u; ErrConflict if its ID or name is taken. A zero
// CreatedAt or UpdatedAt is set to now, in u too.
func (db *DB) CreateUser(ctx context.Context, u *User) error {
	now := db.now()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = now
	}
	row := userToRow(u)
	res := db.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return wrap("create user", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("create user", ErrConflict)
	}
	return nil
}

// GetUser returns the user with that ID, or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, id string) (*User, error) {
	if unstorableKey(id) {
		return nil, wrap("get user", ErrNotFound)
	}
	var row userRow
	if err := db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, wrap("get user", err)
	}
	u := row.record()
	return &u, nil
}

// GetUserByName returns the user with that name (compared case-sensitively),
// or ErrNotFound.
func (db *DB) GetUserByName(ctx context.Context, name string) (*User, error) {
	if unstorableKey(name) {
		return nil, wrap("get user by name", ErrNotFound)
	}
	var row userRow
	if err := db.conn(ctx).Where("name = ?", name).Take(&row).Error; err != nil {
		return nil, wrap("get user by name", err)
	}
	u := row.record()
	return &u, nil
}

// ListUsers returns all users ordered by name, compared byte by byte.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	var rows []userRow
	if err := db.conn(ctx).Order(db.byteOrder("name")).Find(&rows).Error; err != nil {
		return nil, wrap("list users", err)
	}
	users := make([]User, 0, len(rows))
	for i := range rows {
		users = append(users, rows[i].record())
	}
	return users, nil
}

// CountUsers returns how many users exist.
func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := db.conn(ctx).Model(&userRow{}).Count(&n).Error; err != nil {
		return 0, wrap("count users", err)
	}
	return n, nil
}

// SetUserPassword replaces the password hash, ends the user's sessions and
// sets UpdatedAt to now; ErrNotFound if no such user.
func (db *DB) SetUserPassword(ctx context.Context, id, passwordHash string) error {
	res := db.conn(ctx).Model(&userRow{}).Where("id = ?", id).
		Updates(map[string]any{"password_hash": passwordHash, "updated_at": db.now(),
			"session_generation": gorm.Expr("session_generation + 1")})
	if res.Error != nil {
		return wrap("set user password", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("set user password", ErrNotFound)
	}
	return nil
}

// EndSessions raises the user's SessionGeneration by one in one statement;
// ErrNotFound if no such user.
func (db *DB) EndSessions(ctx context.Context, id string) error {
	res := db.conn(ctx).Model(&userRow{}).Where("id = ?", id).
		Update("session_generation", gorm.Expr("session_generation + 1"))
	if res.Error != nil {
		return wrap("end sessions", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("end sessions", ErrNotFound)
	}
	return nil
}

// DeleteUser removes, in one transaction, the user, their consents, every
// request whose Subject is the user, the documents they own (with their
// shares and search index entries) and the shares granted to them;
// ErrNotFound if no such user.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	err := db.atomically(ctx, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&userRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := tx.Where("user_id = ?", id).Delete(&consentRow{}).Error; err != nil {
			return err
		}
		if err := db.lockExclusive(tx, lockSubject+id); err != nil {
			return err
		}
		if err := tx.Where("subject = ?", id).Delete(&requestRow{}).Error; err != nil {
			return err
		}
		return db.deleteOwnedDocuments(tx, id)
	})
	if err != nil {
		return wrap("delete user", err)
	}
	return nil
}

// byteOrder returns an ORDER BY expression that sorts column by its bytes,
// whatever the database's default collation.
func (db *DB) byteOrder(column string) string {
	if db.dialect == DialectPostgres {
		return fmt.Sprintf("%s COLLATE \"C\"", column)
	}
	return column + " COLLATE BINARY"
}
