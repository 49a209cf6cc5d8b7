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

// wantSQLiteEngine is the search engine SQLite stores must use: FTS5 when
// the binary has it, the LIKE fallback otherwise.
func wantSQLiteEngine() string {
	if builtWithFTS5 {
		return "fts5"
	}
	return "like"
}

// TestSQLite runs the conformance suite, on FTS5 when the binary was built
// with the sqlite_fts5 tag (as make test does), so that CI proves the FTS5
// search is the one used and tested.
func TestSQLite(t *testing.T) {
	t.Logf("search engine: %s", wantSQLiteEngine())
	storetest.Run(t, func(t *testing.T) store.Store {
		db := openSQLite(t)
		if got, want := store.SearchEngine(db), wantSQLiteEngine(); got != want {
			t.Fatalf("search engine = %q, want %q (built with FTS5: %v)", got, want, builtWithFTS5)
		}
		return db
	})
}

func TestSQLiteDB(t *testing.T) {
	testDB(t, store.DialectSQLite, openSQLite)
}
