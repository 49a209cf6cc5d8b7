package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxDocumentBytes caps one imported file.
const maxDocumentBytes = 5 << 20

// importable reports whether a file found in a folder is imported: one
// with an extension docs import reads, other than YAML — configuration
// files hold secrets, and a YAML file is imported only when named.
func importable(name string) bool {
	_, ok := formatOf(name)
	return ok && !isYAML(name)
}

func isYAML(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

func formatOf(name string) (string, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".markdown":
		return "markdown", true
	case ".txt", ".text":
		return "text", true
	case ".html", ".htm":
		return "html", true
	case ".yaml", ".yml":
		return "text", true
	}
	return "", false
}

// parseDocument derives a document's title, plain-text body and format from
// a file: Markdown keeps its text and takes the first heading as title,
// HTML is reduced to its visible text and takes <title> (or the first
// <h1>), plain text takes its first line when short. Without a title in
// the content, the file name stands in.
func parseDocument(name string, data []byte) (title, body, format string, err error) {
	format, ok := formatOf(name)
	if !ok {
		return "", "", "", fmt.Errorf("%s: not Markdown, HTML or text (by its extension)", name)
	}
	if len(data) > maxDocumentBytes {
		return "", "", "", fmt.Errorf("%s: larger than %d MiB", name, maxDocumentBytes>>20)
	}
	if !utf8.Valid(data) {
		return "", "", "", fmt.Errorf("%s: not UTF-8 text", name)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return "", "", "", fmt.Errorf("%s: contains NUL bytes, so it is not text", name)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	switch format {
	case "markdown":
		body = string(data)
		title = markdownTitle(body)
	case "html":
		title, body = htmlText(data)
	default:
		body = string(data)
		if first, _, _ := strings.Cut(strings.TrimSpace(body), "\n"); len(first) <= 120 && !isYAML(name) {
			title = strings.TrimSpace(first)
		}
	}
	if title == "" {
		title = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	return truncateRunes(title, 200), strings.TrimSpace(body), format, nil
}

// markdownTitle returns the text of the first ATX heading (# Title), or of
// a setext heading (Title over ===), outside code fences, indented code
// blocks and a leading YAML front matter block (--- ... ---).
func markdownTitle(md string) string {
	lines := strings.Split(md, "\n")
	if len(lines) > 0 && strings.TrimSpace(lines[0]) == "---" {
		for i := 1; i < len(lines); i++ {
			if t := strings.TrimSpace(lines[i]); t == "---" || t == "..." {
				lines = lines[i+1:]
				break
			}
		}
	}
	fence := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = !fence
			continue
		}
		if fence || strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t") {
			continue
		}
		if strings.HasPrefix(t, "#") {
			h := strings.TrimLeft(t, "#")
			if h == "" || h[0] == ' ' || h[0] == '\t' {
				return strings.TrimSpace(strings.TrimRight(strings.TrimSpace(h), "#"))
			}
		}
		if i+1 < len(lines) && t != "" {
			next := strings.TrimSpace(lines[i+1])
			if next != "" && (strings.Trim(next, "=") == "" || strings.Trim(next, "-") == "" && len(next) >= 3) {
				return t
			}
		}
	}
	return ""
}

// htmlText returns an HTML document's title and visible text, with block
// elements on lines of their own. Scripts, styles and templates are dropped.
func htmlText(data []byte) (title, text string) {
	z := html.NewTokenizer(bytes.NewReader(data))
	var b strings.Builder
	var h1 strings.Builder
	skip, inTitle, inH1, h1Done := 0, false, false, false
	for {
		switch tt := z.Next(); tt {
		case html.ErrorToken:
			t := strings.TrimSpace(title)
			if t == "" {
				t = strings.TrimSpace(h1.String())
			}
			return collapseSpace(t), tidyLines(b.String())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch a := atom.Lookup(name); a {
			case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Svg:
				if tt == html.StartTagToken { // <svg/> has no end tag to end the skip
					skip++
				}
			case atom.Title:
				inTitle = true
			case atom.H1:
				inH1 = !h1Done
				b.WriteString("\n")
			case atom.Br, atom.P, atom.Div, atom.Li, atom.Tr, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Pre, atom.Blockquote, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Table, atom.Ul, atom.Ol:
				b.WriteString("\n")
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Svg:
				if skip > 0 {
					skip--
				}
			case atom.Title:
				inTitle = false
			case atom.H1:
				if inH1 {
					inH1, h1Done = false, true
				}
				b.WriteString("\n")
			case atom.P, atom.Div, atom.Li, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Pre, atom.Blockquote:
				b.WriteString("\n")
			}
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := string(z.Text())
			switch {
			case inTitle:
				title += t
			default:
				if inH1 {
					h1.WriteString(t)
				}
				b.WriteString(t)
			}
		}
	}
}

func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// tidyLines collapses runs of blank space within lines and of empty lines.
func tidyLines(s string) string {
	var out []string
	blank := false
	for _, l := range strings.Split(s, "\n") {
		l = collapseSpace(l)
		if l == "" {
			if !blank && len(out) > 0 {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
