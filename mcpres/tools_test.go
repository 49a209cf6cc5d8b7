package mcpres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mcpauthz/mcpauthz/store"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The ChatGPT shapes, decoded strictly.
type strictSearch struct {
	Results []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"results"`
}

type strictFetch struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	URL      string `json:"url"`
	Metadata struct {
		Owner      string `json:"owner"`
		Visibility string `json:"visibility"`
		UpdatedAt  string `json:"updated_at"`
		Format     string `json:"format"`
	} `json:"metadata"`
}

// versions are the protocol versions the tests speak: the go-sdk
// client's default (2026-07-28, server/discover) and the legacy ones
// clients use today.
var versions = []string{"", "2025-11-25", "2025-06-18", "2025-03-26"}

func search(t *testing.T, f *fixture, token, version, query string) strictSearch {
	t.Helper()
	res := callTool(t, f.connect(token, version), "search", map[string]any{"query": query})
	if res.IsError {
		t.Fatalf("search %q: error %s", query, textOf(t, res))
	}
	var out strictSearch
	decodeStrict(t, textOf(t, res), &out)
	return out
}

func ids(s strictSearch) []string {
	var out []string
	for _, r := range s.Results {
		out = append(out, r.ID)
	}
	return out
}

func TestToolsList(t *testing.T) {
	f := newFixture(t, nil)
	for _, v := range versions {
		t.Run("version="+v, func(t *testing.T) {
			cs := f.connect("alice-token", v)
			res, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
				if tool.Title == "" || len(tool.Description) < 80 {
					t.Errorf("%s: title %q, description %q", tool.Name, tool.Title, tool.Description)
				}
				if a := tool.Annotations; a == nil || !a.ReadOnlyHint || a.OpenWorldHint == nil || *a.OpenWorldHint {
					t.Errorf("%s: annotations %+v, want readOnlyHint true, openWorldHint false", tool.Name, a)
				}
				schema, _ := json.Marshal(tool.InputSchema)
				var s struct {
					Type       string `json:"type"`
					Properties map[string]struct {
						Type        string `json:"type"`
						Description string `json:"description"`
					} `json:"properties"`
					Required []string `json:"required"`
				}
				if err := json.Unmarshal(schema, &s); err != nil {
					t.Fatal(err)
				}
				arg := map[string]string{"search": "query", "fetch": "id"}[tool.Name]
				p, ok := s.Properties[arg]
				if s.Type != "object" || !ok || p.Type != "string" || p.Description == "" || !reflect.DeepEqual(s.Required, []string{arg}) || len(s.Properties) != 1 {
					t.Errorf("%s: inputSchema %s", tool.Name, schema)
				}
			}
			if !reflect.DeepEqual(names, []string{"fetch", "search"}) && !reflect.DeepEqual(names, []string{"search", "fetch"}) {
				t.Errorf("tools %v, want search and fetch", names)
			}
			if init := cs.InitializeResult(); init == nil || init.Capabilities.Tools == nil || init.ServerInfo == nil || init.ServerInfo.Name != "mcpauthz" {
				t.Errorf("initialize result %+v", init)
			} else if v != "" && init.ProtocolVersion != v {
				t.Errorf("negotiated %q, want %q", init.ProtocolVersion, v)
			} else if v == "" && init.ProtocolVersion != "2026-07-28" {
				t.Errorf("default client negotiated %q, want 2026-07-28", init.ProtocolVersion)
			}
		})
	}
}

// The raw JSON-RPC result: one text item first, structuredContent the
// same JSON, nothing else.
func TestSearchAndFetchWireShape(t *testing.T) {
	f := newFixture(t, nil)
	resp, r := f.rpc("alice-token", "tools/call", map[string]any{"name": "search", "arguments": map[string]any{"query": "quokka"}})
	if resp.StatusCode != http.StatusOK || r.Error != nil {
		t.Fatalf("search: %d %+v", resp.StatusCode, r)
	}
	var res struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		IsError           bool            `json:"isError"`
	}
	decodeStrict(t, string(r.Result), &res)
	if len(res.Content) != 1 || res.Content[0].Type != "text" || res.IsError {
		t.Fatalf("result %s", r.Result)
	}
	if string(res.StructuredContent) != res.Content[0].Text {
		t.Errorf("structuredContent %s != text %s", res.StructuredContent, res.Content[0].Text)
	}
	want := `{"results":[{"id":"` + f.docs["alice-shared"] + `","title":"Roadmap quokka","url":"` + f.issuer + `/docs/` + f.docs["alice-shared"] + `"}]}`
	if res.Content[0].Text != want {
		t.Errorf("search text\n got %s\nwant %s", res.Content[0].Text, want)
	}

	_, r = f.rpc("alice-token", "tools/call", map[string]any{"name": "fetch", "arguments": map[string]any{"id": f.docs["alice-private"]}})
	decodeStrict(t, string(r.Result), &res)
	var doc strictFetch
	decodeStrict(t, res.Content[0].Text, &doc)
	stored, err := f.st.GetDocument(t.Context(), f.docs["alice-private"], aliceID)
	if err != nil {
		t.Fatal(err)
	}
	if doc.ID != stored.ID || doc.Title != "Alpha budget plan" || doc.Text != stored.Body || doc.URL != f.issuer+"/docs/"+stored.ID {
		t.Errorf("fetch %+v", doc)
	}
	if doc.Metadata.Owner != "alice" || doc.Metadata.Visibility != "private" || doc.Metadata.Format != "markdown" ||
		doc.Metadata.UpdatedAt != stored.UpdatedAt.UTC().Format(time.RFC3339) {
		t.Errorf("fetch metadata %+v", doc.Metadata)
	}
	if _, err := time.Parse(time.RFC3339, doc.Metadata.UpdatedAt); err != nil {
		t.Errorf("updated_at %q: %v", doc.Metadata.UpdatedAt, err)
	}
	if !strings.Contains(res.Content[0].Text, "<confidential> &") {
		t.Errorf("text was HTML-escaped: %s", res.Content[0].Text)
	}
	// Same JSON value (the wire form may escape <, > and & as \u003c...).
	var sc, tx any
	_ = json.Unmarshal(res.StructuredContent, &sc)
	_ = json.Unmarshal([]byte(res.Content[0].Text), &tx)
	if !reflect.DeepEqual(sc, tx) {
		t.Errorf("structuredContent %s differs from text %s", res.StructuredContent, res.Content[0].Text)
	}
}

func TestVisibility(t *testing.T) {
	f := newFixture(t, nil)
	for _, v := range []string{"", "2025-06-18"} {
		t.Run("version="+v, func(t *testing.T) {
			// Alice sees her private document; bob and carol do not.
			if got := ids(search(t, f, "alice-token", v, "zephyr budget")); !reflect.DeepEqual(got, []string{f.docs["alice-private"]}) {
				t.Errorf("alice search: %v", got)
			}
			for _, tok := range []string{"bob-token", "carol-token"} {
				if got := ids(search(t, f, tok, v, "zephyr budget")); len(got) != 0 {
					t.Errorf("%s finds alice's private document: %v", tok, got)
				}
			}
			// The shared document: alice and bob, not carol.
			for tok, want := range map[string]int{"alice-token": 1, "bob-token": 1, "carol-token": 0} {
				if got := ids(search(t, f, tok, v, "quokka")); len(got) != want {
					t.Errorf("%s quokka: %v, want %d", tok, got, want)
				}
			}
			// Public documents (a user's and the server's): everyone.
			for _, tok := range []string{"alice-token", "bob-token", "carol-token"} {
				got := ids(search(t, f, tok, v, "wombat"))
				if len(got) != 2 || !contains(got, f.docs["public"]) || !contains(got, f.docs["server-public"]) {
					t.Errorf("%s wombat: %v", tok, got)
				}
			}

			// Fetch: a forbidden id answers exactly like an unknown one.
			bob := f.connect("bob-token", v)
			forbidden := callTool(t, bob, "fetch", map[string]any{"id": f.docs["alice-private"]})
			unknown := callTool(t, bob, "fetch", map[string]any{"id": "doc-that-does-not-exist"})
			if !forbidden.IsError || !unknown.IsError {
				t.Fatalf("isError: forbidden %v, unknown %v", forbidden.IsError, unknown.IsError)
			}
			ft := strings.ReplaceAll(textOf(t, forbidden), f.docs["alice-private"], "ID")
			ut := strings.ReplaceAll(textOf(t, unknown), "doc-that-does-not-exist", "ID")
			if ft != ut {
				t.Errorf("forbidden and unknown differ:\n%s\n%s", ft, ut)
			}
			fj, _ := json.Marshal(forbidden)
			uj, _ := json.Marshal(unknown)
			if strings.ReplaceAll(string(fj), f.docs["alice-private"], "ID") != strings.ReplaceAll(string(uj), "doc-that-does-not-exist", "ID") {
				t.Errorf("forbidden and unknown results differ:\n%s\n%s", fj, uj)
			}
			// Bob may fetch the shared and public ones; carol not the shared one.
			var d strictFetch
			decodeStrict(t, textOf(t, callTool(t, bob, "fetch", map[string]any{"id": f.docs["alice-shared"]})), &d)
			if d.Metadata.Owner != "alice" || d.Metadata.Visibility != "shared" {
				t.Errorf("shared fetch: %+v", d)
			}
			carol := f.connect("carol-token", v)
			if res := callTool(t, carol, "fetch", map[string]any{"id": f.docs["alice-shared"]}); !res.IsError {
				t.Errorf("carol fetched the shared document")
			}
			var p strictFetch
			decodeStrict(t, textOf(t, callTool(t, carol, "fetch", map[string]any{"id": f.docs["server-public"]})), &p)
			if p.Metadata.Owner != "" || p.Metadata.Visibility != "public" {
				t.Errorf("server document metadata %+v", p.Metadata)
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestBadArguments(t *testing.T) {
	f := newFixture(t, nil)
	cs := f.connect("alice-token", "2025-11-25")
	tests := []struct {
		tool string
		args any
		want string
	}{
		{"search", map[string]any{}, `needs a "query" argument`},
		{"search", map[string]any{"query": 42}, `needs a "query" argument`},
		{"search", map[string]any{"query": strings.Repeat("x", maxQueryLength+1)}, "too long"},
		{"fetch", map[string]any{}, `needs an "id" argument`},
		{"fetch", map[string]any{"id": []string{"a"}}, `needs an "id" argument`},
		{"fetch", map[string]any{"id": ""}, "No document with id"},
		{"fetch", map[string]any{"id": strings.Repeat("z", maxIDLength+1)}, "No document with id"},
	}
	for _, tc := range tests {
		res := callTool(t, cs, tc.tool, tc.args)
		if !res.IsError || !strings.Contains(textOf(t, res), tc.want) {
			t.Errorf("%s %v: isError %v, text %q, want %q", tc.tool, tc.args, res.IsError, textOf(t, res), tc.want)
		}
	}
	// An empty query is no error: no results.
	if got := search(t, f, "alice-token", "2025-11-25", "  "); got.Results == nil || len(got.Results) != 0 {
		t.Errorf("empty query: %+v", got)
	}
	// An unknown tool is a protocol error.
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "delete", Arguments: map[string]any{}}); err == nil {
		t.Errorf("unknown tool: no error")
	}
}

// Search respects SearchLimit and ranks best first.
func TestSearchLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SearchLimit = 2 })
	for i := range 4 {
		if _, err := f.st.PutDocument(t.Context(), &store.Document{Title: "Numbat " + string(rune('a'+i)), Body: "numbat",
			Format: "text", OwnerID: aliceID, Visibility: store.VisibilityPrivate}); err != nil {
			t.Fatal(err)
		}
	}
	if got := search(t, f, "alice-token", "", "numbat"); len(got.Results) != 2 {
		t.Errorf("got %d results, want 2", len(got.Results))
	}
}

func TestToolCallLogged(t *testing.T) {
	f := newFixture(t, nil)
	cs := f.connect("alice-token", "2025-11-25")
	search(t, f, "alice-token", "2025-11-25", "zephyr budget")
	callTool(t, cs, "fetch", map[string]any{"id": f.docs["alice-private"]})
	logs := f.logs.String()
	var searchLine, fetchLine map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "mcp tool call" {
			continue
		}
		switch m["tool"] {
		case "search":
			searchLine = m
		case "fetch":
			fetchLine = m
		}
	}
	if searchLine == nil || fetchLine == nil {
		t.Fatalf("tool calls not logged:\n%s", logs)
	}
	for _, m := range []map[string]any{searchLine, fetchLine} {
		if m["user"] != aliceID || m["client"] != "client-a" || m["username"] != "alice" || m["outcome"] != "ok" {
			t.Errorf("log line %v", m)
		}
		if _, ok := m["duration"]; !ok {
			t.Errorf("no duration: %v", m)
		}
		if n, _ := m["result_bytes"].(float64); n <= 0 {
			t.Errorf("result_bytes %v", m["result_bytes"])
		}
	}
	if searchLine["query_len"] != float64(len("zephyr budget")) || searchLine["hits"] != float64(1) {
		t.Errorf("search log %v", searchLine)
	}
	for _, secret := range []string{"zephyr", "confidential", "alice-token"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

// The endpoint also answers at its path with a trailing slash, and a
// go-sdk client with the standalone SSE stream on (its GET gets 405 from
// the stateless server) works.
func TestTrailingSlashAndStandaloneSSE(t *testing.T) {
	f := newFixture(t, nil)
	resp, b := f.request(http.MethodPost, "/mcp/", "alice-token", initializeBody, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /mcp/: %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.request(http.MethodPost, "/mcp/x", "alice-token", initializeBody, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /mcp/x: %d, want 404", resp.StatusCode)
	}
	for _, v := range []string{"2025-11-25", "2025-03-26", ""} {
		client := mcp.NewClient(&mcp.Implementation{Name: "mcpres-test", Version: "1"}, nil)
		tr := &mcp.StreamableClientTransport{
			Endpoint:   f.resource + "/",
			HTTPClient: &http.Client{Transport: bearerTransport{token: "bob-token", base: f.http.Client().Transport}},
		}
		cs, err := client.Connect(t.Context(), tr, &mcp.ClientSessionOptions{ProtocolVersion: v})
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		res := callTool(t, cs, "search", map[string]any{"query": "quokka"})
		var out strictSearch
		decodeStrict(t, textOf(t, res), &out)
		if len(out.Results) != 1 {
			t.Errorf("%q: %+v", v, out)
		}
		if err := cs.Close(); err != nil {
			t.Errorf("%q: close: %v", v, err)
		}
	}
}

// countingDocs is a store that records which of its methods fetch and
// search call, and can fail ViewDocument and SearchDocumentTitles.
type countingDocs struct {
	*store.DB
	viewErr   error
	searchErr error

	mu    sync.Mutex
	calls []string
}

func (c *countingDocs) record(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, name)
}

func (c *countingDocs) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

func (c *countingDocs) GetDocument(ctx context.Context, id, viewerID string) (*store.Document, error) {
	c.record("GetDocument")
	return c.DB.GetDocument(ctx, id, viewerID)
}

func (c *countingDocs) ViewDocument(ctx context.Context, id, viewerID string) (*store.DocumentView, error) {
	c.record("ViewDocument")
	if c.viewErr != nil {
		return nil, c.viewErr
	}
	return c.DB.ViewDocument(ctx, id, viewerID)
}

func (c *countingDocs) SearchDocuments(ctx context.Context, viewerID, query string, limit int) ([]store.SearchHit, error) {
	c.record("SearchDocuments")
	return c.DB.SearchDocuments(ctx, viewerID, query, limit)
}

func (c *countingDocs) SearchDocumentTitles(ctx context.Context, viewerID, query string, limit int) ([]store.SearchTitle, error) {
	c.record("SearchDocumentTitles")
	if c.searchErr != nil {
		return nil, c.searchErr
	}
	return c.DB.SearchDocumentTitles(ctx, viewerID, query, limit)
}

func (c *countingDocs) GetUser(ctx context.Context, id string) (*store.User, error) {
	c.record("GetUser")
	return c.DB.GetUser(ctx, id)
}

// oldFetch is what fetch answered when it read the document with
// GetDocument and named the owner with GetUser: the reference ViewDocument
// must reproduce, byte for byte.
func oldFetch(t *testing.T, f *fixture, id, viewer string) (text, outcome string) {
	t.Helper()
	doc, err := f.st.GetDocument(t.Context(), id, viewer)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Sprintf("No document with id %q exists, or you may not read it. Use search to find document ids.", id), "not_found"
	} else if err != nil {
		t.Fatal(err)
	}
	owner := ""
	if doc.OwnerID != "" {
		if u, err := f.st.GetUser(t.Context(), doc.OwnerID); err == nil {
			owner = u.Name
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(fetchOutput{ID: doc.ID, Title: titleOrID(doc.Title, doc.ID), Text: doc.Body, URL: f.issuer + "/docs/" + doc.ID,
		Metadata: fetchMetadata{Owner: owner, Visibility: doc.Visibility, UpdatedAt: doc.UpdatedAt.UTC().Format(time.RFC3339), Format: doc.Format}})
	if err != nil {
		t.Fatal(err)
	}
	// jsonResult does not escape HTML; json.Marshal does.
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	return r.Replace(string(b)), "ok"
}

// Fetch answers exactly as it did with GetDocument and GetUser, for every
// viewer and document (owned, shared, public, the server's, one whose
// owner is no user, unknown), with one store call: ViewDocument.
func TestFetchOneStoreCall(t *testing.T) {
	f := newFixture(t, nil)
	ghost, err := f.st.PutDocument(t.Context(), &store.Document{Title: "  ", Body: "Owner unknown.", Format: "text",
		OwnerID: "u-ghost", Visibility: store.VisibilityPublic})
	if err != nil {
		t.Fatal(err)
	}
	f.docs["ghost"] = ghost.ID
	f.docs["unknown"] = "doc-that-does-not-exist"
	docs := &countingDocs{DB: f.st}
	f.srv.docs = docs

	for _, viewer := range []string{aliceID, bobID, carolID, ""} {
		for name, id := range f.docs {
			out := f.srv.runFetch(t.Context(), json.RawMessage(`{"id":`+mustJSON(t, " "+id+" ")+`}`), &TokenInfo{Subject: viewer})
			if calls := docs.take(); !slices.Equal(calls, []string{"ViewDocument"}) {
				t.Errorf("fetch %s by %q: store calls %v, want only ViewDocument", name, viewer, calls)
			}
			wantText, wantOutcome := oldFetch(t, f, id, viewer)
			if got := textOf(t, out.result); got != wantText {
				t.Errorf("fetch %s by %q:\n got %s\nwant %s", name, viewer, got, wantText)
			}
			if out.outcome != wantOutcome || out.result.IsError != (wantOutcome != "ok") {
				t.Errorf("fetch %s by %q: outcome %q, isError %v; want %q", name, viewer, out.outcome, out.result.IsError, wantOutcome)
			}
			wantAttrs := []slog.Attr(nil)
			if wantOutcome == "ok" {
				wantAttrs = []slog.Attr{slog.String("doc", id)}
				if sc, ok := out.result.StructuredContent.(json.RawMessage); !ok || string(sc) != wantText {
					t.Errorf("fetch %s by %q: structuredContent %v", name, viewer, out.result.StructuredContent)
				}
			}
			if !reflect.DeepEqual(out.attrs, wantAttrs) {
				t.Errorf("fetch %s by %q: log attributes %v, want %v", name, viewer, out.attrs, wantAttrs)
			}
		}
	}

	// The wire form, written out once.
	id := f.docs["alice-private"]
	d, err := f.st.GetDocument(t.Context(), id, aliceID)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + id + `","title":"Alpha budget plan","text":"The zephyr budget for 2026 is <confidential> & final.",` +
		`"url":"` + f.issuer + `/docs/` + id + `","metadata":{"owner":"alice","visibility":"private",` +
		`"updated_at":"` + d.UpdatedAt.UTC().Format(time.RFC3339) + `","format":"markdown"}}`
	if got := textOf(t, f.srv.runFetch(t.Context(), json.RawMessage(`{"id":"`+id+`"}`), &TokenInfo{Subject: aliceID}).result); got != want {
		t.Errorf("fetch text\n got %s\nwant %s", got, want)
	}
	// A document with a blank title and an owner who is no user.
	want = `{"id":"` + ghost.ID + `","title":"` + ghost.ID + `","text":"Owner unknown.","url":"` + f.issuer + `/docs/` + ghost.ID +
		`","metadata":{"owner":"","visibility":"public","updated_at":"` + ghost.UpdatedAt.UTC().Format(time.RFC3339) + `","format":"text"}}`
	if got := textOf(t, f.srv.runFetch(t.Context(), json.RawMessage(`{"id":"`+ghost.ID+`"}`), &TokenInfo{Subject: carolID}).result); got != want {
		t.Errorf("fetch text\n got %s\nwant %s", got, want)
	}

	// A failing store: store_error, the error logged, not shown.
	docs.viewErr = errors.New("store: view document: database is locked")
	out := f.srv.runFetch(t.Context(), json.RawMessage(`{"id":"`+id+`"}`), &TokenInfo{Subject: aliceID})
	if got := textOf(t, out.result); out.outcome != "store_error" || !out.result.IsError ||
		got != "The document store is temporarily unavailable. Try again in a minute." {
		t.Errorf("failing store: outcome %q, text %q", out.outcome, got)
	}
	if want := []slog.Attr{slog.String("error", docs.viewErr.Error())}; !reflect.DeepEqual(out.attrs, want) {
		t.Errorf("failing store: log attributes %v, want %v", out.attrs, want)
	}
	// Arguments fetch refuses never reach the store.
	docs.take()
	for _, args := range []string{`{}`, `{"id":""}`, `{"id":"` + strings.Repeat("z", maxIDLength+1) + `"}`, `{"id":42}`, `{"id":"  "}`} {
		f.srv.runFetch(t.Context(), json.RawMessage(args), &TokenInfo{Subject: aliceID})
	}
	if calls := docs.take(); len(calls) != 0 {
		t.Errorf("refused arguments made store calls %v", calls)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// oldSearch is what search answered when it read the hits with
// SearchDocuments: the reference SearchDocumentTitles must reproduce, byte
// for byte.
func oldSearch(t *testing.T, f *fixture, query, viewer string) string {
	t.Helper()
	hits, err := f.st.SearchDocuments(t.Context(), viewer, strings.TrimSpace(query), f.srv.cfg.SearchLimit)
	if err != nil {
		t.Fatal(err)
	}
	out := searchOutput{Results: make([]searchResult, 0, len(hits))}
	for _, h := range hits {
		out.Results = append(out.Results, searchResult{ID: h.Document.ID, Title: titleOrID(h.Document.Title, h.Document.ID),
			URL: f.issuer + "/docs/" + url.PathEscape(h.Document.ID)})
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	// jsonResult does not escape HTML; json.Marshal does.
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	return r.Replace(string(b))
}

// Search answers exactly as it did with SearchDocuments, for every viewer
// and many queries (blank titles, HTML in titles, IDs that need escaping
// in a URL, ties, more hits than SearchLimit, nothing found, no terms),
// with one store call: SearchDocumentTitles.
func TestSearchOneStoreCall(t *testing.T) {
	f := newFixture(t, nil)
	put := func(d store.Document) {
		t.Helper()
		if _, err := f.st.PutDocument(t.Context(), &d); err != nil {
			t.Fatal(err)
		}
	}
	put(store.Document{Title: "  ", Body: "A wombat burrow, untitled.", Format: "text", OwnerID: bobID, Visibility: store.VisibilityPublic})
	put(store.Document{ID: "id with/slash?", Title: "<b>Wombat</b> & co", Body: "Escaping.", Format: "html",
		OwnerID: aliceID, Visibility: store.VisibilityShared, SharedWith: []string{carolID}})
	for i := range 14 { // more than SearchLimit, some tied
		put(store.Document{ID: fmt.Sprintf("numbat-%02d", i), Title: fmt.Sprintf("Numbat %d", i%3), Body: "numbat " + strings.Repeat("termite ", i%4),
			Format: "text", OwnerID: []string{aliceID, bobID, ""}[i%3], Visibility: []string{store.VisibilityPrivate, store.VisibilityPublic}[i%2]})
	}
	docs := &countingDocs{DB: f.st}
	f.srv.docs = docs

	queries := []string{"wombat", "  wombat  ", "WOMB", "quokka", "zephyr budget", "budget", "numbat", "numbat termite",
		"termite numb", "wombat numbat quokka", "handbook", "co", "<b>", "zzyzx", "!!!", "", "   "}
	for _, viewer := range []string{aliceID, bobID, carolID, ""} {
		for _, q := range queries {
			out := f.srv.runSearch(t.Context(), json.RawMessage(`{"query":`+mustJSON(t, q)+`}`), &TokenInfo{Subject: viewer})
			if calls := docs.take(); !slices.Equal(calls, []string{"SearchDocumentTitles"}) {
				t.Errorf("search %q by %q: store calls %v, want only SearchDocumentTitles", q, viewer, calls)
			}
			want := oldSearch(t, f, q, viewer)
			if got := textOf(t, out.result); got != want {
				t.Errorf("search %q by %q:\n got %s\nwant %s", q, viewer, got, want)
			}
			if sc, ok := out.result.StructuredContent.(json.RawMessage); !ok || string(sc) != want {
				t.Errorf("search %q by %q: structuredContent %v", q, viewer, out.result.StructuredContent)
			}
			var decoded strictSearch
			decodeStrict(t, want, &decoded)
			wantAttrs := []slog.Attr{slog.Int("query_len", utf8.RuneCountInString(strings.TrimSpace(q))), slog.Int("hits", len(decoded.Results))}
			if out.outcome != "ok" || out.result.IsError || !reflect.DeepEqual(out.attrs, wantAttrs) {
				t.Errorf("search %q by %q: outcome %q, isError %v, attrs %v; want ok, %v", q, viewer, out.outcome, out.result.IsError, out.attrs, wantAttrs)
			}
		}
	}

	// The wire form of a blank title (the ID instead) and of an ID that
	// needs escaping, written out once.
	text := textOf(t, f.srv.runSearch(t.Context(), json.RawMessage(`{"query":"wombat"}`), &TokenInfo{Subject: carolID}).result)
	if !strings.Contains(text, `{"id":"id with/slash?","title":"<b>Wombat</b> & co","url":"`+f.issuer+`/docs/id%20with%2Fslash%3F"}`) {
		t.Errorf("search text %s lacks the escaped result", text)
	}
	var blank strictSearch
	decodeStrict(t, text, &blank)
	found := false
	for _, r := range blank.Results {
		found = found || (strings.TrimSpace(r.Title) != "" && r.Title == r.ID)
		if strings.TrimSpace(r.Title) == "" {
			t.Errorf("result %+v has a blank title", r)
		}
	}
	if !found {
		t.Errorf("search text %s: no result titled by its ID", text)
	}

	// A failing store: store_error, the error logged, not shown.
	docs.searchErr = errors.New("store: search document titles: database is locked")
	out := f.srv.runSearch(t.Context(), json.RawMessage(`{"query":"wombat"}`), &TokenInfo{Subject: aliceID})
	if got := textOf(t, out.result); out.outcome != "store_error" || !out.result.IsError ||
		got != "Search is temporarily unavailable. Try again in a minute." {
		t.Errorf("failing store: outcome %q, text %q", out.outcome, got)
	}
	if want := []slog.Attr{slog.Int("query_len", 6), slog.String("error", docs.searchErr.Error())}; !reflect.DeepEqual(out.attrs, want) {
		t.Errorf("failing store: log attributes %v, want %v", out.attrs, want)
	}
	// Arguments search refuses never reach the store.
	docs.take()
	for _, args := range []string{`{}`, `{"query":42}`, `{"query":"` + strings.Repeat("z", maxQueryLength+1) + `"}`, `[]`} {
		f.srv.runSearch(t.Context(), json.RawMessage(args), &TokenInfo{Subject: aliceID})
	}
	if calls := docs.take(); len(calls) != 0 {
		t.Errorf("refused arguments made store calls %v", calls)
	}
}
