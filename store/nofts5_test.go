//go:build !sqlite_fts5 && !fts5

package store_test

// builtWithFTS5 says whether go-sqlite3 was compiled with FTS5, as the
// sqlite_fts5 build tag (or fts5) makes it; `make test` sets it.
const builtWithFTS5 = false
