package mcpres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpauthz/mcpauthz/store"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// scopeDocsRead lets a token search and fetch the documents its user sees.
const scopeDocsRead = "docs:read"

// Argument limits.
const (
	maxQueryLength = 1000
	maxIDLength    = 200
)

// toolSpec is one row of the tool table: the MCP tool, the scope a token
// needs to see it in tools/list and to call it, and its implementation.
type toolSpec struct {
	tool  *mcp.Tool
	scope string
	run   func(s *Server, ctx context.Context, args json.RawMessage, caller *TokenInfo) callOutcome
}

// callOutcome is what a tool run produced, for the client and for the log.
type callOutcome struct {
	result  *mcp.CallToolResult
	outcome string      // ok, invalid_arguments, not_found, store_error
	attrs   []slog.Attr // tool-specific log attributes; never texts or queries
}

// toolTable is the table tool → scope. Both tools follow the contract
// ChatGPT connectors and deep research expect of "search" and "fetch"
// (OpenAI, "Building MCP servers for ChatGPT and API integrations"): one
// string argument, one text content item holding JSON.
func toolTable(searchLimit int) []toolSpec {
	closed := false
	readOnly := func(title string) *mcp.ToolAnnotations {
		return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: &closed}
	}
	return []toolSpec{
		{
			scope: scopeDocsRead,
			run:   (*Server).runSearch,
			tool: &mcp.Tool{
				Name:  "search",
				Title: "Search documents",
				Description: fmt.Sprintf("Search the documents the signed-in user may read (their own, those shared with them, "+
					"and public ones) by keywords. Returns up to %d results, best match first, as JSON "+
					`{"results": [{"id", "title", "url"}]}. `+
					"A document matches if it contains any of the words (the last one also as a word prefix); "+
					"plain keywords work best, and trying other word forms (singular or plural) can help. No query syntax is needed. "+
					"Call fetch with a result's id to read the whole document. An empty result list means nothing matched.", searchLimit),
				InputSchema: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":` +
					`"Keywords or a short natural-language question to search for, e.g. \"travel expense policy\"."}},` +
					`"required":["query"]}`),
				OutputSchema: json.RawMessage(`{"type":"object","properties":{"results":{"type":"array",` +
					`"description":"Matching documents, best match first.","items":{"type":"object","properties":{` +
					`"id":{"type":"string","description":"Pass to fetch to read the document."},` +
					`"title":{"type":"string"},"url":{"type":"string","description":"A page showing the document to a signed-in user."}},` +
					`"required":["id","title","url"]}}},"required":["results"]}`),
				Annotations: readOnly("Search documents"),
			},
		},
		{
			scope: scopeDocsRead,
			run:   (*Server).runFetch,
			tool: &mcp.Tool{
				Name:  "fetch",
				Title: "Fetch a document",
				Description: "Fetch the full text of one document by the id a search result gave. Returns JSON " +
					`{"id", "title", "text", "url", "metadata"}; metadata has the owner's name ("" for documents of the server), ` +
					"visibility (private, shared or public), updated_at (RFC 3339) and the original format. " +
					"Only ids from search results work; an unknown id is reported as an error.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string","description":` +
					`"The id of a document, exactly as a search result returned it."}},"required":["id"]}`),
				OutputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"},"title":{"type":"string"},` +
					`"text":{"type":"string","description":"The document's text (plain text or Markdown)."},"url":{"type":"string"},` +
					`"metadata":{"type":"object","properties":{"owner":{"type":"string"},` +
					`"visibility":{"type":"string","enum":["private","shared","public"]},` +
					`"updated_at":{"type":"string","format":"date-time"},"format":{"type":"string"}},` +
					`"required":["owner","visibility","updated_at","format"]}},"required":["id","title","text","url","metadata"]}`),
				Annotations: readOnly("Fetch a document"),
			},
		},
	}
}

// serverInstructions go into the initialize (or server/discover) result.
const serverInstructions = "Use search to find documents by keywords, then fetch with a result's id to read one in full. " +
	"Only documents the signed-in user may read are reachable."

// toolByName returns the row of the tool table, or nil.
func (s *Server) toolByName(name string) *toolSpec {
	for i := range s.tools {
		if s.tools[i].tool.Name == name {
			return &s.tools[i]
		}
	}
	return nil
}

// toolHandler wraps a tool for the go-sdk server: it checks the caller
// (again: the table already decided which tools this server has), applies
// the rate limit, runs the tool and logs the call.
func (s *Server) toolHandler(t *toolSpec) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now() // for the duration; Config.Now drives the limit
		caller := TokenInfoFromContext(ctx)
		var out callOutcome
		switch {
		case caller == nil || !caller.HasScope(t.scope):
			// Unreachable through ServeHTTP, which answers 403 first.
			out = callOutcome{result: toolError("This tool needs the " + t.scope + " scope."), outcome: "forbidden"}
		default:
			if s.limiter != nil {
				if ok, wait := s.limiter.allow(rateKey(caller), s.cfg.Now()); !ok {
					secs := int(math.Ceil(wait.Seconds()))
					out = callOutcome{outcome: "rate_limited", result: toolError(fmt.Sprintf(
						"Rate limit exceeded: at most %d tool calls a minute (bursts of %d). Retry after %d second%s.",
						s.cfg.RateLimit.PerMinute, s.cfg.RateLimit.Burst, secs, plural(secs))),
						attrs: []slog.Attr{slog.Int("retry_after_s", secs)}}
					break
				}
			}
			var args json.RawMessage
			if req != nil && req.Params != nil {
				args = req.Params.Arguments
			}
			out = t.run(s, ctx, args, caller)
		}
		s.logCall(ctx, t.tool.Name, caller, start, out)
		return out.result, nil
	}
}

// logCall logs one tool call: who, which tool, how long, how big the
// result was. Never a query, a document text or a token.
func (s *Server) logCall(ctx context.Context, tool string, caller *TokenInfo, start time.Time, out callOutcome) {
	size := 0
	for _, c := range out.result.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			size += len(tc.Text)
		}
	}
	attrs := []slog.Attr{slog.String("tool", tool)}
	if caller != nil {
		attrs = append(attrs, slog.String("user", caller.Subject), slog.String("username", caller.Username), slog.String("client", caller.ClientID))
	}
	attrs = append(attrs,
		slog.String("outcome", out.outcome),
		slog.Bool("is_error", out.result.IsError),
		slog.Int("result_bytes", size),
		slog.Duration("duration", time.Since(start)),
	)
	attrs = append(attrs, out.attrs...)
	level := slog.LevelInfo
	if out.outcome == "store_error" {
		level = slog.LevelError
	}
	s.log.LogAttrs(ctx, level, "mcp tool call", attrs...)
}

// Search results, exactly the ChatGPT shape.
type searchResult struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

type searchOutput struct {
	Results []searchResult `json:"results"`
}

// runSearch implements search: {"query": string} → {"results": [...]},
// with one store call (SearchDocumentTitles: the ranking query alone,
// which reads the titles).
func (s *Server) runSearch(ctx context.Context, args json.RawMessage, caller *TokenInfo) callOutcome {
	query, ok := stringArg(args, "query")
	if !ok {
		return callOutcome{outcome: "invalid_arguments", result: toolError(
			`The search tool needs a "query" argument: a string of keywords, e.g. {"query": "budget 2026"}.`)}
	}
	query = strings.TrimSpace(query)
	attrs := []slog.Attr{slog.Int("query_len", utf8.RuneCountInString(query))}
	if utf8.RuneCountInString(query) > maxQueryLength {
		return callOutcome{outcome: "invalid_arguments", attrs: attrs, result: toolError(
			fmt.Sprintf("The query is too long: at most %d characters. Use a few keywords.", maxQueryLength))}
	}
	// Titles only: the results show no snippet, body or shares.
	hits, err := s.docs.SearchDocumentTitles(ctx, caller.Subject, query, s.cfg.SearchLimit)
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
		return callOutcome{outcome: "store_error", attrs: attrs, result: toolError(
			"Search is temporarily unavailable. Try again in a minute.")}
	}
	out := searchOutput{Results: make([]searchResult, 0, len(hits))}
	for _, h := range hits {
		out.Results = append(out.Results, searchResult{ID: h.ID, Title: titleOrID(h.Title, h.ID), URL: s.docURL(h.ID)})
	}
	attrs = append(attrs, slog.Int("hits", len(out.Results)))
	return callOutcome{outcome: "ok", attrs: attrs, result: jsonResult(out)}
}

// Fetch result, exactly the ChatGPT shape.
type fetchOutput struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Text     string        `json:"text"`
	URL      string        `json:"url"`
	Metadata fetchMetadata `json:"metadata"`
}

type fetchMetadata struct {
	Owner      string `json:"owner"` // the owner's user name; "" for documents of the server
	Visibility string `json:"visibility"`
	UpdatedAt  string `json:"updated_at"` // RFC 3339, UTC
	Format     string `json:"format"`
}

// runFetch implements fetch: {"id": string} → {id, title, text, url,
// metadata}, with one store call (ViewDocument: the document and its
// owner's name in one query). A document the caller may not see is
// reported exactly like one that does not exist (ViewDocument returns
// ErrNotFound for both), so ids cannot be probed.
func (s *Server) runFetch(ctx context.Context, args json.RawMessage, caller *TokenInfo) callOutcome {
	id, ok := stringArg(args, "id")
	if !ok {
		return callOutcome{outcome: "invalid_arguments", result: toolError(
			`The fetch tool needs an "id" argument: the id of a search result, e.g. {"id": "…"}.`)}
	}
	id = strings.TrimSpace(id)
	notFound := func() callOutcome {
		shown := id
		if len(shown) > maxIDLength {
			shown = shown[:maxIDLength] + "…"
		}
		return callOutcome{outcome: "not_found", result: toolError(fmt.Sprintf(
			"No document with id %q exists, or you may not read it. Use search to find document ids.", shown))}
	}
	if id == "" || len(id) > maxIDLength || !utf8.ValidString(id) {
		return notFound()
	}
	view, err := s.docs.ViewDocument(ctx, id, caller.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound()
	case err != nil:
		return callOutcome{outcome: "store_error", attrs: []slog.Attr{slog.String("error", err.Error())}, result: toolError(
			"The document store is temporarily unavailable. Try again in a minute.")}
	}
	doc := &view.Document
	out := fetchOutput{
		ID:    doc.ID,
		Title: titleOrID(doc.Title, doc.ID),
		Text:  doc.Body,
		URL:   s.docURL(doc.ID),
		Metadata: fetchMetadata{
			Owner:      view.OwnerName, // "" for documents of the server and unknown owners
			Visibility: doc.Visibility,
			UpdatedAt:  doc.UpdatedAt.UTC().Format(time.RFC3339),
			Format:     doc.Format,
		},
	}
	return callOutcome{outcome: "ok", attrs: []slog.Attr{slog.String("doc", doc.ID)}, result: jsonResult(out)}
}

// docURL is the page of a document (by default on the authorization
// server).
func (s *Server) docURL(id string) string {
	return s.cfg.DocumentBaseURL + "/docs/" + url.PathEscape(id)
}

// titleOrID is the title shown for a document: its title, or its ID when
// the title is blank.
func titleOrID(title, id string) string {
	if strings.TrimSpace(title) == "" {
		return id
	}
	return title
}

// stringArg returns the string argument name of a tools/call, and false
// if the arguments are not an object or name is missing or not a string.
func stringArg(args json.RawMessage, name string) (string, bool) {
	var m map[string]json.RawMessage
	if len(args) == 0 || json.Unmarshal(args, &m) != nil {
		return "", false
	}
	raw, ok := m[name]
	if !ok {
		return "", false
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	return v, true
}

// jsonResult is a successful result: one text content item holding v as
// JSON (what ChatGPT reads), mirrored in structuredContent (what clients
// that read the outputSchema use).
func jsonResult(v any) *mcp.CallToolResult {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return toolError("The result could not be encoded.")
	}
	text := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: string(text)}},
		StructuredContent: json.RawMessage(text),
	}
}

// toolError is a tool result with isError set (MCP 2025-11-25 tools,
// "Error Handling": errors the model can act on are results, not
// protocol errors).
func toolError(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
