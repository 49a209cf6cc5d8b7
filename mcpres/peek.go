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

// calledTools returns the tool names of the tools/call requests in a POST
// body: one message, or a batch (still allowed by protocol 2025-03-26).
// Whatever does not parse is skipped; the MCP handler answers it.
//
// It reads a body as the go-sdk does, so that the scope check sees every
// tool the SDK then runs (TestCalledToolsMatchesSDK, FuzzCalledTools):
// member names match exactly (encoding/json's struct decoding would also
// take "Method" or "NAME", and a body with both spellings would name one
// tool to the check and another to the SDK); of repeated members the last
// counts; and each value is read up to its end, whatever follows it (the
// SDK decodes with a streaming decoder and ignores the rest).
func calledTools(body []byte) []string {
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	switch {
	case len(body) == 0:
		return nil
	case body[0] == '[':
		if decodeFirst(body, &raws) != nil {
			return nil
		}
	default:
		raws = []json.RawMessage{body}
	}
	var names []string
	for _, raw := range raws {
		var msg, params map[string]json.RawMessage
		var method, name string
		if decodeFirst(raw, &msg) != nil ||
			decodeFirst(msg["method"], &method) != nil || method != "tools/call" ||
			decodeFirst(msg["params"], &params) != nil ||
			decodeFirst(params["name"], &name) != nil {
			continue
		}
		names = append(names, name)
	}
	return names
}

// decodeFirst decodes the JSON value data starts with into v.
func decodeFirst(data []byte, v any) error {
	return json.NewDecoder(bytes.NewReader(data)).Decode(v)
}
