package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/mcpres"
	"github.com/mcpauthz/mcpauthz/store"
)

// FileConfig is the configuration as an operator writes it: the YAML file,
// overridden by MCPAUTHZ_* environment variables, overridden by flags.
// config.example.yaml documents every key. The environment variable of a
// key is MCPAUTHZ_ followed by its path in upper case with dots as
// underscores (tokens.access_token_lifetime → MCPAUTHZ_TOKENS_ACCESS_TOKEN_LIFETIME);
// lists are comma-separated.
type FileConfig struct {
	Addr           string        `yaml:"addr"`
	Issuer         string        `yaml:"issuer"`
	DB             string        `yaml:"db"`
	MasterKey      string        `yaml:"master_key"`
	MasterKeyFile  string        `yaml:"master_key_file"`
	LogLevel       string        `yaml:"log_level"`
	LogFormat      string        `yaml:"log_format"`
	TrustedProxies []string      `yaml:"trusted_proxies"`
	Resources      []string      `yaml:"resources"`
	Scopes         []ScopeConfig `yaml:"scopes"`
	DefaultScopes  []string      `yaml:"default_scopes"`
	Tokens         struct {
		Format               string        `yaml:"format"`
		AccessTokenLifetime  time.Duration `yaml:"access_token_lifetime"`
		RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime"`
		AuthCodeLifetime     time.Duration `yaml:"auth_code_lifetime"`
		RefreshReuseGrace    time.Duration `yaml:"refresh_reuse_grace"`
	} `yaml:"tokens"`
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	Registration    struct {
		Mode                 string   `yaml:"mode"`
		InitialAccessToken   string   `yaml:"initial_access_token"`
		AllowedRedirectHosts []string `yaml:"allowed_redirect_hosts"`
		MaxPerMinute         int      `yaml:"max_per_minute"`
	} `yaml:"registration"`
	Login struct {
		MaxFailures int           `yaml:"max_failures"`
		Window      time.Duration `yaml:"window"`
	} `yaml:"login"`
	DPoP struct {
		Require      bool `yaml:"require"`
		RequireNonce bool `yaml:"require_nonce"`
	} `yaml:"dpop"`
	// CIMD is the policy for Client ID Metadata Documents (client_ids
	// that are https URLs).
	CIMD struct {
		Mode         string   `yaml:"mode"`
		AllowedHosts []string `yaml:"allowed_hosts"`
	} `yaml:"cimd"`
	MCP struct {
		Path string `yaml:"path"`
		// Resource-only mode: serve the MCP resource against a remote
		// authorization server instead of the built-in one.
		AuthorizationServer       string        `yaml:"authorization_server"`
		Resource                  string        `yaml:"resource"`
		IntrospectionClientID     string        `yaml:"introspection_client_id"`
		IntrospectionClientSecret string        `yaml:"introspection_client_secret"`
		AlwaysIntrospect          bool          `yaml:"always_introspect"`
		IntrospectionCacheTTL     time.Duration `yaml:"introspection_cache_ttl"`
		ResourceName              string        `yaml:"resource_name"`
		AllowedHosts              []string      `yaml:"allowed_hosts"`
		AllowedOrigins            []string      `yaml:"allowed_origins"`
		RateLimitPerMinute        int           `yaml:"rate_limit_per_minute"`
		RateLimitBurst            int           `yaml:"rate_limit_burst"`
		SearchLimit               int           `yaml:"search_limit"`
	} `yaml:"mcp"`
	// FetchAllowLoopback is the UNSAFE development switch of the outbound
	// fetcher (flag --fetch-allow-loopback on serve).
	FetchAllowLoopback bool `yaml:"fetch_allow_loopback"`
}

// ScopeConfig is a scope in the file.
type ScopeConfig struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Defaults of the settings that have them; the rest come from authz.
const (
	defaultAddr   = "127.0.0.1:8080"
	defaultIssuer = "http://localhost:8080"
	defaultDB     = "mcpauthz.db"
)

func defaultFileConfig() FileConfig {
	fc := FileConfig{Addr: defaultAddr, Issuer: defaultIssuer, DB: defaultDB, LogLevel: "info", LogFormat: "text"}
	fc.MCP.Path = "/mcp"
	fc.Tokens.Format = authz.TokenFormatJWT
	fc.CIMD.Mode = authz.CIMDOpen
	fc.MCP.ResourceName = mcpres.DefaultResourceName
	fc.MCP.RateLimitPerMinute = mcpres.DefaultRateLimitPerMinute
	fc.MCP.RateLimitBurst = mcpres.DefaultRateLimitBurst
	fc.MCP.SearchLimit = mcpres.DefaultSearchLimit
	return fc
}

// loadConfig reads the file (if any) over the defaults, then the
// environment over that. Flags are applied by the caller.
func loadConfig(path string, getenv func(string) string) (FileConfig, error) {
	fc := defaultFileConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fc, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
			return fc, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(reflect.ValueOf(&fc).Elem(), "MCPAUTHZ", getenv); err != nil {
		return fc, err
	}
	return fc, nil
}

// applyEnv sets every scalar or string-list field of v from the variable
// named after its YAML path.
func applyEnv(v reflect.Value, prefix string, getenv func(string) string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			if err := applyEnv(fv, name, getenv); err != nil {
				return err
			}
			continue
		}
		raw := getenv(name)
		if raw == "" {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, "MCPAUTHZ_"))
		switch {
		case fv.Type() == reflect.TypeFor[time.Duration]():
			d, err := time.ParseDuration(raw)
			if err != nil {
				return fmt.Errorf("%s (%s): %q is not a duration such as 15m or 1h", name, key, raw)
			}
			fv.SetInt(int64(d))
		case fv.Kind() == reflect.String:
			fv.SetString(raw)
		case fv.Kind() == reflect.Int:
			n, err := strconv.Atoi(raw)
			if err != nil {
				return fmt.Errorf("%s (%s): %q is not a whole number", name, key, raw)
			}
			fv.SetInt(int64(n))
		case fv.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return fmt.Errorf("%s (%s): %q is not true or false", name, key, raw)
			}
			fv.SetBool(b)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
			var parts []string
			for _, p := range strings.Split(raw, ",") {
				if p = strings.TrimSpace(p); p != "" {
					parts = append(parts, p)
				}
			}
			fv.Set(reflect.ValueOf(parts))
		}
	}
	return nil
}

// validateFile checks what authz does not: the listen address, the
// database and the logging settings.
func (fc FileConfig) validate() error {
	var errs []error
	if fc.Addr == "" {
		errs = append(errs, errors.New("addr: required (HOST:PORT, e.g. 127.0.0.1:8080)"))
	} else if fc.FetchAllowLoopback && !loopbackAddr(fc.Addr) {
		// The issuer alone does not say who can reach the server: one
		// with a loopback issuer may listen on every interface.
		errs = append(errs, fmt.Errorf("fetch_allow_loopback: refused because the server listens on %q, beyond loopback; this UNSAFE development switch lets anyone who can reach the server make it fetch from its own machine, so it is allowed only with a loopback addr (127.0.0.1:PORT, [::1]:PORT, localhost:PORT)", fc.Addr))
	}
	if !strings.HasPrefix(fc.MCP.Path, "/") || fc.MCP.Path == "/" || strings.HasSuffix(fc.MCP.Path, "/") || strings.ContainsAny(fc.MCP.Path, "?#") {
		errs = append(errs, fmt.Errorf("mcp.path: %q must start with a slash, not end with one, and have no query or fragment (e.g. /mcp)", fc.MCP.Path))
	}
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"mcp.rate_limit_per_minute", int64(fc.MCP.RateLimitPerMinute)},
		{"mcp.rate_limit_burst", int64(fc.MCP.RateLimitBurst)},
		{"mcp.search_limit", int64(fc.MCP.SearchLimit)},
		{"mcp.introspection_cache_ttl", int64(fc.MCP.IntrospectionCacheTTL)},
	} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", n.key))
		}
	}
	if fc.MCP.AuthorizationServer != "" {
		if err := authz.ValidateIssuer(fc.MCP.AuthorizationServer); err != nil {
			errs = append(errs, fmt.Errorf("mcp.authorization_server: %w", err))
		}
		if fc.MCP.Resource == "" {
			errs = append(errs, errors.New("mcp.resource: required with mcp.authorization_server (the public URL of this MCP server, e.g. https://mcp.example.com/mcp)"))
		}
		if (fc.MCP.IntrospectionClientID == "") != (fc.MCP.IntrospectionClientSecret == "") {
			errs = append(errs, errors.New("mcp.introspection_client_id and mcp.introspection_client_secret: set both or neither"))
		}
	}
	if fc.DB == "" {
		errs = append(errs, errors.New("db: required (a SQLite file path or a postgres:// URL)"))
	}
	switch fc.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: %q is not one of debug, info, warn, error", fc.LogLevel))
	}
	switch fc.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format: %q is not one of text, json", fc.LogFormat))
	}
	return errors.Join(errs...)
}

// masterKey returns the master key: from master_key (MCPAUTHZ_MASTER_KEY),
// else from master_key_file. With neither, a loopback development server
// keeps a generated key in a file beside the SQLite database (<path>.key,
// created on first start with mode 0600, or mcpauthz.key in the working
// directory for another database) and warns; any other server refuses to
// start. Only the server generates it (generate): a command that finds no
// key fails, so that it never works under a key the server does not have.
func (fc FileConfig) masterKey(generate bool, warn func(string)) ([]byte, error) {
	if fc.MasterKey != "" {
		return decodeKey(fc.MasterKey, "master_key")
	}
	path := fc.MasterKeyFile
	if path == "" {
		if !fc.development() {
			if dev := devKeyPath(fc.DB); fileExists(dev) {
				return nil, fmt.Errorf("master_key: required when the server is not on a loopback address. This database was used with the development key in %s, which encrypts its signing keys: to keep the database, keep that key (move it to your secret store and set master_key_file or MCPAUTHZ_MASTER_KEY to it); a new key needs a new database", dev)
			}
			return nil, errors.New("master_key: required when the server is not on a loopback address; set MCPAUTHZ_MASTER_KEY or master_key_file to 32 random bytes (e.g. `openssl rand -base64 32`)")
		}
		path = devKeyPath(fc.DB)
		if legacy := legacyDevKeyPath(fc.DB); legacy != path && !fileExists(path) && fileExists(legacy) {
			// Where versions before 2026-11 kept it for this DSN.
			path = legacy
		}
		if !fileExists(path) {
			if !generate {
				return nil, fmt.Errorf("master_key: not set, and there is no development key at %s; give this command the master key the server uses (MCPAUTHZ_MASTER_KEY or master_key_file), or start `mcpauthz serve` once to generate the development key", path)
			}
			key := make([]byte, authz.MasterKeySize)
			if _, err := rand.Read(key); err != nil {
				return nil, err
			}
			if dir := filepath.Dir(path); dir != "" {
				_ = os.MkdirAll(dir, 0o700)
			}
			if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("master_key_file: write %s: %w", path, err)
			}
			warn(fmt.Sprintf("generated a development master key in %s; set master_key or master_key_file before serving beyond this machine", path))
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master_key_file: %w", err)
	}
	return decodeKey(strings.TrimSpace(string(b)), "master_key_file "+path)
}

// loopbackAddr reports whether the listen address addr accepts only
// loopback connections: its host is a loopback address or localhost (an
// empty host or 0.0.0.0 listens on every interface).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host != "" && authz.IsLoopbackHost(host)
}

// development reports whether this is a development server: people reach
// it on a loopback address. Only such a server generates a master key,
// creates a first user and prints its password, and imports the bundled
// documentation.
func (fc FileConfig) development() bool { return authz.IsLoopbackURL(fc.publicURL()) }

// resourceOnly reports whether this server serves only the MCP resource,
// against a remote authorization server.
func (fc FileConfig) resourceOnly() bool { return fc.MCP.AuthorizationServer != "" }

// publicURL is the URL people reach this server at: the issuer, or in
// resource-only mode the MCP resource.
func (fc FileConfig) publicURL() string {
	if fc.resourceOnly() {
		return fc.MCP.Resource
	}
	return fc.Issuer
}

// resourcePath is the path of the MCP resource URL in resource-only mode.
func (fc FileConfig) resourcePath() string {
	if u, err := url.Parse(fc.MCP.Resource); err == nil {
		return u.Path
	}
	return ""
}

// decodeKey accepts base64 (standard or URL-safe, padded or not) or hex.
func decodeKey(s, key string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
	} {
		if b, err := dec(s); err == nil && len(b) >= authz.MasterKeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s: must be at least %d random bytes, base64- or hex-encoded", key, authz.MasterKeySize)
}

// devKeyPath is where a development master key is kept: beside the SQLite
// database file (its path without the DSN's parameters, so that changing a
// parameter does not change the key), else mcpauthz.key.
func devKeyPath(dsn string) string {
	if p, ok := store.SQLitePath(dsn); ok {
		return p + ".key"
	}
	return "mcpauthz.key"
}

// legacyDevKeyPath is where earlier versions kept the development key: the
// raw DSN plus .key for a SQLite path (parameters included), mcpauthz.key
// for anything else. A key found there is still used.
func legacyDevKeyPath(dsn string) string {
	if store.IsPostgresDSN(dsn) || strings.HasPrefix(dsn, "file:") {
		return "mcpauthz.key"
	}
	return dsn + ".key"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// authzConfig resolves the file configuration into the server's.
func (fc FileConfig) authzConfig(secrets *authz.Secrets) authz.Config {
	resources := fc.Resources
	if len(resources) == 0 {
		resources = []string{fc.Issuer + fc.MCP.Path}
	}
	c := authz.Config{
		Issuer:               fc.Issuer,
		Resources:            resources,
		DefaultScopes:        fc.DefaultScopes,
		TokenFormat:          fc.Tokens.Format,
		AccessTokenLifetime:  fc.Tokens.AccessTokenLifetime,
		RefreshTokenLifetime: fc.Tokens.RefreshTokenLifetime,
		AuthCodeLifetime:     fc.Tokens.AuthCodeLifetime,
		RefreshReuseGrace:    fc.Tokens.RefreshReuseGrace,
		SessionLifetime:      fc.SessionLifetime,
		Registration: authz.RegistrationPolicy{
			Mode:                 fc.Registration.Mode,
			InitialAccessToken:   fc.Registration.InitialAccessToken,
			MaxPerMinute:         fc.Registration.MaxPerMinute,
			AllowedRedirectHosts: fc.Registration.AllowedRedirectHosts,
		},
		Login:              authz.LoginPolicy{MaxFailures: fc.Login.MaxFailures, Window: fc.Login.Window},
		DPoP:               authz.DPoPPolicy{Require: fc.DPoP.Require, RequireNonce: fc.DPoP.RequireNonce},
		CIMD:               authz.CIMDPolicy{Mode: fc.CIMD.Mode, AllowedHosts: fc.CIMD.AllowedHosts},
		FetchAllowLoopback: fc.FetchAllowLoopback,
		TrustedProxies:     fc.TrustedProxies,
		Secrets:            secrets,
	}
	for _, s := range fc.Scopes {
		c.Scopes = append(c.Scopes, authz.Scope{Name: s.Name, Description: s.Description})
	}
	return c
}
