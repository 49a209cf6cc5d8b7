package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauthz/mcpauthz/store"
)

func TestDocumentPageShowsOnlyWhatThePersonMaySee(t *testing.T) {
	e := newTestEnv(t)
	hash, _ := e.Server.passwords.Hash("bob password 123")
	if err := e.Store.CreateUser(t.Context(), &store.User{ID: "u-bob", Name: "bob", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	priv, err := e.Store.PutDocument(t.Context(), &store.Document{Title: "Alice <secret> plan", Body: "private body <script>alert(1)</script>", Format: "text", OwnerID: "u-alice", Visibility: store.VisibilityPrivate})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := e.Store.PutDocument(t.Context(), &store.Document{Title: "Handbook", Body: "public body", Format: "text", Visibility: store.VisibilityPublic})

	// Signed out: the sign-in page, returning to the document.
	resp, page := e.newBrowser().get(e.URL + "/docs/" + pub.ID)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) || !strings.Contains(page, "/docs/"+pub.ID) || strings.Contains(page, "public body") {
		t.Fatalf("signed out: %d, want the sign-in page returning to the document", resp.StatusCode)
	}

	alice := e.newBrowser()
	alice.login(e.URL, testUser, testPassword)
	resp, page = alice.get(e.URL + "/docs/" + priv.ID)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Alice &lt;secret&gt; plan") || !strings.Contains(page, "&lt;script&gt;") || strings.Contains(page, "<script>alert") {
		t.Fatalf("owner: %d, want the escaped document:\n%.600s", resp.StatusCode, page)
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("document page without a CSP")
	}

	bob := e.newBrowser()
	if r := bob.login(e.URL, "bob", "bob password 123"); r.StatusCode != http.StatusSeeOther {
		t.Fatal("bob cannot log in")
	}
	forbidden, fpage := bob.get(e.URL + "/docs/" + priv.ID)
	unknown, upage := bob.get(e.URL + "/docs/no-such-document")
	if forbidden.StatusCode != http.StatusNotFound || unknown.StatusCode != http.StatusNotFound || fpage != upage || strings.Contains(fpage, "secret") {
		t.Errorf("another person's private document: %d, unknown: %d; want the same 404 page", forbidden.StatusCode, unknown.StatusCode)
	}
	if r, p := bob.get(e.URL + "/docs/" + pub.ID); r.StatusCode != http.StatusOK || !strings.Contains(p, "public body") {
		t.Errorf("public document for bob: %d", r.StatusCode)
	}
}

// TestDocumentSearchPage: /docs searches what the signed-in person may see
// (their own, shared with them, public), shows each hit escaped with a
// link to its page, and sends anyone else to sign in and back.
func TestDocumentSearchPage(t *testing.T) {
	e := newTestEnv(t)
	hash, _ := e.Server.passwords.Hash("bob password 123")
	if err := e.Store.CreateUser(t.Context(), &store.User{ID: "u-bob", Name: "bob", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	put := func(d *store.Document) *store.Document {
		t.Helper()
		got, err := e.Store.PutDocument(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	own := put(&store.Document{Title: "Wombat <b>care</b>", Body: "feeding wombats <script>alert(1)</script> daily", Format: "text", OwnerID: "u-alice", Visibility: store.VisibilityPrivate})
	shared := put(&store.Document{Title: "Wombat census", Body: "wombats counted", Format: "text", OwnerID: "u-bob", Visibility: store.VisibilityShared, SharedWith: []string{"u-alice"}})
	public := put(&store.Document{Title: "Wombat handbook", Body: "about wombats", Format: "text", Visibility: store.VisibilityPublic})
	bobs := put(&store.Document{Title: "Bob's wombat diary", Body: "secret wombats", Format: "text", OwnerID: "u-bob", Visibility: store.VisibilityPrivate})

	// Signed out: the sign-in page, returning to the same search.
	resp, page := e.newBrowser().get(e.URL + "/docs?q=wombat")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) || !strings.Contains(page, `value="/docs?q=wombat"`) || strings.Contains(page, "Wombat") {
		t.Fatalf("signed out: %d, want the sign-in page returning to the search:\n%.800s", resp.StatusCode, page)
	}

	alice := e.newBrowser()
	alice.login(e.URL, testUser, testPassword)
	if resp, page := alice.get(e.URL + "/docs"); resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="q"`) || strings.Contains(page, `class="results"`) {
		t.Errorf("without a query: %d, want the form alone", resp.StatusCode)
	}
	resp, page = alice.get(e.URL + "/docs?q=wombats")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("search: %d", resp.StatusCode)
	}
	for _, d := range []*store.Document{own, shared, public} {
		if !strings.Contains(page, `href="/docs/`+d.ID+`"`) {
			t.Errorf("alice's search lacks %q:\n%s", d.Title, page)
		}
	}
	if strings.Contains(page, bobs.ID) || strings.Contains(page, "diary") {
		t.Error("alice's search shows bob's private document")
	}
	if !strings.Contains(page, "Wombat &lt;b&gt;care&lt;/b&gt;") || strings.Contains(page, "<script>alert") || strings.Contains(page, "<b>care") {
		t.Errorf("titles and snippets are not escaped:\n%s", page)
	}
	if resp, page := alice.get(e.URL + "/docs?q=" + url.QueryEscape(`"zebra" OR (`)); resp.StatusCode != http.StatusOK || !strings.Contains(page, "No document you can see matches") {
		t.Errorf("a query with no hits and query syntax: %d", resp.StatusCode)
	}
	if resp, _ := alice.get(e.URL + "/docs?q=" + url.QueryEscape(strings.Repeat("wombat ", 500))); resp.StatusCode != http.StatusOK {
		t.Errorf("a long query: %d", resp.StatusCode)
	}

	bob := e.newBrowser()
	bob.login(e.URL, "bob", "bob password 123")
	if _, page := bob.get(e.URL + "/docs?q=wombats"); strings.Contains(page, own.ID) || !strings.Contains(page, bobs.ID) || !strings.Contains(page, public.ID) {
		t.Errorf("bob's search: want his own and public documents, not alice's private one")
	}
}
