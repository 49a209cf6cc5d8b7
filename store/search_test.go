package store

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestQueryTerms(t *testing.T) {
	for q, want := range map[string][]string{
		"":                        nil,
		"  \t":                    nil,
		`"*:()-^`:                 nil,
		"\xff\xfe":                nil,
		"OAuth 2.1 Authorization": {"oauth", "2", "1", "authorization"},
		`title:foo "bar`:          {"title", "foo", "bar"},
		"NEAR(a b, 2)":            {"near", "a", "b", "2"},
		"a' | 'b":                 {"a", "b"},
		"foo_bar-baz":             {"foo", "bar", "baz"},
		"x\x00y":                  {"x", "y"},
		"Café crème":              {"café", "crème"},
		"cafe\u0301":              {"cafe\u0301"},
		"auth foo AUTH":           {"foo", "auth"}, // the last one stays last
		"a b a b":                 {"a", "b"},
		"日本語のテキスト":                {"日本語のテキスト"},
	} {
		if got := queryTerms(q); !slices.Equal(got, want) {
			t.Errorf("queryTerms(%q) = %q, want %q", q, got, want)
		}
	}

	// Many terms: the first ones and the last.
	var words []string
	for i := range 100 {
		words = append(words, string(rune('a'+i%26))+strings.Repeat("x", i/26))
	}
	got := queryTerms(strings.Join(words[:60], " "))
	if len(got) != maxQueryTerms || got[0] != "a" || got[len(got)-1] != words[59] {
		t.Errorf("queryTerms of 60 words = %q", got)
	}
	// Long input: cut at maxQueryBytes, on a rune boundary.
	got = queryTerms(strings.Repeat("ü", 1000))
	if len(got) != 1 || len(got[0]) > maxQueryBytes || !utf8.ValidString(got[0]) {
		t.Errorf("queryTerms of 2000 bytes = %d terms, %d bytes", len(got), len(got[0]))
	}
}

func TestQueryExpressions(t *testing.T) {
	terms := []string{"oauth", `a"b`, "auth"}
	if got, want := ftsExpression(terms), `"oauth" OR "a""b" OR "auth"*`; got != want {
		t.Errorf("ftsExpression = %s, want %s", got, want)
	}
	if got, want := tsqueryText(terms), `'oauth' | 'a"b' | 'auth':*`; got != want {
		t.Errorf("tsqueryText = %s, want %s", got, want)
	}
	if got, want := tsqueryText([]string{"x", "it's"}), `'x' | 'it''s':*`; got != want {
		t.Errorf("tsqueryText = %s, want %s", got, want)
	}
}

func TestNumbered(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"SELECT 1":                   "SELECT 1",
		"?":                          "$1",
		"a = ? AND b IN (?, ?) OR ?": "a = $1 AND b IN ($2, $3) OR $4",
	} {
		if got := numbered(in); got != want {
			t.Errorf("numbered(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRankStatements: every ranking statement, for either kind of viewer,
// has one placeholder for each argument bind gives it, and the PostgreSQL
// ones are numbered.
func TestRankStatements(t *testing.T) {
	q := searchQuery{terms: []string{"a", "b", "c"}, limit: 7}
	for _, viewer := range []string{"", "u1"} {
		q.viewer = viewer
		check := func(engine, stmt string, args []any) {
			t.Helper()
			n := strings.Count(stmt, "?")
			if engine == enginePostgres {
				if n != 0 {
					t.Errorf("%s statement for %q holds ?: %s", engine, viewer, stmt)
				}
				n = 0 // $1 … $n
				for strings.Contains(stmt, "$"+strconv.Itoa(n+1)) {
					n++
				}
			}
			if n != len(args) || args[len(args)-1] != 7 {
				t.Errorf("%s statement for %q: %d placeholders, arguments %q:\n%s", engine, viewer, n, args, stmt)
			}
		}
		stmt, args := fts5Rank.bind(viewer, []any{ftsExpression(q.terms)}, q.limit)
		check(engineFTS5, stmt, args)
		terms := []any{"a", "a", "a", "b", "b", "b", "c", "c", "c"}
		stmt, args = likeRank(len(q.terms)).bind(viewer, terms, q.limit)
		check(engineLike, stmt, args)
		stmt, args = postgresRank.bind(viewer, postgresFTS{}.rankArgs(q), q.limit)
		check(enginePostgres, stmt, args)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("lorem ipsum dolor ", 50)
	for _, tc := range []struct {
		body  string
		terms []string
		want  func(string) bool
	}{
		{"short  body\n\ttext", []string{"body"}, func(s string) bool { return s == "short body text" }},
		{long + "NEEDLE here " + long, []string{"needle"}, func(s string) bool {
			return strings.HasPrefix(s, "…") && strings.HasSuffix(s, "…") && strings.Contains(s, "NEEDLE here") &&
				len(s) < snippetMaxBytes+10
		}},
		{long, []string{"absent"}, func(s string) bool {
			return strings.HasPrefix(s, "lorem ipsum") && strings.HasSuffix(s, "…")
		}},
		{"a b " + long + "needle", []string{"a", "needle", "b"}, func(s string) bool {
			return strings.HasPrefix(s, "…") && strings.HasSuffix(s, "needle")
		}},
		{strings.Repeat("ü", 400) + "x", []string{"x"}, func(s string) bool {
			return utf8.ValidString(s) && strings.HasSuffix(s, "x") && strings.HasPrefix(s, "…")
		}},
	} {
		if got := excerpt(tc.body, tc.terms); !tc.want(got) {
			t.Errorf("excerpt(%.40q…, %q) = %q", tc.body, tc.terms, got)
		}
	}

	for _, tc := range []struct{ body, ex, want string }{
		{"one two three four", "two three", "…two three…"},
		{"one two three", "one two", "one two…"},
		{"one  two\nthree", "two three", "…two three"},
		{"one two", "one two", "one two"},
		{"one two", "elsewhere", "elsewhere"},
	} {
		if got := withEllipses(tc.body, tc.ex); got != tc.want {
			t.Errorf("withEllipses(%q, %q) = %q, want %q", tc.body, tc.ex, got, tc.want)
		}
	}
}

// TestSearchWarning: Open warns, once, when search falls back to LIKE.
func TestSearchWarning(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db := openTemp(t, Config{Logger: log})
	warned := strings.Count(buf.String(), "lacks FTS5")
	switch db.searchEngine() {
	case engineLike:
		if warned != 1 || !strings.Contains(buf.String(), "make build") || !strings.Contains(buf.String(), "level=WARN") {
			t.Errorf("log of an Open without FTS5 = %q, want one warning that mentions make build", buf.String())
		}
	case engineFTS5:
		if buf.Len() != 0 {
			t.Errorf("log of an Open with FTS5 = %q, want nothing", buf.String())
		}
	default:
		t.Errorf("search engine = %q", db.searchEngine())
	}
}

// TestFTS5Repair: documents changed by a binary without FTS5 are
// reindexed when a binary with FTS5 opens the database again.
func TestFTS5Repair(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "m.db")
	ctx := t.Context()
	db := openTemp(t, Config{DSN: dsn})
	if db.searchEngine() != engineFTS5 {
		t.Skip("this binary lacks FTS5 (build with -tags sqlite_fts5)")
	}
	put := func(db *DB, id, body string) {
		t.Helper()
		_, err := db.PutDocument(ctx, &Document{ID: id, Title: "Fruit", Body: body, Visibility: VisibilityPublic})
		if err != nil {
			t.Fatal(err)
		}
	}
	find := func(db *DB, q string, want ...string) {
		t.Helper()
		hits, err := db.SearchDocuments(ctx, "", q, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.Document.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s search %q = %q, want %q", db.searchEngine(), q, got, want)
		}
	}
	put(db, "d1", "apple")
	put(db, "d2", "banana")
	put(db, "d3", "cherry")

	// What a binary without FTS5 does to the same database.
	db.search = sqliteLike{}
	put(db, "d1", "apricot")
	if err := db.DeleteDocument(ctx, "d2"); err != nil {
		t.Fatal(err)
	}
	put(db, "d4", "date")
	find(db, "apricot", "d1")
	find(db, "cherry", "d3")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openTemp(t, Config{DSN: dsn})
	if db.searchEngine() != engineFTS5 {
		t.Fatalf("search engine after reopen = %q", db.searchEngine())
	}
	find(db, "apricot", "d1")
	find(db, "apple")
	find(db, "banana")
	find(db, "cherry", "d3")
	find(db, "date", "d4")
	var rows, mapped int64
	if err := db.gdb.Raw("SELECT count(*) FROM docs_fts_docsize").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.gdb.Raw("SELECT count(*) FROM docs_fts_docs").Scan(&mapped).Error; err != nil {
		t.Fatal(err)
	}
	if rows != 3 || mapped != 3 {
		t.Errorf("after repair: %d index rows, %d mapped; want 3 and 3", rows, mapped)
	}
}

// FuzzSearchDocuments: no query is an error, and terms are plain words.
func FuzzSearchDocuments(f *testing.F) {
	for _, q := range []string{"", `"`, "AND", "NEAR(", "*", "-x", "title:foo", "a' | 'b", "x\x00y",
		"\xff", "e\u0301", "²", "foo bar baz*", `{title}: "x" OR y NOT z`} {
		f.Add(q)
	}
	db, err := Open(context.Background(), Config{DSN: filepath.Join(f.TempDir(), "m.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	for i, body := range []string{"foo and bar", "NEAR title x", "café crème 2.1"} {
		_, err := db.PutDocument(context.Background(), &Document{
			ID: string(rune('a' + i)), Title: "t", Body: body, Visibility: VisibilityPublic,
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms := queryTerms(q)
		if len(terms) > maxQueryTerms {
			t.Errorf("%d terms", len(terms))
		}
		for _, term := range terms {
			for _, r := range term {
				if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r) {
					t.Errorf("term %q holds %q", term, r)
				}
			}
		}
		if _, err := db.SearchDocuments(t.Context(), "u1", q, 10); err != nil {
			t.Errorf("SearchDocuments(%q): %v", q, err)
		}
	})
}
