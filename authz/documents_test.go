package authz

import (
	"net/http"
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
