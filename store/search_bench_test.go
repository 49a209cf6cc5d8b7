package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The cost of a search for a list of titles (SearchDocumentTitles, one
// query) against a full search (SearchDocuments: ranking, snippets, rows
// and shares), on this binary's SQLite engine (FTS5 with -tags
// sqlite_fts5, else LIKE). "few" is the MCP benchmark's fixture (two of
// four short documents match); "many" has 200 documents of about 2 KB, of
// which every tenth matches, so that a search returns 10 of 20 hits.

func benchSearchDB(b *testing.B, many bool) *DB {
	b.Helper()
	ctx := context.Background()
	db, err := Open(ctx, Config{DSN: filepath.Join(b.TempDir(), "m.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	put := func(d Document) {
		if _, err := db.PutDocument(ctx, &d); err != nil {
			b.Fatal(err)
		}
	}
	if !many {
		put(Document{Title: "Alpha budget plan", Body: "The zephyr budget for 2026 is <confidential> & final.",
			OwnerID: "alice", Visibility: VisibilityPrivate})
		put(Document{Title: "Roadmap quokka", Body: "Quokka roadmap shared with bob.",
			OwnerID: "alice", Visibility: VisibilityShared, SharedWith: []string{"bob"}})
		put(Document{Title: "Employee handbook", Body: "The handbook: holidays, wombat policy.",
			OwnerID: "bob", Visibility: VisibilityPublic})
		put(Document{Title: "Server wombat notes", Body: "Notes of the server about the wombat.",
			Visibility: VisibilityPublic})
		return db
	}
	filler := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 35)
	for i := range 200 {
		body := filler
		if i%10 == 0 {
			body = filler[:len(filler)/2] + " the wombat burrow " + filler[len(filler)/2:]
		}
		put(Document{ID: fmt.Sprintf("doc-%03d", i), Title: fmt.Sprintf("Document %d", i), Body: body,
			OwnerID: []string{"alice", "bob"}[i%2], Visibility: []string{VisibilityPublic, VisibilityShared}[i%3%2],
			SharedWith: []string{"alice", "carol"}})
	}
	return db
}

func BenchmarkSearch(b *testing.B) {
	for _, many := range []bool{false, true} {
		size := map[bool]string{false: "few", true: "many"}[many]
		db := benchSearchDB(b, many)
		ctx := context.Background()
		b.Run("Documents/"+size, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				hits, err := db.SearchDocuments(ctx, "alice", "wombat", 10)
				if err != nil || len(hits) == 0 {
					b.Fatal(len(hits), err)
				}
			}
		})
		b.Run("Titles/"+size, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				hits, err := db.SearchDocumentTitles(ctx, "alice", "wombat", 10)
				if err != nil || len(hits) == 0 {
					b.Fatal(len(hits), err)
				}
			}
		})
	}
}
