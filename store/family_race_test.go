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
