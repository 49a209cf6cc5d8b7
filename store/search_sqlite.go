package store

import (
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// SQLite document search.
//
// With FTS5 (binaries built with the sqlite_fts5 tag) the index is the FTS5
// table docs_fts(title, body), which keeps its own copy of the text
// (snippet needs it) and is tokenised by unicode61 with diacritics removed,
// without stemming: the last query term is matched as a prefix, and a
// stemmed index would no longer hold the words it is a prefix of. Results
// are ranked by bm25 with a title hit weighing ten body hits.
//
// FTS5 rows are keyed by an integer rowid, documents by a text ID, and an
// implicit SQLite rowid is not stable (VACUUM may renumber it), so the table
// docs_fts_docs maps one to the other. It also records what is indexed: a
// binary without FTS5 cannot write docs_fts, so when it changes or deletes a
// document it only drops the document's mapping. The next Open by a binary
// with FTS5 then repairs the index: it deletes the rows nothing maps to and
// indexes the documents without a mapping.
//
// Without FTS5, search is a substring match of each term in the lower-cased
// title and body (lower-casing is ASCII-only in SQLite), scored by
// sqliteLike.

const (
	// docsFTSMapDDL creates the mapping from FTS5 rowids to documents.
	// AUTOINCREMENT: a rowid is never reused, so a stale row that a binary
	// without FTS5 left behind cannot collide with a new one.
	docsFTSMapDDL = `CREATE TABLE IF NOT EXISTS docs_fts_docs (
	fts_rowid INTEGER PRIMARY KEY AUTOINCREMENT,
	document_id TEXT NOT NULL UNIQUE
)`
	// docsFTSDDL creates the FTS5 index.
	docsFTSDDL = `CREATE VIRTUAL TABLE docs_fts USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2')`
	// fts5ProbeDDL tells whether this SQLite has FTS5. (Creating docs_fts
	// itself does not: an existing table is not checked against the
	// modules SQLite has.)
	fts5ProbeDDL = `CREATE VIRTUAL TABLE temp.mcpauthz_fts5_probe USING fts5(x)`
)

// setupSQLiteSearch creates the search tables FTS5 needs, repairs the
// index, and returns sqliteFTS5; or sqliteLike if this SQLite lacks FTS5.
func setupSQLiteSearch(tx *gorm.DB) (searcher, error) {
	if err := tx.Exec(docsFTSMapDDL).Error; err != nil {
		return nil, err
	}
	if err := tx.Exec(fts5ProbeDDL).Error; err != nil {
		if strings.Contains(err.Error(), "no such module: fts5") {
			return sqliteLike{}, nil
		}
		return nil, fmt.Errorf("probe for FTS5: %w", err)
	}
	if err := tx.Exec("DROP TABLE temp.mcpauthz_fts5_probe").Error; err != nil {
		return nil, err
	}
	var n int64
	err := tx.Raw("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'docs_fts'").Scan(&n).Error
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if err := tx.Exec(docsFTSDDL).Error; err != nil {
			return nil, err
		}
		// Nothing is indexed yet, whatever the mapping says.
		if err := tx.Exec("DELETE FROM docs_fts_docs").Error; err != nil {
			return nil, err
		}
	}
	if err := repairFTS5(tx); err != nil {
		return nil, fmt.Errorf("repair the FTS5 index: %w", err)
	}
	return sqliteFTS5{}, nil
}

// repairFTS5 brings docs_fts in step with the documents: it drops what is
// indexed for documents that are gone or were changed without FTS5, and
// indexes the documents that are not indexed.
func repairFTS5(tx *gorm.DB) error {
	err := tx.Exec("DELETE FROM docs_fts_docs WHERE document_id NOT IN (SELECT id FROM documents)").Error
	if err != nil {
		return err
	}
	// Every mapping has its row in docs_fts, so there are rows nothing maps
	// to exactly when docs_fts has more rows than the mapping.
	var rows, mapped int64
	if err := tx.Raw("SELECT count(*) FROM docs_fts_docsize").Scan(&rows).Error; err != nil {
		return err
	}
	if err := tx.Raw("SELECT count(*) FROM docs_fts_docs").Scan(&mapped).Error; err != nil {
		return err
	}
	if rows != mapped {
		err := tx.Exec("DELETE FROM docs_fts WHERE rowid NOT IN (SELECT fts_rowid FROM docs_fts_docs)").Error
		if err != nil {
			return err
		}
	}
	// New mappings get rowids above every existing one.
	var top int64
	if err := tx.Raw("SELECT COALESCE(MAX(fts_rowid), 0) FROM docs_fts_docs").Scan(&top).Error; err != nil {
		return err
	}
	err = tx.Exec(`INSERT INTO docs_fts_docs (document_id)
SELECT d.id FROM documents d
WHERE NOT EXISTS (SELECT 1 FROM docs_fts_docs m WHERE m.document_id = d.id)
ORDER BY d.id`).Error
	if err != nil {
		return err
	}
	return tx.Exec(`INSERT INTO docs_fts (rowid, title, body)
SELECT m.fts_rowid, d.title, d.body FROM docs_fts_docs m JOIN documents d ON d.id = m.document_id
WHERE m.fts_rowid > ?`, top).Error
}

// sqliteFTS5 searches with SQLite's FTS5.
type sqliteFTS5 struct{}

func (sqliteFTS5) engine() string { return engineFTS5 }

func (s sqliteFTS5) index(tx *gorm.DB, id string) error {
	var rowids []int64
	if err := tx.Raw("SELECT fts_rowid FROM docs_fts_docs WHERE document_id = ?", id).Scan(&rowids).Error; err != nil {
		return err
	}
	var rowid int64
	if len(rowids) > 0 {
		rowid = rowids[0]
		if err := tx.Exec("DELETE FROM docs_fts WHERE rowid = ?", rowid).Error; err != nil {
			return err
		}
	} else {
		err := tx.Raw("INSERT INTO docs_fts_docs (document_id) VALUES (?) RETURNING fts_rowid", id).Scan(&rowid).Error
		if err != nil {
			return err
		}
	}
	return tx.Exec("INSERT INTO docs_fts (rowid, title, body) SELECT ?, title, body FROM documents WHERE id = ?",
		rowid, id).Error
}

func (sqliteFTS5) unindex(tx *gorm.DB, ids []string) error {
	for chunk := range slices.Chunk(ids, 500) {
		var rowids []int64
		err := tx.Raw("SELECT fts_rowid FROM docs_fts_docs WHERE document_id IN ?", chunk).Scan(&rowids).Error
		if err != nil {
			return err
		}
		for _, r := range rowids {
			if err := tx.Exec("DELETE FROM docs_fts WHERE rowid = ?", r).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec("DELETE FROM docs_fts_docs WHERE document_id IN ?", chunk).Error; err != nil {
			return err
		}
	}
	return nil
}

// ftsExpression returns the FTS5 query for terms: each term a quoted string
// (so nothing in it is FTS5 syntax), the last one a prefix, joined by OR;
// bm25 ranks the documents that match more of them higher.
func ftsExpression(terms []string) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(`"` + strings.ReplaceAll(t, `"`, `""`) + `"`)
		if i == len(terms)-1 {
			b.WriteString("*")
		}
	}
	return b.String()
}

// fts5Rank is sqliteFTS5's ranking statement: bm25 with a title hit
// weighing ten body hits. Its placeholders: the FTS5 expression, the
// visibility condition's, the limit.
var fts5Rank = newViewerStatements(func(cond string) string {
	return `SELECT d.id, d.title, -bm25(docs_fts, 10.0, 1.0) AS score
FROM docs_fts
JOIN docs_fts_docs m ON m.fts_rowid = docs_fts.rowid
JOIN documents d ON d.id = m.document_id
WHERE docs_fts MATCH ? AND ` + cond + `
ORDER BY score DESC, d.updated_at DESC, d.id COLLATE BINARY
LIMIT ?`
}, nil)

func (sqliteFTS5) rank(tx *gorm.DB, q searchQuery) ([]SearchTitle, error) {
	stmt, args := fts5Rank.bind(q.viewer, []any{ftsExpression(q.terms)}, q.limit)
	return queryTitles(tx, q.limit, stmt, args...)
}

func (s sqliteFTS5) search(tx *gorm.DB, q searchQuery) ([]rankedDoc, error) {
	ranked, err := s.rank(tx, q)
	if err != nil || len(ranked) == 0 {
		return nil, err
	}
	hits := unsnipped(ranked)
	expr := ftsExpression(q.terms)
	// Snippets only for the hits returned, not for every match ranked.
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	// The visibility condition again: the document may have changed
	// since it was ranked (see SearchDocuments).
	cond, condArgs := visibleTo(q.viewer)
	var snippets []rankedDoc
	err = tx.Raw(`SELECT m.document_id AS id, snippet(docs_fts, 1, '', '', ?, ?) AS snippet
FROM docs_fts JOIN docs_fts_docs m ON m.fts_rowid = docs_fts.rowid
JOIN documents d ON d.id = m.document_id
WHERE docs_fts MATCH ? AND m.document_id IN ? AND `+cond,
		append([]any{ellipsis, snippetTokens, expr, ids}, condArgs...)...).Scan(&snippets).Error
	if err != nil {
		return nil, err
	}
	byID := make(map[string]string, len(snippets))
	for _, s := range snippets {
		byID[s.ID] = s.Snippet
	}
	for i := range hits {
		hits[i].Snippet = byID[hits[i].ID]
	}
	return hits, nil
}

// sqliteLike searches without FTS5. A term matches a document when it is a
// substring of its lower-cased title or body; each matching term scores 100,
// plus 10 when in the title and 1 when in the body, so documents matching
// more terms rank first and title hits outweigh body hits among them. The
// last term needs no special treatment: substrings include prefixes.
type sqliteLike struct{}

func (sqliteLike) engine() string { return engineLike }

// index and unindex drop the documents' FTS5 mappings, so that a binary
// with FTS5 reindexes them (see repairFTS5).
func (sqliteLike) index(tx *gorm.DB, id string) error {
	return tx.Exec("DELETE FROM docs_fts_docs WHERE document_id = ?", id).Error
}

func (sqliteLike) unindex(tx *gorm.DB, ids []string) error {
	for chunk := range slices.Chunk(ids, 500) {
		if err := tx.Exec("DELETE FROM docs_fts_docs WHERE document_id IN ?", chunk).Error; err != nil {
			return err
		}
	}
	return nil
}

// likeScore is the score sqliteLike gives a document for one term; its
// placeholders are the term, thrice.
const likeScore = `CASE WHEN instr(lower(d.title), ?) > 0 THEN
	CASE WHEN instr(lower(d.body), ?) > 0 THEN 111 ELSE 110 END
	WHEN instr(lower(d.body), ?) > 0 THEN 101 ELSE 0 END`

// likeRank writes out sqliteLike's ranking statement for n terms. Its
// placeholders: each term's thrice (likeScore), the visibility
// condition's, the limit.
func likeRank(n int) viewerStatements {
	return newViewerStatements(func(cond string) string {
		return `SELECT id, title, score FROM (
	SELECT d.id AS id, d.title AS title, d.updated_at AS updated_at, ` +
			strings.Repeat(likeScore+" + ", n-1) + likeScore + ` AS score
	FROM documents d WHERE ` + cond + `
) WHERE score > 0
ORDER BY score DESC, updated_at DESC, id COLLATE BINARY
LIMIT ?`
	}, nil)
}

func (sqliteLike) rank(tx *gorm.DB, q searchQuery) ([]SearchTitle, error) {
	terms := make([]any, 0, 3*len(q.terms))
	for _, t := range q.terms {
		terms = append(terms, t, t, t)
	}
	// Written out per call: the fallback scans every visible document, so
	// building the statement costs nothing by comparison.
	stmt, args := likeRank(len(q.terms)).bind(q.viewer, terms, q.limit)
	return queryTitles(tx, q.limit, stmt, args...)
}

func (s sqliteLike) search(tx *gorm.DB, q searchQuery) ([]rankedDoc, error) {
	ranked, err := s.rank(tx, q)
	return unsnipped(ranked), err
}
