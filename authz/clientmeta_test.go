package authz

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauthz/mcpauthz/store"
)

var testMetadataPolicy = MetadataPolicy{
	Scopes:        []string{"docs:read", "docs:write"},
	DefaultScopes: []string{"docs:read"},
}

func TestParseClientMetadataRealClients(t *testing.T) {
	codeRefresh := []string{"authorization_code", "refresh_token"}
	tests := []struct {
		name string
		body string
		want ClientMetadata
	}{{
		name: "claude web connector",
		body: `{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],
			"grant_types":["authorization_code","refresh_token"],"response_types":["code"],
			"token_endpoint_auth_method":"client_secret_post","scope":"docs:read"}`,
		want: ClientMetadata{
			ClientName:              "Claude",
			RedirectURIs:            []string{"https://claude.ai/api/mcp/auth_callback"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post",
			Scope:                   "docs:read",
		},
	}, {
		name: "claude desktop",
		body: `{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],
			"grant_types":["authorization_code","refresh_token"],"response_types":["code"],
			"token_endpoint_auth_method":"none"}`,
		want: ClientMetadata{
			ClientName:              "Claude",
			RedirectURIs:            []string{"https://claude.ai/api/mcp/auth_callback"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			Scope:                   "docs:read",
		},
	}, {
		name: "cursor",
		body: `{"redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback",
			"https://www.cursor.com/agents/mcp/oauth/callback","http://localhost:8787/callback"],
			"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],
			"response_types":["code"],"client_name":"Cursor"}`,
		want: ClientMetadata{
			ClientName: "Cursor",
			RedirectURIs: []string{"cursor://anysphere.cursor-mcp/oauth/callback",
				"https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			Scope:                   "docs:read",
		},
	}, {
		// VS Code filters its grant types by our grant_types_supported.
		name: "vs code",
		body: `{"client_name":"Visual Studio Code","client_uri":"https://code.visualstudio.com",
			"grant_types":["authorization_code","refresh_token"],"response_types":["code"],
			"redirect_uris":["https://insiders.vscode.dev/redirect","https://vscode.dev/redirect",
			"http://127.0.0.1/","http://127.0.0.1:33418/"],
			"token_endpoint_auth_method":"none","application_type":"native"}`,
		want: ClientMetadata{
			ClientName: "Visual Studio Code",
			ClientURI:  "https://code.visualstudio.com",
			RedirectURIs: []string{"https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect",
				"http://127.0.0.1/", "http://127.0.0.1:33418/"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			Scope:                   "docs:read",
			ApplicationType:         "native",
		},
	}, {
		name: "mcp inspector",
		body: `{"redirect_uris":["http://localhost:6274/oauth/callback","http://localhost:6274/oauth/callback/debug"],
			"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],
			"response_types":["code"],"client_name":"MCP Inspector",
			"client_uri":"https://github.com/modelcontextprotocol/inspector","scope":"docs:read docs:write"}`,
		want: ClientMetadata{
			ClientName:              "MCP Inspector",
			ClientURI:               "https://github.com/modelcontextprotocol/inspector",
			RedirectURIs:            []string{"http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			Scope:                   "docs:read docs:write",
		},
	}, {
		name: "chatgpt",
		body: `{"client_name":"ChatGPT","redirect_uris":["https://chatgpt.com/connector_platform_oauth_redirect"],
			"grant_types":["authorization_code","refresh_token"],"response_types":["code"],
			"token_endpoint_auth_method":"none"}`,
		want: ClientMetadata{
			ClientName:              "ChatGPT",
			RedirectURIs:            []string{"https://chatgpt.com/connector_platform_oauth_redirect"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			Scope:                   "docs:read",
		},
	}, {
		name: "bare minimum takes RFC 7591 defaults",
		body: `{"redirect_uris":["https://a.example/cb"]}`,
		want: ClientMetadata{
			RedirectURIs:            []string{"https://a.example/cb"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_basic",
			Scope:                   "docs:read",
		},
	}, {
		name: "every descriptive field, nulls, unknown members and duplicates",
		body: `{"redirect_uris":["https://a.example/cb","https://a.example/cb"],"client_name":"Ünïcode 名前 🚀",
			"client_uri":"https://a.example","logo_uri":"https://a.example/logo.png","tos_uri":"https://a.example/tos#terms",
			"policy_uri":"http://localhost:8080/privacy","contacts":["ops@a.example","ops@a.example","+1 555 0100"],
			"software_id":"4NRB1-0XZABZI9E6-5SM3R","software_version":"2.1.0",
			"scope":"docs:write  docs:read offline_access docs:write","jwks_uri":null,"client_id":"chosen",
			"client_secret":"chosen","client_name#fr":"Nom","extra":{"nested":[1,2,null]},"application_type":null,
			"grant_types":["refresh_token","authorization_code","refresh_token"]}`,
		want: ClientMetadata{
			RedirectURIs:            []string{"https://a.example/cb"},
			ClientName:              "Ünïcode 名前 🚀",
			ClientURI:               "https://a.example",
			LogoURI:                 "https://a.example/logo.png",
			TOSURI:                  "https://a.example/tos#terms",
			PolicyURI:               "http://localhost:8080/privacy",
			Contacts:                []string{"ops@a.example", "+1 555 0100"},
			SoftwareID:              "4NRB1-0XZABZI9E6-5SM3R",
			SoftwareVersion:         "2.1.0",
			Scope:                   "docs:write docs:read",
			GrantTypes:              []string{"refresh_token", "authorization_code"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_basic",
		},
	}, {
		name: "confidential machine client",
		body: `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","client_name":"batch"}`,
		want: ClientMetadata{
			ClientName:              "batch",
			GrantTypes:              []string{"client_credentials"},
			TokenEndpointAuthMethod: "client_secret_basic",
			Scope:                   "docs:read",
		},
	}, {
		name: "only offline_access takes the default scopes",
		body: `{"redirect_uris":["https://a.example/cb"],"scope":"offline_access","token_endpoint_auth_method":"none"}`,
		want: ClientMetadata{
			RedirectURIs:            []string{"https://a.example/cb"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			Scope:                   "docs:read",
		},
	}, {
		name: "scopes this server does not know are dropped (openid, profile), the known kept",
		body: `{"redirect_uris":["https://a.example/cb"],"scope":"openid docs:write profile","token_endpoint_auth_method":"none"}`,
		want: ClientMetadata{
			RedirectURIs:            []string{"https://a.example/cb"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			Scope:                   "docs:write",
		},
	}, {
		name: "only unknown scopes take the default scopes",
		body: `{"redirect_uris":["https://a.example/cb"],"scope":"openid email","token_endpoint_auth_method":"none"}`,
		want: ClientMetadata{
			RedirectURIs:            []string{"https://a.example/cb"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			Scope:                   "docs:read",
		},
	}, {
		name: "empty lists and blank name count as absent",
		body: `{"redirect_uris":["https://a.example/cb"],"grant_types":[],"response_types":[],"contacts":[],
			"client_name":"   ","scope":""}`,
		want: ClientMetadata{
			RedirectURIs:            []string{"https://a.example/cb"},
			GrantTypes:              codeRefresh,
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_basic",
			Scope:                   "docs:read",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClientMetadata([]byte(tt.body), testMetadataPolicy)
			if err != nil {
				t.Fatalf("ParseClientMetadata: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ParseClientMetadata:\n got %+v\nwant %+v", *got, tt.want)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "null") {
				t.Errorf("JSON has null: %s", b)
			}
		})
	}
}

func TestParseClientMetadataErrors(t *testing.T) {
	const redirect = `"redirect_uris":["https://a.example/cb"]`
	long := strings.Repeat("a", 201)
	tests := []struct {
		name     string
		body     string
		policy   *MetadataPolicy
		code     string
		contains string // in the description
	}{
		{"empty body", ``, nil, codeInvalidClientMetadata, "empty"},
		{"not json", `client_name=x`, nil, codeInvalidClientMetadata, "not valid JSON"},
		{"truncated", `{"redirect_uris":["https://a.example/cb"]`, nil, codeInvalidClientMetadata, "not valid JSON"},
		{"array", `[]`, nil, codeInvalidClientMetadata, "JSON object"},
		{"string", `"x"`, nil, codeInvalidClientMetadata, "JSON object"},
		{"null", `null`, nil, codeInvalidClientMetadata, "JSON object"},
		{"trailing object", `{` + redirect + `}{}`, nil, codeInvalidClientMetadata, "nothing after"},
		{"trailing garbage", `{` + redirect + `} x`, nil, codeInvalidClientMetadata, "nothing after"},
		{"redirect_uris string", `{"redirect_uris":"https://a.example/cb"}`, nil, codeInvalidClientMetadata, "redirect_uris must be an array of strings"},
		{"redirect_uris numbers", `{"redirect_uris":[1]}`, nil, codeInvalidClientMetadata, "redirect_uris must be an array of strings"},
		{"redirect_uris null entry", `{"redirect_uris":[null]}`, nil, codeInvalidClientMetadata, "redirect_uris must be an array of strings"},
		{"client_name number", `{` + redirect + `,"client_name":7}`, nil, codeInvalidClientMetadata, "client_name must be a string"},
		{"scope array", `{` + redirect + `,"scope":["docs:read"]}`, nil, codeInvalidClientMetadata, "scope must be a string"},
		{"grant_types string", `{` + redirect + `,"grant_types":"authorization_code"}`, nil, codeInvalidClientMetadata, "grant_types must be an array of strings"},
		{"contacts object", `{` + redirect + `,"contacts":{}}`, nil, codeInvalidClientMetadata, "contacts must be an array of strings"},
		{"auth method bool", `{` + redirect + `,"token_endpoint_auth_method":true}`, nil, codeInvalidClientMetadata, "token_endpoint_auth_method must be a string"},

		{"private_key_jwt without keys", `{` + redirect + `,"token_endpoint_auth_method":"private_key_jwt"}`, nil, codeInvalidClientMetadata, "send jwks or jwks_uri"},
		{"tls auth", `{` + redirect + `,"token_endpoint_auth_method":"tls_client_auth"}`, nil, codeInvalidClientMetadata, "tls_client_auth"},
		{"implicit grant", `{` + redirect + `,"grant_types":["implicit"]}`, nil, codeInvalidClientMetadata, "implicit"},
		{"password grant", `{` + redirect + `,"grant_types":["password"]}`, nil, codeInvalidClientMetadata, `'password' is not supported`},
		{"device grant", `{` + redirect + `,"grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:device_code"]}`, nil, codeInvalidClientMetadata, "device_code"},
		{"public client_credentials", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, nil, codeInvalidClientMetadata, "confidential"},
		{"refresh alone", `{"grant_types":["refresh_token"],"token_endpoint_auth_method":"client_secret_basic"}`, nil, codeInvalidClientMetadata, "refresh_token requires authorization_code"},
		{"token response type", `{` + redirect + `,"response_types":["token"]}`, nil, codeInvalidClientMetadata, `'token'`},
		{"quote and backslash in a value", `{` + redirect + `,"grant_types":["pa\\\"ss\u00e9"]}`, nil, codeInvalidClientMetadata, `'pa??ss??'`},
		{"code id_token", `{` + redirect + `,"response_types":["code id_token"]}`, nil, codeInvalidClientMetadata, "code id_token"},
		{"code without grant", `{"grant_types":["client_credentials"],"response_types":["code"]}`, nil, codeInvalidClientMetadata, "RFC 7591 §2.1"},

		{"no redirect", `{}`, nil, codeInvalidRedirectURI, "redirect_uris is required"},
		{"empty redirect list", `{"redirect_uris":[]}`, nil, codeInvalidRedirectURI, "redirect_uris is required"},
		{"javascript redirect", `{"redirect_uris":["javascript:alert(1)"]}`, nil, codeInvalidRedirectURI, "javascript"},
		{"one bad redirect among good", `{"redirect_uris":["https://a.example/cb","http://evil.com/cb"]}`, nil, codeInvalidRedirectURI, "http://evil.com/cb"},
		{"too many redirects", `{"redirect_uris":[` + strings.TrimSuffix(strings.Repeat(`"https://a.example/cb",`, 21), ",") + `]}`, nil, codeInvalidRedirectURI, "more than 20"},
		{"redirect not allowed", `{"redirect_uris":["https://evil.com/cb"]}`, &MetadataPolicy{Scopes: []string{"docs:read"}, AllowedRedirectHosts: []string{"*.example.com"}}, codeInvalidRedirectURI, "does not allow"},

		{"tab in scope", `{` + redirect + `,"scope":"docs:read\tdocs:write"}`, nil, codeInvalidClientMetadata, "not a valid scope token"},
		{"quote in scope", `{` + redirect + `,"scope":"docs:read \"x\""}`, nil, codeInvalidClientMetadata, "not a valid scope token"},
		{"long scope", `{` + redirect + `,"scope":"` + strings.Repeat("docs:read ", 300) + `"}`, nil, codeInvalidClientMetadata, "longer than"},

		{"long name", `{` + redirect + `,"client_name":"` + long + `"}`, nil, codeInvalidClientMetadata, "client_name is longer than 200"},
		{"newline in name", `{` + redirect + `,"client_name":"Claude\nApproved by admin"}`, nil, codeInvalidClientMetadata, "client_name must not contain control"},
		{"bidi override in name", `{` + redirect + `,"client_name":"Good \u202eliamG"}`, nil, codeInvalidClientMetadata, "bidirectional"},
		{"control in software_id", `{` + redirect + `,"software_id":"a\u0000b"}`, nil, codeInvalidClientMetadata, "software_id"},
		{"long software_version", `{` + redirect + `,"software_version":"` + long + `"}`, nil, codeInvalidClientMetadata, "software_version"},
		{"javascript logo", `{` + redirect + `,"logo_uri":"javascript:alert(1)"}`, nil, codeInvalidClientMetadata, "logo_uri"},
		{"data logo", `{` + redirect + `,"logo_uri":"data:image/svg+xml,<svg onload=alert(1)>"}`, nil, codeInvalidClientMetadata, "logo_uri"},
		{"http client_uri", `{` + redirect + `,"client_uri":"http://a.example"}`, nil, codeInvalidClientMetadata, "client_uri"},
		{"relative tos", `{` + redirect + `,"tos_uri":"/tos"}`, nil, codeInvalidClientMetadata, "tos_uri"},
		{"user info policy", `{` + redirect + `,"policy_uri":"https://u@a.example/p"}`, nil, codeInvalidClientMetadata, "policy_uri"},
		{"empty contact", `{` + redirect + `,"contacts":[""]}`, nil, codeInvalidClientMetadata, "contacts"},
		{"too many contacts", `{` + redirect + `,"contacts":["a","b","c","d","e","f","g","h","i","j","k"]}`, nil, codeInvalidClientMetadata, "contacts"},
		{"bad application_type", `{` + redirect + `,"application_type":"browser"}`, nil, codeInvalidClientMetadata, "application_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testMetadataPolicy
			if tt.policy != nil {
				p = *tt.policy
			}
			md, err := ParseClientMetadata([]byte(tt.body), p)
			if err == nil {
				t.Fatalf("ParseClientMetadata accepted %s as %+v", tt.body, md)
			}
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			if e.Code != tt.code || e.Status != 400 {
				t.Errorf("error = %s (status %d), want %s (400)", e.Code, e.Status, tt.code)
			}
			if !strings.Contains(e.Description, tt.contains) {
				t.Errorf("description %q does not contain %q", e.Description, tt.contains)
			}
			if len(e.Description) > 500 {
				t.Errorf("description is %d bytes long", len(e.Description))
			}
		})
	}
}

func TestClientMetadataStoreRoundTrip(t *testing.T) {
	for _, body := range []string{
		`{"redirect_uris":["https://a.example/cb"],"client_name":"A","client_uri":"https://a.example",
		  "logo_uri":"https://a.example/l.png","tos_uri":"https://a.example/t","policy_uri":"https://a.example/p",
		  "contacts":["x@a.example"],"software_id":"id","software_version":"1","application_type":"web",
		  "scope":"docs:write","token_endpoint_auth_method":"client_secret_post"}`,
		`{"redirect_uris":["http://127.0.0.1/"],"token_endpoint_auth_method":"none"}`,
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/jwks.json","token_endpoint_auth_signing_alg":"EdDSA"}`,
		`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"<1>","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}`,
	} {
		md, err := ParseClientMetadata([]byte(body), testMetadataPolicy)
		if err != nil {
			t.Fatal(err)
		}
		var c store.Client
		md.ApplyTo(&c)
		if md.ClientName == "" && c.Name != unnamedClientName {
			t.Errorf("Name = %q, want %q", c.Name, unnamedClientName)
		}
		if got := strings.Join(c.Scopes, " "); got != md.Scope {
			t.Errorf("Scopes = %q, want %q", got, md.Scope)
		}
		back, err := ClientMetadataOf(&c)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, md) {
			t.Errorf("round trip:\n got %+v\nwant %+v", back, md)
		}
	}

	// A client made on the command line has no Metadata; its name shows.
	cli := &store.Client{ID: "cli", Name: "Batch job", GrantTypes: []string{"client_credentials"}, Scopes: []string{"docs:read"}, TokenEndpointAuthMethod: "client_secret_basic"}
	md, err := ClientMetadataOf(cli)
	if err != nil {
		t.Fatal(err)
	}
	if md.ClientName != "Batch job" || md.Scope != "docs:read" {
		t.Errorf("ClientMetadataOf(cli) = %+v", md)
	}
	if _, err := ClientMetadataOf(&store.Client{ID: "x", Metadata: []byte("[")}); err == nil {
		t.Error("ClientMetadataOf accepted corrupt Metadata")
	}
}

func TestMetadataPolicyFromConfig(t *testing.T) {
	cfg := Config{
		Scopes:        []Scope{{Name: "a"}, {Name: "b"}},
		DefaultScopes: []string{"a"},
		Registration:  RegistrationPolicy{AllowedRedirectHosts: []string{"x.example"}},
	}
	want := MetadataPolicy{Scopes: []string{"a", "b"}, DefaultScopes: []string{"a"}, AllowedRedirectHosts: []string{"x.example"}}
	if got := metadataPolicy(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("metadataPolicy = %+v, want %+v", got, want)
	}
}

// FuzzParseClientMetadata checks that ParseClientMetadata never panics,
// fails only with the two RFC 7591 codes, and that what it accepts is
// consistent and safe.
func FuzzParseClientMetadata(f *testing.F) {
	for _, s := range []string{
		`{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"client_secret_post"}`,
		`{"redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback","https://www.cursor.com/agents/mcp/oauth/callback","http://localhost:8787/callback"],"token_endpoint_auth_method":"none"}`,
		`{"redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],"application_type":"native","client_uri":"https://code.visualstudio.com"}`,
		`{"redirect_uris":["javascript:alert(1)"]}`,
		`{"redirect_uris":["JAVASCRIPT:alert(1)"]}`,
		`{"redirect_uris":["data:text/html,x"]}`,
		`{"grant_types":["client_credentials"],"scope":"docs:read offline_access"}`,
		`{"redirect_uris":[null],"client_name":null}`,
		`{"logo_uri":"javascript:x","redirect_uris":["https://a.example/cb"]}`,
		`{"contacts":["a","a"],"redirect_uris":["https://a.example/cb"],"scope":"  docs:write "}`,
		`{} {}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		md, err := ParseClientMetadata(body, testMetadataPolicy)
		if err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok || (e.Code != codeInvalidClientMetadata && e.Code != codeInvalidRedirectURI) || e.Status != 400 {
				t.Fatalf("error %v is not a 400 invalid_client_metadata or invalid_redirect_uri", err)
			}
			return
		}
		checkAcceptedMetadata(t, md)
	})
}

// checkAcceptedMetadata fails t unless md, accepted by ParseClientMetadata
// under testMetadataPolicy, is consistent and safe, survives the store
// round trip and parses back to itself from its own JSON echo.
func checkAcceptedMetadata(t *testing.T, md *ClientMetadata) {
	t.Helper()
	for _, u := range md.RedirectURIs {
		if err := ValidateRedirectURI(u, nil); err != nil {
			t.Fatalf("accepted redirect URI %q fails validation: %v", u, err)
		}
		checkSafeRedirectURI(t, u)
	}
	code := slices.Contains(md.GrantTypes, "authorization_code")
	if code && len(md.RedirectURIs) == 0 {
		t.Fatal("authorization_code client without redirect URIs")
	}
	if code != slices.Equal(md.ResponseTypes, []string{"code"}) || (!code && len(md.ResponseTypes) != 0) {
		t.Fatalf("grant types %q inconsistent with response types %q", md.GrantTypes, md.ResponseTypes)
	}
	for _, g := range md.GrantTypes {
		if !slices.Contains([]string{"authorization_code", "refresh_token", "client_credentials"}, g) {
			t.Fatalf("accepted grant type %q", g)
		}
	}
	if md.TokenEndpointAuthMethod == "none" && slices.Contains(md.GrantTypes, "client_credentials") {
		t.Fatal("public client with client_credentials")
	}
	if !slices.Contains([]string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"}, md.TokenEndpointAuthMethod) {
		t.Fatalf("accepted auth method %q", md.TokenEndpointAuthMethod)
	}
	for _, s := range strings.Fields(md.Scope) {
		if !slices.Contains(testMetadataPolicy.Scopes, s) {
			t.Fatalf("accepted scope %q", s)
		}
	}
	if md.Scope == "" {
		t.Fatal("empty scope")
	}
	if keyed := len(md.JWKS) > 0 || md.JWKSURI != ""; keyed != (md.TokenEndpointAuthMethod == "private_key_jwt") {
		t.Fatalf("auth method %s with jwks %s jwks_uri %q", md.TokenEndpointAuthMethod, md.JWKS, md.JWKSURI)
	}
	for _, u := range []string{md.ClientURI, md.LogoURI, md.TOSURI, md.PolicyURI} {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			t.Fatalf("accepted descriptive URL %q", u)
		}
	}
	var c store.Client
	md.ApplyTo(&c)
	back, err := ClientMetadataOf(&c)
	if err != nil || !reflect.DeepEqual(back, md) {
		t.Fatalf("store round trip: %v\n got %+v\nwant %+v", err, back, md)
	}
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseClientMetadata(b, testMetadataPolicy)
	if err != nil || !reflect.DeepEqual(again, md) {
		t.Fatalf("re-parsing the echo %s: %v\n got %+v\nwant %+v", b, err, again, md)
	}
}

// FuzzClientMetadataFields drives ParseClientMetadata with well-formed JSON
// built from fuzzed values, which reaches the validation rules far more
// often than random bytes do.
func FuzzClientMetadataFields(f *testing.F) {
	f.Add("https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1:33418/", "Claude", "docs:read", "client_secret_post", "refresh_token", "https://claude.ai/logo.png")
	f.Add("cursor://anysphere.cursor-mcp/oauth/callback", "http://localhost:8787/callback", "Cursor", "", "none", "authorization_code", "")
	f.Add("JAVASCRIPT:alert(1)", "data:text/html,x", "\u202e", "offline_access", "private_key_jwt", "client_credentials", "javascript:x")
	f.Fuzz(func(t *testing.T, redirect1, redirect2, name, scope, method, grant, logo string) {
		body, err := json.Marshal(map[string]any{
			"redirect_uris":              []string{redirect1, redirect2},
			"client_name":                name,
			"scope":                      scope,
			"token_endpoint_auth_method": method,
			"grant_types":                []string{"authorization_code", grant},
			"logo_uri":                   logo,
		})
		if err != nil {
			t.Fatal(err)
		}
		md, err := ParseClientMetadata(body, testMetadataPolicy)
		if err != nil {
			if e, ok := errors.AsType[*Error](err); !ok || (e.Code != codeInvalidClientMetadata && e.Code != codeInvalidRedirectURI) {
				t.Fatalf("error %v is not invalid_client_metadata or invalid_redirect_uri", err)
			}
			return
		}
		checkAcceptedMetadata(t, md)
	})
}
