package store

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestIsPostgresDSN(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u@localhost/db":                true,
		"postgresql://u:p@db.example:5432/x":       true,
		"POSTGRES://u@localhost/db":                true,
		"host=localhost user=u dbname=x":           true,
		"user=u host=/var/run/postgresql dbname=x": true,
		"  host=db port=5432":                      true,
		"/var/lib/mcpauthz/mcpauthz.db":            false,
		"mcpauthz.db":                              false,
		"file:mcpauthz.db?mode=rwc":                false,
		"file:///var/lib/mcpauthz.db":              false,
		":memory:":                                 false,
		"/data/host=1/mcpauthz.db":                 false,
		"postgres.db":                              false,
		"sqlite://host=x":                          false,
		"dbname=x user=u":                          false,
		"/tmp/postgres://x":                        false,
	} {
		if got := IsPostgresDSN(dsn); got != want {
			t.Errorf("IsPostgresDSN(%q) = %v, want %v", dsn, got, want)
		}
	}
}

func TestParseSQLiteDSN(t *testing.T) {
	defaults := "_busy_timeout=5000&_foreign_keys=on&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"
	for _, tc := range []struct {
		dsn, path, conn string
		memory          bool
	}{
		{"/var/lib/m.db", "/var/lib/m.db", "/var/lib/m.db?" + defaults, false},
		{"rel/m.db", "rel/m.db", "rel/m.db?" + defaults, false},
		{"file:rel/m.db", "rel/m.db", "file:rel/m.db?" + defaults, false},
		{"file:///abs/m%20x.db?mode=rwc", "/abs/m x.db", "file:///abs/m%20x.db?" + defaults + "&mode=rwc", false},
		{"file://localhost/abs/m.db", "/abs/m.db", "file://localhost/abs/m.db?" + defaults, false},
		{":memory:", "", ":memory:?" + defaults, true},
		{"file::memory:", "", "file::memory:?" + defaults, true},
		{"file:m.db?mode=memory&cache=shared", "", "file:m.db?" + defaults + "&cache=shared&mode=memory", true},
		// The DSN's own settings win, under either name.
		{"m.db?_journal=DELETE&_timeout=100&_fk=off&_sync=FULL&_txlock=exclusive", "m.db",
			"m.db?_fk=off&_journal=DELETE&_sync=FULL&_timeout=100&_txlock=exclusive", false},
	} {
		s, err := parseSQLiteDSN(tc.dsn)
		if err != nil {
			t.Errorf("parseSQLiteDSN(%q): %v", tc.dsn, err)
			continue
		}
		if s.path != tc.path || s.memory != tc.memory || s.connString() != tc.conn {
			t.Errorf("parseSQLiteDSN(%q) = path %q, memory %v, conn %q; want %q, %v, %q",
				tc.dsn, s.path, s.memory, s.connString(), tc.path, tc.memory, tc.conn)
		}
	}
	for _, dsn := range []string{"file:", "file://host", "?_txlock=immediate", "m.db?%zz"} {
		if _, err := parseSQLiteDSN(dsn); err == nil {
			t.Errorf("parseSQLiteDSN(%q) succeeded", dsn)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	for _, dsn := range []string{"", "   "} {
		_, err := Open(ctx, Config{DSN: dsn})
		if err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Open(%q) = %v, want an empty-DSN error", dsn, err)
		}
	}

	// The parent "directory" is a file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Config{DSN: filepath.Join(file, "m.db")}); err == nil {
		t.Error("Open below a file succeeded")
	}

	// A mistyped URL is no SQLite file name: nothing is created, and the
	// password is not repeated in the error.
	dir := t.TempDir()
	t.Chdir(dir)
	for _, dsn := range []string{"postgress://u:hunter2@127.0.0.1:5432/db", "mysql://u:hunter2@db/x", "sqlite3://x.db"} {
		_, err := Open(ctx, Config{DSN: dsn})
		if err == nil || !strings.Contains(err.Error(), "neither") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v, want an error naming the scheme only", dsn, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("mistyped DSNs created %v", entries)
	}

	// Nothing listens on port 1.
	_, err := Open(ctx, Config{DSN: "postgres://u@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"})
	if err == nil || !strings.HasPrefix(err.Error(), "store: ") {
		t.Errorf("Open of an unreachable PostgreSQL = %v, want a store error", err)
	}
}

func openTemp(t *testing.T, cfg Config) *DB {
	t.Helper()
	if cfg.DSN == "" {
		cfg.DSN = filepath.Join(t.TempDir(), "m.db")
	}
	db, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestSQLiteSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	dsn := filepath.Join(dir, "m.db")
	db := openTemp(t, Config{DSN: dsn})
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "5000",
		"foreign_keys": "1",
		"synchronous":  "1",
		// The request path checkpoints only past the fallback; the
		// checkpointer does it otherwise.
		"wal_autocheckpoint": "10000",
	} {
		var got string
		if err := db.Gorm(t.Context()).Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, dsn: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("mode of %s = %v, want %v", path, fi.Mode(), want)
		}
	}
}

// TestBackgroundCheckpoint shows the WAL reaching the database file with
// no commit large enough to checkpoint it: the store's own goroutine does.
func TestBackgroundCheckpoint(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "c.db")
	db := openTemp(t, Config{DSN: dsn})
	ctx := t.Context()
	size := func() int64 {
		fi, err := os.Stat(dsn)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Start from an empty WAL, so only the writes below can grow the file.
	if _, err := db.sqlDB.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	before := size()
	// About 200 pages of documents: far below the 10000-page fallback.
	body := strings.Repeat("checkpoint me ", 600)
	for i := range 100 {
		if _, err := db.PutDocument(ctx, &Document{ID: "doc" + strconv.Itoa(i), Title: "t", Body: body, Format: "text", Visibility: VisibilityPublic}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes after 10 s: the WAL was not checkpointed", size())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenMemory(t *testing.T) {
	db := openTemp(t, Config{DSN: ":memory:"})
	ctx := t.Context()
	if err := db.CreateUser(ctx, &User{ID: "u1", Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
}

func TestReopenAndSchemaVersion(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "m.db")
	ctx := t.Context()
	db, err := Open(ctx, Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, &User{ID: "u1", Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening again keeps the data and the schema version.
	db, err = Open(ctx, Config{DSN: dsn})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := db.GetUser(ctx, "u1"); err != nil {
		t.Errorf("GetUser after reopen: %v", err)
	}
	var versions []int
	if err := db.Gorm(ctx).Model(&schemaMigrationRow{}).Pluck("version", &versions).Error; err != nil {
		t.Fatal(err)
	}
	if len(versions) != 1 || versions[0] != schemaVersion {
		t.Errorf("schema versions = %v, want [%d]", versions, schemaVersion)
	}

	// A schema from the future is refused.
	err = db.Gorm(ctx).Create(&schemaMigrationRow{Component: schemaComponent, Version: schemaVersion + 1, AppliedAt: time.Now()}).Error
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, Config{DSN: dsn}); err == nil {
		_ = db.Close()
		t.Error("Open of a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

func TestClock(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 123456789, time.UTC)
	db := openTemp(t, Config{Now: func() time.Time { return now }})
	ctx := t.Context()

	u := &User{ID: "u1", Name: "alice"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	stored := now.Truncate(time.Microsecond)
	if !u.CreatedAt.Equal(stored) || !u.UpdatedAt.Equal(stored) {
		t.Errorf("filled times = %v, %v; want %v", u.CreatedAt, u.UpdatedAt, stored)
	}

	if err := db.UseNonce(ctx, "n", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute) // expiry reached but not passed
	if err := db.UseNonce(ctx, "n", now.Add(time.Hour)); !errors.Is(err, ErrReplay) {
		t.Errorf("UseNonce at expiry = %v, want ErrReplay", err)
	}
	now = now.Add(time.Microsecond)
	if err := db.UseNonce(ctx, "n", now.Add(time.Hour)); err != nil {
		t.Errorf("UseNonce after expiry = %v", err)
	}
	if err := db.UseNonce(ctx, "n", now.Add(time.Hour)); !errors.Is(err, ErrReplay) {
		t.Errorf("UseNonce replay = %v, want ErrReplay", err)
	}
}

func TestLoggerOmitsParameters(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db := openTemp(t, Config{Logger: log})
	const secret = "argon2id-hash-that-must-not-be-logged"
	if err := db.CreateUser(t.Context(), &User{ID: "u1", Name: "alice", PasswordHash: secret}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetUserPassword(t.Context(), "u1", secret+"2"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "INSERT INTO") || !strings.Contains(out, "UPDATE") {
		t.Errorf("SQL not logged at debug level:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("log holds a parameter:\n%s", out)
	}
}

func TestErrorsWrapped(t *testing.T) {
	db := openTemp(t, Config{})
	_, err := db.GetUser(t.Context(), "nobody")
	if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "store: get user: ") {
		t.Errorf("GetUser error = %q", err)
	}
	if err := db.CreateUser(t.Context(), &User{ID: "u1", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	err = db.CreateUser(t.Context(), &User{ID: "u1", Name: "b"})
	if !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), "store: create user: ") {
		t.Errorf("CreateUser error = %q", err)
	}
}

func TestSQLitePath(t *testing.T) {
	for dsn, want := range map[string]string{
		"/data/a.db":                            "/data/a.db",
		"/data/a.db?_busy_timeout=100":          "/data/a.db",
		"file:/data/a.db?_fk=off":               "/data/a.db",
		"file:///data/a%20b.db":                 "/data/a b.db",
		":memory:":                              "",
		"file:x?mode=memory":                    "",
		"postgres://u@h/db":                     "",
		"host=127.0.0.1 user=postgres dbname=t": "",
	} {
		got, ok := SQLitePath(dsn)
		if got != want || ok != (want != "") {
			t.Errorf("SQLitePath(%q) = %q, %v; want %q", dsn, got, ok, want)
		}
	}
}
