package authz

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// Error is a protocol error with its wire code (RFC 6749 §5.2, RFC 7591
// §3.2.2, RFC 9449 §5, RFC 8707 §2), an HTTP status and a description that
// is safe to show the client. It never carries secrets.
type Error struct {
	Code        string // e.g. invalid_request, invalid_client_metadata
	Description string
	Status      int
	// Err is the internal cause, logged but never sent.
	Err error
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Err }

// LogValue keeps the logged form to the wire code and description.
func (e *Error) LogValue() slog.Value {
	return slog.GroupValue(slog.String("code", e.Code), slog.String("description", e.Description))
}

// newError returns an *Error with a formatted description.
func newError(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

// Wire codes used outside fosite.
const (
	codeInvalidRequest        = "invalid_request"
	codeInvalidClientMetadata = "invalid_client_metadata"
	codeInvalidRedirectURI    = "invalid_redirect_uri"
	codeInvalidToken          = "invalid_token"
	codeInvalidTarget         = "invalid_target"
	codeInvalidClient         = "invalid_client"
	codeAccessDenied          = "access_denied"
	codeServerError           = "server_error"
)

// wireDescription returns s fit for error_description, whose characters
// RFC 6749 §5.2 limits to %x20-21 / %x23-5B / %x5D-7E (printable ASCII
// without the double quote and the backslash): "§" is written "section",
// the double quote as a single one, and any other character outside the
// set as "?".
func wireDescription(s string) string {
	if !strings.ContainsFunc(s, notInDescription) {
		return s
	}
	s = strings.ReplaceAll(s, "§", "section ")
	s = strings.ReplaceAll(s, `"`, "'")
	return strings.Map(func(r rune) rune {
		if notInDescription(r) {
			return '?'
		}
		return r
	}, s)
}

func notInDescription(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }

// wireRFC6749Error returns e with its description and hint fit for
// error_description (see wireDescription), as a copy: fosite's errors are
// shared values.
func wireRFC6749Error(e *fosite.RFC6749Error) *fosite.RFC6749Error {
	if !strings.ContainsFunc(e.DescriptionField, notInDescription) && !strings.ContainsFunc(e.HintField, notInDescription) {
		return e
	}
	return e.WithDescription(wireDescription(e.DescriptionField)).WithHint(wireDescription(e.HintField))
}

// writeJSONError writes e as an OAuth JSON error body with no-store caching.
func writeJSONError(w http.ResponseWriter, e *Error) {
	body := struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description,omitempty"`
	}{e.Code, wireDescription(e.Description)}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, body)
}

// writeJSON writes v as JSON with Cache-Control: no-store.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSONRaw(w, status, v)
}

// writeJSONCached writes v as JSON with status 200, leaving caching headers
// to the caller.
func writeJSONCached(w http.ResponseWriter, v any) { writeJSONRaw(w, http.StatusOK, v) }

func writeJSONRaw(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
