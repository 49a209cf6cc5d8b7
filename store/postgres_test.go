package store_test

import (
	"testing"

	"github.com/mcpauthz/mcpauthz/store"
	"github.com/mcpauthz/mcpauthz/store/storetest"
)

// openPostgres opens a store in a new schema of the test database, and
// closes it and drops the schema when t ends.
func openPostgres(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), store.Config{DSN: storetest.PostgresSchema(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestPostgres(t *testing.T) {
	storetest.PostgresDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		db := openPostgres(t)
		if got := store.SearchEngine(db); got != "postgres" {
			t.Fatalf("search engine = %q, want postgres", got)
		}
		return db
	})
}

func TestPostgresDB(t *testing.T) {
	storetest.PostgresDSN(t)
	testDB(t, store.DialectPostgres, openPostgres)
}
