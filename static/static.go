// Package static holds the stylesheet and icon of the authorization server's
// pages, served under /static/ by authz.Pages.Static. No third-party fonts,
// scripts or CDNs.
package static

import "embed"

// FS holds style.css and favicon.svg.
//
//go:embed style.css favicon.svg
var FS embed.FS
