package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthz/mcpauthz/authz"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestExampleConfigIsTheDefaults(t *testing.T) {
	fc, err := loadConfig("../../config.example.yaml", envOf(nil))
	if err != nil {
		t.Fatalf("config.example.yaml does not load: %v", err)
	}
	want := defaultFileConfig()
	want.Tokens.AccessTokenLifetime = 15 * time.Minute
	want.Tokens.Format = "jwt"
	want.MCP.IntrospectionCacheTTL = 30 * time.Second
	want.Tokens.RefreshTokenLifetime = 720 * time.Hour
	want.Tokens.AuthCodeLifetime = 2 * time.Minute
	want.Tokens.RefreshReuseGrace = 5 * time.Second
	want.SessionLifetime = time.Hour
	want.Registration.Mode = "open"
	want.Registration.MaxPerMinute = 60
	want.Login.MaxFailures = 5
	want.Login.Window = 15 * time.Minute
	norm := func(fc FileConfig) FileConfig {
		fc.Resources, fc.Scopes, fc.DefaultScopes, fc.Registration.AllowedRedirectHosts = nil, nil, nil, nil
		fc.MCP.AllowedHosts, fc.MCP.AllowedOrigins = nil, nil
		fc.TrustedProxies = nil
		fc.CIMD.AllowedHosts = nil
		return fc
	}
	if got := norm(fc); !reflect.DeepEqual(got, norm(want)) {
		t.Errorf("example config differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("addr: 127.0.0.1:1111\nissuer: https://file.example\ndb: file.db\ntokens:\n  access_token_lifetime: 5m\n"), 0o600)
	getenv := envOf(map[string]string{
		"MCPAUTHZ_ISSUER":                              "https://env.example",
		"MCPAUTHZ_DB":                                  "env.db",
		"MCPAUTHZ_TOKENS_REFRESH_REUSE_GRACE":          "2s",
		"MCPAUTHZ_REGISTRATION_ALLOWED_REDIRECT_HOSTS": "a.example, *.b.example",
	})
	cf := commonFlags{config: file, db: "flag.db"}
	fc, err := cf.load(&env{getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	if fc.Addr != "127.0.0.1:1111" || fc.Issuer != "https://env.example" || fc.DB != "flag.db" {
		t.Errorf("addr %q issuer %q db %q: want file, env, flag", fc.Addr, fc.Issuer, fc.DB)
	}
	if fc.Tokens.AccessTokenLifetime != 5*time.Minute || fc.Tokens.RefreshReuseGrace != 2*time.Second {
		t.Errorf("tokens %+v", fc.Tokens)
	}
	if !reflect.DeepEqual(fc.Registration.AllowedRedirectHosts, []string{"a.example", "*.b.example"}) {
		t.Errorf("list from env: %q", fc.Registration.AllowedRedirectHosts)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"unknown key", "isuer: x\n", nil, "isuer"},
		{"bad duration in env", "", map[string]string{"MCPAUTHZ_TOKENS_ACCESS_TOKEN_LIFETIME": "soon"}, "tokens_access_token_lifetime"},
		{"bad int in env", "", map[string]string{"MCPAUTHZ_LOGIN_MAX_FAILURES": "many"}, "login_max_failures"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
				os.WriteFile(path, []byte(tc.file), 0o600)
			}
			_, err := loadConfig(path, envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"http issuer off loopback", []string{"--issuer", "http://auth.example.com"}, nil, "issuer"},
		{"issuer with trailing slash", []string{"--issuer", "https://auth.example.com/"}, nil, "must not end with a slash"},
		{"issuer with a path", []string{"--issuer", "https://auth.example.com/t1"}, nil, "must not have a path"},
		{"issuer with query", []string{"--issuer", "https://auth.example.com?x=1"}, nil, "query"},
		{"issuer with fragment", []string{"--issuer", "https://auth.example.com#x"}, nil, "fragment"},
		{"https issuer without master key", []string{"--issuer", "https://auth.example.com"}, nil, "master_key"},
		{"short master key", []string{"--issuer", "https://auth.example.com"}, map[string]string{"MCPAUTHZ_MASTER_KEY": "c2hvcnQ="}, "master_key"},
		{"bad registration mode", nil, map[string]string{"MCPAUTHZ_REGISTRATION_MODE": "maybe"}, "registration.mode"},
		{"bad log level", nil, map[string]string{"MCPAUTHZ_LOG_LEVEL": "loud"}, "log_level"},
		{"negative token lifetime", nil, map[string]string{"MCPAUTHZ_TOKENS_ACCESS_TOKEN_LIFETIME": "-5m"}, "tokens.access_token_lifetime"},
		{"negative session lifetime", nil, map[string]string{"MCPAUTHZ_SESSION_LIFETIME": "-1h"}, "session_lifetime"},
		{"negative MCP rate limit", nil, map[string]string{"MCPAUTHZ_MCP_RATE_LIMIT_PER_MINUTE": "-1"}, "mcp.rate_limit_per_minute"},
		{"bad trusted proxy", nil, map[string]string{"MCPAUTHZ_TRUSTED_PROXIES": "garbage"}, "trusted_proxies"},
		{"fetch_allow_loopback on every interface", []string{"--addr", "0.0.0.0:0", "--fetch-allow-loopback"}, nil, "fetch_allow_loopback: refused because the server listens on"},
		{"fetch_allow_loopback without a host", []string{"--addr", ":0"}, map[string]string{"MCPAUTHZ_FETCH_ALLOW_LOOPBACK": "true"}, "fetch_allow_loopback: refused because the server listens on"},
		{"resource not written canonically", nil, map[string]string{"MCPAUTHZ_RESOURCES": "http://127.0.0.1:0/mcp, https://MCP.example.com:443/mcp"}, `write it as "https://mcp.example.com/mcp"`},
		{"resource with a query", nil, map[string]string{"MCPAUTHZ_RESOURCES": "https://mcp.example.com/mcp?x=1"}, "must not have a query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			args := append([]string{"serve", "--db", filepath.Join(dir, "x.db"), "--addr", "127.0.0.1:0"}, tc.args...)
			code := run(t.Context(), args, strings.NewReader(""), &strings.Builder{}, &stderr, envOf(tc.env))
			if code != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 naming %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestIssuerPaths: this server's own issuer must not have a path (its
// endpoints are at the root of the origin), while a remote authorization
// server's may (Keycloak realms, Entra tenants).
func TestIssuerPaths(t *testing.T) {
	remote := defaultFileConfig()
	remote.MCP.AuthorizationServer = "https://kc.example.com/realms/acme"
	remote.MCP.Resource = "https://mcp.example.com/mcp"
	if err := remote.validate(); err != nil {
		t.Errorf("a remote issuer with a path: %v", err)
	}
	if err := authz.ValidateOwnIssuer("https://auth.example.com/t1"); err == nil || !strings.Contains(err.Error(), "must not have a path") {
		t.Errorf("own issuer with a path: %v", err)
	}
	if err := authz.ValidateOwnIssuer("https://auth.example.com:8443"); err != nil {
		t.Errorf("own issuer with a port: %v", err)
	}
	for _, bad := range []string{"https://Auth.Example.com", "https://auth.example.com:443", "http://localhost:80"} {
		if err := authz.ValidateOwnIssuer(bad); err == nil || !strings.Contains(err.Error(), "byte for byte") {
			t.Errorf("own issuer %q: %v, want it refused as not canonical", bad, err)
		}
	}
}

// TestDevelopmentMasterKey: only the server generates a development key,
// beside the database file whatever the DSN's parameters; a command that
// finds none fails instead of working under a key the server lacks.
func TestDevelopmentMasterKey(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	fc := defaultFileConfig()
	fc.DB = db + "?_busy_timeout=10000"
	if _, err := fc.masterKey(false, func(string) {}); err == nil || !strings.Contains(err.Error(), "mcpauthz serve") {
		t.Errorf("a command without a key: %v, want an error that says how to get one", err)
	}
	if _, err := os.Stat(db + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a command created the key file: %v", err)
	}
	warned := ""
	k1, err := fc.masterKey(true, func(m string) { warned = m })
	if err != nil || warned == "" {
		t.Fatalf("serve: %v (warning %q)", err, warned)
	}
	if fi, err := os.Stat(db + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	// Another parameter, the same file; a command now finds it.
	fc.DB = "file:" + db + "?_busy_timeout=20000"
	k2, err := fc.masterKey(false, func(string) {})
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("the same database with other parameters: %v, same key %v", err, bytes.Equal(k1, k2))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files beside the database: %v", entries)
	}
}

// TestDevelopmentMasterKeyFromEarlierVersions: a key that an earlier
// version kept under the raw DSN's name is still used, never replaced by a
// new one (which would make the stored keys undecryptable).
func TestDevelopmentMasterKeyFromEarlierVersions(t *testing.T) {
	fc := defaultFileConfig()
	fc.DB = filepath.Join(t.TempDir(), "a.db") + "?_busy_timeout=10000"
	old := bytes.Repeat([]byte{7}, authz.MasterKeySize)
	if err := os.WriteFile(fc.DB+".key", []byte(base64.StdEncoding.EncodeToString(old)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := fc.masterKey(true, func(m string) { t.Errorf("warned %q: a key was generated", m) })
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("the earlier version's key: %v, used %v", err, bytes.Equal(got, old))
	}
}

// TestDevelopmentConveniencesOnlyOnLoopback: a development server (loopback
// issuer) creates "admin" and prints its password once, and imports the
// bundled documentation; a server people reach elsewhere does neither —
// its stderr is a kept log stream, and its users' search results are its
// own documents — and says how to create a user.
func TestDevelopmentConveniencesOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		dev    bool
	}{{"http://127.0.0.1:8080", true}, {"https://auth.example.com", false}} {
		t.Run(tc.issuer, func(t *testing.T) {
			fc := defaultFileConfig()
			fc.Issuer = tc.issuer
			fc.DB = filepath.Join(t.TempDir(), "mcpauthz.db")
			fc.MasterKey = base64.StdEncoding.EncodeToString(randomBytes(t, authz.MasterKeySize))
			var out strings.Builder
			app, err := openApp(t.Context(), fc, newLogger(fc, &out), &out)
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			users, err := app.Store.CountUsers(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			docs, err := app.Store.ListDocuments(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			printed := strings.Contains(out.String(), "First start")
			if printed != tc.dev || (users == 1) != tc.dev || (len(docs) > 0) != tc.dev {
				t.Errorf("password printed %v, %d users, %d documents; want the conveniences only on a loopback issuer:\n%s", printed, users, len(docs), out.String())
			}
			if !tc.dev && !strings.Contains(out.String(), "mcpauthz user add") {
				t.Errorf("no hint how to create a user:\n%s", out.String())
			}
		})
	}
}

// TestMasterKeyErrorNamesTheDevelopmentKey: a database first served on
// loopback, then with a public issuer and no key, gets an error that names
// the development key its signing keys are encrypted with.
func TestMasterKeyErrorNamesTheDevelopmentKey(t *testing.T) {
	fc := defaultFileConfig()
	fc.DB = filepath.Join(t.TempDir(), "mcpauthz.db")
	if _, err := fc.masterKey(true, func(string) {}); err != nil {
		t.Fatal(err)
	}
	fc.Issuer = "https://auth.example.com"
	_, err := fc.masterKey(true, func(string) {})
	if err == nil || !strings.Contains(err.Error(), fc.DB+".key") {
		t.Errorf("error %v does not name the development key %s.key", err, fc.DB)
	}
}

// TestIssuerPortMismatchWarns: `serve --addr 127.0.0.1:9000` alone leaves
// the issuer on port 8080, where nothing answers; the server says so.
func TestIssuerPortMismatchWarns(t *testing.T) {
	fc := defaultFileConfig()
	if msg := issuerPortMismatch(fc); msg != "" {
		t.Errorf("defaults: %q", msg)
	}
	fc.Addr = "127.0.0.1:9000"
	if msg := issuerPortMismatch(fc); !strings.Contains(msg, "http://localhost:8080 is on port 8080 but the server listens on 127.0.0.1:9000") {
		t.Errorf("addr changed alone: %q", msg)
	}
	fc.Issuer = "http://localhost:9000"
	if msg := issuerPortMismatch(fc); msg != "" {
		t.Errorf("matching issuer: %q", msg)
	}
	fc.Issuer, fc.Addr = "https://auth.example.com", "0.0.0.0:8080"
	if msg := issuerPortMismatch(fc); msg != "" {
		t.Errorf("public issuer behind a proxy: %q", msg)
	}
}
