package authz

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthz/mcpauthz/store"
)

// TestSustainedConcurrentLoad: many services at once against one SQLite
// file, as on a busy server — token issuance with and without DPoP,
// introspection and revocation from 16 goroutines over real HTTP, so that
// writers keep meeting each other in the database. Every request gets its
// protocol answer: no 5xx from a busy or locked database, no lost write
// (each revocation is seen by the next introspection).
func TestSustainedConcurrentLoad(t *testing.T) {
	e := newTestEnv(t)
	const workers, rounds = 16, 8
	type creds struct{ id, secret string }
	clients := make([]creds, workers)
	for i := range clients {
		c := creds{id: fmt.Sprintf("svc-%d", i), secret: randomToken(32)}
		if err := e.Store.CreateClient(t.Context(), &store.Client{ID: c.id, Name: c.id, SecretHash: e.Server.hasher.Sum([]byte(c.secret)),
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"docs:read"}, TokenEndpointAuthMethod: "client_secret_basic", Introspect: true}); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	// post sends a form with the client's credentials and returns the
	// status and the decoded JSON answer.
	post := func(c creds, path string, form url.Values, proof string) (int, map[string]any, error) {
		req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if len(raw) > 0 && json.Unmarshal(raw, &body) != nil {
			return resp.StatusCode, nil, fmt.Errorf("not JSON: %s", raw)
		}
		return resp.StatusCode, body, nil
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*5)
	for w := range workers {
		c := clients[w]
		key := newDPoPKey(t)
		proofs := make([]string, rounds)
		for i := range proofs {
			proofs[i] = key.proof(t, http.MethodPost, e.URL+"/token", e.Clock.Now(), nil)
		}
		wg.Go(func() {
			cc := url.Values{"grant_type": {"client_credentials"}}
			for i := range rounds {
				status, body, err := post(c, "/token", cc, "")
				tok, _ := body["access_token"].(string)
				if err != nil || status != http.StatusOK || tok == "" {
					errs <- fmt.Errorf("%s: token: %d %v %v", c.id, status, body, err)
					return
				}
				if status, body, err := post(c, "/token", cc, proofs[i]); err != nil || status != http.StatusOK || body["token_type"] != "DPoP" {
					errs <- fmt.Errorf("%s: DPoP token: %d %v %v", c.id, status, body, err)
				}
				if status, body, err := post(c, "/introspect", url.Values{"token": {tok}}, ""); err != nil || status != http.StatusOK || body["active"] != true {
					errs <- fmt.Errorf("%s: introspect: %d %v %v", c.id, status, body, err)
				}
				if status, body, err := post(c, "/revoke", url.Values{"token": {tok}}, ""); err != nil || status != http.StatusOK {
					errs <- fmt.Errorf("%s: revoke: %d %v %v", c.id, status, body, err)
				}
				if status, body, err := post(c, "/introspect", url.Values{"token": {tok}}, ""); err != nil || status != http.StatusOK || body["active"] != false {
					errs <- fmt.Errorf("%s: introspect after revoke: %d %v %v", c.id, status, body, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
