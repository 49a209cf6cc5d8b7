package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpauthz/mcpauthz"
	"github.com/mcpauthz/mcpauthz/store"
)

func (e *env) docs(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError("docs needs a subcommand: import, list, delete")
	}
	var cf commonFlags
	fs := newFlagSet("docs "+args[0], e)
	cf.register(fs, false)
	owner := fs.String("owner", "", "the user who owns the imported documents (private unless --share)")
	ownerID := fs.String("owner-id", "", "the owner's user ID (the sub of the tokens), for a resource-only server whose users live on a remote authorization server")
	public := fs.Bool("public", false, "import as public documents, visible to every user")
	var shares listFlag
	fs.Var(&shares, "share", "with --owner: share with this user as well (repeat for several)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "import":
		if len(pos) == 0 {
			return usageError("docs import needs at least one PATH")
		}
		n := 0
		for _, set := range []bool{*owner != "", *ownerID != "", *public} {
			if set {
				n++
			}
		}
		if n != 1 {
			return usageError("docs import needs exactly one of --owner USER, --owner-id ID or --public")
		}
		if len(shares) > 0 && *owner == "" {
			return usageError("--share needs --owner")
		}
		_, st, err := e.openStore(ctx, &cf)
		if err != nil {
			return err
		}
		defer st.Close()
		return e.docsImport(ctx, st, pos, *owner, *ownerID, shares)
	case "list":
		if len(pos) > 0 {
			return usageError("docs list takes no arguments")
		}
		_, st, err := e.openStore(ctx, &cf)
		if err != nil {
			return err
		}
		defer st.Close()
		docs, err := st.ListDocuments(ctx)
		if err != nil {
			return err
		}
		names := userNames(ctx, st)
		out := []docRow{}
		for _, d := range docs {
			owner, ok := names[d.OwnerID]
			if !ok {
				owner = d.OwnerID // a remote user's ID (import --owner-id), or "" for none
			}
			out = append(out, docRow{ID: d.ID, Title: d.Title, Owner: owner, Visibility: d.Visibility, SharedWith: mapNames(names, d.SharedWith), UpdatedAt: d.UpdatedAt})
		}
		return writeOut(e.stdout, out)
	case "delete":
		if len(pos) != 1 {
			return usageError("docs delete needs exactly one ID")
		}
		_, st, err := e.openStore(ctx, &cf)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.DeleteDocument(ctx, pos[0]); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no document %q", pos[0])
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "deleted document %q\n", pos[0])
		return nil
	default:
		return usageError("unknown docs subcommand %q", args[0])
	}
}

type docRow struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Path       string    `json:"path,omitempty"`
	Owner      string    `json:"owner,omitempty"`
	Visibility string    `json:"visibility"`
	SharedWith []string  `json:"shared_with,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// docsImport imports files and folders (recursively; hidden entries and
// files of other types are skipped). A re-import of the same file for the
// same owner updates the document instead of adding a copy.
func (e *env) docsImport(ctx context.Context, st store.Store, paths []string, ownerName, rawOwnerID string, shareNames []string) error {
	ownerID, visibility := "", store.VisibilityPublic
	switch {
	case rawOwnerID == "public":
		// Public documents are imported under "public" (their source key):
		// the owner's documents and the public ones would replace each other.
		return usageError("--owner-id public is reserved for public documents (use --public)")
	case rawOwnerID != "":
		// A remote authorization server's user: no local account to look
		// up; the ID is shown where a name would be.
		ownerID, visibility, ownerName = rawOwnerID, store.VisibilityPrivate, rawOwnerID
	case ownerName != "":
		u, err := st.GetUserByName(ctx, ownerName)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--owner: no user %q", ownerName)
		} else if err != nil {
			return err
		}
		ownerID, visibility = u.ID, store.VisibilityPrivate
	}
	var shareIDs []string
	for _, n := range shareNames {
		u, err := st.GetUserByName(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--share: no user %q", n)
		} else if err != nil {
			return err
		}
		shareIDs = append(shareIDs, u.ID)
		visibility = store.VisibilityShared
	}
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0 && importable(path):
				fmt.Fprintf(e.stderr, "skipped %s: a symbolic link (name the file itself to import it)\n", path)
			case !d.IsDir() && d.Type().IsRegular() && importable(path):
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Every file is read and checked before any is stored: a bad file
	// stops the import with nothing half done.
	type parsed struct{ abs, title, body, format string }
	docs := make([]parsed, 0, len(files))
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		if !utf8.ValidString(abs) || strings.IndexByte(abs, 0) >= 0 {
			// It becomes the document's source key (and may be its title).
			return fmt.Errorf("%q: the file name is not UTF-8 text", abs)
		}
		info, err := os.Stat(f)
		if err != nil {
			return err
		}
		if info.Size() > maxDocumentBytes {
			return fmt.Errorf("%s: larger than %d MiB", f, maxDocumentBytes>>20) // before reading it all
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		title, body, format, err := parseDocument(f, data)
		if err != nil {
			return err
		}
		docs = append(docs, parsed{abs, title, body, format})
	}
	owner := ownerID
	if owner == "" {
		owner = "public"
	}
	// And all are stored, or none: one transaction, on PostgreSQL. On
	// SQLite a transaction holds the database's one write lock to its end,
	// and a running server's writes (sign-ins, tokens) would fail behind a
	// large import; there each document is its own transaction, and what
	// is left to fail after the checks above is the disk.
	tx := ctx
	if d, ok := st.(interface{ Dialect() string }); ok && d.Dialect() == store.DialectPostgres {
		var err error
		if tx, err = st.BeginTX(ctx); err != nil {
			return err
		}
		defer func() { _ = st.Rollback(tx) }() // after Commit, a no-op
	}
	out := []docRow{}
	for _, p := range docs {
		d, err := st.PutDocument(tx, &store.Document{
			Title: p.title, Body: p.body, Format: p.format, OwnerID: ownerID, Visibility: visibility,
			SharedWith: shareIDs, SourceKey: "file:" + owner + ":" + p.abs,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", p.abs, err)
		}
		out = append(out, docRow{ID: d.ID, Title: d.Title, Path: p.abs, Owner: ownerName, Visibility: d.Visibility, SharedWith: shareNames, UpdatedAt: d.UpdatedAt})
	}
	if tx != ctx {
		if err := st.Commit(tx); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "imported %d document(s)\n", len(out))
	return writeOut(e.stdout, out)
}

// importEmbeddedDocs imports the documentation embedded in the binary as
// public documents (an update when it changed, nothing new otherwise).
func importEmbeddedDocs(ctx context.Context, st store.Store) error {
	entries, err := fs.ReadDir(mcpauthz.Docs, ".")
	if err != nil {
		return err
	}
	for _, ent := range entries {
		data, err := fs.ReadFile(mcpauthz.Docs, ent.Name())
		if err != nil {
			return err
		}
		title, body, format, err := parseDocument(ent.Name(), data)
		if err != nil {
			return err
		}
		if ent.Name() == "config.example.yaml" {
			title = "mcpauthz configuration reference (config.example.yaml)"
		}
		if _, err := st.PutDocument(ctx, &store.Document{
			Title: title, Body: body, Format: format, Visibility: store.VisibilityPublic,
			SourceKey: "embedded:" + ent.Name(),
		}); err != nil {
			return fmt.Errorf("import embedded %s: %w", ent.Name(), err)
		}
	}
	return nil
}

func userNames(ctx context.Context, st store.Store) map[string]string {
	names := map[string]string{}
	if users, err := st.ListUsers(ctx); err == nil {
		for _, u := range users {
			names[u.ID] = u.Name
		}
	}
	return names
}

func mapNames(names map[string]string, ids []string) []string {
	var out []string
	for _, id := range ids {
		if n, ok := names[id]; ok {
			out = append(out, n)
		} else {
			out = append(out, id)
		}
	}
	return out
}
