package main

import (
	"strings"
	"testing"
)

func TestParseDocument(t *testing.T) {
	cases := []struct {
		name, file, content     string
		title, format, contains string
		notContains             string
	}{
		{"markdown heading", "guide.md", "intro line\n\n# The Guide\n\ntext body", "The Guide", "markdown", "text body", ""},
		{"markdown heading in fence ignored", "a.md", "```\n# not a title\n```\n## Real Title\n", "Real Title", "markdown", "not a title", ""},
		{"markdown setext", "s.md", "Setext Title\n============\n\nbody", "Setext Title", "markdown", "body", ""},
		{"markdown without heading", "notes.markdown", "just text", "notes", "markdown", "just text", ""},
		{"html title", "p.html", "<html><head><title> Page  Title </title><style>.x{}</style></head><body><h1>H</h1><p>Hello <b>world</b></p><script>alert(1)</script></body></html>", "Page Title", "html", "Hello world", "alert"},
		{"html h1 fallback", "p.htm", "<body><h1>Only H1</h1><div>text</div></body>", "Only H1", "html", "text", "<div>"},
		{"text first line", "t.txt", "First line\nsecond", "First line", "text", "second", ""},
		{"text long first line", "long.txt", strings.Repeat("x", 200), "long", "text", "xxx", ""},
		{"bom stripped", "b.md", "\ufeff# BOM\n", "BOM", "markdown", "", "\ufeff"},
		{"markdown front matter", "f.md", "---\ntitle: Front\ntags: [a]\n---\n# Real title\n\nbody", "Real title", "markdown", "body", ""},
		{"markdown indented code is no heading", "i.md", "    # comment\n\n## Heading\n", "Heading", "markdown", "comment", ""},
		{"html self-closing svg", "s.html", `<p>Before</p><svg class="i"/><p>After the icon: important text</p><svg><text>icon</text></svg><p>End</p>`, "s", "html", "After the icon: important text", "icon</text>"},
		{"html svg content dropped", "s2.html", `<p>A</p><svg><text>drawn</text></svg><p>B</p>`, "s2", "html", "B", "drawn"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			title, body, format, err := parseDocument(tc.file, []byte(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			if title != tc.title || format != tc.format {
				t.Errorf("title %q format %q, want %q %q", title, format, tc.title, tc.format)
			}
			if !strings.Contains(body, tc.contains) || (tc.notContains != "" && strings.Contains(body, tc.notContains)) {
				t.Errorf("body %q: want %q and not %q", body, tc.contains, tc.notContains)
			}
		})
	}
	for _, bad := range []struct{ file, content string }{
		{"x.pdf", "%PDF"},
		{"x.md", "\xff\xfe bad utf8"},
		{"big.txt", strings.Repeat("a", maxDocumentBytes+1)},
	} {
		if _, _, _, err := parseDocument(bad.file, []byte(bad.content)); err == nil {
			t.Errorf("%s: accepted", bad.file)
		}
	}
}

func FuzzParseDocument(f *testing.F) {
	f.Add("a.html", "<title>x</title><p>y")
	f.Add("a.md", "# t\n```\n# x")
	f.Add("a.txt", "line")
	f.Fuzz(func(t *testing.T, name, content string) {
		title, _, _, err := parseDocument(name, []byte(content))
		if err != nil {
			return
		}
		if n := len([]rune(title)); n > 201 {
			t.Errorf("title of %d runes", n)
		}
	})
}
