package store_test

import (
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/mcpauthz/mcpauthz/store"
)

// testDB tests what *store.DB offers beyond store.Store, on any dialect.
func testDB(t *testing.T, dialect string, open func(t *testing.T) *store.DB) {
	t.Run("Dialect", func(t *testing.T) {
		if got := open(t).Dialect(); got != dialect {
			t.Errorf("Dialect() = %q, want %q", got, dialect)
		}
	})
	t.Run("NestedTx", func(t *testing.T) { testNestedTx(t, open) })
	t.Run("Gorm", func(t *testing.T) {
		db, ctx := open(t), t.Context()
		type extraRow struct {
			ID string `gorm:"primaryKey"`
		}
		if err := db.Gorm(ctx).AutoMigrate(&extraRow{}); err != nil {
			t.Fatalf("AutoMigrate: %v", err)
		}
		tx, err := db.BeginTX(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm(tx).Create(&extraRow{ID: "a"}).Error; err != nil {
			t.Fatalf("Create in tx: %v", err)
		}
		var n int64
		if err := db.Gorm(tx).Model(&extraRow{}).Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("Count in tx = %d, %v; want 1", n, err)
		}
		if err := db.Rollback(tx); err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm(ctx).Model(&extraRow{}).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("Count after rollback = %d, %v; want 0", n, err)
		}
		if err := db.Gorm(ctx).Create(&extraRow{ID: "a"}).Error; err != nil {
			t.Fatalf("Create: %v", err)
		}
		err = db.Gorm(ctx).Create(&extraRow{ID: "a"}).Error
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			t.Errorf("duplicate Create: %v, want gorm.ErrDuplicatedKey", err)
		}
	})
}

func testNestedTx(t *testing.T, open func(t *testing.T) *store.DB) {
	exists := func(t *testing.T, db *store.DB, id string) bool {
		t.Helper()
		_, err := db.GetUser(t.Context(), id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUser %s: %v", id, err)
		}
		return err == nil
	}
	t.Run("InnerRollback", func(t *testing.T) {
		db, ctx := open(t), t.Context()
		outer, err := db.BeginTX(ctx)
		mustOK(t, err)
		mustOK(t, db.CreateUser(outer, &store.User{ID: "u1", Name: "u1"}))
		inner, err := db.BeginTX(outer)
		mustOK(t, err)
		mustOK(t, db.CreateUser(inner, &store.User{ID: "u2", Name: "u2"}))
		mustOK(t, db.Rollback(inner))
		mustOK(t, db.CreateUser(outer, &store.User{ID: "u3", Name: "u3"}))
		mustOK(t, db.Commit(outer))
		for id, want := range map[string]bool{"u1": true, "u2": false, "u3": true} {
			if got := exists(t, db, id); got != want {
				t.Errorf("user %s exists = %v, want %v", id, got, want)
			}
		}
	})
	t.Run("InnerCommitOuterRollback", func(t *testing.T) {
		db, ctx := open(t), t.Context()
		outer, err := db.BeginTX(ctx)
		mustOK(t, err)
		inner, err := db.BeginTX(outer)
		mustOK(t, err)
		mustOK(t, db.CreateUser(inner, &store.User{ID: "u1", Name: "u1"}))
		mustOK(t, db.Commit(inner))
		if err := db.Commit(inner); err == nil {
			t.Error("second Commit of the inner transaction succeeded")
		}
		mustOK(t, db.Rollback(outer))
		if exists(t, db, "u1") {
			t.Error("user created in a committed savepoint survived the outer rollback")
		}
		if _, err := db.BeginTX(outer); err == nil {
			t.Error("BeginTX inside a finished transaction succeeded")
		}
	})
	t.Run("BothCommit", func(t *testing.T) {
		db, ctx := open(t), t.Context()
		outer, err := db.BeginTX(ctx)
		mustOK(t, err)
		inner, err := db.BeginTX(outer)
		mustOK(t, err)
		mustOK(t, db.CreateUser(inner, &store.User{ID: "u1", Name: "u1"}))
		mustOK(t, db.Commit(inner))
		mustOK(t, db.Commit(outer))
		if !exists(t, db, "u1") {
			t.Error("user lost")
		}
	})
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
