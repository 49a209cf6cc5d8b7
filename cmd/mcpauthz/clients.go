package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mcpauthz/mcpauthz/authz"
	"github.com/mcpauthz/mcpauthz/store"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

var _ flag.Value = (*listFlag)(nil)

func (e *env) client(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError("client needs a subcommand: add, list, delete")
	}
	var cf commonFlags
	fs := newFlagSet("client "+args[0], e)
	cf.register(fs, false)
	var (
		name       = fs.String("name", "", "the client's name, shown on the consent page")
		public     = fs.Bool("public", false, "a public client (no secret; PKCE only)")
		introspect = fs.Bool("introspect", false, "allow this confidential client to call the introspection endpoint")
		scope      = fs.String("scope", "", "space-separated scopes the client may request (default: the default scopes)")
		authMethod = fs.String("auth-method", "client_secret_basic", "how a confidential client authenticates: client_secret_basic, client_secret_post or private_key_jwt")
		jwksURI    = fs.String("jwks-uri", "", "private_key_jwt: the https URL of the client's JWK Set")
		jwksFile   = fs.String("jwks-file", "", "private_key_jwt: a file holding the client's public JWK Set (or one public JWK)")
		signingAlg = fs.String("signing-alg", "", "private_key_jwt: the one algorithm the client signs with (ES256, EdDSA, PS256, RS256; default any)")
		redirects  listFlag
		grants     listFlag
	)
	fs.Var(&redirects, "redirect-uri", "a redirect URI (repeat for several)")
	fs.Var(&grants, "grant", "a grant type: authorization_code, refresh_token, client_credentials (repeat; default authorization_code and refresh_token)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "add":
		if len(pos) > 0 {
			return usageError("client add takes flags only, got %q", pos[0])
		}
		return e.clientAdd(ctx, &cf, clientSpec{name: *name, public: *public, introspect: *introspect, scope: *scope, authMethod: *authMethod, redirects: redirects, grants: grants,
			jwksURI: *jwksURI, jwksFile: *jwksFile, signingAlg: *signingAlg})
	case "list":
		if len(pos) > 0 {
			return usageError("client list takes no arguments")
		}
		_, st, err := e.openStore(ctx, &cf)
		if err != nil {
			return err
		}
		defer st.Close()
		clients, err := st.ListClients(ctx)
		if err != nil {
			return err
		}
		out := []clientRow{}
		for _, c := range clients {
			out = append(out, clientRow{
				ClientID: c.ID, Name: c.Name, Public: c.TokenEndpointAuthMethod == "none",
				TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, RedirectURIs: c.RedirectURIs,
				GrantTypes: c.GrantTypes, Scope: strings.Join(c.Scopes, " "), Introspect: c.Introspect,
				Source: c.Source, CreatedAt: c.CreatedAt,
			})
		}
		return writeOut(e.stdout, out)
	case "delete":
		if len(pos) != 1 {
			return usageError("client delete needs exactly one ID")
		}
		_, st, err := e.openStore(ctx, &cf)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.DeleteClient(ctx, pos[0]); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no client %q", pos[0])
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "deleted client %q and every token it held\n", pos[0])
		return nil
	default:
		return usageError("unknown client subcommand %q", args[0])
	}
}

type clientRow struct {
	ClientID                string    `json:"client_id"`
	Name                    string    `json:"name"`
	Public                  bool      `json:"public"`
	TokenEndpointAuthMethod string    `json:"token_endpoint_auth_method"`
	RedirectURIs            []string  `json:"redirect_uris,omitempty"`
	GrantTypes              []string  `json:"grant_types"`
	Scope                   string    `json:"scope,omitempty"`
	Introspect              bool      `json:"introspect"`
	Source                  string    `json:"source"`
	CreatedAt               time.Time `json:"created_at"`
}

type clientSpec struct {
	name, scope       string
	authMethod        string
	public            bool
	introspect        bool
	redirects, grants []string
	// private_key_jwt: the client's keys, and its one signing algorithm.
	jwksURI, jwksFile, signingAlg string
}

func (e *env) clientAdd(ctx context.Context, cf *commonFlags, sp clientSpec) error {
	if strings.TrimSpace(sp.name) == "" {
		return usageError("client add needs --name")
	}
	if sp.public && sp.introspect {
		return usageError("--introspect needs a confidential client (it authenticates with its secret); drop --public")
	}
	keyed := sp.authMethod == "private_key_jwt"
	switch {
	case sp.authMethod != "client_secret_basic" && sp.authMethod != "client_secret_post" && !keyed:
		return usageError("--auth-method %q: one of client_secret_basic, client_secret_post, private_key_jwt", sp.authMethod)
	case keyed && sp.public:
		return usageError("--auth-method private_key_jwt is for a confidential client; drop --public")
	case keyed && (sp.jwksURI == "") == (sp.jwksFile == ""):
		return usageError("--auth-method private_key_jwt needs the client's public keys: exactly one of --jwks-uri URL or --jwks-file FILE")
	case !keyed && (sp.jwksURI != "" || sp.jwksFile != "" || sp.signingAlg != ""):
		return usageError("--jwks-uri, --jwks-file and --signing-alg go with --auth-method private_key_jwt")
	}
	grants := sp.grants
	if len(grants) == 0 {
		grants = []string{"authorization_code", "refresh_token"}
	}
	for _, g := range grants {
		switch g {
		case "authorization_code", "refresh_token":
		case "client_credentials":
			if sp.public {
				return usageError("--grant client_credentials needs a confidential client; drop --public")
			}
		default:
			return usageError("--grant %q: one of authorization_code, refresh_token, client_credentials", g)
		}
	}
	if slices.Contains(grants, "authorization_code") && len(sp.redirects) == 0 {
		return usageError("--grant authorization_code needs at least one --redirect-uri")
	}
	for _, u := range sp.redirects {
		if err := authz.ValidateRedirectURI(u, nil); err != nil {
			return fmt.Errorf("--redirect-uri: %w", err)
		}
	}
	fc, err := cf.load(e)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	acfg := fc.authzConfig(nil).WithDefaults()
	for _, s := range acfg.Scopes {
		known[s.Name] = true
	}
	scopes := strings.Fields(sp.scope)
	if len(scopes) == 0 {
		scopes = acfg.DefaultScopes
	}
	for _, s := range scopes {
		if !known[s] {
			return usageError("--scope %q: not a configured scope", s)
		}
	}
	c := &store.Client{
		ID: newID(), Name: sp.name, RedirectURIs: sp.redirects, GrantTypes: grants,
		Scopes: scopes, Introspect: sp.introspect, Source: authz.ClientSourceCLI, TokenEndpointAuthMethod: "none",
	}
	if slices.Contains(grants, "authorization_code") {
		c.ResponseTypes = []string{"code"}
	}
	var secret string
	var secretKey []byte // the key-encryption key of the master key the secret is hashed under
	if keyed {
		if err := applyClientKeys(c, sp, acfg.DefaultScopes, known, fc.FetchAllowLoopback); err != nil {
			return err
		}
	} else if !sp.public {
		master, err := fc.masterKey(false, func(msg string) { fmt.Fprintln(e.stderr, "mcpauthz: warning:", msg) })
		if err != nil {
			return err
		}
		secrets, err := authz.DeriveSecrets(master)
		if err != nil {
			return err
		}
		secretKey = secrets.KeyEncryption
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		secret = base64.RawURLEncoding.EncodeToString(b)
		c.SecretHash = authz.NewSecretHasher(secrets.ClientSecret).Sum([]byte(secret))
		c.TokenEndpointAuthMethod = sp.authMethod
	}
	_, st, err := e.openStore(ctx, cf)
	if err != nil {
		return err
	}
	defer st.Close()
	if secretKey != nil {
		// A secret hashed under another master key than the server's
		// would never work: the signing keys tell which one it has.
		if err := authz.CheckKeyEncryption(ctx, st, secretKey); err != nil {
			return fmt.Errorf("client secret not issued: %w", err)
		}
	}
	if err := st.CreateClient(ctx, c); err != nil {
		return err
	}
	return writeOut(e.stdout, struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret,omitempty"`
	}{c.ID, secret})
}

// applyClientKeys makes c a private_key_jwt client with the keys of sp,
// checked by the same rules as a dynamic registration's.
func applyClientKeys(c *store.Client, sp clientSpec, defaultScopes []string, known map[string]bool, allowLoopback bool) error {
	md := map[string]any{
		"client_name":                c.Name,
		"redirect_uris":              c.RedirectURIs,
		"grant_types":                c.GrantTypes,
		"scope":                      strings.Join(c.Scopes, " "),
		"token_endpoint_auth_method": "private_key_jwt",
	}
	if sp.jwksURI != "" {
		md["jwks_uri"] = sp.jwksURI
	}
	if sp.jwksFile != "" {
		raw, err := os.ReadFile(sp.jwksFile)
		if err != nil {
			return fmt.Errorf("--jwks-file: %w", err)
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(raw, &probe); err != nil {
			return fmt.Errorf("--jwks-file %s: not a JSON object: %w", sp.jwksFile, err)
		}
		if _, single := probe["kty"]; single {
			raw = []byte(`{"keys":[` + string(raw) + `]}`) // one JWK: make it a set
		}
		md["jwks"] = json.RawMessage(raw)
	}
	if sp.signingAlg != "" {
		md["token_endpoint_auth_signing_alg"] = sp.signingAlg
	}
	body, err := json.Marshal(md)
	if err != nil {
		return fmt.Errorf("--jwks-file: %w", err)
	}
	p := authz.MetadataPolicy{DefaultScopes: defaultScopes, AllowLoopbackFetch: allowLoopback}
	for s := range known {
		p.Scopes = append(p.Scopes, s)
	}
	parsed, err := authz.ParseClientMetadata(body, p)
	if err != nil {
		if e, ok := errors.AsType[*authz.Error](err); ok {
			return errors.New(e.Description)
		}
		return err
	}
	parsed.ApplyTo(c)
	return nil
}
