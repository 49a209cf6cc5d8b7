package authz

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauthz/mcpauthz/store"
)

// SigningAlgorithm is the algorithm of access-token signing keys. ES256
// signs about thirty times faster than RS256 at equal strength.
const SigningAlgorithm = jose.ES256

// keyReloadInterval bounds how stale one instance's view of the keys may
// get after another instance (or `mcpauthz keys rotate`) changed them; an
// unknown kid triggers an earlier reload, at most once per keyMissInterval.
const (
	keyReloadInterval = time.Minute
	keyMissInterval   = 5 * time.Second
	// keyPublishLead is how long a new key is published before it signs:
	// longer than every instance takes to reload its keys
	// (keyReloadInterval) plus the time /jwks may be cached (jwksMaxAge),
	// so that no verifier meets a kid it cannot find.
	keyPublishLead = 10 * time.Minute
	// keyKeepFor is how long a retired key stays stored at the least after
	// it stopped being published. Only storage is at stake (publication
	// follows publishFor), and a `keys` command run with another
	// configuration than the server's must not delete a key the server
	// still publishes.
	keyKeepFor = 7 * 24 * time.Hour
)

// Keys manages the token signing keys. They live in the store with the
// private half encrypted with AES-256-GCM under a key derived from the
// master key (the kid is the associated data, so a ciphertext cannot be
// moved to another key's row). A new key is published at once and signs
// once it has been published for keyPublishLead (a key of a new
// deployment signs at once): the signing key is the newest one at least
// that old, retired or not. Retired keys stay published (JWKS) until every
// token they signed has expired. Keys is safe for concurrent use.
type Keys struct {
	store      store.SigningKeys
	aead       cipher.AEAD
	now        func() time.Time
	publishFor time.Duration

	mu       sync.RWMutex
	signing  *signingKey
	public   map[string]*jose.JSONWebKey // kid → public key, every published key
	jwks     []byte
	loadedAt time.Time
	missAt   time.Time
}

type signingKey struct {
	kid    string
	signer jose.Signer
}

// KeyInfo describes a stored key for `mcpauthz keys list`.
type KeyInfo struct {
	ID        string     `json:"kid"`
	Algorithm string     `json:"alg"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
	Signing   bool       `json:"signing"`
	Published bool       `json:"published"`
	// SignsFrom is when a key newer than the signing one starts signing.
	SignsFrom *time.Time `json:"signs_from,omitempty"`
}

// NewKeys loads the signing keys, creating the first one if there is none.
// publishFor is how long a retired key stays published: the longest access
// token lifetime plus clock skew.
func NewKeys(ctx context.Context, st store.SigningKeys, encryptionKey []byte, publishFor time.Duration, now func() time.Time) (*Keys, error) {
	aead, err := keyAEAD(encryptionKey)
	if err != nil {
		return nil, err
	}
	k := &Keys{store: st, aead: aead, now: now, publishFor: publishFor}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	if k.current() == nil {
		if _, err := k.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// keyAEAD is the AES-256-GCM the private keys are stored encrypted with.
func keyAEAD(encryptionKey []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(encryptionKey)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return aead, nil
}

// Rotate adds a new signing key and retires the others. The new key is
// published at once and signs from keyPublishLead on (at once when the
// current key is itself newer than that); the others sign until then and
// stay published until the tokens they signed have expired.
func (k *Keys) Rotate(ctx context.Context) (*KeyInfo, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keys: generate: %w", err)
	}
	kid := randomToken(12)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode: %w", err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: string(SigningAlgorithm), Use: "sig"}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: encode public: %w", err)
	}
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := k.aead.Seal(nonce, nonce, der, []byte(kid))
	now := k.now().UTC()
	// A new key is newer than every stored one, also on a clock that
	// has not moved since the last rotation: RetireSigningKeys retires
	// only the keys created before it.
	existing, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: load: %w", err)
	}
	// (A millisecond apart at least: stores keep microseconds or less.)
	if len(existing) > 0 && now.Sub(existing[0].CreatedAt) < time.Millisecond {
		now = existing[0].CreatedAt.Add(time.Millisecond).UTC()
	}
	rec := &store.SigningKey{ID: kid, Algorithm: string(SigningAlgorithm), PublicJWK: pubJSON, EncryptedPrivateKey: sealed, CreatedAt: now}
	if err := k.store.CreateSigningKey(ctx, rec); err != nil {
		return nil, fmt.Errorf("keys: store: %w", err)
	}
	if err := k.store.RetireSigningKeys(ctx, kid, now); err != nil {
		return nil, fmt.Errorf("keys: retire old keys: %w", err)
	}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	info := &KeyInfo{ID: kid, Algorithm: rec.Algorithm, CreatedAt: now, Published: true}
	if info.Signing = k.current() != nil && k.current().kid == kid; !info.Signing {
		from := now.Add(keyPublishLead)
		info.SignsFrom = &from
	}
	return info, nil
}

// published reports whether a key retired at retired (nil: not retired)
// is still published at now: it signed until keyPublishLead after it was
// retired at the latest, and its tokens live publishFor after that.
func (k *Keys) published(retired *time.Time, now time.Time) bool {
	return retired == nil || now.Sub(*retired) <= k.publishFor+keyPublishLead
}

// signingIndex picks the signing key among recs: the newest that has been
// published for keyPublishLead (of two as old, the one not retired), or,
// when none has (a new deployment, or a key replacing one younger than
// that), the key not retired. -1 if there are no published keys.
func (k *Keys) signingIndex(recs []store.SigningKey, now time.Time) int {
	better := func(a, b store.SigningKey) bool {
		return a.CreatedAt.After(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.RetiredAt == nil && b.RetiredAt != nil
	}
	aged, current, newest := -1, -1, -1
	for i, r := range recs {
		if !k.published(r.RetiredAt, now) {
			continue
		}
		if newest < 0 || better(r, recs[newest]) {
			newest = i
		}
		if r.RetiredAt == nil && current < 0 {
			current = i
		}
		if now.Sub(r.CreatedAt) >= keyPublishLead && (aged < 0 || better(r, recs[aged])) {
			aged = i
		}
	}
	switch {
	case aged >= 0:
		return aged
	case current >= 0:
		return current
	}
	return newest
}

// Reload reads the keys from the store again, and deletes keys retired
// for longer than they need to stay published.
func (k *Keys) Reload(ctx context.Context) error {
	recs, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: load: %w", err)
	}
	now := k.now()
	var signing *signingKey
	public := map[string]*jose.JSONWebKey{}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	si := k.signingIndex(recs, now)
	for i, r := range recs { // newest first
		if !k.published(r.RetiredAt, now) {
			if now.Sub(*r.RetiredAt) > k.publishFor+keyPublishLead+keyKeepFor {
				_ = k.store.DeleteSigningKey(ctx, r.ID) // another instance may have done it
			}
			continue
		}
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON(r.PublicJWK); err != nil {
			return fmt.Errorf("keys: key %s: public key: %w", r.ID, err)
		}
		public[r.ID] = &pub
		set.Keys = append(set.Keys, pub)
		if i == si {
			s, err := k.openSigner(&r)
			if err != nil {
				return err
			}
			signing = s
		}
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("keys: encode JWKS: %w", err)
	}
	k.mu.Lock()
	k.signing, k.public, k.jwks, k.loadedAt = signing, public, jwks, now
	k.mu.Unlock()
	return nil
}

// CheckKeyEncryption reports whether encryptionKey (Secrets.KeyEncryption)
// opens the newest stored signing key: an error saying the master key
// differs from the one the server stores its keys under, or nil (also
// when there are no keys yet). Commands that derive other secrets from
// the master key (client secrets) check it first, so that they never issue
// a secret the server will not accept.
func CheckKeyEncryption(ctx context.Context, st store.SigningKeys, encryptionKey []byte) error {
	recs, err := st.ListSigningKeys(ctx)
	if err != nil || len(recs) == 0 {
		return err
	}
	aead, err := keyAEAD(encryptionKey)
	if err != nil {
		return err
	}
	_, err = (&Keys{aead: aead}).openSigner(&recs[0]) // newest first
	return err
}

// openSigner decrypts a stored private key and returns a signer for it.
func (k *Keys) openSigner(r *store.SigningKey) (*signingKey, error) {
	ns := k.aead.NonceSize()
	if len(r.EncryptedPrivateKey) < ns {
		return nil, fmt.Errorf("keys: key %s: ciphertext too short", r.ID)
	}
	der, err := k.aead.Open(nil, r.EncryptedPrivateKey[:ns], r.EncryptedPrivateKey[ns:], []byte(r.ID))
	if err != nil {
		return nil, fmt.Errorf("keys: key %s cannot be decrypted: was the master key changed? %w", r.ID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(r.Algorithm), Key: jose.JSONWebKey{Key: priv, KeyID: r.ID}}, opts)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", r.ID, err)
	}
	return &signingKey{kid: r.ID, signer: signer}, nil
}

func (k *Keys) current() *signingKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.signing
}

// maybeReload reloads when the keys are older than keyReloadInterval.
func (k *Keys) maybeReload(ctx context.Context) {
	k.mu.RLock()
	stale := k.now().Sub(k.loadedAt) > keyReloadInterval
	k.mu.RUnlock()
	if stale {
		_ = k.Reload(ctx) // keep serving the old view if the store hiccups
	}
}

// Signer returns the current signing key.
func (k *Keys) Signer(ctx context.Context) (*signingKey, error) {
	k.maybeReload(ctx)
	if s := k.current(); s != nil {
		return s, nil
	}
	return nil, errors.New("keys: no signing key")
}

// PublicKey returns the published key with that kid, reloading once when
// it is unknown (another instance may just have rotated).
func (k *Keys) PublicKey(ctx context.Context, kid string) (*jose.JSONWebKey, bool) {
	k.maybeReload(ctx)
	k.mu.RLock()
	pub, ok := k.public[kid]
	missOK := k.now().Sub(k.missAt) > keyMissInterval
	k.mu.RUnlock()
	if ok || !missOK {
		return pub, ok
	}
	k.mu.Lock()
	k.missAt = k.now()
	k.mu.Unlock()
	if err := k.Reload(ctx); err != nil {
		return nil, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	pub, ok = k.public[kid]
	return pub, ok
}

// JWKS returns the published public keys as a JSON Web Key Set (RFC 7517).
func (k *Keys) JWKS(ctx context.Context) []byte {
	k.maybeReload(ctx)
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}

// List describes every stored key.
func (k *Keys) List(ctx context.Context) ([]KeyInfo, error) {
	recs, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := k.now()
	si := k.signingIndex(recs, now)
	out := []KeyInfo{}
	for i, r := range recs {
		ki := KeyInfo{ID: r.ID, Algorithm: r.Algorithm, CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt}
		ki.Published = k.published(r.RetiredAt, now)
		ki.Signing = i == si
		if !ki.Signing && r.RetiredAt == nil && ki.Published {
			from := r.CreatedAt.Add(keyPublishLead)
			ki.SignsFrom = &from
		}
		out = append(out, ki)
	}
	return out, nil
}
