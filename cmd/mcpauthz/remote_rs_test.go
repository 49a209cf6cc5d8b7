package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startResourceServer runs `mcpauthz serve` in resource-only mode in a
// second process (this test binary, see TestMain) against the
// authorization server as, and returns when it is ready. Its database
// holds a public document and one private to another user; it returns the
// ID of the private one.
func startResourceServer(t *testing.T, as *testServer, addr string, env ...string) (privateID string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "rs.db")
	master := as.App.Config.MasterKey
	doc, private := filepath.Join(t.TempDir(), "notes.md"), filepath.Join(t.TempDir(), "plans.md")
	os.WriteFile(doc, []byte("# Quarterly zanzibar notes\n\nThe zanzibar rollout is on track."), 0o644)
	os.WriteFile(private, []byte("# Secret zanzibar plans\n\nNot for everyone."), 0o644)
	cli := func(args ...string) string {
		var out, errb strings.Builder
		if code := run(t.Context(), append(args, "--db", db), strings.NewReader(""), &out, &errb, envOf(map[string]string{"MCPAUTHZ_MASTER_KEY": master})); code != 0 {
			t.Fatalf("%s: %s", strings.Join(args, " "), errb.String())
		}
		return out.String()
	}
	cli("docs", "import", doc, "--public")
	cli("docs", "import", private, "--owner-id", "someone-else")
	var listed []struct{ ID, Title string }
	if err := json.Unmarshal([]byte(cli("docs", "list")), &listed); err != nil {
		t.Fatal(err)
	}
	for _, d := range listed {
		if d.Title == "Secret zanzibar plans" {
			privateID = d.ID
		}
	}
	if privateID == "" {
		t.Fatalf("the private document is not listed: %v", listed)
	}
	logs := newTestLog(t, "resource server log")
	cmd := exec.Command(os.Args[0], "serve", "--db", db, "--addr", addr)
	cmd.Env = append(os.Environ(),
		"MCPAUTHZ_TEST_RUN_MAIN=1",
		"MCPAUTHZ_MASTER_KEY="+master,
		"MCPAUTHZ_LOG_LEVEL=debug",
		"MCPAUTHZ_MCP_AUTHORIZATION_SERVER="+as.URL,
		"MCPAUTHZ_MCP_RESOURCE=http://"+addr+"/mcp",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("resource server did not stop cleanly: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("resource server did not stop within 30 s of SIGTERM")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return privateID
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("resource server exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("resource server not ready:\n%s", logs.String())
		}
	}
}

// TestResourceServerInSecondProcess runs the MCP resource on its own, in
// another process, against a running authorization server: once verifying
// JWT access tokens with the JWKS, once introspecting every token.
func TestResourceServerInSecondProcess(t *testing.T) {
	for _, mode := range []string{"jwks", "introspection"} {
		t.Run(mode, func(t *testing.T) {
			rsAddr := freeAddr(t)
			rsURL := "http://" + rsAddr + "/mcp"
			as := startServer(t, withConfig(func(fc *FileConfig) { fc.Resources = []string{fc.Issuer + "/mcp", rsURL} }))
			var out, errb strings.Builder
			code := run(t.Context(), []string{"client", "add", "--name", "resource server", "--grant", "client_credentials", "--introspect", "--db", as.App.Config.DB},
				strings.NewReader(""), &out, &errb, envOf(map[string]string{"MCPAUTHZ_MASTER_KEY": as.App.Config.MasterKey}))
			var creds map[string]string
			if code != 0 || json.Unmarshal([]byte(out.String()), &creds) != nil {
				t.Fatalf("client add: %d %s %s", code, out.String(), errb.String())
			}
			env := []string{"MCPAUTHZ_MCP_INTROSPECTION_CLIENT_ID=" + creds["client_id"], "MCPAUTHZ_MCP_INTROSPECTION_CLIENT_SECRET=" + creds["client_secret"]}
			if mode == "introspection" {
				env = append(env, "MCPAUTHZ_MCP_ALWAYS_INTROSPECT=true", "MCPAUTHZ_MCP_INTROSPECTION_CACHE_TTL=1ms")
			}
			privateID := startResourceServer(t, as, rsAddr, env...)

			// A person's token for the remote resource, from the real flow.
			as.Resource = rsURL
			client := as.registerPublic(t, "remote app", "http://127.0.0.1:9/callback")
			tok := newFormBrowser(t, as, as.UserName, as.Password).authorize(t, client.ClientID, "http://127.0.0.1:9/callback")

			ctx, cancel := context.WithTimeout(t.Context(), e2eTimeout)
			defer cancel()
			u := connectMCP(ctx, t, as, "alice", tok.AccessToken)
			isErr, text := u.call(ctx, t, "search", map[string]any{"query": "zanzibar"})
			var found struct {
				Results []struct{ ID, Title, URL string } `json:"results"`
			}
			if isErr || json.Unmarshal([]byte(text), &found) != nil || len(found.Results) != 1 {
				t.Fatalf("search on the remote resource: %v %s", isErr, text)
			}
			// Document pages live on the resource server's own origin, for
			// public documents; nobody signs in there, so a private one is
			// answered like one that does not exist.
			if r := found.Results[0]; r.URL != "http://"+rsAddr+"/docs/"+r.ID {
				t.Errorf("result url %s, want the resource server's /docs/%s", r.URL, r.ID)
			}
			if status, body := getPage(t, found.Results[0].URL); status != http.StatusOK ||
				!strings.Contains(body, "<h1 id=\"doc-heading\">Quarterly zanzibar notes</h1>") ||
				!strings.Contains(body, "The zanzibar rollout is on track.") || strings.Contains(body, "Signed in as") {
				t.Errorf("public document page: %d %s", status, body)
			}
			for _, id := range []string{privateID, "no-such-document"} {
				if status, body := getPage(t, "http://"+rsAddr+"/docs/"+id); status != http.StatusNotFound ||
					strings.Contains(body, "Secret zanzibar plans") || !strings.Contains(body, "Document not found") {
					t.Errorf("page of %s: %d %s", id, status, body)
				}
			}
			if status, body := getPage(t, "http://"+rsAddr+"/static/style.css"); status != http.StatusOK || body == "" {
				t.Errorf("the page's stylesheet: %d", status)
			}
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			if resp, err := noFollow.Get("http://" + rsAddr + "/"); err != nil {
				t.Error(err)
			} else if resp.Body.Close(); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != as.URL+"/" {
				t.Errorf("the resource server's home: %d to %q, want 302 to the issuer", resp.StatusCode, resp.Header.Get("Location"))
			}

			// A token for another resource is refused there.
			as.Resource = as.URL + "/mcp"
			other := newFormBrowser(t, as, as.UserName, as.Password).authorize(t, client.ClientID, "http://127.0.0.1:9/callback")
			if status, challenge := postMCP(t, rsURL, other.AccessToken); status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
				t.Errorf("token for another audience: %d %q", status, challenge)
			}

			// Revocation: introspection sees it at once; JWT verification
			// only when the token expires (as the README says).
			resp, err := http.PostForm(as.URL+"/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {client.ClientID}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			status, challenge := postMCP(t, rsURL, tok.AccessToken)
			switch mode {
			case "introspection":
				if status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
					t.Errorf("revoked token with introspection: %d %q, want 401 invalid_token", status, challenge)
				}
			case "jwks":
				if status != http.StatusOK {
					t.Errorf("revoked JWT verified offline: %d %q, want it accepted until it expires", status, challenge)
				}
			}
		})
	}
}

// postMCP sends one tools/list request and returns the status and the
// WWW-Authenticate header.
func postMCP(t *testing.T, endpoint, token string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// getPage GETs u and returns the status and the body.
func getPage(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
