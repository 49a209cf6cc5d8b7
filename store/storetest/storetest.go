// Package storetest is the conformance suite of store.Store: every
// implementation must pass Run.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/store"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call and close it when t ends (t.Cleanup). The store's clock must be
// the real time, give or take a few minutes: the nonce tests use expiries an
// hour either side of time.Now. Every other time is explicit.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("Clients", func(t *testing.T) { testClients(t, open) })
	t.Run("Consents", func(t *testing.T) { testConsents(t, open) })
	t.Run("Requests", func(t *testing.T) { testRequests(t, open) })
	t.Run("Nonces", func(t *testing.T) { testNonces(t, open) })
	t.Run("Attempts", func(t *testing.T) { testAttempts(t, open) })
	t.Run("SigningKeys", func(t *testing.T) { testSigningKeys(t, open) })
	t.Run("Documents", func(t *testing.T) { testDocuments(t, open) })
	t.Run("DeleteExpired", func(t *testing.T) { testDeleteExpired(t, open) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
}

// at returns the suite's reference time, in UTC with microseconds, plus d.
func at(d time.Duration) time.Time {
	return time.Date(2031, time.March, 4, 5, 6, 7, 891234000, time.UTC).Add(d)
}

// elsewhere is a zone that is not UTC, to check that times come back in UTC.
func elsewhere() *time.Location { return time.FixedZone("UTC+05:30", 5*3600+30*60) }

func ptr[T any](v T) *T { return &v }

// wantErr fails unless errors.Is(err, want); a nil want means no error.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	wantErr(t, what, err, nil)
}

// cmp collects the differences between a record read back and the one
// written.
type cmp struct {
	t    *testing.T
	what string
}

func (c cmp) str(field, got, want string) {
	c.t.Helper()
	if got != want {
		c.t.Errorf("%s.%s = %q, want %q", c.what, field, got, want)
	}
}

func (c cmp) bool(field string, got, want bool) {
	c.t.Helper()
	if got != want {
		c.t.Errorf("%s.%s = %v, want %v", c.what, field, got, want)
	}
}

func (c cmp) bytes(field string, got, want []byte) {
	c.t.Helper()
	if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
		c.t.Errorf("%s.%s = %#v, want %#v", c.what, field, got, want)
	}
}

func (c cmp) list(field string, got, want []string) {
	c.t.Helper()
	if !slices.Equal(got, want) || (got == nil) != (want == nil) {
		c.t.Errorf("%s.%s = %#v, want %#v", c.what, field, got, want)
	}
}

func (c cmp) time(field string, got, want time.Time) {
	c.t.Helper()
	if !got.Equal(want) {
		c.t.Errorf("%s.%s = %v, want %v", c.what, field, got, want)
	}
	if got.Location() != time.UTC {
		c.t.Errorf("%s.%s = %v, not in UTC", c.what, field, got)
	}
}

func (c cmp) timePtr(field string, got, want *time.Time) {
	c.t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		c.t.Errorf("%s.%s = %v, want %v", c.what, field, got, want)
	default:
		c.time(field, *got, *want)
	}
}

func checkUser(t *testing.T, got *store.User, want store.User) {
	t.Helper()
	c := cmp{t, "User"}
	c.str("ID", got.ID, want.ID)
	c.str("Name", got.Name, want.Name)
	c.str("PasswordHash", got.PasswordHash, want.PasswordHash)
	c.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	c.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func checkClient(t *testing.T, got *store.Client, want store.Client) {
	t.Helper()
	c := cmp{t, "Client"}
	c.str("ID", got.ID, want.ID)
	c.bytes("SecretHash", got.SecretHash, want.SecretHash)
	c.str("Name", got.Name, want.Name)
	c.list("RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	c.list("GrantTypes", got.GrantTypes, want.GrantTypes)
	c.list("ResponseTypes", got.ResponseTypes, want.ResponseTypes)
	c.list("Scopes", got.Scopes, want.Scopes)
	c.str("TokenEndpointAuthMethod", got.TokenEndpointAuthMethod, want.TokenEndpointAuthMethod)
	c.bool("Introspect", got.Introspect, want.Introspect)
	c.str("Source", got.Source, want.Source)
	c.bytes("RegistrationTokenHash", got.RegistrationTokenHash, want.RegistrationTokenHash)
	c.bytes("Metadata", got.Metadata, want.Metadata)
	c.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	c.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func checkConsent(t *testing.T, got *store.Consent, want store.Consent) {
	t.Helper()
	c := cmp{t, "Consent"}
	c.str("UserID", got.UserID, want.UserID)
	c.str("ClientID", got.ClientID, want.ClientID)
	c.list("Scopes", got.Scopes, want.Scopes)
	c.str("Resource", got.Resource, want.Resource)
	c.list("RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	c.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	c.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func checkRequest(t *testing.T, got *store.Request, want store.Request) {
	t.Helper()
	c := cmp{t, "Request"}
	c.str("Kind", string(got.Kind), string(want.Kind))
	c.str("Signature", got.Signature, want.Signature)
	c.str("RequestID", got.RequestID, want.RequestID)
	c.str("ClientID", got.ClientID, want.ClientID)
	c.str("Subject", got.Subject, want.Subject)
	c.time("RequestedAt", got.RequestedAt, want.RequestedAt)
	c.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	c.list("Scopes", got.Scopes, want.Scopes)
	c.list("GrantedScopes", got.GrantedScopes, want.GrantedScopes)
	c.list("Audience", got.Audience, want.Audience)
	c.list("GrantedAudience", got.GrantedAudience, want.GrantedAudience)
	c.str("Form", got.Form, want.Form)
	c.bytes("Session", got.Session, want.Session)
	c.bool("Active", got.Active, want.Active)
	c.timePtr("UsedAt", got.UsedAt, want.UsedAt)
	c.str("AccessSignature", got.AccessSignature, want.AccessSignature)
}

func checkKey(t *testing.T, got *store.SigningKey, want store.SigningKey) {
	t.Helper()
	c := cmp{t, "SigningKey"}
	c.str("ID", got.ID, want.ID)
	c.str("Algorithm", got.Algorithm, want.Algorithm)
	c.bytes("PublicJWK", got.PublicJWK, want.PublicJWK)
	c.bytes("EncryptedPrivateKey", got.EncryptedPrivateKey, want.EncryptedPrivateKey)
	c.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	c.timePtr("RetiredAt", got.RetiredAt, want.RetiredAt)
}

// Fixtures. Each returns a fresh record with every field set.

func user(id, name string) store.User {
	return store.User{
		ID:           id,
		Name:         name,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt:    at(0),
		UpdatedAt:    at(time.Minute),
	}
}

func client(id string) store.Client {
	return store.Client{
		ID:                      id,
		SecretHash:              []byte{0, 1, 2, 0xfe, 0xff},
		Name:                    "Client " + id,
		RedirectURIs:            []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"read", "write"},
		TokenEndpointAuthMethod: "client_secret_basic",
		Introspect:              true,
		Source:                  "dcr",
		RegistrationTokenHash:   []byte("registration-hash"),
		Metadata:                []byte(`{"client_uri":"https://app.example","contacts":["a@example.com"]}`),
		CreatedAt:               at(0),
		UpdatedAt:               at(time.Second),
	}
}

// consentResource is the resource of consent's consents.
const consentResource = "https://mcp.example/mcp"

func consent(userID, clientID string) store.Consent {
	return store.Consent{
		UserID:       userID,
		ClientID:     clientID,
		Scopes:       []string{"read"},
		Resource:     consentResource,
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		CreatedAt:    at(0),
		UpdatedAt:    at(time.Hour),
	}
}

func request(kind store.RequestKind, sig, requestID, clientID, subject string) store.Request {
	return store.Request{
		Kind:            kind,
		Signature:       sig,
		RequestID:       requestID,
		ClientID:        clientID,
		Subject:         subject,
		RequestedAt:     at(0),
		ExpiresAt:       at(time.Hour),
		Scopes:          []string{"read", "write"},
		GrantedScopes:   []string{"read"},
		Audience:        []string{"https://mcp.example/mcp"},
		GrantedAudience: []string{"https://mcp.example/mcp"},
		Form:            "redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read+write",
		Session:         []byte(`{"subject":"` + subject + `"}`),
		Active:          true,
		AccessSignature: "access-" + sig,
	}
}

func signingKey(id string, created time.Time) store.SigningKey {
	return store.SigningKey{
		ID:                  id,
		Algorithm:           "ES256",
		PublicJWK:           []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `"}`),
		EncryptedPrivateKey: []byte{0xde, 0xad, 0xbe, 0xef, 0},
		CreatedAt:           created,
	}
}

// Helpers that fail the test on error.

func createUser(t *testing.T, s store.Store, u store.User) {
	t.Helper()
	must(t, "CreateUser "+u.ID, s.CreateUser(t.Context(), &u))
}

func createClient(t *testing.T, s store.Store, c store.Client) {
	t.Helper()
	must(t, "CreateClient "+c.ID, s.CreateClient(t.Context(), &c))
}

func createRequest(t *testing.T, s store.Store, r store.Request) {
	t.Helper()
	must(t, "CreateRequest "+r.Signature, s.CreateRequest(t.Context(), &r))
}

func saveConsent(t *testing.T, s store.Store, c store.Consent) {
	t.Helper()
	must(t, "SaveConsent", s.SaveConsent(t.Context(), &c))
}

// requestExists reports whether the request is stored, active or not.
func requestExists(t *testing.T, s store.Store, kind store.RequestKind, sig string) bool {
	t.Helper()
	_, err := s.GetRequest(t.Context(), kind, sig)
	switch {
	case err == nil, errors.Is(err, store.ErrInactive):
		return true
	case errors.Is(err, store.ErrNotFound):
		return false
	default:
		t.Fatalf("GetRequest %s %s: %v", kind, sig, err)
		return false
	}
}

func wantRequests(t *testing.T, s store.Store, want map[string]bool) {
	t.Helper()
	for key, exists := range want {
		kind, sig := splitKey(key)
		if got := requestExists(t, s, kind, sig); got != exists {
			t.Errorf("request %s exists = %v, want %v", key, got, exists)
		}
	}
}

// splitKey splits "kind/signature".
func splitKey(key string) (store.RequestKind, string) {
	for i := range len(key) {
		if key[i] == '/' {
			return store.RequestKind(key[:i]), key[i+1:]
		}
	}
	panic("bad request key " + key)
}

func testUsers(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		u := user("u1", "alice")
		u.CreatedAt = u.CreatedAt.In(elsewhere())
		in := u
		must(t, "CreateUser", s.CreateUser(ctx, &in))
		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		checkUser(t, got, u)
		got, err = s.GetUserByName(ctx, "alice")
		must(t, "GetUserByName", err)
		checkUser(t, got, u)
	})
	t.Run("ZeroTimesFilled", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		u := store.User{ID: "u1", Name: "alice", PasswordHash: "h"}
		before := time.Now().Add(-time.Minute)
		must(t, "CreateUser", s.CreateUser(ctx, &u))
		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		if got.CreatedAt.Before(before) || got.UpdatedAt.Before(before) {
			t.Errorf("zero times stored as %v, %v; want about now", got.CreatedAt, got.UpdatedAt)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		_, err := s.GetUser(ctx, "nobody")
		wantErr(t, "GetUser", err, store.ErrNotFound)
		_, err = s.GetUserByName(ctx, "nobody")
		wantErr(t, "GetUserByName", err, store.ErrNotFound)
		// Names and IDs come from requests: a NUL byte or bytes that are
		// not UTF-8 (which PostgreSQL text cannot hold) name nobody.
		for _, bad := range []string{"ad\x00min", "\x00", "ad\xffmin", "\xfe"} {
			_, err = s.GetUserByName(ctx, bad)
			wantErr(t, fmt.Sprintf("GetUserByName(%q)", bad), err, store.ErrNotFound)
			_, err = s.GetUser(ctx, bad)
			wantErr(t, fmt.Sprintf("GetUser(%q)", bad), err, store.ErrNotFound)
			_, err = s.GetClient(ctx, bad)
			wantErr(t, fmt.Sprintf("GetClient(%q)", bad), err, store.ErrNotFound)
		}
		wantErr(t, "SetUserPassword", s.SetUserPassword(ctx, "nobody", "h"), store.ErrNotFound)
		wantErr(t, "DeleteUser", s.DeleteUser(ctx, "nobody"), store.ErrNotFound)
	})
	t.Run("Conflict", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createUser(t, s, user("u1", "alice"))
		dupName := user("u2", "alice")
		wantErr(t, "CreateUser same name", s.CreateUser(ctx, &dupName), store.ErrConflict)
		dupID := user("u1", "bob")
		wantErr(t, "CreateUser same ID", s.CreateUser(ctx, &dupID), store.ErrConflict)
		// Names are case-sensitive.
		createUser(t, s, user("u3", "Alice"))
		n, err := s.CountUsers(ctx)
		must(t, "CountUsers", err)
		if n != 2 {
			t.Errorf("CountUsers = %d, want 2", n)
		}
		got, err := s.GetUserByName(ctx, "Alice")
		must(t, "GetUserByName", err)
		if got.ID != "u3" {
			t.Errorf("GetUserByName(Alice).ID = %q, want u3", got.ID)
		}
	})
	t.Run("ListAndCount", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		list, err := s.ListUsers(ctx)
		must(t, "ListUsers", err)
		if len(list) != 0 {
			t.Errorf("ListUsers on an empty store = %v", list)
		}
		n, err := s.CountUsers(ctx)
		must(t, "CountUsers", err)
		if n != 0 {
			t.Errorf("CountUsers = %d, want 0", n)
		}
		for i, name := range []string{"carol", "alice", "bob", "Zed"} {
			createUser(t, s, user(fmt.Sprintf("u%d", i), name))
		}
		list, err = s.ListUsers(ctx)
		must(t, "ListUsers", err)
		var names []string
		for _, u := range list {
			names = append(names, u.Name)
		}
		if want := []string{"Zed", "alice", "bob", "carol"}; !slices.Equal(names, want) {
			t.Errorf("ListUsers names = %v, want %v", names, want)
		}
		checkUser(t, &list[1], user("u1", "alice"))
		n, err = s.CountUsers(ctx)
		must(t, "CountUsers", err)
		if n != 4 {
			t.Errorf("CountUsers = %d, want 4", n)
		}
	})
	t.Run("SetUserPassword", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		u := user("u1", "alice")
		createUser(t, s, u)
		must(t, "SetUserPassword", s.SetUserPassword(ctx, "u1", "new-hash"))
		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		if got.PasswordHash != "new-hash" {
			t.Errorf("PasswordHash = %q, want new-hash", got.PasswordHash)
		}
		if got.UpdatedAt.Equal(u.UpdatedAt) || time.Since(got.UpdatedAt).Abs() > time.Hour {
			t.Errorf("UpdatedAt = %v, want the store clock's now", got.UpdatedAt)
		}
		c := cmp{t, "User"}
		c.str("Name", got.Name, u.Name)
		c.time("CreatedAt", got.CreatedAt, u.CreatedAt)
		if got.SessionGeneration != 1 {
			t.Errorf("SessionGeneration = %d after a new password, want 1", got.SessionGeneration)
		}
	})
	t.Run("EndSessions", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createUser(t, s, user("u1", "alice"))
		createUser(t, s, user("u2", "bob"))
		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		if got.SessionGeneration != 0 {
			t.Errorf("a new user's SessionGeneration = %d, want 0", got.SessionGeneration)
		}
		// Concurrent sign-outs on several instances each count.
		errs := race(ctx, racers, func(ctx context.Context, _ int) error { return s.EndSessions(ctx, "u1") })
		for i, err := range errs {
			must(t, fmt.Sprintf("EndSessions %d", i), err)
		}
		got, err = s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		if got.SessionGeneration != racers {
			t.Errorf("SessionGeneration = %d after %d sign-outs", got.SessionGeneration, racers)
		}
		if other, _ := s.GetUser(ctx, "u2"); other.SessionGeneration != 0 {
			t.Errorf("another user's SessionGeneration = %d", other.SessionGeneration)
		}
		wantErr(t, "EndSessions", s.EndSessions(ctx, "nobody"), store.ErrNotFound)
	})
	t.Run("DeleteCascades", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createUser(t, s, user("u1", "alice"))
		createUser(t, s, user("u2", "bob"))
		createClient(t, s, client("c1"))
		saveConsent(t, s, consent("u1", "c1"))
		saveConsent(t, s, consent("u2", "c1"))
		createRequest(t, s, request(store.KindAuthCode, "code1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindAccess, "at1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindRefresh, "rt1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindAccess, "at2", "r2", "c1", "u2"))
		createRequest(t, s, request(store.KindAccess, "at3", "r3", "c1", ""))

		must(t, "DeleteUser", s.DeleteUser(ctx, "u1"))
		_, err := s.GetUser(ctx, "u1")
		wantErr(t, "GetUser after delete", err, store.ErrNotFound)
		_, err = s.GetConsent(ctx, "u1", "c1", consentResource)
		wantErr(t, "GetConsent of deleted user", err, store.ErrNotFound)
		_, err = s.GetConsent(ctx, "u2", "c1", consentResource)
		must(t, "GetConsent of other user", err)
		wantRequests(t, s, map[string]bool{
			"code/code1": false, "access/at1": false, "refresh/rt1": false,
			"access/at2": true, "access/at3": true,
		})
		_, err = s.GetClient(ctx, "c1")
		must(t, "GetClient", err)
		wantErr(t, "DeleteUser again", s.DeleteUser(ctx, "u1"), store.ErrNotFound)
	})
}

func testClients(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		c := client("c1")
		c.UpdatedAt = c.UpdatedAt.In(elsewhere())
		in := c
		must(t, "CreateClient", s.CreateClient(ctx, &in))
		got, err := s.GetClient(ctx, "c1")
		must(t, "GetClient", err)
		checkClient(t, got, c)
	})
	t.Run("NilAndEmpty", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		nils := store.Client{
			ID: "nils", Name: "public", TokenEndpointAuthMethod: "none", Source: "cli",
			CreatedAt: at(0), UpdatedAt: at(0),
		}
		empties := store.Client{
			ID: "empties", SecretHash: []byte{}, RedirectURIs: []string{}, GrantTypes: []string{},
			ResponseTypes: []string{}, Scopes: []string{}, RegistrationTokenHash: []byte{},
			Metadata: []byte{}, CreatedAt: at(time.Second), UpdatedAt: at(time.Second),
		}
		for _, c := range []store.Client{nils, empties} {
			in := c
			must(t, "CreateClient "+c.ID, s.CreateClient(ctx, &in))
			got, err := s.GetClient(ctx, c.ID)
			must(t, "GetClient "+c.ID, err)
			checkClient(t, got, c)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		_, err := s.GetClient(ctx, "nobody")
		wantErr(t, "GetClient", err, store.ErrNotFound)
		// A client ID comes from the request; one with a NUL byte (which
		// PostgreSQL text cannot hold) names no client on either engine.
		_, err = s.GetClient(ctx, "nobody\x00")
		wantErr(t, "GetClient with a NUL byte", err, store.ErrNotFound)
		c := client("nobody")
		wantErr(t, "UpdateClient", s.UpdateClient(ctx, &c), store.ErrNotFound)
		wantErr(t, "DeleteClient", s.DeleteClient(ctx, "nobody"), store.ErrNotFound)
	})
	t.Run("Conflict", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createClient(t, s, client("c1"))
		dup := client("c1")
		dup.Name = "other"
		wantErr(t, "CreateClient", s.CreateClient(ctx, &dup), store.ErrConflict)
		got, err := s.GetClient(ctx, "c1")
		must(t, "GetClient", err)
		checkClient(t, got, client("c1"))
	})
	t.Run("Update", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createClient(t, s, client("c1"))
		createClient(t, s, client("c2"))
		upd := store.Client{
			ID:                      "c1",
			SecretHash:              nil,
			Name:                    "Renamed",
			RedirectURIs:            []string{"https://new.example/cb"},
			GrantTypes:              []string{},
			ResponseTypes:           nil,
			Scopes:                  []string{"read"},
			TokenEndpointAuthMethod: "none",
			Introspect:              false,
			Source:                  "cli",
			RegistrationTokenHash:   nil,
			Metadata:                []byte(`{}`),
			CreatedAt:               at(999 * time.Hour), // ignored
			UpdatedAt:               at(2 * time.Hour).In(elsewhere()),
		}
		in := upd
		must(t, "UpdateClient", s.UpdateClient(ctx, &in))
		got, err := s.GetClient(ctx, "c1")
		must(t, "GetClient", err)
		want := upd
		want.CreatedAt = client("c1").CreatedAt
		checkClient(t, got, want)
		got, err = s.GetClient(ctx, "c2")
		must(t, "GetClient c2", err)
		checkClient(t, got, client("c2"))
	})
	t.Run("ListByCreation", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		list, err := s.ListClients(ctx)
		must(t, "ListClients", err)
		if len(list) != 0 {
			t.Errorf("ListClients on an empty store = %v", list)
		}
		for i, id := range []string{"b", "c", "a"} {
			c := client(id)
			c.CreatedAt = at(time.Duration(i) * time.Minute)
			createClient(t, s, c)
		}
		list, err = s.ListClients(ctx)
		must(t, "ListClients", err)
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ID)
		}
		if want := []string{"b", "c", "a"}; !slices.Equal(ids, want) {
			t.Errorf("ListClients IDs = %v, want %v", ids, want)
		}
		want := client("a")
		want.CreatedAt = at(2 * time.Minute)
		checkClient(t, &list[2], want)
	})
	t.Run("DeleteCascades", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createUser(t, s, user("u1", "alice"))
		createClient(t, s, client("c1"))
		createClient(t, s, client("c2"))
		saveConsent(t, s, consent("u1", "c1"))
		saveConsent(t, s, consent("u1", "c2"))
		createRequest(t, s, request(store.KindAccess, "at1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindRefresh, "rt1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindAccess, "cc1", "r2", "c1", ""))
		createRequest(t, s, request(store.KindAccess, "at2", "r3", "c2", "u1"))

		must(t, "DeleteClient", s.DeleteClient(ctx, "c1"))
		_, err := s.GetClient(ctx, "c1")
		wantErr(t, "GetClient after delete", err, store.ErrNotFound)
		_, err = s.GetConsent(ctx, "u1", "c1", consentResource)
		wantErr(t, "GetConsent of deleted client", err, store.ErrNotFound)
		_, err = s.GetConsent(ctx, "u1", "c2", consentResource)
		must(t, "GetConsent of other client", err)
		wantRequests(t, s, map[string]bool{
			"access/at1": false, "refresh/rt1": false, "access/cc1": false, "access/at2": true,
		})
		_, err = s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
	})
}

func testConsents(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		c := consent("u1", "c1")
		c.CreatedAt = c.CreatedAt.In(elsewhere())
		saveConsent(t, s, c)
		got, err := s.GetConsent(ctx, "u1", "c1", consentResource)
		must(t, "GetConsent", err)
		checkConsent(t, got, c)

		nilScopes := consent("u1", "c2")
		nilScopes.Scopes, nilScopes.Resource, nilScopes.RedirectURIs = nil, "", nil
		saveConsent(t, s, nilScopes)
		got, err = s.GetConsent(ctx, "u1", "c2", "")
		must(t, "GetConsent nil scopes", err)
		checkConsent(t, got, nilScopes)

		empty := consent("u1", "c3")
		empty.Scopes = []string{}
		saveConsent(t, s, empty)
		got, err = s.GetConsent(ctx, "u1", "c3", consentResource)
		must(t, "GetConsent empty scopes", err)
		checkConsent(t, got, empty)
	})
	t.Run("NotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		saveConsent(t, s, consent("u1", "c1"))
		_, err := s.GetConsent(ctx, "u1", "c2", consentResource)
		wantErr(t, "GetConsent other client", err, store.ErrNotFound)
		_, err = s.GetConsent(ctx, "u2", "c1", consentResource)
		wantErr(t, "GetConsent other user", err, store.ErrNotFound)
		_, err = s.GetConsent(ctx, "u1", "c1", "https://other.example/mcp")
		wantErr(t, "GetConsent other resource", err, store.ErrNotFound)
	})
	t.Run("SaveReplaces", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		first := consent("u1", "c1")
		saveConsent(t, s, first)
		second := consent("u1", "c1")
		second.Scopes = []string{"read", "write"}
		second.RedirectURIs = []string{"https://other.example/cb"}
		second.CreatedAt = at(5 * time.Hour)
		second.UpdatedAt = at(5 * time.Hour)
		saveConsent(t, s, second)
		got, err := s.GetConsent(ctx, "u1", "c1", consentResource)
		must(t, "GetConsent", err)
		c := cmp{t, "Consent"}
		c.list("Scopes", got.Scopes, second.Scopes)
		c.list("RedirectURIs", got.RedirectURIs, second.RedirectURIs)
		c.time("CreatedAt", got.CreatedAt, first.CreatedAt)
		c.time("UpdatedAt", got.UpdatedAt, second.UpdatedAt)
		list, err := s.ListConsents(ctx, "u1")
		must(t, "ListConsents", err)
		if len(list) != 1 {
			t.Errorf("ListConsents after replace: %d consents, want 1", len(list))
		}
	})
	// A consent for another resource is another consent: the first stays.
	t.Run("PerResource", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		saveConsent(t, s, consent("u1", "c1"))
		other := consent("u1", "c1")
		other.Resource, other.Scopes = "https://other.example/mcp", []string{"write"}
		saveConsent(t, s, other)
		got, err := s.GetConsent(ctx, "u1", "c1", consentResource)
		must(t, "GetConsent first resource", err)
		checkConsent(t, got, consent("u1", "c1"))
		got, err = s.GetConsent(ctx, "u1", "c1", other.Resource)
		must(t, "GetConsent other resource", err)
		checkConsent(t, got, other)
		list, err := s.ListConsents(ctx, "u1")
		must(t, "ListConsents", err)
		if len(list) != 2 {
			t.Errorf("ListConsents: %d consents, want 2 (one per resource)", len(list))
		}
		must(t, "RevokeConsent", s.RevokeConsent(ctx, "u1", "c1"))
		if list, _ := s.ListConsents(ctx, "u1"); len(list) != 0 {
			t.Errorf("RevokeConsent left %v", list)
		}
	})
	t.Run("ListNewestFirst", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		list, err := s.ListConsents(ctx, "u1")
		must(t, "ListConsents", err)
		if len(list) != 0 {
			t.Errorf("ListConsents on an empty store = %v", list)
		}
		for i, clientID := range []string{"c2", "c3", "c1"} {
			c := consent("u1", clientID)
			c.CreatedAt = at(time.Duration(i) * time.Minute)
			c.UpdatedAt = c.CreatedAt
			saveConsent(t, s, c)
		}
		saveConsent(t, s, consent("u2", "c9"))
		list, err = s.ListConsents(ctx, "u1")
		must(t, "ListConsents", err)
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ClientID)
		}
		if want := []string{"c1", "c3", "c2"}; !slices.Equal(ids, want) {
			t.Errorf("ListConsents client IDs = %v, want %v", ids, want)
		}
		want := consent("u1", "c2")
		want.UpdatedAt = want.CreatedAt
		checkConsent(t, &list[2], want)
	})
	t.Run("RevokeCascades", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		saveConsent(t, s, consent("u1", "c1"))
		saveConsent(t, s, consent("u1", "c2"))
		saveConsent(t, s, consent("u2", "c1"))
		createRequest(t, s, request(store.KindAuthCode, "code1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindAccess, "at1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindRefresh, "rt1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindAccess, "at2", "r2", "c2", "u1"))
		createRequest(t, s, request(store.KindAccess, "at3", "r3", "c1", "u2"))

		must(t, "RevokeConsent", s.RevokeConsent(ctx, "u1", "c1"))
		_, err := s.GetConsent(ctx, "u1", "c1", consentResource)
		wantErr(t, "GetConsent after revoke", err, store.ErrNotFound)
		for _, k := range [][2]string{{"u1", "c2"}, {"u2", "c1"}} {
			_, err := s.GetConsent(ctx, k[0], k[1], consentResource)
			must(t, "GetConsent "+k[0]+"/"+k[1], err)
		}
		wantRequests(t, s, map[string]bool{
			"code/code1": false, "access/at1": false, "refresh/rt1": false,
			"access/at2": true, "access/at3": true,
		})
		// Revoking again, or without a stored consent, still removes requests.
		createRequest(t, s, request(store.KindAccess, "at4", "r4", "c1", "u1"))
		must(t, "RevokeConsent again", s.RevokeConsent(ctx, "u1", "c1"))
		wantRequests(t, s, map[string]bool{"access/at4": false})
	})
}

func testRequests(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		full := request(store.KindRefresh, "sig1", "r1", "c1", "u1")
		full.RequestedAt = full.RequestedAt.In(elsewhere())
		full.UsedAt = ptr(at(time.Minute).In(elsewhere()))
		full.Active = true
		nils := store.Request{
			Kind: store.KindAccess, Signature: "sig2", RequestID: "r2", ClientID: "c1",
			RequestedAt: at(0), ExpiresAt: at(time.Hour), Active: true,
		}
		empties := store.Request{
			Kind: store.KindPKCE, Signature: "sig3", RequestID: "r3", ClientID: "c1",
			RequestedAt: at(0), ExpiresAt: at(time.Hour), Active: true,
			Scopes: []string{}, GrantedScopes: []string{}, Audience: []string{},
			GrantedAudience: []string{}, Session: []byte{},
		}
		for _, r := range []store.Request{full, nils, empties} {
			in := r
			must(t, "CreateRequest "+r.Signature, s.CreateRequest(ctx, &in))
			got, err := s.GetRequest(ctx, r.Kind, r.Signature)
			must(t, "GetRequest "+r.Signature, err)
			checkRequest(t, got, r)
		}
	})
	t.Run("CreatedInactive", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		r := request(store.KindRefresh, "sig1", "r1", "c1", "u1")
		r.Active = false
		r.UsedAt = ptr(at(time.Second))
		createRequest(t, s, r)
		got, err := s.GetRequest(ctx, store.KindRefresh, "sig1")
		wantErr(t, "GetRequest", err, store.ErrInactive)
		if got == nil {
			t.Fatal("GetRequest of an inactive request returned no record")
		}
		checkRequest(t, got, r)
	})
	t.Run("Conflict", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createRequest(t, s, request(store.KindAccess, "sig1", "r1", "c1", "u1"))
		dup := request(store.KindAccess, "sig1", "r2", "c2", "u2")
		wantErr(t, "CreateRequest", s.CreateRequest(ctx, &dup), store.ErrConflict)
		// The same signature under another kind is another request.
		createRequest(t, s, request(store.KindRefresh, "sig1", "r1", "c1", "u1"))
		got, err := s.GetRequest(ctx, store.KindAccess, "sig1")
		must(t, "GetRequest", err)
		checkRequest(t, got, request(store.KindAccess, "sig1", "r1", "c1", "u1"))
	})
	t.Run("NotFound", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createRequest(t, s, request(store.KindAccess, "sig1", "r1", "c1", "u1"))
		_, err := s.GetRequest(ctx, store.KindRefresh, "sig1")
		wantErr(t, "GetRequest other kind", err, store.ErrNotFound)
		_, err = s.GetRequest(ctx, store.KindAccess, "sig2")
		wantErr(t, "GetRequest", err, store.ErrNotFound)
		_, err = s.GetRequest(ctx, store.KindAccess, "sig1\x00")
		wantErr(t, "GetRequest with a NUL byte", err, store.ErrNotFound)
		wantErr(t, "DeleteRequest", s.DeleteRequest(ctx, store.KindAccess, "sig2"), store.ErrNotFound)
		wantErr(t, "DeactivateRequest", s.DeactivateRequest(ctx, store.KindAccess, "sig2", at(0)), store.ErrNotFound)
	})
	t.Run("Delete", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createRequest(t, s, request(store.KindAccess, "sig1", "r1", "c1", "u1"))
		createRequest(t, s, request(store.KindRefresh, "sig1", "r1", "c1", "u1"))
		must(t, "DeleteRequest", s.DeleteRequest(ctx, store.KindAccess, "sig1"))
		wantRequests(t, s, map[string]bool{"access/sig1": false, "refresh/sig1": true})
		wantErr(t, "DeleteRequest again", s.DeleteRequest(ctx, store.KindAccess, "sig1"), store.ErrNotFound)
		// An inactive request can be deleted too.
		must(t, "DeactivateRequest", s.DeactivateRequest(ctx, store.KindRefresh, "sig1", at(0)))
		must(t, "DeleteRequest inactive", s.DeleteRequest(ctx, store.KindRefresh, "sig1"))
	})
	t.Run("Deactivate", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		r := request(store.KindAuthCode, "code1", "r1", "c1", "u1")
		createRequest(t, s, r)
		other := request(store.KindAuthCode, "code2", "r1", "c1", "u1")
		createRequest(t, s, other)
		used := at(3 * time.Minute).In(elsewhere())
		must(t, "DeactivateRequest", s.DeactivateRequest(ctx, store.KindAuthCode, "code1", used))
		got, err := s.GetRequest(ctx, store.KindAuthCode, "code1")
		wantErr(t, "GetRequest after deactivate", err, store.ErrInactive)
		if got == nil {
			t.Fatal("GetRequest of an inactive request returned no record")
		}
		want := r
		want.Active = false
		want.UsedAt = &used
		checkRequest(t, got, want)
		wantErr(t, "DeactivateRequest again",
			s.DeactivateRequest(ctx, store.KindAuthCode, "code1", at(time.Hour)), store.ErrInactive)
		got, _ = s.GetRequest(ctx, store.KindAuthCode, "code1")
		checkRequest(t, got, want) // UsedAt unchanged by the failed call
		got, err = s.GetRequest(ctx, store.KindAuthCode, "code2")
		must(t, "GetRequest of the other code", err)
		checkRequest(t, got, other)
	})
	t.Run("RevokeRequests", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for _, r := range []store.Request{
			request(store.KindAuthCode, "code1", "r1", "c1", "u1"),
			request(store.KindPKCE, "code1", "r1", "c1", "u1"),
			request(store.KindAccess, "at1", "r1", "c1", "u1"),
			request(store.KindAccess, "at2", "r1", "c1", "u1"),
			request(store.KindRefresh, "rt1", "r1", "c1", "u1"),
			request(store.KindRefresh, "rt2", "r1", "c1", "u1"),
			request(store.KindAccess, "at3", "r2", "c1", "u1"),
			request(store.KindRefresh, "rt3", "r2", "c1", "u1"),
		} {
			createRequest(t, s, r)
		}
		must(t, "DeactivateRequest rt1", s.DeactivateRequest(ctx, store.KindRefresh, "rt1", at(time.Minute)))

		must(t, "RevokeRequests access", s.RevokeRequests(ctx, store.KindAccess, "r1"))
		wantRequests(t, s, map[string]bool{
			"access/at1": false, "access/at2": false, "access/at3": true,
			"refresh/rt1": true, "refresh/rt2": true, "code/code1": true, "pkce/code1": true,
		})
		must(t, "RevokeRequests refresh", s.RevokeRequests(ctx, store.KindRefresh, "r1"))
		for _, sig := range []string{"rt1", "rt2"} {
			got, err := s.GetRequest(ctx, store.KindRefresh, sig)
			wantErr(t, "GetRequest revoked "+sig, err, store.ErrInactive)
			if got == nil || got.Active {
				t.Fatalf("revoked refresh token %s: %+v", sig, got)
			}
		}
		got, _ := s.GetRequest(ctx, store.KindRefresh, "rt1")
		cmp{t, "Request"}.timePtr("UsedAt", got.UsedAt, ptr(at(time.Minute)))
		got, _ = s.GetRequest(ctx, store.KindRefresh, "rt2")
		cmp{t, "Request"}.timePtr("UsedAt", got.UsedAt, nil)
		_, err := s.GetRequest(ctx, store.KindRefresh, "rt3")
		must(t, "GetRequest other family", err)

		must(t, "RevokeRequests code", s.RevokeRequests(ctx, store.KindAuthCode, "r1"))
		must(t, "RevokeRequests pkce", s.RevokeRequests(ctx, store.KindPKCE, "r1"))
		wantRequests(t, s, map[string]bool{"code/code1": false, "pkce/code1": false, "access/at3": true})
		must(t, "RevokeRequests of an empty family", s.RevokeRequests(ctx, store.KindAccess, "nope"))
	})
}

func testNonces(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("SingleUse", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		later := time.Now().Add(time.Hour)
		must(t, "UseNonce", s.UseNonce(ctx, "jti-1", later))
		wantErr(t, "UseNonce again", s.UseNonce(ctx, "jti-1", later), store.ErrReplay)
		wantErr(t, "UseNonce again, later expiry", s.UseNonce(ctx, "jti-1", later.Add(time.Hour)), store.ErrReplay)
		must(t, "UseNonce other key", s.UseNonce(ctx, "jti-2", later))
	})
	t.Run("ExpiredIsReplaced", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "UseNonce expired", s.UseNonce(ctx, "jti-1", time.Now().Add(-time.Hour)))
		later := time.Now().Add(time.Hour)
		must(t, "UseNonce after expiry", s.UseNonce(ctx, "jti-1", later))
		wantErr(t, "UseNonce replay", s.UseNonce(ctx, "jti-1", later), store.ErrReplay)
	})
}

func testSigningKeys(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		k := signingKey("k1", at(0).In(elsewhere()))
		k.RetiredAt = ptr(at(time.Hour).In(elsewhere()))
		in := k
		must(t, "CreateSigningKey", s.CreateSigningKey(ctx, &in))
		empty := store.SigningKey{ID: "k2", Algorithm: "EdDSA", PublicJWK: []byte{}, CreatedAt: at(time.Second)}
		in = empty
		must(t, "CreateSigningKey", s.CreateSigningKey(ctx, &in))
		list, err := s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		if len(list) != 2 {
			t.Fatalf("ListSigningKeys: %d keys, want 2", len(list))
		}
		checkKey(t, &list[0], empty)
		checkKey(t, &list[1], k)
	})
	t.Run("Conflict", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		k := signingKey("k1", at(0))
		must(t, "CreateSigningKey", s.CreateSigningKey(ctx, &k))
		dup := signingKey("k1", at(time.Hour))
		wantErr(t, "CreateSigningKey again", s.CreateSigningKey(ctx, &dup), store.ErrConflict)
	})
	t.Run("ListNewestFirst", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		list, err := s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		if len(list) != 0 {
			t.Errorf("ListSigningKeys on an empty store = %v", list)
		}
		for i, id := range []string{"b", "c", "a"} {
			k := signingKey(id, at(time.Duration(i)*time.Hour))
			must(t, "CreateSigningKey", s.CreateSigningKey(ctx, &k))
		}
		list, err = s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		var ids []string
		for _, k := range list {
			ids = append(ids, k.ID)
		}
		if want := []string{"a", "c", "b"}; !slices.Equal(ids, want) {
			t.Errorf("ListSigningKeys IDs = %v, want %v", ids, want)
		}
	})
	t.Run("Retire", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		old := signingKey("old", at(0))
		old.RetiredAt = ptr(at(time.Hour))
		for _, k := range []store.SigningKey{old, signingKey("k1", at(2*time.Hour)),
			signingKey("k2", at(3*time.Hour)), signingKey("k3", at(4*time.Hour))} {
			must(t, "CreateSigningKey", s.CreateSigningKey(ctx, &k))
		}
		when := at(5 * time.Hour)
		must(t, "RetireSigningKeys", s.RetireSigningKeys(ctx, "k3", when))
		list, err := s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		want := map[string]*time.Time{"old": old.RetiredAt, "k1": &when, "k2": &when, "k3": nil}
		for _, k := range list {
			cmp{t, "SigningKey " + k.ID}.timePtr("RetiredAt", k.RetiredAt, want[k.ID])
		}
		// Keeping an older key retires nothing newer (a rotation that lost
		// a race to a newer one), nor a key created in the same instant.
		same := signingKey("k4", at(4*time.Hour))
		must(t, "CreateSigningKey", s.CreateSigningKey(ctx, &same))
		must(t, "RetireSigningKeys", s.RetireSigningKeys(ctx, "k1", at(6*time.Hour)))
		must(t, "RetireSigningKeys", s.RetireSigningKeys(ctx, "k4", at(6*time.Hour)))
		must(t, "RetireSigningKeys", s.RetireSigningKeys(ctx, "nobody", at(6*time.Hour)))
		list, err = s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		want["k4"] = nil
		for _, k := range list {
			cmp{t, "SigningKey " + k.ID}.timePtr("RetiredAt", k.RetiredAt, want[k.ID])
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for _, id := range []string{"k1", "k2"} {
			k := signingKey(id, at(0))
			must(t, "CreateSigningKey", s.CreateSigningKey(ctx, &k))
		}
		must(t, "DeleteSigningKey", s.DeleteSigningKey(ctx, "k1"))
		wantErr(t, "DeleteSigningKey again", s.DeleteSigningKey(ctx, "k1"), store.ErrNotFound)
		list, err := s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		if len(list) != 1 || list[0].ID != "k2" {
			t.Errorf("ListSigningKeys after delete = %v", list)
		}
	})
}

func testDeleteExpired(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Requests", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		now := at(time.Hour)
		expiring := func(kind store.RequestKind, sig string, expires time.Time) store.Request {
			r := request(kind, sig, "r-"+sig, "c1", "u1")
			r.ExpiresAt = expires
			return r
		}
		createRequest(t, s, expiring(store.KindAccess, "gone1", now.Add(-time.Microsecond)))
		createRequest(t, s, expiring(store.KindAuthCode, "gone2", now.Add(-time.Hour)))
		createRequest(t, s, expiring(store.KindAccess, "kept1", now))
		createRequest(t, s, expiring(store.KindAccess, "kept2", now.Add(time.Hour)))
		inactive := expiring(store.KindRefresh, "rotated", now.Add(time.Hour))
		inactive.Active = false
		inactive.UsedAt = ptr(at(0))
		createRequest(t, s, inactive)
		expiredInactive := expiring(store.KindRefresh, "rotated-old", now.Add(-time.Second))
		expiredInactive.Active = false
		createRequest(t, s, expiredInactive)
		// A consumed code past its expiry stays while its family has a
		// token (a replay must revoke them), and goes with the last one.
		consumed := expiring(store.KindAuthCode, "consumed", now.Add(-time.Hour))
		consumed.RequestID, consumed.Active = "fam-c", false
		createRequest(t, s, consumed)
		famToken := expiring(store.KindRefresh, "fam-rt", now.Add(time.Hour))
		famToken.RequestID = "fam-c"
		createRequest(t, s, famToken)
		orphan := expiring(store.KindAuthCode, "consumed-orphan", now.Add(-time.Hour))
		orphan.RequestID, orphan.Active = "fam-o", false
		createRequest(t, s, orphan)

		n, err := s.DeleteExpired(ctx, now.In(elsewhere()))
		must(t, "DeleteExpired", err)
		if n != 4 {
			t.Errorf("DeleteExpired = %d, want 4", n)
		}
		wantRequests(t, s, map[string]bool{
			"access/gone1": false, "code/gone2": false, "refresh/rotated-old": false, "code/consumed-orphan": false,
			"access/kept1": true, "access/kept2": true, "refresh/rotated": true, "code/consumed": true, "refresh/fam-rt": true,
		})
		got, err := s.GetRequest(ctx, store.KindRefresh, "rotated")
		wantErr(t, "GetRequest rotated", err, store.ErrInactive)
		checkRequest(t, got, inactive)
		n, err = s.DeleteExpired(ctx, now)
		must(t, "DeleteExpired again", err)
		if n != 0 {
			t.Errorf("DeleteExpired again = %d, want 0", n)
		}
	})
	t.Run("Nonces", func(t *testing.T) {
		// Expiries relative to the real clock (UseNonce compares with the
		// store's), cleaned up with an explicit time between them.
		s, ctx := open(t), t.Context()
		now := time.Now()
		must(t, "UseNonce", s.UseNonce(ctx, "n-old", now.Add(-2*time.Hour)))
		must(t, "UseNonce", s.UseNonce(ctx, "n-new", now.Add(2*time.Hour)))
		n, err := s.DeleteExpired(ctx, now)
		must(t, "DeleteExpired", err)
		if n != 1 {
			t.Errorf("DeleteExpired = %d, want 1 (n-old)", n)
		}
		wantErr(t, "UseNonce n-new", s.UseNonce(ctx, "n-new", now.Add(time.Hour)), store.ErrReplay)
		n, err = s.DeleteExpired(ctx, now)
		must(t, "DeleteExpired again", err)
		if n != 0 {
			t.Errorf("DeleteExpired again = %d, want 0", n)
		}
	})
}

func testTransactions(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("RollbackDiscards", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createRequest(t, s, request(store.KindAuthCode, "code1", "r1", "c1", "u1"))
		tx, err := s.BeginTX(ctx)
		must(t, "BeginTX", err)
		u := user("u1", "alice")
		must(t, "CreateUser in tx", s.CreateUser(tx, &u))
		must(t, "DeactivateRequest in tx", s.DeactivateRequest(tx, store.KindAuthCode, "code1", at(0)))
		r := request(store.KindAccess, "at1", "r1", "c1", "u1")
		must(t, "CreateRequest in tx", s.CreateRequest(tx, &r))
		// The transaction sees its own writes.
		_, err = s.GetUser(tx, "u1")
		must(t, "GetUser in tx", err)
		_, err = s.GetRequest(tx, store.KindAuthCode, "code1")
		wantErr(t, "GetRequest in tx", err, store.ErrInactive)
		must(t, "Rollback", s.Rollback(tx))

		_, err = s.GetUser(ctx, "u1")
		wantErr(t, "GetUser after rollback", err, store.ErrNotFound)
		_, err = s.GetRequest(ctx, store.KindAuthCode, "code1")
		must(t, "GetRequest after rollback (active again)", err)
		wantRequests(t, s, map[string]bool{"access/at1": false})
	})
	t.Run("CommitKeeps", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createRequest(t, s, request(store.KindRefresh, "rt1", "r1", "c1", "u1"))
		tx, err := s.BeginTX(ctx)
		must(t, "BeginTX", err)
		must(t, "DeactivateRequest in tx", s.DeactivateRequest(tx, store.KindRefresh, "rt1", at(time.Minute)))
		r := request(store.KindRefresh, "rt2", "r1", "c1", "u1")
		must(t, "CreateRequest in tx", s.CreateRequest(tx, &r))
		u := user("u1", "alice")
		must(t, "CreateUser in tx", s.CreateUser(tx, &u))
		// Outside the transaction nothing shows yet.
		_, err = s.GetUser(ctx, "u1")
		wantErr(t, "GetUser outside tx", err, store.ErrNotFound)
		must(t, "Commit", s.Commit(tx))

		_, err = s.GetUser(ctx, "u1")
		must(t, "GetUser after commit", err)
		_, err = s.GetRequest(ctx, store.KindRefresh, "rt1")
		wantErr(t, "GetRequest rt1", err, store.ErrInactive)
		_, err = s.GetRequest(ctx, store.KindRefresh, "rt2")
		must(t, "GetRequest rt2", err)
	})
	t.Run("ErrorsKeepTxUsable", func(t *testing.T) {
		// A method failing with a store error inside a transaction leaves
		// the transaction usable (PostgreSQL aborts a transaction on a
		// failed statement unless the store guards against it).
		s, ctx := open(t), t.Context()
		createUser(t, s, user("u1", "alice"))
		createRequest(t, s, request(store.KindAuthCode, "code1", "r1", "c1", "u1"))
		tx, err := s.BeginTX(ctx)
		must(t, "BeginTX", err)
		dup := user("u2", "alice")
		wantErr(t, "CreateUser conflict in tx", s.CreateUser(tx, &dup), store.ErrConflict)
		dupReq := request(store.KindAuthCode, "code1", "r1", "c1", "u1")
		wantErr(t, "CreateRequest conflict in tx", s.CreateRequest(tx, &dupReq), store.ErrConflict)
		wantErr(t, "DeleteUser absent in tx", s.DeleteUser(tx, "nobody"), store.ErrNotFound)
		wantErr(t, "DeleteClient absent in tx", s.DeleteClient(tx, "nobody"), store.ErrNotFound)
		must(t, "UseNonce in tx", s.UseNonce(tx, "n1", time.Now().Add(time.Hour)))
		wantErr(t, "UseNonce replay in tx", s.UseNonce(tx, "n1", time.Now().Add(time.Hour)), store.ErrReplay)
		must(t, "DeactivateRequest in tx", s.DeactivateRequest(tx, store.KindAuthCode, "code1", at(0)))
		wantErr(t, "DeactivateRequest again in tx",
			s.DeactivateRequest(tx, store.KindAuthCode, "code1", at(0)), store.ErrInactive)
		u := user("u3", "carol")
		must(t, "CreateUser in tx after errors", s.CreateUser(tx, &u))
		must(t, "Commit", s.Commit(tx))
		_, err = s.GetUser(ctx, "u3")
		must(t, "GetUser after commit", err)
		_, err = s.GetRequest(ctx, store.KindAuthCode, "code1")
		wantErr(t, "GetRequest after commit", err, store.ErrInactive)
		wantErr(t, "UseNonce after commit", s.UseNonce(ctx, "n1", time.Now().Add(time.Hour)), store.ErrReplay)
	})
	t.Run("CascadesInTx", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		createUser(t, s, user("u1", "alice"))
		createClient(t, s, client("c1"))
		saveConsent(t, s, consent("u1", "c1"))
		createRequest(t, s, request(store.KindAccess, "at1", "r1", "c1", "u1"))
		tx, err := s.BeginTX(ctx)
		must(t, "BeginTX", err)
		must(t, "DeleteUser in tx", s.DeleteUser(tx, "u1"))
		must(t, "DeleteClient in tx", s.DeleteClient(tx, "c1"))
		must(t, "Rollback", s.Rollback(tx))
		_, err = s.GetUser(ctx, "u1")
		must(t, "GetUser after rollback", err)
		_, err = s.GetClient(ctx, "c1")
		must(t, "GetClient after rollback", err)
		_, err = s.GetConsent(ctx, "u1", "c1", consentResource)
		must(t, "GetConsent after rollback", err)
		wantRequests(t, s, map[string]bool{"access/at1": true})
	})
	t.Run("Misuse", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if err := s.Commit(ctx); err == nil {
			t.Error("Commit without a transaction succeeded")
		}
		if err := s.Rollback(ctx); err == nil {
			t.Error("Rollback without a transaction succeeded")
		}
		tx, err := s.BeginTX(ctx)
		must(t, "BeginTX", err)
		must(t, "Commit", s.Commit(tx))
		if err := s.Commit(tx); err == nil {
			t.Error("second Commit succeeded")
		}
		if err := s.Rollback(tx); err == nil {
			t.Error("Rollback after Commit succeeded")
		}
	})
}

// race runs f in n goroutines released together and returns their errors.
func race(ctx context.Context, n int, f func(ctx context.Context, i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(ctx, i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner fails unless exactly one error is nil and every other one
// is loser.
func wantOneWinner(t *testing.T, what string, errs []error, loser error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("%s: error %v, want %v", what, err, loser)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d callers won, want exactly 1", what, wins)
	}
}

const racers = 16

func testConcurrency(t *testing.T, open func(t *testing.T) store.Store) {
	// A search that runs while a document turns private (with a new title
	// and body) never shows the private version: the ranking, the
	// snippets and the rows are read by separate statements, and each
	// must apply the visibility condition.
	t.Run("SearchWhileVisibilityChanges", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		doc := func(private bool) *store.Document {
			d := &store.Document{Title: "Plan", Body: "public needle text", Format: "text", OwnerID: "u1",
				Visibility: store.VisibilityPublic, SourceKey: "race"}
			if private {
				d.Title, d.Body, d.Visibility = "SECRET title", "needle SECRET body", store.VisibilityPrivate
			}
			return d
		}
		_, err := s.PutDocument(ctx, doc(false))
		must(t, "PutDocument", err)
		done := make(chan error, 1)
		go func() {
			for i := range 400 {
				if _, err := s.PutDocument(ctx, doc(i%2 == 0)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for searches := 0; ; searches++ {
			select {
			case err := <-done:
				must(t, "PutDocument", err)
				return
			default:
			}
			hits, err := s.SearchDocuments(ctx, "u2", "needle", 10)
			must(t, "SearchDocuments", err)
			for _, h := range hits {
				if strings.Contains(h.Snippet+h.Document.Title+h.Document.Body, "SECRET") || h.Document.Visibility != store.VisibilityPublic {
					t.Fatalf("search %d by another user showed the private version: title %q, snippet %q, visibility %s",
						searches, h.Document.Title, h.Snippet, h.Document.Visibility)
				}
			}
		}
	})
	t.Run("DeactivateRequest", func(t *testing.T) {
		s := open(t)
		createRequest(t, s, request(store.KindRefresh, "rt1", "r1", "c1", "u1"))
		errs := race(t.Context(), racers, func(ctx context.Context, i int) error {
			return s.DeactivateRequest(ctx, store.KindRefresh, "rt1", at(time.Duration(i)*time.Second))
		})
		wantOneWinner(t, "DeactivateRequest", errs, store.ErrInactive)
		winner := -1
		for i, err := range errs {
			if err == nil {
				winner = i
			}
		}
		got, err := s.GetRequest(t.Context(), store.KindRefresh, "rt1")
		wantErr(t, "GetRequest", err, store.ErrInactive)
		if winner >= 0 {
			cmp{t, "Request"}.timePtr("UsedAt", got.UsedAt, ptr(at(time.Duration(winner)*time.Second)))
		}
	})
	t.Run("DeactivateRequestInTx", func(t *testing.T) {
		s := open(t)
		createRequest(t, s, request(store.KindAuthCode, "code1", "r1", "c1", "u1"))
		errs := race(t.Context(), racers, func(ctx context.Context, i int) error {
			tx, err := s.BeginTX(ctx)
			if err != nil {
				return err
			}
			if err := s.DeactivateRequest(tx, store.KindAuthCode, "code1", at(0)); err != nil {
				_ = s.Rollback(tx)
				return err
			}
			r := request(store.KindAccess, fmt.Sprintf("at%d", i), "r1", "c1", "u1")
			if err := s.CreateRequest(tx, &r); err != nil {
				_ = s.Rollback(tx)
				return err
			}
			return s.Commit(tx)
		})
		wantOneWinner(t, "DeactivateRequest in tx", errs, store.ErrInactive)
	})
	t.Run("UseNonce", func(t *testing.T) {
		s := open(t)
		later := time.Now().Add(time.Hour)
		errs := race(t.Context(), racers, func(ctx context.Context, _ int) error {
			return s.UseNonce(ctx, "jti", later)
		})
		wantOneWinner(t, "UseNonce", errs, store.ErrReplay)
	})
	t.Run("UseNonceExpired", func(t *testing.T) {
		s := open(t)
		must(t, "UseNonce", s.UseNonce(t.Context(), "jti", time.Now().Add(-time.Hour)))
		later := time.Now().Add(time.Hour)
		errs := race(t.Context(), racers, func(ctx context.Context, _ int) error {
			return s.UseNonce(ctx, "jti", later)
		})
		wantOneWinner(t, "UseNonce over an expired nonce", errs, store.ErrReplay)
	})
	t.Run("CreateUser", func(t *testing.T) {
		s := open(t)
		errs := race(t.Context(), racers, func(ctx context.Context, i int) error {
			u := user(fmt.Sprintf("u%d", i), "alice")
			return s.CreateUser(ctx, &u)
		})
		wantOneWinner(t, "CreateUser", errs, store.ErrConflict)
		n, err := s.CountUsers(t.Context())
		must(t, "CountUsers", err)
		if n != 1 {
			t.Errorf("CountUsers = %d, want 1", n)
		}
	})
	t.Run("PutDocument", func(t *testing.T) { testPutDocumentRace(t, open) })
}
