// Package store persists everything mcpauthz knows: users, OAuth clients,
// consent grants, issued OAuth requests (authorization codes, access and
// refresh tokens, PKCE sessions), single-use nonces, signing keys and the
// documents the MCP resource serves.
//
// The store is deliberately dumb: it holds records and enforces atomic
// invariants (a code is consumed once, a refresh token is rotated once, a
// nonce is used once) but knows nothing of OAuth rules. Protocol logic lives
// in package authz.
//
// What is stored is useless to a database reader: tokens and codes are kept
// only as their signatures, client secrets and registration tokens as keyed
// hashes, passwords as argon2id hashes and signing keys encrypted. The callers
// compute those; the store never sees a raw secret.
//
// All times are stored in UTC. Implementations must be safe for concurrent
// use by several goroutines and by several processes sharing one database.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by Store methods. Callers test them with errors.Is.
var (
	// ErrNotFound: no record with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with that key (or unique name) already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrInactive: the request was already consumed, rotated or revoked.
	// Methods that return it also return the record, so callers can act on
	// the whole family (RFC 6819 §5.2.2.3 reuse detection).
	ErrInactive = errors.New("store: inactive")
	// ErrReplay: the single-use value was already used.
	ErrReplay = errors.New("store: already used")
)

// User is a person who can log in.
type User struct {
	ID           string
	Name         string // unique, case-sensitive
	PasswordHash string // PHC-encoded argon2id hash
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// SessionGeneration counts the times the user's sign-in sessions were
	// ended (sign-out, a new password): a session started under another
	// generation is no longer valid.
	SessionGeneration int64
}

// Client is an OAuth client, registered on the command line (Source "cli")
// or through dynamic registration (Source "dcr").
type Client struct {
	ID                      string
	SecretHash              []byte // keyed hash of the secret; nil for public clients
	Name                    string
	RedirectURIs            []string
	GrantTypes              []string
	ResponseTypes           []string
	Scopes                  []string
	TokenEndpointAuthMethod string // none, client_secret_basic, client_secret_post, private_key_jwt
	Introspect              bool   // may call the introspection endpoint
	Source                  string // cli, dcr
	RegistrationTokenHash   []byte // keyed hash of the RFC 7592 registration access token
	// Metadata holds the remaining registered metadata (client_uri,
	// logo_uri, contacts, jwks, software_id, ...) as a JSON object.
	Metadata  []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Consent records that a user allowed a client a set of scopes for a
// resource, so that a reconnect asking for no more skips the consent screen.
// A user has one per client and resource.
type Consent struct {
	UserID   string
	ClientID string
	Scopes   []string
	Resource string
	// RedirectURIs are the redirect URIs the user saw and approved codes
	// being sent to, in the form the caller compares them in; a request to
	// send a code anywhere else is asked again.
	RedirectURIs []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// RequestKind says what a stored Request stands for.
type RequestKind string

// The kinds of stored Requests.
const (
	KindAuthCode RequestKind = "code"
	KindAccess   RequestKind = "access"
	KindRefresh  RequestKind = "refresh"
	KindPKCE     RequestKind = "pkce"
)

// Request is an issued OAuth artefact (code, token, PKCE session), keyed by
// (Kind, Signature). RequestID is shared by every artefact of one grant: the
// code, and all access and refresh tokens that descend from it (the family).
type Request struct {
	Kind            RequestKind
	Signature       string
	RequestID       string
	ClientID        string
	Subject         string // the user ID, or empty for client_credentials
	RequestedAt     time.Time
	ExpiresAt       time.Time // after this the record may be garbage-collected
	Scopes          []string
	GrantedScopes   []string
	Audience        []string
	GrantedAudience []string
	Form            string // URL-encoded, secrets removed
	Session         []byte // JSON
	Active          bool
	UsedAt          *time.Time // when a code was consumed or a refresh token rotated
	AccessSignature string     // refresh tokens: the access token issued with it
}

// SigningKey is an asymmetric key that signs tokens. The private half is
// encrypted by the caller before it reaches the store.
type SigningKey struct {
	ID                  string // the JWK kid
	Algorithm           string // e.g. ES256
	PublicJWK           []byte // JSON
	EncryptedPrivateKey []byte
	CreatedAt           time.Time
	// RetiredAt is set when a newer key took over signing. The key stays
	// published until RetiredAt plus the longest token lifetime.
	RetiredAt *time.Time
}

// Document visibilities.
const (
	// VisibilityPrivate: only the owner (and ListDocuments, which is for
	// administration).
	VisibilityPrivate = "private"
	// VisibilityShared: the owner and the users in SharedWith.
	VisibilityShared = "shared"
	// VisibilityPublic: every viewer, including the anonymous viewer ""
	// (a caller that must restrict public documents to logged-in users
	// checks the login itself).
	VisibilityPublic = "public"
)

// Document is a text the MCP resource serves through search and fetch.
type Document struct {
	ID         string
	Title      string
	Body       string // plain text or Markdown
	Format     string // "markdown", "text" or "html" (the original format; Body is text)
	OwnerID    string // the owning user's ID; empty for documents of the server itself
	Visibility string // VisibilityPrivate, VisibilityShared or VisibilityPublic
	SharedWith []string
	// SourceKey identifies where the document came from (e.g. the owner and
	// the absolute path it was imported from), so a re-import updates the
	// document instead of adding a copy. Unique when not empty.
	SourceKey string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DocumentView is a document as ViewDocument shows it to a viewer: the
// document without its shares, and the name of its owner.
type DocumentView struct {
	// Document has every field but SharedWith, which is always nil: the
	// shares are not loaded (a viewer has no business with the list).
	Document Document
	// OwnerName is the Name of the user whose ID is Document.OwnerID, read
	// in the same query as the document; "" when OwnerID is "" (a
	// document of the server itself) or names no user.
	OwnerName string
}

// SearchHit is one result of a document search, best first.
type SearchHit struct {
	Document Document // without its Body: read the document for that
	Snippet  string   // a short plain-text excerpt around the match
	Score    float64  // higher is better; comparable only within one search
}

// SearchTitle is one result of SearchDocumentTitles, best first: what a
// list of results shows, without the snippet, body and shares a SearchHit
// carries.
type SearchTitle struct {
	ID    string
	Title string  // as stored; may be empty or blank
	Score float64 // higher is better; comparable only within one search
}

// Store is the persistence contract of mcpauthz. Every method takes the
// context first; if the context carries a transaction begun with BeginTx,
// the method runs inside it.
type Store interface {
	Users
	Clients
	Consents
	Requests
	Nonces
	Attempts
	SigningKeys
	Documents
	Transactions

	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	// DeleteExpired removes requests whose ExpiresAt, and nonces and
	// attempts whose expiry, are before now. It returns how many rows went.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
	// Close releases the database.
	Close() error
}

// Users manages the people who can log in.
type Users interface {
	// CreateUser stores u; ErrConflict if the name is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user with that ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByName returns the user with that name, or ErrNotFound.
	GetUserByName(ctx context.Context, name string) (*User, error)
	// ListUsers returns all users ordered by name.
	ListUsers(ctx context.Context) ([]User, error)
	// CountUsers returns how many users exist.
	CountUsers(ctx context.Context) (int64, error)
	// SetUserPassword replaces the password hash and ends the user's
	// sessions (SessionGeneration goes up); ErrNotFound if no such user.
	SetUserPassword(ctx context.Context, id, passwordHash string) error
	// EndSessions ends every sign-in session of the user: it raises
	// SessionGeneration by one, atomically; ErrNotFound if no such user.
	EndSessions(ctx context.Context, id string) error
	// DeleteUser removes the user, their consents, every request whose
	// Subject is the user, the documents they own and the shares granted
	// to them; ErrNotFound if no such user.
	DeleteUser(ctx context.Context, id string) error
}

// Clients manages OAuth clients.
type Clients interface {
	// CreateClient stores c; ErrConflict if the ID exists.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns the client with that ID, or ErrNotFound.
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient replaces every field of the stored client with c's,
	// except ID and CreatedAt; ErrNotFound if no such client.
	UpdateClient(ctx context.Context, c *Client) error
	// ListClients returns all clients ordered by creation.
	ListClients(ctx context.Context) ([]Client, error)
	// DeleteClient removes the client, its consents and every request it
	// holds; ErrNotFound if no such client.
	DeleteClient(ctx context.Context, id string) error
}

// Consents manages remembered consent.
type Consents interface {
	// GetConsent returns the consent of user for client at resource, or
	// ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID, resource string) (*Consent, error)
	// SaveConsent creates or replaces the consent for (UserID, ClientID,
	// Resource): its Scopes and RedirectURIs.
	SaveConsent(ctx context.Context, c *Consent) error
	// ListConsents returns the consents a user has given, newest first.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// RevokeConsent deletes the user's consents for the client (at every
	// resource) and every request of that client whose Subject is the user
	// (the app loses access at once).
	RevokeConsent(ctx context.Context, userID, clientID string) error
}

// Requests manages issued codes, tokens and PKCE sessions.
type Requests interface {
	// CreateRequest stores r; ErrConflict if (Kind, Signature) exists.
	CreateRequest(ctx context.Context, r *Request) error
	// GetRequest returns the request, or ErrNotFound. An inactive request
	// is returned together with ErrInactive.
	GetRequest(ctx context.Context, kind RequestKind, signature string) (*Request, error)
	// DeleteRequest removes one request; ErrNotFound if absent.
	DeleteRequest(ctx context.Context, kind RequestKind, signature string) error
	// DeactivateRequest atomically marks an active request inactive and sets
	// UsedAt to now: exactly one of any number of concurrent callers
	// succeeds. The others get ErrInactive (or ErrNotFound if absent).
	// This is how a code is consumed and a refresh token rotated.
	DeactivateRequest(ctx context.Context, kind RequestKind, signature string, now time.Time) error
	// RevokeRequests revokes every request of that kind in the family
	// requestID: access tokens, codes and PKCE sessions are deleted, refresh
	// tokens marked inactive (so later reuse is still recognised).
	RevokeRequests(ctx context.Context, kind RequestKind, requestID string) error
}

// Nonces records single-use values (DPoP proof and client assertion jti).
type Nonces interface {
	// UseNonce records key until expiresAt; ErrReplay if it is already
	// recorded and not expired. Atomic across processes.
	UseNonce(ctx context.Context, key string, expiresAt time.Time) error
}

// Attempts counts attempts per key for limits that every instance of a
// deployment shares (failed sign-ins per account and per address,
// registrations per address). Keys are opaque to the store.
type Attempts interface {
	// AddAttempts records one attempt at at for each of keys (a key given
	// twice counts twice), kept until expiresAt, pending (its outcome not
	// known yet) or not, and returns the IDs of the attempts in the order
	// of keys. Once it returns, every caller's RecentAttempts counts them.
	AddAttempts(ctx context.Context, keys []string, at, expiresAt time.Time, pending bool) ([]int64, error)
	// SettleAttempts marks the attempts with the given IDs as no longer
	// pending; unknown IDs are ignored.
	SettleAttempts(ctx context.Context, ids ...int64) error
	// RecentAttempts returns key's attempts after since, newest first, at
	// most limit of them.
	RecentAttempts(ctx context.Context, key string, since time.Time, limit int) ([]Attempt, error)
	// ClearAttempts forgets every attempt of keys.
	ClearAttempts(ctx context.Context, keys ...string) error
	// DeleteAttempts forgets the attempts with the given IDs (from
	// AddAttempts); unknown IDs are ignored.
	DeleteAttempts(ctx context.Context, ids ...int64) error
}

// Attempt is one attempt counted against a key: when, and whether its
// outcome is still pending (a sign-in whose password is being checked).
type Attempt struct {
	At      time.Time
	Pending bool
}

// SigningKeys manages token signing keys.
type SigningKeys interface {
	// CreateSigningKey stores k; ErrConflict if the ID exists.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns all keys, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RetireSigningKeys sets RetiredAt on every key that is not retired and
	// was created before keepID (so that of two keys created by concurrent
	// rotations, the newer survives; of two as old, both); none if keepID
	// does not exist.
	RetireSigningKeys(ctx context.Context, keepID string, at time.Time) error
	// DeleteSigningKey removes a key; ErrNotFound if absent.
	DeleteSigningKey(ctx context.Context, id string) error
}

// Documents manages the documents of the MCP resource. Visibility is
// enforced here, in the query, so no caller can forget it: a viewer sees
// the documents they own, those shared with them, and public ones.
type Documents interface {
	// PutDocument creates d, or, when a document with d.SourceKey (if set)
	// or d.ID (if set) exists, replaces its fields except ID and CreatedAt.
	// An empty ID is filled in. Returns the stored document (d itself is
	// not modified). ErrInvalid if d.Visibility is not one of the
	// Visibility constants; ErrConflict if d.ID is set and another
	// document has d.SourceKey.
	PutDocument(ctx context.Context, d *Document) (*Document, error)
	// GetDocument returns the document if viewerID may see it, and
	// ErrNotFound both when it does not exist and when viewerID may not see
	// it (the two are indistinguishable to the caller's caller).
	GetDocument(ctx context.Context, id, viewerID string) (*Document, error)
	// ViewDocument is GetDocument for showing a document: the same
	// visibility rule and the same ErrNotFound (indistinguishable for a
	// missing and a hidden document), but in a single query that also
	// reads the owner's name and does not read the shares (see
	// DocumentView).
	ViewDocument(ctx context.Context, id, viewerID string) (*DocumentView, error)
	// ListDocuments returns every document without its Body, newest (by
	// CreatedAt) first, whoever may see it (administration).
	ListDocuments(ctx context.Context) ([]Document, error)
	// DeleteDocument removes a document; ErrNotFound if absent.
	DeleteDocument(ctx context.Context, id string) error
	// SearchDocuments returns up to limit documents viewerID may see that
	// match query, ranked best first (full-text search; stemming on
	// PostgreSQL). An empty or all-punctuation query returns no hits and
	// no error; query syntax is never an error.
	SearchDocuments(ctx context.Context, viewerID, query string, limit int) ([]SearchHit, error)
	// SearchDocumentTitles is SearchDocuments for a list of results: the
	// same documents in the same order with the same scores (the same
	// query rules, visibility, ranking, tie-breaks and limit), but only
	// each one's ID, Title and Score, read in a single query: no snippet,
	// body or shares.
	SearchDocumentTitles(ctx context.Context, viewerID, query string, limit int) ([]SearchTitle, error)
}

// Transactions lets a caller group several Store calls atomically. The
// shape matches fosite's storage.Transactional.
type Transactions interface {
	// BeginTX returns a context that carries a new transaction.
	BeginTX(ctx context.Context) (context.Context, error)
	// Commit commits the transaction carried by ctx.
	Commit(ctx context.Context) error
	// Rollback rolls back the transaction carried by ctx.
	Rollback(ctx context.Context) error
}
