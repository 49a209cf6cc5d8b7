package authz

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
)

// MasterKeySize is the length in bytes of the master key every other server
// secret is derived from.
const MasterKeySize = 32

// Secrets holds the keys derived from the master key with HKDF-SHA256
// (RFC 5869), one per purpose, so that no key serves two jobs. Rotating the
// master key invalidates sessions, tokens and client secrets at once.
type Secrets struct {
	SessionHash    []byte // gorilla/sessions HMAC key
	SessionEncrypt []byte // gorilla/sessions AES-256 key
	TokenHMAC      []byte // fosite's GlobalSecret: signs opaque codes and tokens
	ClientSecret   []byte // keys the hash of client secrets and registration tokens
	KeyEncryption  []byte // AES-256-GCM key that encrypts signing keys at rest
	Nonce          []byte // keys stateless DPoP nonces
	Throttle       []byte // keys the hashes under which sign-in and registration attempts are counted
}

// DeriveSecrets derives every server secret from master.
func DeriveSecrets(master []byte) (*Secrets, error) {
	if len(master) < MasterKeySize {
		return nil, fmt.Errorf("master key: need at least %d bytes, have %d", MasterKeySize, len(master))
	}
	d := func(purpose string) []byte {
		k, err := hkdf.Key(sha256.New, master, nil, "mcpauthz "+purpose, 32)
		if err != nil {
			panic(err) // only for lengths hkdf cannot produce; 32 always works
		}
		return k
	}
	return &Secrets{
		SessionHash:    d("session hash"),
		SessionEncrypt: d("session encrypt"),
		TokenHMAC:      d("token hmac"),
		ClientSecret:   d("client secret"),
		KeyEncryption:  d("key encryption"),
		Nonce:          d("dpop nonce"),
		Throttle:       d("throttle"),
	}, nil
}

// SecretHasher hashes server-generated, high-entropy secrets (client secrets,
// registration access tokens) with HMAC-SHA256 under a server key. Such
// secrets need no slow hash: guessing 256 random bits is hopeless, and a
// check must cost microseconds on the token endpoint's hot path. It
// implements fosite.Hasher.
type SecretHasher struct{ key []byte }

// NewSecretHasher returns a hasher keyed with key.
func NewSecretHasher(key []byte) *SecretHasher { return &SecretHasher{key: key} }

// Sum returns the keyed hash of secret.
func (h *SecretHasher) Sum(secret []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write(secret)
	return m.Sum(nil)
}

var errSecretMismatch = errors.New("secret does not match")

// Verify reports in constant time whether secret hashes to sum.
func (h *SecretHasher) Verify(sum, secret []byte) error {
	if len(sum) == 0 || subtle.ConstantTimeCompare(sum, h.Sum(secret)) != 1 {
		return errSecretMismatch
	}
	return nil
}

// randomToken returns n random bytes, base64url-encoded without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
