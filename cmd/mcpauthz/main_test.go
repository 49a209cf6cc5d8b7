package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets a test run this test binary as the mcpauthz command in a
// second process: with MCPAUTHZ_TEST_RUN_MAIN=1 it runs main's run on its
// arguments instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("MCPAUTHZ_TEST_RUN_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestBuildVersion(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	if got := buildVersion(); got != "v1.2.3" {
		t.Errorf("with -X main.version: %q", got)
	}
	// Without -X main.version: the module version the go command stamped
	// (a v... version), or dev when it stamped none.
	version = ""
	if got := buildVersion(); got != "dev" && !strings.HasPrefix(got, "v") {
		t.Errorf("without -X main.version: %q, want a module version or dev", got)
	}
}

// TestHelpOfCommandGroups: `mcpauthz user --help` (and client, docs, keys)
// prints the usage and succeeds, as `mcpauthz --help` does; an unknown
// subcommand is still a usage error.
func TestHelpOfCommandGroups(t *testing.T) {
	for _, group := range []string{"user", "client", "docs", "keys"} {
		for _, h := range []string{"--help", "-h", "help"} {
			var stdout, stderr strings.Builder
			code := run(t.Context(), []string{group, h, "--db", "x.db"}, strings.NewReader(""), &stdout, &stderr, envOf(nil))
			if code != 0 || !strings.Contains(stdout.String(), "mcpauthz "+group) {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", group, h, code, stdout.String(), stderr.String())
			}
		}
	}
	var stderr strings.Builder
	if code := run(t.Context(), []string{"user", "frobnicate"}, strings.NewReader(""), &strings.Builder{}, &stderr, envOf(nil)); code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
}
