package store

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// GetConsent returns the consent of user for client at resource, or
// ErrNotFound.
func (db *DB) GetConsent(ctx context.Context, userID, clientID, resource string) (*Consent, error) {
	var row consentRow
	err := db.conn(ctx).Where("user_id = ? AND client_id = ? AND resource = ?", userID, clientID, resource).Take(&row).Error
	if err != nil {
		return nil, wrap("get consent", err)
	}
	c, err := row.record()
	if err != nil {
		return nil, wrap("get consent", err)
	}
	return &c, nil
}

// SaveConsent creates the consent for (UserID, ClientID, Resource), or
// replaces the Scopes, RedirectURIs and UpdatedAt of the one stored; a replaced consent keeps
// its original CreatedAt. A zero CreatedAt or UpdatedAt is set to now, in c
// too.
func (db *DB) SaveConsent(ctx context.Context, c *Consent) error {
	now := db.now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	row := consentToRow(c)
	err := db.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}, {Name: "resource"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "redirect_uris", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return wrap("save consent", err)
	}
	return nil
}

// ListConsents returns the consents a user has given (one per client and
// resource), newest (by UpdatedAt) first.
func (db *DB) ListConsents(ctx context.Context, userID string) ([]Consent, error) {
	var rows []consentRow
	err := db.conn(ctx).Where("user_id = ?", userID).
		Order("updated_at DESC").Order(db.byteOrder("client_id")).Order(db.byteOrder("resource")).Find(&rows).Error
	if err != nil {
		return nil, wrap("list consents", err)
	}
	consents := make([]Consent, 0, len(rows))
	for i := range rows {
		c, err := rows[i].record()
		if err != nil {
			return nil, wrap("list consents", err)
		}
		consents = append(consents, c)
	}
	return consents, nil
}

// RevokeConsent deletes, in one transaction, the user's consents for the
// client (at every resource) and every request of that client whose
// Subject is the user. It is not an error that there
// is no such consent: the requests go all the same.
func (db *DB) RevokeConsent(ctx context.Context, userID, clientID string) error {
	err := db.atomically(ctx, func(tx *gorm.DB) error {
		err := tx.Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&consentRow{}).Error
		if err != nil {
			return err
		}
		if err := db.lockExclusive(tx, lockGrant+userID+"|"+clientID); err != nil {
			return err
		}
		return tx.Where("subject = ? AND client_id = ?", userID, clientID).Delete(&requestRow{}).Error
	})
	if err != nil {
		return wrap("revoke consent", err)
	}
	return nil
}
