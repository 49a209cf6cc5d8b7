package mcpres

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// errBodyTooLarge: the request body exceeds Config.MaxBodyBytes.
var errBodyTooLarge = errors.New("mcpres: request body too large")

// readBody reads the whole body of r, at most limit bytes, and puts an
// identical body back so the MCP handler reads it again.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	_ = r.Body.Close()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return body, nil
}

// rpcMessage is the part of a JSON-RPC 2.0 message the middleware needs.
type rpcMessage struct {
	Method string `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}

// calledTools returns the tool names of the tools/call requests in a POST
// body: one message, or a batch (still allowed by protocol 2025-03-26).
// Whatever does not parse is skipped; the MCP handler answers it.
func calledTools(body []byte) []string {
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	switch {
	case len(body) == 0:
		return nil
	case body[0] == '[':
		if json.Unmarshal(body, &raws) != nil {
			return nil
		}
	default:
		raws = []json.RawMessage{body}
	}
	var names []string
	for _, raw := range raws {
		var m rpcMessage
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		if m.Method == "tools/call" {
			names = append(names, m.Params.Name)
		}
	}
	return names
}
