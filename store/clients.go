package store

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreateClient stores c; ErrConflict if the ID exists. A zero CreatedAt or
// UpdatedAt is set to now, in c too.
func (db *DB) CreateClient(ctx context.Context, c *Client) error {
	now := db.now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	row := clientToRow(c)
	res := db.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return wrap("create client", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("create client", ErrConflict)
	}
	return nil
}

// selectClient is GetClient's statement, written out once: every token,
// introspection and revocation request authenticates its client with it,
// and gorm's Take would build it by reflection each time (see DB.pool).
const selectClient = `SELECT id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, ` +
	`token_endpoint_auth_method, introspect, source, registration_token_hash, metadata, created_at, updated_at ` +
	`FROM clients WHERE id = $1`

// GetClient returns the client with that ID, or ErrNotFound.
func (db *DB) GetClient(ctx context.Context, id string) (*Client, error) {
	if unstorableKey(id) {
		return nil, wrap("get client", ErrNotFound)
	}
	var row clientRow
	pool, ctx := db.pool(ctx)
	err := pool.QueryRowContext(ctx, selectClient, id).Scan(&row.ID, &row.SecretHash, &row.Name,
		&row.RedirectURIs, &row.GrantTypes, &row.ResponseTypes, &row.Scopes, &row.TokenEndpointAuthMethod,
		&row.Introspect, &row.Source, &row.RegistrationTokenHash, &row.Metadata, &row.CreatedAt, &row.UpdatedAt)
	if err != nil {
		return nil, wrap("get client", err)
	}
	c, err := row.record()
	if err != nil {
		return nil, wrap("get client", err)
	}
	return &c, nil
}

// UpdateClient replaces every field of the stored client with c's, except
// ID and CreatedAt; ErrNotFound if no such client. A zero UpdatedAt is set
// to now, in c too.
func (db *DB) UpdateClient(ctx context.Context, c *Client) error {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = db.now()
	}
	row := clientToRow(c)
	res := db.conn(ctx).Model(&clientRow{}).Where("id = ?", c.ID).Updates(map[string]any{
		"secret_hash":                row.SecretHash,
		"name":                       row.Name,
		"redirect_uris":              row.RedirectURIs,
		"grant_types":                row.GrantTypes,
		"response_types":             row.ResponseTypes,
		"scopes":                     row.Scopes,
		"token_endpoint_auth_method": row.TokenEndpointAuthMethod,
		"introspect":                 row.Introspect,
		"source":                     row.Source,
		"registration_token_hash":    row.RegistrationTokenHash,
		"metadata":                   row.Metadata,
		"updated_at":                 row.UpdatedAt,
	})
	if res.Error != nil {
		return wrap("update client", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("update client", ErrNotFound)
	}
	return nil
}

// ListClients returns all clients ordered by CreatedAt, then ID.
func (db *DB) ListClients(ctx context.Context) ([]Client, error) {
	var rows []clientRow
	if err := db.conn(ctx).Order("created_at").Order(db.byteOrder("id")).Find(&rows).Error; err != nil {
		return nil, wrap("list clients", err)
	}
	clients := make([]Client, 0, len(rows))
	for i := range rows {
		c, err := rows[i].record()
		if err != nil {
			return nil, wrap("list clients", err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}

// DeleteClient removes, in one transaction, the client, its consents and
// every request it holds; ErrNotFound if no such client.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	err := db.atomically(ctx, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&clientRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := tx.Where("client_id = ?", id).Delete(&consentRow{}).Error; err != nil {
			return err
		}
		if err := db.lockExclusive(tx, lockClient+id); err != nil {
			return err
		}
		return tx.Where("client_id = ?", id).Delete(&requestRow{}).Error
	})
	if err != nil {
		return wrap("delete client", err)
	}
	return nil
}
