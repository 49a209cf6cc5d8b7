package store

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Document search engines, as searcher.engine names them.
const (
	// engineFTS5 is SQLite's FTS5 with bm25 ranking (binaries built with
	// the sqlite_fts5 tag, as `make build` does).
	engineFTS5 = "fts5"
	// engineLike is the fallback of SQLite builds without FTS5: substring
	// matching with a simple score.
	engineLike = "like"
	// enginePostgres is PostgreSQL's full-text search: a tsvector column
	// with a GIN index, ranked by ts_rank_cd.
	enginePostgres = "postgres"
)

// Limits on what a search query may cost. User input beyond them is
// ignored, never an error.
const (
	maxQueryBytes = 512 // of the query text
	maxQueryTerms = 32  // terms after splitting
	maxSearchHits = 100 // the largest limit SearchDocuments accepts
)

// searcher is a document search engine: it keeps its index in step with
// the documents table and answers ranked queries. Open chooses one per
// database (see setupSearch); all of its methods run on the handle they are
// given, so index updates share the caller's transaction.
type searcher interface {
	// engine names the engine: engineFTS5, engineLike or enginePostgres.
	engine() string
	// index (re)indexes document id after its row was written.
	index(tx *gorm.DB, id string) error
	// unindex drops documents ids from the index; their rows may be gone.
	unindex(tx *gorm.DB, ids []string) error
	// rank returns up to q.limit documents that q.viewer may see and that
	// match q.terms, best first: by score descending, then updated_at
	// descending, then ID; each with its title and score, read by one
	// statement on tx's prepared-statement pool (see queryTitles).
	rank(tx *gorm.DB, q searchQuery) ([]SearchTitle, error)
	// search returns the documents rank returns, in its order and with its
	// scores, each with a snippet (empty if the engine has none).
	search(tx *gorm.DB, q searchQuery) ([]rankedDoc, error)
}

// searchQuery is a sanitised search.
type searchQuery struct {
	viewer string
	terms  []string // at least one, lower case, letters, digits and marks only; the last one is matched as a prefix
	limit  int      // 1..maxSearchHits
}

// newSearchQuery sanitises a search (see SearchDocuments): query split by
// queryTerms, limit clamped to 1..maxSearchHits. False if the query has no
// terms, which finds nothing.
func newSearchQuery(viewer, query string, limit int) (searchQuery, bool) {
	terms := queryTerms(query)
	return searchQuery{viewer: viewer, terms: terms, limit: min(max(limit, 1), maxSearchHits)}, len(terms) > 0
}

// rankedDoc is a document ID a searcher found, with its score (higher is
// better) and a plain-text snippet (empty if the engine has none).
type rankedDoc struct {
	ID      string  `gorm:"column:id"`
	Score   float64 `gorm:"column:score"`
	Snippet string  `gorm:"column:snippet"`
}

// unsnipped returns ranked as rankedDocs without snippets.
func unsnipped(ranked []SearchTitle) []rankedDoc {
	if len(ranked) == 0 {
		return nil
	}
	docs := make([]rankedDoc, len(ranked))
	for i, r := range ranked {
		docs[i] = rankedDoc{ID: r.ID, Score: r.Score}
	}
	return docs
}

// viewerStatements is a ranking statement written out once for each kind
// of viewer, with the visibility condition of visibleTo for the anonymous
// viewer and for a user. Its placeholders are those of the statement
// around the condition and the condition's own, in order; bind fills them.
type viewerStatements struct{ anonymous, user string }

// newViewerStatements writes out the statement build returns for a
// visibility condition, then passes it through finish (nil: as is), which
// may number the placeholders for PostgreSQL.
func newViewerStatements(build func(cond string) string, finish func(string) string) viewerStatements {
	if finish == nil {
		finish = func(s string) string { return s }
	}
	anonymous, _ := visibleTo("")
	user, _ := visibleTo("viewer") // the arguments differ by viewer, the condition does not
	return viewerStatements{anonymous: finish(build(anonymous)), user: finish(build(user))}
}

// bind returns the statement for viewer with its arguments: before, then
// the visibility condition's, then after.
func (s viewerStatements) bind(viewer string, before []any, after ...any) (string, []any) {
	_, condArgs := visibleTo(viewer)
	args := make([]any, 0, len(before)+len(condArgs)+len(after))
	args = append(append(append(args, before...), condArgs...), after...)
	if viewer == "" {
		return s.anonymous, args
	}
	return s.user, args
}

// queryTitles runs a ranking statement, written out (placeholders as the
// driver takes them: ? for SQLite, $n for PostgreSQL), on gorm's
// prepared-statement pool of tx (the transaction's, if tx is one), and
// scans its rows: id, title, score. Building the statement with gorm cost
// more than running it (see ViewDocument).
func queryTitles(tx *gorm.DB, limit int, stmt string, args ...any) ([]SearchTitle, error) {
	rows, err := tx.Statement.ConnPool.QueryContext(tx.Statement.Context, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SearchTitle
	for rows.Next() {
		if out == nil {
			out = make([]SearchTitle, 0, limit)
		}
		var t SearchTitle
		if err := rows.Scan(&t.ID, &t.Title, &t.Score); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// numbered returns stmt with its ? placeholders numbered $1, $2, … in
// order, as PostgreSQL takes them. Every ? in stmt is a placeholder.
func numbered(stmt string) string {
	var b strings.Builder
	for n := 1; ; n++ {
		i := strings.IndexByte(stmt, '?')
		if i < 0 {
			break
		}
		b.WriteString(stmt[:i])
		b.WriteString("$" + strconv.Itoa(n))
		stmt = stmt[i+1:]
	}
	b.WriteString(stmt)
	return b.String()
}

// setupSearch prepares the search index of db's dialect inside the
// migration transaction tx and returns the engine to use.
func (db *DB) setupSearch(tx *gorm.DB) (searcher, error) {
	if db.dialect == DialectPostgres {
		return setupPostgresSearch(tx)
	}
	return setupSQLiteSearch(tx)
}

// queryTerms turns a user's query into search terms, never failing: the
// query (cut to maxQueryBytes) is split into words at every rune that is
// not a letter, digit or combining mark, so no operator, quote, column
// filter or wildcard survives; words are lower-cased and deduplicated, and
// at most maxQueryTerms are kept: the first ones, and always the last one,
// which engines match as a prefix (the user may still be typing it). An
// empty or all-punctuation query has no terms.
func queryTerms(query string) []string {
	if len(query) > maxQueryBytes {
		i := maxQueryBytes
		for i > 0 && !utf8.RuneStart(query[i]) {
			i--
		}
		query = query[:i]
	}
	words := strings.FieldsFunc(query, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r)
	})
	if len(words) == 0 {
		return nil
	}
	last := strings.ToLower(words[len(words)-1])
	seen := map[string]bool{last: true}
	var terms []string
	for _, w := range words[:len(words)-1] {
		if len(terms) == maxQueryTerms-1 {
			break
		}
		w = strings.ToLower(w)
		if !seen[w] {
			seen[w] = true
			terms = append(terms, w)
		}
	}
	return append(terms, last)
}

// visibleTo returns the SQL condition, on the documents table aliased d,
// that viewer may see a document, with its arguments: viewer owns it, it is
// public, or it is shared and viewer is among its shares. The empty viewer
// (anonymous) sees only public documents, even those whose owner is empty.
func visibleTo(viewer string) (string, []any) {
	if viewer == "" {
		return "(d.visibility = 'public')", nil
	}
	return "(d.owner_id = ? OR d.visibility = 'public' OR (d.visibility = 'shared' AND EXISTS " +
			"(SELECT 1 FROM document_shares s WHERE s.document_id = d.id AND s.user_id = ?)))",
		[]any{viewer, viewer}
}

// searchBodyChars bounds how much of a hit's body a search reads to cut a
// snippet from, in characters: a search that matches many large documents
// must not read them whole. A match further in gets an excerpt from the
// beginning.
const searchBodyChars = 1 << 16

// Snippet shaping.
const (
	ellipsis        = "…"
	snippetTokens   = 32  // FTS5 snippet length, in tokens
	snippetContext  = 120 // bytes of context before a match in fallback snippets
	snippetMaxBytes = 300 // fallback snippet length before ellipses
)

// tidySnippet collapses the whitespace of a snippet to single spaces.
func tidySnippet(s string) string { return strings.Join(strings.Fields(s), " ") }

// excerpt returns a plain-text snippet of body around the first
// case-insensitive occurrence of the longest term that occurs (longer terms
// tend to be the telling ones: "refresh" rather than "I"), or from the
// start if none occurs, marking cut ends with an ellipsis. The cuts fall on
// whitespace when there is some nearby, and always on rune boundaries.
func excerpt(body string, terms []string) string {
	start := 0
	byLength := slices.Clone(terms)
	slices.SortStableFunc(byLength, func(a, b string) int { return len(b) - len(a) })
	for _, t := range byLength {
		if loc := regexp.MustCompile("(?i)" + regexp.QuoteMeta(t)).FindStringIndex(body); loc != nil {
			start = max(0, loc[0]-snippetContext)
			break
		}
	}
	end := min(len(body), start+snippetMaxBytes)
	if start > 0 {
		// Move to a rune boundary, then past the word the cut fell in.
		for start < end && !utf8.RuneStart(body[start]) {
			start++
		}
		if i := strings.IndexFunc(body[start:end], unicode.IsSpace); i >= 0 && i < snippetContext/2 {
			start += i
		}
	}
	if end < len(body) {
		for end > start && !utf8.RuneStart(body[end]) {
			end--
		}
		if i := strings.LastIndexFunc(body[start:end], unicode.IsSpace); i > (end-start)/2 {
			end = start + i
		}
	}
	s := tidySnippet(body[start:end])
	if start > 0 {
		s = ellipsis + s
	}
	if end < len(body) {
		s += ellipsis
	}
	return s
}

// withEllipses marks with an ellipsis the ends of an excerpt of body (found
// verbatim, whitespace aside) that do not reach the ends of body.
func withEllipses(body, ex string) string {
	b, e := tidySnippet(body), tidySnippet(ex)
	if e == "" {
		return e
	}
	i := strings.Index(b, e)
	if i < 0 {
		return e
	}
	out := e
	if i > 0 {
		out = ellipsis + out
	}
	if i+len(e) < len(b) {
		out += ellipsis
	}
	return out
}
