package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mcpauthz/mcpauthz/store"
	"github.com/mcpauthz/mcpauthz/store/storetest"
)

// postgresDSNEnv names the variable with the DSN of a PostgreSQL database
// the tests may create schemas in.
const postgresDSNEnv = "MCPAUTHZ_TEST_POSTGRES_DSN"

// postgresDSN returns the test database's DSN. Without one the test is
// skipped, or fails under CI=true.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required when CI=true, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable", postgresDSNEnv)
		}
		t.Skipf("%s not set: skipping the PostgreSQL tests", postgresDSNEnv)
	}
	return dsn
}

// withSearchPath returns dsn with its search_path set to schema.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", postgresDSNEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgres opens a store in a new schema of the test database, and
// closes it and drops the schema when t ends.
func openPostgres(t *testing.T) *store.DB {
	t.Helper()
	dsn := postgresDSN(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "mcpauthz_test_" + hex.EncodeToString(b)

	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", postgresDSNEnv, err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is cancelled by now.
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	db, err := store.Open(t.Context(), store.Config{DSN: withSearchPath(t, dsn, schema)})
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
	postgresDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		db := openPostgres(t)
		if got := store.SearchEngine(db); got != "postgres" {
			t.Fatalf("search engine = %q, want postgres", got)
		}
		return db
	})
}

func TestPostgresDB(t *testing.T) {
	postgresDSN(t)
	testDB(t, store.DialectPostgres, openPostgres)
}
