package dpop_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthz/mcpauthz/authz/dpop"
)

// mapStore stands in for store.Store (whose UseNonce wraps store.ErrReplay).
type mapStore struct {
	mu sync.Mutex
	m  map[string]time.Time
}

var errReplay = errors.New("already used")

func (s *mapStore) UseNonce(_ context.Context, key string, exp time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && !e.Before(time.Now()) {
		return errReplay
	}
	s.m[key] = exp
	return nil
}

// A resource server checks the proof that comes with "Authorization: DPoP
// <token>" against the token and its cnf.jkt (RFC 9449 §7), and answers a
// refusal with a DPoP challenge carrying a fresh nonce (§9).
func Example() {
	nonceSecret := make([]byte, 32) // e.g. authz.Secrets.Nonce
	v, err := dpop.New(dpop.Config{
		Replay:          &mapStore{m: map[string]time.Time{}},
		IsReplay:        func(err error) bool { return errors.Is(err, errReplay) }, // errors.Is(err, store.ErrReplay)
		Nonces:          dpop.NewNonceSource(nonceSecret, 0, nil),
		ReplayKeyPrefix: "dpop:rs:",
	})
	if err != nil {
		panic(err)
	}

	handler := func(w http.ResponseWriter, r *http.Request, token, cnfJKT string) {
		_, err := v.Verify(r.Context(), r.Header.Values(dpop.HeaderName), dpop.Check{
			Method:      r.Method,
			URL:         "https://mcp.example.com" + r.URL.RequestURI(),
			AccessToken: token,
			JKT:         cnfJKT,
		})
		var e *dpop.Error
		switch {
		case errors.As(err, &e):
			w.Header().Set(dpop.NonceHeaderName, v.Nonce())
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP error=%q, error_description=%q, algs=%q`,
				e.Code, e.Description, strings.Join(v.Algorithms(), " ")))
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}
	_ = handler
	fmt.Println(v.Algorithms())
	// Output: [ES256 EdDSA PS256 RS256]
}
