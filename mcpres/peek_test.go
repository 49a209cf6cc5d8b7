package mcpres

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sdkCalls serves body with the official SDK's stateless handler, a
// server with the tools search and fetch, and returns the names of the
// tools it ran: what the body really calls, as the SDK reads it.
type sdkCalls struct {
	h      http.Handler
	mu     sync.Mutex
	called []string
}

func newSDKCalls() *sdkCalls {
	c := &sdkCalls{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "peek", Version: "1"}, nil)
	for _, name := range []string{"search", "fetch"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: json.RawMessage(`{"type":"object"}`)},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				c.mu.Lock()
				c.called = append(c.called, name)
				c.mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
			})
	}
	c.h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	return c
}

func (c *sdkCalls) serve(body string) []string {
	c.mu.Lock()
	c.called = nil
	c.mu.Unlock()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set("MCP-Protocol-Version", "2025-11-25")
	c.h.ServeHTTP(httptest.NewRecorder(), r)
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.called)
}

// peekSeeds are bodies whose tool names a looser reading than the SDK's
// would get wrong: case-folded or duplicated keys, escapes, batches.
var peekSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"x"}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","NAME":"fetch","arguments":{"query":"x"}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"fetch","name":"search","arguments":{"query":"x"}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fetch","name":"search","arguments":{"query":"x"}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"search","arguments":{"query":"x"}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","Method":"tools/list","params":{"name":"search","arguments":{"query":"x"}}}`,
	`{"jsonrpc":"2.0","id":1,"METHOD":"tools/call","method":"tools/call","params":{"name":"search","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sea\u0072ch","arguments":{"query":"x"}}}`,
	`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"x"}}},` +
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fetch","arguments":{"id":"x"}}}]`,
	` {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fetch","arguments":{"id":"x"}}} `,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}}0`,
	`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fetch","arguments":{}}}]]`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`,
	`not json`,
}

// TestCalledToolsMatchesSDK: for each seed, the scope check sees every tool
// the SDK then runs. A tool it missed would run without its scope check
// (the tool handler's own check would still refuse it, but as a tool error
// instead of the 403 step-up challenge).
func TestCalledToolsMatchesSDK(t *testing.T) {
	c := newSDKCalls()
	for _, body := range peekSeeds {
		ran, peeked := c.serve(body), calledTools([]byte(body))
		for _, name := range ran {
			if !slices.Contains(peeked, name) {
				t.Errorf("body %s: the SDK ran %q, calledTools saw %q", body, name, peeked)
			}
		}
	}
	// The seeds reach the tools at all (else the test proves nothing).
	if ran := c.serve(peekSeeds[0]); !slices.Equal(ran, []string{"search"}) {
		t.Fatalf("the SDK ran %q for a plain search call", ran)
	}
}

// FuzzCalledTools checks the same property on any body.
func FuzzCalledTools(f *testing.F) {
	for _, s := range peekSeeds {
		f.Add(s)
	}
	c := newSDKCalls()
	f.Fuzz(func(t *testing.T, body string) {
		peeked := calledTools([]byte(body))
		for _, name := range c.serve(body) {
			if !slices.Contains(peeked, name) {
				t.Fatalf("the SDK ran %q, calledTools saw %q", name, peeked)
			}
		}
	})
}
