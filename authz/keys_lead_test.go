package authz

import (
	"sync"
	"testing"
	"time"
)

// TestKeyPublishLeadCoversCaches: a new key signs only once every instance
// has reloaded and every cached /jwks has expired.
func TestKeyPublishLeadCoversCaches(t *testing.T) {
	if keyPublishLead <= keyReloadInterval+jwksMaxAge {
		t.Errorf("keyPublishLead %v does not cover the reload interval %v and the JWKS cache %v", keyPublishLead, keyReloadInterval, jwksMaxAge)
	}
}

// TestConcurrentRotationsLeaveASigningKey: two instances (or a keys
// command and a server) rotating at once never retire each other's new
// key both: a signing key remains, and every instance agrees on it.
func TestConcurrentRotationsLeaveASigningKey(t *testing.T) {
	e := newTestEnv(t)
	other, err := NewKeys(t.Context(), e.Store, e.Server.cfg.Secrets.KeyEncryption, time.Hour, e.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		var wg sync.WaitGroup
		for _, k := range []*Keys{e.Server.Keys(), other} {
			wg.Go(func() {
				if _, err := k.Rotate(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var signers []string
		for _, k := range []*Keys{e.Server.Keys(), other} {
			if err := k.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			s, err := k.Signer(t.Context())
			if err != nil {
				t.Fatalf("round %d: no signing key after concurrent rotations: %v", round, err)
			}
			signers = append(signers, s.kid)
		}
		if signers[0] != signers[1] {
			t.Errorf("round %d: the instances sign with %v", round, signers)
		}
	}
}
