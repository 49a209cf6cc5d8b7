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

// TestConsentsFromBeforeRedirectURIs opens a database of schema version 2
// whose consents table predates the redirect_uris column and the resource
// in its key: the table is migrated, a consent stored before reads back with
// no approved redirect URIs (so the person is asked again once), and a
// consent for another resource is stored beside it.
func TestConsentsFromBeforeRedirectURIs(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "old.db")
	testOldConsents(t, func(t *testing.T) *store.DB { return openAt(t, dsn) }, "datetime")
}

// testOldConsents replaces the consents table of the store open returns
// with the layout of schema version 2 without redirect_uris, holding one
// consent, opens the store again and checks the migration.
func testOldConsents(t *testing.T, open func(t *testing.T) *store.DB, timeType string) {
	db := open(t)
	g := db.Gorm(t.Context())
	for _, stmt := range []string{
		`DROP TABLE consents`,
		`CREATE TABLE consents (user_id text, client_id text, scopes text NOT NULL, resource text NOT NULL,
			created_at ` + timeType + ` NOT NULL, updated_at ` + timeType + ` NOT NULL, PRIMARY KEY (user_id, client_id))`,
		`CREATE INDEX idx_consents_client_id ON consents (client_id)`,
		`INSERT INTO consents VALUES ('u1', 'c1', '["read"]', 'https://mcp.example/mcp',
			'2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')`,
		`DELETE FROM schema_migrations WHERE version > 2`,
	} {
		if err := g.Exec(stmt).Error; err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t)
	ctx := t.Context()
	c, err := db.GetConsent(ctx, "u1", "c1", "https://mcp.example/mcp")
	if err != nil {
		t.Fatalf("GetConsent of a consent stored before the migration: %v", err)
	}
	if len(c.RedirectURIs) != 0 || len(c.Scopes) != 1 || c.Resource != "https://mcp.example/mcp" {
		t.Errorf("consent = %+v, want scopes [read], the resource, and no redirect URIs", c)
	}
	other := &store.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"read"}, Resource: "https://other.example/mcp"}
	if err := db.SaveConsent(ctx, other); err != nil {
		t.Fatalf("SaveConsent for another resource after the migration: %v", err)
	}
	if list, err := db.ListConsents(ctx, "u1"); err != nil || len(list) != 2 {
		t.Errorf("ListConsents = %v, %v; want the old consent and the new one", list, err)
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
