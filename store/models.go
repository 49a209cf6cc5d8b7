package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Row models: how the records are laid out in the database. They are
// unexported so that the record types in store.go stay free of gorm tags.
// Lists are JSON text (a nil list is "null", an empty one "[]"), byte
// slices are BLOB/bytea (nil is NULL), times are UTC.

type userRow struct {
	ID           string    `gorm:"column:id;primaryKey"`
	Name         string    `gorm:"column:name;not null;uniqueIndex:idx_users_name"`
	PasswordHash string    `gorm:"column:password_hash;not null"`
	CreatedAt    time.Time `gorm:"column:created_at;not null;autoCreateTime:false"`
	UpdatedAt    time.Time `gorm:"column:updated_at;not null;autoUpdateTime:false"`
	// SessionGeneration was added after version 2; AutoMigrate adds the
	// column with its default, so existing sign-ins stay valid.
	SessionGeneration int64 `gorm:"column:session_generation;not null;default:0"`
}

func (userRow) TableName() string { return "users" }

type clientRow struct {
	ID                      string    `gorm:"column:id;primaryKey"`
	SecretHash              []byte    `gorm:"column:secret_hash"`
	Name                    string    `gorm:"column:name;not null"`
	RedirectURIs            string    `gorm:"column:redirect_uris;not null"`
	GrantTypes              string    `gorm:"column:grant_types;not null"`
	ResponseTypes           string    `gorm:"column:response_types;not null"`
	Scopes                  string    `gorm:"column:scopes;not null"`
	TokenEndpointAuthMethod string    `gorm:"column:token_endpoint_auth_method;not null"`
	Introspect              bool      `gorm:"column:introspect;not null"`
	Source                  string    `gorm:"column:source;not null"`
	RegistrationTokenHash   []byte    `gorm:"column:registration_token_hash"`
	Metadata                []byte    `gorm:"column:metadata"`
	CreatedAt               time.Time `gorm:"column:created_at;not null;index:idx_clients_created_at;autoCreateTime:false"`
	UpdatedAt               time.Time `gorm:"column:updated_at;not null;autoUpdateTime:false"`
}

func (clientRow) TableName() string { return "clients" }

type consentRow struct {
	UserID    string    `gorm:"column:user_id;primaryKey"`
	ClientID  string    `gorm:"column:client_id;primaryKey;index:idx_consents_client_id"`
	Scopes    string    `gorm:"column:scopes;not null"`
	Resource  string    `gorm:"column:resource;primaryKey"`
	CreatedAt time.Time `gorm:"column:created_at;not null;autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"column:updated_at;not null;autoUpdateTime:false"`
	// RedirectURIs was added after the first release: consents stored
	// before it have none, and so are asked again once.
	RedirectURIs string `gorm:"column:redirect_uris;not null;default:'[]'"`
}

func (consentRow) TableName() string { return "consents" }

type requestRow struct {
	Kind            string     `gorm:"column:kind;primaryKey"`
	Signature       string     `gorm:"column:signature;primaryKey"`
	RequestID       string     `gorm:"column:request_id;not null;index:idx_requests_request_id"`
	ClientID        string     `gorm:"column:client_id;not null;index:idx_requests_client_id;index:idx_requests_subject_client,priority:2"`
	Subject         string     `gorm:"column:subject;not null;index:idx_requests_subject_client,priority:1"`
	RequestedAt     time.Time  `gorm:"column:requested_at;not null"`
	ExpiresAt       time.Time  `gorm:"column:expires_at;not null;index:idx_requests_expires_at"`
	Scopes          string     `gorm:"column:scopes;not null"`
	GrantedScopes   string     `gorm:"column:granted_scopes;not null"`
	Audience        string     `gorm:"column:audience;not null"`
	GrantedAudience string     `gorm:"column:granted_audience;not null"`
	Form            string     `gorm:"column:form;not null"`
	Session         []byte     `gorm:"column:session"`
	Active          bool       `gorm:"column:active;not null"`
	UsedAt          *time.Time `gorm:"column:used_at"`
	AccessSignature string     `gorm:"column:access_signature;not null"`
}

func (requestRow) TableName() string { return "requests" }

type nonceRow struct {
	Key       string    `gorm:"column:key;primaryKey"`
	ExpiresAt time.Time `gorm:"column:expires_at;not null;index:idx_nonces_expires_at"`
}

func (nonceRow) TableName() string { return "nonces" }

// attemptRow is one attempt counted against a key (see Attempts).
type attemptRow struct {
	ID        int64     `gorm:"column:id;primaryKey;autoIncrement"`
	Name      string    `gorm:"column:name;not null;index:idx_attempts_name_at,priority:1"`
	At        time.Time `gorm:"column:at;not null;index:idx_attempts_name_at,priority:2"`
	ExpiresAt time.Time `gorm:"column:expires_at;not null;index:idx_attempts_expires_at"`
	// Pending was added after version 2; AutoMigrate adds the column.
	Pending bool `gorm:"column:pending;not null;default:false"`
}

func (attemptRow) TableName() string { return "attempts" }

type signingKeyRow struct {
	ID                  string     `gorm:"column:id;primaryKey"`
	Algorithm           string     `gorm:"column:algorithm;not null"`
	PublicJWK           []byte     `gorm:"column:public_jwk"`
	EncryptedPrivateKey []byte     `gorm:"column:encrypted_private_key"`
	CreatedAt           time.Time  `gorm:"column:created_at;not null;autoCreateTime:false"`
	RetiredAt           *time.Time `gorm:"column:retired_at"`
}

func (signingKeyRow) TableName() string { return "signing_keys" }

// documentRow is a Document without its shares. An empty SourceKey is
// stored as NULL, so the unique index only constrains the keys that are set
// (NULLs are distinct in both databases). The search index is not part of
// the model: see searcher.
type documentRow struct {
	ID         string    `gorm:"column:id;primaryKey"`
	Title      string    `gorm:"column:title;not null"`
	Body       string    `gorm:"column:body;not null"`
	Format     string    `gorm:"column:format;not null"`
	OwnerID    string    `gorm:"column:owner_id;not null;index:idx_documents_owner_id"`
	Visibility string    `gorm:"column:visibility;not null;check:chk_documents_visibility,visibility IN ('private', 'shared', 'public')"`
	SourceKey  *string   `gorm:"column:source_key;uniqueIndex:idx_documents_source_key"`
	CreatedAt  time.Time `gorm:"column:created_at;not null;autoCreateTime:false"`
	UpdatedAt  time.Time `gorm:"column:updated_at;not null;autoUpdateTime:false"`
}

func (documentRow) TableName() string { return "documents" }

// documentColumns are the columns of documentRow, for queries that must not
// fetch the PostgreSQL search vector.
const documentColumns = "id, title, body, format, owner_id, visibility, source_key, created_at, updated_at"

// documentSearchColumns are documentColumns with only the first
// searchBodyChars characters of the body (and one more, to tell that it
// goes on), which SearchDocuments cuts snippets from.
var documentSearchColumns = "id, title, substr(body, 1, " + strconv.Itoa(searchBodyChars+1) + ") AS body, format, owner_id, visibility, source_key, created_at, updated_at"

// documentListColumns are documentColumns without the body.
const documentListColumns = "id, title, format, owner_id, visibility, source_key, created_at, updated_at"

// documentShareRow grants one user access to a shared document.
type documentShareRow struct {
	DocumentID string `gorm:"column:document_id;primaryKey"`
	UserID     string `gorm:"column:user_id;primaryKey;index:idx_document_shares_user_id"`
}

func (documentShareRow) TableName() string { return "document_shares" }

// schemaMigrationRow records which schema version of a component the
// database has. This package's component is "store".
type schemaMigrationRow struct {
	Component string    `gorm:"column:component;primaryKey"`
	Version   int       `gorm:"column:version;primaryKey;autoIncrement:false"`
	AppliedAt time.Time `gorm:"column:applied_at;not null;autoCreateTime:false"`
}

func (schemaMigrationRow) TableName() string { return "schema_migrations" }

const (
	// schemaComponent names this package's rows in schema_migrations.
	schemaComponent = "store"
	// schemaVersion is the version of the schema this code writes. Raise it
	// with every schema change that AutoMigrate cannot apply alone, and add
	// the step to migrate.
	//
	// Version 2 added the documents (documents, document_shares and the
	// search index of the dialect). (AutoMigrate alone added attempts.)
	// Version 3 keys consents by resource too (migrateConsentsKey).
	schemaVersion = 3
	// migrationLockID is the PostgreSQL advisory lock that serialises
	// migrations by several processes.
	migrationLockID int64 = 0x6d6370617574687a // "mcpauthz"
)

// migrate brings the schema up to schemaVersion in one transaction and
// chooses the document search engine (db.search). It refuses a database
// whose schema is newer than this code.
func (db *DB) migrate(ctx context.Context) error {
	err := db.gdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if db.dialect == DialectPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockID).Error; err != nil {
				return err
			}
		}
		if err := tx.AutoMigrate(&schemaMigrationRow{}); err != nil {
			return err
		}
		var current int
		err := tx.Model(&schemaMigrationRow{}).
			Where("component = ?", schemaComponent).
			Select("COALESCE(MAX(version), 0)").
			Scan(&current).Error
		if err != nil {
			return err
		}
		if current > schemaVersion {
			return fmt.Errorf("database schema version %d is newer than this program's %d", current, schemaVersion)
		}
		var oldConsents string
		if current < 3 {
			if oldConsents, err = db.migrateConsentsKey(tx); err != nil {
				return fmt.Errorf("consents: %w", err)
			}
		}
		err = tx.AutoMigrate(&userRow{}, &clientRow{}, &consentRow{}, &requestRow{},
			&nonceRow{}, &attemptRow{}, &signingKeyRow{}, &documentRow{}, &documentShareRow{})
		if err != nil {
			return err
		}
		if oldConsents != "" {
			if err := copyOldConsents(tx, oldConsents); err != nil {
				return fmt.Errorf("consents: %w", err)
			}
		}
		// The search index is set up at every Open, not once per version:
		// which SQLite engine is usable depends on the binary (FTS5 or not).
		if db.search, err = db.setupSearch(tx); err != nil {
			return err
		}
		if current < schemaVersion {
			return tx.Create(&schemaMigrationRow{
				Component: schemaComponent, Version: schemaVersion, AppliedAt: db.now(),
			}).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: migrate schema: %w", err)
	}
	return nil
}

// migrateConsentsKey makes the consents' primary key (user_id, client_id,
// resource) in a database of an earlier schema version, where it was
// (user_id, client_id). PostgreSQL replaces the key in place. SQLite cannot
// change a table's key: the table is renamed (its index dropped, so that
// the new table can have it), and the name returned, for copyOldConsents
// to copy its rows into the table AutoMigrate creates.
func (db *DB) migrateConsentsKey(tx *gorm.DB) (string, error) {
	if !tx.Migrator().HasTable(&consentRow{}) {
		return "", nil
	}
	if db.dialect == DialectPostgres {
		return "", tx.Exec(`ALTER TABLE consents DROP CONSTRAINT consents_pkey, ADD PRIMARY KEY (user_id, client_id, resource)`).Error
	}
	const old = "consents_before_v3"
	for _, stmt := range []string{`DROP INDEX IF EXISTS idx_consents_client_id`, `ALTER TABLE consents RENAME TO ` + old} {
		if err := tx.Exec(stmt).Error; err != nil {
			return "", err
		}
	}
	return old, nil
}

// copyOldConsents moves the rows of the table migrateConsentsKey renamed
// into consents, and drops it. A table from before redirect_uris gives
// consents with none (asked again once).
func copyOldConsents(tx *gorm.DB, old string) error {
	redirects := "'[]'"
	if tx.Migrator().HasColumn(old, "redirect_uris") {
		redirects = "redirect_uris"
	}
	err := tx.Exec(`INSERT INTO consents (user_id, client_id, resource, scopes, redirect_uris, created_at, updated_at) ` +
		`SELECT user_id, client_id, resource, scopes, ` + redirects + `, created_at, updated_at FROM ` + old).Error
	if err != nil {
		return err
	}
	return tx.Exec(`DROP TABLE ` + old).Error
}

// encodeList returns l as JSON: "null" for nil, "[]" for empty.
func encodeList(l []string) string {
	b, err := json.Marshal(l)
	if err != nil {
		// A []string always marshals.
		panic(err)
	}
	return string(b)
}

// decodeList reverses encodeList.
func decodeList(column, s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("column %s: %w", column, err)
	}
	return l, nil
}

// utcRead returns a time read from the database in UTC.
func utcRead(t time.Time) time.Time { return t.UTC() }

// utcReadPtr is utcRead for optional times.
func utcReadPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func userToRow(u *User) userRow {
	return userRow{
		ID:                u.ID,
		Name:              u.Name,
		PasswordHash:      u.PasswordHash,
		CreatedAt:         utc(u.CreatedAt),
		UpdatedAt:         utc(u.UpdatedAt),
		SessionGeneration: u.SessionGeneration,
	}
}

func (r *userRow) record() User {
	return User{
		ID:                r.ID,
		Name:              r.Name,
		PasswordHash:      r.PasswordHash,
		CreatedAt:         utcRead(r.CreatedAt),
		UpdatedAt:         utcRead(r.UpdatedAt),
		SessionGeneration: r.SessionGeneration,
	}
}

func clientToRow(c *Client) clientRow {
	return clientRow{
		ID:                      c.ID,
		SecretHash:              c.SecretHash,
		Name:                    c.Name,
		RedirectURIs:            encodeList(c.RedirectURIs),
		GrantTypes:              encodeList(c.GrantTypes),
		ResponseTypes:           encodeList(c.ResponseTypes),
		Scopes:                  encodeList(c.Scopes),
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Introspect:              c.Introspect,
		Source:                  c.Source,
		RegistrationTokenHash:   c.RegistrationTokenHash,
		Metadata:                c.Metadata,
		CreatedAt:               utc(c.CreatedAt),
		UpdatedAt:               utc(c.UpdatedAt),
	}
}

func (r *clientRow) record() (Client, error) {
	c := Client{
		ID:                      r.ID,
		SecretHash:              r.SecretHash,
		Name:                    r.Name,
		TokenEndpointAuthMethod: r.TokenEndpointAuthMethod,
		Introspect:              r.Introspect,
		Source:                  r.Source,
		RegistrationTokenHash:   r.RegistrationTokenHash,
		Metadata:                r.Metadata,
		CreatedAt:               utcRead(r.CreatedAt),
		UpdatedAt:               utcRead(r.UpdatedAt),
	}
	var err error
	if c.RedirectURIs, err = decodeList("redirect_uris", r.RedirectURIs); err != nil {
		return Client{}, err
	}
	if c.GrantTypes, err = decodeList("grant_types", r.GrantTypes); err != nil {
		return Client{}, err
	}
	if c.ResponseTypes, err = decodeList("response_types", r.ResponseTypes); err != nil {
		return Client{}, err
	}
	if c.Scopes, err = decodeList("scopes", r.Scopes); err != nil {
		return Client{}, err
	}
	return c, nil
}

func consentToRow(c *Consent) consentRow {
	return consentRow{
		UserID:       c.UserID,
		ClientID:     c.ClientID,
		Scopes:       encodeList(c.Scopes),
		Resource:     c.Resource,
		RedirectURIs: encodeList(c.RedirectURIs),
		CreatedAt:    utc(c.CreatedAt),
		UpdatedAt:    utc(c.UpdatedAt),
	}
}

func (r *consentRow) record() (Consent, error) {
	scopes, err := decodeList("scopes", r.Scopes)
	if err != nil {
		return Consent{}, err
	}
	redirects, err := decodeList("redirect_uris", r.RedirectURIs)
	if err != nil {
		return Consent{}, err
	}
	return Consent{
		UserID:       r.UserID,
		ClientID:     r.ClientID,
		Scopes:       scopes,
		Resource:     r.Resource,
		RedirectURIs: redirects,
		CreatedAt:    utcRead(r.CreatedAt),
		UpdatedAt:    utcRead(r.UpdatedAt),
	}, nil
}

func requestToRow(r *Request) requestRow {
	return requestRow{
		Kind:            string(r.Kind),
		Signature:       r.Signature,
		RequestID:       r.RequestID,
		ClientID:        r.ClientID,
		Subject:         r.Subject,
		RequestedAt:     utc(r.RequestedAt),
		ExpiresAt:       utc(r.ExpiresAt),
		Scopes:          encodeList(r.Scopes),
		GrantedScopes:   encodeList(r.GrantedScopes),
		Audience:        encodeList(r.Audience),
		GrantedAudience: encodeList(r.GrantedAudience),
		Form:            r.Form,
		Session:         r.Session,
		Active:          r.Active,
		UsedAt:          utcPtr(r.UsedAt),
		AccessSignature: r.AccessSignature,
	}
}

func (r *requestRow) record() (Request, error) {
	q := Request{
		Kind:            RequestKind(r.Kind),
		Signature:       r.Signature,
		RequestID:       r.RequestID,
		ClientID:        r.ClientID,
		Subject:         r.Subject,
		RequestedAt:     utcRead(r.RequestedAt),
		ExpiresAt:       utcRead(r.ExpiresAt),
		Form:            r.Form,
		Session:         r.Session,
		Active:          r.Active,
		UsedAt:          utcReadPtr(r.UsedAt),
		AccessSignature: r.AccessSignature,
	}
	var err error
	if q.Scopes, err = decodeList("scopes", r.Scopes); err != nil {
		return Request{}, err
	}
	if q.GrantedScopes, err = decodeList("granted_scopes", r.GrantedScopes); err != nil {
		return Request{}, err
	}
	if q.Audience, err = decodeList("audience", r.Audience); err != nil {
		return Request{}, err
	}
	if q.GrantedAudience, err = decodeList("granted_audience", r.GrantedAudience); err != nil {
		return Request{}, err
	}
	return q, nil
}

func signingKeyToRow(k *SigningKey) signingKeyRow {
	return signingKeyRow{
		ID:                  k.ID,
		Algorithm:           k.Algorithm,
		PublicJWK:           k.PublicJWK,
		EncryptedPrivateKey: k.EncryptedPrivateKey,
		CreatedAt:           utc(k.CreatedAt),
		RetiredAt:           utcPtr(k.RetiredAt),
	}
}

// documentToRow returns d's row; SharedWith is stored separately.
func documentToRow(d *Document) documentRow {
	r := documentRow{
		ID:         d.ID,
		Title:      d.Title,
		Body:       d.Body,
		Format:     d.Format,
		OwnerID:    d.OwnerID,
		Visibility: d.Visibility,
		CreatedAt:  utc(d.CreatedAt),
		UpdatedAt:  utc(d.UpdatedAt),
	}
	if d.SourceKey != "" {
		r.SourceKey = &d.SourceKey
	}
	return r
}

// record returns the document of r, shared with sharedWith.
func (r *documentRow) record(sharedWith []string) Document {
	d := Document{
		ID:         r.ID,
		Title:      r.Title,
		Body:       r.Body,
		Format:     r.Format,
		OwnerID:    r.OwnerID,
		Visibility: r.Visibility,
		SharedWith: sharedWith,
		CreatedAt:  utcRead(r.CreatedAt),
		UpdatedAt:  utcRead(r.UpdatedAt),
	}
	if r.SourceKey != nil {
		d.SourceKey = *r.SourceKey
	}
	return d
}

func (r *signingKeyRow) record() SigningKey {
	return SigningKey{
		ID:                  r.ID,
		Algorithm:           r.Algorithm,
		PublicJWK:           r.PublicJWK,
		EncryptedPrivateKey: r.EncryptedPrivateKey,
		CreatedAt:           utcRead(r.CreatedAt),
		RetiredAt:           utcReadPtr(r.RetiredAt),
	}
}
