package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

// document returns a document with every field but SharedWith and
// SourceKey set.
func document(id, owner, visibility, title, body string) store.Document {
	return store.Document{
		ID:         id,
		Title:      title,
		Body:       body,
		Format:     "markdown",
		OwnerID:    owner,
		Visibility: visibility,
		CreatedAt:  at(0),
		UpdatedAt:  at(time.Hour),
	}
}

func putDocument(t *testing.T, s store.Store, d store.Document) *store.Document {
	t.Helper()
	got, err := s.PutDocument(t.Context(), &d)
	must(t, "PutDocument "+d.ID, err)
	return got
}

func checkDocument(t *testing.T, got *store.Document, want store.Document) {
	t.Helper()
	c := cmp{t, "Document"}
	c.str("ID", got.ID, want.ID)
	c.str("Title", got.Title, want.Title)
	c.str("Body", got.Body, want.Body)
	c.str("Format", got.Format, want.Format)
	c.str("OwnerID", got.OwnerID, want.OwnerID)
	c.str("Visibility", got.Visibility, want.Visibility)
	c.list("SharedWith", got.SharedWith, want.SharedWith)
	c.str("SourceKey", got.SourceKey, want.SourceKey)
	c.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	c.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

// search runs SearchDocuments, fails on an error, and returns the IDs of
// the hits in order. It also runs SearchDocumentTitles with the same
// arguments, which must agree (see checkTitles), so that every search of
// the suite checks both.
func search(t *testing.T, s store.Store, viewer, query string, limit int) ([]string, []store.SearchHit) {
	t.Helper()
	return searchIn(t, t.Context(), s, viewer, query, limit)
}

// searchIn is search with the context ctx (which may carry a transaction).
func searchIn(t *testing.T, ctx context.Context, s store.Store, viewer, query string, limit int) ([]string, []store.SearchHit) {
	t.Helper()
	hits, err := s.SearchDocuments(ctx, viewer, query, limit)
	must(t, fmt.Sprintf("SearchDocuments(%q, %q)", viewer, query), err)
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Document.ID
		if i > 0 && h.Score > hits[i-1].Score {
			t.Errorf("SearchDocuments(%q, %q): hit %d scores %v, above hit %d's %v",
				viewer, query, i, h.Score, i-1, hits[i-1].Score)
		}
	}
	checkTitles(t, ctx, s, viewer, query, limit, hits)
	return ids, hits
}

// checkTitles fails unless SearchDocumentTitles(ctx, viewer, query,
// limit) returns what SearchDocuments returned for the same arguments,
// hits: the same documents in the same order, each with its stored title
// and the same score.
func checkTitles(t *testing.T, ctx context.Context, s store.Store, viewer, query string, limit int, hits []store.SearchHit) {
	t.Helper()
	what := fmt.Sprintf("SearchDocumentTitles(%q, %.40q, %d)", viewer, query, limit)
	titles, err := s.SearchDocumentTitles(ctx, viewer, query, limit)
	must(t, what, err)
	want := make([]store.SearchTitle, len(hits))
	for i, h := range hits {
		want[i] = store.SearchTitle{ID: h.Document.ID, Title: h.Document.Title, Score: h.Score}
	}
	if !slices.Equal(titles, want) {
		t.Errorf("%s =\n%+v\nwant what SearchDocuments returned:\n%+v", what, titles, want)
	}
}

// wantSearch fails unless the search returns exactly the IDs want, in
// that order.
func wantSearch(t *testing.T, s store.Store, viewer, query string, want ...string) {
	t.Helper()
	if got, _ := search(t, s, viewer, query, 100); !slices.Equal(got, want) {
		t.Errorf("SearchDocuments(%q, %q) = %q, want %q", viewer, query, got, want)
	}
}

// filler is text that matches none of the words the tests search for.
const filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."

func testDocuments(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		d := document("d1", "u1", store.VisibilityShared, "Über the “manual”", "Line one\nline two — ünïcödé\ttab")
		d.SharedWith = []string{"u2", "u3"}
		d.SourceKey = "file:u1:/srv/docs/manual.md"
		d.CreatedAt = d.CreatedAt.In(elsewhere())
		in := d
		got, err := s.PutDocument(ctx, &in)
		must(t, "PutDocument", err)
		checkDocument(t, got, d)
		if !reflect.DeepEqual(in, d) {
			t.Errorf("PutDocument modified its argument: %+v, was %+v", in, d)
		}
		got, err = s.GetDocument(ctx, "d1", "u1")
		must(t, "GetDocument", err)
		checkDocument(t, got, d)
		view, err := s.ViewDocument(ctx, "d1", "u1")
		must(t, "ViewDocument", err)
		noShares := d
		noShares.SharedWith = nil
		checkDocument(t, &view.Document, noShares)
		list, err := s.ListDocuments(ctx)
		must(t, "ListDocuments", err)
		if len(list) != 1 {
			t.Fatalf("ListDocuments returned %d documents, want 1", len(list))
		}
		listed := d
		listed.Body = "" // a listing leaves bodies out
		checkDocument(t, &list[0], listed)
	})
	t.Run("Defaults", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		before := time.Now().Add(-time.Minute)
		got, err := s.PutDocument(ctx, &store.Document{Title: "t", Body: "b", OwnerID: "u1",
			Visibility: store.VisibilityPrivate, SharedWith: []string{}})
		must(t, "PutDocument", err)
		if got.ID == "" {
			t.Error("ID not filled in")
		}
		if got.CreatedAt.Before(before) || got.UpdatedAt.Before(before) {
			t.Errorf("zero times stored as %v, %v; want about now", got.CreatedAt, got.UpdatedAt)
		}
		if got.SharedWith != nil || got.SourceKey != "" || got.Format != "" {
			t.Errorf("empty fields came back as SharedWith %#v, SourceKey %q, Format %q",
				got.SharedWith, got.SourceKey, got.Format)
		}
		again, err := s.GetDocument(ctx, got.ID, "u1")
		must(t, "GetDocument", err)
		checkDocument(t, again, *got)
		// SharedWith is a set.
		d := document("d2", "u1", store.VisibilityShared, "t", "b")
		d.SharedWith = []string{"u3", "u2", "u3"}
		got = putDocument(t, s, d)
		cmp{t, "Document"}.list("SharedWith", got.SharedWith, []string{"u2", "u3"})
		// Documents without a SourceKey do not collide.
		putDocument(t, s, document("d3", "u1", store.VisibilityPrivate, "t", "b"))
	})
	t.Run("Invalid", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for _, v := range []string{"", "Public", "everyone", "private "} {
			d := document("d1", "u1", v, "t", "b")
			_, err := s.PutDocument(ctx, &d)
			wantErr(t, fmt.Sprintf("PutDocument with visibility %q", v), err, store.ErrInvalid)
		}
		d := document("d1", "u1", store.VisibilityShared, "t", "b")
		d.SharedWith = []string{"u2", ""}
		_, err := s.PutDocument(ctx, &d)
		wantErr(t, "PutDocument shared with \"\"", err, store.ErrInvalid)
		list, err := s.ListDocuments(ctx)
		must(t, "ListDocuments", err)
		if len(list) != 0 {
			t.Errorf("invalid documents were stored: %v", list)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		_, err := s.GetDocument(ctx, "nope", "u1")
		wantErr(t, "GetDocument", err, store.ErrNotFound)
		_, err = s.ViewDocument(ctx, "nope", "u1")
		wantErr(t, "ViewDocument", err, store.ErrNotFound)
		_, err = s.ViewDocument(ctx, "nope", "")
		wantErr(t, "ViewDocument by the anonymous viewer", err, store.ErrNotFound)
		wantErr(t, "DeleteDocument", s.DeleteDocument(ctx, "nope"), store.ErrNotFound)
	})
	t.Run("Upsert", func(t *testing.T) { testDocumentUpsert(t, open) })
	t.Run("Visibility", func(t *testing.T) { testDocumentVisibility(t, open) })
	t.Run("View", func(t *testing.T) { testDocumentView(t, open) })
	t.Run("Search", func(t *testing.T) { testDocumentSearch(t, open) })
	t.Run("Delete", func(t *testing.T) { testDocumentDelete(t, open) })
	t.Run("Transactions", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		tx, err := s.BeginTX(ctx)
		must(t, "BeginTX", err)
		d := document("d1", "u1", store.VisibilityPublic, "Rollback", "gone")
		_, err = s.PutDocument(tx, &d)
		must(t, "PutDocument in tx", err)
		_, err = s.ViewDocument(tx, "d1", "u1") // in the transaction: visible
		must(t, "ViewDocument in tx", err)
		wantSearch(t, s, "u1", "rollback") // not committed: invisible outside
		must(t, "Rollback", s.Rollback(tx))
		_, err = s.GetDocument(ctx, "d1", "u1")
		wantErr(t, "GetDocument after rollback", err, store.ErrNotFound)
		_, err = s.ViewDocument(ctx, "d1", "u1")
		wantErr(t, "ViewDocument after rollback", err, store.ErrNotFound)
		wantSearch(t, s, "u1", "rollback")
		putDocument(t, s, document("d2", "u1", store.VisibilityPublic, "Kept", "here"))
		wantSearch(t, s, "u1", "kept", "d2")
	})
}

func testDocumentUpsert(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("BySourceKey", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		first := store.Document{Title: "Alpha", Body: "first version", Format: "text", OwnerID: "u1",
			Visibility: store.VisibilityShared, SharedWith: []string{"u2", "u3"}, SourceKey: "file:u1:/a.md",
			CreatedAt: at(0), UpdatedAt: at(0)}
		got1 := putDocument(t, s, first)
		second := store.Document{Title: "Beta", Body: "second version", Format: "markdown", OwnerID: "u1",
			Visibility: store.VisibilityPrivate, SharedWith: []string{"u4"}, SourceKey: "file:u1:/a.md",
			CreatedAt: at(time.Hour), UpdatedAt: at(2 * time.Hour)}
		got2 := putDocument(t, s, second)
		want := second
		want.ID = got1.ID
		want.CreatedAt = at(0) // kept
		checkDocument(t, got2, want)
		got, err := s.GetDocument(ctx, got1.ID, "u1")
		must(t, "GetDocument", err)
		checkDocument(t, got, want)
		list, err := s.ListDocuments(ctx)
		must(t, "ListDocuments", err)
		if len(list) != 1 {
			t.Errorf("ListDocuments returned %d documents, want 1", len(list))
		}
		// The index follows: the old text is gone, the new one found.
		wantSearch(t, s, "u1", "alpha")
		wantSearch(t, s, "u1", "first")
		wantSearch(t, s, "u1", "beta", got1.ID)
		// The old shares are gone: u2 no longer sees it once shared again.
		third := second
		third.Visibility = store.VisibilityShared
		putDocument(t, s, third)
		_, err = s.GetDocument(ctx, got1.ID, "u2")
		wantErr(t, "GetDocument by a removed share", err, store.ErrNotFound)
		_, err = s.GetDocument(ctx, got1.ID, "u4")
		must(t, "GetDocument by the new share", err)
		// The same key with another ID is a conflict.
		other := third
		other.ID = "another"
		_, err = s.PutDocument(ctx, &other)
		wantErr(t, "PutDocument with the key of another ID", err, store.ErrConflict)
	})
	t.Run("ByID", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		d := document("d1", "u1", store.VisibilityPublic, "One", "body")
		d.SourceKey = "k1"
		putDocument(t, s, d)
		// By ID: every field is replaced, the source key too.
		d2 := document("d1", "u2", store.VisibilityPrivate, "Two", "other body")
		d2.CreatedAt = at(time.Hour)
		got := putDocument(t, s, d2)
		want := d2
		want.CreatedAt = at(0)
		checkDocument(t, got, want)
		// The key is free again: it makes a new document.
		d3 := document("", "u1", store.VisibilityPublic, "Three", "body")
		d3.SourceKey = "k1"
		if got := putDocument(t, s, d3); got.ID == "d1" || got.ID == "" {
			t.Errorf("PutDocument with a free key reused ID %q", got.ID)
		}
		// The key of one document with the ID of another: a conflict.
		d4 := document("d1", "u1", store.VisibilityPublic, "Four", "body")
		d4.SourceKey = "k1"
		_, err := s.PutDocument(ctx, &d4)
		wantErr(t, "PutDocument with the key of another document", err, store.ErrConflict)
		// An unknown key with a known ID replaces that document and sets
		// its key.
		d5 := document("d1", "u1", store.VisibilityPublic, "Five", "body")
		d5.SourceKey = "k2"
		got = putDocument(t, s, d5)
		want = d5
		checkDocument(t, got, want)
		list, err := s.ListDocuments(ctx)
		must(t, "ListDocuments", err)
		if len(list) != 2 {
			t.Errorf("ListDocuments returned %d documents, want 2", len(list))
		}
	})
	t.Run("UnchangedKeepsUpdatedAt", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		d := store.Document{Title: "Same", Body: "same", Format: "text", Visibility: store.VisibilityPublic,
			SharedWith: []string{"u2"}, SourceKey: "embedded:same.md"}
		got1 := putDocument(t, s, d)
		time.Sleep(2 * time.Millisecond)
		got2 := putDocument(t, s, d)
		cmp{t, "Document"}.str("ID", got2.ID, got1.ID)
		cmp{t, "Document"}.time("UpdatedAt", got2.UpdatedAt, got1.UpdatedAt)
		d.Body = "changed"
		got3 := putDocument(t, s, d)
		if !got3.UpdatedAt.After(got1.UpdatedAt) {
			t.Errorf("UpdatedAt of a changed document = %v, not after %v", got3.UpdatedAt, got1.UpdatedAt)
		}
		wantSearch(t, s, "", "changed", got1.ID)
		_, err := s.GetDocument(ctx, got1.ID, "")
		must(t, "GetDocument", err)
	})
	t.Run("ListNewestFirst", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for i, id := range []string{"b", "c", "a", "d"} {
			d := document(id, "u1", store.VisibilityPrivate, "t", "b")
			d.CreatedAt = at(time.Duration(i%3) * time.Minute) // b and d share a time
			putDocument(t, s, d)
		}
		list, err := s.ListDocuments(ctx)
		must(t, "ListDocuments", err)
		var ids []string
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		if want := []string{"a", "c", "b", "d"}; !slices.Equal(ids, want) {
			t.Errorf("ListDocuments IDs = %q, want %q", ids, want)
		}
	})
}

func testDocumentVisibility(t *testing.T, open func(t *testing.T) store.Store) {
	s, ctx := open(t), t.Context()
	for _, u := range []store.User{user("ua", "alice"), user("ub", "bob"), user("uc", "carol")} {
		createUser(t, s, u)
	}
	// The same text everywhere, so that search ranks by UpdatedAt alone.
	docs := []store.Document{
		document("priv", "ua", store.VisibilityPrivate, "Zebra", "zebra"),
		document("shared", "ua", store.VisibilityShared, "Zebra", "zebra"),
		document("pub", "ua", store.VisibilityPublic, "Zebra", "zebra"),
		// Shares count only while the document is shared.
		document("privlist", "ua", store.VisibilityPrivate, "Zebra", "zebra"),
		// A document of the server itself (no owner) is no one's.
		document("server", "", store.VisibilityPrivate, "Zebra", "zebra"),
	}
	docs[1].SharedWith = []string{"ub"}
	docs[3].SharedWith = []string{"ub"}
	for i, d := range docs {
		d.UpdatedAt = at(time.Duration(i) * time.Minute) // newest last
		putDocument(t, s, d)
	}
	visible := map[string][]string{ // by viewer, newest first
		"ua":    {"privlist", "pub", "shared", "priv"},
		"ub":    {"pub", "shared"},
		"uc":    {"pub"},
		"":      {"pub"},
		"other": {"pub"},
	}
	_, unknown := s.GetDocument(ctx, "nope", "ub")
	for viewer, want := range visible {
		for _, d := range docs {
			got, err := s.GetDocument(ctx, d.ID, viewer)
			if slices.Contains(want, d.ID) {
				must(t, fmt.Sprintf("GetDocument(%s) by %q", d.ID, viewer), err)
				if got != nil && got.ID != d.ID {
					t.Errorf("GetDocument(%s) returned %s", d.ID, got.ID)
				}
				continue
			}
			wantErr(t, fmt.Sprintf("GetDocument(%s) by %q", d.ID, viewer), err, store.ErrNotFound)
			if got != nil {
				t.Errorf("GetDocument(%s) by %q returned a document with its error", d.ID, viewer)
			}
			if err.Error() != unknown.Error() {
				t.Errorf("GetDocument(%s) by %q: error %q differs from an unknown document's %q",
					d.ID, viewer, err, unknown)
			}
		}
		// Every document matches; every one this viewer may see comes back.
		wantSearch(t, s, viewer, "zebra", want...)
		wantSearch(t, s, viewer, "zebr", want...)
	}
}

// testDocumentView checks ViewDocument against GetDocument: the same
// documents for every viewer, the same fields but the shares, the same
// ErrNotFound for hidden and missing documents, and the owner's name.
func testDocumentView(t *testing.T, open func(t *testing.T) store.Store) {
	s, ctx := open(t), t.Context()
	for _, u := range []store.User{user("ua", "alice"), user("ub", "bob"), user("uc", "carol")} {
		createUser(t, s, u)
	}
	docs := []store.Document{
		document("priv", "ua", store.VisibilityPrivate, "Private", "p"),
		document("shared", "ua", store.VisibilityShared, "Shared", "s"),
		document("pub", "ub", store.VisibilityPublic, "Public", "q"),
		// Shares count only while the document is shared.
		document("privlist", "ua", store.VisibilityPrivate, "Private with shares", "l"),
		// Documents of the server itself (no owner): no owner's name.
		document("server", "", store.VisibilityPublic, "Server", "v"),
		document("serverpriv", "", store.VisibilityPrivate, "Server private", "w"),
		// An owner ID that names no user: no owner's name either.
		document("ghost", "ux", store.VisibilityPublic, "Ghost", "g"),
	}
	docs[1].SharedWith = []string{"ub", "uc"}
	docs[3].SharedWith = []string{"ub"}
	docs[6].SourceKey = "file:ux:/ghost.md"
	for _, d := range docs {
		putDocument(t, s, d)
	}
	owners := map[string]string{"priv": "alice", "shared": "alice", "pub": "bob", "privlist": "alice"}
	visible := map[string][]string{
		"ua":    {"priv", "shared", "pub", "privlist", "server", "ghost"},
		"ub":    {"shared", "pub", "server", "ghost"},
		"uc":    {"shared", "pub", "server", "ghost"},
		"ux":    {"pub", "server", "ghost"}, // owns ghost, though no such user exists
		"":      {"pub", "server", "ghost"},
		"other": {"pub", "server", "ghost"},
	}
	_, unknown := s.ViewDocument(ctx, "nope", "ub")
	wantErr(t, "ViewDocument of an unknown document", unknown, store.ErrNotFound)
	_, unknownAnon := s.ViewDocument(ctx, "nope", "")
	for viewer, want := range visible {
		for _, d := range docs {
			what := fmt.Sprintf("ViewDocument(%s) by %q", d.ID, viewer)
			got, err := s.ViewDocument(ctx, d.ID, viewer)
			if !slices.Contains(want, d.ID) {
				wantErr(t, what, err, store.ErrNotFound)
				if got != nil {
					t.Errorf("%s returned a view with its error", what)
				}
				wantUnknown := unknown
				if viewer == "" {
					wantUnknown = unknownAnon
				}
				if err != nil && err.Error() != wantUnknown.Error() {
					t.Errorf("%s: error %q differs from an unknown document's %q", what, err, wantUnknown)
				}
				_, err = s.GetDocument(ctx, d.ID, viewer)
				wantErr(t, "GetDocument, which must agree with "+what, err, store.ErrNotFound)
				continue
			}
			must(t, what, err)
			if got == nil {
				continue
			}
			full, err := s.GetDocument(ctx, d.ID, viewer)
			must(t, "GetDocument, which must agree with "+what, err)
			want := *full
			want.SharedWith = nil // never loaded
			checkDocument(t, &got.Document, want)
			cmp{t, what}.str("OwnerName", got.OwnerName, owners[d.ID])
		}
	}

	// The name is read at each call: a user created after the document
	// names it from then on.
	createUser(t, s, user("ux", "xavier"))
	got, err := s.ViewDocument(ctx, "ghost", "ua")
	must(t, "ViewDocument(ghost) once its owner exists", err)
	cmp{t, "ViewDocument(ghost)"}.str("OwnerName", got.OwnerName, "xavier")
	// The empty owner ID names no one, even if a user has the empty ID.
	createUser(t, s, user("", "nobody"))
	got, err = s.ViewDocument(ctx, "server", "ua")
	must(t, "ViewDocument(server) with a user of ID \"\"", err)
	cmp{t, "ViewDocument(server)"}.str("OwnerName", got.OwnerName, "")
	// A replaced document shows its new owner; one whose owner was deleted
	// went with them.
	moved := docs[0]
	moved.OwnerID = "uc"
	moved.Visibility = store.VisibilityPublic
	putDocument(t, s, moved)
	got, err = s.ViewDocument(ctx, "priv", "ub")
	must(t, "ViewDocument(priv) after it moved to carol", err)
	cmp{t, "ViewDocument(priv)"}.str("OwnerName", got.OwnerName, "carol")
	must(t, "DeleteUser", s.DeleteUser(ctx, "ub"))
	_, err = s.ViewDocument(ctx, "pub", "ua")
	wantErr(t, "ViewDocument of a deleted user's document", err, store.ErrNotFound)
	// Hostile IDs are plain values; one with a NUL (which PostgreSQL text
	// cannot hold) names no document on either engine.
	for _, id := range []string{"' OR '1'='1", "priv' --", "%", "$2", "?", "pub\x00", "\x00", "pub\xff"} {
		_, err := s.ViewDocument(ctx, id, "ua")
		wantErr(t, fmt.Sprintf("ViewDocument(%q)", id), err, store.ErrNotFound)
		_, err = s.GetDocument(ctx, id, "ua")
		wantErr(t, fmt.Sprintf("GetDocument(%q)", id), err, store.ErrNotFound)
	}
}

func testDocumentSearch(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("TitleAboveBody", func(t *testing.T) {
		s := open(t)
		putDocument(t, s, document("body", "u1", store.VisibilityPublic, "Server notes",
			"This page explains the authorization flow among other things. "+filler))
		putDocument(t, s, document("title", "u1", store.VisibilityPublic, "Authorization flow",
			"This page explains some other things. "+filler))
		putDocument(t, s, document("none", "u1", store.VisibilityPublic, "Unrelated", filler))
		wantSearch(t, s, "u1", "authorization", "title", "body")
	})
	t.Run("MoreTermsAbove", func(t *testing.T) {
		s := open(t)
		putDocument(t, s, document("one", "u1", store.VisibilityPublic, "Notes",
			"The refresh interval is five minutes. "+filler))
		putDocument(t, s, document("both", "u1", store.VisibilityPublic, "Notes",
			"The refresh token rotates on use. "+filler))
		putDocument(t, s, document("none", "u1", store.VisibilityPublic, "Notes", filler))
		wantSearch(t, s, "u1", "refresh token", "both", "one")
		wantSearch(t, s, "u1", "token refresh", "both", "one")
	})
	// Words inside host names, file names, paths, addresses and versions
	// are found, as the query splits them.
	t.Run("WordsInsideNames", func(t *testing.T) {
		s := open(t)
		putDocument(t, s, document("names", "u1", store.VisibilityPublic, "Deploying",
			"Point docs.example.com at the server, edit /etc/mcpauthz/config.yaml, mail alice@corp.example, needs Go 1.26. "+filler))
		putDocument(t, s, document("other", "u1", store.VisibilityPublic, "Other", filler))
		for _, q := range []string{"example", "yaml", "config.yaml", "mcpauthz", "corp", "docs example"} {
			wantSearch(t, s, "u1", q, "names")
		}
	})
	t.Run("Prefix", func(t *testing.T) {
		s := open(t)
		putDocument(t, s, document("d1", "u1", store.VisibilityPublic, "Flows",
			"OAuth authorization code flow. "+filler))
		putDocument(t, s, document("d2", "u1", store.VisibilityPublic, "Other", filler))
		wantSearch(t, s, "u1", "authoriz", "d1")
		wantSearch(t, s, "u1", "oauth AUTHORIZ", "d1")
		wantSearch(t, s, "u1", "AUTHORIZATION", "d1")
		wantSearch(t, s, "u1", "Authorization!", "d1")
		wantSearch(t, s, "u1", "zzyzx")
	})
	t.Run("Ties", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"tie-b", "tie-a", "tie-c"} {
			d := document(id, "u1", store.VisibilityPublic, "Same title", "Same body about kiwis.")
			if id == "tie-c" {
				d.UpdatedAt = at(2 * time.Hour)
			}
			putDocument(t, s, d)
		}
		wantSearch(t, s, "u1", "kiwis", "tie-c", "tie-a", "tie-b")
	})
	t.Run("Limit", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			putDocument(t, s, document(fmt.Sprintf("d%d", i), "u1", store.VisibilityPublic, "Quokka", "quokka"))
		}
		for limit, want := range map[int]int{-5: 1, 0: 1, 1: 1, 3: 3, 5: 5, 1000: 5} {
			if got, _ := search(t, s, "u1", "quokka", limit); len(got) != want {
				t.Errorf("SearchDocuments with limit %d returned %d hits, want %d", limit, len(got), want)
			}
		}
	})
	// A search reads only the beginning of a hit's body for its snippet:
	// a match deep in a large document gets an excerpt of the beginning,
	// and the search stays cheap however large the documents are.
	t.Run("LargeDocuments", func(t *testing.T) {
		s := open(t)
		body := "Opening words of the report. " + strings.Repeat("lorem ipsum dolor sit amet ", 20000) + " the needle at the end"
		putDocument(t, s, document("big", "u1", store.VisibilityPublic, "Big report", body))
		_, hits := search(t, s, "u1", "needle", 10)
		if len(hits) != 1 || hits[0].Document.Body != "" {
			t.Fatalf("hits = %d, body %d bytes; want the document, without its body", len(hits), len(hits[0].Document.Body))
		}
		if sn := hits[0].Snippet; sn == "" || len(sn) > 600 {
			t.Errorf("snippet of a match past the part read: %q", sn)
		}
	})
	t.Run("Hits", func(t *testing.T) {
		s := open(t)
		words := strings.Fields(strings.Repeat(filler+" ", 4))
		body := strings.Join(words[:40], " ") + " the needle is here " + strings.Join(words[40:], " ")
		d := document("d1", "u1", store.VisibilityShared, "Haystack <b>notes</b>", body)
		d.SharedWith = []string{"u2"}
		putDocument(t, s, d)
		_, hits := search(t, s, "u2", "needle", 10)
		if len(hits) != 1 {
			t.Fatalf("SearchDocuments returned %d hits, want 1", len(hits))
		}
		noBody := d
		noBody.Body = "" // a hit carries no body
		checkDocument(t, &hits[0].Document, noBody)
		sn := hits[0].Snippet
		if !strings.Contains(sn, "needle") || len(sn) > 600 || strings.ContainsAny(sn, "<>\n\t") ||
			!strings.HasPrefix(sn, "…") || !strings.HasSuffix(sn, "…") {
			t.Errorf("Snippet = %q, want a short plain excerpt around \"needle\" with ellipses at both ends", sn)
		}
		if hits[0].Score <= 0 {
			t.Errorf("Score = %v, want > 0", hits[0].Score)
		}
		// A title match still has a snippet: the start of the body.
		_, hits = search(t, s, "u2", "haystack", 10)
		if len(hits) != 1 || !strings.HasPrefix(hits[0].Snippet, "Lorem ipsum") {
			t.Errorf("title-only hits = %+v, want one whose snippet starts the body", hits)
		}
	})
	t.Run("Titles", func(t *testing.T) { testDocumentSearchTitles(t, open) })
	t.Run("HostileQueries", func(t *testing.T) {
		s := open(t)
		putDocument(t, s, document("d1", "u1", store.VisibilityPublic, "AND OR NOT NEAR title body",
			`Quotes " and ' and * and - and : and ^ and ( ) { } all here, plus x and foo. `+filler))
		empty := []string{"", " ", "\t\n", `"`, `""`, `"*`, `*`, `:*`, `'`, `''`, `\`, "!!!", `(`, `)`,
			`-`, `+`, `^`, `{}`, `%`, `_`, `&|!`, "\x00", "\xff\xfe", "…", "😀😀"}
		for _, q := range empty {
			if got, _ := search(t, s, "u1", q, 10); len(got) != 0 {
				t.Errorf("SearchDocuments(%q) = %q, want no hits", q, got)
			}
		}
		hostile := []string{"AND", "OR", "NOT", "and or not", "NEAR(", "NEAR(a b, 2)", "-x", "title:foo",
			"body:", "{title body}: x", "^foo", `a' | 'b`, `'a':*`, "foo*", `"foo" AND "bar`, "x AND",
			"OR foo", "foo NOT", "a & b | !c <-> d", "\u0301", "e\u0301", "²", "x\x00y", "\xffx\xfe",
			"SELECT * FROM documents; --", "' OR '1'='1", "%foo%", "foo_bar",
			strings.Repeat("a ", 10000), strings.Repeat("x", 100000), strings.Repeat(`"AND" `, 1000),
			strings.Repeat("😀", 300), strings.Repeat("ab", 255) + "ü", strings.Repeat("w ", 40) + "foo"}
		for _, q := range hostile {
			search(t, s, "u1", q, 10)
		}
		for _, q := range []string{"AND", "NEAR(", "title:foo", "-x", `"foo`, "foo*"} {
			if got, _ := search(t, s, "u1", q, 10); !slices.Equal(got, []string{"d1"}) {
				t.Errorf("SearchDocuments(%q) = %q, want [d1] (the words are plain words)", q, got)
			}
		}
	})
}

// testDocumentSearchTitles checks SearchDocumentTitles against
// SearchDocuments (see checkTitles) over a mix of documents (private,
// shared with and without the viewer, public, the server's, blank titles,
// ties) for many queries (title and body words, prefixes of the last term,
// several terms, case, punctuation, no terms), viewers and limits, and
// inside a transaction; with a few results written out.
func testDocumentSearchTitles(t *testing.T, open func(t *testing.T) store.Store) {
	s, ctx := open(t), t.Context()
	for _, u := range []store.User{user("ua", "alice"), user("ub", "bob"), user("uc", "carol")} {
		createUser(t, s, u)
	}
	docs := []store.Document{
		document("guide", "ua", store.VisibilityPrivate, "Kestrel migration guide",
			"How to move the nest. "+filler),
		document("roadmap", "ua", store.VisibilityShared, "Kestrel roadmap",
			"Where the kestrel flies next quarter, shared with bob. "+filler),
		document("handbook", "ub", store.VisibilityPublic, "Employee handbook",
			"Holidays, expenses, and the kestrel policy of the office. "+filler),
		document("notes", "", store.VisibilityPublic, "  ",
			"Server notes: kestrels and falcons. "+filler),
		document("untitled", "uc", store.VisibilityPublic, "",
			"A migration plan for the wallaby, without a title. "+filler),
		document("privlist", "ua", store.VisibilityPrivate, "Kestrel private, with shares",
			"Shares count only while shared: quokka. "+filler),
		document("otherteam", "uc", store.VisibilityShared, "Kestrel for carol's team",
			"Shared with carol's team only: platypus. "+filler),
		document("ünï", "ub", store.VisibilityPublic, "Ünïcödé kestrel “quotes”",
			"Café crème and a kestrel. "+filler),
	}
	docs[1].SharedWith = []string{"ub"}
	docs[5].SharedWith = []string{"ub"}
	docs[6].SharedWith = []string{"ua"}
	for i, d := range docs {
		d.UpdatedAt = at(time.Duration(i) * time.Minute)
		putDocument(t, s, d)
	}
	// Ties: the same text, told apart by UpdatedAt, then by ID.
	for _, id := range []string{"tie-b", "tie-a", "tie-c"} {
		d := document(id, "ub", store.VisibilityPublic, "Gecko tie", "Same body about geckos.")
		if id == "tie-c" {
			d.UpdatedAt = at(2 * time.Hour)
		}
		putDocument(t, s, d)
	}

	queries := []string{"kestrel", "KESTREL", "kest", "k", "kestrel guide", "guide kest", "migration",
		"migration kestrel", "kestrel migration", "roadmap", "handbook policy", "falcon", "falcons",
		"falc", "gecko", "geckos", "tie", "quokka", "platypus", "wallaby", "notes", "café", "cafe", "ünïcödé", "quotes", "“quotes”", "kestrel!", `"kestrel" OR`,
		"title:kestrel", "kestrel*", "nest", "zzyzx", "", "  ", "!!!", "lorem", strings.Repeat("kestrel ", 40)}
	viewers := []string{"ua", "ub", "uc", "", "other"}
	for _, viewer := range viewers {
		for _, q := range queries {
			for _, limit := range []int{-3, 0, 1, 2, 3, 10, 100, 1000} {
				search(t, s, viewer, q, limit)
			}
		}
	}

	// A few results written out, where every engine agrees.
	titles := func(viewer, query string, limit int) []string {
		t.Helper()
		got, err := s.SearchDocumentTitles(ctx, viewer, query, limit)
		must(t, fmt.Sprintf("SearchDocumentTitles(%q, %q)", viewer, query), err)
		var out []string
		for _, g := range got {
			out = append(out, g.ID+"="+g.Title)
		}
		return out
	}
	for _, tc := range []struct {
		viewer, query string
		limit         int
		want          []string
	}{
		{"ua", "gecko", 10, []string{"tie-c=Gecko tie", "tie-a=Gecko tie", "tie-b=Gecko tie"}},
		{"", "GECK", 1000, []string{"tie-c=Gecko tie", "tie-a=Gecko tie", "tie-b=Gecko tie"}},
		{"ua", "gecko", 2, []string{"tie-c=Gecko tie", "tie-a=Gecko tie"}},
		{"ua", "gecko", 0, []string{"tie-c=Gecko tie"}},
		{"ua", "gecko", -1, []string{"tie-c=Gecko tie"}},
		{"ua", "roadm", 10, []string{"roadmap=Kestrel roadmap"}},
		{"ub", "roadm", 10, []string{"roadmap=Kestrel roadmap"}},
		{"uc", "roadm", 10, nil},
		{"", "roadm", 10, nil},
		{"ua", "guide", 10, []string{"guide=Kestrel migration guide"}},
		{"ub", "guide", 10, nil},
		{"ub", "quokka", 10, nil}, // privlist: shares count only while shared
		{"ua", "quokka", 10, []string{"privlist=Kestrel private, with shares"}},
		{"ua", "platypus", 10, []string{"otherteam=Kestrel for carol's team"}},
		{"uc", "platypus", 10, []string{"otherteam=Kestrel for carol's team"}},
		{"ub", "platypus", 10, nil},
		{"other", "wallaby", 10, []string{"untitled="}}, // titles as stored, blank ones too
		{"", "notes", 10, []string{"notes=  "}},
		{"", "zzyzx", 10, nil},
		{"", "!!!", 10, nil},
	} {
		if got := titles(tc.viewer, tc.query, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("SearchDocumentTitles(%q, %q, %d) = %q, want %q", tc.viewer, tc.query, tc.limit, got, tc.want)
		}
	}
	// A title hit ranks above a body hit: "migration" is in guide's title
	// and in untitled's body.
	if got := titles("ua", "migration", 10); len(got) != 2 || !strings.HasPrefix(got[0], "guide=") {
		t.Errorf("SearchDocumentTitles(ua, migration) = %q, want guide first, then untitled", got)
	}

	// In a transaction: what it wrote is found inside, not outside, and
	// both methods agree on either side.
	tx, err := s.BeginTX(ctx)
	must(t, "BeginTX", err)
	d := document("fresh", "ua", store.VisibilityPrivate, "Kestrel uncommitted", "Fresh kestrel text.")
	d.UpdatedAt = at(3 * time.Hour)
	_, err = s.PutDocument(tx, &d)
	must(t, "PutDocument in tx", err)
	if got, _ := searchIn(t, tx, s, "ua", "uncommitted", 10); !slices.Equal(got, []string{"fresh"}) {
		t.Errorf("search in tx = %q, want [fresh]", got)
	}
	searchIn(t, tx, s, "ua", "kestrel", 100)
	must(t, "Rollback", s.Rollback(tx))
	if got, _ := search(t, s, "ua", "uncommitted", 10); len(got) != 0 {
		t.Errorf("search after rollback = %q, want nothing", got)
	}
}

func testDocumentDelete(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("DeleteDocument", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		d := document("d1", "ua", store.VisibilityShared, "Walrus", "walrus")
		d.SharedWith = []string{"ub"}
		putDocument(t, s, d)
		putDocument(t, s, document("d2", "ua", store.VisibilityPublic, "Walrus too", "walrus"))
		must(t, "DeleteDocument", s.DeleteDocument(ctx, "d1"))
		_, err := s.GetDocument(ctx, "d1", "ua")
		wantErr(t, "GetDocument after delete", err, store.ErrNotFound)
		wantSearch(t, s, "ua", "walrus", "d2")
		wantErr(t, "DeleteDocument again", s.DeleteDocument(ctx, "d1"), store.ErrNotFound)
		// The shares went too: the same ID, shared with no one, is not ub's.
		d.SharedWith = nil
		putDocument(t, s, d)
		_, err = s.GetDocument(ctx, "d1", "ub")
		wantErr(t, "GetDocument by a deleted share", err, store.ErrNotFound)
		wantSearch(t, s, "ub", "walrus", "d2")
	})
	t.Run("DeleteUser", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createUser(t, s, user("ua", "alice"))
		createUser(t, s, user("ub", "bob"))
		mine := document("a1", "ua", store.VisibilityShared, "Narwhal", "narwhal")
		mine.SharedWith = []string{"ub"}
		putDocument(t, s, mine)
		putDocument(t, s, document("a2", "ua", store.VisibilityPublic, "Narwhal public", "narwhal"))
		theirs := document("b1", "ub", store.VisibilityShared, "Narwhal of bob", "narwhal")
		theirs.SharedWith = []string{"ua", "uc"}
		putDocument(t, s, theirs)

		must(t, "DeleteUser", s.DeleteUser(ctx, "ua"))
		for _, id := range []string{"a1", "a2"} {
			_, err := s.GetDocument(ctx, id, "ub")
			wantErr(t, "GetDocument of a deleted user's document", err, store.ErrNotFound)
		}
		wantSearch(t, s, "ub", "narwhal", "b1")
		list, err := s.ListDocuments(ctx)
		must(t, "ListDocuments", err)
		if len(list) != 1 || list[0].ID != "b1" {
			t.Fatalf("ListDocuments = %v, want only b1", list)
		}
		cmp{t, "Document"}.list("SharedWith", list[0].SharedWith, []string{"uc"})
		// The deleted document's shares went too.
		mine.OwnerID = "uc"
		mine.SharedWith = nil
		putDocument(t, s, mine)
		_, err = s.GetDocument(ctx, "a1", "ub")
		wantErr(t, "GetDocument by a share of a deleted document", err, store.ErrNotFound)
	})
}

// testPutDocumentRace stores one SourceKey from many goroutines at once:
// every call succeeds, and one document results.
func testPutDocumentRace(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	const n = 8
	ids := make([]string, n)
	errs := race(t.Context(), n, func(ctx context.Context, i int) error {
		d := store.Document{Title: fmt.Sprintf("Version %d", i), Body: "racing", Format: "text", OwnerID: "u1",
			Visibility: store.VisibilityShared, SharedWith: []string{fmt.Sprintf("u%d", i+10), "u2"},
			SourceKey: "file:u1:/race.md"}
		got, err := s.PutDocument(ctx, &d)
		if err == nil {
			ids[i] = got.ID
		}
		return err
	})
	for i, err := range errs {
		must(t, fmt.Sprintf("PutDocument %d", i), err)
	}
	list, err := s.ListDocuments(t.Context())
	must(t, "ListDocuments", err)
	if len(list) != 1 {
		t.Fatalf("ListDocuments returned %d documents, want 1", len(list))
	}
	for i, id := range ids {
		if id != list[0].ID {
			t.Errorf("PutDocument %d returned ID %q, want %q", i, id, list[0].ID)
		}
	}
	if len(list[0].SharedWith) != 2 {
		t.Errorf("SharedWith = %q, want the two shares of one call", list[0].SharedWith)
	}
	wantSearch(t, s, "u1", "racing", list[0].ID)
}
