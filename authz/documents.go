package authz

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

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
	showDocument(w, r, s.pages, s.store, s.log, id, user.ID, user.Name, "There is no document here that you can see.")
}

// showDocument renders the page of document id as viewerID may see it
// (ViewDocument), for viewerName (empty: nobody signed in). A document
// the viewer may not see gets the same 404 as one that does not exist,
// saying notFound.
func showDocument(w http.ResponseWriter, r *http.Request, pages *Pages, docs DocumentViewer, log *slog.Logger, id, viewerID, viewerName, notFound string) {
	v, err := docs.ViewDocument(r.Context(), id, viewerID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		pages.Error(w, ErrorPage{Title: "Document not found", Message: notFound, Status: http.StatusNotFound})
	case err != nil:
		log.ErrorContext(r.Context(), "document page", "error", err)
		pages.Error(w, ErrorPage{Title: "Something went wrong", Message: "The document could not be loaded.", Status: http.StatusInternalServerError})
	default:
		d := &v.Document
		pages.Document(w, DocumentPage{Title: d.Title, Body: d.Body, Visibility: d.Visibility, UpdatedAt: d.UpdatedAt, UserName: viewerName, Owner: v.OwnerName})
	}
}

// Document search page bounds.
const (
	maxDocumentQuery   = 500 // bytes; a longer query is cut (the form allows 500 characters)
	documentSearchHits = 20
)

// serveDocumentSearch is /docs: a signed-in person searches the documents
// they may see — their own, those shared with them and public ones, the
// same rule as the MCP tools — and gets each hit's title, a snippet and a
// link to its page. Anyone else gets the sign-in page, which returns here.
func (s *Server) serveDocumentSearch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxDocumentQuery {
		q = strings.ToValidUTF8(q[:maxDocumentQuery], "")
	}
	user := s.currentUser(ctx, s.session(r))
	if user == nil {
		ret := "/docs"
		if q != "" {
			ret += "?" + url.Values{"q": {q}}.Encode()
		}
		s.pages.Login(w, http.StatusOK, LoginPage{Return: ret})
		return
	}
	page := DocumentSearchPage{Query: q, UserName: user.Name}
	if q != "" {
		hits, err := s.store.SearchDocuments(ctx, user.ID, q, documentSearchHits)
		if err != nil {
			s.log.ErrorContext(ctx, "document search page", "error", err)
			s.pages.Error(w, ErrorPage{Title: "Something went wrong", Message: "The search could not be run.", Status: http.StatusInternalServerError})
			return
		}
		page.Searched = true
		for _, h := range hits {
			d := &h.Document
			title := d.Title
			if strings.TrimSpace(title) == "" {
				title = d.ID
			}
			page.Results = append(page.Results, DocumentResult{URL: "/docs/" + url.PathEscape(d.ID), Title: title, Snippet: h.Snippet, Visibility: d.Visibility, UpdatedAt: d.UpdatedAt})
		}
	}
	s.pages.DocumentSearch(w, page)
}

// DocumentViewer is the part of the store a document page reads.
type DocumentViewer interface {
	ViewDocument(ctx context.Context, id, viewerID string) (*store.DocumentView, error)
}

// PublicDocuments serves GET /docs/{id} where no one signs in: on an MCP
// resource server running on its own against a remote authorization
// server, whose search and fetch results link there. It shows public
// documents to anyone (the store's anonymous viewer); any other ID,
// including a document private to someone or shared, gets the same 404 as
// one that does not exist, and the page says to open it in the MCP client.
func PublicDocuments(pages *Pages, docs DocumentViewer, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		showDocument(w, r, pages, docs, log, r.PathValue("id"), "", "",
			"There is no public document here. A document shared with you opens in your MCP client.")
	})
}
