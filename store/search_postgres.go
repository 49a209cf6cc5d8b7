package store

import (
	"strings"

	"gorm.io/gorm"
)

// PostgreSQL document search.
//
// The column documents.search is a tsvector that PostgreSQL generates from
// title (weight A) and body (weight B), indexed with GIN. It holds each text
// twice, under two configurations:
//
//   - 'english' stems ("tokens" finds "token") and drops stop words. The
//     stop words matter: ts_rank_cd, unlike bm25, knows nothing of how
//     common a word is, so with every "the" and "of" kept, the longest
//     documents would win any query phrased as a sentence.
//   - 'simple' keeps every word as written, lower-cased. The last query term
//     is matched against it as a prefix: the user may still be typing it,
//     and a stemmed index cannot serve prefixes ("authoriz" is not a prefix
//     of "author", the stem of "authorization").
//
// A query is every term under 'english' (the last one also as a prefix)
// OR the last term as a 'simple' prefix, ranked by ts_rank_cd with a title
// hit weighing ten body hits and the rank divided by 1 + the log of the
// document length. Snippets come from ts_headline without markup.

// postgresSearchVector is the expression of documents.search.
const postgresSearchVector = `setweight(to_tsvector('english'::regconfig, title), 'A') || ` +
	`setweight(to_tsvector('english'::regconfig, body), 'B') || ` +
	`setweight(to_tsvector('simple'::regconfig, title), 'A') || ` +
	`setweight(to_tsvector('simple'::regconfig, body), 'B')`

// postgresHeadline are the ts_headline options: plain text, about 10 to 30
// words.
const postgresHeadline = `StartSel="",StopSel="",MaxWords=30,MinWords=10`

// setupPostgresSearch adds the generated search column and its GIN index
// to documents, when they are missing.
func setupPostgresSearch(tx *gorm.DB) (searcher, error) {
	m := tx.Migrator()
	if !m.HasColumn(&documentRow{}, "search") {
		err := tx.Exec("ALTER TABLE documents ADD COLUMN search tsvector GENERATED ALWAYS AS (" +
			postgresSearchVector + ") STORED").Error
		if err != nil {
			return nil, err
		}
	}
	if !m.HasIndex(&documentRow{}, "idx_documents_search") {
		if err := tx.Exec("CREATE INDEX idx_documents_search ON documents USING GIN (search)").Error; err != nil {
			return nil, err
		}
	}
	return postgresFTS{}, nil
}

// postgresFTS searches with PostgreSQL's full-text search.
type postgresFTS struct{}

func (postgresFTS) engine() string { return enginePostgres }

// index and unindex have nothing to do: PostgreSQL maintains the generated
// column.
func (postgresFTS) index(*gorm.DB, string) error     { return nil }
func (postgresFTS) unindex(*gorm.DB, []string) error { return nil }

// tsqueryText returns terms as to_tsquery input: each quoted (the terms
// hold only letters, digits and marks, so nothing in them is an operator),
// joined by |, the last one a prefix (:*).
func tsqueryText(terms []string) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString("'" + strings.ReplaceAll(t, "'", "''") + "'")
		if i == len(terms)-1 {
			b.WriteString(":*")
		}
	}
	return b.String()
}

// postgresRankQuery is postgresFTS's ranking statement with the
// visibility condition cond: ts_rank_cd with a title hit weighing ten body
// hits, divided by 1 + the log of the document length. Its placeholders:
// the 'english' query text, the 'simple' one, cond's, the limit.
func postgresRankQuery(cond string) string {
	return `SELECT d.id, d.title, ts_rank_cd('{0.1, 0.1, 0.1, 1.0}'::real[], d.search, q.q, 1) AS score
FROM documents d, (SELECT to_tsquery('english', ?) || to_tsquery('simple', ?) AS q) q
WHERE d.search @@ q.q AND ` + cond + `
ORDER BY score DESC, d.updated_at DESC, d.id COLLATE "C"
LIMIT ?`
}

// postgresRank is postgresRankQuery written out for the pool.
var postgresRank = newViewerStatements(postgresRankQuery, numbered)

// rankArgs are the arguments of postgresRankQuery before cond's.
func (postgresFTS) rankArgs(q searchQuery) []any {
	return []any{tsqueryText(q.terms), tsqueryText(q.terms[len(q.terms)-1:])}
}

func (p postgresFTS) rank(tx *gorm.DB, q searchQuery) ([]SearchTitle, error) {
	stmt, args := postgresRank.bind(q.viewer, p.rankArgs(q), q.limit)
	return queryTitles(tx, q.limit, stmt, args...)
}

// search ranks with postgresRankQuery and adds a headline to each hit in
// the same statement.
func (p postgresFTS) search(tx *gorm.DB, q searchQuery) ([]rankedDoc, error) {
	cond, condArgs := visibleTo(q.viewer)
	// The headline looks for the terms as written (the last one as a
	// prefix): stemming would miss that prefix, and prefixes of every
	// term would let "I" or "do" pick the excerpt.
	args := append([]any{tsqueryText(q.terms), postgresHeadline}, p.rankArgs(q)...)
	args = append(append(args, condArgs...), q.limit)
	var hits []rankedDoc
	err := tx.Raw(`SELECT r.id, r.score, ts_headline('simple', d.body, to_tsquery('simple', ?), ?) AS snippet
FROM (`+postgresRankQuery(cond)+`) r JOIN documents d ON d.id = r.id
ORDER BY r.score DESC, d.updated_at DESC, r.id COLLATE "C"`, args...).Scan(&hits).Error
	return hits, err
}
