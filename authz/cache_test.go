package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpauthz/mcpauthz/authz/fetch"
	"github.com/mcpauthz/mcpauthz/store"
)

func TestCacheLifetime(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	lo, hi, def := 5*time.Minute, 24*time.Hour, 7*time.Minute
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	for _, tt := range []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"no headers", h(), def},
		{"max-age within", h("Cache-Control", "public, max-age=3600"), time.Hour},
		{"max-age below the floor", h("Cache-Control", "max-age=60"), lo},
		{"max-age zero", h("Cache-Control", "max-age=0"), lo},
		{"max-age above the ceiling", h("Cache-Control", "max-age=604800"), hi},
		{"huge max-age", h("Cache-Control", "max-age=99999999999999999999"), def},
		{"quoted max-age", h("Cache-Control", `max-age="7200"`), 2 * time.Hour},
		{"s-maxage wins", h("Cache-Control", "max-age=600, s-maxage=7200"), 2 * time.Hour},
		{"no-store", h("Cache-Control", "no-store, max-age=86400"), lo},
		{"no-cache", h("Cache-Control", "max-age=86400", "Cache-Control", "No-Cache"), lo},
		{"bad max-age falls to Expires", h("Cache-Control", "max-age=soon", "Expires", now.Add(3*time.Hour).Format(http.TimeFormat)), 3 * time.Hour},
		{"Expires relative to Date", h("Date", now.Add(-time.Hour).Format(http.TimeFormat), "Expires", now.Add(time.Hour).Format(http.TimeFormat)), 2 * time.Hour},
		{"Expires in the past", h("Expires", now.Add(-time.Hour).Format(http.TimeFormat)), lo},
		{"Expires 0", h("Expires", "0"), lo},
		{"Expires far ahead", h("Expires", now.Add(30*24*time.Hour).Format(http.TimeFormat)), hi},
	} {
		if got := cacheLifetime(tt.h, now, lo, hi, def); got != tt.want {
			t.Errorf("%s: cacheLifetime = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestLRU(t *testing.T) {
	c := newLRU[int](3)
	for i := range 3 {
		c.put(fmt.Sprint(i), i)
	}
	c.get("0") // 0 is now the most recently used; 1 the least
	c.put("3", 3)
	if _, ok := c.get("1"); ok {
		t.Error("the least recently used entry was not evicted")
	}
	for _, k := range []string{"0", "2", "3"} {
		if v, ok := c.get(k); !ok || fmt.Sprint(v) != k {
			t.Errorf("get(%s) = %v, %v", k, v, ok)
		}
	}
	c.put("3", 30)
	if v, _ := c.get("3"); v != 30 || c.len() != 3 {
		t.Errorf("replace: %v, len %d", v, c.len())
	}
	for i := range 100 {
		c.put(fmt.Sprint("k", i), i)
	}
	if c.len() != 3 || len(c.m) != 3 {
		t.Errorf("len = %d, map %d, want 3", c.len(), len(c.m))
	}
}

// newTestResolver is a cimdResolver with the development switch, on clk.
func newTestResolver(clk *clock, policy CIMDPolicy) *cimdResolver {
	cfg := Config{FetchAllowLoopback: true, CIMD: policy, Now: clk.Now, Scopes: DefaultScopes()}.WithDefaults()
	return newCIMDResolver(cfg, fetch.New(fetch.Config{AllowLoopback: true}))
}

// TestCIMDCacheBounds checks, with a fake clock, that documents are cached
// within the bounds their headers give (and failures briefly), that the
// cache holds a bounded number of entries, and that concurrent lookups of
// one URL make one fetch.
func TestCIMDCacheBounds(t *testing.T) {
	ds := newDocServer(t)
	clk := &clock{}
	r := newTestResolver(clk, CIMDPolicy{})
	ctx := t.Context()
	serve := func(path, cacheControl string) string {
		id := ds.URL + path
		ds.set(path, docResponse{Body: []byte(strings.Replace(cimdDoc(nil), testCIMDID, id, 1)), Header: http.Header{"Cache-Control": {cacheControl}}})
		return id
	}
	lookups := func(id string, n int) {
		t.Helper()
		for range n {
			if _, err := r.client(ctx, id); err != nil {
				t.Fatalf("client(%s): %v", id, err)
			}
		}
	}
	for _, tt := range []struct {
		path, cacheControl string
		fresh              time.Duration // still cached after this
		stale              time.Duration // fetched again after this
	}{
		{"/max-age-1m", "max-age=60", cimdMinTTL - time.Second, cimdMinTTL + time.Second},
		{"/max-age-1h", "max-age=3600", time.Hour - time.Second, time.Hour + time.Second},
		{"/max-age-1w", "max-age=604800", cimdMaxTTL - time.Second, cimdMaxTTL + time.Second},
		{"/no-store", "no-store", cimdMinTTL - time.Second, cimdMinTTL + time.Second},
		{"/none", "", cimdMinTTL - time.Second, cimdMinTTL + time.Second},
	} {
		t.Run(tt.path, func(t *testing.T) {
			id := serve(tt.path, tt.cacheControl)
			lookups(id, 3)
			if n := ds.count(tt.path); n != 1 {
				t.Fatalf("fetched %d times, want 1", n)
			}
			clk.Advance(tt.fresh)
			lookups(id, 1)
			if n := ds.count(tt.path); n != 1 {
				t.Fatalf("fetched again after %s", tt.fresh)
			}
			clk.Advance(tt.stale - tt.fresh)
			lookups(id, 2)
			if n := ds.count(tt.path); n != 2 {
				t.Fatalf("after %s: fetched %d times, want 2", tt.stale, n)
			}
		})
	}

	t.Run("failures are remembered briefly", func(t *testing.T) {
		id := ds.URL + "/later.json"
		for range 3 {
			if _, err := r.client(ctx, id); err == nil || !strings.Contains(err.Error(), "404") {
				t.Fatalf("err = %v, want a 404", err)
			}
		}
		if n := ds.count("/later.json"); n != 1 {
			t.Fatalf("a failing document was fetched %d times, want 1", n)
		}
		serve("/later.json", "")
		clk.Advance(cimdFailureTTL + time.Second)
		lookups(id, 1)
	})

	t.Run("concurrent lookups make one fetch", func(t *testing.T) {
		id := serve("/concurrent.json", "max-age=600")
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				if _, err := r.client(ctx, id); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := ds.count("/concurrent.json"); n != 1 {
			t.Errorf("20 concurrent lookups made %d fetches, want 1", n)
		}
	})

	t.Run("a caller that gives up does not cancel the shared fetch", func(t *testing.T) {
		id := serve("/cancel.json", "max-age=600")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := r.client(cctx, id); !errors.Is(err, context.Canceled) {
			// The fetch may have won the race; either way the next lookup
			// must succeed from the cache or a fetch.
			if err != nil {
				t.Fatalf("err = %v", err)
			}
		}
		lookups(id, 1)
	})

	t.Run("stale if error", func(t *testing.T) {
		status := func(path string, code int) {
			ds.set(path, docResponse{Status: code, ContentType: "application/json", Body: []byte(`{}`)})
		}
		fetches := func(path string, want int) {
			t.Helper()
			if n := ds.count(path); n != want {
				t.Fatalf("%s fetched %d times, want %d", path, n, want)
			}
		}
		fails := func(id, want string) {
			t.Helper()
			if _, err := r.client(ctx, id); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("client(%s) = %v, want an error with %q", id, err, want)
			}
		}
		// A failing site: the copy fetched before stands in, and the site
		// is asked again only every cimdFailureTTL.
		id := serve("/outage.json", "max-age=600")
		lookups(id, 1)
		for i, code := range []int{503, 500, 429} {
			status("/outage.json", code)
			clk.Advance(10*time.Minute + time.Second)
			lookups(id, 2)
			fetches("/outage.json", 2+i)
		}
		clk.Advance(cimdFailureTTL - time.Second)
		lookups(id, 1)
		fetches("/outage.json", 4)
		// A site that answers again is used again.
		serve("/outage.json", "max-age=600")
		clk.Advance(2 * time.Second)
		lookups(id, 1)
		fetches("/outage.json", 5)

		// A site that is down for good: the copy stands in for
		// cimdStaleIfError after it expired, then no more.
		id = serve("/down.json", "max-age=600")
		lookups(id, 1)
		status("/down.json", 502)
		clk.Advance(10*time.Minute + cimdStaleIfError - time.Minute)
		lookups(id, 1)
		clk.Advance(2 * time.Minute)
		fails(id, "unexpected status 502")

		// A document its site no longer serves, or that no longer
		// validates, is dropped at once.
		for _, tt := range []struct {
			path string
			set  func(string)
			want string
		}{
			{"/gone.json", func(p string) { status(p, 404) }, "unexpected status 404"},
			{"/forbidden.json", func(p string) { status(p, 403) }, "unexpected status 403"},
			{"/invalid.json", func(p string) { ds.set(p, docResponse{Body: []byte(`{"client_name":"no id"}`)}) }, "not a valid client metadata document"},
		} {
			id := serve(tt.path, "max-age=600")
			lookups(id, 1)
			tt.set(tt.path)
			clk.Advance(10*time.Minute + time.Second)
			fails(id, tt.want)
		}
	})

	t.Run("failures do not evict documents", func(t *testing.T) {
		small := newTestResolver(clk, CIMDPolicy{})
		small.docs.entries = newLRU[*remoteEntry[*store.Client]](4)
		small.docs.failures = newLRU[*remoteEntry[*store.Client]](4)
		id := serve("/kept.json", "max-age=600")
		if _, err := small.client(ctx, id); err != nil {
			t.Fatal(err)
		}
		// A flood of client_ids that fail, while the document is fresh.
		for i := range 20 {
			junk := fmt.Sprintf("%s/junk/%d.json", ds.URL, i)
			if _, err := small.client(ctx, junk); err == nil {
				t.Fatalf("junk client_id %s was accepted", junk)
			}
		}
		if small.docs.entries.len() != 1 || small.docs.failures.len() != 4 {
			t.Errorf("values %d, failures %d: want the document and 4 failures", small.docs.entries.len(), small.docs.failures.len())
		}
		// The document's site is down when it expires: the copy stands in.
		ds.set("/kept.json", docResponse{Status: 503, ContentType: "application/json", Body: []byte(`{}`)})
		clk.Advance(10*time.Minute + time.Second)
		if _, err := small.client(ctx, id); err != nil {
			t.Errorf("after a flood of failures, the copy that stands in for an unavailable document is gone: %v", err)
		}
	})

	t.Run("fetches in flight are bounded", func(t *testing.T) {
		busy := newTestResolver(clk, CIMDPolicy{})
		cached := serve("/cached-while-busy.json", "max-age=600")
		if _, err := busy.client(ctx, cached); err != nil {
			t.Fatal(err)
		}
		for range maxFetchesInFlight {
			busy.docs.slots <- struct{}{}
		}
		id := serve("/busy.json", "max-age=600")
		if _, err := busy.client(ctx, id); err == nil || !strings.Contains(err.Error(), "too many documents are being fetched") {
			t.Errorf("lookup needing a fetch while %d run: %v, want the busy error", maxFetchesInFlight, err)
		}
		if n := ds.count("/busy.json"); n != 0 {
			t.Errorf("fetched %d times while busy", n)
		}
		if _, err := busy.client(ctx, cached); err != nil {
			t.Errorf("a cached document while busy: %v", err)
		}
		for range maxFetchesInFlight {
			<-busy.docs.slots
		}
		if _, err := busy.client(ctx, id); err != nil {
			t.Errorf("after the fetches ended (the busy failure must not be remembered): %v", err)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		small := newTestResolver(clk, CIMDPolicy{})
		small.docs.entries = newLRU[*remoteEntry[*store.Client]](4)
		var ids []string
		for i := range 6 {
			ids = append(ids, serve(fmt.Sprintf("/bounded/%d.json", i), "max-age=3600"))
			if _, err := small.client(ctx, ids[i]); err != nil {
				t.Fatal(err)
			}
		}
		if small.docs.entries.len() != 4 {
			t.Errorf("cache holds %d entries, want 4", small.docs.entries.len())
		}
		if _, err := small.client(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
		if n := ds.count("/bounded/0.json"); n != 2 {
			t.Errorf("an evicted document was fetched %d times, want 2", n)
		}
		if n := ds.count("/bounded/5.json"); n != 1 {
			t.Errorf("a cached document was fetched %d times", n)
		}
		if got := newTestResolver(clk, CIMDPolicy{}).docs.entries.max; got != cimdCacheEntries {
			t.Errorf("default bound = %d", got)
		}
	})
}

// TestJWKSCache checks the jwks_uri cache: a short TTL, a refetch for an
// unknown key at most every jwksRefetchInterval, failures remembered
// briefly, and fosite's JWKSFetcherStrategy view of it.
func TestJWKSCache(t *testing.T) {
	ds := newDocServer(t)
	clk := &clock{}
	c := newJWKSCache(fetch.New(fetch.Config{AllowLoopback: true}), clk.Now, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	k1, k2 := newClientKey(t, jose.ES256, "k1"), newClientKey(t, jose.EdDSA, "k2")
	uri := ds.json("/jwks.json", jwks(k1))
	set, err := c.keys(ctx, uri, false)
	if err != nil || len(set.Key("k1")) != 1 {
		t.Fatalf("keys: %v %+v", err, set)
	}
	ds.json("/jwks.json", jwks(k1, k2)) // the client rotates
	if set, _ := c.keys(ctx, uri, true); len(set.Key("k2")) != 0 {
		t.Fatal("refetched within the refetch interval")
	}
	clk.Advance(jwksRefetchInterval + time.Second)
	if set, _ := c.keys(ctx, uri, false); len(set.Key("k2")) != 0 {
		t.Fatal("refetched a fresh entry without being asked")
	}
	if set, err := c.keys(ctx, uri, true); err != nil || len(set.Key("k2")) != 1 {
		t.Fatalf("refresh after the interval: %v", err)
	}
	if n := ds.count("/jwks.json"); n != 2 {
		t.Errorf("fetched %d times, want 2", n)
	}
	clk.Advance(jwksDefaultTTL + time.Second)
	c.keys(ctx, uri, false)
	if n := ds.count("/jwks.json"); n != 3 {
		t.Errorf("after the TTL: fetched %d times, want 3", n)
	}

	// fosite's view: go-jose v3 keys.
	set3, err := c.Resolve(ctx, uri, false)
	if err != nil || len(set3.Key("k2")) != 1 || len(set3.Key("k1")) != 1 {
		t.Fatalf("Resolve: %v %+v", err, set3)
	}

	// Failures, remembered for the refetch interval.
	bad := ds.URL + "/missing.json"
	for range 3 {
		if _, err := c.keys(ctx, bad, true); err == nil || !strings.Contains(err.Error(), "unexpected status 404") {
			t.Fatalf("err = %v", err)
		}
	}
	if n := ds.count("/missing.json"); n != 1 {
		t.Errorf("a failing jwks_uri was fetched %d times, want 1", n)
	}
	if _, err := c.Resolve(ctx, bad, false); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("Resolve error = %v", err)
	}
	ds.set("/html.json", docResponse{ContentType: "text/html", Body: []byte("{}")})
	if _, err := c.keys(ctx, ds.URL+"/html.json", false); err == nil || !strings.Contains(err.Error(), "unexpected Content-Type") {
		t.Errorf("err = %v", err)
	}
	ds.set("/jwk-set.json", docResponse{ContentType: "application/jwk-set+json", Body: mustJSON(jwks(k1))})
	if _, err := c.keys(ctx, ds.URL+"/jwk-set.json", false); err != nil {
		t.Errorf("application/jwk-set+json: %v", err)
	}

	// Stale if error: while the jwks_uri fails, the set fetched before
	// stands in, asked again every jwksRefetchInterval, for at most
	// jwksStaleIfError past its expiry; a 404 drops it at once.
	outage := ds.json("/outage-jwks.json", jwks(k1))
	if _, err := c.keys(ctx, outage, false); err != nil {
		t.Fatal(err)
	}
	ds.set("/outage-jwks.json", docResponse{Status: 503, ContentType: "application/json", Body: []byte("{}")})
	clk.Advance(jwksDefaultTTL + time.Second)
	for range 2 {
		if set, err := c.keys(ctx, outage, false); err != nil || len(set.Key("k1")) != 1 {
			t.Fatalf("during an outage: %v %+v", err, set)
		}
	}
	if n := ds.count("/outage-jwks.json"); n != 2 {
		t.Errorf("during an outage: fetched %d times, want 2", n)
	}
	clk.Advance(jwksStaleIfError - time.Minute)
	if _, err := c.keys(ctx, outage, false); err != nil {
		t.Fatalf("within jwksStaleIfError: %v", err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := c.keys(ctx, outage, false); err == nil || !strings.Contains(err.Error(), "unexpected status 503") {
		t.Errorf("past jwksStaleIfError: err = %v", err)
	}
	gone := ds.json("/gone-jwks.json", jwks(k1))
	if _, err := c.keys(ctx, gone, false); err != nil {
		t.Fatal(err)
	}
	ds.set("/gone-jwks.json", docResponse{Status: 404, ContentType: "application/json", Body: []byte("{}")})
	clk.Advance(jwksDefaultTTL + time.Second)
	if _, err := c.keys(ctx, gone, false); err == nil || !strings.Contains(err.Error(), "unexpected status 404") {
		t.Errorf("a key set no longer served: err = %v", err)
	}

	// Without the development switch, a private or loopback jwks_uri is
	// never fetched.
	strict := newJWKSCache(fetch.New(fetch.Config{}), clk.Now, slog.New(slog.DiscardHandler))
	for _, u := range []string{uri, "https://10.0.0.1/jwks.json", "https://169.254.169.254/latest/meta-data"} {
		if _, err := strict.keys(ctx, u, false); err == nil {
			t.Errorf("fetched %s without the development switch", u)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	ec, ed, rs := newClientKey(t, jose.ES256, "ec"), newClientKey(t, jose.EdDSA, "ed"), newClientKey(t, jose.RS256, "rs")
	good := jwks(ec, ed, rs)
	set, err := parseJWKS(mustJSON(good))
	if err != nil || len(set.Keys) != 3 {
		t.Fatalf("parseJWKS: %v, %d keys", err, len(set.Keys))
	}
	// Keys without use/alg, encryption keys and unknown types are skipped.
	mixed := map[string]any{"keys": []any{
		map[string]any{"kty": "OKP", "crv": "X25519", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo", "use": "enc"},
		map[string]any{"kty": "EC", "crv": "P-256", "use": "enc", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
		map[string]any{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
		map[string]any{"kty": "weird"},
	}}
	if set, err := parseJWKS(mustJSON(mixed)); err != nil || len(set.Keys) != 1 {
		t.Errorf("mixed set: %v, %v", err, set)
	}
	for name, raw := range map[string]string{
		"not JSON":  `{`,
		"no keys":   `{}`,
		"empty":     `{"keys":[]}`,
		"private":   `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`,
		"symmetric": `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		"P-384":     `{"keys":[{"kty":"EC","crv":"P-384","x":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7","y":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7"}]}`,
		"alg none":  `{"keys":[{"kty":"EC","crv":"P-256","alg":"HS256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
	} {
		if _, err := parseJWKS([]byte(raw)); err == nil {
			t.Errorf("%s: accepted %s", name, raw)
		}
	}
}

// FuzzParseJWKS: a client's key set is untrusted input. parseJWKS never
// panics, and a set it accepts holds only public keys, each usable for
// one of the assertion algorithms, at most maxJWKSKeys of them, and
// converts to the go-jose version fosite uses.
func FuzzParseJWKS(f *testing.F) {
	f.Add(string(mustJSON(jwks(newClientKey(f, jose.ES256, "ec"), newClientKey(f, jose.EdDSA, "ed")))))
	f.Add(string(mustJSON(jwks(newClientKey(f, jose.RS256, "rs")))))
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`)
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`)
	f.Add(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"sig"}]}`)
	f.Add(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)
	f.Add(`{"keys":null}`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, raw string) {
		set, err := parseJWKS([]byte(raw))
		if err != nil {
			if set != nil {
				t.Fatalf("an error with a set: %v", err)
			}
			return
		}
		if n := len(set.Keys); n == 0 || n > maxJWKSKeys {
			t.Fatalf("accepted a set of %d keys", n)
		}
		for _, k := range set.Keys {
			if !k.Valid() || !k.IsPublic() || len(fittingAlgs(&k)) == 0 {
				t.Fatalf("accepted an unusable or private key: %+v", k)
			}
		}
		if _, err := toJOSE3(set); err != nil {
			t.Fatalf("an accepted set does not convert for fosite: %v", err)
		}
	})
}
