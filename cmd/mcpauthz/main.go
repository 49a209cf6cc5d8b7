// Command mcpauthz is an OAuth 2.1 authorization server for MCP clients,
// with an MCP resource server beside it. See the README for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful shutdown; after it the default
	// handling is back, so a second Ctrl-C ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// env bundles what a command may touch, so tests can run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

const usage = `mcpauthz: an OAuth 2.1 authorization server for MCP clients

Usage:
  mcpauthz serve  [--config FILE] [--addr HOST:PORT] [--issuer URL] [--db DSN] [--fetch-allow-loopback]
  mcpauthz user   add NAME --password-stdin | list | delete NAME | passwd NAME --password-stdin
  mcpauthz client add --name NAME [--public] [--redirect-uri URI]... [--grant TYPE]... [--scope "a b"] [--introspect]
                      [--auth-method M] [--jwks-uri URL | --jwks-file FILE] [--signing-alg ALG]
  mcpauthz client list | delete ID
  mcpauthz docs   import PATH... (--owner USER [--share USER]... | --owner-id ID | --public) | list | delete ID
  mcpauthz keys   list | rotate
  mcpauthz version

Every command takes --config FILE and --db DSN. Settings also come from
MCPAUTHZ_* environment variables (see config.example.yaml).
`

// run executes one command line and returns the exit code: 0 on success,
// 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if len(args) >= 2 && (args[1] == "-h" || args[1] == "--help" || args[1] == "help") {
		switch args[0] {
		case "user", "client", "docs", "keys": // groups of subcommands: their usage is in the whole
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	var err error
	switch args[0] {
	case "serve":
		err = e.serve(ctx, args[1:])
	case "user":
		err = e.user(ctx, args[1:])
	case "client":
		err = e.client(ctx, args[1:])
	case "docs":
		err = e.docs(ctx, args[1:])
	case "keys":
		err = e.keys(ctx, args[1:])
	case "version", "--version":
		fmt.Fprintln(stdout, "mcpauthz", buildVersion())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageError("unknown command %q", args[0])
	}
	var ue *usageErr
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mcpauthz: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "mcpauthz: %v\n", err)
		return 1
	}
}

// version can be set at build time with -ldflags "-X main.version=...";
// otherwise buildVersion reads the module version Go stamped.
var version = ""

// buildVersion is the version this binary reports: the one set at build
// time, else the main module's version that the go command stamps (a
// release tag, or a pseudo-version from the commit, "+dirty" for a build
// with uncommitted changes), else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

type usageErr struct{ msg string }

func (u *usageErr) Error() string { return u.msg }

func usageError(format string, args ...any) error {
	return &usageErr{fmt.Sprintf(format, args...)}
}

// commonFlags are the flags every command takes.
type commonFlags struct {
	config, db, addr, issuer string
	// fetchAllowLoopback is --fetch-allow-loopback of serve; nil unless
	// given, so that an unset flag leaves the file and environment alone.
	fetchAllowLoopback *bool
}

// boolFlag is a boolean flag that remembers whether it was given.
type boolFlag struct{ p **bool }

func (b boolFlag) String() string {
	if b.p == nil || *b.p == nil {
		return "false"
	}
	return strconv.FormatBool(**b.p)
}

func (b boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.p = &v
	return nil
}

func (b boolFlag) IsBoolFlag() bool { return true }

func (c *commonFlags) register(fs *flag.FlagSet, serve bool) {
	fs.StringVar(&c.config, "config", "", "YAML configuration file")
	fs.StringVar(&c.db, "db", "", "database: a SQLite file path or a postgres:// URL (default mcpauthz.db)")
	fs.StringVar(&c.issuer, "issuer", "", "issuer URL (default http://localhost:8080)")
	if serve {
		fs.StringVar(&c.addr, "addr", "", "listen address (default 127.0.0.1:8080)")
		fs.Var(boolFlag{&c.fetchAllowLoopback}, "fetch-allow-loopback", "UNSAFE, development only: let client metadata documents and jwks_uri be fetched from loopback addresses, over http too (needs a loopback issuer and addr)")
	}
}

// load resolves the configuration: flag > environment > file > default.
func (c *commonFlags) load(e *env) (FileConfig, error) {
	path := c.config
	if path == "" {
		path = e.getenv("MCPAUTHZ_CONFIG")
	}
	fc, err := loadConfig(path, e.getenv)
	if err != nil {
		return fc, err
	}
	if c.db != "" {
		fc.DB = c.db
	}
	if c.addr != "" {
		fc.Addr = c.addr
	}
	if c.issuer != "" {
		fc.Issuer = c.issuer
	}
	if c.fetchAllowLoopback != nil {
		fc.FetchAllowLoopback = *c.fetchAllowLoopback
	}
	return fc, nil
}

func newFlagSet(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseInterspersed parses flags that may come before or after positional
// arguments (mcpauthz user add NAME --password-stdin).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newLogger(fc FileConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(fc.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if fc.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
