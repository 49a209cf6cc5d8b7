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

// TestConsentsFromBeforeRedirectURIs opens a database whose consents table
// predates the redirect_uris column: the column is added, and a consent
// stored before it reads back with no approved redirect URIs (so the person
// is asked again once) instead of failing to decode.
func TestConsentsFromBeforeRedirectURIs(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "old.db")
	db := openAt(t, dsn)
	g := db.Gorm(t.Context())
	for _, stmt := range []string{
		`DROP TABLE consents`,
		`CREATE TABLE consents (user_id text, client_id text, scopes text NOT NULL, resource text NOT NULL,
			created_at datetime NOT NULL, updated_at datetime NOT NULL, PRIMARY KEY (user_id, client_id))`,
		`INSERT INTO consents VALUES ('u1', 'c1', '["read"]', 'https://mcp.example/mcp',
			'2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')`,
	} {
		if err := g.Exec(stmt).Error; err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, dsn)
	c, err := db.GetConsent(t.Context(), "u1", "c1")
	if err != nil {
		t.Fatalf("GetConsent of a consent stored before redirect_uris: %v", err)
	}
	if len(c.RedirectURIs) != 0 || len(c.Scopes) != 1 || c.Resource != "https://mcp.example/mcp" {
		t.Errorf("consent = %+v, want scopes [read], the resource, and no redirect URIs", c)
	}
}

func openAt(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
