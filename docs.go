// Package mcpauthz holds the project's own documentation, embedded in the
// binary: on start the server imports it as public documents, so the MCP
// search tool answers something useful before anyone imports anything.
// The server itself lives in cmd/mcpauthz, authz, mcpres and store.
package mcpauthz

import "embed"

// Docs is the embedded documentation.
//
//go:embed README.md CHANGELOG.md config.example.yaml
var Docs embed.FS
