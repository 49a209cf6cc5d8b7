package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrInvalid: the record breaks a rule of the store, such as a Document
// with an unknown Visibility. Nothing was written.
var ErrInvalid = errors.New("store: invalid record")

// putDocumentAttempts bounds how often PutDocument retries after losing a
// race to insert the same document (PostgreSQL; SQLite serialises writers).
const putDocumentAttempts = 3

// PutDocument creates d, or replaces the document with d.SourceKey (if set)
// or else with d.ID (if set), in one transaction that also replaces the
// shares and updates the search index. A replaced document keeps its ID and
// CreatedAt; ErrConflict if d.ID is set and differs from the ID of the
// document with d.SourceKey. An empty ID is filled in with a random one; a
// zero CreatedAt or UpdatedAt is set to now. When a replacement would change
// nothing (same fields and shares, zero d.UpdatedAt), nothing is written and
// the stored document keeps its UpdatedAt, so re-importing unchanged
// documents is cheap. d itself is not modified.
//
// ErrInvalid if d.Visibility is not VisibilityPrivate, VisibilityShared or
// VisibilityPublic, or SharedWith holds an empty ID. SharedWith is stored as
// a set: it comes back sorted, without duplicates, and nil when empty. It is
// kept whatever the visibility, but grants access only while the document is
// shared.
//
// Concurrent calls with the same SourceKey, from any number of processes,
// leave exactly one document.
func (db *DB) PutDocument(ctx context.Context, d *Document) (*Document, error) {
	switch d.Visibility {
	case VisibilityPrivate, VisibilityShared, VisibilityPublic:
	default:
		return nil, fmt.Errorf("store: put document: %w: visibility %q is not %q, %q or %q",
			ErrInvalid, d.Visibility, VisibilityPrivate, VisibilityShared, VisibilityPublic)
	}
	shares := normalizeShares(d.SharedWith)
	if len(shares) > 0 && shares[0] == "" {
		return nil, fmt.Errorf("store: put document: %w: empty user ID in SharedWith", ErrInvalid)
	}
	now := db.now()
	want := *d
	want.SharedWith = shares
	if want.CreatedAt.IsZero() {
		want.CreatedAt = now
	}
	keepUpdatedAt := want.UpdatedAt.IsZero()
	if keepUpdatedAt {
		want.UpdatedAt = now
	}

	var stored *Document
	err := db.atomically(ctx, func(tx *gorm.DB) error {
		id, err := db.writeDocument(tx, &want, keepUpdatedAt)
		if err != nil {
			return err
		}
		stored, err = db.loadDocument(tx, id, nil)
		return err
	})
	if err != nil {
		return nil, wrap("put document", err)
	}
	return stored, nil
}

// writeDocument stores want (see PutDocument) and returns its ID.
func (db *DB) writeDocument(tx *gorm.DB, want *Document, keepUpdatedAt bool) (string, error) {
	for range putDocumentAttempts {
		old, err := findDocument(tx, want)
		if err != nil {
			return "", err
		}
		if old == nil {
			row := documentToRow(want)
			if row.ID == "" {
				row.ID = rand.Text()
			}
			// DO NOTHING on any unique key: if another transaction inserted
			// the same SourceKey (or ID) first, look again and update it.
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
			if res.Error != nil {
				return "", res.Error
			}
			if res.RowsAffected == 0 {
				continue
			}
			return row.ID, db.replaceShares(tx, row.ID, want.SharedWith, false)
		}
		if want.ID != "" && want.ID != old.ID {
			return "", fmt.Errorf("%w: source key %q belongs to document %s, not %s",
				ErrConflict, want.SourceKey, old.ID, want.ID)
		}
		if keepUpdatedAt && sameDocument(old, want) {
			return old.ID, nil
		}
		row := documentToRow(want)
		res := tx.Model(&documentRow{}).Where("id = ?", old.ID).Updates(map[string]any{
			"title":      row.Title,
			"body":       row.Body,
			"format":     row.Format,
			"owner_id":   row.OwnerID,
			"visibility": row.Visibility,
			"source_key": row.SourceKey,
			"updated_at": row.UpdatedAt,
		})
		if res.Error != nil {
			return "", res.Error
		}
		if res.RowsAffected == 0 {
			continue // deleted meanwhile: create it again
		}
		return old.ID, db.replaceShares(tx, old.ID, want.SharedWith, true)
	}
	return "", fmt.Errorf("%w: the document kept changing; try again", ErrConflict)
}

// findDocument returns the stored document that want replaces: the one with
// want.SourceKey, if set and found, or else the one with want.ID, if set;
// or nil.
func findDocument(tx *gorm.DB, want *Document) (*Document, error) {
	var rows []documentRow
	if want.SourceKey != "" {
		err := tx.Select(documentColumns).Where("source_key = ?", want.SourceKey).Limit(1).Find(&rows).Error
		if err != nil {
			return nil, err
		}
	}
	if len(rows) == 0 && want.ID != "" {
		err := tx.Select(documentColumns).Where("id = ?", want.ID).Limit(1).Find(&rows).Error
		if err != nil {
			return nil, err
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	shares, err := loadShares(tx, []string{rows[0].ID})
	if err != nil {
		return nil, err
	}
	d := rows[0].record(shares[rows[0].ID])
	return &d, nil
}

// sameDocument reports whether writing want over old would change nothing
// but UpdatedAt.
func sameDocument(old, want *Document) bool {
	return old.Title == want.Title && old.Body == want.Body && old.Format == want.Format &&
		old.OwnerID == want.OwnerID && old.Visibility == want.Visibility &&
		old.SourceKey == want.SourceKey && slices.Equal(old.SharedWith, want.SharedWith)
}

// replaceShares makes shares the shares of document id, and reindexes it.
// existing says whether the document had shares before.
func (db *DB) replaceShares(tx *gorm.DB, id string, shares []string, existing bool) error {
	if existing {
		if err := tx.Where("document_id = ?", id).Delete(&documentShareRow{}).Error; err != nil {
			return err
		}
	}
	if len(shares) > 0 {
		rows := make([]documentShareRow, len(shares))
		for i, u := range shares {
			rows[i] = documentShareRow{DocumentID: id, UserID: u}
		}
		if err := tx.Create(&rows).Error; err != nil {
			return err
		}
	}
	return db.search.index(tx, id)
}

// normalizeShares returns ids sorted by bytes, without duplicates, nil if
// empty.
func normalizeShares(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}

// GetDocument returns the document if viewerID may see it: viewerID owns
// it, it is public, or it is shared with viewerID. Otherwise, and when it
// does not exist, ErrNotFound: the two cannot be told apart. The empty
// viewerID sees only public documents.
func (db *DB) GetDocument(ctx context.Context, id, viewerID string) (*Document, error) {
	if unstorableKey(id) {
		return nil, wrap("get document", ErrNotFound)
	}
	d, err := db.loadDocument(db.conn(ctx), id, &viewerID)
	if err != nil {
		return nil, wrap("get document", err)
	}
	return d, nil
}

// ViewDocument returns the document if viewerID may see it, by the rule of
// GetDocument (visibleTo), with its owner's name and without its shares,
// in one query (viewDocument). ErrNotFound, with the same message, when
// the document does not exist and when viewerID may not see it.
//
// The owner's name is a correlated scalar subquery rather than a LEFT JOIN:
// with the SQLite go-sqlite3 bundles (3.54), the joined statement was
// re-prepared on every run (the driver rebuilt its column metadata each
// time) and cost three times as much. The statement is written out once
// and run on the prepared-statement pool (see DB.pool): building it with
// gorm cost more than running it.
func (db *DB) ViewDocument(ctx context.Context, id, viewerID string) (*DocumentView, error) {
	if unstorableKey(id) {
		return nil, wrap("view document", ErrNotFound)
	}
	stmt, args := viewDocument.bind(viewerID, []any{id})
	var r documentRow
	var ownerName string
	pool, ctx := db.pool(ctx)
	err := pool.QueryRowContext(ctx, stmt, args...).Scan(&r.ID, &r.Title, &r.Body, &r.Format,
		&r.OwnerID, &r.Visibility, &r.SourceKey, &r.CreatedAt, &r.UpdatedAt, &ownerName)
	if err != nil {
		return nil, wrap("view document", err)
	}
	return &DocumentView{Document: r.record(nil), OwnerName: ownerName}, nil
}

// viewDocument is ViewDocument's statement. Its placeholders: the document
// ID, then the visibility condition's. Numbered ($n), which both SQLite
// and PostgreSQL bind by position.
var viewDocument = newViewerStatements(func(cond string) string {
	return "SELECT d.id, d.title, d.body, d.format, d.owner_id, d.visibility, d.source_key, d.created_at, d.updated_at, " +
		"COALESCE((SELECT u.name FROM users u WHERE u.id = d.owner_id AND d.owner_id <> ''), '') " +
		"FROM documents d WHERE d.id = ? AND " + cond + " LIMIT 1"
}, numbered)

// loadDocument returns document id, or ErrNotFound; with a viewer, only if
// the viewer may see it.
func (db *DB) loadDocument(tx *gorm.DB, id string, viewer *string) (*Document, error) {
	q := tx.Table("documents d").Select(documentColumns).Where("d.id = ?", id)
	if viewer != nil {
		cond, args := visibleTo(*viewer)
		q = q.Where(cond, args...)
	}
	var row documentRow
	if err := q.Take(&row).Error; err != nil {
		return nil, err
	}
	shares, err := loadShares(tx, []string{id})
	if err != nil {
		return nil, err
	}
	d := row.record(shares[id])
	return &d, nil
}

// loadShares returns the shares of the documents ids, each list sorted by
// bytes.
func loadShares(tx *gorm.DB, ids []string) (map[string][]string, error) {
	out := make(map[string][]string)
	for chunk := range slices.Chunk(ids, 500) {
		var rows []documentShareRow
		if err := tx.Where("document_id IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.DocumentID] = append(out[r.DocumentID], r.UserID)
		}
	}
	for _, l := range out {
		slices.Sort(l)
	}
	return out, nil
}

// ListDocuments returns every document, whoever owns it, without its Body
// (a listing of large documents must not hold them all in memory), newest
// (by CreatedAt) first, then by ID. It is for administration: it enforces
// no visibility.
func (db *DB) ListDocuments(ctx context.Context) ([]Document, error) {
	conn := db.conn(ctx)
	var rows []documentRow
	err := conn.Select(documentListColumns).Order("created_at DESC").Order(db.byteOrder("id")).Find(&rows).Error
	if err != nil {
		return nil, wrap("list documents", err)
	}
	// All shares at once: fewer round trips than IDs in chunks.
	var shareRows []documentShareRow
	if err := conn.Find(&shareRows).Error; err != nil {
		return nil, wrap("list documents", err)
	}
	shares := make(map[string][]string)
	for _, r := range shareRows {
		shares[r.DocumentID] = append(shares[r.DocumentID], r.UserID)
	}
	docs := make([]Document, len(rows))
	for i := range rows {
		l := shares[rows[i].ID]
		slices.Sort(l)
		docs[i] = rows[i].record(l)
	}
	return docs, nil
}

// DeleteDocument removes, in one transaction, a document, its shares and
// its search index entry; ErrNotFound if absent.
func (db *DB) DeleteDocument(ctx context.Context, id string) error {
	err := db.atomically(ctx, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&documentRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := tx.Where("document_id = ?", id).Delete(&documentShareRow{}).Error; err != nil {
			return err
		}
		return db.search.unindex(tx, []string{id})
	})
	if err != nil {
		return wrap("delete document", err)
	}
	return nil
}

// deleteOwnedDocuments removes the documents userID owns, their shares and
// index entries, and the shares granted to userID, inside tx.
func (db *DB) deleteOwnedDocuments(tx *gorm.DB, userID string) error {
	var ids []string
	if err := tx.Model(&documentRow{}).Where("owner_id = ?", userID).Pluck("id", &ids).Error; err != nil {
		return err
	}
	if err := db.search.unindex(tx, ids); err != nil {
		return err
	}
	err := tx.Where("document_id IN (SELECT id FROM documents WHERE owner_id = ?) OR user_id = ?", userID, userID).
		Delete(&documentShareRow{}).Error
	if err != nil {
		return err
	}
	return tx.Where("owner_id = ?", userID).Delete(&documentRow{}).Error
}

// SearchDocuments returns up to limit (clamped to 1..100) documents that
// viewerID may see (as GetDocument) and that match query, best first: by
// Score, then by UpdatedAt, newest first, then by ID.
//
// The query is plain words, never syntax: it is split into terms at every
// rune that is not a letter, digit or combining mark (quotes, operators,
// column filters and wildcards are separators), at most 32 terms of the
// first 512 bytes count, case is ignored, and the last term also matches as
// a prefix. A document matches if any term does; one matching more terms,
// or in its title rather than its body, ranks higher. An empty or
// all-punctuation query returns no hits and no error.
//
// Ranking depends on the engine: bm25 with SQLite's FTS5, ts_rank_cd with
// stemming and stop words (English) on PostgreSQL, and a substring score
// in SQLite builds without FTS5 (see Open). Snippets are plain text, with
// whitespace collapsed and "…" where the excerpt cuts the body.
//
// A caller that shows only titles wants SearchDocumentTitles: the same
// hits, by the same ranking query, without the snippets, rows and shares
// read here after it.
func (db *DB) SearchDocuments(ctx context.Context, viewerID, query string, limit int) ([]SearchHit, error) {
	q, ok := newSearchQuery(viewerID, query, limit)
	if !ok {
		return nil, nil
	}
	terms := q.terms
	conn := db.conn(ctx)
	ranked, err := db.search.search(conn, q)
	if err != nil {
		return nil, wrap("search documents", err)
	}
	if len(ranked) == 0 {
		return nil, nil
	}
	ids := make([]string, len(ranked))
	for i, r := range ranked {
		ids[i] = r.ID
	}
	// Each read applies the visibility condition itself: the ranking, the
	// snippets and these rows are separate statements, and a document may
	// stop being visible (or change) between them. What is shown was
	// visible to the viewer when it was read.
	cond, condArgs := visibleTo(viewerID)
	var rows []documentRow
	err = conn.Table("documents AS d").Select(documentSearchColumns).Where("d.id IN ?", ids).Where(cond, condArgs...).Find(&rows).Error
	if err != nil {
		return nil, wrap("search documents", err)
	}
	shares, err := loadShares(conn, ids)
	if err != nil {
		return nil, wrap("search documents", err)
	}
	byID := make(map[string]*documentRow, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	hits := make([]SearchHit, 0, len(ranked))
	for _, r := range ranked {
		row := byID[r.ID]
		if row == nil {
			continue // deleted since it was ranked
		}
		d := row.record(shares[r.ID])
		var snippet string
		switch {
		case r.Snippet == "":
			snippet = excerpt(d.Body, terms)
		case db.search.engine() == enginePostgres:
			snippet = withEllipses(d.Body, r.Snippet)
		default:
			snippet = tidySnippet(r.Snippet)
		}
		d.Body = "" // only its beginning was read, for the snippet
		hits = append(hits, SearchHit{Document: d, Snippet: snippet, Score: r.Score})
	}
	return hits, nil
}

// SearchDocumentTitles returns what SearchDocuments returns, but only the
// ID, Title and Score of each hit: the same documents (up to limit,
// clamped to 1..100, that viewerID may see and that match query by the
// same rules), in the same order (Score, then UpdatedAt, newest first,
// then ID) and with the same scores. An empty or all-punctuation query
// returns no hits and no error.
//
// It is the ranking query of SearchDocuments alone, which reads the titles
// as it ranks: one statement, written out once per engine and kind of
// viewer and run on gorm's prepared-statement pool (see queryTitles),
// where SearchDocuments goes on to compute snippets and to load each hit's
// whole row and shares. The title is as stored: a caller that shows
// something else for a blank one decides what.
func (db *DB) SearchDocumentTitles(ctx context.Context, viewerID, query string, limit int) ([]SearchTitle, error) {
	q, ok := newSearchQuery(viewerID, query, limit)
	if !ok {
		return nil, nil
	}
	titles, err := db.search.rank(db.conn(ctx), q)
	if err != nil {
		return nil, wrap("search document titles", err)
	}
	return titles, nil
}

// searchEngine names the search engine Open chose: "fts5", "like" or
// "postgres". Tests use it to prove which one runs.
func (db *DB) searchEngine() string { return db.search.engine() }
