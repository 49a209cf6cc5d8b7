package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// DefaultNonceStep is the NonceSource step when none is given. A nonce is
// valid in the step it was issued in and the next one, so it lives between
// one and two steps: long enough for a client to use the nonce it was
// just sent, short enough that proofs cannot be made far in advance
// (RFC 9449 §8, §11.1).
const DefaultNonceStep = time.Minute

// nonceLabel separates these MACs from any other use of the secret.
const nonceLabel = "mcpauthz dpop nonce v1\x00"

// nonceLen is the length of a nonce: base64url of an HMAC-SHA256.
var nonceLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// NonceSource issues and checks stateless server nonces (RFC 9449 §8 for
// the authorization server, §9 for the resource server). A nonce is
// base64url(HMAC-SHA256(secret, label || step counter)), where the counter
// is the Unix time divided by the step. Every instance holding the same
// secret and a roughly synchronised clock accepts every other's nonces;
// nothing is stored. Use a different secret per server role if the
// authorization and resource servers' nonces must not be interchangeable.
//
// A nil *NonceSource issues "" and accepts nothing.
type NonceSource struct {
	secret []byte
	step   int64 // seconds
	now    func() time.Time
}

// NewNonceSource returns a NonceSource keyed with secret (copied; New
// refuses one shorter than MinNonceSecretSize). step is rounded down to
// whole seconds, with a minimum of one second; zero or negative means
// DefaultNonceStep. A nil now means time.Now.
func NewNonceSource(secret []byte, step time.Duration, now func() time.Time) *NonceSource {
	if step <= 0 {
		step = DefaultNonceStep
	}
	s := int64(step / time.Second)
	if s < 1 {
		s = 1
	}
	if now == nil {
		now = time.Now
	}
	return &NonceSource{secret: append([]byte(nil), secret...), step: s, now: now}
}

// Step returns the step length.
func (n *NonceSource) Step() time.Duration { return time.Duration(n.step) * time.Second }

// Nonce returns the nonce of the current step, for the DPoP-Nonce response
// header.
func (n *NonceSource) Nonce() string {
	if n == nil {
		return ""
	}
	return n.at(n.counter())
}

// Valid reports whether nonce is the nonce of the current or the previous
// step. The comparison is constant-time.
func (n *NonceSource) Valid(nonce string) bool {
	if n == nil || len(nonce) != nonceLen {
		return false
	}
	c := n.counter()
	cur := subtle.ConstantTimeCompare([]byte(nonce), []byte(n.at(c)))
	prev := subtle.ConstantTimeCompare([]byte(nonce), []byte(n.at(c-1)))
	return cur|prev == 1
}

// counter is floor(unix seconds / step).
func (n *NonceSource) counter() int64 {
	t := n.now().Unix()
	c := t / n.step
	if t%n.step < 0 {
		c--
	}
	return c
}

func (n *NonceSource) at(counter int64) string {
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte(nonceLabel))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(counter))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
