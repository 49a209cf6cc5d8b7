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
