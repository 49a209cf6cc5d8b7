package main

import (
	"context"
	"fmt"
	"net"
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
	app, err := openApp(ctx, fc, log, e.stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", fc.Addr)
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	return app.serve(ctx, ln)
}
