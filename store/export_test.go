package store

// SearchEngine returns the name of the document search engine db uses:
// "fts5", "like" or "postgres". It exists for the tests of package
// store_test.
func SearchEngine(db *DB) string { return db.searchEngine() }
