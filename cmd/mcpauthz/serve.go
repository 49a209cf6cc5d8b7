package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
)

// serve runs the server until ctx ends (SIGINT or SIGTERM).
func (e *env) serve(ctx context.Context, args []string) error {
	var cf commonFlags
	fs := newFlagSet("serve", e)
	cf.register(fs, true)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("serve takes no arguments, got %q", pos[0])
	}
	fc, err := cf.load(e)
	if err != nil {
		return err
	}
	if err := fc.validate(); err != nil {
		return err
	}
	log := newLogger(fc, e.stderr)
	if msg := issuerPortMismatch(fc); msg != "" {
		log.Warn(msg)
	}
	// Listen first: a port in use stops the start before anything is
	// created (a first user, a development key).
	ln, err := net.Listen("tcp", fc.Addr)
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	app, err := openApp(ctx, fc, log, e.stderr)
	if err != nil {
		ln.Close()
		return err
	}
	defer app.Close()
	return app.serve(ctx, ln)
}

// issuerPortMismatch returns a warning when a development server's public
// URL names another port than the one it listens on (`serve --addr
// 127.0.0.1:9000` alone leaves the issuer at http://localhost:8080): its
// metadata and redirects would point where nothing answers. A proxy or a
// port mapping in front may make that right, so it is only a warning.
func issuerPortMismatch(fc FileConfig) string {
	if !fc.development() {
		return ""
	}
	u, err := url.Parse(fc.publicURL())
	if err != nil {
		return ""
	}
	want := u.Port()
	if want == "" {
		want = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	_, port, err := net.SplitHostPort(fc.Addr)
	if err != nil || port == "0" || port == want {
		return ""
	}
	key := "issuer"
	if fc.resourceOnly() {
		key = "mcp.resource"
	}
	return fmt.Sprintf("%s %s is on port %s but the server listens on %s: clients will be sent to a port where it does not answer, unless a proxy or port mapping forwards it; set --issuer (or %s) to this server's URL", key, fc.publicURL(), want, fc.Addr, key)
}
