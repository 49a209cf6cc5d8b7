package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// Dialect names returned by DB.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Config says which database Open connects to.
type Config struct {
	// DSN selects the database. A "postgres://" or "postgresql://" URL, or a
	// libpq key=value string with a host= key, is PostgreSQL. Anything else
	// is an SQLite database: a file path or a "file:" URI, where a "?"
	// starts go-sqlite3 connection parameters. A missing SQLite file and
	// its missing parent directories are created, readable by the owner
	// only. Parameters the DSN does not set default to WAL journaling, a
	// 5 s busy timeout, foreign keys on, synchronous NORMAL and immediate
	// write transactions. A writable SQLite file's WAL is checkpointed by a
	// goroutine of the store rather than inside commits (see checkpointer).
	// ":memory:" works but gives a single connection.
	DSN string
	// Now is the clock used for timestamps the store fills in and for
	// nonce expiry. Nil means time.Now.
	Now func() time.Time
	// Logger receives the store's diagnostics, SQL statements at debug level
	// without their parameters. Nil discards them.
	Logger *slog.Logger
}

// DB is a Store backed by SQLite or PostgreSQL through gorm. It is safe for
// concurrent use. Open creates it; Close releases it.
//
// Times are stored in UTC with microsecond precision (finer parts are
// truncated) and returned in UTC. Create methods fill a zero CreatedAt or
// UpdatedAt with the current time and write it back into the record given.
type DB struct {
	gdb     *gorm.DB
	sqlDB   *sql.DB
	dialect string
	clock   func() time.Time
	// search is the document search engine migrate chose (see searcher).
	search searcher
	// ckpt checkpoints a writable SQLite file's WAL; nil otherwise.
	ckpt *checkpointer
}

var _ Store = (*DB)(nil)

// Open connects to the database cfg.DSN names and applies the schema
// migrations it lacks. It fails if the DSN is empty, the database is
// unreachable, or its schema is newer than this code knows.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	dsn := strings.TrimSpace(cfg.DSN)
	if dsn == "" {
		return nil, errors.New("store: empty database DSN: give a postgres:// URL or an SQLite file path")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := cfg.Now
	if clock == nil {
		clock = time.Now
	}
	db := &DB{clock: clock}

	var (
		dialector gorm.Dialector
		memory    bool
		// checkpoint: a writable SQLite file, checkpointed in the
		// background (see checkpointer).
		checkpoint bool
	)
	if IsPostgresDSN(dsn) {
		db.dialect = DialectPostgres
		dialector = postgres.New(postgres.Config{DSN: dsn})
	} else {
		db.dialect = DialectSQLite
		s, err := parseSQLiteDSN(dsn)
		if err != nil {
			return nil, err
		}
		if err := s.prepareFile(); err != nil {
			return nil, err
		}
		memory = s.memory
		checkpoint = !memory && s.query.Get("mode") != "ro"
		if checkpoint {
			dialector = sqlite.New(sqlite.Config{Conn: sql.OpenDB(newSQLiteConnector(s.connString()))})
		} else {
			dialector = sqlite.Open(s.connString())
		}
	}

	gdb, err := gorm.Open(dialector, &gorm.Config{
		Logger:                                   gormLogger{log: log},
		TranslateError:                           true,
		SkipDefaultTransaction:                   true,
		PrepareStmt:                              true,
		DisableAutomaticPing:                     true,
		DisableForeignKeyConstraintWhenMigrating: true,
		NowFunc:                                  db.now,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s database: %w", db.dialect, err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s database: %w", db.dialect, err)
	}
	db.gdb, db.sqlDB = gdb, sqlDB
	if memory {
		// Every connection to ":memory:" is a database of its own.
		sqlDB.SetMaxOpenConns(1)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: connect to %s database: %w", db.dialect, err)
	}
	if err := db.migrate(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if checkpoint {
		db.ckpt = startCheckpointer(sqlDB, log)
	}
	if db.search.engine() == engineLike {
		log.WarnContext(ctx, "store: this binary's SQLite lacks FTS5, so document search falls back to "+
			"slower substring matching with cruder ranking; `make build` (go build -tags sqlite_fts5) includes FTS5")
	}
	log.DebugContext(ctx, "store: database open", "dialect", db.dialect, "search", db.search.engine())
	return db, nil
}

// IsPostgresDSN reports whether Open treats dsn as a PostgreSQL DSN: a
// postgres:// or postgresql:// URL, or a key=value string with a host= key.
func IsPostgresDSN(dsn string) bool {
	dsn = strings.TrimSpace(dsn)
	lower := strings.ToLower(dsn)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return true
	}
	for _, f := range strings.Fields(dsn) {
		if strings.HasPrefix(f, "host=") {
			return true
		}
	}
	return false
}

// Dialect returns DialectSQLite or DialectPostgres.
func (db *DB) Dialect() string { return db.dialect }

// Gorm returns a gorm handle bound to ctx: the transaction ctx carries (see
// BeginTX), or the connection pool. Other packages use it to keep their own
// tables in the same database and transactions.
func (db *DB) Gorm(ctx context.Context) *gorm.DB { return db.conn(ctx) }

// Ping reports whether the database is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close releases the database. Transactions still open are rolled back.
func (db *DB) Close() error {
	if db.ckpt != nil {
		db.ckpt.stop()
	}
	if err := db.sqlDB.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// DeleteExpired removes, in one transaction, the requests whose ExpiresAt
// and the nonces whose expiry are before now, and returns how many rows
// went. Inactive requests stay until they expire, so reuse of a rotated
// refresh token is still recognised until then; a consumed authorization
// code stays, past its own expiry, while its family still has an access or
// refresh token, so that a replay of the code revokes them (RFC 6749
// §4.1.2) for as long as there is something to revoke.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	now = utc(now)
	var n int64
	err := db.atomically(ctx, func(tx *gorm.DB) error {
		res := tx.Where("expires_at < ?", now).
			Where("NOT (kind = ? AND active = ? AND EXISTS (SELECT 1 FROM requests t WHERE t.request_id = requests.request_id AND t.kind IN ?))",
				string(KindAuthCode), false, []string{string(KindAccess), string(KindRefresh)}).
			Delete(&requestRow{})
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		res = tx.Where("expires_at < ?", now).Delete(&nonceRow{})
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		res = tx.Where("expires_at < ?", now).Delete(&attemptRow{})
		if res.Error != nil {
			return res.Error
		}
		n += res.RowsAffected
		return nil
	})
	if err != nil {
		return 0, wrap("delete expired", err)
	}
	return n, nil
}

// now returns the store clock's time in UTC, truncated as it is stored.
func (db *DB) now() time.Time { return utc(db.clock()) }

// utc returns t as the store keeps it: in UTC, truncated to microseconds
// (PostgreSQL's precision), without a monotonic clock reading.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// utcPtr is utc for optional times.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// conn returns the handle statements run on: the transaction in ctx, if it
// is one of db's, or the pool.
func (db *DB) conn(ctx context.Context) *gorm.DB {
	if st := db.txFrom(ctx); st != nil {
		return st.tx.WithContext(ctx)
	}
	return db.gdb.WithContext(ctx)
}

// pool is the connection pool for a point statement written out by hand
// (one row in or out, by key), and the context to run it with: the
// transaction ctx carries, if any, else the database, both behind gorm's
// prepared-statement cache. Hot paths use it where building the statement
// with gorm would cost more than running it; $n placeholders bind by
// position on SQLite and PostgreSQL alike.
//
// On SQLite the context returned cannot be cancelled. The driver runs every
// statement, and every row step, on a goroutine of its own when the context
// can be (so that it can interrupt SQLite), which costs more than a point
// statement itself; such a statement takes microseconds, its wait for the
// write lock is bounded by the busy timeout, and a file database's pool has
// no connection limit to wait on, so there is nothing to cancel.
func (db *DB) pool(ctx context.Context) (gorm.ConnPool, context.Context) {
	if db.dialect == DialectSQLite {
		ctx = context.WithoutCancel(ctx)
	}
	return db.conn(ctx).Statement.ConnPool, ctx
}

// atomically runs fn in a transaction of its own, or in a savepoint of the
// transaction ctx carries, so that fn's statements all apply or none do.
func (db *DB) atomically(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return db.conn(ctx).Transaction(fn)
}

// wrap turns a gorm or database/sql error into a store error: "store: op:
// ...", with ErrNotFound and ErrConflict for their equivalents.
func wrap(op string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict),
		errors.Is(err, ErrInactive), errors.Is(err, ErrReplay):
		return fmt.Errorf("store: %s: %w", op, err)
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("store: %s: %w (%w)", op, ErrConflict, err)
	default:
		return fmt.Errorf("store: %s: %w", op, err)
	}
}

// unstorableKey reports whether key cannot name any row: no stored ID,
// name or signature holds a NUL byte or bytes that are not UTF-8, and
// PostgreSQL text cannot hold either — it refuses such a parameter with an
// error instead of finding nothing. Lookups by a key from a request check
// it first and answer ErrNotFound.
func unstorableKey(key string) bool {
	return strings.IndexByte(key, 0) >= 0 || !utf8.ValidString(key)
}

// sqliteDSN is a parsed SQLite DSN.
type sqliteDSN struct {
	base   string     // the path or file: URI, without the query
	path   string     // the file system path, empty for in-memory
	query  url.Values // the parameters, defaults added
	memory bool
}

// sqliteParam is a go-sqlite3 connection parameter, under its names.
type sqliteParam struct {
	keys  []string
	value string
}

// sqliteDefaults returns the connection parameters Open sets unless the DSN
// sets them (under any of their names). Immediate transactions take the
// write lock at BEGIN, so two writers never deadlock upgrading read locks.
func sqliteDefaults() []sqliteParam {
	return []sqliteParam{
		{[]string{"_journal_mode", "_journal"}, "WAL"},
		{[]string{"_busy_timeout", "_timeout"}, "5000"},
		{[]string{"_foreign_keys", "_fk"}, "on"},
		{[]string{"_synchronous", "_sync"}, "NORMAL"},
		{[]string{"_txlock"}, "immediate"},
	}
}

// parseSQLiteDSN splits dsn into its file and its parameters, and adds the
// default parameters.
// urlSchemeRE matches a URI scheme (RFC 3986 §3.1).
var urlSchemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

func parseSQLiteDSN(dsn string) (*sqliteDSN, error) {
	base, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("store: SQLite DSN parameters: %w", err)
	}
	for _, d := range sqliteDefaults() {
		set := false
		for _, k := range d.keys {
			if q.Has(k) {
				set = true
			}
		}
		if !set {
			q.Set(d.keys[0], d.value)
		}
	}
	if scheme, _, ok := strings.Cut(base, "://"); ok && scheme != "file" && urlSchemeRE.MatchString(scheme) {
		// Not a file name anyone means: a mistyped postgres:// URL would
		// otherwise become an empty SQLite database in a folder named
		// after it.
		// The DSN itself is not shown: it may hold a password.
		return nil, fmt.Errorf("store: a DSN beginning %q is neither a postgres:// or postgresql:// URL (PostgreSQL) nor a SQLite file path or file: URI", scheme+"://")
	}
	s := &sqliteDSN{base: base, query: q}
	path := base
	if rest, ok := strings.CutPrefix(base, "file:"); ok {
		if auth, ok := strings.CutPrefix(rest, "//"); ok {
			// file://host/path: only an empty host or localhost is valid.
			i := strings.IndexByte(auth, '/')
			if i < 0 {
				return nil, fmt.Errorf("store: SQLite DSN %q: file URI without a path", dsn)
			}
			rest = auth[i:]
		}
		if path, err = url.PathUnescape(rest); err != nil {
			return nil, fmt.Errorf("store: SQLite DSN: %w", err)
		}
	}
	if path == "" {
		return nil, errors.New("store: SQLite DSN without a file path")
	}
	if path == ":memory:" || q.Get("mode") == "memory" {
		s.memory = true
		path = ""
	}
	s.path = path
	return s, nil
}

// SQLitePath returns the database file of a SQLite DSN: a plain path or a
// file: URI, without its parameters. ok is false for a PostgreSQL DSN, an
// in-memory database or a DSN that does not parse.
func SQLitePath(dsn string) (path string, ok bool) {
	if IsPostgresDSN(dsn) {
		return "", false
	}
	s, err := parseSQLiteDSN(dsn)
	if err != nil || s.memory {
		return "", false
	}
	return s.path, true
}

// connString is the DSN handed to go-sqlite3.
func (s *sqliteDSN) connString() string { return s.base + "?" + s.query.Encode() }

// prepareFile creates the database's parent directory and an empty database
// file, both readable by the owner only, when they are missing.
func (s *sqliteDSN) prepareFile() error {
	if s.memory || s.query.Get("mode") == "ro" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("store: create database directory: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("store: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: create database file: %w", err)
	}
	return nil
}

// gormLogger sends gorm's output to slog at debug level. SQL is logged with
// placeholders, never with its parameters, which hold hashes and secrets'
// signatures.
type gormLogger struct{ log *slog.Logger }

var (
	_ gormlogger.Interface = gormLogger{}
	_ gorm.ParamsFilter    = gormLogger{}
)

func (l gormLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }

func (l gormLogger) Info(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, "store: gorm: "+fmt.Sprintf(msg, args...))
}

func (l gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, "store: gorm: "+fmt.Sprintf(msg, args...))
}

func (l gormLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, "store: gorm: "+fmt.Sprintf(msg, args...))
}

func (l gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if !l.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	stmt, rows := fc()
	attrs := []any{"sql", stmt, "rows", rows, "elapsed", time.Since(begin)}
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		attrs = append(attrs, "err", err)
	}
	l.log.DebugContext(ctx, "store: sql", attrs...)
}

// ParamsFilter drops the parameters, so traced SQL keeps its placeholders.
func (gormLogger) ParamsFilter(_ context.Context, stmt string, _ ...any) (string, []any) {
	return stmt, nil
}
