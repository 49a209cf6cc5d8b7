package authz

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/mcpauthz/mcpauthz/store"
)

// serveDocument shows a document to a signed-in person who may see it: the
// url the MCP search and fetch tools return, which ChatGPT shows as the
// citation link. Anyone else gets the sign-in page; a document they may not
// see is answered exactly like one that does not exist.
func (s *Server) serveDocument(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	user := s.currentUser(ctx, s.session(r))
	if user == nil {
		s.pages.Login(w, http.StatusOK, LoginPage{Return: "/docs/" + url.PathEscape(id)})
		return
	}
	v, err := s.store.ViewDocument(ctx, id, user.ID)
	if errors.Is(err, store.ErrNotFound) {
		s.pages.Error(w, ErrorPage{Title: "Document not found", Message: "There is no document here that you can see.", Status: http.StatusNotFound})
		return
	} else if err != nil {
		s.log.ErrorContext(ctx, "document page", "error", err)
		s.pages.Error(w, ErrorPage{Title: "Something went wrong", Message: "The document could not be loaded.", Status: http.StatusInternalServerError})
		return
	}
	d := &v.Document
	page := DocumentPage{Title: d.Title, Body: d.Body, Visibility: d.Visibility, UpdatedAt: d.UpdatedAt, UserName: user.Name, Owner: v.OwnerName}
	s.pages.Document(w, page)
}
