package authz

import (
	"testing"
)

// TestKeyPublishLeadCoversCaches: a new key signs only once every instance
// has reloaded and every cached /jwks has expired.
func TestKeyPublishLeadCoversCaches(t *testing.T) {
	if keyPublishLead <= keyReloadInterval+jwksMaxAge {
		t.Errorf("keyPublishLead %v does not cover the reload interval %v and the JWKS cache %v", keyPublishLead, keyReloadInterval, jwksMaxAge)
	}
}
