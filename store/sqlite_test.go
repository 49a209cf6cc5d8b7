package store_test

import (
	"path/filepath"
	"testing"

	"github.com/mcpauthz/mcpauthz/store"
	"github.com/mcpauthz/mcpauthz/store/storetest"
)

// openSQLite opens a store on a new SQLite file, in a directory Open has to
// create, and closes it when t ends.
func openSQLite(t *testing.T) *store.DB {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "data", "mcpauthz.db")
	db, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openSQLite(t) })
}

func TestSQLiteDB(t *testing.T) {
	testDB(t, store.DialectSQLite, openSQLite)
}
