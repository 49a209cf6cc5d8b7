package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauthz/mcpauthz/store/storetest"
)

func TestDocsCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "docs.db")
	for _, u := range []string{"alice", "bob"} {
		if code, _, errs := cli(t, db, "password-"+u+"\n", "user", "add", u, "--password-stdin"); code != 0 {
			t.Fatal(errs)
		}
	}
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.MkdirAll(filepath.Join(src, ".hidden"), 0o755)
	os.WriteFile(filepath.Join(src, "a.md"), []byte("# Alpha\n\nzebra text"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "b.html"), []byte("<title>Beta</title><p>body</p>"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "c.pdf"), []byte("%PDF"), 0o644)
	os.WriteFile(filepath.Join(src, ".hidden", "d.md"), []byte("# Hidden"), 0o644)

	code, out, errs := cli(t, db, "", "docs", "import", src, "--owner", "alice", "--share", "bob")
	var rows []docRow
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	titles := rows[0].Title + "," + rows[1].Title
	if !strings.Contains(titles, "Alpha") || !strings.Contains(titles, "Beta") || rows[0].Visibility != "shared" {
		t.Errorf("imported %+v", rows)
	}
	// Re-importing updates instead of copying.
	os.WriteFile(filepath.Join(src, "a.md"), []byte("# Alpha Two\n"), 0o644)
	if code, _, errs := cli(t, db, "", "docs", "import", filepath.Join(src, "a.md"), "--owner", "alice", "--share", "bob"); code != 0 {
		t.Fatal(errs)
	}
	code, out, _ = cli(t, db, "", "docs", "list")
	var list []docRow
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("list: %d %q", code, out)
	}
	own := 0
	for _, d := range list {
		if d.Owner == "alice" {
			own++
			if d.Title == "Alpha" {
				t.Error("re-import left the old title")
			}
		}
	}
	if own != 2 {
		t.Errorf("alice owns %d documents after a re-import, want 2: %q", own, out)
	}
	for _, bad := range [][]string{
		{"docs", "import", src},
		{"docs", "import", src, "--owner", "alice", "--public"},
		{"docs", "import", src, "--public", "--share", "bob"},
		{"docs", "import", "--public"},
	} {
		if code, _, _ := cli(t, db, "", bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	if code, _, errs := cli(t, db, "", "docs", "import", src, "--owner", "nobody"); code != 1 || !strings.Contains(errs, "no user") {
		t.Errorf("unknown owner: %d %q", code, errs)
	}
	// --owner-id names a remote authorization server's user (the sub of
	// its tokens): there is no local account to find.
	os.WriteFile(filepath.Join(dir, "remote.md"), []byte("# Remote\n"), 0o644)
	code, out, errs = cli(t, db, "", "docs", "import", filepath.Join(dir, "remote.md"), "--owner-id", "sub-0042")
	var remote []docRow
	if code != 0 || json.Unmarshal([]byte(out), &remote) != nil || len(remote) != 1 {
		t.Fatalf("import --owner-id: %d %q %q", code, out, errs)
	}
	if r := remote[0]; r.Owner != "sub-0042" || r.Visibility != "private" {
		t.Errorf("import --owner-id: %+v", r)
	}
	code, out, _ = cli(t, db, "", "docs", "list")
	if code != 0 || !strings.Contains(out, `"owner": "sub-0042"`) {
		t.Errorf("list after import --owner-id: %q", out)
	}
	if code, _, _ := cli(t, db, "", "docs", "delete", rows[0].ID); code != 0 {
		t.Error("delete failed")
	}
	if code, _, errs := cli(t, db, "", "docs", "delete", rows[0].ID); code != 1 || !strings.Contains(errs, "no document") {
		t.Errorf("second delete: %d %q", code, errs)
	}
}

// TestDocsImportAllOrNothing: a file that is not text (a NUL byte, which
// PostgreSQL text cannot hold either) stops the import before any file is
// stored, and the message names it.
func TestDocsImportAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "docs.db")
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.md"), []byte("# Alpha\n"), 0o644)
	os.WriteFile(filepath.Join(src, "b.txt"), []byte("binary\x00data"), 0o644)
	os.WriteFile(filepath.Join(src, "c.md"), []byte("# Gamma\n"), 0o644)
	code, _, errs := cli(t, db, "", "docs", "import", src, "--public")
	if code != 1 || !strings.Contains(errs, "b.txt") || !strings.Contains(errs, "NUL") {
		t.Fatalf("import with a NUL byte: %d %q", code, errs)
	}
	code, out, _ := cli(t, db, "", "docs", "list")
	if code != 0 || strings.Contains(out, "Alpha") || strings.Contains(out, "Gamma") {
		t.Errorf("documents stored by a failed import: %d %s", code, out)
	}
	// A file name that is not UTF-8 (it becomes the source key) likewise.
	os.Remove(filepath.Join(src, "b.txt"))
	os.WriteFile(filepath.Join(src, "b\xff.txt"), []byte("text\n"), 0o644)
	code, _, errs = cli(t, db, "", "docs", "import", src, "--public")
	if code != 1 || !strings.Contains(errs, "not UTF-8") {
		t.Fatalf("import with a file name that is not UTF-8: %d %q", code, errs)
	}
	if _, out, _ := cli(t, db, "", "docs", "list"); strings.Contains(out, "Alpha") {
		t.Errorf("documents stored by a failed import: %s", out)
	}
}

// TestDocsImportFolderPicksDocuments: a folder import takes Markdown, text
// and HTML, not YAML (configuration files hold secrets; a YAML file named on
// its own is imported), says which symbolic links it skipped, and refuses an
// oversized file without reading it.
func TestDocsImportFolderPicksDocuments(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "docs.db")
	src := filepath.Join(dir, "proj")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "handbook.md"), []byte("# Handbook\n"), 0o644)
	os.WriteFile(filepath.Join(src, "config.yaml"), []byte("master_key: c2VjcmV0\n"), 0o644)
	os.WriteFile(filepath.Join(src, "compose.yml"), []byte("POSTGRES_PASSWORD: hunter2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "outside.md"), []byte("# Outside\n"), 0o644)
	if err := os.Symlink(filepath.Join(dir, "outside.md"), filepath.Join(src, "link.md")); err != nil {
		t.Fatal(err)
	}
	code, _, errs := cli(t, db, "", "docs", "import", src, "--public")
	if code != 0 || !strings.Contains(errs, "imported 1 document(s)") || !strings.Contains(errs, "skipped "+filepath.Join(src, "link.md")) {
		t.Fatalf("folder import: %d %q, want 1 document and the skipped link named", code, errs)
	}
	_, out, _ := cli(t, db, "", "docs", "list")
	if strings.Contains(out, "master_key") || strings.Contains(out, "config") || strings.Contains(out, "compose") || strings.Contains(out, "Outside") {
		t.Errorf("folder import took YAML files or followed a link: %s", out)
	}
	if code, _, errs := cli(t, db, "", "docs", "import", filepath.Join(src, "config.yaml"), "--public"); code != 0 || !strings.Contains(errs, "imported 1 document(s)") {
		t.Errorf("a YAML file named on its own: %d %q", code, errs)
	}
	big := filepath.Join(dir, "big.txt")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(maxDocumentBytes + 1)
	f.Close()
	if code, _, errs := cli(t, db, "", "docs", "import", big, "--public"); code != 1 || !strings.Contains(errs, "larger than") {
		t.Errorf("an oversized file: %d %q", code, errs)
	}
}

// TestDocsImportOwnerIDPublicIsReserved: public documents are keyed under
// "public"; an owner with that ID would take them over (and the reverse).
func TestDocsImportOwnerIDPublicIsReserved(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "docs.db")
	f := filepath.Join(dir, "notes.md")
	os.WriteFile(f, []byte("# Handbook\n\npublic text"), 0o644)
	if code, _, errs := cli(t, db, "", "docs", "import", f, "--public"); code != 0 {
		t.Fatal(errs)
	}
	os.WriteFile(f, []byte("# Salaries\n\nsecret text"), 0o644)
	if code, _, errs := cli(t, db, "", "docs", "import", f, "--owner-id", "public"); code != 2 || !strings.Contains(errs, "reserved") {
		t.Errorf("--owner-id public: %d %q, want a usage error", code, errs)
	}
	if _, out, _ := cli(t, db, "", "docs", "list"); !strings.Contains(out, "Handbook") || strings.Contains(out, "Salaries") {
		t.Errorf("the public document was replaced: %s", out)
	}
}

// TestDocsImportAllOrNothingOnPostgres: on PostgreSQL the import is one
// transaction, so a document the store refuses half-way (one whose search
// index would pass PostgreSQL's 1 MB tsvector limit) leaves none stored.
func TestDocsImportAllOrNothingOnPostgres(t *testing.T) {
	db := storetest.PostgresSchema(t)
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "1.md"), []byte("# Alpha\n"), 0o644)
	var log strings.Builder
	for i := 0; log.Len() < 2<<20; i++ {
		fmt.Fprintf(&log, "req-%08x user%d status ok\n", i*7919, i)
	}
	os.WriteFile(filepath.Join(src, "2big.txt"), []byte(log.String()), 0o644)
	os.WriteFile(filepath.Join(src, "3.md"), []byte("# Gamma\n"), 0o644)
	code, _, errs := cli(t, db, "", "docs", "import", src, "--public")
	if code != 1 || !strings.Contains(errs, "2big.txt") {
		t.Fatalf("import with a document PostgreSQL cannot index: %d %q", code, errs)
	}
	if _, out, _ := cli(t, db, "", "docs", "list"); strings.Contains(out, "Alpha") || strings.Contains(out, "Gamma") {
		t.Errorf("documents stored by a failed import: %s", out)
	}
}
