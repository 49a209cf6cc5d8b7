package authz

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters (RFC 9106).
type Argon2Params struct {
	Time      uint32 // passes over memory (t)
	MemoryKiB uint32 // memory in KiB (m)
	Threads   uint8  // parallelism (p)
	SaltLen   uint32 // bytes of random salt
	KeyLen    uint32 // bytes of derived hash
}

// DefaultArgon2Params is RFC 9106's second recommended option: t=3,
// m=64 MiB, p=4, a 16-byte salt and a 32-byte hash.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4, SaltLen: 16, KeyLen: 32}
}

// Limits on parameters, whether configured or read from a stored hash, so a
// corrupt or hostile hash string cannot make Verify allocate gigabytes or
// spin for minutes (or make argon2 panic on zero values).
const (
	argon2MaxMemoryKiB = 1 << 20 // 1 GiB
	argon2MaxTime      = 20
	argon2MinSaltLen   = 8 // RFC 9106 §3.1
	argon2MaxSaltLen   = 64
	argon2MinKeyLen    = 16
	argon2MaxKeyLen    = 128
	argon2MaxEncoded   = 512 // longest accepted PHC string
)

var (
	errPasswordHashFormat = errors.New("password hash: not an argon2id PHC string")
	errPasswordHashParams = errors.New("password hash: parameters out of range")
)

func (p Argon2Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > argon2MaxTime:
		return fmt.Errorf("%w: t=%d (1..%d)", errPasswordHashParams, p.Time, argon2MaxTime)
	case p.Threads < 1:
		return fmt.Errorf("%w: p=%d (1..255)", errPasswordHashParams, p.Threads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > argon2MaxMemoryKiB:
		return fmt.Errorf("%w: m=%d (8*p..%d)", errPasswordHashParams, p.MemoryKiB, argon2MaxMemoryKiB)
	case p.SaltLen < argon2MinSaltLen || p.SaltLen > argon2MaxSaltLen:
		return fmt.Errorf("%w: salt length %d (%d..%d)", errPasswordHashParams, p.SaltLen, argon2MinSaltLen, argon2MaxSaltLen)
	case p.KeyLen < argon2MinKeyLen || p.KeyLen > argon2MaxKeyLen:
		return fmt.Errorf("%w: hash length %d (%d..%d)", errPasswordHashParams, p.KeyLen, argon2MinKeyLen, argon2MaxKeyLen)
	}
	return nil
}

// PasswordHasher hashes and verifies user passwords with argon2id. At most
// runtime.NumCPU() hashes run at once; further callers wait, so a flood of
// logins cannot allocate an unbounded number of MemoryKiB buffers. It never
// logs passwords. A PasswordHasher is safe for concurrent use.
type PasswordHasher struct {
	params Argon2Params
	sem    chan struct{}
}

// NewPasswordHasher returns a hasher that hashes new passwords with p. Zero
// fields of p take the defaults of DefaultArgon2Params.
func NewPasswordHasher(p Argon2Params) *PasswordHasher {
	d := DefaultArgon2Params()
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = d.MemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	return &PasswordHasher{params: p, sem: make(chan struct{}, max(1, runtime.NumCPU()))}
}

// Params returns the parameters new hashes are made with.
func (h *PasswordHasher) Params() Argon2Params { return h.params }

// key runs argon2id under the concurrency limit.
func (h *PasswordHasher) key(password string, salt []byte, p Argon2Params) []byte {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
}

// Hash returns the PHC string of password with a fresh random salt:
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash> (unpadded standard base64).
func (h *PasswordHasher) Hash(password string) (string, error) {
	p := h.params
	if err := p.validate(); err != nil {
		return "", err
	}
	if password == "" {
		return "", errors.New("password hash: empty password")
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password hash: salt: %w", err)
	}
	return h.hashWithSalt(password, salt)
}

// hashWithSalt is Hash with a given salt (tests use it for fixed vectors).
func (h *PasswordHasher) hashWithSalt(password string, salt []byte) (string, error) {
	p := h.params
	p.SaltLen = uint32(len(salt))
	if err := p.validate(); err != nil {
		return "", err
	}
	sum := h.key(password, salt, p)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(sum)), nil
}

// Verify reports whether password matches encoded, a PHC string made by
// Hash. The cost parameters come from encoded, so hashes made before a
// parameter change keep verifying. A malformed encoding, or one with absurd
// parameters, is an error (and ok is false); a wrong password is (false, nil).
func (h *PasswordHasher) Verify(encoded, password string) (ok bool, err error) {
	p, salt, want, err := parseArgon2id(encoded)
	if err != nil {
		return false, err
	}
	got := h.key(password, salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Dummy spends the time (and memory) of verifying password against a hash
// made with the current parameters, and discards the result. Call it when
// the user name does not exist so that timing does not reveal which names do.
func (h *PasswordHasher) Dummy(password string) {
	p := h.params
	if p.validate() != nil {
		return
	}
	var salt [argon2MaxSaltLen]byte
	got := h.key(password, salt[:p.SaltLen], p)
	var want [argon2MaxKeyLen]byte
	_ = subtle.ConstantTimeCompare(got, want[:len(got)])
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$hash strictly.
func parseArgon2id(encoded string) (p Argon2Params, salt, sum []byte, err error) {
	if len(encoded) > argon2MaxEncoded {
		return p, nil, nil, fmt.Errorf("%w: too long", errPasswordHashFormat)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, errPasswordHashFormat
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: variant is not argon2id", errPasswordHashFormat)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version", errPasswordHashFormat)
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, fmt.Errorf("%w: parameters must be m=,t=,p=", errPasswordHashFormat)
	}
	var vals [3]uint64
	for i, k := range []string{"m=", "t=", "p="} {
		s, found := strings.CutPrefix(kv[i], k)
		if !found || s == "" || (len(s) > 1 && s[0] == '0') {
			return p, nil, nil, fmt.Errorf("%w: parameters must be m=,t=,p=", errPasswordHashFormat)
		}
		v, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil {
			return p, nil, nil, fmt.Errorf("%w: bad %s parameter", errPasswordHashFormat, strings.TrimSuffix(k, "="))
		}
		vals[i] = v
	}
	if vals[2] > 255 {
		return p, nil, nil, fmt.Errorf("%w: p=%d (1..255)", errPasswordHashParams, vals[2])
	}
	enc := base64.RawStdEncoding.Strict()
	salt, err = enc.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: bad salt encoding", errPasswordHashFormat)
	}
	sum, err = enc.DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: bad hash encoding", errPasswordHashFormat)
	}
	p = Argon2Params{
		MemoryKiB: uint32(vals[0]),
		Time:      uint32(vals[1]),
		Threads:   uint8(vals[2]),
		SaltLen:   uint32(len(salt)),
		KeyLen:    uint32(len(sum)),
	}
	if err := p.validate(); err != nil {
		return Argon2Params{}, nil, nil, err
	}
	return p, salt, sum, nil
}
