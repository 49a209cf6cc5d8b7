// Package templates holds the HTML templates of the authorization server's
// pages (sign-in, consent, error, home, account, documents). They are parsed once at
// startup by authz.NewPages and use html/template only: no JavaScript.
package templates

import "embed"

// FS holds every page template. layout.html defines the shared document
// (head, header, footer); each page defines "title" and "content".
//
//go:embed *.html
var FS embed.FS
