package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
	"github.com/mcpauthz/mcpauthz/store/storetest"
)

// TestPostgresRevocationWaitsForRotation: on PostgreSQL (read committed),
// a family revoked by one server while another is rotating one of its
// refresh tokens must also revoke the tokens the rotation inserts; so must
// revoking a consent, deleting the user or deleting the client. (SQLite
// takes its write lock at BEGIN, so the two never overlap there.)
func TestPostgresRevocationWaitsForRotation(t *testing.T) {
	dsnOf := storetest.PostgresSchema
	req := func(kind store.RequestKind, sig string, active bool) *store.Request {
		now := time.Now().UTC()
		return &store.Request{Kind: kind, Signature: sig, RequestID: "fam", ClientID: "c1", Subject: "u1",
			RequestedAt: now, ExpiresAt: now.Add(time.Hour), Session: []byte("{}"), Active: active}
	}
	for _, mode := range []string{"reuse", "consent", "user", "client"} {
		t.Run(mode, func(t *testing.T) {
			dsn := dsnOf(t)
			open := func() *store.DB {
				db, err := store.Open(t.Context(), store.Config{DSN: dsn})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			a, b := open(), open() // two servers
			ctx := t.Context()
			if err := a.CreateUser(ctx, &store.User{ID: "u1", Name: "alice", PasswordHash: "x"}); err != nil {
				t.Fatal(err)
			}
			if err := a.CreateClient(ctx, &store.Client{ID: "c1", Name: "app", RedirectURIs: []string{"https://a.example/cb"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}, Scopes: []string{"docs:read"},
				TokenEndpointAuthMethod: "none", Source: "dcr"}); err != nil {
				t.Fatal(err)
			}
			for _, r := range []*store.Request{req(store.KindRefresh, "rt1", false), req(store.KindRefresh, "rt2", true), req(store.KindAccess, "at2", true)} {
				if err := a.CreateRequest(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			// Server A rotates rt2 as fosite does, in one transaction.
			tx, err := a.BeginTX(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.DeactivateRequest(tx, store.KindRefresh, "rt2", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(a.DeleteRequest(tx, store.KindAccess, "at2"),
				a.CreateRequest(tx, req(store.KindAccess, "at3", true)), a.CreateRequest(tx, req(store.KindRefresh, "rt3", true))); err != nil {
				t.Fatal(err)
			}
			// Server B revokes meanwhile.
			done := make(chan error, 1)
			go func() {
				bg := context.Background()
				switch mode {
				case "consent":
					done <- b.RevokeConsent(bg, "u1", "c1")
				case "user":
					done <- b.DeleteUser(bg, "u1")
				case "client":
					done <- b.DeleteClient(bg, "c1")
				default: // fosite's reuse handler
					btx, err := b.BeginTX(bg)
					if err != nil {
						done <- err
						return
					}
					done <- errors.Join(b.RevokeRequests(btx, store.KindRefresh, "fam"), b.RevokeRequests(btx, store.KindAccess, "fam"), b.Commit(btx))
				}
			}()
			time.Sleep(300 * time.Millisecond) // B is waiting for A's locks
			if err := a.Commit(tx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if _, err := b.GetRequest(ctx, store.KindRefresh, "rt3"); err == nil {
				t.Errorf("%s: the refresh token the rotation inserted is still active", mode)
			}
			if _, err := b.GetRequest(ctx, store.KindAccess, "at3"); err == nil {
				t.Errorf("%s: the access token the rotation inserted is still valid", mode)
			}
		})
	}
}

// TestPostgresCascadesWithManyFamilies: deleting a client, a user or a
// consent takes one lock, not one per token family: a client with tens of
// thousands of families can still be deleted (a lock per family ran out of
// PostgreSQL's shared lock table).
func TestPostgresCascadesWithManyFamilies(t *testing.T) {
	db, err := store.Open(t.Context(), store.Config{DSN: storetest.PostgresSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	if err := db.CreateUser(ctx, &store.User{ID: "u1", Name: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, &store.Client{ID: "c1", Name: "app", RedirectURIs: []string{"https://a.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}, Scopes: []string{"docs:read"},
		TokenEndpointAuthMethod: "none", Source: "dcr"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	fill := func() {
		err := db.Gorm(ctx).Exec(`INSERT INTO requests (kind, signature, request_id, client_id, subject, requested_at, expires_at, session, active, scopes, granted_scopes, audience, granted_audience, form, access_signature)
			SELECT 'refresh', 'sig' || i, 'fam' || i, 'c1', 'u1', ?, ?, '{}', true, '', '', '', '', '', '' FROM generate_series(1, 25000) i`, now, now.Add(time.Hour)).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	fill()
	if err := db.RevokeConsent(ctx, "u1", "c1"); err != nil {
		t.Fatalf("RevokeConsent: %v", err)
	}
	fill()
	if err := db.DeleteClient(ctx, "c1"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	var left int64
	if err := db.Gorm(ctx).Raw("SELECT count(*) FROM requests").Scan(&left).Error; err != nil || left != 0 {
		t.Errorf("%d requests left (%v)", left, err)
	}
}
