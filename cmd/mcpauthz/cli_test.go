package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs one command in-process against db and returns its exit code,
// stdout and stderr.
func cli(t *testing.T, db, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	args = append(args, "--db", db)
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errb, envOf(map[string]string{"MCPAUTHZ_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}))
	return code, out.String(), errb.String()
}

func TestUserCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	if code, _, errs := cli(t, db, "s3cret-password\n", "user", "add", "bob", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	if code, _, errs := cli(t, db, "another-pass\n", "user", "add", "bob", "--password-stdin"); code != 1 || !strings.Contains(errs, "already exists") {
		t.Errorf("duplicate user add: %d %q", code, errs)
	}
	if code, _, errs := cli(t, db, "", "user", "add", "carol"); code != 2 || !strings.Contains(errs, "--password-stdin") {
		t.Errorf("user add without --password-stdin: %d %q", code, errs)
	}
	if code, _, errs := cli(t, db, "short\n", "user", "add", "carol", "--password-stdin"); code != 1 || !strings.Contains(errs, "at least") {
		t.Errorf("short password: %d %q", code, errs)
	}
	if code, _, errs := cli(t, db, strings.Repeat("p", 5000)+"\n", "user", "add", "carol", "--password-stdin"); code != 1 || !strings.Contains(errs, "at most 4096") {
		t.Errorf("a password too long to read whole: %d %q, want it refused, never cut short", code, errs)
	}
	code, out, _ := cli(t, db, "", "user", "list")
	var users []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &users) != nil || len(users) != 1 || users[0]["name"] != "bob" {
		t.Fatalf("user list: %d %q", code, out)
	}
	if strings.Contains(out, "argon2") {
		t.Error("user list prints password hashes")
	}
	if code, _, errs := cli(t, db, "new-password-1\n", "user", "passwd", "bob", "--password-stdin"); code != 0 {
		t.Errorf("passwd: %d %s", code, errs)
	}
	if code, _, errs := cli(t, db, "new-password-1\n", "user", "passwd", "nobody", "--password-stdin"); code != 1 || !strings.Contains(errs, "no user") {
		t.Errorf("passwd unknown: %d %q", code, errs)
	}
	if code, _, _ := cli(t, db, "", "user", "delete", "bob"); code != 0 {
		t.Error("user delete failed")
	}
	if _, out, _ := cli(t, db, "", "user", "list"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after delete: %q", out)
	}
}

func TestClientCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	code, out, errs := cli(t, db, "", "client", "add", "--name", "Service", "--redirect-uri", "https://svc.example/cb", "--introspect")
	var conf map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &conf) != nil || conf["client_id"] == "" || len(conf["client_secret"]) < 40 {
		t.Fatalf("client add: %d %q %q", code, out, errs)
	}
	code, out, _ = cli(t, db, "", "client", "add", "--name", "Desktop", "--public", "--redirect-uri", "http://127.0.0.1/cb")
	var pub map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &pub) != nil || pub["client_secret"] != nil {
		t.Fatalf("public client add: %d %q", code, out)
	}
	for _, bad := range [][]string{
		{"client", "add", "--redirect-uri", "https://a.example/cb"},
		{"client", "add", "--name", "x", "--public", "--introspect", "--redirect-uri", "https://a.example/cb"},
		{"client", "add", "--name", "x", "--grant", "password", "--redirect-uri", "https://a.example/cb"},
		{"client", "add", "--name", "x"},
		{"client", "add", "--name", "x", "--scope", "nope", "--redirect-uri", "https://a.example/cb"},
	} {
		if code, _, _ := cli(t, db, "", bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	if code, _, errs := cli(t, db, "", "client", "add", "--name", "x", "--redirect-uri", "javascript:alert(1)"); code != 1 || !strings.Contains(errs, "redirect") {
		t.Errorf("javascript redirect: %d %q", code, errs)
	}
	code, out, _ = cli(t, db, "", "client", "list")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("client list: %d %q", code, out)
	}
	if strings.Contains(out, conf["client_secret"]) {
		t.Error("client list prints a secret")
	}
	if code, _, _ := cli(t, db, "", "client", "delete", conf["client_id"]); code != 0 {
		t.Error("client delete failed")
	}
	if code, _, errs := cli(t, db, "", "client", "delete", conf["client_id"]); code != 1 || !strings.Contains(errs, "no client") {
		t.Errorf("second delete: %d %q", code, errs)
	}
}

func TestKeysCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	code, out, errs := cli(t, db, "", "keys", "list")
	var keys []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 1 || keys[0]["signing"] != true || keys[0]["alg"] != "ES256" {
		t.Fatalf("keys list on a new database: %d %q %q", code, out, errs)
	}
	first := keys[0]["kid"]
	code, out, _ = cli(t, db, "", "keys", "rotate")
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 2 {
		t.Fatalf("keys rotate: %d %q", code, out)
	}
	for _, k := range keys {
		if k["kid"] == first && (k["signing"] != false || k["published"] != true || k["retired_at"] == nil) {
			t.Errorf("old key after rotation: %v (want retired, still published)", k)
		}
		if k["kid"] != first && k["signing"] != true {
			t.Errorf("new key is not signing: %v", k)
		}
	}
	if strings.Contains(out, "PRIVATE") || strings.Contains(out, `"d"`) {
		t.Error("keys list prints private key material")
	}
	// A different master key cannot open the stored keys.
	var stdout, stderr strings.Builder
	code = run(t.Context(), []string{"keys", "list", "--db", db}, strings.NewReader(""), &stdout, &stderr, envOf(map[string]string{"MCPAUTHZ_MASTER_KEY": "ZGlmZmVyZW50LWRpZmZlcmVudC1kaWZmZXJlbnQtZGlmZmVyZW50"}))
	if code != 1 || !strings.Contains(stderr.String(), "master key") {
		t.Errorf("wrong master key: %d %q", code, stderr.String())
	}
}

// TestClientAddRefusesAnotherMasterKey: a client secret hashed under
// another master key than the one the server's signing keys are stored
// under would never work; client add refuses to issue it and stores no
// client.
func TestClientAddRefusesAnotherMasterKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	if code, _, errs := cli(t, db, "", "keys", "list"); code != 0 { // stores the first signing key
		t.Fatalf("keys list: %d %s", code, errs)
	}
	var out, errb strings.Builder
	other := envOf(map[string]string{"MCPAUTHZ_MASTER_KEY": "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="})
	code := run(t.Context(), []string{"client", "add", "--name", "svc", "--grant", "client_credentials", "--db", db},
		strings.NewReader(""), &out, &errb, other)
	if code != 1 || !strings.Contains(errb.String(), "was the master key changed?") || strings.Contains(out.String(), "client_secret") {
		t.Errorf("client add under another master key: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if _, list, _ := cli(t, db, "", "client", "list"); strings.Contains(list, "svc") {
		t.Errorf("a client was stored: %s", list)
	}
	if code, out, errs := cli(t, db, "", "client", "add", "--name", "svc", "--grant", "client_credentials"); code != 0 || !strings.Contains(out, "client_secret") {
		t.Errorf("client add under the server's key: %d %q %q", code, out, errs)
	}
}
